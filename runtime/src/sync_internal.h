/* SPDX-License-Identifier: MIT */
/*
 * sync_internal.h - what the synchronisation primitives (mutex.c,
 * rwlock.c, sem.c, barrier.c, group.c) share: a small spinlock, the view
 * of a public struct wf__syncq as the runtime's wait queue, and the rules
 * every primitive follows.
 *
 * Rules, on top of the wait protocol of wait.c:
 *  1. The spinlock guards the primitive's wait queue and whatever state a
 *     waker hands over. It is held for a few dozen instructions, never
 *     across a suspension; wakers call wf__wake() under it (which may take
 *     the scheduler's own locks: the order is always ours, then theirs).
 *  2. A waker touches nothing of the primitive after releasing the
 *     spinlock. A waiter woken with WF_WOKEN_OK passes through the
 *     spinlock once (sync_settle) before it returns to its caller. So
 *     when a woken task goes on to unlock, destroy or free the primitive,
 *     the task that woke it has left it (the "unlock touches freed memory"
 *     race that POSIX mutexes and semaphores have had to fix).
 *  3. A waiter that ends with WF_WOKEN_TIMEOUT or WF_WOKEN_CANCEL takes
 *     the spinlock and unlinks itself if still linked: it then received
 *     nothing. If it is no longer linked, a waker popped it and its
 *     wf__wake() failed, and that waker has already passed what it was
 *     handing over to the next waiter (or back to the primitive).
 *  4. Fields that are read without the spinlock (statistics, counts shown
 *     by *_stats and *_available) are written with relaxed atomic stores
 *     and read with relaxed atomic loads; the public header declares them
 *     as plain integers, so the __atomic builtins are used throughout.
 */
#ifndef WEFT_SYNC_INTERNAL_H
#define WEFT_SYNC_INTERNAL_H

#include "internal.h"

#include <sched.h>

/* The public queue type is a layout twin of the runtime's wait queue. */
_Static_assert(sizeof(struct wf__syncq) == sizeof(struct wf__waitq), "syncq layout");
_Static_assert(offsetof(struct wf__syncq, head) == offsetof(struct wf__waitq, head),
	       "syncq layout");
_Static_assert(offsetof(struct wf__syncq, tail) == offsetof(struct wf__waitq, tail),
	       "syncq layout");

/* The library is built with -fno-strict-aliasing; the layouts match above. */
static inline struct wf__waitq *sync_q(struct wf__syncq *q)
{
	return (struct wf__waitq *)(void *)q;
}

#define ld_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define st_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
/* Single writer at a time (the lock holder): a plain add, atomically visible. */
#define add_relaxed(p, v) st_relaxed((p), ld_relaxed(p) + (v))
#define max_relaxed(p, v) \
	do { \
		if ((v) > ld_relaxed(p)) \
			st_relaxed((p), (v)); \
	} while (0)

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#else
	__asm__ volatile("" ::: "memory");
#endif
}

/*
 * Test-and-test-and-set. The holder never suspends, so waiting is short;
 * if the holder's thread was preempted, sched_yield() lets it run.
 * Acquire on taking pairs with the release in sync_unlock().
 */
static inline void sync_lock(uint32_t *l)
{
	unsigned spins = 0;

	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE)) {
		while (__atomic_load_n(l, __ATOMIC_RELAXED)) {
			if (++spins < 128)
				cpu_relax();
			else
				sched_yield();
		}
	}
}

static inline void sync_unlock(uint32_t *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

/* Rule 2: wait until whoever woke us has released the spinlock. */
static inline void sync_settle(uint32_t *l)
{
	sync_lock(l);
	sync_unlock(l);
}

/* The running task (NULL outside a task). */
static inline struct wf_task *sync_self(void)
{
	return wf__task_cur();
}

#endif /* WEFT_SYNC_INTERNAL_H */
