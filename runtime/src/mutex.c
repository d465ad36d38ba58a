// SPDX-License-Identifier: MIT
/*
 * mutex.c - the task mutex: FIFO-fair, hand-off on unlock, with hold-time
 * statistics.
 *
 * State. m->state holds two bits:
 *	LOCKED	somebody owns the mutex;
 *	WAITERS	the wait queue m->q is not empty.
 * m->spin (sync_internal.h) guards m->q, m->nwait and every change of
 * WAITERS. The owner's identity is in m->owner (relaxed atomic: it is
 * only compared with the caller, and only the owner itself or, on a
 * hand-off, the spinlock holder writes it).
 *
 * Fast paths (no spinlock, no syscall):
 *	lock:	 CAS state 0 -> LOCKED		(acquire)
 *	unlock:	 CAS state LOCKED -> 0		(release)
 * The acquire of the locker pairs with the release of the previous
 * unlocker, so what the previous owner wrote under the mutex is visible
 * to the next one. Neither succeeds once WAITERS is set: that is what
 * makes the mutex fair. A free mutex with waiters does not exist: unlock
 * with waiters never clears LOCKED, it hands the mutex over.
 *
 * Slow lock, under the spinlock: if state is 0, take it (CAS, acquire);
 * else set WAITERS (CAS loop: a fast unlock may race us, LOCKED -> 0, and
 * then we take the free mutex instead), link a waiter, drop the spinlock
 * and wait (wait.c's protocol). Because WAITERS is set under the spinlock
 * before the waiter is linked, an unlocker whose fast CAS fails finds the
 * waiter when it takes the spinlock.
 *
 * Slow unlock, under the spinlock: pop the first waiter, make it the
 * owner (m->owner, m->acq_ns), clear WAITERS if the queue is now empty,
 * and wf__wake() it. If the wake fails, that waiter is leaving (its
 * timeout or cancel won the wait): try the next one. With no waiter left,
 * store state 0 (release: pairs with a later fast lock's acquire).
 * The new owner is ordered after the old one by the wake itself
 * (wf__wake's sequentially consistent CAS on its wait word, read by the
 * waiter when it resumes) and by sync_settle(), which also keeps the old
 * owner from touching the mutex after the new one may have freed it.
 *
 * A waiter that times out or is cancelled unlinks itself under the
 * spinlock and clears WAITERS if it was the last; if it was already
 * popped, the unlocker passed the mutex on (rule 3 of sync_internal.h):
 * a cancelled waiter never swallows a hand-off.
 *
 * Statistics. Only the owner writes acquisition and hold figures (the
 * mutex orders owners), with relaxed stores, so wf_mutex_stats() may read
 * them from anywhere. Hold time runs from the acquisition (for a
 * hand-off: from the unlock that handed it over) to the unlock. "Held
 * across a suspension" compares the poll the mutex was taken in with the
 * poll it is released in. A poll is identified by the core (struct
 * wf__worker) that runs it and that core's poll counter (w->tick, bumped
 * by sched.c's run_task() at every resume and only read here by the
 * thread driving the core). That works with metrics compiled out, where
 * the per-task poll count (t->m.polls) is not kept.
 *
 * Costs: uncontended lock = budget check + CAS + clock read; unlock =
 * clock read + CAS. Contended: a spinlock round trip on each side and one
 * task switch for the waiter.
 */
#include "sync_internal.h"

#define M_LOCKED 1u
#define M_WAITERS 2u

/* Identity of the poll the caller runs in (see the top comment). */
static inline void poll_id(const void **worker, uint32_t *tick)
{
	struct wf__thread *th = wf__thread_cur();

	/* Per thread: the core's own tick may be another thread's by now. */
	*worker = th ? th->core : NULL;
	*tick = th && th->core ? th->poll_tick : 0;
}

/* The caller now owns m (acquired at @now, having waited @waited ns if contended). */
static void note_acquired(wf_mutex *m, uint64_t now, bool contended, uint64_t waited)
{
	m->acq_ns = now;
	poll_id(&m->acq_worker, &m->acq_tick);
	add_relaxed(&m->acquisitions, 1);
	if (contended) {
		add_relaxed(&m->contended, 1);
		add_relaxed(&m->wait_total_ns, waited);
		max_relaxed(&m->wait_max_ns, waited);
	}
}

int wf_mutex_init(wf_mutex *m)
{
	if (!m)
		return -EINVAL;
	*m = (wf_mutex)WF_MUTEX_INIT;
	return 0;
}

int wf_mutex_destroy(wf_mutex *m)
{
	int r = 0;

	if (!m)
		return -EINVAL;
	sync_lock(&m->spin);
	if (__atomic_load_n(&m->state, __ATOMIC_ACQUIRE) || m->q.head)
		r = -EBUSY;
	sync_unlock(&m->spin);
	return r;
}

