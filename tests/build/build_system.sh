#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/build/build_system.sh - the Makefile's promises, checked from the
# outside: quiet and V=1 output, exact incremental rebuilds (headers and
# Kconfig symbols), CONFIG_WERROR, CC=clang, install/uninstall/pkg-config,
# clean/mrproper, kernel-check, help and tools/deps.sh.
#
# Everything happens in a scratch directory: a snapshot of the source tree
# (tracked and untracked files, not build/ nor .config), private object
# trees (O=) and private configurations (KCONFIG_CONFIG=). The tests touch
# headers and edit Kconfig files in the snapshot only, so the user's tree,
# .config and build/ are never disturbed, nor is a build that runs beside.
# The nested makes see none of the outer make's variables (SANITIZE, V, T,
# O ...) except CC. Options: see tests/build/tap.sh (-l, -t GLOB, -s SCALE).

# shellcheck disable=SC2317	# the test functions are called through tap_main
srcdir=${WEFT_SRCDIR:-}
if [ -z "$srcdir" ]; then
	srcdir=$(cd "$(dirname "$0")" && pwd)
	until [ -f "$srcdir/tests/build/tap.sh" ] || [ "$srcdir" = / ]; do
		srcdir=$(dirname "$srcdir")
	done
fi
# shellcheck source=tests/build/tap.sh
. "$srcdir/tests/build/tap.sh" || exit 2

unset MAKEFLAGS MFLAGS MAKEOVERRIDES MAKELEVEL GNUMAKEFLAGS MAKE_TERMOUT MAKE_TERMERR
unset O V T SANITIZE TIMEOUT_SCALE KCONFIG_CONFIG CROSS_COMPILE ARCH PREFIX DESTDIR
unset CFLAGS CPPFLAGS LDFLAGS
export LC_ALL=C

jobs=$(($(nproc 2>/dev/null || echo 1) * 2))

# Set by tap_setup: the snapshot, the main object tree and its config.
src='' obj='' cfg=''

tap_setup()
{
	local real

	src=$work/src obj=$work/obj cfg=$work/config
	mkdir -p "$src"
	real=$(cd "$srcdir" && pwd -P)
	if [ "$(git -C "$real" rev-parse --show-toplevel 2>/dev/null)" = "$real" ]; then
		# Files deleted but not yet committed are listed; leave them out.
		(cd "$real" && git ls-files -z -co --exclude-standard) |
			(cd "$real" && while IFS= read -r -d '' f; do
				if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
			done) |
			tar -C "$real" --null -T - -cf - | tar -C "$src" -xf -
	else
		tar -C "$real" --exclude=./build --exclude=./.git --exclude=./.config \
			--exclude=./.config.old --exclude=./defconfig -cf - . |
			tar -C "$src" -xf -
	fi
	[ -f "$src/Makefile" ] && [ -f "$src/kconfig/Kconfig" ]
}

# make in the snapshot with the main object tree and configuration.
M()
{
	make -C "$src" --no-print-directory -j"$jobs" O="$obj" KCONFIG_CONFIG="$cfg" "$@"
}

# The first build of the main object tree, shared by the tests that need
# one; its output is kept in $work/first-build.log.
ensure_built()
{
	[ -e "$work/built" ] && return 0
	[ ! -e "$work/build-failed" ] || fail "the first build failed (output above)"
	if ! M all >"$work/first-build.log" 2>&1; then
		touch "$work/build-failed"
		fail_log "$work/first-build.log" "the first build failed"
	fi
	touch "$work/built"
}

# The objects a make output compiled, relative to the object tree, sorted.
compiled()
{
	sed -nE 's/^  (CC|AS)( [][A-Z0-9]+)* +([^ ]+\.o)$/\3/p' "$1" | sort
}

# Every object's .cmd file in object tree $1.
cmd_files()
{
	find "$1" -name '.*.o.cmd' | sort
}

