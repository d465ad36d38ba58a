# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# tests/build/tap.sh - the wtest harness's conventions for test scripts.
# Sourced, never run. A script defines one function per test, registers
# them in order and hands over to tap_main:
#
#	test_builds() { make ... >"$work/log" 2>&1 || fail_log "$work/log" "make failed"; }
#	tap_test builds [TIMEOUT]	(seconds; default 120)
#	tap_setup() { ...once, before the first selected test... }	(optional)
#	tap_main "$@"
#
# Each test runs in its own subshell and process group with its own
# timeout (times WTEST_TIMEOUT_SCALE or -s SCALE). Inside a test, `fail MSG`
# and `fail_log FILE MSG` end it as failed, `skip REASON` as skipped, `diag
# MSG` logs a line; a command that fails unchecked fails it too (set -e).
# The output of a failed test is shown as TAP "# " lines; a passing test
# shows only its diag lines.
#
# Command line, as for wtest programs: -l lists the tests, -t GLOB (may be
# repeated) selects by NAME, PROG.NAME or PROG, -s SCALE stretches the
# timeouts. Output is TAP version 13; exit 0 pass, 1 fail, 4 all skipped.
# WEFT_TEST_KEEP=1 keeps the scratch directory ($work) for a post-mortem.

_tap_names=()
_tap_tmos=()

tap_test()
{
	_tap_names+=("$1")
	_tap_tmos+=("${2:-120}")
}

diag()
{
	printf '# %s\n' "$*"
}

# Where a helper was called from, as FILE:LINE.
_tap_where()
{
	local c

	read -ra c <<<"$(caller 1)"
	echo "${c[2]##*/}:${c[0]}"
}

# End the test as failed. Messages go to stderr so that a failure inside
# a command substitution is still shown.
fail()
{
	printf '# %s: %s\n' "$(_tap_where)" "$*" >&2
	exit 1
}

# Show FILE (make's output, a diff) indented, then fail with MSG.
fail_log()
{
	local f=$1

	shift
	sed 's/^/    /' "$f" >&2
	printf '# %s: %s\n' "$(_tap_where)" "$*" >&2
	exit 1
}

skip()
{
	printf '%s\n' "$*" >"$_tap_skipfile"
	exit 4
}

