#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/runtime/io_examples.sh - the I/O examples work, on both drivers:
# runtime/examples/echo echoes what a client sends over 127.0.0.1,
# runtime/examples/http answers two pipelined keep-alive requests and a
# Connection: close one (each with its listener and streams, with
# --oneshot, and in a --current-thread runtime), runtime/examples/copy copies a file byte for
# byte. Clients are bash's /dev/tcp (127.0.0.1 only). The uring cases skip
# where io_uring is refused (the example then fails to start with EPERM or
# ENOSYS). TAP 13.
set -u
obj=${WEFT_OBJDIR:?run through tests/run}
src=${WEFT_SRCDIR:?run through tests/run}
drivers="uring epoll"
variants="default oneshot ct"
cases=$(for d in $drivers; do
	for v in $variants; do
		sfx=$d
		[ $v = default ] || sfx=${v}_$d
		printf 'examples:echo_%s examples:http_%s ' "$sfx" "$sfx"
	done
	printf 'examples:copy_%s ' "$d"
done)

# shellcheck source=../harness/script_cases.sh
. "$src/tests/harness/script_cases.sh"
wtest_script_args "$cases" "$@"

ex=$obj/runtime/examples
work=$(mktemp -d /tmp/weft-ioex.XXXXXX)
pids=()
cleanup()
{
	local p
	for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT

echo "TAP version 13"
echo "1..$(echo $cases | wc -w)"
n=0 rc=0
result()	# NAME STATUS(0 ok, 4 skip, else fail) [REASON]
{
	n=$((n + 1))
	case $2 in
	0) echo "ok $n $1" ;;
	4) echo "ok $n $1 # SKIP $3" ;;
	*) [ -f "$work/log" ] && sed 's/^/# /' "$work/log"
	   echo "# $3"
	   echo "not ok $n $1"
	   rc=1 ;;
	esac
}

# Start SERVER on a free port from 19700 up; sets $port, $spid. 4: no io_uring.
start()	# DRIVER PROGRAM [ARGS...]
{
	local i d=$1 prog=$2
	shift 2
	for port in $(seq 19700 19799); do
		: >"$work/log"
		WEFT_IO=$d "$ex/$prog" --port "$port" "$@" >"$work/log" 2>&1 &
		spid=$!
		pids+=("$spid")
		for ((i = 0; i < 100; i++)); do
			grep -q "listening" "$work/log" && return 0
			if ! kill -0 "$spid" 2>/dev/null; then
				grep -qE "Operation not permitted|Function not implemented" "$work/log" &&
					return 4
				grep -q "Address already in use" "$work/log" && break
				return 1
			fi
			sleep 0.05
		done
	done
	return 1
}

stop() { kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; }

for d in $drivers; do
for v in $variants; do
	case $v in
	default) sfx=$d args=(--workers 2) ;;
	oneshot) sfx=oneshot_$d args=(--workers 2 --oneshot) ;;
	ct) sfx=ct_$d args=(--current-thread) ;;
	esac
	# echo: 3 lines out, the same 3 lines back.
	start "$d" echo "${args[@]}"; st=$?
	if [ $st -eq 0 ]; then
		got=$(exec 3<>"/dev/tcp/127.0.0.1/$port" &&
			printf 'one\ntwo\nthree\n' >&3 &&
			timeout 5 head -n 3 <&3)
		stop
		if [ "$got" = $'one\ntwo\nthree' ]; then result "examples:echo_$sfx" 0
		else result "examples:echo_$sfx" 1 "echo: sent one/two/three, got '$got'"; fi
	elif [ $st -eq 4 ]; then
		result "examples:echo_$sfx" 4 "io_uring refused here"
	else
		result "examples:echo_$sfx" 1 "echo did not start"
	fi

	# http: two pipelined requests, then one that closes.
	start "$d" http "${args[@]}"; st=$?
	if [ $st -eq 0 ]; then
		got=$(exec 3<>"/dev/tcp/127.0.0.1/$port" &&
			printf 'GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n' >&3 &&
			printf 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' >&3 &&
			timeout 5 cat <&3)
		stop
		# The body has no newline: count occurrences, not lines.
		oks=$(grep -o $'HTTP/1.1 200 OK\r' <<<"$got" | wc -l)
		hellos=$(grep -o 'Hello, world!' <<<"$got" | wc -l)
		if [ "$oks" = 3 ] && [ "$hellos" = 3 ] && grep -q $'^Connection: close\r$' <<<"$got"; then
			result "examples:http_$sfx" 0
		else
			result "examples:http_$sfx" 1 "http: wanted 3 responses, the last closing; got: $got"
		fi
	elif [ $st -eq 4 ]; then
		result "examples:http_$sfx" 4 "io_uring refused here"
	else
		result "examples:http_$sfx" 1 "http did not start"
	fi
done

	# copy: 3 MB and a bit, small blocks, several in flight.
	head -c 3145799 /dev/urandom >"$work/src"
	rm -f "$work/dst"
	WEFT_IO=$d "$ex/copy" --depth 8 --block 65536 --fsync "$work/src" "$work/dst" \
		>"$work/log" 2>&1
	st=$?
	if [ $st -eq 0 ] && cmp -s "$work/src" "$work/dst"; then
		result "examples:copy_$d" 0
	elif [ $st -ne 0 ] && grep -qE "Operation not permitted|Function not implemented" "$work/log"; then
		result "examples:copy_$d" 4 "io_uring refused here"
	else
		result "examples:copy_$d" 1 "copy: exit $st, or the copy differs"
	fi
done
exit $rc