# The object a .cmd file describes, relative to the object tree.
cmd_object()
{
	local d b

	d=$(dirname "$1")
	b=$(basename "$1" .cmd)
	d=${d#"$obj"}
	echo "${d#/}${d:+/}${b#.}"
}

# The files (sources and headers) the compiler said object .cmd $1 read.
cmd_deps()
{
	sed -n 's/^  \([^$ ][^ ]*\) \\$/\1/p' "$1"
}

# Compare two sorted lists of objects: what should have been rebuilt and
# what was. Fails with both lists when they differ.
same_objects()
{
	local want=$1 seen=$2 what=$3

	if ! diff -u "$want" "$seen" >"$work/objdiff"; then
		diag "$what: objects rebuilt differ from those expected"
		diag "(- expected, + rebuilt)"
		fail_log "$work/objdiff" "$what: other objects rebuilt than expected"
	fi
}

# Kconfig int options of the snapshot the Makefile itself does not read
# (OPT_LEVEL changes every command line, so it rebuilds everything on purpose).
int_options()
{
	awk -f "$srcdir/tests/build/kconfig-options.awk" "$src"/kconfig/Kconfig* |
		while IFS=$'\t' read -r name type _ lo hi _; do
			[[ $type == int && $lo != - ]] || continue
			grep -qw "CONFIG_$name" "$src/Makefile" "$src"/*/Build.mk && continue
			echo "$name $lo $hi"
		done
}

# "SYMBOL OBJECT" for every CONFIG_SYMBOL mentioned in a file an object
# of the main tree was compiled from, in $work/symbols.
symbol_users()
{
	local c o

	for c in $(cmd_files "$obj"); do
		o=$(cmd_object "$c")
		# shellcheck disable=SC2046
		{ grep -ohw 'CONFIG_[A-Za-z0-9_]*' $(cmd_deps "$c") 2>/dev/null || true; } |
			sort -u | sed "s|^CONFIG_\(.*\)|\1 $o|"
	done >"$work/symbols"
}

# The objects of the main tree that read a file mentioning CONFIG_$1.
objects_using()
{
	awk -v s="$1" '$1 == s { print $2 }' "$work/symbols" | sort
}

# The int option (from int_options) that the fewest objects read, at least
# one when $1 is "used", none when it is "unused": "NAME LO HI" or nothing.
# Needs symbol_users first.
pick_option()
{
	local name lo hi n

	while read -r name lo hi; do
		n=$(objects_using "$name" | wc -l)
		if [ "$1" = used ] && [ "$n" -gt 0 ]; then
			echo "$n $name $lo $hi"
		elif [ "$1" = unused ] && [ "$n" -eq 0 ]; then
			echo "0 $name $lo $hi"
		fi
	done < <(int_options) | sort -n -k 1,1 -s | sed -n '1s/^[0-9]* //p'
}

# Give int option $1 (range $2..$3) another value in the main config;
# the value is left in $bumped.
bump_option()
{
	local name=$1 lo=$2 hi=$3 cur

	cur=$(sed -n "s/^CONFIG_$name=//p" "$cfg")
	[ -n "$cur" ] || fail "CONFIG_$name is not in $cfg"
	if [ "$cur" != "$lo" ]; then bumped=$lo; else bumped=$((lo + 1)); fi
	[ "$bumped" -le "$hi" ] || fail "CONFIG_$name: no other value in $lo..$hi"
	sed -i "s/^CONFIG_$name=.*/CONFIG_$name=$bumped/" "$cfg"
}

# --- configuration and output ----------------------------------------------

test_help_needs_no_config()
{
	make -C "$src" --no-print-directory O="$work/help-obj" \
		KCONFIG_CONFIG="$work/help.config" help >"$work/help.log" 2>&1 ||
		fail_log "$work/help.log" "make help failed"
	for t in check demo menuconfig defconfig install kernel-check clean; do
		grep -qw -- "$t" "$work/help.log" ||
			fail_log "$work/help.log" "make help does not mention '$t'"
	done
	[ ! -e "$work/help.config" ] || fail "make help created a configuration"
	[ ! -e "$work/help-obj" ] || fail "make help created the object tree"
}
tap_test help_needs_no_config

test_no_config_starts_from_defconfig()
{
	local line

	ensure_built
	grep -q '^  CONF .*(from kconfig/defconfig)' "$work/first-build.log" ||
		fail_log "$work/first-build.log" "no 'CONF ... (from kconfig/defconfig)' line"
	[ -f "$cfg" ] || fail "the build did not write KCONFIG_CONFIG=$cfg"
	[ ! -e "$src/.config" ] || fail "the build wrote .config despite KCONFIG_CONFIG"
	while IFS= read -r line; do
		case $line in '' | '#'*) continue ;; esac
		grep -qxF -- "$line" "$cfg" || fail "kconfig/defconfig's '$line' is not in $cfg"
	done <"$src/kconfig/defconfig"
	grep -q '^#define CONFIG_' "$obj/include/generated/autoconf.h" ||
		fail "include/generated/autoconf.h defines no CONFIG_ symbol"
}
tap_test no_config_starts_from_defconfig

