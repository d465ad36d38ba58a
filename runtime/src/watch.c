// SPDX-License-Identifier: MIT
/*
 * watch.c - wf_watch: one value with a version (Tokio's watch).
 *
 * The value, its version (incremented by every send) and the queue of
 * waiting receivers are under w->lock. A receiver remembers the version
 * it saw last; changed() waits for a larger one and then records the
 * newest. A send wakes every waiter and each looks again, so values sent
 * in between are skipped by design: a watch carries state, not events.
 * The lock makes the copy in and out of the value atomic as a whole,
 * which a seqlock would do only with racy reads of the value bytes.
 *
 * Lifetime: one reference for the sender side (wf_watch_free) and one
 * per receiver; the last one frees.
 */
#include "internal.h"
#include "select.h"

#include <string.h>

struct wf_watch {
	pthread_mutex_t lock;
	_Atomic int refs;
	bool closed;
	size_t elem_size;
	uint64_t version;
	struct wf__waitq q;
	unsigned char val[];
};

struct wf_watch_rx {
	struct wf_watch *w;
	uint64_t seen;
};

int wf_watch_new(wf_watch **wp, size_t elem_size, const void *init)
{
	wf_watch *w;

	if (!wp || !init || !elem_size || elem_size > WF_CHAN_MAX_ELEM)
		return -EINVAL;
	w = calloc(1, sizeof(*w) + elem_size);
	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	atomic_init(&w->refs, 1);
	w->elem_size = elem_size;
	memcpy(w->val, init, elem_size);
	*wp = w;
	return 0;
}

static void watch_put(wf_watch *w)
{
	if (atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) != 1)
		return;
	pthread_mutex_destroy(&w->lock);
	free(w);
}

int wf_watch_send(wf_watch *w, const void *val)
{
	int r = 0;

	if (!w || !val)
		return -EINVAL;
	pthread_mutex_lock(&w->lock);
	if (w->closed) {
		r = -EPIPE;
	} else {
		memcpy(w->val, val, w->elem_size);
		w->version++;
		wf__waitq_wake_all(&w->q);
	}
	pthread_mutex_unlock(&w->lock);
	return r;
}

int wf_watch_get(const wf_watch *w, void *buf, uint64_t *version)
{
	wf_watch *ww = (wf_watch *)w;	/* the lock is not part of the value */

	if (!w || !buf)
		return -EINVAL;
	pthread_mutex_lock(&ww->lock);
	memcpy(buf, ww->val, ww->elem_size);
	if (version)
		*version = ww->version;
	pthread_mutex_unlock(&ww->lock);
	return 0;
}

int wf_watch_subscribe(wf_watch *w, wf_watch_rx **rxp)
{
	wf_watch_rx *rx;

	if (!w || !rxp)
		return -EINVAL;
	rx = calloc(1, sizeof(*rx));
	if (!rx)
		return -ENOMEM;
	rx->w = w;
	atomic_fetch_add_explicit(&w->refs, 1, memory_order_relaxed);
	pthread_mutex_lock(&w->lock);
	rx->seen = w->version;
	pthread_mutex_unlock(&w->lock);
	*rxp = rx;
	return 0;
}

int wf_watch_changed_until(wf_watch_rx *rx, uint64_t deadline_ns)
{
	struct wf__waiter node = { 0 };
	wf_watch *w;
	int r, reason;

	if (!rx)
		return -EINVAL;
	r = wf__coop();
	if (r)
		return r;
	w = rx->w;
	node.task = wf__task_cur();
	for (;;) {
		pthread_mutex_lock(&w->lock);
		if (w->version != rx->seen) {
			rx->seen = w->version;
			pthread_mutex_unlock(&w->lock);
			return 0;
		}
		if (w->closed) {
			pthread_mutex_unlock(&w->lock);
			return -EPIPE;
		}
		node.gen = wf__wait_prepare(node.task);
		wf__waitq_push(&w->q, &node);
		pthread_mutex_unlock(&w->lock);

		reason = wf__wait(node.task, node.gen, deadline_ns);
		if (reason != WF_WOKEN_OK) {
			pthread_mutex_lock(&w->lock);
			wf__waitq_remove(&w->q, &node);
			pthread_mutex_unlock(&w->lock);
			return wf__wait_errno(reason);
		}
	}
}

int wf_watch_changed(wf_watch_rx *rx)
{
	return wf_watch_changed_until(rx, WF_FOREVER);
}

int wf_watch_rx_get(wf_watch_rx *rx, void *buf, uint64_t *version)
{
	wf_watch *w;

	if (!rx || !buf)
		return -EINVAL;
	w = rx->w;
	pthread_mutex_lock(&w->lock);
	memcpy(buf, w->val, w->elem_size);
	rx->seen = w->version;
	if (version)
		*version = w->version;
	pthread_mutex_unlock(&w->lock);
	return 0;
}

int wf_watch_has_changed(const wf_watch_rx *rx)
{
	wf_watch *w;
	int r;

	if (!rx)
		return -EINVAL;
	w = rx->w;
	pthread_mutex_lock(&w->lock);
	r = w->version != rx->seen;
	pthread_mutex_unlock(&w->lock);
	return r;
}

int wf_watch_close(wf_watch *w)
{
	if (!w)
		return -EINVAL;
	pthread_mutex_lock(&w->lock);
	w->closed = true;
	wf__waitq_wake_all(&w->q);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

void wf_watch_free(wf_watch *w)
{
	if (!w)
		return;
	wf_watch_close(w);
	watch_put(w);
}

void wf_watch_rx_free(wf_watch_rx *rx)
{
	if (!rx)
		return;
	watch_put(rx->w);
	free(rx);
}
