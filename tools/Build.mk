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

# weft-registry: reads the trace registry of a running process from outside
# (docs/registry.md); the tests use it to prove the registry is findable.
tools-y += tools/weft-registry/weft-registry