test_savedefconfig_round_trips()
{
	local c=$work/defconfig.config

	make -C "$src" --no-print-directory KCONFIG_CONFIG="$c" defconfig \
		>"$work/defconfig.log" 2>&1 ||
		fail_log "$work/defconfig.log" "make defconfig failed"
	[ -f "$c" ] || fail "make defconfig did not write KCONFIG_CONFIG=$c"
	rm -f "$src/defconfig"
	make -C "$src" --no-print-directory KCONFIG_CONFIG="$c" savedefconfig \
		>>"$work/defconfig.log" 2>&1 ||
		fail_log "$work/defconfig.log" "make savedefconfig failed"
	if ! diff -u "$src/kconfig/defconfig" "$src/defconfig" >"$work/defconfig.diff"; then
		diag "savedefconfig of a defconfig build differs from kconfig/defconfig:"
		fail_log "$work/defconfig.diff" "kconfig/defconfig is not minimal or not current"
	fi
}
tap_test savedefconfig_round_trips

test_quiet_output()
{
	local bad tag

	ensure_built
	# Two spaces, a tag ("CC", "CC LTO", "CC [M]") padded to eight columns,
	# the target; nothing else. The BPF steps' tags are the kernel's
	# longer ones, "CLANG-BPF" and "GEN-SKEL" (bpf/Build.mk), then a space.
	tag='([A-Z][][A-Z0-9 ]{6}|CLANG-BPF|GEN-SKEL) '
	bad=$(grep -vE "^  ${tag}[^ ]" "$work/first-build.log" || true)
	[ -z "$bad" ] || fail_log "$work/first-build.log" "lines that are not quiet: $bad"
	grep -qE '^  CC      runtime/src/[^ ]+\.o$' "$work/first-build.log" ||
		fail_log "$work/first-build.log" "no '  CC      runtime/src/...' line"
	grep -qE '^  AR      runtime/libweft\.a$' "$work/first-build.log" ||
		fail_log "$work/first-build.log" "no '  AR      runtime/libweft.a' line"
}
tap_test quiet_output

