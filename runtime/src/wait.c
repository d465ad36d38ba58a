// SPDX-License-Identifier: MIT
/*
 * wait.c - how a task waits and how it is woken; wait queues; the
 * cooperative budget; yield.
 *
 * Protocol (see also internal.h):
 *	gen = wf__wait_prepare(t);	t->wait = (gen, PENDING)
 *	lock(q); link a wf__waiter{t, gen} into q; unlock(q);
 *	reason = wf__wait(t, gen, deadline);
 *	if (reason != WF_WOKEN_OK) { lock(q); unlink if still linked; unlock(q); }
 * A waker, holding q's lock, unlinks a waiter and calls
 * wf__wake(t, gen, WF_WOKEN_OK); if that returns false the waiter is
 * already leaving (timed out or cancelled) and the waker should pass
 * whatever it was handing over to the next waiter.
 *
 * wf__wake() wins the wait with a CAS on t->wait and then makes the task
 * runnable. If the task has not finished switching out yet, its run state
 * is RUNNING and wf__schedule() marks it NOTIFIED: the worker requeues it
 * as soon as its context is saved (sched.c). So wakers never need to wait
 * for the sleeper, and a waiter's stack frame stays valid for as long as
 * it is linked: it only returns from wf__wait() after someone won the
 * wait, and unlinks itself under the queue lock before reusing the frame.
 *
 * Cancellation: wf_cancel() sets t->cancelled and then wakes the pending
 * wait, if any, with WF_WOKEN_CANCEL. wf__wait() publishes PENDING and
 * then reads t->cancelled (both sequentially consistent), so one of the
 * two always sees the other.
 */
#include "internal.h"

#define WAIT_WORD(gen, st) (((uint64_t)(gen) << 32) | (uint32_t)(st))

uint32_t wf__wait_prepare(struct wf_task *t)
{
	uint32_t gen = ++t->wait_gen;

	atomic_store(&t->wait, WAIT_WORD(gen, WF_WAIT_PENDING));
	return gen;
}

static inline bool is_pending(uint64_t word)
{
	uint32_t st = (uint32_t)word;

	return st == WF_WAIT_PENDING || st == WF_WAIT_PENDING_NOCANCEL;
}

bool wf__wake(struct wf_task *t, uint32_t gen, int reason)
{
	return wf__wake_at(t, gen, reason, 0);
}

/* wf__wake() for a task runnable since @since (timers: their deadline). */
bool wf__wake_at(struct wf_task *t, uint32_t gen, int reason, uint64_t since)
{
	uint64_t exp = atomic_load(&t->wait);

	if ((exp >> 32) != gen || !is_pending(exp) ||
	    (reason == WF_WOKEN_CANCEL && (uint32_t)exp == WF_WAIT_PENDING_NOCANCEL))
		return false;
	if (!atomic_compare_exchange_strong(&t->wait, &exp, WAIT_WORD(gen, reason)))
		return false;
#ifdef CONFIG_WEFT_METRICS
	atomic_fetch_add_explicit(&t->wakes, 1, memory_order_relaxed);
	if (t == wf__task_cur())
		atomic_fetch_add_explicit(&t->self_wakes, 1, memory_order_relaxed);
#endif
	wf__schedule_at(t, since);
	return true;
}

/*
 * wf__wait - suspend the running task t until its wait gen is won by a
 * waker, the deadline passes, or t is cancelled. Returns the WF_WOKEN_*
 * reason. Must be called by t itself.
 */
/*
 * wf__wait_claim - the running task t ends its own pending wait gen as if
 * woken (select completing a case it found ready), without making itself
 * runnable: it is running. True if it won; false if a waker, its timer or
 * a cancellation won first (their wf__schedule() then marks it NOTIFIED,
 * which costs one extra poll at most).
 */
bool wf__wait_claim(struct wf_task *t, uint32_t gen)
{
	uint64_t exp = WAIT_WORD(gen, WF_WAIT_PENDING);

	return atomic_compare_exchange_strong(&t->wait, &exp, WAIT_WORD(gen, WF_WOKEN_OK));
}

/*
 * A resumption can be spurious: a NOTIFIED mark left by a wake-up that lost
 * the race for an earlier wait requeues us once. Park again until this
 * wait is really won.
 */
static void park_until_won(struct wf_task *t)
{
	do
		wf__switch_out(t, WF_SW_PARK);
	while (is_pending(atomic_load(&t->wait)));
}

int wf__wait(struct wf_task *t, uint32_t gen, uint64_t deadline_ns)
{
	uint64_t pending = WAIT_WORD(gen, WF_WAIT_PENDING);
	struct wf__timer tm;

	/*
	 * Ending our own wait needs no wake-up: win it and return. If the
	 * CAS fails, a waker won first and has made us NOTIFIED; carrying on
	 * is fine, the worker requeues us at our next switch (one extra poll).
	 */
	if (atomic_load(&t->cancelled)) {
		atomic_compare_exchange_strong(&t->wait, &pending, WAIT_WORD(gen, WF_WOKEN_CANCEL));
		return (int)(uint32_t)atomic_load(&t->wait);
	}
	if (deadline_ns == WF_FOREVER) {
		park_until_won(t);
	} else if (wf__timer_arm_task(t, &tm, deadline_ns, gen) == 0) {
		park_until_won(t);
		wf__timer_disarm(t->rt, &tm);
	} else {
		/* Deadline already past. */
		atomic_compare_exchange_strong(&t->wait, &pending,
					       WAIT_WORD(gen, WF_WOKEN_TIMEOUT));
	}
	return (int)(uint32_t)atomic_load(&t->wait);
}

