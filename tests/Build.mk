# Test programs. Each tests/<area>/<name>.c is one program linked with the
# harness and libweft; list it in tests-y to have `make check` run it.
# tests-extra-y are helpers the tests run themselves (never run directly).

tests-y += tests/harness/harness_test
tests-extra-y += tests/harness/fixture_bad

harness-objs := $(obj)/tests/harness/wtest.o
harness-lib := $(obj)/tests/harness/libwtest.a

$(harness-lib): $(harness-objs) FORCE
	$(call if_changed,ar)

# Test programs include wtest.h directly.
$(obj)/tests/%.o: WEFT_CPPFLAGS += -I$(srctree)/tests/harness

# Test scripts: executable, TAP-emitting programs (bash) run like the C
# test programs; the Makefile copies each to $(obj)/tests/.
tests-sh-y += tests/build/build_system.sh
tests-sh-y += tests/build/docs_sync.sh

tests-y += tests/runtime/task_basic
tests-y += tests/runtime/migration
tests-y += tests/runtime/stack_overflow
tests-y += tests/runtime/fpenv
LDLIBS_fpenv := -lm

# migration_lto: the migration test built with -flto across the test and
# the whole library (a second copy of its objects under lto/), where a TLS
# address cached across a switch would surface first. gcc only: Debian's
# clang needs the gold plugin for LTO.
cc-is-gcc := $(shell $(CC) -v 2>&1 | grep -q '^gcc version' && echo y)
ifeq ($(cc-is-gcc),y)
tests-custom-y += tests/runtime/migration_lto

quiet_cmd_cc_lto = CC LTO  $(patsubst $(objtree)/%,%,$@)
      cmd_cc_lto = $(cmd_cc_o_c) -flto

$(obj)/lto/%.o: $(srctree)/%.c FORCE | $(autoconf)
	@mkdir -p $(dir $@)
	$(call if_changed_dep,cc_lto)

$(obj)/lto/%.o: $(srctree)/%.S FORCE | $(autoconf)
	@mkdir -p $(dir $@)
	$(call if_changed_dep,as_o_S)

$(obj)/lto/tests/%.o: WEFT_CPPFLAGS += -I$(srctree)/tests/harness

quiet_cmd_link_lto = LD LTO  $(patsubst $(objtree)/%,%,$@)
      cmd_link_lto = $(CC) $(WEFT_LDFLAGS) -flto -O2 $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(LIBS)

$(obj)/tests/runtime/migration_lto: $(obj)/lto/tests/runtime/migration.o \
		$(addprefix $(obj)/lto/,$(libweft-y)) $(obj)/tests/harness/libwtest.a FORCE
	$(call if_changed,link_lto)
endif
tests-sh-y += tests/arch/aarch64_qemu.sh
tests-y += tests/runtime/blocking
tests-y += tests/runtime/sync_mutex

# Metrics snapshot API and dumps; the trace registry read from outside by
# tools/weft-registry (on an unstripped and a stripped victim) and the USDT
# notes. The registry test runs the victim and the tool, so it needs both.
tests-y += tests/runtime/metrics
tests-y += tests/runtime/registry
tests-extra-y += tests/runtime/victim_registry
$(obj)/tests/runtime/registry: | $(obj)/tests/runtime/victim_registry \
	$(obj)/tests/runtime/victim_registry_so $(obj)/tools/weft-registry/weft-registry

# The same victim linked with libweft.so: the registry is then in the library.
quiet_cmd_link_victim_so = LD      $(patsubst $(objtree)/%,%,$@)
      cmd_link_victim_so = $(CC) $(WEFT_LDFLAGS) $(LDFLAGS) -o $@ $< \
		-L$(obj)/runtime -l:libweft.so.$(VERSION) -Wl,-rpath,$(obj)/runtime $(LIBS)

$(obj)/tests/runtime/victim_registry_so: $(obj)/tests/runtime/victim_registry.o \
		$(obj)/runtime/libweft.so.$(VERSION) FORCE
	$(call if_changed,link_victim_so)
