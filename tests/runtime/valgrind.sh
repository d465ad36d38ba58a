#!/usr/bin/env bash
# tests/runtime/valgrind.sh - the runtime's own tests under valgrind's
# memcheck: no invalid access, no use of uninitialised memory, and nothing
# leaked once a runtime is freed (shutdown frees everything).
# TAP 13; skips in sanitizer builds (they check the same, differently).
set -u
obj=${WEFT_OBJDIR:?run through tests/run}
src=${WEFT_SRCDIR:?run through tests/run}
progs="task_basic blocking chan_mpsc sync_mutex"

# shellcheck source=../harness/script_cases.sh
. "$src/tests/harness/script_cases.sh"
wtest_script_args "$(for p in $progs; do echo valgrind:$p; done)" "$@"

echo "TAP version 13"
# A sanitizer build (whatever its O= directory) checks memory its own way,
# and valgrind cannot run it.
if grep -qa -e __asan_init -e __tsan_init "$obj/tests/runtime/task_basic" 2>/dev/null; then
	echo "1..0 # SKIP sanitizer build: ASan/TSan check memory there"
	exit 4
fi
if ! command -v valgrind >/dev/null; then
	echo "1..0 # SKIP valgrind is not installed (tools/deps.sh check)"
	exit 4
fi
echo "1..$(echo $progs | wc -w)"
i=0
rc=0
for p in $progs; do
	i=$((i + 1))
	out=$(mktemp)
	# Leaks: definite and indirect fail; threads' still-reachable blocks
	# at exit (glibc's own) do not.
	timeout 900 valgrind -q --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite,indirect --child-silent-after-fork=no \
		"$obj/tests/runtime/$p" -s 20 >"$out" 2>&1
	st=$?
	if [ $st -eq 0 ] && ! grep -q '^==[0-9]*== [A-Z]' "$out"; then
		echo "ok $i valgrind:$p"
	else
		# valgrind's notes on system calls it does not know (epoll_pwait2,
		# which the epoll driver falls back from) would push the failure
		# itself out of the tail.
		grep -v -e 'WARNING: unhandled' -e 'You may be able to write' \
			-e 'README_MISSING_SYSCALL' -e 'Nevertheless we consider' \
			-e 'valgrind.org/support/bug_reports' "$out" | sed 's/^/# /' | tail -n 60
		echo "not ok $i valgrind:$p # exit $st"
		rc=1
	fi
	rm -f "$out"
done
exit $rc