_tap_selected()
{
	local name=$1 g

	[ ${#_tap_globs[@]} -eq 0 ] && return 0
	for g in "${_tap_globs[@]}"; do
		# shellcheck disable=SC2053
		if [[ $name == $g || $_tap_prog.$name == $g || $_tap_prog == $g ||
			$_tap_prog.sh.$name == $g || $_tap_prog.sh == $g ]]; then
			return 0
		fi
	done
	return 1
}

_tap_usage()
{
	echo "usage: $_tap_prog.sh [-l] [-t GLOB]... [-s SCALE]" >&2
}

# Run test NAME as number NUM within TMO seconds; prints its TAP line.
# Returns 0 pass, 1 fail, 4 skip.
# Where every thread of a timed-out test's processes sleeps, for the log.
_tap_dump_hung()
{
	local p t

	for p in $(pgrep -g "$1" 2>/dev/null); do
		echo "hung: process $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-120)"
		for t in /proc/"$p"/task/*; do
			echo "hung:   thread ${t##*/} $(cat "$t/comm" 2>/dev/null)" \
				"state $(awk '{ print $3 }' "$t/stat" 2>/dev/null)" \
				"in $(cat "$t/wchan" 2>/dev/null)"
		done
	done
}

_tap_run_one()
{
	local num=$1 name=$2 tmo=$3 log pid rc start limit reason

	log=$_tap_dir/$num.log
	_tap_skipfile=$_tap_dir/$num.skip
	limit=$(awk -v t="$tmo" -v s="$_tap_scale" 'BEGIN { printf "%d", t * s + 0.5 }')
	start=$SECONDS
	# Job control puts the test in its own process group, so a timeout
	# takes every make and compiler it started with it.
	set -m
	(
		trap - EXIT
		# An unchecked command that fails ends the test; say which.
		# shellcheck disable=SC2154
		trap '_tap_rc=$?; printf "# %s:%s: %s: exit status %s\n" \
			"${BASH_SOURCE[0]##*/}" "$LINENO" "$BASH_COMMAND" "$_tap_rc" >&2' ERR
		set -eE -o pipefail
		"test_$name"
	) </dev/null >"$log" 2>&1 &
	pid=$!
	set +m
	while kill -0 "$pid" 2>/dev/null; do
		if [ $((SECONDS - start)) -ge "$limit" ]; then
			_tap_dump_hung "$pid" >>"$log" 2>&1
			kill -TERM -- "-$pid" 2>/dev/null
			sleep 1
			kill -KILL -- "-$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
			sed 's/^/# /' "$log"
			echo "not ok $num $name # TIMEOUT after $limit s"
			return 1
		fi
		sleep 0.1
	done
	wait "$pid"
	rc=$?
	if [ $rc -eq 0 ]; then
		grep '^# ' "$log" || true
		echo "ok $num $name"
		return 0
	fi
	if [ $rc -eq 4 ] && [ -s "$_tap_skipfile" ]; then
		reason=$(head -n 1 "$_tap_skipfile")
		grep '^# ' "$log" || true
		echo "ok $num $name # SKIP $reason"
		return 4
	fi
	sed -e 's/^# //' -e 's/^/# /' "$log"
	echo "not ok $num $name # FAIL exit status $rc"
	return 1
}

tap_main()
{
	local opt list=0 i n=0 num=0 pass=0 failed=0 skipped=0 rc

	_tap_prog=$(basename "$0" .sh)
	_tap_globs=()
	_tap_scale=${WTEST_TIMEOUT_SCALE:-1}
	OPTIND=1
	while getopts "lt:s:h" opt; do
		case $opt in
		l) list=1 ;;
		t) _tap_globs+=("$OPTARG") ;;
		s) _tap_scale=$OPTARG ;;
		h) _tap_usage; exit 0 ;;
		*) _tap_usage; exit 2 ;;
		esac
	done
	shift $((OPTIND - 1))
	if [ $# -gt 0 ]; then
		echo "$_tap_prog: unexpected argument '$1'" >&2
		_tap_usage
		exit 2
	fi
	if ! [[ $_tap_scale =~ ^[0-9]*[.]?[0-9]+$ ]] ||
		awk -v s="$_tap_scale" 'BEGIN { exit !(s <= 0) }'; then
		echo "$_tap_prog: the timeout scale wants a positive number, not '$_tap_scale'" >&2
		exit 2
	fi

	for i in "${!_tap_names[@]}"; do
		_tap_selected "${_tap_names[$i]}" || continue
		[ $list -eq 1 ] && echo "${_tap_names[$i]}"
		n=$((n + 1))
	done
	[ $list -eq 1 ] && exit 0

	_tap_dir=$(mktemp -d "${TMPDIR:-/tmp}/weft-$_tap_prog.XXXXXX")
	work=$_tap_dir/work
	mkdir "$work"
	if [ "${WEFT_TEST_KEEP:-0}" = 1 ]; then
		trap 'echo "# kept $_tap_dir"' EXIT
	else
		trap 'rm -rf "$_tap_dir"' EXIT
	fi

	echo "TAP version 13"
	echo "1..$n"
	if [ $n -gt 0 ] && declare -F tap_setup >/dev/null; then
		if ! tap_setup >"$_tap_dir/setup.log" 2>&1; then
			sed 's/^/# /' "$_tap_dir/setup.log"
			for i in "${!_tap_names[@]}"; do
				_tap_selected "${_tap_names[$i]}" || continue
				num=$((num + 1))
				echo "not ok $num ${_tap_names[$i]} # setup failed"
			done
			echo "# $_tap_prog: 0 passed, $n failed, 0 skipped"
			exit 1
		fi
	fi
	for i in "${!_tap_names[@]}"; do
		_tap_selected "${_tap_names[$i]}" || continue
		num=$((num + 1))
		_tap_run_one $num "${_tap_names[$i]}" "${_tap_tmos[$i]}"
		rc=$?
		case $rc in
		0) pass=$((pass + 1)) ;;
		4) skipped=$((skipped + 1)) ;;
		*) failed=$((failed + 1)) ;;
		esac
	done
	echo "# $_tap_prog: $pass passed, $failed failed, $skipped skipped"
	[ $failed -gt 0 ] && exit 1
	[ $n -gt 0 ] && [ $skipped -eq $n ] && exit 4
	exit 0
}
