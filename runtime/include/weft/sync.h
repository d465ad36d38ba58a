/* SPDX-License-Identifier: MIT */
/*
 * weft/sync.h - synchronisation between tasks: mutex, reader-writer lock,
 * counting semaphore, barrier and task groups.
 *
 * Every primitive here is for tasks: a call that has to wait suspends the
 * calling task and lets its worker run others; it never blocks the worker
 * thread. Common rules (docs/sync.md has the full reference):
 *   - A call that may suspend returns -EPERM outside a task and first
 *     spends one unit of the poll's cooperative budget (it may yield).
 *   - Each has an *_until variant with an absolute CLOCK_MONOTONIC
 *     deadline (WF_FOREVER: none) that returns -ETIMEDOUT.
 *   - A cancelled task gets -ECANCELED, from the call it is waiting in or
 *     from its next one. A waiter that times out or is cancelled leaves
 *     the primitive as if it had never waited: no permit, lock or wake-up
 *     is lost; what it was about to receive goes to the next waiter.
 *   - Waiters are served in FIFO order.
 *   - NULL or out-of-range arguments give -EINVAL.
 *   - Each type has a static initialiser (WF_MUTEX_INIT, ...), an init
 *     function and a destroy function, which returns -EBUSY while the
 *     object is in use. None of them allocates.
 *
 * The structures are public so they can be embedded and statically
 * initialised; their fields are private (accessed atomically inside the
 * library): use the functions.
 */
#ifndef WEFT_SYNC_H
#define WEFT_SYNC_H

#include <stdint.h>
#include <weft/task.h>
#include <weft/time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Private: a FIFO of waiting tasks; every primitive has one. */
struct wf__waiter;
struct wf__syncq {
	struct wf__waiter *head, *tail;
};

/* --- mutex ------------------------------------------------------------------- */

/*
 * A FIFO-fair mutex for tasks. Uncontended lock and unlock are one atomic
 * compare-and-swap each. Once a task waits, unlock hands the mutex
 * directly to the longest waiter: nobody can barge in ahead of it.
 * The mutex keeps statistics (struct wf_mutex_stats): hold and wait times
 * and how often it was held across a suspension of its owner, the
 * pattern that turns a mutex into a latency problem in async code.
 */
typedef struct wf_mutex {
	uint32_t state;			/* private: see runtime/src/mutex.c */
	uint32_t spin;
	struct wf__syncq q;
	wf_task *owner;
	uint64_t acq_ns;
	const void *acq_worker;
	uint32_t acq_tick;
	uint32_t nwait;
	uint64_t acquisitions, contended;
	uint64_t hold_total_ns, hold_max_ns;
	uint64_t wait_total_ns, wait_max_ns;
	uint64_t held_across_suspend;
} wf_mutex;

#define WF_MUTEX_INIT { .state = 0 }

struct wf_mutex_stats {
	uint64_t acquisitions;		/* successful lock, lock_until, try_lock */
	uint64_t contended;		/* of which had to wait */
	uint64_t hold_total_ns;		/* lock to unlock, summed */
	uint64_t hold_max_ns;
	uint64_t wait_total_ns;		/* time spent waiting, contended ones */
	uint64_t wait_max_ns;
	uint64_t held_across_suspend;	/* unlocked in a later poll than locked */
	uint32_t waiters;		/* tasks waiting now */
	uint32_t locked;		/* 1 if held now */
};

/* wf_mutex_init - initialise @m unlocked with zero statistics. Returns 0, -EINVAL. */
int wf_mutex_init(wf_mutex *m);

/*
 * wf_mutex_destroy - check that @m is unused. Returns 0; -EBUSY while it
 * is locked or has waiters; -EINVAL for NULL. There is nothing to free.
 */
int wf_mutex_destroy(wf_mutex *m);

/*
 * wf_mutex_lock - lock @m, suspending the calling task while another task
 * holds it. Waiters get the mutex in the order they asked for it.
 * Returns 0 with the mutex held; -EDEADLK when the caller already holds
 * it; -ECANCELED when the task is (or gets) cancelled, without the mutex;
 * -EPERM outside a task; -EINVAL for NULL.
 */