int wf_mutex_try_lock(wf_mutex *m)
{
	struct wf_task *t = sync_self();
	uint32_t s = 0;

	if (!m)
		return -EINVAL;
	if (!t)
		return -EPERM;
	if (!__atomic_compare_exchange_n(&m->state, &s, M_LOCKED, false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		return -EBUSY;
	st_relaxed(&m->owner, t);
	note_acquired(m, wf__now(), false, 0);
	return 0;
}

static int lock_slow(wf_mutex *m, struct wf_task *t, uint64_t deadline_ns)
{
	struct wf__waiter w = { .task = t };
	uint32_t s;
	uint64_t t0;
	int reason;

	sync_lock(&m->spin);
	s = __atomic_load_n(&m->state, __ATOMIC_RELAXED);
	for (;;) {
		if (s == 0) {
			/* Released meanwhile (fast unlock): take it. */
			if (__atomic_compare_exchange_n(&m->state, &s, M_LOCKED, false,
							__ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
				sync_unlock(&m->spin);
				st_relaxed(&m->owner, t);
				note_acquired(m, wf__now(), false, 0);
				return 0;
			}
		} else if ((s & M_WAITERS) ||
			   __atomic_compare_exchange_n(&m->state, &s, s | M_WAITERS, false,
						       __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
			break;
		}
	}
	t0 = wf__now();
	w.gen = wf__wait_prepare(t);
	wf__waitq_push(sync_q(&m->q), &w);
	st_relaxed(&m->nwait, m->nwait + 1);
	sync_unlock(&m->spin);

	reason = wf__wait(t, w.gen, deadline_ns);
	if (reason == WF_WOKEN_OK) {
		/* The unlocker made us the owner and set acq_ns (rule 2: settle). */
		sync_settle(&m->spin);
		note_acquired(m, m->acq_ns, true, m->acq_ns > t0 ? m->acq_ns - t0 : 0);
		return 0;
	}
	sync_lock(&m->spin);
	if (w.linked) {
		wf__waitq_remove(sync_q(&m->q), &w);
		st_relaxed(&m->nwait, m->nwait - 1);
		if (!m->q.head)
			__atomic_fetch_and(&m->state, ~M_WAITERS, __ATOMIC_RELAXED);
	}
	sync_unlock(&m->spin);
	return wf__wait_errno(reason);
}

int wf_mutex_lock_until(wf_mutex *m, uint64_t deadline_ns)
{
	struct wf_task *t;
	uint32_t s = 0;
	int r;

	if (!m)
		return -EINVAL;
	r = wf__coop();
	if (r)
		return r;
	t = sync_self();
	if (ld_relaxed(&m->owner) == t)
		return -EDEADLK;
	if (likely(__atomic_compare_exchange_n(&m->state, &s, M_LOCKED, false, __ATOMIC_ACQUIRE,
					       __ATOMIC_RELAXED))) {
		st_relaxed(&m->owner, t);
		note_acquired(m, wf__now(), false, 0);
		return 0;
	}
	return lock_slow(m, t, deadline_ns);
}

int wf_mutex_lock(wf_mutex *m)
{
	return wf_mutex_lock_until(m, WF_FOREVER);
}

/* Hand m to the first waiter that can still take it, or free it. */
static void unlock_slow(wf_mutex *m, uint64_t now)
{
	struct wf__waiter *w;

	sync_lock(&m->spin);
	while ((w = wf__waitq_pop(sync_q(&m->q)))) {
		st_relaxed(&m->nwait, m->nwait - 1);
		if (!m->q.head)
			__atomic_store_n(&m->state, M_LOCKED, __ATOMIC_RELAXED);
		st_relaxed(&m->owner, w->task);
		m->acq_ns = now;
		if (wf__wake(w->task, w->gen, WF_WOKEN_OK)) {
			sync_unlock(&m->spin);
			return;
		}
	}
	st_relaxed(&m->owner, NULL);
	/* Pairs with the acquire of the next fast or slow lock. */
	__atomic_store_n(&m->state, 0, __ATOMIC_RELEASE);
	sync_unlock(&m->spin);
}

int wf_mutex_unlock(wf_mutex *m)
{
	struct wf_task *t = sync_self();
	const void *worker;
	uint32_t tick, s = M_LOCKED;
	uint64_t now, held;

	if (!m)
		return -EINVAL;
	if (!t || ld_relaxed(&m->owner) != t)
		return -EPERM;
	now = wf__now();
	held = now > m->acq_ns ? now - m->acq_ns : 0;
	add_relaxed(&m->hold_total_ns, held);
	max_relaxed(&m->hold_max_ns, held);
	poll_id(&worker, &tick);
	if (worker != m->acq_worker || tick != m->acq_tick)
		add_relaxed(&m->held_across_suspend, 1);

	st_relaxed(&m->owner, NULL);
	/* Pairs with the acquire of the next locker's CAS. */
	if (likely(__atomic_compare_exchange_n(&m->state, &s, 0, false, __ATOMIC_RELEASE,
					       __ATOMIC_RELAXED)))
		return 0;
	unlock_slow(m, now);
	return 0;
}

int wf_mutex_stats(const wf_mutex *m, struct wf_mutex_stats *st)
{
	if (!m || !st)
		return -EINVAL;
	st->acquisitions = ld_relaxed(&m->acquisitions);
	st->contended = ld_relaxed(&m->contended);
	st->hold_total_ns = ld_relaxed(&m->hold_total_ns);
	st->hold_max_ns = ld_relaxed(&m->hold_max_ns);
	st->wait_total_ns = ld_relaxed(&m->wait_total_ns);
	st->wait_max_ns = ld_relaxed(&m->wait_max_ns);
	st->held_across_suspend = ld_relaxed(&m->held_across_suspend);
	st->waiters = ld_relaxed(&m->nwait);
	st->locked = (ld_relaxed(&m->state) & M_LOCKED) ? 1 : 0;
	return 0;
}
