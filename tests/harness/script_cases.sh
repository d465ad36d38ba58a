# SPDX-License-Identifier: MIT
# tests/harness/script_cases.sh - the test-program conventions of tests/run
# for bash test scripts that run a fixed list of cases as one unit.
#
#	. "$WEFT_SRCDIR/tests/harness/script_cases.sh"
#	wtest_script_args "case1 case2" "$@"
#
# -l lists the cases and exits; -t GLOB runs the script (all its cases)
# when any case matches, else reports "1..0 # SKIP" and exits 4; -s is
# accepted and ignored (the script sets its own limits).
wtest_script_args()
{
	local cases=$1 list=0 glob= opt match=0 c
	shift
	OPTIND=1
	while getopts "lt:s:" opt; do
		case $opt in
		l) list=1 ;;
		t) glob=$OPTARG ;;
		*) ;;
		esac
	done
	if [ -n "$glob" ]; then
		for c in $cases; do
			# shellcheck disable=SC2053
			[[ $c == $glob ]] && match=1
		done
		if [ $match -eq 0 ]; then
			[ $list -eq 1 ] && exit 0
			echo "TAP version 13"
			echo "1..0 # SKIP no case matches $glob"
			exit 4
		fi
	fi
	if [ $list -eq 1 ]; then
		printf '%s\n' $cases
		exit 0
	fi
}