tests-y += tests/runtime/sync_rwlock
tests-y += tests/runtime/sync_sem
tests-y += tests/runtime/sync_barrier
tests-y += tests/runtime/notify
tests-y += tests/runtime/sync_group
tests-y += tests/runtime/chan_mpsc
tests-y += tests/runtime/chan_stress
tests-y += tests/runtime/chan_oneshot
tests-y += tests/runtime/chan_broadcast
tests-y += tests/runtime/chan_watch
tests-y += tests/runtime/select
tests-y += tests/runtime/sched_stress
tests-sh-y += tests/runtime/valgrind.sh
tests-y += tests/runtime/sched_policy

# I/O (docs/io.md): every case runs twice, under WEFT_IO=uring and
# WEFT_IO=epoll (io_util.h); the uring cases skip where io_uring is refused.
tests-y += tests/runtime/io_sock
tests-y += tests/runtime/io_file
tests-y += tests/runtime/io_cancel
tests-y += tests/runtime/io_batch
tests-y += tests/runtime/io_ms
tests-sh-y += tests/runtime/io_examples.sh

# weftstat against a victim with a usleep() planted inside a poll, and a
# healthy one (tests/tools/weftstat.sh runs both; root and BPF needed, else
# it skips). Only where weftstat is built (bpf/Build.mk).
ifneq ($(filter weftstat,$(bpf-y)),)
tests-extra-y += tests/tools/weftstat_victim
# A pthread pool without weft, named like Tokio's workers or not: --threads.
tests-extra-y += tests/tools/weftstat_threads_victim
tests-sh-y += tests/tools/weftstat.sh
# The same victim linked with libweft.so: registry and runtime in a library.
$(obj)/tests/tools/weftstat.sh: | $(obj)/tests/tools/weftstat_victim_so
$(obj)/tests/tools/weftstat_victim_so: $(obj)/tests/tools/weftstat_victim.o \
		$(obj)/runtime/libweft.so.$(VERSION) FORCE
	$(call if_changed,link_victim_so)
endif
tests-y += tests/runtime/stall

# stall_bpf: the BPF stall source (docs/stall.md); it skips (exit 4) where
# the source cannot load (no root or CAP_BPF, no BTF) or is not built.
# With CONFIG_WEFT_STALL_BPF the library has the source. Without it (the
# default), on a native build with weftstat's BPF toolchain, the test links
# its own copy of the library whose monitor has it (stallbpf/: monitor.o
# and stall_bpf.o built with WF_STALL_BPF, plus libbpf), so `make check`
# proves the source either way; elsewhere (cross builds) it skips.
ifeq ($(if $(stall-bpf-arch),$(CONFIG_WEFT_STALL_BPF)),y)
tests-y += tests/runtime/stall_bpf
else ifneq ($(filter stall,$(bpf-y)),)
tests-custom-y += tests/runtime/stall_bpf
stall-bpf-variant := $(addprefix $(obj)/stallbpf/runtime/src/,monitor.o stall_bpf.o)

quiet_cmd_cc_stallbpf = CC BPF  $(patsubst $(objtree)/%,%,$@)
      cmd_cc_stallbpf = $(cmd_cc_o_c) -DWF_STALL_BPF

$(obj)/stallbpf/%.o: $(srctree)/%.c FORCE | $(autoconf)
	@mkdir -p $(dir $@)
	$(call if_changed_dep,cc_stallbpf)

$(obj)/stallbpf/runtime/src/stall_bpf.o: $(obj)/bpf/stall.skel.h

LDLIBS_stall_bpf := $(stall-bpf-libs)
$(obj)/tests/runtime/stall_bpf: $(obj)/tests/runtime/stall_bpf.o $(harness-lib) \
		$(stall-bpf-variant) \
		$(addprefix $(obj)/,$(filter-out runtime/src/monitor.o,$(libweft-y))) FORCE
	$(call if_changed,link)
else
tests-y += tests/runtime/stall_bpf
endif
