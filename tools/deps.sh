#!/usr/bin/env bash
# tools/deps.sh - install the Debian packages weft needs, only when missing.
#
# Usage: tools/deps.sh [--check] GROUP...
#   GROUP is one of:
#     build   compilers, Kconfig front ends, liburing, libbpf, bpftool, elfutils
#     check   build + what the test suite needs (valgrind, aarch64 cross
#             toolchain and qemu-user for the arm64 context-switch tests)
#     bench   check + the benchmark peers (Tokio from Debian's Rust
#             registry, Go, libuv, wrk, hyperfine, and ss from iproute2
#             for the I/O benchmark runner)
#   --check   only report what is missing; exit 1 if anything is.
#
# Idempotent: packages already installed are never touched and apt is not
# run at all when nothing is missing. Installing needs root; when something
# is missing and we are not root, it says what and how, and exits 1.
set -euo pipefail

pkgs_build="gcc make pkg-config libc6-dev kconfig-frontends liburing-dev
	systemtap-sdt-dev libbpf-dev libelf-dev zlib1g-dev libdw-dev clang llvm
	bpftool"
pkgs_check="valgrind gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
	libclang-rt-14-dev procps gdb"
pkgs_bench="cargo librust-tokio-dev golang-go libuv1-dev wrk hyperfine iproute2"

check_only=0
groups=()
for a in "$@"; do
	case "$a" in
	--check) check_only=1 ;;
	build | check | bench) groups+=("$a") ;;
	-h | --help)
		sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "deps.sh: unknown group '$a' (expected build, check or bench)" >&2
		exit 2
		;;
	esac
done
[ ${#groups[@]} -gt 0 ] || groups=(build)

want=()
for g in "${groups[@]}"; do
	case "$g" in
	build) want+=($pkgs_build) ;;
	check) want+=($pkgs_build $pkgs_check) ;;
	bench) want+=($pkgs_build $pkgs_check $pkgs_bench) ;;
	esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps.sh: dpkg-query not found: this script supports Debian 12 only;" >&2
	echo "deps.sh: install the equivalents of: ${want[*]}" >&2
	exit 1
fi

missing=()
for p in $(printf '%s\n' "${want[@]}" | sort -u); do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ $check_only -eq 1 ]; then
	echo "deps.sh: missing packages: ${missing[*]}" >&2
	exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing Debian packages: ${missing[*]}" >&2
	echo "deps.sh: run as root, or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi

echo "  DEPS    installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/weft-deps.XXXXXX)
# apt-get install fails on a machine whose package lists were never fetched;
# update once, then install.
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
	if ! { apt-get update -q && apt-get install -y -q --no-install-recommends \
		"${missing[@]}"; } >>"$log" 2>&1; then
		tail -n 30 "$log" >&2
		echo "deps.sh: apt-get failed (full log: $log)" >&2
		exit 1
	fi
fi
rm -f "$log"
