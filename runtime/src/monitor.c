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
 * sections; block_in_place gives it away from inside one. The word w->own
 * decides who holds the core while a poll runs:
 *
 *   0                      no poll: the driving thread's scheduler owns it
 *   OWN_WORD(n, IN)        poll n runs, outside any core section
 *   OWN_WORD(n, BUSY)      poll n is inside a core section
 *   OWN_WORD(n, PINNED)    poll n of a pinned task: never claimed
 *   OWN_WORD(n, CLAIMING)  the monitor took poll n's core and is handing
 *                          it to a spare thread
 *   OWN_WORD(n, LOST)      handed: poll n's thread must not touch the core
 *
 * n = ++w->poll_seq at every poll start; poll_seq is owner-only and moves
 * with the core, so n never repeats on a core and a CAS that names poll n
 * cannot succeed during any other poll (no ABA). The IN word also carries
 * OWN_PRIV when "again" or the pinned FIFO holds a task, so the monitor
 * sees work it may not read.
 *
 * Transitions, each a single atomic operation on w->own:
 *   poll start (driver, scheduler context): store n|IN, release, after
 *       every other write the scheduler makes to the core for this poll.
 *   section enter (poll thread): CAS n|IN -> n|BUSY, acquire. Fails only
 *       if the monitor claimed n: wait while n|CLAIMING, forget the core
 *       (th->core = NULL) and go on without it (inject queue, shared
 *       caches).
 *   section exit (poll thread): store n|IN, release (nobody else changes
 *       a BUSY word).
 *   poll end (poll thread, scheduler context): CAS n|IN -> 0, acq_rel.
 *   claim (monitor): CAS n|IN -> n|CLAIMING, acq_rel; then it clears the
 *       core's "in a poll" fields, stores n|LOST (release) and gives the
 *       core to a spare thread it reserved beforehand (so the claim never
 *       has to be undone).
 * The poll-end CAS and the claim CAS both expect n|IN: exactly one wins.
 * If the poll end wins, the poll finished with its core and the monitor
 * left it alone. If the claim wins, the poll's thread fails its poll-end
 * CAS (or a section's), waits while the word is n|CLAIMING (the monitor
 * may still read the task's name, which must not be freed under it), and
 * takes the orphan path in sched.c: it finishes the poll without the core
 * (a parked or NOTIFIED task is queued on the inject queue, a finished one
 * released) and becomes a spare itself (thread_main). The monitor claims
 * no BUSY word, so the core's owner-only parts are never touched by two
 * threads: the task's section writes happen before its exit store
 * (release), which the claim CAS reads (acquire); the monitor's writes
 * happen before the spare is woken (seq_cst spare_wake), and the spare's
 * first poll stores a newer word (n + 1 or later) over n|LOST.
 * block_in_place hands the core from inside a section (BUSY), so the
 * monitor cannot claim it at the same time; it then drops the section
 * without a store: the spare's first poll overwrites the BUSY word.
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
 * 64-byte slot) only for a poll that is already long. Polls pay an
 * atomic store and a CAS on a line of their own core, tasks a CAS and a
 * store per wake-up or spawn.
 */
#include "internal.h"
#include "probes.h"
#include "registry.h"
#include "stall_source.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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
	return word >> 4;
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

/* The monitor is between its claim and the hand-over: wait for it. */
static void wait_claim(struct wf__thread *th, struct wf__worker *w)
{
	uint64_t claiming = OWN_WORD(own_seq(th->own_word), OWN_CLAIMING);

	/* Acquire pairs with the monitor's release store of n|LOST. */
	while (atomic_load_explicit(&w->own, memory_order_acquire) == claiming)
		sched_yield();
}

/* Poll end, the CAS lost (or the core was given away): let go of w. */
bool wf__core_poll_lost(struct wf__thread *th, struct wf__worker *w)
{
	th->core = NULL;
	if (w->rt->stall_on)
		wait_claim(th, w);
	return false;
}

struct wf__worker *wf__core_enter_slow(struct wf__thread *th)
{
	struct wf__worker *w = th->core;
	uint64_t exp = th->own_word;

	if (th->core_nest || own_state(exp) == OWN_PINNED) {
		th->core_nest++;
		return w;
	}
	/* Acquire: pairs with the release of our own last exit (trivially). */
	if (atomic_compare_exchange_strong_explicit(&w->own, &exp,
						    (exp & ~(uint64_t)(OWN_STATE_MASK | OWN_PRIV)) |
							    OWN_BUSY,
						    memory_order_acquire, memory_order_acquire)) {
		th->core_nest = 1;
		return w;
	}
	/* The monitor claimed this poll's core: let go of it for good. */
	wait_claim(th, w);
	th->core = NULL;
	return NULL;
}

void wf__core_exit_slow(struct wf__thread *th, struct wf__worker *w)
{
	if (--th->core_nest || own_state(th->own_word) == OWN_PINNED)
		return;
	th->own_word = OWN_WORD(own_seq(th->own_word), OWN_IN) | own_priv(w);
	/* Release: our writes to the core come before the monitor's claim. */
	atomic_store_explicit(&w->own, th->own_word, memory_order_release);
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
 * this poll; on CPU otherwise; unknown at the first look.
 */
static int proc_classify(struct stall_look *look, const struct stall_query *q)
{
	uint64_t run = proc_runtime(q->tid), now = q->now_ns;
	char st = proc_state(q->tid);
	int cls = STALL_UNKNOWN;

	if (run == UINT64_MAX || !st)
		return STALL_UNKNOWN;
	if (look->at_ns && now > look->at_ns) {
		uint64_t dt = now - look->at_ns, drun = run - look->run_ns;
		bool sleeping = st == 'S' || st == 'D';

		cls = sleeping && drun < dt / 2 ? STALL_BLOCKED : STALL_ONCPU;
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

/*
 * Take core w from poll word @word (state IN) and give it to a spare.
 * Returns 1 if handed over, 0 if not (the poll ended, or the spare
 * thread cap), -EAGAIN if no spare is idle yet (one is starting).
 */
static int stall_handoff(struct monitor *m, struct wf__worker *w, uint64_t word, int cls,
			  uint64_t age, uint64_t now)
{
	struct wf_runtime *rt = m->rt;
	uint64_t seq = own_seq(word), id;
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
	/* Pairs with the poll end's CAS and with section exits (release). */
	if (!atomic_compare_exchange_strong_explicit(&w->own, &word, OWN_WORD(seq, OWN_CLAIMING),
						     memory_order_acq_rel,
						     memory_order_relaxed)) {
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
	atomic_store_explicit(&w->own, OWN_WORD(seq, OWN_LOST), memory_order_release);
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
	uint64_t word = atomic_load_explicit(&w->own, memory_order_acquire), start, age, again;
	struct stall_look *look = &m->looks[w->index];
	struct stall_query q;
	int cls;

	if (own_state(word) != OWN_IN && own_state(word) != OWN_BUSY)
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
	if ((cls == STALL_BLOCKED && age >= BLOCKED_NS) || age >= CPU_NS) {
		/*
		 * A spare is starting (tens of microseconds, or a few ms on a
		 * busy machine: a new thread waits for a CPU): try again
		 * from 40 us on, doubling up to a quarter of the threshold.
		 */
		if (stall_handoff(m, w, word, cls == STALL_BLOCKED ? STALL_BLOCKED : STALL_ONCPU,
				  age, now) == -EAGAIN) {
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
	again = look->again_ns;
	if (m->src->one_look && age < BLOCKED_NS && BLOCKED_NS - age > again)
		again = BLOCKED_NS - age;
	return again ? again : BLOCKED_NS / 4;
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
