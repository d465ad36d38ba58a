#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/tools/weftstat.sh - weftstat against real processes, with its BPF
# programs loaded in the running kernel:
#   - a victim that calls usleep() inside a poll (weftstat_victim block) is
#     diagnosed as blocking inside polls, the culprit named as the planted
#     function with its file:line, and the blocked time is within 20% of
#     the time the victim itself measured asleep inside the trace window;
#   - a victim that only waits the weft way is reported healthy;
#   - doctor passes on this machine; bad usage, a missing process and a
#     process that is not a weft process exit 2 with a message;
#   - top prints one frame per interval without a terminal (text, JSON),
#     drives a terminal in raw mode and gives it back on q, stops when the
#     target exits; --listen serves the Prometheus format over HTTP;
#   - threads that move between worker slots (weftstat_victim handoff) are
#     named after the slot they drive, in top's frames and in report;
#   - the symbolizer (libdw in a child process) that hangs, crashes or
#     answers nonsense, or a victim whose DWARF is garbage: the report
#     comes anyway, in bounded time, with one line saying why;
#   - a pthread pool without weft (weftstat_threads_victim), its workers
#     found by Tokio's thread name or by --threads: the planted blocking
#     call is named with its syscall and file:line, within 20% of the
#     planted time, and the healthy threads are not called blocked.
# Needs root and a kernel that loads the programs: skips otherwise.
# TAP 13. Options: see tests/build/tap.sh.

# shellcheck disable=SC2317	# the test functions are called through tap_main
obj=${WEFT_OBJDIR:?run through tests/run}
src=${WEFT_SRCDIR:?run through tests/run}
# shellcheck source=../build/tap.sh
. "$src/tests/build/tap.sh" || exit 2

ws=$obj/tools/weftstat/weftstat
victim=$obj/tests/tools/weftstat_victim
victim_so=$obj/tests/tools/weftstat_victim_so
tvictim=$obj/tests/tools/weftstat_threads_victim

need_bpf()
{
	[ "$(id -u)" -eq 0 ] || skip "needs root to load BPF programs"
	"$ws" doctor >"$work/doctor" 2>&1 ||
		skip "the BPF programs do not load here: $(grep FAIL "$work/doctor" | head -n 3)"
}

# Start the victim (VICTIM, or $victim) in MODE; sets vpid and plant_line,
# output in $work/victim.
start_victim()
{
	local i t st

	# The shell truncates the output file only once the child runs: a
	# stale "ready" line from the last victim must not be there to find.
	rm -f "$work/victim"
	"${2:-$victim}" "$1" >"$work/victim" 2>&1 &
	vpid=$!
	for i in $(seq 200); do
		grep -q '^ready ' "$work/victim" 2>/dev/null && break
		sleep 0.05
	done
	if ! grep -q '^ready ' "$work/victim" 2>/dev/null; then
		if kill -0 "$vpid" 2>/dev/null; then
			diag "victim $vpid: $(tr '\0' ' ' </proc/$vpid/cmdline), state $(awk '{ print $3 }' /proc/$vpid/stat)"
			for t in /proc/$vpid/task/*; do
				diag "  thread ${t##*/} $(cat $t/comm): $(awk '{ print $3 }' $t/stat) wchan $(cat $t/wchan 2>/dev/null)"
			done
		else
			wait "$vpid" && st=0 || st=$?
			diag "victim $vpid exited with status $st"
		fi
		fail_log "$work/victim" "the victim never got ready"
	fi
	plant_line=$(awk '/^ready /{ print $4 }' "$work/victim")
	plant_tid=$(awk '/^ready /{ print $5 }' "$work/victim")
}

stop_victim()
{
	kill -TERM "$vpid"
	wait "$vpid" || fail_log "$work/victim" "the victim exited $?"
}

test_doctor()
{
	[ "$(id -u)" -eq 0 ] || skip "doctor's privilege check fails without root, by design"
	"$ws" doctor >"$work/out" 2>&1 || fail_log "$work/out" "doctor exited $?"
	grep -q '^ok   BPF programs' "$work/out" || fail_log "$work/out" "no BPF load line"
	diag "$(grep 'BPF programs' "$work/out")"
}
tap_test doctor 60

# As nobody, without and then with the capabilities doctor asks for.
test_doctor_privileges()
{
	local as_nobody st

	[ "$(id -u)" -eq 0 ] || skip "needs root to drop to another user"
	command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
	as_nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
	$as_nobody --inh-caps=-all --bounding-set=-all "$ws" doctor >"$work/out" 2>&1 &&
		st=0 || st=$?
	[ "$st" -eq 1 ] || fail_log "$work/out" "doctor without privileges exited $st, not 1"
	grep -q '^FAIL privileges .*CAP_BPF CAP_PERFMON CAP_SYS_PTRACE' "$work/out" ||
		fail_log "$work/out" "the missing capabilities are not named"
	grep -q '^FAIL BPF programs' "$work/out" || fail_log "$work/out" "the BPF load did not fail"
	"$ws" doctor >/dev/null 2>&1 || skip "the BPF programs do not load here even as root"
	$as_nobody --inh-caps=+bpf,+perfmon,+sys_ptrace,+dac_read_search \
		--ambient-caps=+bpf,+perfmon,+sys_ptrace,+dac_read_search "$ws" doctor \
		>"$work/out" 2>&1 || fail_log "$work/out" "doctor with the capabilities exited $?"
	grep -q '^ok   BPF programs' "$work/out" || fail_log "$work/out" "no BPF load line"
}
tap_test doctor_privileges 60