/*
 * A wait that cancellation neither ends nor prevents: for a task that must
 * see something through (a blocking job that uses its stack). Prepare it
 * with wf__wait_prepare_nocancel(), publish the waiter, then
 * wf__wait_nocancel(). No deadline.
 */
uint32_t wf__wait_prepare_nocancel(struct wf_task *t)
{
	uint32_t gen = ++t->wait_gen;

	atomic_store(&t->wait, WAIT_WORD(gen, WF_WAIT_PENDING_NOCANCEL));
	return gen;
}

void wf__wait_nocancel(struct wf_task *t)
{
	park_until_won(t);
}

/*
 * wf__wait_claim_nocancel - the running task t ends its own pending
 * nocancel wait gen, which it never published (the event it was going to
 * wait for had already happened). True if it won.
 */
bool wf__wait_claim_nocancel(struct wf_task *t, uint32_t gen)
{
	uint64_t exp = WAIT_WORD(gen, WF_WAIT_PENDING_NOCANCEL);

	return atomic_compare_exchange_strong(&t->wait, &exp, WAIT_WORD(gen, WF_WOKEN_OK));
}

/* --- wait queues (caller holds the owner's lock) ------------------------------ */

void wf__waitq_push(struct wf__waitq *q, struct wf__waiter *w)
{
	w->next = NULL;
	w->prev = q->tail;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
	w->linked = true;
}

void wf__waitq_remove(struct wf__waitq *q, struct wf__waiter *w)
{
	if (!w->linked)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
	w->next = w->prev = NULL;
	w->linked = false;
}

struct wf__waiter *wf__waitq_pop(struct wf__waitq *q)
{
	struct wf__waiter *w = q->head;

	if (w)
		wf__waitq_remove(q, w);
	return w;
}

/* --- budget and yield ------------------------------------------------------------ */

/*
 * wf__coop - account one runtime operation against the poll's budget.
 * When the budget is spent, yield first (a forced yield, counted).
 * Returns 0, -ECANCELED if the task was cancelled, -EPERM outside a task.
 */
int wf__coop(void)
{
	struct wf__thread *th = wf__thread_cur();
	struct wf_task *t = th ? th->current : NULL;
	struct wf__worker *w;

	if (!t)
		return -EPERM;
	if (atomic_load_explicit(&t->cancelled, memory_order_relaxed))
		return -ECANCELED;
	if (--th->budget > 0)
		return 0;
	w = wf__core_enter(th);
	if (!w)
		return 0;	/* core handed away: the poll ends on its own soon */
	w->mb.forced_yields++;
	wf__core_exit(th, w);
	wf__switch_out(t, WF_SW_YIELD);
	return atomic_load_explicit(&t->cancelled, memory_order_relaxed) ? -ECANCELED : 0;
}

int wf_yield(void)
{
	struct wf_task *t = wf__task_cur();

	if (!t)
		return -EPERM;
	if (atomic_load_explicit(&t->cancelled, memory_order_relaxed))
		return -ECANCELED;
	wf__switch_out(t, WF_SW_YIELD);
	return atomic_load_explicit(&t->cancelled, memory_order_relaxed) ? -ECANCELED : 0;
}

int wf_cancelled(void)
{
	struct wf_task *t = wf__task_cur();

	if (!t)
		return -EPERM;
	return atomic_load(&t->cancelled) ? 1 : 0;
}

int wf_cancel(struct wf_task *t)
{
	uint64_t word;

	if (!t)
		return -EINVAL;
	atomic_store(&t->cancelled, 1);
	word = atomic_load(&t->wait);
	if ((uint32_t)word == WF_WAIT_PENDING)
		wf__wake(t, (uint32_t)(word >> 32), WF_WOKEN_CANCEL);
	return 0;
}

/* --- sleeping ------------------------------------------------------------------------ */

int wf_sleep_until(uint64_t deadline_ns)
{
	struct wf_task *t = wf__task_cur();
	uint32_t gen;
	int r;

	if (!t)
		return -EPERM;
	if (atomic_load(&t->cancelled))
		return -ECANCELED;
	gen = wf__wait_prepare(t);
	r = wf__wait(t, gen, deadline_ns);
	return r == WF_WOKEN_CANCEL ? -ECANCELED : 0;
}

int wf_sleep_ns(uint64_t ns)
{
	uint64_t now = wf__now();

	return wf_sleep_until(ns > UINT64_MAX - now - 1 ? WF_FOREVER - 1 : now + ns);
}

int wf_interval_init(struct wf_interval *iv, uint64_t period_ns)
{
	if (!iv || !period_ns)
		return -EINVAL;
	iv->period = period_ns;
	iv->next = wf__now() + period_ns;
	return 0;
}

int64_t wf_interval_tick(struct wf_interval *iv)
{
	uint64_t now;
	int64_t skipped = 0;
	int r;

	if (!iv || !iv->period)
		return -EINVAL;
	r = wf_sleep_until(iv->next);
	if (r < 0)
		return r;
	now = wf__now();
	iv->next += iv->period;
	if (iv->next <= now) {
		uint64_t late = (now - iv->next) / iv->period + 1;

		skipped = (int64_t)late;
		iv->next += late * iv->period;
	}
	return skipped;
}
