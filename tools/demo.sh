#!/usr/bin/env bash
# tools/demo.sh OBJDIR - the demonstration `make demo` runs: a service with a
# planted blocking call inside a poll, what weft's own metrics say about it,
# and, when eBPF programs can be loaded here (root, BTF), what weftstat says
# from outside the process while it runs.
#
# DEMO_SECONDS (default 3, at least 2) is the length of each of stall_demo's
# two phases; weftstat traces the first one for DEMO_SECONDS - 1 seconds.
set -euo pipefail
obj=${1:?usage: tools/demo.sh OBJDIR}
secs=${DEMO_SECONDS:-3}
case $secs in
'' | *[!0-9]*)
	echo "demo: DEMO_SECONDS must be a whole number of seconds, not '$secs'" >&2
	exit 2
	;;
esac
[ "$secs" -ge 2 ] || secs=2

demo=$obj/runtime/examples/stall_demo
ws=$obj/tools/weftstat/weftstat

# Without weftstat (not built, not root, no BTF): the metrics view alone.
why=
if [ ! -x "$ws" ]; then
	why="weftstat is not built (CONFIG_WEFT_WEFTSTAT)"
elif ! "$ws" doctor >/dev/null 2>&1; then
	why="weftstat doctor found a problem here (run '$ws doctor' to see it; usually: run as root)"
fi
if [ -n "$why" ]; then
	"$demo" "$secs"
	echo
	echo "(The eBPF view is skipped: $why.)"
	exit 0
fi

tmp=$(mktemp -d /tmp/weft-demo.XXXXXX)
pid=
cleanup()
{
	[ -z "$pid" ] || kill "$pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

"$demo" "$secs" >"$tmp/demo.out" 2>&1 &
pid=$!
# Let the runtime start its workers, then trace most of phase 1.
sleep 0.3
rc=0
"$ws" report -p "$pid" -d $((secs - 1)) >"$tmp/ws.out" 2>&1 || rc=$?
wait "$pid" || {
	cat "$tmp/demo.out"
	echo "demo: stall_demo failed" >&2
	exit 1
}
pid=
cat "$tmp/demo.out"
echo
echo "=== meanwhile, from outside the process: weftstat report -p PID -d $((secs - 1)) (phase 1) ==="
echo
cat "$tmp/ws.out"
if [ "$rc" -ne 0 ]; then
	echo "demo: weftstat report exited $rc" >&2
	exit 1
fi
