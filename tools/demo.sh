#!/usr/bin/env bash
# tools/demo.sh OBJDIR - the demonstration `make demo` runs.
set -euo pipefail
obj=${1:?usage: tools/demo.sh OBJDIR}
"$obj/runtime/examples/hello"