test_verbose_shows_commands()
{
	local o rel c

	ensure_built
	o=$(find "$obj/runtime/src" -name '*.o' | sort | sed -n 1p)
	[ -n "$o" ] || skip "no object under runtime/src"
	rel=${o#"$obj"/}
	rm -f "$o"
	M V=1 "$o" >"$work/v1.log" 2>&1 || fail_log "$work/v1.log" "make V=1 $rel failed"
	c=$src/${rel%.o}
	if [ -f "$c.c" ]; then c=$c.c; else c=$c.S; fi
	grep -F -- "-c -o $o $c" "$work/v1.log" >"$work/v1.cmd" || true
	grep -qF -- "${CC:-gcc} " "$work/v1.cmd" ||
		fail_log "$work/v1.log" "no full '${CC:-gcc} ... -c -o $rel ${c#"$src"/}' command"
	if grep -q '^  CC ' "$work/v1.log"; then
		fail_log "$work/v1.log" "V=1 printed a quiet line"
	fi
	# Leave the tree up to date (the library), as every test does.
	M all >"$work/v1.log" 2>&1 || fail_log "$work/v1.log" "make failed"
}
tap_test verbose_shows_commands

# --- incremental builds ----------------------------------------------------

test_noop_rebuild_builds_nothing()
{
	ensure_built
	M all >"$work/noop.log" 2>&1 || fail_log "$work/noop.log" "make failed"
	[ ! -s "$work/noop.log" ] || fail_log "$work/noop.log" "a second make did something"
}
tap_test noop_rebuild_builds_nothing

test_header_change_rebuilds_includers()
{
	local h c n best=''

	ensure_built
	# The public header the fewest objects (at least one) include, to keep
	# the rebuild short.
	for h in "$src"/runtime/include/weft/*.h "$src/runtime/include/weft.h"; do
		[ -f "$h" ] || continue
		# shellcheck disable=SC2046
		grep -lF "  $h \\" $(cmd_files "$obj") >"$work/inc" 2>/dev/null || true
		n=$(wc -l <"$work/inc")
		if [ "$n" -gt 0 ] && { [ -z "$best" ] || [ "$n" -lt "$best" ]; }; then
			best=$n
			cp "$work/inc" "$work/includers"
			echo "$h" >"$work/header"
		fi
	done
	[ -n "$best" ] || skip "no object includes a public header"
	h=$(cat "$work/header")
	while read -r c; do cmd_object "$c"; done <"$work/includers" | sort >"$work/want"
	diag "touching ${h#"$src"/}, included by $(wc -l <"$work/want") objects"
	touch "$h"
	M all >"$work/hdr.log" 2>&1 || fail_log "$work/hdr.log" "make failed"
	compiled "$work/hdr.log" >"$work/seen"
	same_objects "$work/want" "$work/seen" "touch ${h#"$src"/}"
}
tap_test header_change_rebuilds_includers

test_kconfig_unused_option_rebuilds_nothing()
{
	local name lo hi new bad

	ensure_built
	symbol_users
	read -r name lo hi < <(pick_option unused) || true
	# kconfig_new_option_takes_default checks an unread option in any case.
	[ -n "$name" ] || skip "every int option is read by some object"
	bump_option "$name" "$lo" "$hi"
	new=$bumped
	diag "CONFIG_$name=$new (no object reads it)"
	M all >"$work/unused.log" 2>&1 || fail_log "$work/unused.log" "make failed"
	grep -qx "#define CONFIG_$name $new" "$obj/include/generated/autoconf.h" ||
		fail "autoconf.h does not have CONFIG_$name $new"
	bad=$(grep -v '^  CONF ' "$work/unused.log" || true)
	[ -z "$bad" ] || fail_log "$work/unused.log" "changing CONFIG_$name rebuilt something"
}
tap_test kconfig_unused_option_rebuilds_nothing

test_kconfig_option_rebuilds_its_users()
{
	local name lo hi new

	ensure_built
	# The one the fewest objects read, to keep the rebuild short.
	symbol_users
	read -r name lo hi < <(pick_option used) || true
	[ -n "$name" ] || skip "no compiled file mentions an int CONFIG_ option yet"
	objects_using "$name" >"$work/want"
	bump_option "$name" "$lo" "$hi"
	new=$bumped
	diag "CONFIG_$name=$new, read by $(wc -l <"$work/want") objects"
	M all >"$work/used.log" 2>&1 || fail_log "$work/used.log" "make failed"
	compiled "$work/used.log" >"$work/seen"
	same_objects "$work/want" "$work/seen" "CONFIG_$name"
}
tap_test kconfig_option_rebuilds_its_users

test_kconfig_new_option_takes_default()
{
	local k=$src/kconfig/Kconfig bad rc

	ensure_built
	cp "$k" "$work/Kconfig.saved"
	printf '\nconfig WEFT_BUILD_TEST_PROBE\n\tint "probe"\n\tdefault 42\n\thelp\n\t  %s\n' \
		"Added by tests/build/build_system.sh." >>"$k"
	rc=0
	M all >"$work/newopt.log" 2>&1 || rc=$?
	cp "$work/Kconfig.saved" "$k"
	[ "$rc" -eq 0 ] || fail_log "$work/newopt.log" "make failed"
	grep -q '^  CONF .*(new options take their defaults)' "$work/newopt.log" ||
		fail_log "$work/newopt.log" "no olddefconfig step after a Kconfig change"
	grep -qx 'CONFIG_WEFT_BUILD_TEST_PROBE=42' "$cfg" ||
		fail "the new option is not in the configuration with its default"
	grep -qx '#define CONFIG_WEFT_BUILD_TEST_PROBE 42' "$obj/include/generated/autoconf.h" ||
		fail "the new option is not in autoconf.h"
	bad=$(grep -v '^  CONF ' "$work/newopt.log" || true)
	[ -z "$bad" ] || fail_log "$work/newopt.log" "an option nobody reads rebuilt something"
	# Dropping it again goes through olddefconfig as well.
	M all >"$work/newopt.log" 2>&1 || fail_log "$work/newopt.log" "make failed"
	! grep -q WEFT_BUILD_TEST_PROBE "$cfg" ||
		fail "the removed option stayed in the configuration"
}
tap_test kconfig_new_option_takes_default

# CONFIG_WEFT_TASK_FPENV changes the assembly of the context switch: the
# option must rebuild that object (fixdep on a .S file) and the fpenv test
# then checks the other behaviour (each task its own rounding mode).
test_task_fpenv_rebuilds_switch_and_isolates()
{
	local sw

	ensure_built
	grep -qx '# CONFIG_WEFT_TASK_FPENV is not set' "$cfg" ||
		fail "CONFIG_WEFT_TASK_FPENV is not off by default"
	sw=runtime/src/arch/switch_$(uname -m).o
	[ -f "$src/${sw%.o}.S" ] || skip "no context switch for $(uname -m)"
	sed -i 's/^# CONFIG_WEFT_TASK_FPENV is not set$/CONFIG_WEFT_TASK_FPENV=y/' "$cfg"
	M all "$obj/tests/runtime/fpenv" >"$work/fpenv.log" 2>&1 ||
		fail_log "$work/fpenv.log" "make with CONFIG_WEFT_TASK_FPENV=y failed"
	compiled "$work/fpenv.log" | grep -qx "$sw" ||
		fail_log "$work/fpenv.log" "CONFIG_WEFT_TASK_FPENV=y did not rebuild $sw"
	"$obj/tests/runtime/fpenv" >"$work/fpenv.out" 2>&1 ||
		fail_log "$work/fpenv.out" "tests/runtime/fpenv failed with CONFIG_WEFT_TASK_FPENV=y"
	grep -q 'CONFIG_WEFT_TASK_FPENV=y' "$work/fpenv.out" ||
		fail_log "$work/fpenv.out" "the fpenv test did not see the option"
	sed -i 's/^CONFIG_WEFT_TASK_FPENV=y$/# CONFIG_WEFT_TASK_FPENV is not set/' "$cfg"
	M all >"$work/fpenv.log" 2>&1 || fail_log "$work/fpenv.log" "make failed"
}
tap_test task_fpenv_rebuilds_switch_and_isolates

test_werror_makes_warnings_errors()
{
	local o=$work/werror c=$work/werror.config probe

	probe=$o/tests/build/werror_probe.o
	cat >"$src/tests/build/werror_probe.c" <<-'EOF'
		int werror_probe(void);

		int werror_probe(void)
		{
			int unused = 1;

			return 0;
		}
	EOF
	if make -C "$src" --no-print-directory O="$o" KCONFIG_CONFIG="$c" "$probe" \
		>"$work/werror.log" 2>&1; then
		fail_log "$work/werror.log" "a warning did not fail the build with CONFIG_WERROR=y"
	fi
	grep -q 'unused' "$work/werror.log" || fail_log "$work/werror.log" "no unused warning"
	grep -qx 'CONFIG_WERROR=y' "$c" || fail "CONFIG_WERROR is not on by default"
	sed -i 's/^CONFIG_WERROR=y$/# CONFIG_WERROR is not set/' "$c"
	make -C "$src" --no-print-directory O="$o" KCONFIG_CONFIG="$c" "$probe" \
		>"$work/werror.log" 2>&1 ||
		fail_log "$work/werror.log" "CONFIG_WERROR=n still fails on a warning"
	grep -q 'warning:.*unused' "$work/werror.log" ||
		fail_log "$work/werror.log" "the warning is not shown with CONFIG_WERROR=n"
}
tap_test werror_makes_warnings_errors

test_clang_builds()
{
	local o=$work/clang c bad

	command -v clang >/dev/null || skip "clang is not installed"
	make -C "$src" --no-print-directory -j"$jobs" O="$o" KCONFIG_CONFIG="$work/clang.config" \
		CC=clang all >"$work/clang.log" 2>&1 ||
		fail_log "$work/clang.log" "make CC=clang failed"
	bad=
	for c in $(cmd_files "$o"); do
		grep -q '^savedcmd_[^ ]* := clang ' "$c" || bad="$bad $(basename "$c")"
	done
	[ -z "$bad" ] || fail "objects not built by clang:$bad"
	[ -f "$o/runtime/libweft.a" ] || fail "no runtime/libweft.a"
	make -C "$src" --no-print-directory -j"$jobs" O="$o" KCONFIG_CONFIG="$work/clang.config" \
		CC=clang all >"$work/clang.log" 2>&1 || fail_log "$work/clang.log" "make failed"
	[ ! -s "$work/clang.log" ] ||
		fail_log "$work/clang.log" "a second make CC=clang did something"
}
tap_test clang_builds

# --- install ---------------------------------------------------------------

version()
{
	local v

	v=$(sed -n 's/^VERSION_\(MAJOR\|MINOR\|PATCH\) := //p' "$src/Makefile" | paste -sd.)
	[ -n "$v" ] || fail "no VERSION_MAJOR/MINOR/PATCH in the Makefile"
	echo "$v"
}

# Install the main object tree under $1 with PREFIX=/usr.
install_to()
{
	ensure_built
	M install DESTDIR="$1" PREFIX=/usr >"$work/install.log" 2>&1 ||
		fail_log "$work/install.log" "make install failed"
}

test_install_layout()
{
	local d=$work/dest v maj h m

	v=$(version)
	maj=${v%%.*}
	install_to "$d"
	for f in lib/libweft.a "lib/libweft.so.$v" include/weft.h lib/pkgconfig/weft.pc; do
		[ -f "$d/usr/$f" ] || fail "no usr/$f"
	done
	[ "$(readlink "$d/usr/lib/libweft.so")" = "libweft.so.$maj" ] ||
		fail "usr/lib/libweft.so does not point to libweft.so.$maj"
	[ "$(readlink "$d/usr/lib/libweft.so.$maj")" = "libweft.so.$v" ] ||
		fail "usr/lib/libweft.so.$maj does not point to libweft.so.$v"
	if command -v readelf >/dev/null; then
		readelf -d "$d/usr/lib/libweft.so.$v" >"$work/dynamic"
		grep -q "SONAME.*\[libweft\.so\.$maj\]" "$work/dynamic" ||
			fail "libweft.so.$v has no SONAME libweft.so.$maj"
	fi
	for h in "$src"/runtime/include/weft/*.h; do
		cmp -s "$h" "$d/usr/include/weft/${h##*/}" ||
			fail "usr/include/weft/${h##*/} missing"
	done
	for m in "$src"/docs/man/*.[1-8]; do
		[ -f "$m" ] || continue
		[ -f "$d/usr/share/man/man${m##*.}/${m##*/}" ] ||
			fail "man page ${m##*/} not installed"
	done
	grep -qx 'prefix=/usr' "$d/usr/lib/pkgconfig/weft.pc" || fail "weft.pc: prefix is not /usr"
	grep -qx "Version: $v" "$d/usr/lib/pkgconfig/weft.pc" || fail "weft.pc: version is not $v"
	! grep -qF "$d" "$d/usr/lib/pkgconfig/weft.pc" || fail "weft.pc names the DESTDIR"
}
tap_test install_layout

