// SPDX-License-Identifier: MIT
/*
 * barrier.c - the reusable task barrier.
 *
 * Under b->spin (sync_internal.h): b->arrived counts the tasks of the
 * current generation, all but the last of which wait in b->q. The last
 * arrival ends the generation: it resets arrived, bumps gen, wakes every
 * waiter and returns 1 (it is the leader); woken waiters return 0.
 *
 * A waiter that times out or is cancelled while still queued withdraws:
 * it unlinks itself and arrived goes down by one, as if it had never
 * come. If it is no longer queued, the generation completed with it
 * counted (its wake-up lost the race to its timeout or cancel), and it
 * returns 0 like the others: the barrier did release it.
 *
 * Costs: one spinlock round trip per arrival; the leader wakes the
 * parties - 1 waiters under the spinlock.
 */
#include "sync_internal.h"

int wf_barrier_init(wf_barrier *b, unsigned parties)
{
	if (!b || !parties)
		return -EINVAL;
	*b = (wf_barrier)WF_BARRIER_INIT(parties);
	return 0;
}

int wf_barrier_destroy(wf_barrier *b)
{
	int r = 0;

	if (!b)
		return -EINVAL;
	sync_lock(&b->spin);
	if (b->q.head)
		r = -EBUSY;
	sync_unlock(&b->spin);
	return r;
}

int wf_barrier_wait_until(wf_barrier *b, uint64_t deadline_ns)
{
	struct wf__waiter w = { 0 }, *x;
	struct wf_task *t;
	bool withdrawn = false;
	int reason, r;

	if (!b || !ld_relaxed(&b->parties))
		return -EINVAL;
	r = wf__coop();
	if (r)
		return r;
	t = sync_self();
	sync_lock(&b->spin);
	if (b->arrived + 1 == b->parties) {
		st_relaxed(&b->arrived, 0);
		b->gen++;
		while ((x = wf__waitq_pop(sync_q(&b->q))))
			wf__wake(x->task, x->gen, WF_WOKEN_OK);
		sync_unlock(&b->spin);
		return 1;
	}
	st_relaxed(&b->arrived, b->arrived + 1);
	w.task = t;
	w.gen = wf__wait_prepare(t);
	wf__waitq_push(sync_q(&b->q), &w);
	sync_unlock(&b->spin);

	reason = wf__wait(t, w.gen, deadline_ns);
	if (reason == WF_WOKEN_OK) {
		sync_settle(&b->spin);
		return 0;
	}
	sync_lock(&b->spin);
	if (w.linked) {
		wf__waitq_remove(sync_q(&b->q), &w);
		st_relaxed(&b->arrived, b->arrived - 1);
		withdrawn = true;
	}
	sync_unlock(&b->spin);
	return withdrawn ? wf__wait_errno(reason) : 0;
}

int wf_barrier_wait(wf_barrier *b)
{
	return wf_barrier_wait_until(b, WF_FOREVER);
}

int wf_barrier_waiters(const wf_barrier *b)
{
	if (!b)
		return -EINVAL;
	return (int)ld_relaxed(&b->arrived);
}
