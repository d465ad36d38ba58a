/* SPDX-License-Identifier: MIT */
/*
 * internal.h - libweft's private structures and the contracts between its
 * files. Nothing here is part of the public API.
 */
#ifndef WEFT_INTERNAL_H
#define WEFT_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <weft.h>
#include <weft/registry.h>

#include "metrics.h"

#define WF_CACHELINE 64
#define __wf_aligned __attribute__((aligned(WF_CACHELINE)))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define WF_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define WF_UNUSED __attribute__((unused))

#ifdef CONFIG_DEBUG
#include <stdio.h>
#include <stdlib.h>
#define WF_BUG_ON(c) \
	do { \
		if (unlikely(c)) { \
			fprintf(stderr, "weft: BUG at %s:%d: %s\n", __FILE__, __LINE__, #c); \
			abort(); \
		} \
	} while (0)
#else
#define WF_BUG_ON(c) ((void)0)
#endif

/* Local run queue capacity (power of two; the design fixes 256). */
#define WF_LOCAL_QUEUE 256u
#define WF_RETIRE_BATCH 32u	/* tasks of other shards retired in one lock hold */
#define WF_TLS_KEYS 64
#define WF_NAME_MAX 32
#define WF_MAX_WORKERS 1024

struct wf_runtime;
struct wf__worker;
struct stall_source;

/* --- spinlock --------------------------------------------------------- */

/*
 * For the runtime's short critical sections (queue and table updates, a
 * few dozen instructions, never a suspension): test-and-test-and-set, with
 * sched_yield() after a while so a preempted holder gets to run. A
 * contended pthread mutex costs a futex system call on each side; these
 * sections are far shorter than that. Acquire pairs with release.
 */
#include <sched.h>

typedef struct {
	uint32_t v;
} wf__spinlock;

static inline void wf__spin_lock(wf__spinlock *l)
{
	unsigned spins = 0;

	while (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE)) {
		while (__atomic_load_n(&l->v, __ATOMIC_RELAXED)) {
			if (++spins < 128) {
#if defined(__x86_64__)
				__builtin_ia32_pause();
#elif defined(__aarch64__)
				__asm__ volatile("yield" ::: "memory");
#endif
			} else {
				sched_yield();
			}
		}
	}
}

static inline void wf__spin_unlock(wf__spinlock *l)
{
	__atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
}

/* --- waiting ----------------------------------------------------------- */

/*
 * Every suspension of a task is a "wait" with a generation number. A task
 * starts one with wf__wait_prepare(), makes itself findable (a node in a
 * wait queue, a timer), then calls wf__wait(). Anyone may end it with
 * wf__wake(task, gen, reason); only the first call for a generation
 * succeeds, so a timeout, a cancel and a real wake-up can race freely and
 * a stale wake-up (an older generation) does nothing.
 *
 * t->wait packs (gen << 32 | state); state is WF_WAIT_PENDING while
 * waiting and the reason (one of WF_WOKEN_*) once ended.
 */
enum {
	WF_WAIT_PENDING = 0,
	WF_WOKEN_OK = 1,
	WF_WOKEN_TIMEOUT = 2,
	WF_WOKEN_CANCEL = 3,
	WF_WAIT_PENDING_NOCANCEL = 4,	/* pending, and cancellation does not end it */
};

/* A node in a wait queue; lives on the waiting task's stack. */
struct wf__waiter {
	struct wf__waiter *next, *prev;
	struct wf_task *task;
	uint32_t gen;
	bool linked;		/* in a queue; changed under that queue's lock */
	uintptr_t data;		/* primitive-specific payload */
	intptr_t result;	/* set by the waker for the waiter */
};

/* Intrusive doubly linked FIFO of waiters, protected by its owner's lock. */
struct wf__waitq {
	struct wf__waiter *head, *tail;
};

/* A timer entry (on the waiting task's stack, or in a primitive). */
struct wf__timer {
	struct wf__timer *next, *prev;
	uint64_t when;		/* deadline in wheel ticks */
	_Atomic int shard;	/* worker index whose wheel holds it, or -1 */
	uint8_t level, slot;	/* position; level 0xff: overflow list */
	struct wf_task *task;
	uint32_t gen;
};

