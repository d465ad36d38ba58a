// SPDX-License-Identifier: MIT
/*
 * notify.c - wf_notify: wake tasks without data (Tokio's Notify).
 *
 * State: a FIFO of waiting tasks and at most one stored permit, both
 * under n->lock. notify_one hands the notification to the first waiter
 * that wins its wake (see select.h); if none does, it stores the permit.
 * notify_all wakes the waiters present and stores nothing.
 *
 * permit is atomic only so that a waiter can take it without the lock
 * (the common "notified before waiting" case). It is set only under the
 * lock, and only when no waiter is queued; a waiter that finds it clear
 * re-reads it under the lock before queueing, so a permit stored between
 * the two reads is not missed.
 */
#include "internal.h"
#include "select.h"

struct wf_notify {
	pthread_mutex_t lock;
	_Atomic uint32_t permit;
	struct wf__waitq q;
};

int wf_notify_new(wf_notify **np)
{
	wf_notify *n;

	if (!np)
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	pthread_mutex_init(&n->lock, NULL);
	*np = n;
	return 0;
}

void wf_notify_free(wf_notify *n)
{
	if (!n)
		return;
	pthread_mutex_destroy(&n->lock);
	free(n);
}

int wf_notify_one(wf_notify *n)
{
	struct wf__waiter *node;

	if (!n)
		return -EINVAL;
	pthread_mutex_lock(&n->lock);
	while ((node = wf__waitq_pop(&n->q)))
		if (wf__node_wake(node, WF__NODE_WON))
			goto out;
	atomic_store_explicit(&n->permit, 1, memory_order_release);
out:
	pthread_mutex_unlock(&n->lock);
	return 0;
}

int wf_notify_all(wf_notify *n)
{
	int woken;

	if (!n)
		return -EINVAL;
	pthread_mutex_lock(&n->lock);
	woken = wf__waitq_wake_all(&n->q);
	pthread_mutex_unlock(&n->lock);
	return woken;
}

/* Take the permit if stored. Pairs with the store-release in wf_notify_one(). */
bool wf__notify_try(wf_notify *n)
{
	uint32_t one = 1;

	return atomic_load_explicit(&n->permit, memory_order_relaxed) &&
	       atomic_compare_exchange_strong_explicit(&n->permit, &one, 0, memory_order_acquire,
						       memory_order_relaxed);
}

bool wf__notify_arm(wf_notify *n, struct wf__waiter *node)
{
	bool ready;

	pthread_mutex_lock(&n->lock);
	ready = atomic_load_explicit(&n->permit, memory_order_relaxed);
	if (!ready)
		wf__waitq_push(&n->q, node);
	pthread_mutex_unlock(&n->lock);
	return ready;
}

void wf__notify_disarm(wf_notify *n, struct wf__waiter *node)
{
	pthread_mutex_lock(&n->lock);
	wf__waitq_remove(&n->q, node);
	pthread_mutex_unlock(&n->lock);
}

int wf_notify_wait_until(wf_notify *n, uint64_t deadline_ns)
{
	struct wf__waiter node = { 0 };
	int r, reason;

	if (!n)
		return -EINVAL;
	r = wf__coop();
	if (r)
		return r;
	if (wf__notify_try(n))
		return 0;
	node.task = wf__task_cur();
	pthread_mutex_lock(&n->lock);
	if (wf__notify_try(n)) {
		pthread_mutex_unlock(&n->lock);
		return 0;
	}
	node.gen = wf__wait_prepare(node.task);
	wf__waitq_push(&n->q, &node);
	pthread_mutex_unlock(&n->lock);

	reason = wf__wait(node.task, node.gen, deadline_ns);
	if (reason == WF_WOKEN_OK)
		return 0;
	/* Timed out or cancelled: a notify_one that popped us passed it on. */
	wf__notify_disarm(n, &node);
	return wf__wait_errno(reason);
}

int wf_notify_wait(wf_notify *n)
{
	return wf_notify_wait_until(n, WF_FOREVER);
}
