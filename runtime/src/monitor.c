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
 * Cost: the monitor sleeps short while a poll nears the threshold (a
 * quarter of it, or until it crosses it with the BPF source, or from
 * 40 us on while the spare for a hand-off starts), up to 1 ms while
 * workers run polls and backs off to 10 ms when none does; when every
 * worker is parked it sleeps without a deadline until one leaves park()
 * (monitor_idle, below), so an idle runtime costs nothing; a look reads a
 * few words per worker, and two small /proc files (or, with BPF, one
 * 64-byte slot) only for a poll that is already long. Polls and core
 * sections pay a store and a load each, no atomic read-modify-write; a
 * claim pays a membarrier() (an interrupt to each CPU running one of the
 * process's threads).
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
#define WF_MONITOR_BUSY_NS (1000ull * 1000)
#define WF_MONITOR_IDLE_NS (10ull * 1000 * 1000)
#define WF_STALL_WARN_NS (1000ull * 1000 * 1000)

#define BLOCKED_NS ((uint64_t)CONFIG_WEFT_STALL_BLOCKED_US * 1000ull)
#define CPU_NS ((uint64_t)CONFIG_WEFT_STALL_CPU_US * 1000ull)

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

/* --- hand-off ------------------------------------------------------------- */

struct monitor {
	struct wf_runtime *rt;
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
	file = t->file;
	line = t->line;
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
	uint64_t word, start, age, c;
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
	if (age < BLOCKED_NS / 2) {
		/*
		 * A source that answers in one look (BPF) is asked when the
		 * poll crosses the threshold, not before: be back then if
		 * work waits. /proc needs two looks from half the threshold
		 * on; the busy cadence (1 ms) takes the monitor there.
		 */
		if (m->src->one_look && core_has_work(w, word, now))
			return BLOCKED_NS - age < WF_MONITOR_BUSY_NS ? BLOCKED_NS - age
								      : WF_MONITOR_BUSY_NS;
		return 0;
	}
	if (look->seq != own_seq(word)) {
		memset(look, 0, sizeof(*look));
		look->seq = own_seq(word);
	}
	if (!core_has_work(w, word, now))
		return 0;	/* nothing waits behind it: no need to hurry */
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
	 * One look decides: none is needed before the poll crosses the
	 * threshold, nor before the time the source named (a sleep that
	 * would by then be long enough). /proc: a quarter of the threshold.
	 */
	{
		uint64_t again = look->again_ns;

		if (m->src->one_look && age < BLOCKED_NS && BLOCKED_NS - age > again)
			again = BLOCKED_NS - age;
		return again ? again : BLOCKED_NS / 4;
	}
}

static void *monitor_main(void *arg)
{
	struct monitor *m = arg;
	struct wf_runtime *rt = m->rt;
	uint64_t delay = WF_MONITOR_MIN_NS;

	pthread_setname_np(pthread_self(), "weft-monitor");
	/*
	 * The BPF source knows the moment a poll crosses the threshold:
	 * wake close to it (the default slack is 50 us).
	 */
	if (m->src->one_look)
		prctl(PR_SET_TIMERSLACK, 10000UL, 0, 0, 0);
	while (!atomic_load(&rt->monitor_stop)) {
		uint64_t now = wf__now(), soon = 0;
		bool stranded = false, busy = false;

		for (unsigned i = 0; i < rt->nworkers; i++) {
			struct wf__worker *w = &rt->workers[i];
			uint64_t ps = atomic_load_explicit(&w->poll_start_pub, memory_order_relaxed);

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
			if (rt->nworkers < 2 ||
			    now - atomic_load_explicit(&w->poll_start_pub, memory_order_relaxed) <
				    WF_MONITOR_STRAND_NS)
				continue;
			if (wf__worker_has_work(w))
				stranded = true;
		}
		if (stranded) {
			atomic_fetch_add_explicit(&rt->monitor_unstrands, 1, memory_order_relaxed);
			wf__notify_parked(rt);
		}
		/*
		 * Cadence: what stall_check asked for while a poll nears a
		 * threshold (/proc: a quarter of it; BPF: the moment the
		 * poll crosses it, or a quarter); otherwise from 20 us,
		 * doubling each look, to 1 ms while workers run polls (one
		 * is in a poll, or one started since the last look) and
		 * 10 ms when none does.
		 */
		if (soon) {
			delay = soon;
		} else {
			delay *= 2;
			if (delay > (busy ? WF_MONITOR_BUSY_NS : WF_MONITOR_IDLE_NS))
				delay = busy ? WF_MONITOR_BUSY_NS : WF_MONITOR_IDLE_NS;
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
			delay = WF_MONITOR_MIN_NS;
			continue;
		}
		wf__futex_wait(&rt->monitor_stop, 0, wf__now() + delay);
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
	wf__futex_wake(&rt->monitor_stop, 1);
	/* Seq_cst after the store: an idle monitor sees stop or is woken here. */
	wf__monitor_wake_slow(rt);
	pthread_join(rt->monitor, NULL);
	rt->monitor_running = false;
}
