// SPDX-License-Identifier: MIT
/*
 * sem.c - the counting semaphore: strictly FIFO, multi-permit requests.
 *
 * s->permits and the FIFO of waiters (waiter.data = permits wanted) are
 * under s->spin (sync_internal.h). permits is also read without the lock
 * by wf_sem_available(), so it is written with relaxed atomic stores.
 *
 * Acquire takes permits at once only if nobody waits and enough are
 * there; otherwise it queues, even if enough permits are there for it
 * (a larger request ahead of it is waiting for more). Release adds
 * permits, then serves the head of the queue for as long as the head's
 * request fits: the permits are taken on the waiter's behalf before it is
 * woken. A failed wake means that waiter is leaving: its permits go back
 * and the next waiter is tried. A waiter that gives up while still queued
 * serves the queue too, since it may have been the large request that
 * held smaller ones back.
 *
 * Costs: uncontended acquire and release = one spinlock round trip.
 */
#include "sync_internal.h"

/* A request is kept in waiter.data. */
_Static_assert(sizeof(uintptr_t) >= sizeof(uint64_t), "wf_sem needs 64-bit pointers");

int wf_sem_init(wf_sem *s, uint64_t permits)
{
	if (!s || permits > WF_SEM_MAX)
		return -EINVAL;
	*s = (wf_sem)WF_SEM_INIT(permits);
	return 0;
}

int wf_sem_destroy(wf_sem *s)
{
	int r = 0;

	if (!s)
		return -EINVAL;
	sync_lock(&s->spin);
	if (s->q.head)
		r = -EBUSY;
	sync_unlock(&s->spin);
	return r;
}

/* Serve waiters from the head while their requests fit. Under spin. */
static void dispatch(wf_sem *s)
{
	struct wf__waiter *w;

	while ((w = s->q.head) && s->permits >= w->data) {
		wf__waitq_pop(sync_q(&s->q));
		st_relaxed(&s->nwait, s->nwait - 1);
		st_relaxed(&s->permits, s->permits - w->data);
		if (!wf__wake(w->task, w->gen, WF_WOKEN_OK))
			st_relaxed(&s->permits, s->permits + w->data);
	}
}

int wf_sem_acquire_until(wf_sem *s, uint64_t n, uint64_t deadline_ns)
{
	struct wf__waiter w = { .data = (uintptr_t)n };
	struct wf_task *t;
	int reason, r;

	if (!s || n > WF_SEM_MAX)
		return -EINVAL;
	r = wf__coop();
	if (r)
		return r;
	t = sync_self();
	sync_lock(&s->spin);
	if (!s->q.head && s->permits >= n) {
		st_relaxed(&s->permits, s->permits - n);
		sync_unlock(&s->spin);
		return 0;
	}
	w.task = t;
	w.gen = wf__wait_prepare(t);
	wf__waitq_push(sync_q(&s->q), &w);
	st_relaxed(&s->nwait, s->nwait + 1);
	sync_unlock(&s->spin);

	reason = wf__wait(t, w.gen, deadline_ns);
	if (reason == WF_WOKEN_OK) {
		sync_settle(&s->spin);
		return 0;
	}
	sync_lock(&s->spin);
	if (w.linked) {
		wf__waitq_remove(sync_q(&s->q), &w);
		st_relaxed(&s->nwait, s->nwait - 1);
		dispatch(s);
	}
	sync_unlock(&s->spin);
	return wf__wait_errno(reason);
}

int wf_sem_acquire(wf_sem *s, uint64_t n)
{
	return wf_sem_acquire_until(s, n, WF_FOREVER);
}

int wf_sem_try_acquire(wf_sem *s, uint64_t n)
{
	int r = -EAGAIN;

	if (!s || n > WF_SEM_MAX)
		return -EINVAL;
	sync_lock(&s->spin);
	if (!s->q.head && s->permits >= n) {
		st_relaxed(&s->permits, s->permits - n);
		r = 0;
	}
	sync_unlock(&s->spin);
	return r;
}

int wf_sem_release(wf_sem *s, uint64_t n)
{
	int r = 0;

	if (!s)
		return -EINVAL;
	sync_lock(&s->spin);
	if (n > WF_SEM_MAX - s->permits) {
		r = -EOVERFLOW;
	} else {
		st_relaxed(&s->permits, s->permits + n);
		dispatch(s);
	}
	sync_unlock(&s->spin);
	return r;
}

int64_t wf_sem_available(const wf_sem *s)
{
	if (!s)
		return -EINVAL;
	return (int64_t)ld_relaxed(&s->permits);
}

int wf_sem_waiters(const wf_sem *s)
{
	if (!s)
		return -EINVAL;
	return (int)ld_relaxed(&s->nwait);
}