int wf_mutex_lock(wf_mutex *m);

/* wf_mutex_lock() with an absolute CLOCK_MONOTONIC deadline: -ETIMEDOUT. */
int wf_mutex_lock_until(wf_mutex *m, uint64_t deadline_ns);

/*
 * wf_mutex_try_lock - lock @m if that needs no waiting: it is free and no
 * task waits for it. Never suspends, ignores cancellation. Returns 0 with
 * the mutex held; -EBUSY otherwise (also when the caller holds it);
 * -EPERM outside a task; -EINVAL for NULL.
 */
int wf_mutex_try_lock(wf_mutex *m);

/*
 * wf_mutex_unlock - release @m; if tasks wait, the first of them becomes
 * the owner. Returns 0; -EPERM when the calling task does not hold @m
 * (or outside a task); -EINVAL for NULL.
 */
int wf_mutex_unlock(wf_mutex *m);

/*
 * wf_mutex_stats - copy @m's statistics into @st. Callable from any
 * thread at any time; counters are read one by one, not as a snapshot.
 * Returns 0; -EINVAL for NULL.
 */
int wf_mutex_stats(const wf_mutex *m, struct wf_mutex_stats *st);

/* --- reader-writer lock ----------------------------------------------------- */

/*
 * Any number of readers or one writer. Writer-preferring and FIFO: a task
 * that waits (reader or writer) makes every later arrival queue behind it,
 * so a stream of readers cannot starve a writer. When a writer leaves,
 * the waiters at the head of the queue are let in: one writer, or every
 * reader up to the next waiting writer.
 */
typedef struct wf_rwlock {
	uint32_t spin;			/* private: see runtime/src/rwlock.c */
	uint32_t readers;
	wf_task *writer;
	struct wf__syncq q;
	uint32_t nwait;
} wf_rwlock;

#define WF_RWLOCK_INIT { .spin = 0 }

/* Returns 0, -EINVAL for NULL. */
int wf_rwlock_init(wf_rwlock *l);

/* Returns 0; -EBUSY while held or waited on; -EINVAL for NULL. */
int wf_rwlock_destroy(wf_rwlock *l);

/*
 * wf_rwlock_read_lock - take @l shared. Suspends while a writer holds it
 * or any task waits for it. Returns 0; -EDEADLK when the caller holds it
 * for writing; -EAGAIN when 2^32-1 readers hold it; -ECANCELED; -EPERM
 * outside a task; -EINVAL for NULL.
 */
int wf_rwlock_read_lock(wf_rwlock *l);

/* wf_rwlock_read_lock() with a deadline: -ETIMEDOUT. */
int wf_rwlock_read_lock_until(wf_rwlock *l, uint64_t deadline_ns);

/*
 * Take @l shared if that needs no waiting. Never suspends. Returns 0;
 * -EBUSY; -EAGAIN (too many readers); -EPERM outside a task; -EINVAL.
 */
int wf_rwlock_try_read_lock(wf_rwlock *l);

/*
 * wf_rwlock_write_lock - take @l exclusively. Suspends while it is held
 * or other tasks wait before the caller. Returns 0; -EDEADLK when the
 * caller holds it for writing; -ECANCELED; -EPERM outside a task;
 * -EINVAL for NULL.
 */
int wf_rwlock_write_lock(wf_rwlock *l);

/* wf_rwlock_write_lock() with a deadline: -ETIMEDOUT. */
int wf_rwlock_write_lock_until(wf_rwlock *l, uint64_t deadline_ns);

/* Take @l exclusively if that needs no waiting. 0; -EBUSY; -EPERM; -EINVAL. */
int wf_rwlock_try_write_lock(wf_rwlock *l);

/*
 * wf_rwlock_read_unlock - release a shared hold. Readers are not tracked
 * one by one: any task may release a read hold another took. Returns 0;
 * -EPERM when no reader holds @l; -EINVAL for NULL.
 */