/* --- tasks --------------------------------------------------------------- */

/* t->sched: who may touch the task's run state. */
enum {
	WF_SCHED_IDLE = 0,	/* suspended, in no queue */
	WF_SCHED_QUEUED = 1,	/* in exactly one run queue */
	WF_SCHED_RUNNING = 2,	/* a worker is running its poll */
	WF_SCHED_NOTIFIED = 3,	/* running, and woken meanwhile: requeue after */
	WF_SCHED_DONE = 4,	/* returned; never runs again */
};

/* Why a task switched back to its worker. */
enum {
	WF_SW_YIELD = 1,
	WF_SW_PARK = 2,
	WF_SW_DONE = 3,
};

/*
 * A task stack: one mapping [guard page][stack .........][struct wf__stack],
 * this header at its top, the stack growing down from it.
 */
struct wf__stack {
	void *map;			/* [map, map + map_size) */
	size_t map_size;
	size_t size;			/* usable bytes below the header */
	unsigned vg;			/* valgrind's id for the stack */
};

/*
 * Free stacks and free task control blocks are kept in two levels (task.c):
 * a pool per worker (owner only, no lock) and a cache per runtime (under
 * its spinlock), both arrays of pointers, moved between in batches.
 */
struct wf__pool {
	void **slot;
	unsigned len;
};

struct wf__cache {
	wf__spinlock lock;
	void **slot;
	_Atomic unsigned len;		/* readable without the lock: a hint */
};

struct wf_task {
	/* Hot: scheduler fields. */
	void *sp;			/* saved stack pointer while not running */
	struct wf_task *next;		/* link in the inject queue / pin lists */
	_Atomic uint32_t sched;		/* WF_SCHED_* */
	uint8_t switch_kind;		/* WF_SW_*, set by the task before a switch */
	uint8_t pinned;
	uint8_t in_block_on;		/* root task of a wf_block_on() */
	_Atomic uint64_t wait;		/* gen << 32 | state, see above */
	uint32_t wait_gen;		/* task-private counter */
	int saved_errno;
	_Atomic uint32_t cancelled;
	_Atomic int refs;		/* runtime's while alive + the handle's */
	_Atomic uint32_t done;		/* futex word: 1 once returned */
	_Atomic uint32_t thread_waiters;	/* a thread sleeps on done */
	/* Metrics: wake-ups won, counted by the waker next to `wait`. */
	_Atomic uint64_t wakes;
	struct wf__worker *last;	/* worker that ran the last poll */
	struct wf_runtime *rt;

	/* Join: one joiner at a time, under join_lock (a spinlock, sync_internal.h). */
	uint32_t join_lock;
	struct wf__waiter *joiner;

	/*
	 * Identity: id, name and spawn site live in the registry record
	 * (weft/registry.h); task_file() and task_line() read the site.
	 */
	struct wf_reg_task reg;
	struct wf__worker *home;	/* pinned tasks: the worker they stay on */
	_Atomic uint64_t self_wakes;	/* metrics: wake-ups by the task itself */

	/* Entry and result. */
	wf_task_fn fn;
	void *arg;
	void *result;

	/*
	 * Stack: taken at the first poll (or at spawn, see task.c), given
	 * back when the task returns. NULL before and after.
	 */
	struct wf__stack *stk;
	size_t stack_size;		/* usable bytes asked for */

	/* Slot in the runtime's task table (shard = worker index that spawned it). */
	uint32_t slot;
	int shard;

	void **tls;			/* WF_TLS_KEYS values, allocated on first set */
	void *san_fake;			/* ASan fake stack while switched out */
	void *san_fiber;		/* TSan fiber */

	/* Per-task metrics (written by whichever worker runs the poll). */
	uint64_t sched_at;		/* when it last became runnable */
	struct wf__task_metrics m;
};

/* The spawn site of t (its registry record keeps it). */
static inline const char *task_file(const struct wf_task *t)
{
	return (const char *)(uintptr_t)t->reg.file_addr;
}

