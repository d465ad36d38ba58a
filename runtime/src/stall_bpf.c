// SPDX-License-Identifier: MIT
/*
 * stall_bpf.c - the BPF stall source (CONFIG_WEFT_STALL_BPF,
 * docs/stall.md): the kernel tells the monitor, through memory it reads
 * with plain loads, whether the thread of a long poll is asleep, since
 * when, and how long it has slept in total. bpf/stall.bpf.c is the
 * program, bpf/stall.h the slot both sides read.
 *
 * One instance per process, shared by the runtimes that use it at the
 * same time (one program on sched_switch, not one per runtime) and
 * reference counted: loaded by the first runtime that asks
 * (wf__stall_bpf_get, before it starts its threads), detached, unmapped
 * and freed when the last one lets go (wf__stall_bpf_put, after its
 * threads are joined). Everything below is under `lock` except the slot
 * reads (monitor threads) and the slot writes of a thread registering
 * itself (a slot it owns).
 *
 * Threads, not workers, have slots: each dedicated thread of a runtime
 * (worker or spare) takes one when it starts and gives it back when it
 * exits (wf__stall_bpf_thread_start/stop, from thread_main). A thread
 * keeps its slot whatever core it drives; the core publishes the slot of
 * its driving thread (wf__worker.stall_slot, stored before wf__worker.tid
 * in core_attach), and the monitor trusts a slot only when the slot's tid
 * is the TID it read from the core. So a hand-off to a spare, or a stuck
 * thread that became a spare, is followed without any bookkeeping here.
 *
 * Invariants (written before the code):
 *   - A slot index is in the tids map only while `used` marks it and its
 *     tid field holds the key's TID; the tid field is written (release)
 *     before the map update and cleared after the map delete.
 *   - The program writes a slot only when it found the slot through the
 *     tids map, and only inside the slot's sequence count (bpf/stall.h);
 *     user space writes a slot's other fields only before its TID is in
 *     the map. Slots are allocated next-fit, so a slot just given back is
 *     not handed out again at once (a program run still holding it from
 *     its old TID finishes long before the allocator comes round).
 *   - A reader (the monitor) takes a slot's fields only from a read that
 *     saw the same even sequence before and after, and with tid equal to
 *     the TID it expects; anything else is "no data", and the /proc
 *     source answers instead.
 *
 * Loading is probed, never assumed: tp_btf with sched_switch's prev_state
 * argument (5.18+), tp_btf without it, then raw_tp. Once attached, the
 * loading thread registers itself and sleeps 1 ms: if its slot saw no
 * switch, the program cannot see this process (another PID namespace:
 * the kernel's TIDs are not ours) and the source is refused (-ESRCH).
 */
#include "stall_source.h"

#include <linux/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "stall.h"
#include "stall.skel.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned refs;
static pid_t owner;			/* the process it was loaded by (fork) */
static struct stall_bpf *skel;
static struct wf_stall_slot *slots;	/* the slots map, mmap'd */
static int tids_fd = -1;
static const char *flavour;
static unsigned char used[WF_STALL_SLOTS];
static unsigned next_fit;

#define SLOTS_BYTES ((size_t)WF_STALL_SLOTS * sizeof(struct wf_stall_slot))

_Static_assert(sizeof(struct wf_stall_slot) == 64, "a slot is one cache line");

/* CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns(). */
static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- slots -------------------------------------------------------------------- */

/* Take a free slot for @tid and put it in the tids map. Under lock. */
static int slot_take(pid_t tid)
{
	struct wf_stall_slot *s;
	__u32 key = (__u32)tid, idx;
	unsigned i;

	for (i = 0; i < WF_STALL_SLOTS; i++)
		if (!used[(next_fit + i) % WF_STALL_SLOTS])
			break;
	if (i == WF_STALL_SLOTS)
		return -ENOSPC;
	idx = (next_fit + i) % WF_STALL_SLOTS;
	next_fit = idx + 1;
	s = &slots[idx];
	/* Not in the map yet: nobody else writes it. It runs now: on CPU. */
	__atomic_store_n(&s->state, WF_STALL_S_ON, __ATOMIC_RELAXED);
	__atomic_store_n(&s->since, mono_ns(), __ATOMIC_RELAXED);
	__atomic_store_n(&s->sleep_ns, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->events, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->tid, key, __ATOMIC_RELEASE);
	if (bpf_map_update_elem(tids_fd, &key, &idx, BPF_ANY)) {
		int r = -errno;

		__atomic_store_n(&s->tid, 0, __ATOMIC_RELAXED);
		return r;
	}
	used[idx] = 1;
	return (int)idx;
}

