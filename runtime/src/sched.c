// SPDX-License-Identifier: MIT
/*
 * sched.c - the work-stealing scheduler.
 *
 * Design, written before the code (the code is the proof of this text):
 *
 * Tasks and polls. A task is a stackful coroutine. A worker runs a task by
 * switching from its own stack to the task's (wf__ctx_switch); the task
 * runs until it switches back, saying why: it yielded, it parked (is
 * waiting for something), or it returned. That run is a "poll". Only the
 * worker that resumed a task touches it until the task switches back; the
 * task's stack and saved context are then quiescent.
 *
 * Run state (t->sched). IDLE: suspended, in no queue. QUEUED: in exactly
 * one run queue. RUNNING: a worker is inside its poll. NOTIFIED: running,
 * and somebody made it runnable meanwhile. DONE: returned.
 *   wf__schedule():  IDLE -> QUEUED (and enqueue), RUNNING -> NOTIFIED;
 *                    QUEUED, NOTIFIED, DONE: nothing to do.
 *   worker, poll start: QUEUED -> RUNNING (plain store: only the worker
 *                    holding the queued task can do it).
 *   worker, after a park: CAS RUNNING -> IDLE; if that fails the task was
 *                    NOTIFIED while switching out, and is requeued.
 * So a wake-up that races with a task going to sleep is never lost, and a
 * task is never in two queues or resumed by two workers: enqueueing only
 * follows a successful IDLE -> QUEUED transition, and the task's context
 * is saved before anyone can see it IDLE.
 *
 * Queues. Each worker owns:
 *   - runnext, a one-task slot for the task it woke last (message ping-pong
 *     runs on a warm cache). Unlike Tokio's LIFO slot it can be stolen: a
 *     stealer takes it when the owner has been inside one poll for longer
 *     than WF_STEAL_NEXT_NS, so a task woken by a poll that then blocks its
 *     worker is not stranded (tokio#4941). At most WF_MAX_NEXT_RUNS polls in
 *     a row come from runnext, so two ping-ponging tasks cannot starve the
 *     local queue.
 *   - a bounded local FIFO of WF_LOCAL_QUEUE slots (Go's runq): the owner
 *     pushes at tail and pops at head; stealers take half from head. head
 *     and tail only grow (mod 2^32). The owner is the only writer of tail
 *     and of slots at or after it; slots are read by stealers before they
 *     CAS head past them, and the owner reuses a slot only after observing
 *     (acquire) a head beyond it, so a stealer that copied a slot the owner
 *     has since overwritten always loses its CAS.
 *     A stealer that finds fewer than WF_STEAL_BATCH tasks in a queue
 *     leaves them for up to WF_STEAL_DEFER_NS (it keeps searching, and
 *     does not park while they are there): a producer spawning a stream of
 *     short tasks otherwise loses each one to a thief the moment it is
 *     pushed, one steal (a CAS on its head, and its tail's line taken
 *     away) per task. Waiting a few microseconds lets steals take several.
 *     (Measured with spawn_many_local on 2 workers: without the wait, a
 *     thief faster than the spawner averaged 1.3 tasks per steal.) The
 *     wait delays such tasks by WF_STEAL_DEFER_NS at most, and only while
 *     their owner neither runs them nor parks (a parking owner finds them
 *     in its own queue first).
 *     A full queue moves half of itself plus the new task to the inject
 *     queue (an overflow, counted).
 *   - a pinned FIFO (owner only) and an inbox (mutex) for pinned tasks
 *     woken by other threads. Pinned tasks are never put anywhere else.
 *   - "again", a private slot (owner only) for a task that yielded while
 *     the local queue, runnext and the pinned FIFO were empty: it is what
 *     the queue would have returned next, so it skips the queue's atomics
 *     and the wake-up of an idle worker (no work was added: the task was
 *     running). It is taken where the local queue would be, at the very
 *     next next_task(), so it is never stranded and needs no stealing.
 * The runtime has one inject queue (mutex, length readable without it) for
 * tasks spawned or woken from outside any worker, and overflows.
 *
 * Order of service (next_task): every WF_GLOBAL_INTERVAL polls the inject
 * queue first, so outside work is not starved by busy local queues; then
 * runnext; then, alternating, the pinned FIFO and the local queue; then the
 * inject queue (taking a batch); then stealing.
 *
 * Searching and parking (Tokio's Idle). idle_state counts searching and
 * unparked workers. A worker out of work becomes "searching" only while
 * fewer than half the workers search, then tries to steal from every other
 * worker, starting at a random one, and the inject queue. When it finds
 * work and was the last searcher, it wakes a parked worker to carry on the
 * search (work often comes in batches). When it finds none it parks:
 * under idle_lock it leaves the searching and unparked counts and joins
 * sleepers[]; if it was the last searcher it checks every queue once more
 * and wakes a worker if any is non-empty.
 * Whoever makes work available (push to a local queue or to the inject
 * queue) issues a full fence and then wf__notify_parked(), which wakes one
 * sleeper unless somebody is already searching or nobody sleeps. The
 * woken worker starts out searching. The one exception is a worker
 * requeueing the task it just ran (a yield, or a wake-up that came while
 * it switched out): it reads idle_state without the fence, because it
 * runs that task itself if nobody steals it, so a missed wake-up costs a
 * moment of parallelism, not liveness.
 * Why no wake-up is lost: the pusher does [push; fence; read idle_state],
 * the last searcher does [write idle_state; fence; read queues]. With both
 * fences sequentially consistent, at least one sees the other: either the
 * pusher sees no searcher and wakes a sleeper, or the searcher sees the
 * work. A non-searching worker that parks re-checks only its own queues and
 * the inject queue: while it was running, either searchers existed (and the
 * last of them re-checks the other workers' queues) or it would have become
 * one. The inject queue is the exception: a runtime with a single worker
 * never searches (nobody to steal from), so every parker looks at it, after
 * its idle_state RMW, against a pusher that saw it still unparked.
 * Pinned tasks woken from elsewhere go to their worker's inbox; the waker
 * then takes idle_lock and unparks that worker if it is in sleepers[]. A
 * worker reads its inbox length after joining sleepers[] under idle_lock,
 * so one of the two sees the other.
 * A parked worker sleeps with a deadline: the earliest timer of any worker
 * (timer.c), so a timer is not late because its worker is stuck in a long
 * poll. Parking is an interface (io.h). Without an I/O driver the worker
 * sleeps on its futex word w->park and unpark() stores AWAKE and wakes the
 * futex. With a driver it sleeps inside the driver (io_uring_enter or
 * epoll_pwait2) on its I/O completions, the deadline and its eventfd at
 * once, and unpark() exchanges w->park to AWAKE and writes the eventfd when
 * it saw SLEEPING. Why that wake-up is not lost either: the parker stores
 * SLEEPING (under idle_lock) before it checks for work and before every
 * wait, and re-reads w->park after every return from the driver; the
 * eventfd's counter stays set until the parker reads it (io_uring keeps a
 * read armed on it, epoll reports it level-triggered), so a write that
 * lands before the parker reaches the kernel makes that wait return at
 * once. A park that returns because completions woke tasks (they go to
 * this worker's local queue) ends the park like an unpark does.
 * I/O completions are reaped by the thread driving the worker whose ring
 * (or epoll set) the operation went to: after every poll (cheap: the CQ
 * tail is in memory; epoll every WF_IO_INTERVAL polls, a system call),
 * whenever the worker runs out of local work, and while parked. A woken
 * task goes to that worker's local queue and may then be stolen.
 *
 * Core ownership during a poll. The owner-only parts of a worker above
 * (tail of the local queue, runnext writes by its task, the pinned FIFO,
 * "again", the pools, the I/O driver's submission queue) belong to the
 * thread driving the core. Between polls
 * that thread's scheduler uses them freely. While a poll runs, its task
 * uses them only inside core sections (wf__core_enter/exit), because the
 * monitor may take the core away from a stuck poll and give it to a spare
 * thread (stall compensation). The poll start publishes the poll in the
 * thread's own word and the poll end clears it and reads the core's claim
 * word; the monitor's claim fences every thread (membarrier) between its
 * claim store and its read of the poll's word, so exactly one side goes on
 * with the core, and a loser at the poll end takes the orphan path
 * (finish_orphan_poll) without touching the core again. The protocol and
 * its memory orderings are written out at the top of monitor.c.
 */