static inline int task_line(const struct wf_task *t)
{
	return (int)t->reg.line;
}

/* --- workers --------------------------------------------------------------- */

/* Timer wheel of one worker (timer.c). */
#define WF_WHEEL_LEVELS 7
#define WF_WHEEL_SLOTS 64
#define WF_TICK_SHIFT 10	/* one tick = 1024 ns */

struct wf__wheel {
	uint64_t elapsed;		/* ticks processed up to */
	uint64_t occupied[WF_WHEEL_LEVELS];
	struct wf__timer *slots[WF_WHEEL_LEVELS][WF_WHEEL_SLOTS];
	struct wf__timer *overflow;	/* beyond the top level's range */
	size_t count;
};

struct wf__timer_shard {
	pthread_mutex_t lock;
	struct wf__wheel wheel;
	_Atomic uint64_t next_ns;	/* earliest deadline, UINT64_MAX if none */
};

/* Worker park states (futex word). */
enum {
	WF_PARK_AWAKE = 0,
	WF_PARK_SLEEPING = 1,
};

/*
 * A thread that runs tasks: a worker thread, a spare thread, or the caller
 * of wf_block_on() in a current-thread runtime. It drives one worker's
 * queues (its "core") at a time. The core can be handed to another thread
 * while this one is stuck inside a poll (block_in_place, and later stall
 * compensation); the poll's thread then finishes that poll without
 * touching the core again. So what belongs to the poll in progress (the
 * task, the scheduler context to return to, the budget) is per thread, and
 * the queues, timers, pools and metrics are per core.
 */
struct wf__thread {
	struct wf_runtime *rt;
	struct wf__worker *core;	/* core it drives; NULL once handed away */
	struct wf_task *current;	/* task in a poll on this thread, or NULL */
	void *sched_sp;			/* its scheduler context while a task runs */
	int budget;			/* operations left in this poll */
	pid_t tid;
	bool dedicated;			/* runtime-owned thread (worker or spare) */
	bool starting;			/* a spare not yet idle once (spare_lock) */
	int *errno_p;			/* its errno (internal.h, "Thread-local") */
	const void *stack_lo;		/* its own stack, for the sanitizers */
	size_t stack_sz;
	void *san_fake;
	void *san_fiber;
	pthread_t pthread;
	struct wf__thread *next_spare;	/* idle spares, under rt->spare_lock */
	struct wf__thread *next_all;	/* every dedicated thread, same lock */
	_Atomic uint32_t spare_wake;	/* futex: 1 when given a core or stopping */
	void *altstack;

	/* The poll in progress (private; see "Core ownership" in monitor.c). */
	uint64_t poll_start;		/* its start: wf__now_hint() inside it */
	uint32_t poll_tick;		/* its core's tick (mutex.c's poll identity) */
	uint64_t own_word;		/* what it published in own (below) */
	_Atomic uint64_t own;		/* "Core ownership": written by this thread only */
	unsigned core_nest;		/* depth of wf__core_enter() sections */
	int stall_slot;			/* its slot in the BPF stall source, -1 none */
};

struct wf__worker {
	/* Owner-only, hot. */
	struct wf_runtime *rt;
	struct wf_task *current;	/* informational: task in a poll on this core */
	/* Thread driving this core now; NULL while it is being handed over. */
	_Atomic(struct wf__thread *) driver;
	int index;
	uint32_t tick;
	uint32_t rng;
	bool searching;
	uint64_t steal_defer_at;	/* first sighting of a short queue (sched.c) */
	uint64_t poll_start;
	uint64_t poll_end;
	/*
	 * Next look at the other cores for the monitor (monitor.c, "Cadence"):
	 * written by the driver only, read by the monitor; UINT64_MAX: never.
	 */
	_Atomic uint64_t hint_at;
	struct wf_task *pin_head, *pin_tail;	/* local pinned FIFO */
	struct wf_task *again;		/* yielded with nothing else queued: runs next */
	struct wf__pool stacks;		/* CONFIG_WEFT_STACK_POOL free stacks */
	struct wf__pool tcbs;		/* as many free task control blocks */
	uint64_t id_next, id_end;	/* task ids reserved for this core's spawns */