test_pkg_config_builds_a_program()
{
	local d=$work/dest-pc p=$work/pc cc=${CC:-cc} v out

	command -v pkg-config >/dev/null || skip "pkg-config is not installed"
	v=$(version)
	install_to "$d"
	mkdir -p "$p"
	cat >"$p/prog.c" <<-'EOF'
		#include <stdio.h>
		#include <weft.h>

		int main(void)
		{
			puts(wf_version());
			return 0;
		}
	EOF
	export PKG_CONFIG_SYSROOT_DIR=$d PKG_CONFIG_LIBDIR=$d/usr/lib/pkgconfig
	[ "$(pkg-config --modversion weft)" = "$v" ] ||
		fail "pkg-config --modversion weft is not $v"
	# shellcheck disable=SC2046
	$cc -o "$p/prog" "$p/prog.c" $(pkg-config --cflags --libs weft) >"$p/cc.log" 2>&1 ||
		fail_log "$p/cc.log" "cc \$(pkg-config --cflags --libs weft) failed"
	out=$(LD_LIBRARY_PATH=$d/usr/lib "$p/prog") || fail "the shared-linked program failed"
	[ "$out" = "$v" ] || fail "the shared-linked program printed '$out', not '$v'"
	# The same program against libweft.a, with Libs.private.
	# shellcheck disable=SC2046
	$cc -o "$p/prog-static" "$p/prog.c" $(pkg-config --cflags --libs-only-L weft) \
		-Wl,-Bstatic -lweft -Wl,-Bdynamic \
		$(pkg-config --static --libs-only-l weft | sed 's/-lweft\b//') \
		$(pkg-config --libs-only-other weft) >"$p/cc.log" 2>&1 ||
		fail_log "$p/cc.log" "linking against libweft.a failed"
	out=$(env -u LD_LIBRARY_PATH "$p/prog-static") || fail "the static-linked program failed"
	[ "$out" = "$v" ] || fail "the static-linked program printed '$out', not '$v'"
}
tap_test pkg_config_builds_a_program