#include "internal.h"
#include "ctx.h"
#include "probes.h"
#include "sanitizer.h"
#include "registry.h"
#include "io.h"

#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define WF_STEAL_NEXT_NS 20000u	/* runnext is stealable after 20 us in a poll */
#define WF_STEAL_BATCH 16u	/* fewer in a queue: wait up to ... */
#define WF_STEAL_DEFER_NS 10000u	/* ... this long for more before taking them */
#define WF_MAX_NEXT_RUNS 3
#define WF_GLOBAL_INTERVAL CONFIG_WEFT_GLOBAL_QUEUE_INTERVAL

#define IDLE_SEARCH_ONE 1u
#define IDLE_UNPARK_ONE (1u << 16)
#define idle_searching(s) ((s)&0xffffu)
#define idle_unparked(s) ((s) >> 16)

/* --- thread-local state ---------------------------------------------------- */

#ifdef WF_TLS_FAST
__thread struct wf__thread *wf__tls_thread __attribute__((tls_model("initial-exec")));
intptr_t wf__tls_thread_off;

/* The offset is the same in every thread (static TLS): take it once, early. */
__attribute__((constructor)) static void tls_offset_init(void)
{
	wf__tls_thread_off = (intptr_t)((uintptr_t)&wf__tls_thread - wf__thread_pointer());
}
#define tls_thread wf__tls_thread
#else
static __thread struct wf__thread *tls_thread;

/*
 * Non-inlined, and opaque to the optimiser (the empty asm with a memory
 * clobber stops GCC and clang from deducing the function is pure), so every
 * call re-reads the TLS block of the thread it runs on.
 */
__attribute__((noinline)) struct wf__thread *wf__thread_cur(void)
{
	struct wf__thread *th = tls_thread;

	__asm__ volatile("" : "+r"(th) : : "memory");
	return th;
}
#endif

__attribute__((noinline)) void wf__thread_set(struct wf__thread *th)
{
	__asm__ volatile("" : : : "memory");
	if (th)
		th->errno_p = &errno;
	tls_thread = th;
}

__attribute__((noinline)) int *wf__errno_loc(void)
{
	int *p = &errno;

	__asm__ volatile("" : "+r"(p) : : "memory");
	return p;
}

uint64_t wf_now_ns(void)
{
	return wf__now();
}

/*
 * A recent time, cheaply: on a worker thread, the last poll boundary (its
 * worker reads the clock once per poll, the end of one poll being the
 * start of the next); elsewhere the clock itself. For bookkeeping
 * (scheduled-at, spawn times), never for deadlines.
 */
uint64_t wf__now_hint(void)
{
	struct wf__thread *th = wf__thread_cur();

	/*
	 * Inside a poll the last boundary is its start (kept per thread: the
	 * core may have been handed on meanwhile); elsewhere it may be stale.
	 */
	return th && th->current ? th->poll_start : wf__now();
}

/* --- futex ---------------------------------------------------------------- */

/*
 * Wait while *addr == val, until woken or CLOCK_MONOTONIC reaches
 * deadline_ns (UINT64_MAX: no deadline). Returns the value seen after.
 */
uint32_t wf__futex_wait(_Atomic uint32_t *addr, uint32_t val, uint64_t deadline_ns)
{
	struct timespec ts, *tsp = NULL;

	if (deadline_ns != UINT64_MAX) {
		ts.tv_sec = (time_t)(deadline_ns / 1000000000ull);
		ts.tv_nsec = (long)(deadline_ns % 1000000000ull);
		tsp = &ts;
	}
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. */
	syscall(SYS_futex, addr, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, val, tsp, NULL,
		FUTEX_BITSET_MATCH_ANY);
	return atomic_load(addr);
}

void wf__futex_wake(_Atomic uint32_t *addr, int n)
{
	syscall(SYS_futex, addr, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL, NULL, 0);
}

/* --- local run queue ------------------------------------------------------- */

static inline uint32_t fastrand(struct wf__worker *w)
{
	/* xorshift32: the victim choice only needs to be spread, not secure. */
	uint32_t x = w->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	w->rng = x;
	return x;
}

static inline uint32_t runq_len(struct wf__worker *w)
{
	return atomic_load_explicit(&w->tail, memory_order_acquire) -
	       atomic_load_explicit(&w->head, memory_order_acquire);
}

