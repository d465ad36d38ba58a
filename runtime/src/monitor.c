// SPDX-License-Identifier: MIT
/*
 * monitor.c - a watcher thread per multi-thread runtime (Go's sysmon is
 * the model): no task is stranded behind a worker stuck in a long poll,
 * and a worker stuck in one has its core handed to a spare thread (stall
 * compensation, docs/stall.md).
 *
 * Stranded work. Work that a worker made runnable stays in its local queue
 * and next slot. Idle workers take it only if they are awake: a worker
 * that queues work while it runs a task wakes a parked one only for its
 * local queue, not for the next slot (waking a thread per message would
 * ruin ping-pong), and a worker that then blocks inside its poll wakes
 * nobody. The monitor looks at every worker each period: one that has been
 * inside the same poll for longer than WF_MONITOR_STRAND_NS while holding
 * runnable work gets a parked worker woken, which steals that work (the
 * next slot included: sched.c lets stealers take it from a poll older
 * than 20 us).
 *
 * Core ownership (written before the code; the code is its proof).
 *
 * A core (struct wf__worker) is driven by one thread at a time. Between
 * polls that thread owns all of it. During a poll the task runs on the
 * same thread and touches the core's owner-only parts (local queue tail,
 * next slot, pinned FIFO, "again", stack and control-block pools, metrics
 * batch) only inside core sections (wf__core_enter/exit, internal.h).
 * The monitor may take the core away from a poll, but only between
 * sections; block_in_place gives it away from inside one. Two words
 * decide who holds the core while a poll runs, each with one writer:
 *
 *   th->own, written by the poll's thread th only:
 *     0                        no poll (the scheduler owns the core)
 *     OWN_WORD(n, i, IN)       poll n of core i runs, outside any section
 *     OWN_WORD(n, i, BUSY)     ... inside a core section
 *     OWN_WORD(n, i, PINNED)   a pinned task's poll: never claimed
 *   w->claim, written by the monitor only:
 *     OWN_WORD(n, i, CLAIMING) the monitor is claiming poll n of core i
 *     OWN_WORD(n, i, LOST)     it did: poll n's thread must let go of i
 *     OWN_WORD(n, i, ABORTED)  it did not: poll n goes on with its core
 *   w->driver: the thread driving core i (NULL while it changes hands),
 *     set by the thread that starts driving it.
 *
 * n = ++w->poll_seq at every poll start; poll_seq is owner-only and moves
 * with the core, so (n, i) never repeats, and a thread's word names the
 * core it is about: a monitor holding a stale driver pointer sees another
 * core's index, or 0, and leaves it. The IN word also carries OWN_PRIV when
 * "again" or the pinned FIFO holds a task, so the monitor sees work it may
 * not read.
 *
 * The poll's thread never does a read-modify-write. Its steps:
 *   poll start (scheduler context): own = n|IN, release, after every
 *       other write the scheduler makes to the core for this poll.
 *   section enter: own = n|BUSY, then read w->claim; section exit:
 *       own = n|IN, release; poll end: own = 0, then read w->claim.
 * A claim word for poll n read after an enter or an end means the monitor
 * is claiming it: the thread waits while it is CLAIMING (the monitor may
 * still read the task's name, which must not be freed under it); LOST,
 * or a claim on any later poll of the core (only another driver can have
 * run one: the claim word is overwritten by claims on the polls of the
 * threads that drove the core after us, so "later" must count as lost),
 * means the core is gone (the thread forgets it, th->core = NULL, and
 * goes on without it: inject queue, shared caches, the orphan path at the
 * poll end); ABORTED means carry on. The monitor's claim: read driver
 * and its own == n|IN (acquire); reserve a spare; claim = n|CLAIMING;
 * a full fence on every thread of the process (membarrier(PRIVATE_
 * EXPEDITED)); read own again. Still n|IN: the claim holds; it clears the
 * core's "in a poll" fields, sets driver = NULL, stores claim = n|LOST
 * (release) and gives the core to the spare. Anything else: it stores
 * n|ABORTED and gives the spare back.
 * Why exactly one side goes on with the core: the thread's [store own;
 * load claim] and the monitor's [store claim; membarrier; load own] are
 * Dekker's pattern. membarrier() makes every other running thread execute
 * a full barrier at some point P during the call (a thread not running
 * has one in its context switch): a store the thread made before P is
 * seen by the monitor's later load, and a load it makes after P sees the
 * claim. So if the monitor still reads n|IN, the thread's enter or end
 * store came after P, its claim read sees CLAIMING, and it waits for the
 * verdict without having touched the core; if the thread's read missed
 * the claim, its store came before P and the monitor sees it and aborts.
 * Both may see each other: the thread then waits and reads ABORTED. The
 * monitor claims no BUSY word, so the core's owner-only parts are never
 * touched by two threads: the section's writes happen before its exit
 * store (release), which the monitor's reads of own (acquire) see; the
 * monitor's writes happen before its LOST store (release), which the
 * thread reads (acquire), and before the spare is woken (seq_cst
 * spare_wake). Where membarrier() is missing (or under ThreadSanitizer,
 * which does not model it) both sides use sequentially consistent stores
 * and loads instead, the same pattern under C11's total order.
 * block_in_place hands the core over from inside a section (BUSY), so the
 * monitor cannot claim it at the same time; it sets driver = NULL first and
 * then drops the section without a store (its own stays BUSY until its
 * poll end, about core i and poll n, which nobody claims any more).
 * Shutdown: the monitor is stopped (joined) before rt->stop is set, so no
 * claim races with it; a spare handed a core after that cannot exist.
 *
 * Detection. A poll older than half the off-CPU threshold on a core with
 * runnable work (local queue, next slot, "again", pinned FIFO or inbox,
 * a timer due within the threshold) is looked at through the runtime's
 * stall source (stall_source.h), chosen when the runtime is created
 * (wf__stall_source_init). The /proc one, here, reads
 * /proc/self/task/TID/stat (state: S or D is off CPU) and schedstat (run
 * time), twice, and calls the thread blocked when it sleeps and its run
 * time advanced less than half the wall time in between, on CPU
 * otherwise. The BPF one (stall_bpf.c) reads the thread's slot, which a
 * sched_switch program keeps, and decides in one look; the monitor then
 * asks it once the poll crosses the threshold, not before. A blocked poll
 * is handed over once older than CONFIG_WEFT_STALL_BLOCKED_US, any other
 * once older than CONFIG_WEFT_STALL_CPU_US.
 *
 * Cadence (written before the code). A look costs the monitor 6-25 us
 * of CPU on a KVM guest (measured: more the longer it slept and the busier
 * the machine), nearly all of it the timed futex wait around it (the
 * wake-up, two context switches, the timer), so a monitor that looked
 * every millisecond while the runtime is busy cost about 1% of a core
 * with nothing stuck. It now looks rarely unless a poll is *suspect*: in
 * progress for at least WF_MONITOR_SUSPECT_NS (half the off-CPU threshold,
 * at most the strand age: 1 ms by default) on a core with runnable work
 * behind it (core_has_work). Three things bring it to a suspect poll:
 *
 *   1. Its own backoff (Go's sysmon's): after a look that found no suspect
 *      poll it sleeps twice as long as after the last one, up to
 *      WF_MONITOR_MAX_NS (10 ms), or up to WF_MONITOR_COVERED_NS (40 ms)
 *      while at least two cores hint (2.). A look that finds a suspect
 *      poll (or one a quarter of the suspect age old: the look is paid
 *      for already) sleeps only until that poll's next look is due:
 *      /proc's first look at half the threshold, BPF's one look at the threshold, the
 *      strand age, then what the classification asks for (a quarter of
 *      the threshold; 40 us doubling while a spare starts; a quarter
 *      again after a hand-off; for a thread waiting for a CPU, a quarter
 *      then half the threshold: it is never handed over, and looks at
 *      it take CPU from a machine short of it), and the backoff
 *      resumes from there.
 *   2. Hints from the workers. The thread driving a core reads the clock
 *      at every poll end anyway (per-poll metrics); when that time passes
 *      w->hint_at (written by that thread only, moves with the core) it
 *      sets it WF_MONITOR_HINT_NS (1 ms) later and calls
 *      wf__monitor_hint(), which it also calls before it parks (which
 *      looks only if a period has passed too: a worker that parks and
 *      wakes often does not pull its peers' hot lines each time).
 *      wf__monitor_hint() reads monitor_nap and, only if the monitor is in
 *      a backoff sleep (NAP_LONG, NAP_COVERED), the other cores' in_poll,
 *      poll_start_pub, queues and driver's own word: a suspect poll there
 *      wakes the monitor (a CAS of monitor_nap to 0, so one waker per
 *      sleep, then a futex wake-up). The poll path gains a load and a
 *      compare of a word only its thread writes; no read-modify-write, no
 *      fence, and a peer only reads (acquire) the ownership words above.
 *      Coverage: a core *hints* while its last look at its peers is less
 *      than two periods (2 ms) old and was not made before a long park
 *      (hint_at is then at most one period in the past). With two
 *      hinting cores, whichever core gets stuck, another one sees it, so
 *      the backoff may go up to 40 ms (NAP_COVERED). A core about to park
 *      for longer than two periods stops hinting first (hint_at = 0,
 *      seq_cst) and then, if the monitor is in a covered sleep, wakes it
 *      to count again; the monitor publishes NAP_COVERED (seq_cst) and
 *      then counts the hinting cores, and sleeps NAP_LONG (10 ms at most)
 *      if fewer than two are left (Dekker's pattern: it sees the park, or
 *      the parker sees the covered sleep).
 *   3. Every worker parked and nothing polled since the last look: the
 *      monitor sleeps with no deadline on monitor_idle, and the first
 *      worker to leave park() wakes it (below); its first sleep after that
 *      is WF_MONITOR_FIRST_NS (half the threshold, at most 1 ms), then the
 *      backoff doubles again, so a poll that blocks right after a quiet
 *      spell is caught as before, and a runtime that is woken every
 *      millisecond (timers) does not wake the monitor with it.
 *   4. The backoff's budget. A wake-up's cost is the machine's, not ours:
 *      2-5 us of CPU on bare metal, 10-25 us on the KVM guests weft is
 *      measured on, where 100 looks a second (one worker, nobody to hint)
 *      cost 0.13-0.26% of a core. So the monitor measures it: over every
 *      WF_MONITOR_COST_WAKES backoff sleeps in a row at the cap (no other
 *      sleep between them), the CPU time its thread used
 *      (CLOCK_THREAD_CPUTIME_ID, one system call per measurement) divided
 *      by the wake-ups gives the cost of one, and the cap becomes the
 *      sleep that costs WF_MONITOR_BUDGET_PPM (0.07%) of a core at that
 *      price: never below WF_MONITOR_MAX_NS (10 ms: machines with cheap
 *      wake-ups keep Go's cadence), never above WF_MONITOR_BUDGET_MAX_NS
 *      (50 ms). A covered sleep is at least as long as the cap. The price
 *      of the budget is detection latency, and only where nobody hints:
 *      on a guest where a wake-up costs 14 us, the cap is 20 ms.
 *
 * What that guarantees. A suspect poll is looked at within 40 ms whatever
 * the workers do, within 10 ms unless two cores hinted at the monitor's
 * last look (the backoff's bounds: no hint is needed for correctness, and
 * a hint that is lost, or that finds the poll ended by the time the
 * monitor looks, costs a look or some latency, never a wrong hand-off).
 * While another core hints (it polls, or parks for at most 2 ms), it sees
 * the poll within 1 ms of its becoming suspect, so the monitor's first
 * look comes 1-2 ms into a blocked poll and the hand-off 2-2.5 ms into it
 * with /proc, as with the old 1 ms cadence (BPF: at the threshold). With
 * nobody to hint (one worker, the others parked for longer, or every
 * worker stuck at once), the first look comes up to 10 ms into the poll
 * (the budget's cap where wake-ups are dear, 4.; at most 50 ms)
 * (40 ms if the monitor's last look saw two hinting cores that all stopped
 * hinting without parking since: stuck, or in long polls with nothing
 * queued), and the hand-off up to a quarter threshold after that with
 * /proc; 1-2.5 ms into a poll that starts just after an idle spell (3.).
 * Idle, the monitor costs nothing; busy with nothing stuck, a look per
 * 40 ms (10 ms with one worker, or one active), plus the looks at polls
 * that are long for other reasons (a worker preempted inside a poll by
 * other load, computations of a few ms). The two small /proc reads (or,
 * with BPF, one 64-byte slot) happen only for a suspect poll. Polls and
 * core sections pay a store and a load each for ownership and a load
 * and a compare for hints, no atomic read-modify-write; a claim pays a
 * membarrier() (an interrupt to each CPU running one of the process's
 * threads).
 *
 * monitor_nap, the futex word of the monitor's timed sleep: 0 while it
 * is awake, NAP_LONG or NAP_COVERED in a backoff sleep (a hint may wake
 * it), NAP_SHORT while it sleeps towards a suspect poll's next look (no
 * hint needed). The monitor stores it (seq_cst), checks monitor_stop,
 * waits while the word is unchanged, and stores 0 when it wakes; a hint
 * or wf__monitor_stop() that changes the word between the store and the
 * wait makes the wait return at once. wf__monitor_stop() stores
 * monitor_stop before it exchanges the word: either the monitor's check
 * sees stop, or the exchange comes after the monitor's store and wakes it
 * (Dekker's pattern, both sides sequentially consistent).
 */
