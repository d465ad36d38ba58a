#!/usr/bin/env bash
# tools/demo.sh OBJDIR - the demonstration `make demo` runs: a service with a
# planted blocking call inside a poll, and what weft's metrics say about it.
# (weftstat, the eBPF side, will join this demo when it lands.)
set -euo pipefail
obj=${1:?usage: tools/demo.sh OBJDIR}
"$obj/runtime/examples/stall_demo" "${DEMO_SECONDS:-2}"