/* Caller holds inject_lock: room for n more, growing the ring if needed. */
static bool inject_reserve_locked(struct wf_runtime *rt, uint32_t n)
{
	uint32_t len = atomic_load_explicit(&rt->inj_len, memory_order_relaxed), cap;
	struct wf_task **ring;

	if (len + n <= rt->inj_cap)
		return true;
	cap = rt->inj_cap;
	while (cap < len + n)
		cap *= 2;
	ring = malloc(cap * sizeof(*ring));
	if (!ring)
		return false;
	for (uint32_t i = 0; i < len; i++)
		ring[i] = rt->inj_ring[(rt->inj_head + i) & (rt->inj_cap - 1)];
	free(rt->inj_ring);
	rt->inj_ring = ring;
	rt->inj_cap = cap;
	rt->inj_head = 0;
	return true;
}

/* Caller holds inject_lock and has reserved room. */
static inline void inject_append_locked(struct wf_runtime *rt, struct wf_task *t)
{
	uint32_t len = atomic_load_explicit(&rt->inj_len, memory_order_relaxed);

	rt->inj_ring[(rt->inj_head + len) & (rt->inj_cap - 1)] = t;
	atomic_store_explicit(&rt->inj_len, len + 1, memory_order_relaxed);
}

int wf__inject_init(struct wf_runtime *rt)
{
	rt->inj_cap = 1024;
	rt->inj_ring = malloc(rt->inj_cap * sizeof(*rt->inj_ring));
	return rt->inj_ring ? 0 : -ENOMEM;
}

/* Owner: move half the queue plus t to the inject queue. False if raced. */
static bool runq_put_slow(struct wf__worker *w, struct wf_task *t, uint32_t h, uint32_t tl)
{
	struct wf_task *batch[WF_LOCAL_QUEUE / 2 + 1];
	struct wf_runtime *rt = w->rt;
	uint32_t n = (tl - h) / 2;

	for (uint32_t i = 0; i < n; i++)
		batch[i] = atomic_load_explicit(&w->buf[(h + i) % WF_LOCAL_QUEUE],
						memory_order_relaxed);
	batch[n] = t;
	wf__spin_lock(&rt->inject_lock);
	if (!inject_reserve_locked(rt, n + 1)) {
		wf__spin_unlock(&rt->inject_lock);
		return false;	/* no memory: the caller retries (the queue drains) */
	}
	/* Pairs with the acquire loads of head in runq_get and runq_grab. */
	if (!atomic_compare_exchange_strong_explicit(&w->head, &h, h + n, memory_order_release,
						     memory_order_relaxed)) {
		wf__spin_unlock(&rt->inject_lock);
		return false;
	}
	for (uint32_t i = 0; i <= n; i++)
		inject_append_locked(rt, batch[i]);
	wf__spin_unlock(&rt->inject_lock);
	w->mb.overflows++;
	return true;
}

/* Owner: append t to the local queue (or overflow to the inject queue). */
static void runq_put(struct wf__worker *w, struct wf_task *t)
{
	for (;;) {
		/* Acquire pairs with stealers' release CAS of head: slots below
		 * head are free to reuse. */
		uint32_t h = atomic_load_explicit(&w->head, memory_order_acquire);
		uint32_t tl = atomic_load_explicit(&w->tail, memory_order_relaxed);

		if (tl - h < WF_LOCAL_QUEUE) {
			atomic_store_explicit(&w->buf[tl % WF_LOCAL_QUEUE], t,
					      memory_order_relaxed);
			/* Release: publishes the slot (and the task) to stealers. */
			atomic_store_explicit(&w->tail, tl + 1, memory_order_release);
			return;
		}
		if (runq_put_slow(w, t, h, tl))
			return;
	}
}

/* Owner: take the task at head, or NULL. */
/*
 * With many tasks (a thousand connections) the next ones' control blocks
 * and stack tops are cold: a cache and TLB miss each at the switch. The
 * owner asks for them while the task it just took runs: the control
 * block two ahead, the stack top one ahead (its sp, read as a hint: that
 * block was asked for one pop earlier). A stealer may take either
 * meanwhile; a prefetch of a stale address is harmless, and the racy sp
 * read is left out under ThreadSanitizer.
 */
static inline void runq_prefetch(struct wf__worker *w, uint32_t h, uint32_t tl)
{
	if (tl - h > 2)
		__builtin_prefetch(atomic_load_explicit(&w->buf[(h + 2) % WF_LOCAL_QUEUE],
							memory_order_relaxed));
#ifndef WF_TSAN_FIBERS
	if (tl - h > 1) {
		struct wf_task *n = atomic_load_explicit(&w->buf[(h + 1) % WF_LOCAL_QUEUE],
							 memory_order_relaxed);
		const char *sp = *(void *const volatile *)&n->sp;

		__builtin_prefetch(sp, 0);
		__builtin_prefetch(sp + 64, 0);
	}
#endif
}

static struct wf_task *runq_get(struct wf__worker *w)
{
	for (;;) {
		uint32_t h = atomic_load_explicit(&w->head, memory_order_acquire);
		uint32_t tl = atomic_load_explicit(&w->tail, memory_order_relaxed);
		struct wf_task *t;

		if (tl == h)
			return NULL;
		t = atomic_load_explicit(&w->buf[h % WF_LOCAL_QUEUE], memory_order_relaxed);
		if (atomic_compare_exchange_weak_explicit(&w->head, &h, h + 1,
							  memory_order_release,
							  memory_order_relaxed)) {
			runq_prefetch(w, h + 1, tl);
			return t;
		}
	}
}

/*
 * Stealer dst: copy half of src's queue into dst's buffer at dst_tail
 * (dst's queue is empty). Returns how many were taken. May take src's
 * runnext when src is stuck in a long poll.
 */