#include "internal.h"
#include "probes.h"
#include "registry.h"
#include "stall_source.h"

#include <fcntl.h>
#include <linux/membarrier.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#define WF_MONITOR_STRAND_NS (1000ull * 1000)
#define WF_MONITOR_MIN_NS (20ull * 1000)
/* The first sleep after the idle one: half the off-CPU threshold, at most 1 ms. */
#define WF_MONITOR_FIRST_NS (BLOCKED_NS / 2 < 1000000ull ? BLOCKED_NS / 2 : 1000000ull)
#define WF_MONITOR_MAX_NS (10ull * 1000 * 1000)
#define WF_MONITOR_COVERED_NS (40ull * 1000 * 1000)
/* The backoff's CPU budget ("Cadence", 4.): 0.07% of a core, a cap at 50 ms. */
#define WF_MONITOR_BUDGET_PPM 700u
#define WF_MONITOR_BUDGET_MAX_NS (50ull * 1000 * 1000)
#define WF_MONITOR_COST_WAKES 32u	/* wake-ups per measurement of their cost */
#define WF_MONITOR_HINT_NS (1000ull * 1000)
#define WF_STALL_WARN_NS (1000ull * 1000 * 1000)

#define BLOCKED_NS ((uint64_t)CONFIG_WEFT_STALL_BLOCKED_US * 1000ull)
#define CPU_NS ((uint64_t)CONFIG_WEFT_STALL_CPU_US * 1000ull)
/* A poll this old with work behind it is suspect ("Cadence"). */
#define WF_MONITOR_SUSPECT_NS                                                  \
	(BLOCKED_NS / 2 < WF_MONITOR_STRAND_NS ? BLOCKED_NS / 2 : WF_MONITOR_STRAND_NS)