test_uninstall_removes_everything()
{
	local d=$work/dest-un

	install_to "$d"
	M uninstall DESTDIR="$d" PREFIX=/usr >"$work/uninstall.log" 2>&1 ||
		fail_log "$work/uninstall.log" "make uninstall failed"
	find "$d" \( -type f -o -type l \) >"$work/left"
	[ ! -s "$work/left" ] || fail_log "$work/left" "make uninstall left files behind"
}
tap_test uninstall_removes_everything

test_clean_and_mrproper()
{
	mkdir -p "$src/build/default"
	touch "$src/build/default/stale.o"
	printf 'CONFIG_WERROR=y\n' >"$src/.config"
	touch "$src/.config.old" "$src/defconfig"
	make -C "$src" --no-print-directory clean >"$work/clean.log" 2>&1 ||
		fail_log "$work/clean.log" "make clean failed"
	[ ! -e "$src/build" ] || fail "make clean left build/"
	[ -f "$src/.config" ] || fail "make clean removed .config"
	! grep -q '^  CONF' "$work/clean.log" || fail_log "$work/clean.log" "make clean configured"
	make -C "$src" --no-print-directory mrproper >"$work/clean.log" 2>&1 ||
		fail_log "$work/clean.log" "make mrproper failed"
	for f in .config .config.old defconfig; do
		[ ! -e "$src/$f" ] || fail "make mrproper left $f"
	done
}
tap_test clean_and_mrproper