int wf_rwlock_read_unlock(wf_rwlock *l);

/* Release the write hold. 0; -EPERM when the caller is not the writer; -EINVAL. */
int wf_rwlock_write_unlock(wf_rwlock *l);

/* Number of tasks waiting for @l now (a hint); -EINVAL for NULL. */
int wf_rwlock_waiters(const wf_rwlock *l);

/* --- semaphore ---------------------------------------------------------------- */

/*
 * A counting semaphore. Strictly FIFO, as Tokio's: a request that cannot
 * be met makes later requests wait too, even smaller ones that could be,
 * so a large request is never starved by a stream of small ones.
 */
typedef struct wf_sem {
	uint32_t spin;			/* private: see runtime/src/sem.c */
	uint32_t nwait;
	uint64_t permits;
	struct wf__syncq q;
} wf_sem;

/* Largest number of permits a semaphore can hold. */
#define WF_SEM_MAX ((uint64_t)INT64_MAX)

#define WF_SEM_INIT(n) { .permits = (n) }

/* Start with @permits (at most WF_SEM_MAX). Returns 0, -EINVAL. */
int wf_sem_init(wf_sem *s, uint64_t permits);

/* Returns 0; -EBUSY while tasks wait on @s; -EINVAL for NULL. */
int wf_sem_destroy(wf_sem *s);

/*
 * wf_sem_acquire - take @n permits, suspending until they are available
 * and every earlier waiter has been served. Taking 0 permits only waits
 * for one's turn. Returns 0; -ECANCELED (no permit taken); -EPERM outside
 * a task; -EINVAL for NULL or @n > WF_SEM_MAX.
 */
int wf_sem_acquire(wf_sem *s, uint64_t n);

/* wf_sem_acquire() with a deadline: -ETIMEDOUT (no permit taken). */
int wf_sem_acquire_until(wf_sem *s, uint64_t n, uint64_t deadline_ns);

/*
 * Take @n permits if they are available and nobody waits. Never suspends;
 * callable from any thread. Returns 0; -EAGAIN; -EINVAL.
 */
int wf_sem_try_acquire(wf_sem *s, uint64_t n);

/*
 * wf_sem_release - add @n permits and wake the waiters they satisfy, in
 * order. Never suspends; callable from any thread. Returns 0; -EOVERFLOW
 * when the count would pass WF_SEM_MAX (nothing added); -EINVAL for NULL.
 */
int wf_sem_release(wf_sem *s, uint64_t n);

/* Permits available now (waiters not subtracted); -EINVAL for NULL. */
int64_t wf_sem_available(const wf_sem *s);

/* Number of tasks waiting on @s now (a hint); -EINVAL for NULL. */
int wf_sem_waiters(const wf_sem *s);

/* --- barrier ----------------------------------------------------------------- */

/*
 * A reusable barrier for a fixed number of tasks. Each group of @parties
 * arrivals is a generation: the last to arrive releases the others and
 * is the generation's leader.
 */
typedef struct wf_barrier {
	uint32_t spin;			/* private: see runtime/src/barrier.c */
	uint32_t parties;
	uint32_t arrived;
	uint32_t gen;
	struct wf__syncq q;
} wf_barrier;

#define WF_BARRIER_INIT(n) { .parties = (n) }

/* A barrier for @parties tasks (at least 1). Returns 0, -EINVAL. */
int wf_barrier_init(wf_barrier *b, unsigned parties);

/* Returns 0; -EBUSY while tasks wait at @b; -EINVAL for NULL. */
int wf_barrier_destroy(wf_barrier *b);

/*
 * wf_barrier_wait - arrive at @b and wait for the rest of the generation.
 * Returns 1 to exactly one task per generation (the last to arrive), 0 to
 * the others; -ECANCELED or -ETIMEDOUT when the caller gave up before the
 * generation completed: it is then no longer counted as arrived; -EPERM
 * outside a task; -EINVAL for NULL or an uninitialised barrier.
 */
int wf_barrier_wait(wf_barrier *b);

