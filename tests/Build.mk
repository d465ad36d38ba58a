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

# --- the parsers of untrusted input, fuzzed (docs/weftstat.md, "Untrusted
# input"). tests/fuzz/fuzz_NAME.c feeds one family of parsers; it is linked
# with replay.c under ASan and UBSan as replay_NAME, which the test
# tests/fuzz/weftstat_fuzz.sh runs over the corpus in tests/fuzz/corpus/NAME
# plus a few hundred deterministic mutations (make check), and with clang's
# libFuzzer as $(obj)/fuzz/fuzz_NAME by `make fuzz` (FUZZ_SECONDS per
# target, default 10; FUZZ_TARGETS to choose). New inputs libFuzzer finds
# go to $(obj)/fuzz/corpus/NAME, crashes to $(obj)/fuzz/artifacts/.
fuzz-targets := maps elf registry proc http cmdline symbols
fuzz-parsers := tools/weftstat/parse.c tools/lib/wfreg.c tools/weftstat/http.c tools/weftstat/top.c
fuzz-headers := $(addprefix $(srctree)/,tests/fuzz/fuzz.h tools/weftstat/parse.h \
	tools/weftstat/sym.h tools/weftstat/ws.h tools/lib/wfreg.h runtime/src/json.h \
	runtime/include/weft/registry.h)
fuzz-san := -fsanitize=address,undefined -fno-sanitize-recover=all
fuzz-cflags := -std=gnu11 -g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE \
	-I$(srctree)/runtime/include -I$(srctree)/runtime/src -I$(srctree)/tools/lib \
	-I$(srctree)/tools/weftstat -I$(srctree)/tests/fuzz
# The sanitizer runtimes of $(CC), probed once (gcc has them with libgcc;
# clang needs libclang-rt-14-dev, in the check packages): without them the
# replay still runs, unsanitized, and says so.
fuzz-san-ok = $(eval fuzz-san-ok := $(shell printf 'int main(void){return 0;}\n' | \
	$(CC) $(fuzz-san) -x c - -o /dev/null 2>/dev/null && echo y))$(fuzz-san-ok)

ifneq ($(filter weftstat,$(bpf-y)),)
fuzz-replay := $(addprefix $(obj)/tests/fuzz/replay_,$(fuzz-targets))
tests-sh-y += tests/fuzz/weftstat_fuzz.sh
$(obj)/tests/fuzz/weftstat_fuzz.sh: | $(fuzz-replay)

quiet_cmd_fuzz_replay = LD SAN  $(patsubst $(objtree)/%,%,$@)
      cmd_fuzz_replay = $(CC) $(fuzz-cflags) $(if $(fuzz-san-ok),$(fuzz-san)) -o $@ \
		$(filter %.c,$^) $(if $(fuzz-san-ok),,-DFUZZ_NO_SANITIZER)

$(fuzz-replay): $(obj)/tests/fuzz/replay_%: $(srctree)/tests/fuzz/fuzz_%.c \
		$(srctree)/tests/fuzz/replay.c $(addprefix $(srctree)/,$(fuzz-parsers)) \
		$(fuzz-headers) FORCE
	@mkdir -p $(dir $@)
	$(call if_changed,fuzz_replay)
endif

# make fuzz: libFuzzer, clang only (the eBPF toolchain's $(CLANG)).
FUZZ_SECONDS ?= 10
FUZZ_TARGETS ?= $(fuzz-targets)
fuzz-progs := $(addprefix $(obj)/fuzz/fuzz_,$(fuzz-targets))

quiet_cmd_fuzz_lf = LD FUZZ $(patsubst $(objtree)/%,%,$@)
      cmd_fuzz_lf = $(CLANG) $(fuzz-cflags) -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ $(filter %.c,$^)

$(fuzz-progs): $(obj)/fuzz/fuzz_%: $(srctree)/tests/fuzz/fuzz_%.c \
		$(addprefix $(srctree)/,$(fuzz-parsers)) $(fuzz-headers) FORCE
	@mkdir -p $(dir $@)
	$(call if_changed,fuzz_lf)

# libFuzzer reads a -max_total_time it cannot parse as 0: no limit at all.
PHONY += fuzz
fuzz: deps-check
	$(Q)case '$(FUZZ_SECONDS)' in ''|*[!0-9]*|0) \
		echo "make fuzz: FUZZ_SECONDS wants a whole number of seconds from 1, not '$(FUZZ_SECONDS)'" >&2; \
		exit 2;; esac
	$(Q)for t in $(FUZZ_TARGETS); do case ' $(fuzz-targets) ' in *" $$t "*) ;; *) \
		echo "make fuzz: no fuzz target '$$t' (FUZZ_TARGETS from: $(fuzz-targets))" >&2; \
		exit 2;; esac; done
	$(Q)$(MAKE) --no-print-directory $(addprefix $(obj)/fuzz/fuzz_,$(FUZZ_TARGETS))
	$(Q)set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(obj)/fuzz/corpus/$$t $(obj)/fuzz/artifacts; \
		echo "  FUZZ    $$t ($(FUZZ_SECONDS) s)"; \
		$(obj)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
			-rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
			-artifact_prefix=$(obj)/fuzz/artifacts/$$t- \
			$(obj)/fuzz/corpus/$$t $(srctree)/tests/fuzz/corpus/$$t \
			>$(obj)/fuzz/$$t.log 2>&1 || { tail -n 40 $(obj)/fuzz/$$t.log; exit 1; }; \
		grep -h '^stat::number_of_executed_units\|^#.*DONE' $(obj)/fuzz/$$t.log | tail -n 2; \
	done