static uint32_t runq_grab(struct wf__worker *src, struct wf__worker *dst, uint32_t dst_tail,
			  uint64_t now)
{
	for (;;) {
		uint32_t h = atomic_load_explicit(&src->head, memory_order_acquire);
		uint32_t tl = atomic_load_explicit(&src->tail, memory_order_acquire);
		uint32_t n = tl - h;

		if (n && n < WF_STEAL_BATCH) {
			/*
			 * A few tasks: wait for more (see "Queues" above). The
			 * wait starts at the first such sighting; one older than
			 * twice the wait is from an earlier search.
			 */
			uint64_t since = dst->steal_defer_at;

			if (!since || now - since >= 2 * WF_STEAL_DEFER_NS) {
				dst->steal_defer_at = now;
				return 0;
			}
			if (now - since < WF_STEAL_DEFER_NS)
				return 0;
		}
		n -= n / 2;
		if (n == 0) {
			struct wf_task *nx = atomic_load_explicit(&src->runnext,
								  memory_order_acquire);
			uint64_t ps;

			if (!nx || !atomic_load_explicit(&src->in_poll, memory_order_acquire))
				return 0;
			ps = atomic_load_explicit(&src->poll_start_pub, memory_order_relaxed);
			if (now < ps + WF_STEAL_NEXT_NS)
				return 0;
			if (!atomic_compare_exchange_strong(&src->runnext, &nx, NULL))
				continue;
			atomic_store_explicit(&dst->buf[dst_tail % WF_LOCAL_QUEUE], nx,
					      memory_order_relaxed);
			return 1;
		}
		if (n > WF_LOCAL_QUEUE / 2)
			continue;	/* h and tl read at different times */
		for (uint32_t i = 0; i < n; i++) {
			struct wf_task *t = atomic_load_explicit(
				&src->buf[(h + i) % WF_LOCAL_QUEUE], memory_order_relaxed);

			atomic_store_explicit(&dst->buf[(dst_tail + i) % WF_LOCAL_QUEUE], t,
					      memory_order_relaxed);
		}
		/* Release: our copies are done before src may reuse the slots. */
		if (atomic_compare_exchange_weak_explicit(&src->head, &h, h + n,
							  memory_order_release,
							  memory_order_relaxed))
			return n;
	}
}

/* Stealer dst: steal half of src's work; returns one task to run now. */
static struct wf_task *runq_steal(struct wf__worker *dst, struct wf__worker *src, uint64_t now)
{
	uint32_t tl = atomic_load_explicit(&dst->tail, memory_order_relaxed);
	uint32_t n = runq_grab(src, dst, tl, now);
	struct wf_task *t;

	if (n == 0)
		return NULL;
	dst->steal_defer_at = 0;
	n--;
	t = atomic_load_explicit(&dst->buf[(tl + n) % WF_LOCAL_QUEUE], memory_order_relaxed);
	if (n)
		atomic_store_explicit(&dst->tail, tl + n, memory_order_release);
	dst->mb.steals += n + 1;
	dst->mb.steal_ops++;
	return t;
}

/* --- inject queue ----------------------------------------------------------- */

void wf__inject_push(struct wf_runtime *rt, struct wf_task *t)
{
	wf__spin_lock(&rt->inject_lock);
	while (!inject_reserve_locked(rt, 1)) {
		/* Out of memory growing the ring: wait for a worker to drain it. */
		wf__spin_unlock(&rt->inject_lock);
		usleep(1000);
		wf__spin_lock(&rt->inject_lock);
	}
	inject_append_locked(rt, t);
	wf__spin_unlock(&rt->inject_lock);
}

/*
 * Take a batch from the inject queue: one to run now, and up to a fair
 * share (len / workers + 1, at most half a local queue) into the local
 * queue, as Go's globrunqget does. The ring holds pointers, so taking a
 * batch touches no task (each is on its own stack page: a TLB miss).
 */
static struct wf_task *inject_pop(struct wf__worker *w, bool batch)
{
	struct wf_runtime *rt = w->rt;
	struct wf_task *t;
	uint32_t n, len, mask;

	if (atomic_load_explicit(&rt->inj_len, memory_order_relaxed) == 0)
		return NULL;
	wf__spin_lock(&rt->inject_lock);
	len = atomic_load_explicit(&rt->inj_len, memory_order_relaxed);
	if (len == 0) {
		wf__spin_unlock(&rt->inject_lock);
		return NULL;
	}
	n = batch ? len / rt->nworkers + 1 : 1;
	if (n > len)
		n = len;
	if (n > WF_LOCAL_QUEUE / 2)
		n = WF_LOCAL_QUEUE / 2;
	if (batch) {
		uint32_t room = WF_LOCAL_QUEUE - runq_len(w);

		if (n > room + 1)
			n = room + 1;
	}
	mask = rt->inj_cap - 1;
	t = rt->inj_ring[rt->inj_head & mask];
	for (uint32_t i = 1; i < n; i++)
		runq_put(w, rt->inj_ring[(rt->inj_head + i) & mask]);
	rt->inj_head = (rt->inj_head + n) & mask;
	atomic_store_explicit(&rt->inj_len, len - n, memory_order_relaxed);
	wf__spin_unlock(&rt->inject_lock);
	return t;
}

/* --- idle coordination ------------------------------------------------------ */

static void unpark(struct wf__worker *w)
{
	const struct wf__io_driver *io = w->rt->io;

	if (io) {
		/* Seq_cst exchange: pairs with the parker's re-read of park
		 * after each driver wait ("Why that wake-up is not lost"). */
		if (atomic_exchange(&w->park, WF_PARK_AWAKE) == WF_PARK_SLEEPING)
			io->unpark(w);
		return;
	}
	atomic_store(&w->park, WF_PARK_AWAKE);
	wf__futex_wake(&w->park, 1);
}

/*
 * Read idle_state after a full fence, so the caller's queue push is
 * ordered before it. ThreadSanitizer does not model fences, so its builds
 * use a seq_cst read-modify-write of idle_state instead (same guarantee,
 * but it bounces the cache line, so it is not the default).
 */
#if defined(__SANITIZE_THREAD__)
#define WF_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WF_TSAN 1
#endif
#endif

static inline uint32_t idle_state_after_fence(struct wf_runtime *rt)
{
#ifdef WF_TSAN
	return atomic_fetch_add(&rt->idle_state, 0);
#else
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load_explicit(&rt->idle_state, memory_order_relaxed);
#endif
}

/* Whether idle_state s asks for a worker to be woken: none searches, one sleeps. */
static inline bool notify_wanted(struct wf_runtime *rt, uint32_t s)
{
	return idle_searching(s) == 0 && idle_unparked(s) < rt->nworkers;
}