/* wf_barrier_wait() with a deadline. */
int wf_barrier_wait_until(wf_barrier *b, uint64_t deadline_ns);

/* Number of tasks waiting at @b now (a hint); -EINVAL for NULL. */
int wf_barrier_waiters(const wf_barrier *b);

/* --- task groups ---------------------------------------------------------------- */

/*
 * A task group: structured concurrency. Spawn tasks into a group, then
 * wait for all of them or cancel all of them. The group owns its members'
 * handles (members are detached as they finish, their results are
 * dropped). The group must stay valid until every member has finished:
 * wf_group_wait() returning 0 or -ECANCELED guarantees that, and
 * wf_group_destroy() says -EBUSY before.
 */
struct wf__group_member;
typedef struct wf_group {
	uint32_t spin;			/* private: see runtime/src/group.c */
	uint32_t cancelled;
	uint32_t running;
	uint32_t nwait;
	struct wf__group_member *members;
	struct wf__syncq q;
	uint64_t spawned, finished, ncancelled;
} wf_group;

#define WF_GROUP_INIT { .spin = 0 }

struct wf_group_stats {
	uint64_t spawned;		/* members ever spawned */
	uint64_t finished;		/* members that returned */
	uint64_t cancelled;		/* of which had been cancelled */
	uint32_t running;		/* members not finished (or being spawned) */
	uint32_t waiters;		/* tasks in wf_group_wait() */
	uint32_t group_cancelled;	/* 1 after wf_group_cancel() */
};

/* Initialise an empty group. Returns 0, -EINVAL. */
int wf_group_init(wf_group *g);

/* Returns 0; -EBUSY while members run or tasks wait; -EINVAL for NULL. */
int wf_group_destroy(wf_group *g);

/*
 * wf_group_spawn_at - spawn a member of @g running @fn(@arg), as
 * wf_spawn_at() does (same @opts, same spawn site rules). Use the
 * wf_group_spawn* macros, which record the spawn site. Callable while
 * other tasks wait on @g (they then wait for the new member too) and from
 * outside a task (opts->rt is then required).
 * Returns 0; -ECANCELED once the group has been cancelled; -ENOMEM;
 * -EAGAIN with 2^32-1 members running; and wf_spawn_at()'s errors
 * (-EINVAL, -ESHUTDOWN).
 */
int wf_group_spawn_at(wf_group *g, wf_task_fn fn, void *arg, const struct wf_spawn_opts *opts,
		      const char *file, int line);

#define wf_group_spawn(g, fn, arg) wf_group_spawn_at(g, fn, arg, NULL, __FILE__, __LINE__)
#define wf_group_spawn_opts(g, fn, arg, opts) \
	wf_group_spawn_at(g, fn, arg, opts, __FILE__, __LINE__)
#define wf_group_spawn_named(g, task_name, fn, arg) \
	wf_group_spawn_at(g, fn, arg, &(const struct wf_spawn_opts){ .name = (task_name) }, \
			  __FILE__, __LINE__)

/*
 * wf_group_wait - wait until every member of @g has finished (members
 * spawned meanwhile included). Returns 0 then (wf_group_stats() tells how
 * many were cancelled). If the caller is cancelled, it cancels every
 * member and still waits for them to finish (until the deadline, for the
 * _until form), then returns -ECANCELED: a cancelled task does not leave
 * running children behind. -EDEADLK when called by a member of @g;
 * -EPERM outside a task; -EINVAL for NULL.
 */
int wf_group_wait(wf_group *g);

/* wf_group_wait() with a deadline: -ETIMEDOUT while members still run. */
int wf_group_wait_until(wf_group *g, uint64_t deadline_ns);

/*
 * wf_group_cancel - cancel every member of @g (wf_cancel()) and refuse
 * new ones (-ECANCELED). Does not wait. Callable from any thread.
 * Returns 0; -EINVAL for NULL.
 */
int wf_group_cancel(wf_group *g);

/* Copy @g's counters into @st. Returns 0; -EINVAL for NULL. */
int wf_group_stats(const wf_group *g, struct wf_group_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_SYNC_H */