/* Take @tid out of the map and free its slot. Under lock. */
static void slot_give(int idx, pid_t tid)
{
	__u32 key = (__u32)tid;

	bpf_map_delete_elem(tids_fd, &key);
	__atomic_store_n(&slots[idx].tid, 0, __ATOMIC_RELAXED);
	used[idx] = 0;
}

/* A consistent copy of slot @idx if it belongs to @tid: true, else false. */
static bool slot_read(int idx, pid_t tid, struct wf_stall_slot *out)
{
	const struct wf_stall_slot *s = &slots[idx];

	for (int tries = 0; tries < 8; tries++) {
		/* Acquire: pairs with the program's fully ordered seq adds. */
		__u32 seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);

		if (seq & 1)
			continue;	/* a write in progress: a few instructions */
		/*
		 * Acquire loads, so the second seq load below cannot move
		 * before them (an acquire fence would do, once, but
		 * ThreadSanitizer does not support fences; on x86 these are
		 * plain loads anyway).
		 */
		out->tid = __atomic_load_n(&s->tid, __ATOMIC_ACQUIRE);
		out->state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		out->since = __atomic_load_n(&s->since, __ATOMIC_ACQUIRE);
		out->sleep_ns = __atomic_load_n(&s->sleep_ns, __ATOMIC_ACQUIRE);
		out->events = __atomic_load_n(&s->events, __ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == seq)
			return out->tid == (__u32)tid && tid > 0;
	}
	return false;
}

/* --- loading ------------------------------------------------------------------ */

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

static void set_flavour(struct stall_bpf *s, bool btf)
{
	bpf_program__set_autoload(s->progs.wf_stall_switch_btf, btf);
	bpf_program__set_autoload(s->progs.wf_stall_wakeup_btf, btf);
	bpf_program__set_autoload(s->progs.wf_stall_switch_raw, !btf);
	bpf_program__set_autoload(s->progs.wf_stall_wakeup_raw, !btf);
}

/* Open, load and attach one flavour. Returns 0 (skel set) or -errno. */
static int try_load(bool btf, bool prev_state)
{
	struct stall_bpf *s = stall_bpf__open();
	int r;

	if (!s)
		return errno ? -errno : -ENOMEM;
	s->rodata->targ_tgid = (__u32)getpid();
	s->rodata->has_prev_state = prev_state;
	set_flavour(s, btf);
	r = stall_bpf__load(s);
	if (!r)
		r = stall_bpf__attach(s);
	if (r) {
		stall_bpf__destroy(s);
		return r < 0 ? r : -EINVAL;
	}
	skel = s;
	flavour = btf ? (prev_state ? "tp_btf" : "tp_btf, no prev_state") : "raw_tp";
	return 0;
}

/* Does the program see this process? Sleep 1 ms and look at our own slot. */
static int self_check(void)
{
	struct timespec ts = { 0, 1000 * 1000 };
	pid_t tid = (pid_t)syscall(SYS_gettid);
	struct wf_stall_slot v;
	int idx = slot_take(tid), r = 0;

	if (idx < 0)
		return idx;
	nanosleep(&ts, NULL);
	if (!slot_read(idx, tid, &v) || !v.events)
		r = -ESRCH;
	slot_give(idx, tid);
	return r;
}

static void unload(void)
{
	if (slots)
		munmap(slots, SLOTS_BYTES);
	slots = NULL;
	if (skel)
		stall_bpf__destroy(skel);
	skel = NULL;
	tids_fd = -1;
	memset(used, 0, sizeof(used));
	next_fit = 0;
}

/* Under lock: load, attach, map and check. Returns 0 or -errno. */
static int load(void)
{
	libbpf_print_fn_t old = libbpf_set_print(quiet);
	static const struct {
		bool btf, prev_state;
	} tries[] = { { true, true }, { true, false }, { false, false } };
	/* WEFT_STALL_BPF_RAW_TP=1 skips tp_btf (the tests use it for the fallback). */
	size_t first = getenv("WEFT_STALL_BPF_RAW_TP") ? 2 : 0;
	int r = -EINVAL;

	for (size_t i = first; i < sizeof(tries) / sizeof(tries[0]); i++) {
		r = try_load(tries[i].btf, tries[i].prev_state);
		/* No privilege, no BPF: the next flavour would be refused too. */
		if (!r || r == -EPERM || r == -ENOSYS)
			break;
	}
	libbpf_set_print(old);
	if (r)
		return r;
	tids_fd = bpf_map__fd(skel->maps.tids);
	slots = mmap(NULL, SLOTS_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
		     bpf_map__fd(skel->maps.slots), 0);
	if (slots == MAP_FAILED) {
		r = -errno;
		slots = NULL;
		unload();
		return r;
	}
	r = self_check();
	if (r)
		unload();
	return r;
}