/* Wake one parked worker to search, unless someone searches already. */
void wf__notify_parked(struct wf_runtime *rt)
{
	struct wf__worker *v;
	uint32_t s;

	/* Pairs with park()'s RMW on idle_state: "Why no wake-up is lost". */
	s = idle_state_after_fence(rt);
	if (!notify_wanted(rt, s))
		return;
	pthread_mutex_lock(&rt->idle_lock);
	s = atomic_load(&rt->idle_state);
	if (idle_searching(s) != 0 || idle_unparked(s) >= rt->nworkers || !rt->nsleepers) {
		pthread_mutex_unlock(&rt->idle_lock);
		return;
	}
	v = &rt->workers[rt->sleepers[rt->nsleepers - 1]];
	if (v == wf__worker_cur()) {
		/*
		 * We are that sleeper: an I/O driver reaping completions inside
		 * our own park put the work on our queue, and park() stops as
		 * soon as it returns (it checks our queues). Unparking
		 * ourselves would cost an eventfd write and a re-armed read
		 * per completion: wake another sleeper, if any, to steal.
		 */
		if (rt->nsleepers == 1) {
			pthread_mutex_unlock(&rt->idle_lock);
			return;
		}
		rt->sleepers[rt->nsleepers - 1] = rt->sleepers[rt->nsleepers - 2];
		rt->sleepers[rt->nsleepers - 2] = (unsigned)v->index;
		v = &rt->workers[rt->sleepers[rt->nsleepers - 1]];
	}
	rt->nsleepers--;
	v->in_sleepers = false;
	v->searching = true;	/* v reads it only after its futex wait returns */
	atomic_fetch_add(&rt->idle_state, IDLE_UNPARK_ONE + IDLE_SEARCH_ONE);
	pthread_mutex_unlock(&rt->idle_lock);
	unpark(v);
}

/* Wake one specific worker if it is parked (pinned work arrived for it). */
static void unpark_worker(struct wf__worker *v)
{
	struct wf_runtime *rt = v->rt;
	bool wake = false;

	pthread_mutex_lock(&rt->idle_lock);
	if (v->in_sleepers) {
		for (unsigned i = 0; i < rt->nsleepers; i++) {
			if (rt->sleepers[i] == (unsigned)v->index) {
				rt->sleepers[i] = rt->sleepers[--rt->nsleepers];
				break;
			}
		}
		v->in_sleepers = false;
		atomic_fetch_add(&rt->idle_state, IDLE_UNPARK_ONE);
		wake = true;
	}
	pthread_mutex_unlock(&rt->idle_lock);
	if (wake)
		unpark(v);
}

void wf__unpark_all(struct wf_runtime *rt)
{
	for (unsigned i = 0; i < rt->nworkers; i++)
		unpark_worker(&rt->workers[i]);
}

static bool transition_to_searching(struct wf__worker *w)
{
	struct wf_runtime *rt = w->rt;
	uint32_t s;

	if (w->searching)
		return true;
	s = atomic_load_explicit(&rt->idle_state, memory_order_relaxed);
	if (2 * idle_searching(s) >= rt->nworkers)
		return false;
	atomic_fetch_add(&rt->idle_state, IDLE_SEARCH_ONE);
	w->searching = true;
	return true;
}

static void transition_from_searching(struct wf__worker *w)
{
	uint32_t prev;

	w->searching = false;
	prev = atomic_fetch_sub(&w->rt->idle_state, IDLE_SEARCH_ONE);
	if (idle_searching(prev) == 1)
		wf__notify_parked(w->rt);
}

/* Runnable work in w's local queue or next slot (any thread, racy). */
bool wf__worker_has_work(struct wf__worker *w)
{
	return runq_len(w) || atomic_load_explicit(&w->runnext, memory_order_relaxed);
}

/*
 * Work a searcher could take at time now: the inject queue, a local queue,
 * or a next slot its owner has sat on for WF_STEAL_NEXT_NS inside one poll.
 * A younger next slot is its owner's: it runs it as soon as its poll ends,
 * and a searcher that counted it would spin (and re-read the owner's hot
 * lines) for as long as a chain of spawns or a ping-pong keeps the slot
 * filled, instead of parking. If that poll then blocks, the slot becomes
 * stealable: a spinner still spinning takes it, else the monitor wakes a
 * worker for it (monitor.c, "stranded").
 */
static bool any_work(struct wf_runtime *rt, uint64_t now)
{
	if (atomic_load(&rt->inj_len))
		return true;
	for (unsigned i = 0; i < rt->nworkers; i++) {
		struct wf__worker *v = &rt->workers[i];

		if (runq_len(v))
			return true;
		if (atomic_load(&v->runnext) &&
		    atomic_load_explicit(&v->in_poll, memory_order_acquire) &&
		    now >= atomic_load_explicit(&v->poll_start_pub, memory_order_relaxed) +
				   WF_STEAL_NEXT_NS)
			return true;
	}
	return false;
}

/* --- waking tasks ------------------------------------------------------------ */

static void enqueue(struct wf_task *t)
{
	struct wf__thread *th = wf__thread_cur();
	struct wf__worker *w = wf__core_enter(th);	/* owner-only parts below */
	struct wf_runtime *rt = t->rt;

	if (unlikely(t->pinned)) {
		struct wf__worker *h = t->home;

		t->next = NULL;
		if (w == h) {
			if (h->pin_tail)
				h->pin_tail->next = t;
			else
				h->pin_head = t;
			h->pin_tail = t;
			wf__core_exit(th, w);
			return;
		}
		wf__core_exit(th, w);
		pthread_mutex_lock(&h->inbox_lock);
		if (h->inbox_tail)
			h->inbox_tail->next = t;
		else
			h->inbox_head = t;
		h->inbox_tail = t;
		atomic_fetch_add(&h->inbox_len, 1);
		pthread_mutex_unlock(&h->inbox_lock);
		unpark_worker(h);
		return;
	}
	if (w && w->rt == rt) {
		if (th->current) {
			/* Woken by the running task: the next slot. */
			struct wf_task *prev;

			/*
			 * Only the core's owner fills the slot, stealers only
			 * empty it: seen empty, it stays empty for a plain
			 * (release) store; taken, it needs the exchange.
			 */
			if (!atomic_load_explicit(&w->runnext, memory_order_relaxed)) {
				atomic_store_explicit(&w->runnext, t, memory_order_release);
				wf__core_exit(th, w);
				return;
			}
			prev = atomic_exchange(&w->runnext, t);
			if (!prev) {
				wf__core_exit(th, w);
				return;
			}
			runq_put(w, prev);
		} else {
			runq_put(w, t);
		}
	} else {
		wf__inject_push(rt, t);
	}
	wf__core_exit(th, w);
	wf__notify_parked(rt);
}

/*
 * wf__schedule - make t runnable (see "Run state" above). Any thread.
 * The caller must hold a reference that keeps t alive.
 */