	/* Local run queue (Go's runq): owner pushes at tail, anyone takes at head. */
	_Atomic uint32_t head __wf_aligned;
	_Atomic uint32_t tail;
	_Atomic(struct wf_task *) runnext;
	_Atomic(struct wf_task *) buf[WF_LOCAL_QUEUE];

	/* Wake-ups of pinned tasks from other threads. */
	pthread_mutex_t inbox_lock __wf_aligned;
	struct wf_task *inbox_head, *inbox_tail;
	_Atomic uint32_t inbox_len;

	/* Parking. */
	_Atomic uint32_t park __wf_aligned;	/* WF_PARK_*, futex word */
	bool in_sleepers;			/* under rt->idle_lock */
	_Atomic pid_t tid;
	_Atomic int stall_slot;			/* the driving thread's BPF stall slot, -1 */
	_Atomic uint32_t in_poll;		/* 1 while running a poll */
	_Atomic uint64_t poll_start_pub;	/* published for stealers */

	/*
	 * Core ownership during a poll (monitor.c, "Core ownership"): the
	 * monitor's claim on poll seq of this core, OWN_WORD(seq, index,
	 * CLAIMING/LOST/ABORTED), written by the monitor only. poll_seq is
	 * owner-only and moves with the core.
	 */
	_Atomic uint64_t claim;
	uint64_t poll_seq;
	_Atomic uint64_t handoffs;		/* stall hand-offs of this core */

	struct wf__timer_shard timers;
	struct wf_reg_worker *reg;	/* this worker's registry slot */
	void *io;			/* the I/O driver's per-worker state (io.h) */
	/*
	 * Owner-only: non-zero while the driver has work on this core that
	 * the worker loop must drive (io_uring: SQEs prepared and not yet
	 * reaped; epoll: always). 0: wf__io_poll() is skipped altogether.
	 */
	unsigned long io_pending;

	/*
	 * Task table shard: a dense array of task pointers (slots reused
	 * through a free list), not a list threaded through the tasks: each
	 * task sits on its own stack page, and linking through neighbours
	 * costs a TLB miss per spawn and exit. Iterate with
	 * wf__for_each_task() under tasks_lock.
	 */
	/*
	 * Tasks of another shard that returned here, to leave their shard's
	 * table in one batch (owner-only: task.c, wf__retire_flush).
	 */
	struct wf_task *rb[WF_RETIRE_BATCH];
	unsigned rb_n;
	int rb_shard;

	wf__spinlock tasks_lock __wf_aligned;
	struct wf_task **tasks;
	uint32_t tasks_len, tasks_cap;	/* slots in use up to len; capacity */
	uint32_t *tasks_free, tasks_nfree;
	_Atomic uint64_t live;

	/*
	 * Metrics: owner-private batch, published into pub (metrics.h). On
	 * a line of its own: written every poll, it must not share one with
	 * tasks_lock, which other workers take when tasks they ran return.
	 */
	struct wf__worker_batch mb __wf_aligned;
	struct wf__worker_pub mpub __wf_aligned;
};

/* --- the runtime ----------------------------------------------------------- */

struct wf_runtime {
	unsigned nworkers;
	int flavor;
	size_t stack_size;
	unsigned budget;
	char thread_name[16];
	struct wf__worker *workers;	/* array of nworkers */

	/* Global inject queue. */
	wf__spinlock inject_lock __wf_aligned;
	struct wf_task **inj_ring;	/* ring of task pointers, grows x2 */
	uint32_t inj_cap, inj_head;	/* capacity (power of 2), first index */
	_Atomic uint32_t inj_len;

	/*
	 * Idle coordination (Tokio's Idle): idle_state packs the number of
	 * searching workers (low 16 bits) and of unparked workers (high
	 * 16 bits). sleepers[] lists parked workers, under idle_lock.
	 */
	_Atomic uint32_t idle_state __wf_aligned;
	pthread_mutex_t idle_lock;
	unsigned *sleepers;
	unsigned nsleepers;