/* monitor_nap: the monitor's timed sleep ("Cadence"). */
#define NAP_LONG 1u	/* its backoff sleep, up to 10 ms: a hint may wake it */
#define NAP_SHORT 2u	/* towards a suspect poll's next look */
#define NAP_COVERED 3u	/* up to 40 ms, on the strength of two hinting cores */

/* --- core sections and poll ends (called by the poll's thread) ---------- */

static inline uint64_t own_seq(uint64_t word)
{
	return word >> OWN_SEQ_SHIFT;
}

static inline unsigned own_index(uint64_t word)
{
	return (unsigned)(word >> OWN_IDX_SHIFT) & ((1u << (OWN_SEQ_SHIFT - OWN_IDX_SHIFT)) - 1);
}

static inline unsigned own_state(uint64_t word)
{
	return (unsigned)(word & OWN_STATE_MASK);
}

/* The core's private slots hold work only its driver may see. */
static inline uint64_t own_priv(struct wf__worker *w)
{
	return w->again || w->pin_head ? OWN_PRIV : 0;
}

/*
 * The monitor claims th's poll on w (claim word c names it): wait for its
 * verdict. Returns true if the claim was aborted (th keeps w), false if w
 * is lost (th->core is then NULL).
 */
bool wf__core_claimed(struct wf__thread *th, struct wf__worker *w, uint64_t c)
{
	/* Acquire pairs with the monitor's release store of the verdict. */
	while (own_seq(c) == own_seq(th->own_word) && own_state(c) == OWN_CLAIMING) {
		sched_yield();
		c = atomic_load_explicit(&w->claim, memory_order_acquire);
	}
	/* A claim on a later poll of this core: ours was taken long ago. */
	if (own_seq(c) == own_seq(th->own_word) && own_state(c) == OWN_ABORTED)
		return true;
	th->core = NULL;
	return false;
}

/* Poll end with the core given away (block_in_place, or lost in a section). */
bool wf__core_poll_lost(struct wf__thread *th, struct wf__worker *w)
{
	th->core = NULL;
	if (w->rt->stall_on)
		wf__own_post(th, 0, w->rt->own_fenced);
	return false;
}

struct wf__worker *wf__core_enter_slow(struct wf__thread *th)
{
	struct wf__worker *w = th->core;
	struct wf_runtime *rt = w->rt;
	uint64_t word = th->own_word, c;

	if (th->core_nest || own_state(word) == OWN_PINNED) {
		th->core_nest++;
		return w;
	}
	/* [own = BUSY; read claim]: see "Core ownership". */
	word = (word & ~(uint64_t)(OWN_STATE_MASK | OWN_PRIV)) | OWN_BUSY;
	wf__own_post(th, word, rt->own_fenced);
	c = wf__claim_read(w, rt->own_fenced);
	if (unlikely(wf__claim_mine(th, c)) && !wf__core_claimed(th, w, c))
		return NULL;	/* the monitor took the core: go on without it */
	th->own_word = word;
	th->core_nest = 1;
	return w;
}

void wf__core_exit_slow(struct wf__thread *th, struct wf__worker *w)
{
	if (--th->core_nest || own_state(th->own_word) == OWN_PINNED)
		return;
	th->own_word = OWN_WORD(own_seq(th->own_word), w->index, OWN_IN) | own_priv(w);
	/* Release: our writes to the core come before the monitor's claim. */
	atomic_store_explicit(&th->own, th->own_word, memory_order_release);
}

