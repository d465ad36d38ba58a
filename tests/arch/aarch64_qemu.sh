#!/usr/bin/env bash
# tests/arch/aarch64_qemu.sh - cross-build the runtime and its core tests
# for aarch64 (gcc-aarch64-linux-gnu) and run them under qemu-user, so the
# aarch64 context switch is tested on every `make check`.
# TAP 13 out; each test program's own TAP is passed through as "# " lines.
set -u
src=${WEFT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
progs="task_basic migration stack_overflow chan_mpsc sync_mutex sched_policy fpenv"

# shellcheck source=../harness/script_cases.sh
. "$src/tests/harness/script_cases.sh"
wtest_script_args "aarch64_build $(for p in $progs; do echo aarch64:$p; done)" "$@"

echo "TAP version 13"
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
	echo "1..0 # SKIP needs gcc-aarch64-linux-gnu and qemu-user (tools/deps.sh check)"
	exit 4
fi
n=$(echo "$progs" | wc -w)
echo "1..$((n + 1))"

obj=$(mktemp -d /tmp/weft-aarch64.XXXXXX)
trap 'rm -rf "$obj"' EXIT
# The cross build has no arm64 liburing, libbpf or sdt.h: runtime core only.
cat >"$obj/fragment" <<'CFG'
# CONFIG_WEFT_USDT is not set
# CONFIG_WEFT_IO_URING is not set
# CONFIG_WEFT_TOOLS is not set
CFG
cfg=$obj/.config
if ! (cd "$src" && KCONFIG_CONFIG=$cfg kconfig-conf -s --defconfig="$obj/fragment" \
	kconfig/Kconfig) >"$obj/log" 2>&1; then
	echo "not ok 1 aarch64 configure"
	sed 's/^/# /' "$obj/log"
	exit 1
fi
targets=
for p in $progs; do targets="$targets $obj/tests/runtime/$p"; done
# The outer make's settings (SANITIZE=, V=, T=, O=...) must not leak in.
unset MAKEFLAGS MAKELEVEL MFLAGS SANITIZE V T O KCONFIG_CONFIG
# shellcheck disable=SC2086
if make -C "$src" -s -j2 O="$obj" KCONFIG_CONFIG="$cfg" CROSS_COMPILE=aarch64-linux-gnu- \
	$targets >"$obj/log" 2>&1; then
	echo "ok 1 aarch64 cross build"
else
	echo "not ok 1 aarch64 cross build"
	sed 's/^/# /' "$obj/log" | tail -n 40
	exit 1
fi

rc=0
i=1
for p in $progs; do
	i=$((i + 1))
	file "$obj/tests/runtime/$p" 2>/dev/null | grep -q aarch64 ||
		{ echo "not ok $i $p # not an aarch64 binary"; rc=1; continue; }
	# Emulation is ~20x slower: ask the migration test for 2,000 hops.
	WEFT_MIGRATION_TARGET=2000 timeout 600 qemu-aarch64 -L /usr/aarch64-linux-gnu "$obj/tests/runtime/$p" -s 10 \
		>"$obj/out" 2>&1
	st=$?
	sed 's/^/# /' "$obj/out"
	case $st in
	0) echo "ok $i aarch64:$p" ;;
	4) echo "ok $i aarch64:$p # SKIP all skipped" ;;
	*) echo "not ok $i aarch64:$p # exit $st"; rc=1 ;;
	esac
done
exit $rc