	_Atomic uint32_t shutdown;	/* no new tasks; cancel what is left */
	_Atomic uint32_t stop;		/* workers exit their loops */
	_Atomic uint32_t live_futex;	/* bumped when the last task exits */
	bool shut_done;
	struct wf_reg_runtime *reg;	/* registry record (registry.c) */

	struct wf__bpool *bpool;	/* blocking pool (blocking.c) */

	/* I/O driver (io.h), NULL when the runtime has none; its state. */
	const struct wf__io_driver *io;
	void *io_priv;
	unsigned io_found, io_used, io_entries;
	_Atomic uint64_t io_cancels, io_remote_cancels;
	_Atomic uint64_t io_ms_arms, io_ms_nobufs, io_ms_fallbacks;	/* io_ms.c */

	/* The monitor thread (monitor.c). */
	pthread_t monitor;
	bool monitor_running;
	_Atomic uint32_t monitor_stop;
	_Atomic uint32_t monitor_nap;	/* futex word of its timed sleep (monitor.c) */
	_Atomic uint32_t monitor_idle;	/* the monitor sleeps until a worker unparks
					   (futex word of that sleep) */
	_Atomic uint64_t monitor_unstrands;

	/* Shared stack cache (task.c). */
	struct wf__cache stack_cache;	/* CONFIG_WEFT_STACK_CACHE free stacks */
	struct wf__cache tcb_cache;	/* as many free task control blocks */
	_Atomic uint64_t bip_calls, bip_handoffs;

	/* Stall compensation (monitor.c). */
	bool stall_on;			/* fixed at creation */
	bool own_fenced;		/* the monitor fences with membarrier() */
	bool stall_bpf;			/* holds a reference on the BPF stall source */
	const struct stall_source *stall_src;	/* monitor.c, stall_source.h */
	int stall_bpf_err;		/* why not BPF: 0 or -errno (metrics) */
	_Atomic uint64_t stall_bpf_fallbacks;	/* BPF looks /proc answered */
	_Atomic uint64_t stall_blocked, stall_cpu, stall_capped;

	/* Dedicated threads: every one (joined at shutdown) and idle spares. */
	pthread_mutex_t spare_lock;
	struct wf__thread *threads;
	struct wf__thread *spares;
	unsigned nthreads;
	unsigned spare_cap;		/* most threads beyond the workers */
	unsigned spares_starting;	/* spares created, not yet idle (spare_lock) */
};

#define wf__for_each_task(s, i, t) \
	for (uint32_t i = 0; i < (s)->tasks_len; i++) \
		if (((t) = (s)->tasks[i]) != NULL)

/* --- cross-file functions -------------------------------------------------- */

/*
 * Thread-local state is reached only through these accessors: a task can
 * resume on another thread, and a TLS address or value cached by the
 * compiler across a switch would be the old thread's.
 *
 * wf__thread_cur() reads the thread pointer register (x86-64 %fs:0,
 * AArch64 TPIDR_EL0) with a volatile asm, which the compiler never merges
 * with another or moves across a call such as the context switch, and
 * loads the variable at its offset from it. The variable is initial-exec
 * (static TLS), so that offset is the same in every thread: computed once
 * (sched.c). Elsewhere it is a non-inlined function opaque to the
 * optimiser. A thread's errno address is kept in its wf__thread
 * (errno_p, set when the thread first runs tasks) for the same reason.
 */
#if defined(__x86_64__) || defined(__aarch64__)
#define WF_TLS_FAST 1
extern __thread struct wf__thread *wf__tls_thread __attribute__((tls_model("initial-exec")));
extern intptr_t wf__tls_thread_off;

static inline uintptr_t wf__thread_pointer(void)
{
	uintptr_t tp;

#if defined(__x86_64__)
	__asm__ volatile("mov %%fs:0, %0" : "=r"(tp));
#else
	__asm__ volatile("mrs %0, tpidr_el0" : "=r"(tp));
#endif
	return tp;
}