test_usage_errors()
{
	local args st

	while IFS= read -r args; do
		# shellcheck disable=SC2086
		"$ws" $args >"$work/out" 2>&1 && st=0 || st=$?
		[ "$st" -eq 2 ] || fail_log "$work/out" "'weftstat $args' exited $st, not 2"
		[ -s "$work/out" ] || fail "'weftstat $args' printed nothing"
	done <<'EOF'

bogus
report
report -p
report -p abc
report -p 0
report -p -5
report -p 1 -d 0
report -p 1 -d 0.01
report -p 1 -d abc
report -p 1 -d 1e9
report -p 1 --bogus
report -p 1 extra
report -p 1 --json --folded
report -p 1 --folded --prometheus
report -p 1 --threads (
report -p 1 --threads a[z-b]
report -p 1 --listen 127.0.0.1:9464
report -p 1 --prometheus --listen localhost:9464
report -p 1 --prometheus --listen 127.0.0.1
report -p 1 --prometheus --listen 127.0.0.1:99999
report -p 1 --prometheus --listen 127.0.0.1:-1
report -p 1 --prometheus --listen 127.1:9464
report -p 1 --prometheus --listen ::1:9464
report -p 1 --prometheus --listen [::1]
report -p 1 --prometheus --listen :9464
top
top -p
top -p abc
top -p 1 -i 0
top -p 1 -i 0.01
top -p 1 -i abc
top -p 1 -i 1e9
top -p 1 --sort bogus
top -p 1 -s x
top -p 1 -n 0
top -p 1 -n abc
top -p 1 --threads (
top -p 1 --listen localhost:9464
top -p 1 --listen 127.0.0.1
top -p 1 --listen 127.0.0.1:99999
top -p 1 -l [::1]
top -p 1 --bogus
top -p 1 extra
doctor extra
EOF
	"$ws" --help >"$work/out" 2>&1 || fail_log "$work/out" "--help exited $?"
	grep -q '^usage: weftstat' "$work/out" || fail_log "$work/out" "no usage line"
	"$ws" report --help >"$work/out" 2>&1 || fail_log "$work/out" "report --help exited $?"
	grep -q -- '--listen ADDR:PORT' "$work/out" || fail_log "$work/out" "no --listen in report --help"
	grep -q -- '--threads REGEX' "$work/out" || fail_log "$work/out" "no --threads in report --help"
	"$ws" top --help >"$work/out" 2>&1 || fail_log "$work/out" "top --help exited $?"
	grep -q '^usage: weftstat top' "$work/out" || fail_log "$work/out" "no top usage line"
	grep -q -- '--listen ADDR:PORT' "$work/out" || fail_log "$work/out" "no --listen in top --help"
	"$ws" top -p 1 --threads '(' >"$work/out" 2>&1 || true
	grep -q 'bad regular expression' "$work/out" ||
		fail_log "$work/out" "the regex error is not said"
}
tap_test usage_errors 30

test_no_such_process()
{
	local p st

	# A PID that is not in use: pid_max is an upper bound that never is.
	p=$(($(cat /proc/sys/kernel/pid_max) - 1))
	while kill -0 "$p" 2>/dev/null; do p=$((p - 1)); done
	"$ws" report -p "$p" -d 1 >"$work/out" 2>&1 && st=0 || st=$?
	[ "$st" -eq 2 ] || fail_log "$work/out" "exited $st, not 2"
	grep -q "no such process: $p" "$work/out" || fail_log "$work/out" "no message"
}
tap_test no_such_process 30

test_not_a_weft_process()
{
	local p st

	need_bpf
	sleep 30 &
	p=$!
	"$ws" report -p "$p" -d 1 >"$work/out" 2>&1 && st=0 || st=$?
	kill "$p"
	[ "$st" -eq 2 ] || fail_log "$work/out" "exited $st, not 2"
	grep -q "is not a weft process" "$work/out" || fail_log "$work/out" "no message"
	grep -q -- "--threads REGEX" "$work/out" || fail_log "$work/out" "--threads is not named"
}
tap_test not_a_weft_process 30

# Nanoseconds the victim slept in usleep() inside [from, to].
planted_ns()
{
	awk -v a="$1" -v b="$2" '$1 == "sleep" {
		s = $2 < a ? a : $2; e = $3 > b ? b : $3
		if (e > s) t += e - s
	} END { printf "%.0f\n", t }' "$work/victim"
}

test_blocking_in_poll()
{
	local json start end planted blocked culprit

	need_bpf
	start_victim block
	"$ws" report -p "$vpid" -d 2 --json >"$work/json" 2>"$work/err" ||
		fail_log "$work/err" "weftstat report --json exited $?"
	"$ws" report -p "$vpid" -d 1 >"$work/text" 2>&1 ||
		fail_log "$work/text" "weftstat report exited $?"
	stop_victim
	json=$(cat "$work/json")

	# The plain-language report: the class (a busy machine can put CPU
	# starvation before it), then the culprit.
	grep -qE '^(Diagnosis|Also): BLOCKING INSIDE POLLS\.' "$work/text" ||
		fail_log "$work/text" "the diagnosis is not blocking inside polls"
	grep -q "TOP CULPRIT .*: planted_block (.*weftstat_victim\.c:$plant_line)" "$work/text" ||
		fail_log "$work/text" "the top culprit is not planted_block at weftstat_victim.c:$plant_line"
	grep -q 'task [0-9]* "sleeper"' "$work/text" ||
		fail_log "$work/text" "the culprit's task is not named"

	[[ $json == *'"classes":['*'"blocking_in_poll"'*']'* ]] ||
		fail_log "$work/json" "JSON classes lack blocking_in_poll"
	culprit=$(printf '%s' "$json" | grep -o '"culprit":{[^}]*}' | head -n 1)
	[[ $culprit == *'"function":"planted_block"'* ]] ||
		fail "JSON top culprit is not planted_block: $culprit"
	[[ $culprit == *'weftstat_victim.c","line":'"$plant_line"* ]] ||
		fail "JSON top culprit is not at weftstat_victim.c:$plant_line: $culprit"

	# Blocked time at the planted function vs the time planted in the window.
	start=$(printf '%s' "$json" | grep -o '"start_ns":[0-9]*' | cut -d: -f2)
	end=$(printf '%s' "$json" | grep -o '"end_ns":[0-9]*' | cut -d: -f2)
	planted=$(planted_ns "$start" "$end")
	blocked=$(printf '%s' "$json" | awk 'BEGIN { RS = "\\{\"blocked_ns\":" } NR > 1 {
		n = $0; sub(/[^0-9].*/, "", n)
		if ($0 ~ /"culprit":\{"addr":"0x[0-9a-f]*","function":"planted_block"/) t += n
	} END { printf "%.0f\n", t }')
	diag "planted $((planted / 1000000)) ms in the window ($(grep -c '^sleep ' "$work/victim") usleeps in all), weftstat saw $((blocked / 1000000)) ms"
	[ "$planted" -gt 500000000 ] || fail_log "$work/victim" "too little planted: $planted ns"
	awk -v p="$planted" -v b="$blocked" 'BEGIN { exit !(b >= 0.8 * p && b <= 1.2 * p) }' ||
		fail "blocked $blocked ns is not within 20% of the planted $planted ns"
	[[ $json == *'"lost":{"ringbuf_full":0,'* ]] || fail "events were lost: $json"
	if command -v python3 >/dev/null; then
		python3 -c 'import json, sys; json.load(sys.stdin)' <"$work/json" ||
			fail_log "$work/json" "not valid JSON"
	else
		diag "python3 missing: JSON syntax not checked"
	fi
}
tap_test blocking_in_poll 60

# --folded: flamegraph.pl input, weighted by blocked microseconds.
test_folded_stacks()
{
	local us

	need_bpf
	start_victim block
	"$ws" report -p "$vpid" -d 1 --folded >"$work/folded" 2>"$work/err" ||
		fail_log "$work/err" "weftstat report --folded exited $?"
	stop_victim
	[ -s "$work/folded" ] || fail_log "$work/err" "no folded stacks"
	! grep -qv '^[^ ]* [0-9][0-9]*$' "$work/folded" ||
		fail_log "$work/folded" "a line is not 'frame;frame;... COUNT'"
	# The planted call: task frames outermost first, then the kernel's.
	us=$(awk '/;sleeper;planted_block;/ && /_\[k\]/ { t += $NF } END { print t + 0 }' \
		"$work/folded")
	diag "planted_block: $((us / 1000)) ms of blocked time in the folded stacks"
	[ "$us" -ge 200000 ] ||
		fail_log "$work/folded" "under 200 ms at sleeper;planted_block with kernel frames"
}
tap_test folded_stacks 30

# --prometheus: the text exposition format, the diagnosis as gauges.
test_prometheus_output()
{
	need_bpf
	start_victim block
	"$ws" report -p "$vpid" -d 1 --prometheus >"$work/prom" 2>"$work/err" ||
		fail_log "$work/err" "weftstat report --prometheus exited $?"
	stop_victim
	# Every line a comment (HELP, TYPE) or 'name{labels} value'.
	! grep -Ev '^# (HELP|TYPE) weftstat_[a-z_]+ |^weftstat_[a-z_]+\{[^}]*\} [0-9][0-9.]*$' \
		"$work/prom" | grep -q . ||
		fail_log "$work/prom" "a line is not in the text exposition format"
	grep -q "^weftstat_diagnosis{pid=\"$vpid\",class=\"blocking_in_poll\",rank=\"1\"} 1$" \
		"$work/prom" || fail_log "$work/prom" "blocking_in_poll is not the first class"
	grep -q "^weftstat_blocking_site_seconds{.*function=\"planted_block\".*line=\"$plant_line\".*task=\"sleeper\"} 0*[.0-9]*$" \
		"$work/prom" || fail_log "$work/prom" "no planted_block site"
	grep -q '^weftstat_worker_blocked_in_poll_seconds{' "$work/prom" ||
		fail_log "$work/prom" "no per-worker blocked time"
}
tap_test prometheus_output 30

# libweft.so: the registry and the runtime's frames live in a shared library.
test_blocking_in_poll_shared_libweft()
{
	need_bpf
	start_victim block "$victim_so"
	"$ws" report -p "$vpid" -d 1 >"$work/text" 2>&1 ||
		fail_log "$work/text" "weftstat report exited $?"
	stop_victim
	grep -qE '^(Diagnosis|Also): BLOCKING INSIDE POLLS\.' "$work/text" ||
		fail_log "$work/text" "the diagnosis is not blocking inside polls"
	grep -q "TOP CULPRIT .*: planted_block (.*weftstat_victim\.c:$plant_line)" "$work/text" ||
		fail_log "$work/text" "the top culprit is not planted_block at weftstat_victim.c:$plant_line"
	grep -q 'task_entry (.*runtime/src/task\.c:[0-9]*)' "$work/text" ||
		fail_log "$work/text" "libweft.so's frames are not symbolised"
}
tap_test blocking_in_poll_shared_libweft 30

test_lock_contention()
{
	local json lock

	need_bpf
	start_victim lock
	"$ws" report -p "$vpid" -d 2 --json >"$work/json" 2>"$work/err" ||
		fail_log "$work/err" "weftstat report --json exited $?"
	stop_victim
	json=$(cat "$work/json")
	# A busy machine can add CPU starvation: lock contention must be there.
	[[ $json == *'"classes":['*'"lock_contention"'*']'* ]] ||
		fail_log "$work/json" "lock contention is not diagnosed"
	lock=$(printf '%s' "$json" | grep -o '"locks":\[{[^]]*' | head -n 1)
	[[ $lock == *'"name":"big_lock"'* ]] || fail "the top lock is not big_lock: $lock"
	[[ $lock == *'"function":"contended_section","file":"'*'weftstat_victim.c","line":'"$plant_line"* ]] ||
		fail "the top lock's site is not contended_section at line $plant_line: $lock"
}
tap_test lock_contention 30

test_scheduler_saturation()
{
	need_bpf
	start_victim busy
	"$ws" report -p "$vpid" -d 2 --json >"$work/json" 2>"$work/err" ||
		fail_log "$work/err" "weftstat report --json exited $?"
	stop_victim
	grep -q '"classes":\[[^]]*"scheduler_saturation"' "$work/json" ||
		fail_log "$work/json" "saturation is not diagnosed"
	grep -qE '"classes":\[[^]]*"(blocking_in_poll|lock_contention)"' "$work/json" &&
		fail_log "$work/json" "blocking or locks reported for a victim that has neither"
	return 0
}
tap_test scheduler_saturation 30

# Two busy loops share the victim's one CPU: its workers wait in the run queue.
test_cpu_starvation()
{
	local hogs=() i st

	need_bpf
	command -v taskset >/dev/null || skip "needs taskset (util-linux)"
	# taskset execs the victim: every thread it creates inherits the CPU.
	rm -f "$work/victim"
	taskset -c 0 "$victim" healthy >"$work/victim" 2>&1 &
	vpid=$!
	for i in 1 2; do
		taskset -c 0 sh -c 'while :; do :; done' &
		hogs+=($!)
	done
	for i in $(seq 200); do
		grep -q '^ready ' "$work/victim" 2>/dev/null && break
		sleep 0.05
	done
	"$ws" report -p "$vpid" -d 2 --json >"$work/json" 2>"$work/err" && st=0 || st=$?
	kill "${hogs[@]}"
	stop_victim
	[ "$st" -eq 0 ] || fail_log "$work/err" "weftstat report --json exited $st"
	grep -q '"diagnosis":{"class":"cpu_starvation"' "$work/json" ||
		fail_log "$work/json" "CPU starvation is not the diagnosis"
}
tap_test cpu_starvation 30

# The raw_tp programs, which weftstat loads when the kernel refuses tp_btf.
test_raw_tp_fallback()
{
	need_bpf
	start_victim block
	WEFTSTAT_RAW_TP=1 "$ws" report -p "$vpid" -d 1 >"$work/text" 2>&1 ||
		fail_log "$work/text" "weftstat report exited $?"
	stop_victim
	grep -q 'traced [0-9.]* s with raw_tp programs' "$work/text" ||
		fail_log "$work/text" "not the raw_tp programs"
	grep -qE '^(Diagnosis|Also): BLOCKING INSIDE POLLS\.' "$work/text" ||
		fail_log "$work/text" "the raw_tp programs do not see the blocking"
}
tap_test raw_tp_fallback 30

test_target_exits_mid_trace()
{
	local st

	need_bpf
	start_victim block
	"$ws" report -p "$vpid" -d 10 >"$work/text" 2>&1 &
	sleep 1.5
	kill -KILL "$vpid"
	wait "$vpid" 2>/dev/null || true
	wait $! && st=0 || st=$?
	[ "$st" -eq 0 ] || fail_log "$work/text" "exited $st, not 0"
	grep -q "process $vpid exited during the trace" "$work/text" ||
		fail_log "$work/text" "does not say the target exited"
	grep -qE '^(Diagnosis|Also): BLOCKING INSIDE POLLS\.' "$work/text" ||
		fail_log "$work/text" "no diagnosis of what was seen before the exit"
}
tap_test target_exits_mid_trace 30

# The symbolizer (sym.c: libdw in a child process) hangs, crashes, answers
# nonsense or runs into its address space limit at its first address
# (WEFTSTAT_SYMBOLIZER_TEST, read by the child only): the report still
# comes, with addresses as module+offset, one line says why, and weftstat
# exits 0 in bounded time.
test_symbolizer_fails()
{
	local mode t0 t1 st want

	need_bpf
	start_victim block
	for mode in hang crash garbage memory; do
		case $mode in
		hang) want='killed after 2 s' ;;
		crash) want='died of signal 6 \([^)]*\)' ;;
		garbage) want='sent a malformed reply' ;;
		# 8 GiB of address space asked for: the limit (1 GiB more) refuses it
		# (abort(), or ASan's allocator giving up: exit status 1).
		memory) want='(died of signal 6 \([^)]*\)|exited with status 1)' ;;
		esac
		want="^weftstat: symbolizer: $want on /[^ ]*: its debug information may be corrupt; showing addresses$"
		t0=$(date +%s%N)
		WEFTSTAT_SYMBOLIZER_TEST=$mode "$ws" report -p "$vpid" -d 1 >"$work/text" \
			2>"$work/err" && st=0 || st=$?
		t1=$(date +%s%N)
		diag "$mode: $(((t1 - t0) / 1000000)) ms: $(grep symbolizer "$work/err" || true)"
		[ "$st" -eq 0 ] || fail_log "$work/err" "$mode: weftstat report exited $st"
		[ $((t1 - t0)) -lt 15000000000 ] || fail "$mode: the report took over 15 s"
		[ "$(grep -c 'symbolizer' "$work/err")" -eq 1 ] ||
			fail_log "$work/err" "$mode: not one line about the symbolizer"
		grep -qE "$want" "$work/err" ||
			fail_log "$work/err" "$mode: the symbolizer's failure is not said as expected"
		grep -qE '^(Diagnosis|Also): BLOCKING INSIDE POLLS\.' "$work/text" ||
			fail_log "$work/text" "$mode: no diagnosis without symbols"
		grep -q 'TOP CULPRIT .*: ? (in [^ ]*+0x[0-9a-f]*)$' "$work/text" ||
			fail_log "$work/text" "$mode: the culprit is not shown as module+offset"
		grep -qE '#[0-9]+ 0x[0-9a-f]+ \? \(in weftstat_victim\+0x[0-9a-f]+\)$' "$work/text" ||
			fail_log "$work/text" "$mode: the victim's frames are not shown as module+offset"
		! grep -q planted_block "$work/text" ||
			fail_log "$work/text" "$mode: a symbol was shown after the symbolizer failed"
	done
	stop_victim
}
tap_test symbolizer_fails 90

