# Tools (weftstat, benchmarks) are added here by their issues.

# --- benchmarks (docs/benchmarks.md) ----------------------------------------
# `make bench` installs the bench packages (tools/deps.sh bench), builds
# everything, then runs tools/bench/run: weft's benchmark program against
# its peers, same workloads, same worker count, in the same run. The Tokio
# peer is built there with cargo, offline, from Debian's librust-tokio-dev,
# under $(obj)/tools/bench/tokio. Figures only, never pass/fail.
#   make bench P=PATTERN    only the benches whose name matches PATTERN
#   make bench W=N          worker threads (default: the number of CPUs)
#   make bench ITERS=K      timed iterations per bench (default 50)
#   make bench JSON=1       JSON lines instead of the table
# The weft side is $(obj)/tools/bench/weft-bench, built from
# tools/bench/weft-bench.c (once it exists) by `make bench` only: a
# benchmark is not something `make install` should install.
bench-y := $(if $(wildcard $(srctree)/tools/bench/weft-bench.c),tools/bench/weft-bench)
bench-progs := $(addprefix $(obj)/,$(bench-y))

# Linked like the tools (the library's path is spelled out: this file is
# read before the Makefile names it).
$(bench-progs): %: %.o $(obj)/runtime/libweft.a FORCE
	$(call if_changed,link)

PHONY += bench
bench: deps-bench
	$(Q)$(MAKE) --no-print-directory all $(bench-progs)
	$(Q)$(srctree)/tools/bench/run -o $(obj) $(if $(JSON),--json) \
		$(if $(W),--workers '$(W)') $(if $(ITERS),--iters '$(ITERS)') \
		$(if $(P),'$(P)')

# --- I/O benchmarks (issue 4; docs/benchmarks.md, "I/O benchmarks") --------
# `make bench-io` installs the bench packages, builds the examples (weft's
# echo and HTTP servers, $(obj)/runtime/examples/{echo,http}, once they
# exist), then runs tools/bench/echo/run: echo servers under our load
# generator and HTTP servers under wrk, weft against raw io_uring loops,
# Tokio, Go and libuv, each server pinned to CPU 1 and the client to CPU 0
# (about 85 s with the defaults, plus a minute for the first build).
# The runner builds the load generator and the peers itself, with $(CC),
# under $(obj)/tools/bench/{loadgen,echo,tokio}: none of them is part of
# `make`, `make check` or `make install`. Figures only, never pass/fail.
#   make bench-io P=PATTERN   only the benches matching PATTERN (echo_4KiB*)
#   make bench-io IMPL=LIST   only these implementations (raw_uring,tokio)
#   make bench-io DURATION=S  measured seconds per run (default 3)
#   make bench-io W=N         server worker threads (default 1)
#   make bench-io REPEAT=R    the whole matrix R times, medians in the table
#   make bench-io JSON=1      JSON lines instead of the table
PHONY += bench-io
bench-io: deps-bench
	$(Q)$(MAKE) --no-print-directory examples
	$(Q)CC='$(CC)' $(srctree)/tools/bench/echo/run -o $(obj) $(if $(JSON),--json) \
		$(if $(W),--workers '$(W)') $(if $(DURATION),--duration '$(DURATION)') \
		$(if $(REPEAT),--repeat '$(REPEAT)') $(if $(IMPL),--impl '$(IMPL)') \
		$(if $(P),'$(P)')

# --- weftstat's overhead (issue 5; docs/benchmarks.md, "weftstat overhead") --
# `make bench-weftstat` builds everything (weftstat, the echo example,
# weft-bench) and runs tools/bench/weftstat_overhead: the echo server and
# four runtime benches with and without weftstat attached, interleaved,
# and the cost of each BPF program run (kernel.bpf_stats_enabled, put back
# afterwards). Root and BPF needed: otherwise it says why and exits 4
# (skipped). A few minutes. Figures only, never pass/fail.
#   make bench-weftstat P=PATTERN   only the benches matching PATTERN
#   make bench-weftstat MODES=LIST  off,report,top,top-tasks (default off,report)
#   make bench-weftstat REPEAT=R    rounds (default 5)
#   make bench-weftstat JSON=1      JSON lines instead of the table
PHONY += bench-weftstat
bench-weftstat:
	$(Q)$(MAKE) --no-print-directory all $(bench-progs)
	$(Q)CC='$(CC)' $(srctree)/tools/bench/weftstat_overhead -o $(obj) $(if $(JSON),--json) \
		$(if $(REPEAT),--rounds '$(REPEAT)') $(if $(MODES),--modes '$(MODES)') \
		$(if $(P),'$(P)')

# tools/lib: code the tools share. wfreg.o finds and reads the trace
# registry of another process (docs/registry.md).
wfreg-obj := $(obj)/tools/lib/wfreg.o
$(obj)/tools/%.o: WEFT_CPPFLAGS += -I$(srctree)/tools/lib

# weft-registry: reads the trace registry of a running process from outside
# (docs/registry.md); the tests use it to prove the registry is findable.
tools-y += tools/weft-registry/weft-registry
$(obj)/tools/weft-registry/weft-registry: $(wfreg-obj)

# weftstat: the eBPF tracer (docs/weftstat.md), when bpf/Build.mk builds
# its BPF object (CONFIG_WEFT_WEFTSTAT, native builds). libbpf is linked
# statically where the distribution ships libbpf.a (Debian does), so the
# binary runs on a machine with another libbpf; libdw (symbols, file:line)
# dynamically.
ifneq ($(filter weftstat,$(bpf-y)),)
tools-y += tools/weftstat/weftstat
weftstat-objs := $(addprefix $(obj)/tools/weftstat/,doctor.o sym.o top.o http.o parse.o \
	attach.o collect.o diagnose.o text.o formats.o topcmd.o)
$(obj)/tools/weftstat/weftstat: $(weftstat-objs) $(wfreg-obj)
$(addprefix $(obj)/tools/weftstat/,weftstat.o doctor.o attach.o collect.o diagnose.o \
	text.o formats.o topcmd.o): $(obj)/bpf/weftstat.skel.h
$(obj)/tools/weftstat/%.o: WEFT_CPPFLAGS += -I$(obj)/bpf -I$(srctree)/bpf -I$(obj)/tools/weftstat
$(obj)/tools/weftstat/doctor.o: $(obj)/tools/weftstat/kernel_config.h

libbpf-a := $(filter /%,$(shell $(CC) -print-file-name=libbpf.a 2>/dev/null))
LDLIBS_weftstat := $(if $(libbpf-a),$(libbpf-a),-lbpf) -lelf -lz -ldw

# The kernel options weftstat doctor checks: kconfig/kernel.config as C strings.
quiet_cmd_kcfg_h = GEN     $(patsubst $(objtree)/%,%,$@)
      cmd_kcfg_h = sed -n 's/^\(CONFIG_[A-Za-z0-9_]*=.*\)$$/"\1",/p' $< > $@.tmp && mv $@.tmp $@

$(obj)/tools/weftstat/kernel_config.h: $(srctree)/kconfig/kernel.config FORCE
	@mkdir -p $(dir $@)
	$(call if_changed,kcfg_h)
endif