static inline struct wf__thread *wf__thread_cur(void)
{
	return *(struct wf__thread **)(wf__thread_pointer() + (uintptr_t)wf__tls_thread_off);
}
#else
struct wf__thread *wf__thread_cur(void);
#endif
void wf__thread_set(struct wf__thread *th);
int *wf__errno_loc(void);

/* The core driven by the calling thread, or NULL. */
static inline struct wf__worker *wf__worker_cur(void)
{
	struct wf__thread *th = wf__thread_cur();

	return th ? th->core : NULL;
}

/* The running task, or NULL (reads the thread state afresh every call). */
static inline struct wf_task *wf__task_cur(void)
{
	struct wf__thread *th = wf__thread_cur();

	return th ? th->current : NULL;
}

/*
 * Core sections (monitor.c, "Core ownership"). Task code that touches the
 * owner-only parts of its thread's core (local queue, next slot, pinned
 * FIFO, pools, metrics batch) does so between wf__core_enter(), which
 * returns the core or NULL when the monitor has taken it away, and
 * wf__core_exit(). Sections nest, never suspend and stay short: the
 * monitor cannot take the core while one is open. Outside a poll (the
 * scheduler's own context) they reduce to th->core.
 */
/* A poll thread's word (th->own): */
#define OWN_IN 1u		/* a poll runs; the monitor may claim it */
#define OWN_BUSY 2u		/* ... inside a core section: not claimable */
#define OWN_PINNED 5u		/* a pinned task's poll: never claimed */
/* A core's claim word (w->claim), written by the monitor: */
#define OWN_CLAIMING 3u		/* the monitor is claiming the poll */
#define OWN_LOST 4u		/* handed over: the poll's thread must let go */
#define OWN_ABORTED 6u		/* the claim failed: the poll goes on */
#define OWN_STATE_MASK 7u
#define OWN_PRIV 8u		/* flag: "again" or the pinned FIFO holds a task */
#define OWN_IDX_SHIFT 4
#define OWN_SEQ_SHIFT 14	/* 10 bits of core index: WF_MAX_WORKERS */
#define OWN_WORD(seq, idx, st) \
	((uint64_t)(seq) << OWN_SEQ_SHIFT | (uint64_t)(idx) << OWN_IDX_SHIFT | (st))

struct wf__worker *wf__core_enter_slow(struct wf__thread *th);
void wf__core_exit_slow(struct wf__thread *th, struct wf__worker *w);

static inline struct wf__worker *wf__core_enter(struct wf__thread *th)
{
	if (!th || !th->core || !th->current || !th->rt->stall_on)
		return th ? th->core : NULL;
	return wf__core_enter_slow(th);
}

static inline void wf__core_exit(struct wf__thread *th, struct wf__worker *w)
{
	if (w && th->current && th->rt->stall_on)
		wf__core_exit_slow(th, w);
}

/* sched.c */
void wf__schedule(struct wf_task *t);
void wf__schedule_at(struct wf_task *t, uint64_t since);
void wf__spawn_enqueue(struct wf_task *t);
void wf__switch_out(struct wf_task *t, int kind);
bool wf__worker_loop(struct wf__thread *th, struct wf_task *until, uint64_t drain_deadline);
int wf__core_handoff(struct wf__worker *w);
void wf__notify_parked(struct wf_runtime *rt);
void wf__unpark_all(struct wf_runtime *rt);
uint32_t wf__futex_wait(_Atomic uint32_t *addr, uint32_t val, uint64_t deadline_ns);
void wf__futex_wake(_Atomic uint32_t *addr, int n);
void wf__inject_push(struct wf_runtime *rt, struct wf_task *t);
int wf__inject_init(struct wf_runtime *rt);