/*
 * wf__stall_bpf_get - take a reference on the process's BPF source,
 * loading it if it is not. @flavour gets how it is attached. Returns 0;
 * -ECHILD in a child of the process that loaded it (the program filters
 * on the parent); else why it cannot load (-EPERM: no CAP_BPF or
 * CAP_PERFMON; -ESRCH: it cannot see this process; libbpf's errors).
 */
int wf__stall_bpf_get(const char **fl)
{
	int r = 0;

	pthread_mutex_lock(&lock);
	if (refs && owner != getpid()) {
		r = -ECHILD;
	} else if (!refs) {
		r = load();
		if (!r)
			owner = getpid();
	}
	if (!r) {
		refs++;
		*fl = flavour;
	}
	pthread_mutex_unlock(&lock);
	return r;
}

/* Drop a reference; the last one detaches the program and frees it all. */
void wf__stall_bpf_put(void)
{
	pthread_mutex_lock(&lock);
	if (refs && !--refs)
		unload();
	pthread_mutex_unlock(&lock);
}

/*
 * The calling thread (@tid) starts: give it a slot. Returns the slot, or
 * -1 when none is left or the map refused (the thread is then classified
 * through /proc). The caller holds a reference.
 */
int wf__stall_bpf_thread_start(pid_t tid)
{
	int idx;

	pthread_mutex_lock(&lock);
	idx = refs && slots ? slot_take(tid) : -1;
	pthread_mutex_unlock(&lock);
	return idx < 0 ? -1 : idx;
}

/* The thread of slot @slot exits: give the slot back. */
void wf__stall_bpf_thread_stop(int slot, pid_t tid)
{
	pthread_mutex_lock(&lock);
	if (slots && slot >= 0 && slot < WF_STALL_SLOTS)
		slot_give(slot, tid);
	pthread_mutex_unlock(&lock);
}

/* --- classification ----------------------------------------------------------- */

/*
 * Blocked: the thread is asleep now (switched out asleep, not woken
 * since) and either this sleep has lasted a quarter of the threshold, or
 * since the first look at this poll (a quarter of the threshold ago at
 * least) it slept at least half the time (short sleeps in a row). On CPU:
 * running, or waiting for a CPU for a moment (preempted, or woken and not
 * yet run: a thread that wants a CPU is not blocked). Waiting: runnable
 * and off CPU for a quarter of the threshold or more. Asleep for less:
 * unknown, and look again when the sleep would be a quarter old.
 */
static int bpf_classify(struct stall_look *look, const struct stall_query *q)
{
	uint64_t now, episode, slept, quarter = q->blocked_ns / 4;
	struct wf_stall_slot v;

	if (q->slot < 0 || q->slot >= WF_STALL_SLOTS || !slots ||
	    !slot_read(q->slot, q->tid, &v)) {
		look->fell_back = true;
		return wf__stall_proc.classify(look, q);
	}
	now = mono_ns();
	episode = v.state == WF_STALL_S_SLEEP && now > v.since ? now - v.since : 0;
	slept = v.sleep_ns + episode;
	if (!look->ref_ns) {
		look->ref_ns = now;
		look->ref_sleep_ns = slept;
	}
	if (v.state != WF_STALL_S_SLEEP) {
		look->again_ns = quarter;	/* were it to block now: a quarter on */
		/*
		 * Runnable but not on a CPU for the last quarter threshold
		 * or more: the machine is short of CPUs, and a spare would
		 * wait too (stall_source.h, STALL_WAITING).
		 */
		look->cls = v.state == WF_STALL_S_RUNNABLE && now > v.since &&
					    now - v.since >= quarter
				    ? STALL_WAITING
				    : STALL_ONCPU;
		return look->cls;
	}
	if (episode >= quarter ||
	    (now - look->ref_ns >= quarter && 2 * (slept - look->ref_sleep_ns) >= now - look->ref_ns)) {
		look->cls = STALL_BLOCKED;
		return look->cls;
	}
	look->again_ns = quarter - episode;
	look->cls = STALL_UNKNOWN;
	return look->cls;
}

const struct stall_source wf__stall_bpf = {
	.name = "bpf",
	.one_look = true,
	.classify = bpf_classify,
};