# --- kernel configuration and packages -------------------------------------

# The running kernel's configuration on stdout; false when unreadable.
kernel_config()
{
	if [ -r /proc/config.gz ]; then
		gzip -dc /proc/config.gz
	elif [ -r "/boot/config-$(uname -r)" ]; then
		cat "/boot/config-$(uname -r)"
	else
		return 1
	fi
}

test_kernel_check_running_kernel()
{
	local rc=0

	make -C "$src" --no-print-directory O="$work/kc-obj" KCONFIG_CONFIG="$work/kc.config" \
		kernel-check >"$work/kc.log" 2>&1 || rc=$?
	[ ! -e "$work/kc.config" ] || fail "make kernel-check created a configuration"
	[ ! -e "$work/kc-obj" ] || fail "make kernel-check created the object tree"
	case $rc in
	0) grep -q 'options present' "$work/kc.log" || fail_log "$work/kc.log" "no summary" ;;
	2) skip "no readable kernel configuration ($(tail -n 1 "$work/kc.log"))" ;;
	*)
		sed 's/^/# /' "$work/kc.log"
		skip "the running kernel lacks options of kconfig/kernel.config (above)"
		;;
	esac
}
tap_test kernel_check_running_kernel

test_kernel_check_names_missing_option()
{
	local f=$work/frag.config have sym rc=0

	kernel_config >"$work/kernel.config" || skip "no readable kernel configuration"
	have=$(grep -m 1 -E '^CONFIG_[A-Z0-9_]+=y$' "$work/kernel.config") ||
		skip "the kernel configuration has no built-in option"
	sym=${have%=y}
	printf '# test fragment\n%s\n%s=m\nCONFIG_WEFT_NOPE=y\n' "$have" "$sym" >"$f"
	"$src/tools/kernel-check.sh" "$f" >"$work/kc.log" 2>&1 || rc=$?
	[ "$rc" -eq 1 ] || fail_log "$work/kc.log" "exit status $rc for a missing option, not 1"
	grep -q 'MISSING CONFIG_WEFT_NOPE=y' "$work/kc.log" ||
		fail_log "$work/kc.log" "CONFIG_WEFT_NOPE is not named as missing"
	! grep -q "MISSING $sym=" "$work/kc.log" ||
		fail_log "$work/kc.log" "$sym (built in) was reported missing"
	grep -q '^1 of 3 options missing' "$work/kc.log" ||
		fail_log "$work/kc.log" "the summary does not count 1 of 3"
	rc=0
	"$src/tools/kernel-check.sh" "$work/no-such-fragment" >"$work/kc.log" 2>&1 || rc=$?
	[ "$rc" -eq 2 ] ||
		fail_log "$work/kc.log" "exit status $rc for an unreadable fragment, not 2"
}
tap_test kernel_check_names_missing_option

test_deps_build_group_installed()
{
	"$src/tools/deps.sh" --check build >"$work/deps.log" 2>&1 ||
		fail_log "$work/deps.log" "tools/deps.sh --check build: packages missing"
}
tap_test deps_build_group_installed

test_deps_unknown_group_exits_2()
{
	local rc=0

	"$src/tools/deps.sh" --check no-such-group >"$work/deps.log" 2>&1 || rc=$?
	[ "$rc" -eq 2 ] || fail_log "$work/deps.log" "exit status $rc for an unknown group, not 2"
	grep -q "no-such-group" "$work/deps.log" ||
		fail_log "$work/deps.log" "the message does not name the group"
	"$src/tools/deps.sh" --help >"$work/deps.log" 2>&1 || fail "tools/deps.sh --help failed"
	grep -q 'Usage' "$work/deps.log" || fail_log "$work/deps.log" "--help shows no usage"
}
tap_test deps_unknown_group_exits_2

tap_main "$@"
