#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/fuzz/weftstat_fuzz.sh - weftstat's parsers of untrusted input (the
# target's /proc files, memory, ELF files and symbol names; the --listen
# request; the command line) replayed under ASan and UBSan: for each
# family, every file of tests/fuzz/corpus/NAME (seeds and the reproducers
# of every bug fuzzing found) and 300 deterministic mutations of them
# (tests/fuzz/replay.c). A failure leaves the input that failed in the
# test's output. `make fuzz` runs the same targets under libFuzzer.
# TAP 13. Options: see tests/build/tap.sh.

# shellcheck disable=SC2317	# the test functions are called through tap_main
obj=${WEFT_OBJDIR:?run through tests/run}
src=${WEFT_SRCDIR:?run through tests/run}
# shellcheck source=../build/tap.sh
. "$src/tests/build/tap.sh" || exit 2

MUTATIONS=${WEFT_FUZZ_MUTATIONS:-300}

replay()
{
	local name=$1 prog=$obj/tests/fuzz/replay_$1

	[ -x "$prog" ] || fail "$prog is not built"
	if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$prog" -m "$MUTATIONS" -o "$work" "$src/tests/fuzz/corpus/$name" \
		>"$work/log" 2>&1; then
		if [ -f "$work/replay-crash-$name" ]; then
			diag "failing input, as hex:"
			od -An -tx1 -v "$work/replay-crash-$name" | head -n 16 |
				while read -r l; do diag "  $l"; done
		fi
		fail_log "$work/log" "replay_$name failed"
	fi
	diag "$(tail -n 1 "$work/log")"
}

test_maps() { replay maps; }
test_elf() { replay elf; }
test_registry() { replay registry; }
test_proc() { replay proc; }
test_http() { replay http; }
test_cmdline() { replay cmdline; }
test_symbols() { replay symbols; }

tap_test maps 60
tap_test elf 60
tap_test registry 60
tap_test proc 60
tap_test http 60
tap_test cmdline 60
tap_test symbols 60
tap_main "$@"