/* wait.c */
uint32_t wf__wait_prepare(struct wf_task *t);
int wf__wait(struct wf_task *t, uint32_t gen, uint64_t deadline_ns);
uint32_t wf__wait_prepare_nocancel(struct wf_task *t);
void wf__wait_nocancel(struct wf_task *t);
bool wf__wait_claim_nocancel(struct wf_task *t, uint32_t gen);
bool wf__wake(struct wf_task *t, uint32_t gen, int reason);
bool wf__wake_at(struct wf_task *t, uint32_t gen, int reason, uint64_t since);
bool wf__wait_claim(struct wf_task *t, uint32_t gen);
int wf__coop(void);
void wf__waitq_push(struct wf__waitq *q, struct wf__waiter *w);
void wf__waitq_remove(struct wf__waitq *q, struct wf__waiter *w);
struct wf__waiter *wf__waitq_pop(struct wf__waitq *q);

/* Reason code of a finished wait as a return value: 0 or -errno. */
static inline int wf__wait_errno(int reason)
{
	return reason == WF_WOKEN_OK ? 0 : reason == WF_WOKEN_TIMEOUT ? -ETIMEDOUT : -ECANCELED;
}

/* timer.c */
void wf__timers_init(struct wf__timer_shard *s);
void wf__timers_destroy(struct wf__timer_shard *s);
int wf__timer_arm(struct wf__worker *w, struct wf__timer *tm, uint64_t deadline_ns,
		  struct wf_task *t, uint32_t gen);
int wf__timer_arm_task(struct wf_task *t, struct wf__timer *tm, uint64_t deadline_ns,
		       uint32_t gen);
void wf__timer_disarm(struct wf_runtime *rt, struct wf__timer *tm);
unsigned wf__timers_run(struct wf__worker *w, uint64_t now_ns);
uint64_t wf__timers_next(struct wf_runtime *rt);
void wf__timers_run_all(struct wf__worker *self, uint64_t now_ns);

/* task.c */
void wf__task_release(struct wf_task *t);
void wf__task_finish(struct wf__worker *w, struct wf_task *t);
bool wf__task_attach_stack(struct wf__worker *w, struct wf_task *t);
void wf__stack_pool_drain(struct wf__worker *w);
void wf__stack_cache_drain(struct wf_runtime *rt);
int wf__stack_cache_init(struct wf_runtime *rt);
void wf__cancel_all(struct wf_runtime *rt);
uint64_t wf__live_tasks(struct wf_runtime *rt);
/* Owner of core w: retire the tasks of other shards it batched (task.c). */
void wf__retire_flush(struct wf__worker *w);
int wf__spawn(struct wf_task **tp, struct wf_runtime *rt, wf_task_fn fn, void *arg,
	      const struct wf_spawn_opts *opts, const char *file, int line, bool root);
void wf__stack_guard_init(void);
void wf__free_leftover_tasks(struct wf_runtime *rt);
void wf__tls_run_dtors(struct wf_task *t);

/* monitor.c */
void wf__monitor_prepare(struct wf_runtime *rt);
int wf__stall_source_init(struct wf_runtime *rt, int want);
void wf__stall_source_fini(struct wf_runtime *rt);
const char *wf__stall_source_name(const struct wf_runtime *rt);
void wf__stall_thread_start(struct wf__thread *th);
void wf__stall_thread_stop(struct wf__thread *th);
int wf__monitor_start(struct wf_runtime *rt);
void wf__monitor_stop(struct wf_runtime *rt);
void wf__monitor_wake_slow(struct wf_runtime *rt);

/* A worker left park(): wake the monitor if it sleeps for want of work. */
static inline void wf__monitor_wake(struct wf_runtime *rt)
{
	if (atomic_load(&rt->monitor_idle))
		wf__monitor_wake_slow(rt);
}
void wf__monitor_hint(struct wf__worker *w, uint64_t now, uint64_t park_until);

/*
 * After a poll that ended at @now: at most once per millisecond, look at
 * the other cores for a suspect poll the monitor should see (monitor.c,
 * "Cadence"). A load and a compare on the poll path (the word is written
 * by this thread only: relaxed, a plain mov).
 */
static inline void wf__monitor_peek(struct wf__worker *w, uint64_t now)
{
	if (unlikely(now >= atomic_load_explicit(&w->hint_at, memory_order_relaxed)))
		wf__monitor_hint(w, now, 0);
}
bool wf__worker_has_work(struct wf__worker *w);
bool wf__core_poll_lost(struct wf__thread *th, struct wf__worker *w);

