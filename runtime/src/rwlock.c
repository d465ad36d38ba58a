// SPDX-License-Identifier: MIT
/*
 * rwlock.c - the task reader-writer lock: writer-preferring, FIFO.
 *
 * Everything is under l->spin (sync_internal.h): l->readers (active
 * readers), l->writer (the task holding it exclusively, or NULL) and one
 * FIFO of waiters, each marked reader or writer (waiter.data).
 *
 * Admission without waiting: a reader when there is no writer and nobody
 * waits; a writer when there is no writer, no reader and nobody waits.
 * "Nobody waits" is what makes it writer-preferring: once a writer
 * queues, later readers queue behind it instead of joining the readers
 * that hold the lock, so the writer gets in when those leave.
 *
 * Dispatch (release, and a waiter giving up): while the head of the queue
 * can be admitted, admit it on its behalf (readers++ or writer = it) and
 * wake it; a reader at the head lets in the readers behind it up to the
 * next writer. If a wake fails, that waiter is leaving: undo its
 * admission and go on. A waiter that gives up dispatches as well, since a
 * writer leaving the head may unblock the readers behind it.
 *
 * Ordering: every state change is under the spinlock (acquire/release),
 * and a woken waiter settles on it (rule 2) before returning, so the
 * writer's stores are visible to the readers it admits and vice versa.
 *
 * Costs: uncontended read or write lock and unlock = one spinlock round
 * trip each (an atomic exchange and a store). Readers share the spinlock's
 * cache line, so very read-heavy, short critical sections scale less well
 * than with a reader-count word; the lock is built for fairness first.
 */
#include "sync_internal.h"

#define RW_READ 0
#define RW_WRITE 1

int wf_rwlock_init(wf_rwlock *l)
{
	if (!l)
		return -EINVAL;
	*l = (wf_rwlock)WF_RWLOCK_INIT;
	return 0;
}

int wf_rwlock_destroy(wf_rwlock *l)
{
	int r = 0;

	if (!l)
		return -EINVAL;
	sync_lock(&l->spin);
	if (l->readers || l->writer || l->q.head)
		r = -EBUSY;
	sync_unlock(&l->spin);
	return r;
}

/* Admit waiters from the head of the queue while they fit. Under spin. */
static void dispatch(wf_rwlock *l)
{
	struct wf__waiter *w;

	while ((w = l->q.head) && !l->writer) {
		if (w->data == RW_WRITE) {
			if (l->readers)
				return;
			wf__waitq_pop(sync_q(&l->q));
			st_relaxed(&l->nwait, l->nwait - 1);
			l->writer = w->task;
			if (wf__wake(w->task, w->gen, WF_WOKEN_OK))
				return;
			l->writer = NULL;
		} else {
			if (l->readers == UINT32_MAX)
				return;
			wf__waitq_pop(sync_q(&l->q));
			st_relaxed(&l->nwait, l->nwait - 1);
			l->readers++;
			if (!wf__wake(w->task, w->gen, WF_WOKEN_OK))
				l->readers--;
		}
	}
}

/*
 * Queue the caller as a @kind waiter (spin held on entry, released on
 * return) and wait. Returns 0 once admitted, or -errno (not admitted).
 */
static int wait_admission(wf_rwlock *l, struct wf_task *t, int kind, uint64_t deadline_ns)
{
	struct wf__waiter w = { .task = t, .data = (uintptr_t)kind };
	int reason;

	w.gen = wf__wait_prepare(t);
	wf__waitq_push(sync_q(&l->q), &w);
	st_relaxed(&l->nwait, l->nwait + 1);
	sync_unlock(&l->spin);

	reason = wf__wait(t, w.gen, deadline_ns);
	if (reason == WF_WOKEN_OK) {
		sync_settle(&l->spin);
		return 0;
	}
	sync_lock(&l->spin);
	if (w.linked) {
		wf__waitq_remove(sync_q(&l->q), &w);
		st_relaxed(&l->nwait, l->nwait - 1);
		dispatch(l);
	}
	sync_unlock(&l->spin);
	return wf__wait_errno(reason);
}

/* Common entry of the suspending calls: validate, spend budget. */
static int enter(wf_rwlock *l, struct wf_task **tp)
{
	int r;

	if (!l)
		return -EINVAL;
	r = wf__coop();
	if (r)
		return r;
	*tp = sync_self();
	return 0;
}

int wf_rwlock_read_lock_until(wf_rwlock *l, uint64_t deadline_ns)
{
	struct wf_task *t;
	int r = enter(l, &t);

	if (r)
		return r;
	sync_lock(&l->spin);
	if (l->writer == t) {
		r = -EDEADLK;
	} else if (!l->writer && !l->q.head) {
		if (l->readers == UINT32_MAX)
			r = -EAGAIN;
		else
			l->readers++;
	} else {
		return wait_admission(l, t, RW_READ, deadline_ns);
	}
	sync_unlock(&l->spin);
	return r;
}

int wf_rwlock_read_lock(wf_rwlock *l)
{
	return wf_rwlock_read_lock_until(l, WF_FOREVER);
}

int wf_rwlock_try_read_lock(wf_rwlock *l)
{
	int r = 0;

	if (!l)
		return -EINVAL;
	if (!sync_self())
		return -EPERM;
	sync_lock(&l->spin);
	if (l->writer || l->q.head)
		r = -EBUSY;
	else if (l->readers == UINT32_MAX)
		r = -EAGAIN;
	else
		l->readers++;
	sync_unlock(&l->spin);
	return r;
}

int wf_rwlock_write_lock_until(wf_rwlock *l, uint64_t deadline_ns)
{
	struct wf_task *t;
	int r = enter(l, &t);

	if (r)
		return r;
	sync_lock(&l->spin);
	if (l->writer == t)
		r = -EDEADLK;
	else if (!l->writer && !l->readers && !l->q.head)
		l->writer = t;
	else
		return wait_admission(l, t, RW_WRITE, deadline_ns);
	sync_unlock(&l->spin);
	return r;
}

int wf_rwlock_write_lock(wf_rwlock *l)
{
	return wf_rwlock_write_lock_until(l, WF_FOREVER);
}

int wf_rwlock_try_write_lock(wf_rwlock *l)
{
	struct wf_task *t = sync_self();
	int r = 0;

	if (!l)
		return -EINVAL;
	if (!t)
		return -EPERM;
	sync_lock(&l->spin);
	if (l->writer || l->readers || l->q.head)
		r = -EBUSY;
	else
		l->writer = t;
	sync_unlock(&l->spin);
	return r;
}

int wf_rwlock_read_unlock(wf_rwlock *l)
{
	int r = 0;

	if (!l)
		return -EINVAL;
	sync_lock(&l->spin);
	if (!l->readers)
		r = -EPERM;
	else if (--l->readers == 0)
		dispatch(l);
	sync_unlock(&l->spin);
	return r;
}

int wf_rwlock_write_unlock(wf_rwlock *l)
{
	struct wf_task *t = sync_self();
	int r = 0;

	if (!l)
		return -EINVAL;
	sync_lock(&l->spin);
	if (!t || l->writer != t) {
		r = -EPERM;
	} else {
		l->writer = NULL;
		dispatch(l);
	}
	sync_unlock(&l->spin);
	return r;
}

int wf_rwlock_waiters(const wf_rwlock *l)
{
	if (!l)
		return -EINVAL;
	return (int)ld_relaxed(&l->nwait);
}