/* --- detection ------------------------------------------------------------ */

/* Read a small /proc file into buf (NUL-terminated). Returns its length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* State letter of a thread (after the last ')' of its stat line), or 0. */
static char proc_state(pid_t tid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* CPU time of a thread in ns (first field of schedstat), or UINT64_MAX. */
static uint64_t proc_runtime(pid_t tid)
{
	char path[64], buf[128];
	unsigned long long v;

	snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", (int)tid);
	if (read_small(path, buf, sizeof(buf)) < 0 || sscanf(buf, "%llu", &v) != 1)
		return UINT64_MAX;
	return v;
}

/*
 * The /proc source: blocked when the thread is asleep (S or D) and its CPU
 * time advanced by less than half the wall time since the last look at
 * this poll; on CPU when it ran at least a quarter of the time since the
 * first look; waiting for a CPU otherwise; unknown at the first look.
 */
static int proc_classify(struct stall_look *look, const struct stall_query *q)
{
	uint64_t run = proc_runtime(q->tid), now = q->now_ns;
	char st = proc_state(q->tid);
	int cls = STALL_UNKNOWN;

	if (run == UINT64_MAX || !st)
		return STALL_UNKNOWN;
	/*
	 * The time of this look is taken here, next to the reads: on a busy
	 * machine the monitor itself may have waited for a CPU since q->now_ns.
	 */
	now = wf__now();
	if (!look->at_ns) {
		look->first_at_ns = now;
		look->first_run_ns = run;
	} else if (now > look->at_ns) {
		uint64_t dt = now - look->at_ns, drun = run - look->run_ns;
		uint64_t dt_all = now - look->first_at_ns, drun_all = run - look->first_run_ns;
		bool sleeping = st == 'S' || st == 'D';

		/*
		 * Asleep and hardly ran since the last look: blocked. Ran
		 * at least a quarter of the time since the poll's first
		 * look (a poll sharing its CPU with three other busy
		 * threads still computes): on CPU. Neither: waiting for a
		 * CPU. The on-CPU test spans the whole poll, so a thread
		 * that waited 30 ms and then ran for a moment is waiting,
		 * not computing.
		 */
		if (sleeping && drun < dt / 2)
			cls = STALL_BLOCKED;
		else if (drun_all >= dt_all / 4)
			cls = STALL_ONCPU;
		else
			cls = STALL_WAITING;
	}
	look->at_ns = now;
	look->run_ns = run;
	look->cls = cls;
	return cls;
}

const struct stall_source wf__stall_proc = {
	.name = "proc",
	.classify = proc_classify,
};

/* --- choosing the source ---------------------------------------------------- */

/* WEFT_DEBUG set (and not "0"): say which stall source a runtime uses, and why. */
static bool debug_on(void)
{
	const char *e = getenv("WEFT_DEBUG");

	return e && *e && strcmp(e, "0") != 0;
}

/* WEFT_STALL_SOURCE: a WF_STALL_SOURCE_* value, or -EINVAL (said on stderr). */
static int source_env(void)
{
	const char *e = getenv("WEFT_STALL_SOURCE");

	if (!e || !*e || !strcmp(e, "auto"))
		return WF_STALL_SOURCE_AUTO;
	if (!strcmp(e, "proc"))
		return WF_STALL_SOURCE_PROC;
	if (!strcmp(e, "bpf"))
		return WF_STALL_SOURCE_BPF;
	fprintf(stderr, "weft: WEFT_STALL_SOURCE=%s: expected bpf, proc or auto\n", e);
	return -EINVAL;
}

/*
 * Choose the stall source of a runtime that compensates: @want (a
 * wf_runtime_opts.stall_source value), WEFT_STALL_SOURCE when it is
 * DEFAULT, else auto. AUTO and BPF take the BPF source when it is built
 * in and loads (AUTO not under valgrind, which the load would crawl
 * under), and fall back to /proc without a word: rt->stall_bpf_err says
 * why (metrics), and WEFT_DEBUG prints it. Called before the runtime's
 * threads start (each registers with the BPF source). Returns 0 or -EINVAL.
 */
int wf__stall_source_init(struct wf_runtime *rt, int want)
{
	const char *flavour = NULL;
	int r;

	rt->stall_src = NULL;
	rt->stall_bpf_err = 0;
	if (!rt->stall_on || rt->flavor != WF_MULTI_THREAD)
		return 0;
	rt->stall_src = &wf__stall_proc;
	if (want == WF_STALL_SOURCE_DEFAULT) {
		want = source_env();
		if (want < 0)
			return want;
	}
	if (want == WF_STALL_SOURCE_PROC || (want == WF_STALL_SOURCE_AUTO && RUNNING_ON_VALGRIND))
		return 0;
	r = wf__stall_bpf_get(&flavour);
	if (r) {
		rt->stall_bpf_err = r;
		if (debug_on())
			fprintf(stderr, "weft: stall source: proc (the BPF source: %s)\n",
				r == -EOPNOTSUPP ? "not built in (CONFIG_WEFT_STALL_BPF)"
						 : strerror(-r));
		return 0;
	}
#ifdef WF_STALL_BPF
	rt->stall_bpf = true;
	rt->stall_src = &wf__stall_bpf;
#endif
	if (debug_on())
		fprintf(stderr, "weft: stall source: bpf (%s)\n", flavour);
	return 0;
}

/* Drop the runtime's reference on the BPF source (its threads are gone). */
void wf__stall_source_fini(struct wf_runtime *rt)
{
	if (rt->stall_bpf)
		wf__stall_bpf_put();
	rt->stall_bpf = false;
}

const char *wf__stall_source_name(const struct wf_runtime *rt)
{
	return rt->stall_src ? rt->stall_src->name : "none";
}

/* A dedicated thread starts: give it a BPF slot if the runtime uses that source. */
void wf__stall_thread_start(struct wf__thread *th)
{
	th->stall_slot = th->rt->stall_bpf ? wf__stall_bpf_thread_start(th->tid) : -1;
}

/* ... and it exits (before the runtime drops its reference). */
void wf__stall_thread_stop(struct wf__thread *th)
{
	if (th->stall_slot >= 0)
		wf__stall_bpf_thread_stop(th->stall_slot, th->tid);
	th->stall_slot = -1;
}

/* Runnable work on core w, as far as the monitor can see (racy: a hint). */
static bool core_has_work(struct wf__worker *w, uint64_t word, uint64_t now)
{
	return wf__worker_has_work(w) || (word & OWN_PRIV) ||
	       atomic_load_explicit(&w->inbox_len, memory_order_relaxed) ||
	       atomic_load_explicit(&w->timers.next_ns, memory_order_relaxed) <= now + BLOCKED_NS;
}

/*
 * Core w runs a suspect poll at time now ("Cadence"): in a poll for at
 * least WF_MONITOR_SUSPECT_NS, with runnable work behind it. Read by a
 * peer (wf__monitor_hint): loads only, racy, a hint.
 */
static bool poll_suspect(struct wf__worker *w, uint64_t now)
{
	struct wf__thread *th;
	uint64_t start, word = 0;

	if (!atomic_load_explicit(&w->in_poll, memory_order_acquire))
		return false;
	start = atomic_load_explicit(&w->poll_start_pub, memory_order_relaxed);
	if (now < start || now - start < WF_MONITOR_SUSPECT_NS)
		return false;
	/* Its "again" and pinned FIFO show only in the driver's word (OWN_PRIV). */
	th = atomic_load_explicit(&w->driver, memory_order_acquire);
	if (th)
		word = atomic_load_explicit(&th->own, memory_order_acquire);
	return core_has_work(w, word, now);
}

/* --- hand-off ------------------------------------------------------------- */

struct monitor {
	struct wf_runtime *rt;
	uint64_t max_ns;		/* the backoff's cap (WF_MONITOR_MAX_NS or the budget's) */
	uint64_t cost_cpu_ns;		/* the thread's CPU time at the last measurement */
	unsigned cost_wakes;		/* backoff wake-ups since then */
	bool cost_valid;		/* the backoff's wake-ups since then are all counted */
	const struct stall_source *src;	/* rt->stall_src */
	struct stall_look *looks;	/* one per worker */
	uint64_t *capped_seq;		/* poll last counted as capped, per worker */
	uint64_t *last_start;		/* poll_start_pub at the last look, per worker */
};

static _Atomic uint64_t last_warn_ns;

/* One line on stderr, at most once a second per process. */
static void stall_warn(uint64_t now, uint64_t id, const char *name, const char *file, int line,
		       int cls, uint64_t age)
{
	uint64_t last = atomic_load_explicit(&last_warn_ns, memory_order_relaxed);

	if (last && now - last < WF_STALL_WARN_NS)
		return;
	if (!atomic_compare_exchange_strong(&last_warn_ns, &last, now))
		return;
	fprintf(stderr,
		"weft: task %" PRIu64 " \"%s\" (spawned at %s:%d) %s for %.1f ms inside one "
		"poll; its worker's other tasks were moved to another thread. Move the %s "
		"to wf_spawn_blocking().\n",
		id, name[0] ? name : "?", file ? file : "?", line,
		cls == STALL_BLOCKED ? "blocked off CPU" : "ran without yielding", age / 1e6,
		cls == STALL_BLOCKED ? "blocking call" : "long computation");
}

/* The claim's fence: every thread of the process passes a full barrier. */
static void claim_fence(struct wf_runtime *rt)
{
	if (rt->own_fenced)
		syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
}

/*
 * Take core w from thread th's poll word @word (state IN) and give it to a
 * spare ("Core ownership"). Returns 1 if handed over, 0 if not (the poll
 * ended, or the spare thread cap), -EAGAIN if no spare is idle yet (one
 * is starting).
 */
static int stall_handoff(struct monitor *m, struct wf__worker *w, struct wf__thread *th,
			 uint64_t word, int cls, uint64_t age, uint64_t now)
{
	struct wf_runtime *rt = m->rt;
	uint64_t seq = own_seq(word), id, again;
	const uint64_t same = ~(uint64_t)OWN_PRIV;
	struct wf__thread *sp;
	char name[WF_NAME_MAX];
	const char *file;
	struct wf_task *t;
	bool capped;
	int line;

	sp = wf__spare_reserve(rt, &capped);
	if (!sp) {
		if (!capped)
			return -EAGAIN;
		if (m->capped_seq[w->index] != seq) {
			m->capped_seq[w->index] = seq;
			atomic_fetch_add_explicit(&rt->stall_capped, 1, memory_order_relaxed);
		}
		return 0;
	}
	/* [claim = n|CLAIMING; fence; read own] against the thread's [own; read claim]. */
	atomic_store_explicit(&w->claim, OWN_WORD(seq, w->index, OWN_CLAIMING),
			      rt->own_fenced ? memory_order_relaxed : memory_order_seq_cst);
	claim_fence(rt);
	again = atomic_load_explicit(&th->own, rt->own_fenced ? memory_order_acquire
							      : memory_order_seq_cst);
	if ((again & same) != (word & same)) {
		/* The poll entered a section or ended meanwhile: leave it. */
		atomic_store_explicit(&w->claim, OWN_WORD(seq, w->index, OWN_ABORTED),
				      memory_order_release);
		wf__spare_unreserve(rt, sp);
		return 0;
	}
	/*
	 * The core is ours until the store of n|LOST; the poll's thread waits
	 * for it before it could release the task, so t is alive here.
	 */
	t = w->current;
	id = t->reg.id;
	snprintf(name, sizeof(name), "%s", t->reg.name);
	file = task_file(t);
	line = task_line(t);
	w->current = NULL;
	atomic_store_explicit(&w->in_poll, 0, memory_order_release);
	wf__reg_state(w, WF_REG_W_SCHEDULING);
	atomic_store_explicit(&w->driver, NULL, memory_order_relaxed);
	atomic_store_explicit(&w->claim, OWN_WORD(seq, w->index, OWN_LOST), memory_order_release);
	wf__spare_give(sp, w);

	atomic_fetch_add_explicit(&w->handoffs, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(cls == STALL_BLOCKED ? &rt->stall_blocked : &rt->stall_cpu, 1,
				  memory_order_relaxed);
	WF_PROBE(stall_handoff, id, w->index, age, cls == STALL_BLOCKED ? 1 : 0);
	stall_warn(now, id, name, file, line, cls, age);
	return 1;
}

/*
 * Look at core w for a stalled poll. Returns how soon (ns) the monitor
 * should look again for this poll's sake, or 0 when it need not hurry.
 */
static uint64_t stall_check(struct monitor *m, struct wf__worker *w, uint64_t now)
{
	struct wf__thread *th = atomic_load_explicit(&w->driver, memory_order_acquire);
	struct stall_look *look = &m->looks[w->index];
	uint64_t word, start, age, c, first;
	struct stall_query q;
	int cls;

	if (!th)
		return 0;	/* changing hands */
	word = atomic_load_explicit(&th->own, memory_order_acquire);
	if (own_index(word) != (unsigned)w->index ||
	    (own_state(word) != OWN_IN && own_state(word) != OWN_BUSY))
		return 0;
	/*
	 * A poll this monitor already took (its thread has not ended it
	 * yet), or a stale word: the core has run later polls since.
	 */
	c = atomic_load_explicit(&w->claim, memory_order_relaxed);
	if (own_seq(c) > own_seq(word) || (own_seq(c) == own_seq(word) && own_state(c) == OWN_LOST))
		return 0;
	/* Read after the word (acquire): this poll's start or a later one's. */
	start = atomic_load_explicit(&w->poll_start_pub, memory_order_relaxed);
	age = now > start ? now - start : 0;
	/*
	 * Young (under a quarter of the suspect age), or nothing waits
	 * behind it: no need to hurry; the backoff or a worker's hint brings
	 * the monitor back. A poll a quarter of the suspect age old is
	 * followed already: this look is here anyway, and a poll that
	 * started just before it (after an idle spell, say) would otherwise
	 * wait for the next backoff look.
	 */
	if (age < WF_MONITOR_SUSPECT_NS / 4 || !core_has_work(w, word, now))
		return 0;
	/*
	 * Be back for its first look. A source that answers in one
	 * look (BPF) is asked when the poll crosses the threshold; /proc
	 * needs two looks, the first at half the threshold.
	 */
	first = m->src->one_look ? BLOCKED_NS : BLOCKED_NS / 2;
	if (age < first)
		return first - age;
	if (look->seq != own_seq(word)) {
		memset(look, 0, sizeof(*look));
		look->seq = own_seq(word);
	}
	/* The slot first: the source checks the slot's TID against this TID. */
	q.slot = atomic_load_explicit(&w->stall_slot, memory_order_acquire);
	q.tid = atomic_load(&w->tid);
	q.seq = own_seq(word);
	q.start_ns = start;
	q.now_ns = now;
	q.blocked_ns = BLOCKED_NS;
	look->again_ns = 0;
	look->fell_back = false;
	cls = m->src->classify(look, &q);
	if (look->fell_back)
		atomic_fetch_add_explicit(&m->rt->stall_bpf_fallbacks, 1, memory_order_relaxed);
	if (own_state(word) != OWN_IN)
		return BLOCKED_NS / 4;	/* in a core section: a few instructions, next time */
	if ((cls == STALL_BLOCKED && age >= BLOCKED_NS) || (cls == STALL_ONCPU && age >= CPU_NS)) {
		/*
		 * A spare is starting (tens of microseconds, or a few ms on a
		 * busy machine: a new thread waits for a CPU): try again
		 * from 40 us on, doubling up to a quarter of the threshold.
		 */
		if (stall_handoff(m, w, th, word, cls, age, now) == -EAGAIN) {
			look->retry_ns = look->retry_ns ? 2 * look->retry_ns : 2 * WF_MONITOR_MIN_NS;
			if (look->retry_ns > BLOCKED_NS / 4)
				look->retry_ns = BLOCKED_NS / 4;
			return look->retry_ns;
		}
		return BLOCKED_NS / 4;
	}
	/*
	 * Blocked, not yet for the threshold: back when it will be (at
	 * least an eighth of the threshold on, so that the look that hands
	 * it over still judges a span of some length), not a quarter later.
	 */
	if (cls == STALL_BLOCKED && age < BLOCKED_NS) {
		wf__spare_prewarm(m->rt);	/* ready when the threshold comes */
		return BLOCKED_NS - age > BLOCKED_NS / 8 ? BLOCKED_NS - age : BLOCKED_NS / 8;
	}
	if (cls == STALL_ONCPU && age >= CPU_NS / 2)
		wf__spare_prewarm(m->rt);
	/*
	 * Waiting for a CPU: never handed over (a spare would wait too),
	 * and on a machine short of CPUs the monitor's own looks take from
	 * the threads it watches. Look again a quarter of the threshold
	 * later, doubling up to half the threshold while the poll keeps
	 * waiting (a thread that gets a third of a CPU in slices of a few ms
	 * is still seen on CPU soon enough).
	 */
	if (cls == STALL_WAITING) {
		look->wait_ns = look->wait_ns ? 2 * look->wait_ns : BLOCKED_NS / 4;
		if (look->wait_ns > BLOCKED_NS / 2)
			look->wait_ns = BLOCKED_NS / 2;
		return look->wait_ns;
	}
	/*
	 * Not yet: back at the time the source named (BPF: a sleep that
	 * would by then be long enough), else a quarter of the threshold
	 * (/proc's next look; BPF's for a poll on CPU).
	 */
	return look->again_ns ? look->again_ns : BLOCKED_NS / 4;
}

/*
 * Cores whose driver looked at its peers within the last two hint periods
 * at time now, and does not park for long ("Cadence", coverage); the
 * loads are seq_cst for monitor_nap().
 */
static unsigned hinting_cores(struct wf_runtime *rt, uint64_t now)
{
	unsigned n = 0;

	for (unsigned i = 0; i < rt->nworkers; i++) {
		uint64_t at = atomic_load(&rt->workers[i].hint_at);

		if (at != UINT64_MAX && at + WF_MONITOR_HINT_NS > now)
			n++;
	}
	return n;
}

/*
 * Sleep until now + delay, or a hint, or the stop ("Cadence"), at most
 * *delay: a covered sleep (up to WF_MONITOR_COVERED_NS) if two cores
 * still hint once NAP_COVERED is published, else at most
 * WF_MONITOR_MAX_NS. Why a park cannot take the cover away unseen: the
 * parker stores its hint_at then reads monitor_nap, we store monitor_nap
 * then read hint_at, all seq_cst: we see it gone, or it sees COVERED and
 * wakes us.
 */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * The backoff's budget ("Cadence", 4.): called before each backoff sleep
 * (@backoff) or any other (@backoff false, which spoils the measurement in
 * progress: suspect polls are looked at as often as they need). Every
 * WF_MONITOR_COST_WAKES backoff sleeps in a row, the CPU they cost sets
 * the cap so that sleeping that long costs WF_MONITOR_BUDGET_PPM of a core.
 */
static void monitor_budget(struct monitor *m, bool backoff)
{
	uint64_t cpu, per_wake, cap;

	if (!backoff) {
		m->cost_valid = false;
		return;
	}
	if (!m->cost_valid) {
		m->cost_cpu_ns = thread_cpu_ns();
		m->cost_wakes = 0;
		m->cost_valid = m->cost_cpu_ns != 0;
		return;
	}
	if (++m->cost_wakes < WF_MONITOR_COST_WAKES)
		return;
	cpu = thread_cpu_ns();
	if (cpu > m->cost_cpu_ns) {
		per_wake = (cpu - m->cost_cpu_ns) / m->cost_wakes;
		cap = per_wake * (1000000u / WF_MONITOR_BUDGET_PPM);
		if (cap < WF_MONITOR_MAX_NS)
			cap = WF_MONITOR_MAX_NS;
		if (cap > WF_MONITOR_BUDGET_MAX_NS)
			cap = WF_MONITOR_BUDGET_MAX_NS;
		m->max_ns = cap;
	}
	m->cost_cpu_ns = cpu;
	m->cost_wakes = 0;
}

static void monitor_nap(struct monitor *m, uint32_t nap, uint64_t *delay, uint64_t now)
{
	struct wf_runtime *rt = m->rt;

	atomic_store(&rt->monitor_nap, nap);
	if (nap == NAP_COVERED && hinting_cores(rt, now) < 2) {
		uint32_t c = NAP_COVERED;

		/* A CAS: a hint that cleared the word meanwhile is not lost. */
		atomic_compare_exchange_strong(&rt->monitor_nap, &c, NAP_LONG);
		nap = NAP_LONG;
		if (*delay > m->max_ns)
			*delay = m->max_ns;
	}
	/* Only sleeps at the cap measure the cap's cost. */
	monitor_budget(m, nap != NAP_SHORT && *delay >= m->max_ns);
	if (!atomic_load(&rt->monitor_stop))
		wf__futex_wait(&rt->monitor_nap, nap, wf__now() + *delay);
	atomic_store(&rt->monitor_nap, 0);
}

static void *monitor_main(void *arg)
{
	struct monitor *m = arg;
	struct wf_runtime *rt = m->rt;
	uint64_t delay = WF_MONITOR_FIRST_NS / 2;	/* doubled before the first sleep */

	pthread_setname_np(pthread_self(), "weft-monitor");
	/*
	 * The BPF source knows the moment a poll crosses the threshold:
	 * wake close to it (the default slack is 50 us).
	 */
	if (m->src->one_look)
		prctl(PR_SET_TIMERSLACK, 10000UL, 0, 0, 0);
	while (!atomic_load(&rt->monitor_stop)) {
		uint64_t now = wf__now(), soon = 0;
		bool stranded = false, busy = false, covered;

		for (unsigned i = 0; i < rt->nworkers; i++) {
			struct wf__worker *w = &rt->workers[i];
			uint64_t ps = atomic_load_explicit(&w->poll_start_pub, memory_order_relaxed);
			uint64_t age;

			/* Polled since the last look: busy, even if between polls now. */
			if (ps != m->last_start[i])
				busy = true;
			m->last_start[i] = ps;
			if (!atomic_load_explicit(&w->in_poll, memory_order_acquire))
				continue;
			busy = true;
			if (rt->stall_on) {
				uint64_t d = stall_check(m, w, now);

				if (d && (!soon || d < soon))
					soon = d;
			}
			if (rt->nworkers < 2)
				continue;
			ps = atomic_load_explicit(&w->poll_start_pub, memory_order_relaxed);
			age = now > ps ? now - ps : 0;
			if (age >= WF_MONITOR_STRAND_NS) {
				if (wf__worker_has_work(w))
					stranded = true;
			} else if (age >= WF_MONITOR_SUSPECT_NS && wf__worker_has_work(w)) {
				/* Suspect: be back when it strands its work. */
				if (!soon || WF_MONITOR_STRAND_NS - age < soon)
					soon = WF_MONITOR_STRAND_NS - age;
			}
		}
		if (stranded) {
			atomic_fetch_add_explicit(&rt->monitor_unstrands, 1, memory_order_relaxed);
			wf__notify_parked(rt);
		}
		/*
		 * Cadence ("Cadence" above): what a suspect poll asked for;
		 * otherwise twice the last sleep, up to 10 ms.
		 */
		covered = !soon && rt->nworkers >= 2 && hinting_cores(rt, now) >= 2;
		if (soon) {
			delay = soon;
		} else {
			uint64_t max = covered ? WF_MONITOR_COVERED_NS : m->max_ns;

			if (max < m->max_ns)
				max = m->max_ns;

			delay *= 2;
			if (delay > max)
				delay = max;
		}
		if (delay < WF_MONITOR_MIN_NS)
			delay = WF_MONITOR_MIN_NS;
		/*
		 * Every worker parked and nothing polled since the last look:
		 * sleep until a worker leaves park(). Why no wake-up is lost:
		 * we store monitor_idle then read idle_state; a worker is
		 * counted unparked in idle_state (a seq_cst RMW, by itself or
		 * by its waker) before it leaves park() and reads monitor_idle
		 * (wf__monitor_wake): with both orders sequentially
		 * consistent, we see it unparked or it sees the flag. The
		 * futex word is the flag itself, which the waker clears
		 * before its wake-up: a wake-up that comes between our
		 * check and the futex wait finds the word changed, and the
		 * wait returns at once (waiting on monitor_stop, unchanged
		 * by the waker, lost that wake-up: the monitor slept through
		 * a stall). wf__monitor_stop() clears it too.
		 */
		if (!busy && !stranded && (atomic_load(&rt->idle_state) >> 16) == 0) {
			atomic_store(&rt->monitor_idle, 1);
			if ((atomic_load(&rt->idle_state) >> 16) == 0 &&
			    !atomic_load(&rt->monitor_stop))
				wf__futex_wait(&rt->monitor_idle, 1, UINT64_MAX);
			atomic_store(&rt->monitor_idle, 0);
			delay = WF_MONITOR_FIRST_NS / 2;
			monitor_budget(m, false);
			continue;
		}
		monitor_nap(m, soon ? NAP_SHORT : covered ? NAP_COVERED : NAP_LONG, &delay, now);
	}
	free(m->looks);
	free(m->capped_seq);
	free(m->last_start);
	free(m);
	return NULL;
}

/* The monitor sleeps (monitor_idle) and a worker left park(): wake it. */
void wf__monitor_wake_slow(struct wf_runtime *rt)
{
	if (atomic_exchange(&rt->monitor_idle, 0))
		wf__futex_wake(&rt->monitor_idle, 1);
}

/*
 * A hint ("Cadence", 2.): the thread driving core w looks at the other
 * cores at time now, after a poll (wf__monitor_peek, @park_until 0) or
 * before it parks until @park_until (UINT64_MAX: no deadline), at most
 * once per WF_MONITOR_HINT_NS either way, and wakes the monitor out of
 * its backoff sleep if one of them runs a suspect poll; before a long
 * park it also stops hinting, and wakes the monitor out of a covered
 * sleep. Only loads, but for the CAS that wakes the monitor and, before
 * a long park, a seq_cst store.
 */
void wf__monitor_hint(struct wf__worker *w, uint64_t now, uint64_t park_until)
{
	struct wf_runtime *rt = w->rt;
	bool look = now >= atomic_load_explicit(&w->hint_at, memory_order_relaxed);
	uint32_t nap;

	if (park_until && park_until > now + 2 * WF_MONITOR_HINT_NS) {
		/*
		 * [hint_at = not hinting; read nap] against the monitor's
		 * [nap = COVERED; read hint_at]: see monitor_nap().
		 */
		atomic_store(&w->hint_at, 0);
		nap = atomic_load(&rt->monitor_nap);
		if (nap == NAP_COVERED) {
			if (atomic_compare_exchange_strong(&rt->monitor_nap, &nap, 0))
				wf__futex_wake(&rt->monitor_nap, 1);
			return;	/* it looks now, at every core */
		}
	} else {
		if (!look)
			return;	/* looked less than a period ago */
		atomic_store_explicit(&w->hint_at, now + WF_MONITOR_HINT_NS, memory_order_relaxed);
		nap = atomic_load_explicit(&rt->monitor_nap, memory_order_relaxed);
	}
	/* Awake, or already coming back for a suspect poll: nothing to say. */
	if (!look || (nap != NAP_LONG && nap != NAP_COVERED))
		return;
	for (unsigned i = 0; i < rt->nworkers; i++) {
		struct wf__worker *v = &rt->workers[i];

		if (v == w || !poll_suspect(v, now))
			continue;
		if (atomic_compare_exchange_strong(&rt->monitor_nap, &nap, 0))
			wf__futex_wake(&rt->monitor_nap, 1);
		return;
	}
}

/*
 * Before the runtime's threads start: whether the monitor's claims fence
 * with membarrier() ("Core ownership"), which lets polls and core
 * sections go without a read-modify-write. The process registers for the
 * private expedited command once (the registration is per process and
 * idempotent); a kernel without it (before 4.14), a seccomp filter that
 * refuses it, or ThreadSanitizer (which does not model it) leaves the
 * sequentially consistent protocol.
 */
void wf__monitor_prepare(struct wf_runtime *rt)
{
	static _Atomic int reg;	/* 0: not tried, 1: registered, -1: unavailable */
	int r = atomic_load(&reg);

	rt->own_fenced = false;
	if (!rt->stall_on)
		return;
#if defined(__SANITIZE_THREAD__)
	return;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
	return;
#endif
#endif
	if (getenv("WEFT_NO_MEMBARRIER"))
		return;
	if (r == 0) {
		long q = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);

		r = q >= 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
				    syscall(__NR_membarrier,
					    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0
			    ? 1
			    : -1;
		atomic_store(&reg, r);
	}
	rt->own_fenced = r == 1;
}

/* Start the monitor of a multi-thread runtime. Returns 0, -ENOMEM or -EAGAIN. */
int wf__monitor_start(struct wf_runtime *rt)
{
	struct monitor *m;

	if (rt->flavor != WF_MULTI_THREAD || (rt->nworkers < 2 && !rt->stall_on))
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->rt = rt;
	m->max_ns = WF_MONITOR_MAX_NS;
	m->src = rt->stall_src ? rt->stall_src : &wf__stall_proc;
	m->looks = calloc(rt->nworkers, sizeof(*m->looks));
	m->capped_seq = calloc(rt->nworkers, sizeof(*m->capped_seq));
	m->last_start = calloc(rt->nworkers, sizeof(*m->last_start));
	if (!m->looks || !m->capped_seq || !m->last_start ||
	    pthread_create(&rt->monitor, NULL, monitor_main, m) != 0) {
		int r = m->looks && m->capped_seq && m->last_start ? -EAGAIN : -ENOMEM;

		free(m->looks);
		free(m->capped_seq);
		free(m->last_start);
		free(m);
		return r;
	}
	rt->monitor_running = true;
	return 0;
}

void wf__monitor_stop(struct wf_runtime *rt)
{
	if (!rt->monitor_running)
		return;
	atomic_store(&rt->monitor_stop, 1);
	/* Seq_cst after the store: a napping or idle monitor sees stop or is woken here. */
	if (atomic_exchange(&rt->monitor_nap, 0))
		wf__futex_wake(&rt->monitor_nap, 1);
	wf__monitor_wake_slow(rt);
	pthread_join(rt->monitor, NULL);
	rt->monitor_running = false;
}