/*
 * The two halves of a poll thread's step in "Core ownership" (monitor.c):
 * publish its word, then read its core's claim word. With the monitor's
 * membarrier() (rt->own_fenced) a plain store and load; without, both
 * sequentially consistent (the store is then an xchg on x86).
 */
static inline void wf__own_post(struct wf__thread *th, uint64_t word, bool fenced)
{
	if (fenced)
		atomic_store_explicit(&th->own, word, memory_order_relaxed);
	else
		atomic_store_explicit(&th->own, word, memory_order_seq_cst);
}

static inline uint64_t wf__claim_read(struct wf__worker *w, bool fenced)
{
	return fenced ? atomic_load_explicit(&w->claim, memory_order_acquire)
		      : atomic_load_explicit(&w->claim, memory_order_seq_cst);
}

/*
 * Whether claim word c concerns th's current poll: a claim on it, or on a
 * later poll of the same core (only another driver can have run one).
 */
static inline bool wf__claim_mine(struct wf__thread *th, uint64_t c)
{
	return c >> OWN_SEQ_SHIFT >= th->own_word >> OWN_SEQ_SHIFT;
}

bool wf__core_claimed(struct wf__thread *th, struct wf__worker *w, uint64_t c);

/* Poll start (scheduler context): publish this poll; see "Core ownership". */
static inline void wf__core_publish(struct wf__thread *th, struct wf__worker *w,
				    struct wf_task *t)
{
	uint64_t seq = ++w->poll_seq;

	th->core_nest = 0;
	th->own_word = t->pinned ? OWN_WORD(seq, w->index, OWN_PINNED)
				 : OWN_WORD(seq, w->index, OWN_IN) |
					   (w->again || w->pin_head ? OWN_PRIV : 0);
	if (w->rt->stall_on)
		/* Release: the scheduler's writes to w come before a claim. */
		atomic_store_explicit(&th->own, th->own_word, memory_order_release);
}

/* Poll end: true if th still drives w, false if it lost w. */
static inline bool wf__core_poll_end(struct wf__thread *th, struct wf__worker *w)
{
	struct wf_runtime *rt = w->rt;
	uint64_t c;

	if (unlikely(th->core != w))
		return wf__core_poll_lost(th, w);
	if (!rt->stall_on)
		return true;
	/* [own = 0; read claim] against the monitor's [claim; fence; read own]. */
	wf__own_post(th, 0, rt->own_fenced);
	c = wf__claim_read(w, rt->own_fenced);
	if (likely(!wf__claim_mine(th, c)))
		return true;
	return wf__core_claimed(th, w, c);
}

/* runtime.c */
struct wf__thread *wf__spare_reserve(struct wf_runtime *rt, bool *capped);
void wf__spare_unreserve(struct wf_runtime *rt, struct wf__thread *sp);
void wf__spare_prewarm(struct wf_runtime *rt);
void wf__spare_give(struct wf__thread *sp, struct wf__worker *w);

/* blocking.c */
int wf__bpool_init(struct wf_runtime *rt, const struct wf_runtime_opts *o);
void wf__bpool_shutdown(struct wf_runtime *rt);
void wf__bpool_join(struct wf_runtime *rt);
void wf__bpool_free(struct wf_runtime *rt);

/* registry.c */
int wf__reg_runtime_add(struct wf_runtime *rt);
void wf__reg_runtime_del(struct wf_runtime *rt);

/* metrics.c */
void wf__metrics_flush(struct wf__worker *w, uint64_t now);
void wf__metrics_poll(struct wf__worker *w, struct wf_task *t, uint64_t start, uint64_t end);
void wf__metrics_orphan_poll(struct wf_task *t, int worker, uint64_t start, uint64_t end);

/* clock.c: CLOCK_MONOTONIC in ns, from the CPU counter where it is invariant. */
void wf__clock_init(void);
void wf__clock_resync(void);
uint64_t wf__now(void);
uint64_t wf__now_hint(void);

#endif /* WEFT_INTERNAL_H */