# The symbolizer's seccomp filter: with WEFTSTAT_SYMBOLIZER_TEST=escape it
# tries to create a file in the working directory, signal weftstat, open a
# socket and run /bin/true, and aborts if any of them works. All refused:
# the symbols come as usual.
test_symbolizer_confined()
{
	need_bpf
	start_victim block
	(cd "$work" && WEFTSTAT_SYMBOLIZER_TEST=escape "$ws" report -p "$vpid" -d 1) \
		>"$work/text" 2>"$work/err" || fail_log "$work/err" "weftstat report exited $?"
	stop_victim
	[ ! -e "$work/weftstat-symbolizer-escape" ] ||
		fail "the symbolizer created a file"
	! grep -q symbolizer "$work/err" || fail_log "$work/err" "the symbolizer failed"
	grep -q "TOP CULPRIT .*: planted_block (.*weftstat_victim\.c:$plant_line)" "$work/text" ||
		fail_log "$work/text" "the culprit is not named"
}
tap_test symbolizer_confined 30

# Overwrite section NAME of ELF file FILE with bytes 0xff (readelf gives
# its place).
smash_section()
{
	local off size

	read -r off size < <(readelf -SW "$1" | awk -v n="$2" '!done {
		for (i = 1; i < NF; i++) if ($i == n) { print $(i + 3), $(i + 4); done = 1 } }')
	[ -n "$size" ] || fail "no section $2 in $1"
	off=$((16#$off))
	size=$((16#$size))
	head -c "$size" /dev/zero | tr '\0' '\377' |
		dd of="$1" bs=1 seek="$off" conv=notrunc status=none
}

# A victim whose DWARF is garbage (.debug_info and .debug_abbrev all 0xff):
# whatever libdw makes of it, the report comes, in bounded time, with the
# function names of the symbol table (or, if the symbolizer failed, with
# module+offset and the one line that says so).
test_symbolizer_corrupt_dwarf()
{
	local t0 t1 st n

	need_bpf
	command -v readelf >/dev/null || skip "needs readelf (binutils)"
	cp "$victim" "$work/victim_bad"
	smash_section "$work/victim_bad" .debug_info
	smash_section "$work/victim_bad" .debug_abbrev
	start_victim block "$work/victim_bad"
	t0=$(date +%s%N)
	"$ws" report -p "$vpid" -d 1 >"$work/text" 2>"$work/err" && st=0 || st=$?
	t1=$(date +%s%N)
	stop_victim
	n=$(grep -c symbolizer "$work/err" || true)
	diag "$(((t1 - t0) / 1000000)) ms; $n lines about the symbolizer"
	[ "$st" -eq 0 ] || fail_log "$work/err" "weftstat report exited $st"
	[ $((t1 - t0)) -lt 15000000000 ] || fail "the report took over 15 s"
	grep -qE '^(Diagnosis|Also): BLOCKING INSIDE POLLS\.' "$work/text" ||
		fail_log "$work/text" "no diagnosis"
	if [ "$n" -gt 0 ]; then
		[ "$n" -eq 1 ] || fail_log "$work/err" "more than one line about the symbolizer"
	else
		grep -q 'TOP CULPRIT .*: planted_block (in victim_bad)$' "$work/text" ||
			fail_log "$work/text" "the culprit is not planted_block, without file:line"
	fi
}
tap_test symbolizer_corrupt_dwarf 30

# Microseconds some task waited for a CPU, machine-wide (PSI), or empty.
psi_cpu_us()
{
	sed -n 's/^some .*total=\([0-9]*\)$/\1/p' /proc/pressure/cpu 2>/dev/null
}

test_healthy()
{
	local try p0 p1 t0 t1 busy=

	need_bpf
	start_victim healthy
	# Other work on this machine can starve the victim for real. Then the
	# kernel's pressure figures (PSI) say so too, independently: the test
	# is skipped, not failed, when every try was starved and they agree.
	for try in 1 2 3; do
		p0=$(psi_cpu_us)
		t0=$(date +%s%N)
		"$ws" report -p "$vpid" -d 2 >"$work/text" 2>&1 ||
			fail_log "$work/text" "weftstat report exited $?"
		p1=$(psi_cpu_us)
		t1=$(date +%s%N)
		grep -q '^Diagnosis: HEALTHY\.' "$work/text" && break
		diag "try $try: $(grep '^Diagnosis' "$work/text")"
		if [ -n "$p0" ] && [ -n "$p1" ]; then
			busy=$(awk -v d=$((p1 - p0)) -v w=$(((t1 - t0) / 1000)) \
				'BEGIN { printf "%.0f", 100 * d / w }')
			diag "try $try: PSI says some task waited for a CPU $busy% of the time"
		fi
	done
	stop_victim
	grep -q 'BLOCKING INSIDE POLLS\|LOCK CONTENTION\|SCHEDULER SATURATION' "$work/text" &&
		fail_log "$work/text" "blocking, locks or saturation reported for the healthy victim"
	grep -q '^Diagnosis: HEALTHY\.' "$work/text" && return 0
	grep -q '^Diagnosis: CPU STARVATION\.' "$work/text" && [ -n "$busy" ] &&
		[ "$busy" -ge 10 ] && skip "this machine is busy: CPU pressure $busy% (PSI)"
	fail_log "$work/text" "not reported healthy"
}
tap_test healthy 60

# --- thread-name mode: a pthread pool, no weft ------------------------------------

# "TID BLOCKED_NS NAME" per worker thread of a --threads JSON report.
json_threads()
{
	awk 'BEGIN { RS = "\\{\"tid\":" } NR > 1 && /"blocked_ns":/ && /"name":/ {
		t = $0; sub(/[^0-9].*/, "", t)
		b = $0; sub(/.*"blocked_ns":/, "", b); sub(/[^0-9].*/, "", b)
		n = ""
		if (match($0, /"name":"[^"]*"/)) n = substr($0, RSTART + 8, RLENGTH - 9)
		print t, b, n
	}' "$1"
}

# Blocked ns at the sites whose culprit is FUNCTION, in a JSON report.
json_site_ns()
{
	awk -v f="$2" 'BEGIN { RS = "\\{\"blocked_ns\":" } NR > 1 {
		n = $0; sub(/[^0-9].*/, "", n)
		if ($0 ~ "\"culprit\":\\{\"addr\":\"0x[0-9a-f]*\",\"function\":\"" f "\"") t += n
	} END { printf "%.0f\n", t }' "$1"
}

# Check a --threads JSON report: the planted FUNCTION and SYSCALL top the
# sites, its thread is the planted one, its blocked time is within 20% of
# the planted, the other threads are not blocked; NAME_RE: every thread's name.
check_threads_json()
{
	local json=$1 func=$2 sys=$3 name_re=$4 start end planted blocked top win

	grep -q '"mode":"threads"' "$json" || fail_log "$json" "not in thread mode"
	# A busy machine can add CPU starvation: the blocking must be there.
	grep -q '"classes":\[[^]]*"blocking_in_thread"' "$json" ||
		fail_log "$json" "blocking in worker threads is not diagnosed"
	top=$(grep -o '"sites":\[{[^]]*' "$json" | head -n 1)
	[[ $top == *'"thread":{"tid":'"$plant_tid,"* ]] ||
		fail "the top site is not the planted thread $plant_tid: ${top:0:300}"
	[[ $top == *'"syscall":"'"$sys"'"'* ]] || fail "the top site is not in $sys: ${top:0:300}"
	[[ $top == *'"culprit":{"addr":"0x'*'","function":"'"$func"'","file":"'*'weftstat_threads_victim.c","line":'"$plant_line,"* ]] ||
		fail "the top site's culprit is not $func at weftstat_threads_victim.c:$plant_line: ${top:0:600}"
	start=$(grep -o '"start_ns":[0-9]*' "$json" | cut -d: -f2)
	end=$(grep -o '"end_ns":[0-9]*' "$json" | cut -d: -f2)
	planted=$(planted_ns "$start" "$end")
	blocked=$(json_site_ns "$json" "$func")
	diag "planted $((planted / 1000000)) ms in the window, weftstat saw $((blocked / 1000000)) ms in $func"
	[ "$planted" -gt 300000000 ] || fail_log "$work/victim" "too little planted: $planted ns"
	awk -v p="$planted" -v b="$blocked" 'BEGIN { exit !(b >= 0.8 * p && b <= 1.2 * p) }' ||
		fail "blocked $blocked ns is not within 20% of the planted $planted ns"
	win=$((end - start))
	json_threads "$json" >"$work/threads"
	[ "$(wc -l <"$work/threads")" -ge 4 ] || fail_log "$work/threads" "not 4 pool threads"
	while read -r tid b name; do
		[[ $name =~ $name_re ]] || fail_log "$work/threads" "thread $tid \"$name\" is traced"
		[ "$tid" = "$plant_tid" ] && continue
		[ "$b" -lt $((win / 50)) ] ||
			fail_log "$work/threads" "healthy thread $tid reported blocked $b ns"
	done <"$work/threads"
	! grep -qE '"task":|"blocking_in_poll"|"lock_contention"' "$json" ||
		fail_log "$json" "task-level or lock facts claimed for threads chosen by name"
}

# No registry, threads named like Tokio's workers: found without --threads.
test_threads_tokio_named()
{
	need_bpf
	start_victim tokio "$tvictim"
	"$ws" report -p "$vpid" -d 2 --json >"$work/json" 2>"$work/err" ||
		fail_log "$work/err" "weftstat report --json exited $?"
	"$ws" report -p "$vpid" -d 1 >"$work/text" 2>&1 ||
		fail_log "$work/text" "weftstat report exited $?"
	stop_victim
	grep -q "tracing Tokio's worker threads by name" "$work/err" ||
		fail_log "$work/err" "does not say it fell back to Tokio's thread names"
	check_threads_json "$work/json" planted_sleep clock_nanosleep '^tokio-runtime-w$'
	grep -qE "^(Diagnosis|Also): BLOCKING IN WORKER THREADS\. Thread tokio-runtime-w $plant_tid spent [0-9.]*% of the trace blocked in clock_nanosleep at .*weftstat_threads_victim\.c:$plant_line \\(planted_sleep\\)" \
		"$work/text" || fail_log "$work/text" "the diagnosis sentence does not name the thread, syscall and file:line"
	! grep -qiE 'task [0-9]|inside (a )?polls?' "$work/text" ||
		fail_log "$work/text" "the text claims task-level facts"
}
tap_test threads_tokio_named 30

# --threads REGEX: a pool named otherwise, a thread outside it, a read() on a pipe.
test_threads_regex()
{
	need_bpf
	start_victim pool "$tvictim"
	"$ws" report -p "$vpid" -d 2 --json --threads '^pool-worker-[0-9]+$' >"$work/json" \
		2>"$work/err" || fail_log "$work/err" "weftstat report --threads exited $?"
	"$ws" report -p "$vpid" -d 1 --folded --threads '^pool-' >"$work/folded" 2>"$work/err" ||
		fail_log "$work/err" "weftstat report --folded --threads exited $?"
	"$ws" report -p "$vpid" -d 1 --prometheus --threads '^pool-' >"$work/prom" 2>"$work/err" ||
		fail_log "$work/err" "weftstat report --prometheus --threads exited $?"
	stop_victim
	check_threads_json "$work/json" planted_read read '^pool-worker-[0-9]$'
	# (A sanitizer build's interceptors may sit between planted_read and read.)
	grep -q "^pool-worker-0;.*;planted_read;.*read;.*_\[k\] [0-9]*$" "$work/folded" ||
		fail_log "$work/folded" "no folded stack from pool-worker-0 through planted_read"
	grep -q "^weftstat_diagnosis{pid=\"$vpid\",class=\"blocking_in_thread\",rank=\"[1-4]\"} 1$" \
		"$work/prom" || fail_log "$work/prom" "blocking_in_thread is not diagnosed"
	grep -q "^weftstat_worker_blocked_syscall_seconds{.*thread=\"pool-worker-0\"} 0*[.0-9]*$" \
		"$work/prom" || fail_log "$work/prom" "no per-thread blocked time"
	! grep -q 'other-sleeper\|feeder' "$work/json" "$work/prom" ||
		fail "a thread outside the pattern is reported"
}
tap_test threads_regex 30

# A real Tokio program (tests/tools/tokio_victim, built offline with cargo
# from Debian's crates, once, under the object tree): found by its thread
# names, the planted usleep() named with its file:line.
# tokio_real TARGET [RUSTFLAGS]: build the Tokio victim into
# $obj/tests/tools/tokio_victim/TARGET (RUSTFLAGS, when given, replace the
# config's: keep frame pointers) and check weftstat finds its planted sleep.
tokio_real()
{
	local cargo=${CARGO:-cargo} dst=$obj/tests/tools/tokio_victim tgt=$1 top start end planted blocked

	need_bpf
	command -v "$cargo" >/dev/null 2>&1 || skip "needs cargo (tools/deps.sh bench installs it)"
	compgen -G '/usr/share/cargo/registry/tokio-1.24.*' >/dev/null ||
		skip "needs Debian's librust-tokio-dev (tools/deps.sh bench)"
	mkdir -p "$dst"
	rm -rf "$dst/src" "$dst/.cargo" "$dst/Cargo.toml"
	cp -pR "$src/tests/tools/tokio_victim/Cargo.toml" "$src/tests/tools/tokio_victim/src" \
		"$src/tests/tools/tokio_victim/.cargo" "$dst/"
	[ -x "$dst/$tgt/debug/weftstat-tokio-victim" ] ||
		diag "building the Tokio victim (cargo, offline; about half a minute)"
	(cd "$dst" && env CARGO_TARGET_DIR="$dst/$tgt" ${2:+"RUSTFLAGS=$2"} \
		nice "$cargo" build --offline --quiet -j2) >"$work/cargo" 2>&1 ||
		skip "cargo could not build the Tokio victim: $(tail -n 3 "$work/cargo" | tr '\n' ' ')"
	start_victim tokio "$dst/$tgt/debug/weftstat-tokio-victim"
	"$ws" report -p "$vpid" -d 2 --json >"$work/json" 2>"$work/err" ||
		fail_log "$work/err" "weftstat report --json exited $?"
	stop_victim
	grep -q '"mode":"threads","threads_regex":"^tokio-runtime-w"' "$work/json" ||
		fail_log "$work/json" "Tokio's workers were not found by name"
	grep -q '"classes":\[[^]]*"blocking_in_thread"' "$work/json" ||
		fail_log "$work/json" "blocking in worker threads is not diagnosed"
	top=$(grep -o '"sites":\[{[^]]*' "$work/json" | head -n 1)
	[[ $top == *'"syscall":"clock_nanosleep"'*'"culprit":{"addr":"0x'*'","function":"weftstat_tokio_victim::planted_sleep","file":"src/main.rs","line":'"$plant_line,"* ]] ||
		fail "the top site is not planted_sleep at src/main.rs:$plant_line in clock_nanosleep: ${top:0:600}"
	start=$(grep -o '"start_ns":[0-9]*' "$work/json" | cut -d: -f2)
	end=$(grep -o '"end_ns":[0-9]*' "$work/json" | cut -d: -f2)
	planted=$(planted_ns "$start" "$end")
	blocked=$(json_site_ns "$work/json" 'weftstat_tokio_victim::planted_sleep')
	diag "planted $((planted / 1000000)) ms in the window, weftstat saw $((blocked / 1000000)) ms"
	[ "$planted" -gt 300000000 ] || fail_log "$work/victim" "too little planted: $planted ns"
	awk -v p="$planted" -v b="$blocked" 'BEGIN { exit !(b >= 0.8 * p && b <= 1.2 * p) }' ||
		fail "blocked $blocked ns is not within 20% of the planted $planted ns"
}

test_threads_tokio_real() { tokio_real target; }
tap_test threads_tokio_real 180

# The same built with Rust's v0 symbol mangling: its names demangled
# (tools/weftstat/parse.c), none left as "_R...".
test_threads_tokio_real_v0()
{
	tokio_real target-v0 "-C force-frame-pointers=yes -C symbol-mangling-version=v0"
	! grep -o '"function":"_R[^"]*"' "$work/json" | head -n 3 | grep . ||
		fail_log "$work/json" "v0 names left mangled"
	grep -q '"function":"[^"]*tokio::runtime::' "$work/json" ||
		fail_log "$work/json" "no demangled tokio::runtime frame"
}
tap_test threads_tokio_real_v0 180

# --- top ----------------------------------------------------------------------------

test_top_batch()
{
	need_bpf
	start_victim block
	"$ws" top -p "$vpid" -i 0.5 -n 3 >"$work/top" 2>"$work/err" ||
		fail_log "$work/err" "weftstat top exited $?"
	stop_victim
	[ "$(grep -c "^weftstat top: pid $vpid, 2 workers" "$work/top")" -eq 3 ] ||
		fail_log "$work/top" "not 3 frames"
	grep -q '^Diagnosis:.* BLOCKING INSIDE POLLS' "$work/top" ||
		fail_log "$work/top" "no frame diagnoses the blocking"
	grep -qE '^ +[0-9]+ weft-worker-[01] ' "$work/top" || fail_log "$work/top" "no worker rows"
	# The planted task, by name and spawn site, with slow polls and off-CPU time.
	awk '$2 == "sleeper" && $3 ~ /weftstat_victim\.c:[0-9]+$/ && $7 > 0 && $8 + 0 > 0 { ok = 1 }
		END { exit !ok }' "$work/top" ||
		fail_log "$work/top" "no sleeper row with slow polls and off-CPU time"
}
tap_test top_batch 30

test_top_json()
{
	need_bpf
	start_victim block
	"$ws" top -p "$vpid" -i 0.5 -n 2 --json --sort name >"$work/top" 2>"$work/err" ||
		fail_log "$work/err" "weftstat top --json exited $?"
	stop_victim
	[ "$(wc -l <"$work/top")" -eq 2 ] || fail_log "$work/top" "not one line per frame"
	if command -v python3 >/dev/null; then
		python3 -c 'import json, sys
for line in sys.stdin: json.loads(line)' <"$work/top" || fail_log "$work/top" "not JSON lines"
	fi
	grep -q '"mode":"weft"' "$work/top" || fail_log "$work/top" "no mode"
	grep -q '"sort":"name"' "$work/top" || fail_log "$work/top" "not sorted by name"
	# Sorted by name: the handlers come before the sleeper.
	grep -q '"tasks":\[{"id":[0-9]*,"name":"handler"' "$work/top" ||
		fail_log "$work/top" "the first task is not a handler"
	grep -qE '"name":"sleeper","spawned_at":"[^"]*weftstat_victim\.c:[0-9]+","polls_per_s":[0-9.]+,"busy_pct":[0-9.]+,"delay_mean_us":[0-9.]+,"delay_max_ns":[0-9]+,"slow_polls":[1-9]' \
		"$work/top" || fail_log "$work/top" "no sleeper task with slow polls"
}
tap_test top_json 30

test_top_threads()
{
	need_bpf
	start_victim pool "$tvictim"
	"$ws" top -p "$vpid" --threads '^pool-' -i 0.5 -n 2 --json >"$work/top" 2>"$work/err" ||
		fail_log "$work/err" "weftstat top --threads exited $?"
	stop_victim
	grep -q '"mode":"threads"' "$work/top" || fail_log "$work/top" "not in thread mode"
	grep -q '"tasks":null,"tasks_note":"none for threads chosen by name' "$work/top" ||
		fail_log "$work/top" "tasks are claimed for threads chosen by name"
	grep -qE "\"tid\":$plant_tid,\"index\":[0-9]+,\"name\":\"pool-worker-0\",\"state\":\"[a-z]+\",\"polls_per_s\":null,\"busy_pct\":[0-9.]+,\"blocked_ns\":[1-9]" \
		"$work/top" || fail_log "$work/top" "the planted thread's blocked time is missing"
	! grep -q 'other-sleeper\|feeder' "$work/top" ||
		fail_log "$work/top" "a thread outside the pattern is shown"
}
tap_test top_threads 30

# Check the worker rows of each line of FILE (top --json frames, or a
# report --json): a row's name is its slot's, "weft-worker-INDEX"; each of
# the victim's 2 slots is driven by exactly one row (the others: handed
# off). Prints "TID INDEX" for every row.
check_slots()
{
	awk 'BEGIN { RS = "\n" } {
		n = split($0, row, /\{"tid":/)
		delete drives
		for (i = 2; i <= n; i++) {
			if (row[i] !~ /^[0-9]+,"index":[0-9]+,"name":"/)
				continue
			tid = row[i]; sub(/,.*/, "", tid)
			idx = row[i]; sub(/^[0-9]+,"index":/, "", idx); sub(/,.*/, "", idx)
			name = row[i]; sub(/^[^"]*"index":[0-9]+,"name":"/, "", name)
			sub(/".*/, "", name)
			if (name != "weft-worker-" idx) {
				printf "line %d: thread %s at index %s is named %s\n", NR, tid, idx, name > "/dev/stderr"
				bad = 1
			}
			if (row[i] !~ /"(state":"handed-off|handed_off":true)/)
				drives[idx]++
			print tid, idx
		}
		for (k = 0; k < 2; k++)
			if (drives[k] != 1) {
				printf "line %d: %d threads drive slot %d\n", NR, drives[k], k > "/dev/stderr"
				bad = 1
			}
	} END { exit bad }' "$1"
}

# Threads move between slots (stall compensation's spares; the victim's
# wf_block_in_place()): top names each thread after the slot it drives
# in each frame, and report after the slot it drove at the end.
test_top_moved_threads()
{
	local moved

	need_bpf
	start_victim handoff
	"$ws" top -p "$vpid" -i 0.3 -n 8 --json --no-tasks >"$work/top" 2>"$work/err" ||
		fail_log "$work/err" "weftstat top --json exited $?"
	"$ws" report -p "$vpid" -d 1 --json >"$work/json" 2>"$work/err" ||
		fail_log "$work/err" "weftstat report --json exited $?"
	stop_victim
	check_slots "$work/top" >"$work/rows" 2>"$work/err" ||
		fail_log "$work/err" "top's worker rows do not follow the slots (frames in $work/top)"
	moved=$(sort -u "$work/rows" | awk '{ n[$1]++ } END { for (t in n) m += n[t] > 1; print m + 0 }')
	diag "$moved of $(cut -d' ' -f1 "$work/rows" | sort -u | wc -l) threads drove both slots"
	[ "$moved" -gt 0 ] || fail_log "$work/victim" "no thread moved between slots: no hand-offs?"
	check_slots "$work/json" >/dev/null 2>"$work/err" ||
		fail_log "$work/err" "report's workers do not follow the slots"
}
tap_test top_moved_threads 30

# The workers' polls per second add up to the tasks' (counted exactly by
# the poll_start/poll_end uprobes) while threads keep changing slots: a
# slot's polls since the last registry walk go to the thread driving it
# now. (Crediting a thread only when two walks in a row found it on the
# same slot lost most of them: 10,000 of 96,000 polls a second in
# stall_demo, whose poll is handed off every 100 ms.)
test_top_polls_follow_handoffs()
{
	need_bpf
	start_victim handoff
	"$ws" top -p "$vpid" -i 0.5 -n 5 --json >"$work/top" 2>"$work/err" ||
		fail_log "$work/err" "weftstat top --json exited $?"
	stop_victim
	python3 - "$work/top" >"$work/polls" 2>&1 <<'PY' || fail_log "$work/polls" "worker polls do not add up to the tasks' (frames in $work/top)"
import json, sys
frames = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = 0
for f in frames[1:]:
    w = sum(x["polls_per_s"] for x in f["workers"])
    t = sum(x["polls_per_s"] for x in f["tasks"])
    print("frame %d: workers %.0f polls/s, tasks %.0f" % (f["frame"], w, t))
    if t > 100 and 0.7 * t <= w <= 1.3 * t:
        ok += 1
sys.exit(0 if frames[1:] and ok >= len(frames[1:]) - 1 else 1)
PY
	diag "$(tr '\n' ';' <"$work/polls")"
}
tap_test top_polls_follow_handoffs 30

# Wait (up to 10 s) for a line matching RE in FILE.
wait_for()
{
	local i

	for i in $(seq 200); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

test_top_target_exits()
{
	local tpid st

	need_bpf
	start_victim block
	"$ws" top -p "$vpid" -i 0.3 >"$work/top" 2>"$work/err" &
	tpid=$!
	wait_for "$work/top" '^weftstat top: pid' || fail_log "$work/err" "no first frame"
	kill -KILL "$vpid"
	wait "$vpid" 2>/dev/null || true
	wait "$tpid" && st=0 || st=$?
	[ "$st" -eq 0 ] || fail_log "$work/err" "top exited $st, not 0"
	grep -q "process $vpid exited; top stopped" "$work/top" ||
		fail_log "$work/top" "does not say the target exited"
}
tap_test top_target_exits 30

# On a terminal (script(1) gives it one): raw mode, keys, the screen given back.
test_top_terminal()
{
	need_bpf
	command -v script >/dev/null || skip "needs script (util-linux)"
	start_victim block
	{
		wait_for "$work/tty" 'frame 2' || true
		printf n
		wait_for "$work/tty" 'sorted by name' || true
		printf q
	} | timeout 20 script -qfec "$ws top -p $vpid -i 0.3" "$work/tty" >/dev/null 2>&1 ||
		fail_log "$work/tty" "top on a terminal exited $?"
	stop_victim
	grep -q $'\e\[?1049h' "$work/tty" || fail_log "$work/tty" "no alternate screen"
	grep -q 'sorted by name' "$work/tty" || fail_log "$work/tty" "the n key did not sort by name"
	# Left: the normal screen and the cursor back, then the last frame printed.
	grep -q $'\e\[?25h\e\[?1049l' "$work/tty" || fail_log "$work/tty" "the terminal is not restored"
}
tap_test top_terminal 30

# --- --listen ------------------------------------------------------------------------

# The address a `--listen 127.0.0.1:0` run said it serves on ($work/err).
served_addr()
{
	sed -n 's|.*serving http://\([0-9.]*:[0-9]*\)/metrics.*|\1|p' "$work/err"
}

# Scrape http://$1/metrics into $work/prom until a page diagnoses the
# planted blocking with its site (a site appears once an episode ends: a
# page may show the class first); at most 40 tries, 0.25 s apart.
scrape_until_blocking()
{
	local i

	for i in $(seq 40); do
		curl -sf --max-time 5 "http://$1/metrics" >"$work/prom" ||
			fail_log "$work/err" "GET /metrics failed"
		grep -q "^weftstat_diagnosis{pid=\"$vpid\",class=\"blocking_in_poll\",rank=\"[1-4]\"} 1$" \
			"$work/prom" &&
			grep -q '^weftstat_blocking_site_seconds{.*function="planted_block"' \
				"$work/prom" && break
		sleep 0.25
	done
}

# The end of a --listen test: /other answered, weftstat $1 (serving at $2)
# stopped by SIGTERM with status 0, the victim stopped, the last page checked.
listen_end()
{
	local code st

	code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://$2/other")
	kill -TERM "$1"
	wait "$1" && st=0 || st=$?
	stop_victim
	[ "$st" -eq 0 ] || fail_log "$work/err" "exited $st after SIGTERM, not 0"
	check_blocking_page "$code"
}

# The last page ($work/prom): the blocking diagnosed, its site, and every
# line in the text exposition format; $1: /other's HTTP status (404).
check_blocking_page()
{
	grep -q "^weftstat_diagnosis{pid=\"$vpid\",class=\"blocking_in_poll\",rank=\"[1-4]\"} 1$" \
		"$work/prom" || fail_log "$work/prom" "no scrape diagnosed the blocking"
	! grep -Ev '^# (HELP|TYPE) weftstat_[a-z_]+ |^weftstat_[a-z_]+\{[^}]*\} [0-9][0-9.]*$' \
		"$work/prom" | grep -q . ||
		fail_log "$work/prom" "a line is not in the text exposition format"
	grep -q '^weftstat_blocking_site_seconds{.*function="planted_block"' "$work/prom" ||
		fail_log "$work/prom" "no planted_block site"
	[ "$1" = 404 ] || fail "GET /other answered $1, not 404"
}

test_prometheus_listen()
{
	local lpid addr

	need_bpf
	command -v curl >/dev/null || skip "needs curl"
	start_victim block
	"$ws" report -p "$vpid" -d 0.5 --prometheus --listen 127.0.0.1:0 >"$work/out" \
		2>"$work/err" &
	lpid=$!
	wait_for "$work/err" 'serving http://' || fail_log "$work/err" "not serving"
	addr=$(served_addr)
	scrape_until_blocking "$addr"
	listen_end "$lpid" "$addr"
}
tap_test prometheus_listen 30

# top --listen: the same page, of the last frame's interval, while top
# prints its frames; before the first frame, the interval so far.
test_top_listen()
{
	local lpid addr

	need_bpf
	command -v curl >/dev/null || skip "needs curl"
	start_victim block
	"$ws" top -p "$vpid" -i 0.5 --no-tasks --listen 127.0.0.1:0 >"$work/out" \
		2>"$work/err" &
	lpid=$!
	wait_for "$work/err" 'serving http://' || fail_log "$work/err" "not serving"
	grep -q 'the last frame of 0.5 s' "$work/err" || fail_log "$work/err" "no frame length said"
	addr=$(served_addr)
	# The first scrape may come before the first frame: a page all the same.
	curl -sf --max-time 5 "http://$addr/metrics" >"$work/prom0" ||
		fail_log "$work/err" "GET /metrics before the first frame failed"
	grep -q '^# TYPE weftstat_' "$work/prom0" || fail_log "$work/prom0" "not a Prometheus page"
	scrape_until_blocking "$addr"
	# The frames go on meanwhile (the page above may be of the first interval).
	wait_for "$work/out" "^weftstat top: pid $vpid" || fail_log "$work/out" "no frames printed"
	listen_end "$lpid" "$addr"
}
tap_test top_listen 30

tap_main "$@"