void wf__schedule(struct wf_task *t)
{
	wf__schedule_at(t, 0);
}

/*
 * wf__schedule_at - as wf__schedule(), saying since when t has been
 * runnable (0: now). A timer that fires late passes its deadline, so the
 * lateness shows in the task's scheduled delay: it was runnable from then.
 */
void wf__schedule_at(struct wf_task *t, uint64_t since)
{
	uint32_t s = atomic_load(&t->sched);

	for (;;) {
		switch (s) {
		case WF_SCHED_IDLE:
			if (atomic_compare_exchange_weak(&t->sched, &s, WF_SCHED_QUEUED)) {
				uint64_t now = wf__now_hint();

				t->sched_at = since && since < now ? since : now;
				enqueue(t);
				return;
			}
			break;
		case WF_SCHED_RUNNING:
			if (atomic_compare_exchange_weak(&t->sched, &s, WF_SCHED_NOTIFIED))
				return;
			break;
		default:
			return;
		}
	}
}

/*
 * A new task spawned by a running task goes to the spawner's next slot, as
 * a woken one does (Go's newproc and Tokio do the same): a task that spawns
 * one child and then waits or exits hands the CPU straight to it, on the
 * same worker, without waking another. If the slot is taken, the new task
 * goes to the local queue, where idle workers may steal it. Spawned from
 * the scheduler itself or from outside, a task goes to the local queue or
 * the inject queue. t->sched is QUEUED already.
 */
void wf__spawn_enqueue(struct wf_task *t)
{
	struct wf__thread *th = wf__thread_cur();
	struct wf__worker *w;

	if (t->pinned) {
		atomic_store(&t->sched, WF_SCHED_IDLE);
		wf__schedule(t);
		return;
	}
	w = wf__core_enter(th);
	if (w && w->rt == t->rt) {
		/*
		 * Only into an empty slot: a task spawning in a loop must not
		 * bounce every child through the slot (one atomic exchange per
		 * spawn on a line stealers read), the rest go to the queue.
		 * An empty slot stays empty but for its owner, who is us: a
		 * release store, no RMW (see enqueue()).
		 */
		if (th->current && !atomic_load_explicit(&w->runnext, memory_order_relaxed)) {
			atomic_store_explicit(&w->runnext, t, memory_order_release);
			wf__core_exit(th, w);
			return;
		}
		runq_put(w, t);
	} else {
		wf__inject_push(t->rt, t);
	}
	wf__core_exit(th, w);
	wf__notify_parked(t->rt);
}

/* --- switching ------------------------------------------------------------------ */

/*
 * wf__switch_out - called by the running task t: save its context, give
 * the CPU back to its worker with reason kind, and return when some
 * worker (perhaps on another thread) resumes it. errno is the task's.
 */
void wf__switch_out(struct wf_task *t, int kind)
{
	struct wf__thread *th = wf__thread_cur();

	t->saved_errno = *th->errno_p;
	t->switch_kind = (uint8_t)kind;
	wf__san_start_switch(kind == WF_SW_DONE ? NULL : &t->san_fake, th->stack_lo, th->stack_sz,
			     th->san_fiber);
	wf__ctx_switch(&t->sp, th->sched_sp);
	/* Possibly another thread now: re-read everything thread-local. */
	wf__san_finish_switch(t->san_fake);
	*wf__thread_cur()->errno_p = t->saved_errno;
}

static void requeue_local(struct wf__worker *w, struct wf_task *t)
{
	atomic_store_explicit(&t->sched, WF_SCHED_QUEUED, memory_order_relaxed);
	t->sched_at = w->poll_end;
	/*
	 * Nothing else queued here: t would be the queue's only entry and the
	 * next one taken, so keep it in a private slot instead (no atomics,
	 * no wake-up of an idle worker for work this worker runs at once).
	 * next_task() takes it where runq_get() would have.
	 */
	if (!t->pinned && !w->again && !w->pin_head && !runq_len(w) &&
	    !atomic_load_explicit(&w->runnext, memory_order_relaxed)) {
		w->again = t;
		return;
	}
	if (t->pinned) {
		t->next = NULL;
		if (w->pin_tail)
			w->pin_tail->next = t;
		else
			w->pin_head = t;
		w->pin_tail = t;
		return;
	}
	runq_put(w, t);
	/*
	 * A hint without the fence: this worker is running and takes t
	 * itself if nobody else does, so a parked worker that misses this
	 * push costs parallelism for a moment, never liveness (Go's runqput
	 * works the same way). Saves a full fence per yield.
	 */
	if (notify_wanted(w->rt, atomic_load_explicit(&w->rt->idle_state, memory_order_relaxed)))
		wf__notify_parked(w->rt);
}

/*
 * The poll's thread lost its core while t ran (block_in_place, or the
 * monitor's stall compensation): finish the poll without touching the
 * core, which another thread drives now. A wake-up that came meanwhile
 * left t NOTIFIED (wf__schedule does not enqueue a running task), so the
 * failed RUNNING -> IDLE CAS below requeues it: never lost, never twice.
 */
static void finish_orphan_poll(struct wf__thread *th, struct wf_task *t, int worker,
			       uint64_t end)
{
	struct wf_runtime *rt = t->rt;
	uint32_t s = WF_SCHED_RUNNING;

	/*
	 * The poll's figures, while t is still ours (RUNNING): once it is
	 * IDLE or queued below, another thread may poll it and write them.
	 */
	wf__metrics_orphan_poll(t, worker, th->poll_start, end);
	WF_PROBE(poll_end, t->reg.id, worker, end - th->poll_start);
	switch (t->switch_kind) {
	case WF_SW_PARK:
		if (atomic_compare_exchange_strong(&t->sched, &s, WF_SCHED_IDLE))
			break;
		/* NOTIFIED while switching out: requeue, as for a yield. */
		__attribute__((fallthrough));
	case WF_SW_YIELD:
		atomic_store(&t->sched, WF_SCHED_QUEUED);
		t->sched_at = wf__now();
		if (t->pinned) {
			/*
			 * Pinned tasks never get here (block_in_place refuses
			 * them, the monitor never claims their polls); if one
			 * did, it goes back to its home core's inbox.
			 */
			atomic_store(&t->sched, WF_SCHED_IDLE);
			wf__schedule(t);
			break;
		}
		wf__inject_push(rt, t);
		wf__notify_parked(rt);
		break;
	case WF_SW_DONE:
		wf__task_finish(NULL, t);
		break;
	}
}

/*
 * Run one poll of t, starting at time start; its end time is left in
 * w->poll_end. Returns false if this thread lost its core meanwhile.
 */
static bool run_task(struct wf__thread *th, struct wf__worker *w, struct wf_task *t,
		     uint64_t start)
{
	uint64_t end;

	if (unlikely(!t->stk) && !wf__task_attach_stack(w, t)) {
		/* No stack to be had now (task.c): retry later, maybe elsewhere. */
		w->mb.stack_waits++;
		wf__inject_push(w->rt, t);
		w->poll_end = start;
		return true;
	}
	atomic_store_explicit(&t->sched, WF_SCHED_RUNNING, memory_order_relaxed);
	th->current = t;
	w->current = t;
	th->budget = (int)w->rt->budget;
	w->poll_start = start;
	w->tick++;
	atomic_store_explicit(&w->poll_start_pub, start, memory_order_relaxed);
	atomic_store_explicit(&w->in_poll, 1, memory_order_release);
	wf__reg_poll_begin(w, t, start);
	WF_PROBE(poll_start, t->reg.id, w->index, start - t->sched_at);
	th->poll_start = start;
	th->poll_tick = w->tick;
	wf__core_publish(th, w, t);	/* last write to w before the poll */

	wf__san_start_switch(&th->san_fake, (char *)t->stk - t->stk->size, t->stk->size,
			     t->san_fiber);
	wf__ctx_switch(&th->sched_sp, t->sp);
	wf__san_finish_switch(th->san_fake);

	end = wf__now();
	th->current = NULL;
	if (unlikely(!wf__core_poll_end(th, w))) {
		finish_orphan_poll(th, t, w->index, end);
		return false;
	}
	w->poll_end = end;
	atomic_store_explicit(&w->in_poll, 0, memory_order_release);
	wf__reg_state(w, WF_REG_W_SCHEDULING);
	w->current = NULL;
	t->last = w;
	wf__metrics_poll(w, t, start, end);
	WF_PROBE(poll_end, t->reg.id, w->index, end - start);

	switch (t->switch_kind) {
	case WF_SW_YIELD:
		requeue_local(w, t);
		break;
	case WF_SW_PARK: {
		uint32_t s = WF_SCHED_RUNNING;

		if (!atomic_compare_exchange_strong(&t->sched, &s, WF_SCHED_IDLE))
			requeue_local(w, t);	/* NOTIFIED while switching out */
		break;
	}
	case WF_SW_DONE:
		wf__task_finish(w, t);
		break;
	}
	return true;
}

/* --- finding work ------------------------------------------------------------------ */

static void drain_inbox(struct wf__worker *w)
{
	struct wf_task *h;

	pthread_mutex_lock(&w->inbox_lock);
	h = w->inbox_head;
	w->inbox_head = w->inbox_tail = NULL;
	atomic_store(&w->inbox_len, 0);
	pthread_mutex_unlock(&w->inbox_lock);
	while (h) {
		struct wf_task *n = h->next;

		h->next = NULL;
		if (w->pin_tail)
			w->pin_tail->next = h;
		else
			w->pin_head = h;
		w->pin_tail = h;
		h = n;
	}
}

static struct wf_task *pin_pop(struct wf__worker *w)
{
	struct wf_task *t = w->pin_head;

	if (t) {
		w->pin_head = t->next;
		if (!w->pin_head)
			w->pin_tail = NULL;
		t->next = NULL;
	}
	return t;
}

static inline __attribute__((always_inline)) struct wf_task *next_task(struct wf__worker *w,
									 unsigned *next_runs)
{
	struct wf_task *t;

	if (atomic_load_explicit(&w->inbox_len, memory_order_relaxed))
		drain_inbox(w);
	if (w->tick % WF_GLOBAL_INTERVAL == 0) {
		t = inject_pop(w, false);
		if (t) {
			w->mb.inject_polls++;
			return t;
		}
	}
	if (*next_runs < WF_MAX_NEXT_RUNS) {
		t = atomic_load_explicit(&w->runnext, memory_order_relaxed);
		if (t && atomic_compare_exchange_strong(&w->runnext, &t, NULL)) {
			(*next_runs)++;
			w->mb.next_hits++;
			return t;
		}
	}
	*next_runs = 0;
	if (w->pin_head && (w->tick & 1))
		return pin_pop(w);
	if (w->again) {
		t = w->again;
		w->again = NULL;
		return t;
	}
	t = runq_get(w);
	if (t)
		return t;
	if (w->pin_head)
		return pin_pop(w);
	/* runnext after its quota, before anything remote. */
	t = atomic_exchange(&w->runnext, NULL);
	if (t)
		return t;
	return inject_pop(w, true);
}

static struct wf_task *steal_work(struct wf__worker *w)
{
	struct wf_runtime *rt = w->rt;
	unsigned n = rt->nworkers, start;
	uint64_t now;

	if (n < 2 || !transition_to_searching(w))
		return inject_pop(w, true);
	wf__reg_state(w, WF_REG_W_SEARCHING);
	now = wf__now();
	start = fastrand(w) % n;
	for (unsigned i = 0; i < n; i++) {
		struct wf__worker *v = &rt->workers[(start + i) % n];
		struct wf_task *t;

		if (v == w)
			continue;
		t = runq_steal(w, v, now);
		if (t)
			return t;
	}
	return inject_pop(w, true);
}

/* --- parking --------------------------------------------------------------------- */

/*
 * Before parking, watch the queues for a short while (Go's spinning Ms do
 * the same). Parking and being woken again costs two futex system calls and
 * tens of microseconds on a VM; under a steady stream of spawns or messages
 * the next piece of work usually arrives sooner than that. Bounded by
 * WF_SPIN_NS, so an idle runtime still goes to sleep promptly.
 */
#ifndef WF_SPIN_NS
#define WF_SPIN_NS 20000u
#endif

static bool spin_for_work(struct wf__worker *w, uint64_t now)
{
	struct wf_runtime *rt = w->rt;
	uint64_t until = now + WF_SPIN_NS;

	if (!WF_SPIN_NS || rt->nworkers < 2 || atomic_load_explicit(&rt->stop, memory_order_relaxed))
		return false;
	for (unsigned i = 1;; i++) {
#if defined(__x86_64__)
		__builtin_ia32_pause();
#elif defined(__aarch64__)
		__asm__ volatile("yield" ::: "memory");
#endif
		if (i % 16)
			continue;
		now = wf__now();
		if (any_work(rt, now) || atomic_load_explicit(&w->inbox_len, memory_order_relaxed))
			return true;
		if (now >= until)
			return false;
	}
}


static void park(struct wf__worker *w, uint64_t limit)
{
	struct wf_runtime *rt = w->rt;
	bool last_searcher;
	uint64_t deadline, now;

	pthread_mutex_lock(&rt->idle_lock);
	if (w->searching) {
		uint32_t prev = atomic_fetch_sub(&rt->idle_state,
						 IDLE_UNPARK_ONE + IDLE_SEARCH_ONE);

		last_searcher = idle_searching(prev) == 1;
	} else {
		atomic_fetch_sub(&rt->idle_state, IDLE_UNPARK_ONE);
		last_searcher = false;
	}
	w->searching = false;
	atomic_store(&w->park, WF_PARK_SLEEPING);
	rt->sleepers[rt->nsleepers++] = (unsigned)w->index;
	w->in_sleepers = true;
	pthread_mutex_unlock(&rt->idle_lock);

	/*
	 * The seq_cst RMW on idle_state above orders our queue reads below
	 * after it; pairs with idle_state_after_fence() in notify.
	 */
	/*
	 * The inject queue is re-checked by every parker, not only by the
	 * last searcher: a runtime with one worker never searches (there is
	 * nobody to steal from), so without this a task pushed from outside
	 * between its last inject_pop() and the idle_state update above was
	 * left there while it slept (the pusher saw it unparked and woke
	 * nobody): "Why no wake-up is lost" above.
	 */
	if ((last_searcher && any_work(rt, wf__now())) || atomic_load(&rt->inj_len) ||
	    atomic_load(&w->inbox_len) || atomic_load(&rt->stop) || runq_len(w) ||
	    atomic_load(&w->runnext) || w->pin_head) {
		if (last_searcher)
			wf__notify_parked(rt);
		goto wake;
	}

	w->mb.parks++;
	wf__clock_resync();
	now = wf__now();
	wf__metrics_flush(w, now);
	wf__reg_state(w, WF_REG_W_PARKED);
	WF_PROBE(park, w->index);
	deadline = wf__timers_next(rt);
	if (limit < deadline)
		deadline = limit;
	/* Before the sleep: a peer's suspect poll for the monitor (monitor.c). */
	if (atomic_load_explicit(&w->hint_at, memory_order_relaxed) != UINT64_MAX)
		wf__monitor_hint(w, now, deadline);
	while (atomic_load(&w->park) == WF_PARK_SLEEPING) {
		if (rt->io) {
			rt->io->park(w, deadline);
			/* Completions woke tasks onto our queues: stop parking. */
			if (runq_len(w) || atomic_load(&w->runnext) || w->pin_head ||
			    atomic_load(&w->inbox_len))
				break;
		} else {
			wf__futex_wait(&w->park, WF_PARK_SLEEPING, deadline);
		}
		if (deadline != UINT64_MAX && wf__now() >= deadline)
			break;
	}
	WF_PROBE(unpark, w->index);
	wf__reg_state(w, WF_REG_W_SCHEDULING);
wake:
	pthread_mutex_lock(&rt->idle_lock);
	if (w->in_sleepers) {
		/* Timed out (or backed out): nobody took us off the list. */
		for (unsigned i = 0; i < rt->nsleepers; i++) {
			if (rt->sleepers[i] == (unsigned)w->index) {
				rt->sleepers[i] = rt->sleepers[--rt->nsleepers];
				break;
			}
		}
		w->in_sleepers = false;
		atomic_fetch_add(&rt->idle_state, IDLE_UNPARK_ONE);
	}
	atomic_store(&w->park, WF_PARK_AWAKE);
	pthread_mutex_unlock(&rt->idle_lock);
	wf__timers_run_all(w, wf__now());
}

/*
 * wf__worker_loop - drive th's core: run tasks until the runtime stops;
 * or, for the thread inside a current-thread runtime's block_on, until
 * @until has returned; or, with @drain_deadline (shutdown of a
 * current-thread runtime), until no task is left or that deadline passes.
 * Returns false when th lost its core in a poll (it must not touch it).
 */
bool wf__worker_loop(struct wf__thread *th, struct wf_task *until, uint64_t drain_deadline)
{
	struct wf__worker *w = th->core;
	struct wf_runtime *rt = w->rt;
	unsigned next_runs = 0;
	uint64_t now = wf__now();
	bool woke = false;

	atomic_store_explicit(&w->driver, th, memory_order_release);
	w->poll_end = now;
	for (;;) {
		struct wf_task *t;

		if (until && atomic_load_explicit(&until->done, memory_order_acquire))
			break;
		if (drain_deadline && (!wf__live_tasks(rt) || wf__now() >= drain_deadline))
			break;
		if (atomic_load_explicit(&rt->stop, memory_order_relaxed))
			break;
		t = next_task(w, &next_runs);
		if (!t && w->rt->io) {
			/* Out of local work: completions first, then steal. */
			wf__io_poll(w, true);
			t = next_task(w, &next_runs);
		}
		if (!t)
			t = steal_work(w);
		if (t) {
			if (w->searching)
				transition_from_searching(w);
			woke = false;
			/* One clock read per poll: this poll starts where the last ended. */
			if (!run_task(th, w, t, now))
				return false;	/* the core is someone else's now */
			now = w->poll_end;
			wf__monitor_peek(w, now);
			wf__io_poll(w, false);
			if (now >= atomic_load_explicit(&w->timers.next_ns, memory_order_relaxed))
				wf__timers_run(w, now);
			continue;
		}
		now = wf__now();
		w->poll_end = now;
		wf__timers_run_all(w, now);
		if (runq_len(w) || w->pin_head || atomic_load(&w->runnext))
			continue;
		if (spin_for_work(w, now))
			continue;
		if (w->rb_n) {
			/* Retire the batch before sleeping, then look again (live may be 0). */
			wf__retire_flush(w);
			continue;
		}
		if (woke)
			w->mb.noops++;	/* unparked, found nothing, parks again */
		park(w, drain_deadline ? drain_deadline : UINT64_MAX);
		wf__monitor_wake(rt);
		woke = true;
		now = wf__now();
		w->poll_end = now;
	}
	if (w->searching)
		transition_from_searching(w);
	wf__retire_flush(w);
	return true;
}
