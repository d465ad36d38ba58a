// SPDX-License-Identifier: MIT
/*
 * broadcast.c - wf_broadcast: every message to every receiver, with lag
 * detection (Tokio's broadcast).
 *
 * A ring of @capacity slots under b->lock. Message number p (p counts
 * from 0 and never wraps) lives in slot p % capacity until message
 * p + capacity overwrites it; tail is the number of messages sent. Each
 * receiver keeps the number of the next message it wants (next). Sends
 * never wait.
 *
 * A receive, under the lock:
 *	next <  tail - capacity	the receiver lagged: its next messages were
 *				overwritten. It jumps to the oldest kept one,
 *				tail - capacity, and reports the jump
 *				(-EOVERFLOW, wf_broadcast_lagged()).
 *	next <  tail		copy slot next % capacity, next++.
 *	next == tail		nothing new: -EPIPE if closed, else wait.
 * A new receiver starts at tail, so it sees only later messages.
 *
 * Waiting receivers are in one queue; a send wakes them all, each looks
 * again (no data moves through a wake-up, so a receiver that gives up
 * loses nothing). A lock is simpler than a lock-free ring here and costs
 * little: a send copies one message and wakes only the receivers that
 * were waiting, and every receiver copies out under the lock anyway.
 *
 * Lifetime: one reference for the sender side (wf_broadcast_free) and
 * one per receiver; the last one frees.
 */
#include "internal.h"
#include "select.h"

#include <string.h>

struct wf_broadcast {
	pthread_mutex_t lock;
	_Atomic int refs;
	bool closed;
	unsigned nrx;		/* receivers subscribed */
	size_t elem_size;
	uint64_t cap;
	uint64_t tail;		/* messages sent */
	struct wf__waitq q;
	unsigned char *ring;	/* cap * elem_size bytes */
};

struct wf_broadcast_rx {
	struct wf_broadcast *b;
	uint64_t next;		/* number of the next message to receive */
	uint64_t lagged;	/* skipped at the last -EOVERFLOW */
};

int wf_broadcast_new(wf_broadcast **bp, size_t elem_size, size_t capacity)
{
	wf_broadcast *b;

	if (!bp || !elem_size || elem_size > WF_CHAN_MAX_ELEM || !capacity ||
	    capacity > WF_CHAN_MAX_CAPACITY)
		return -EINVAL;
	if (capacity > SIZE_MAX / elem_size)
		return -ENOMEM;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ring = malloc(capacity * elem_size);
	if (!b->ring) {
		free(b);
		return -ENOMEM;
	}
	pthread_mutex_init(&b->lock, NULL);
	atomic_init(&b->refs, 1);
	b->elem_size = elem_size;
	b->cap = capacity;
	*bp = b;
	return 0;
}

static void bc_put(wf_broadcast *b)
{
	if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
		return;
	pthread_mutex_destroy(&b->lock);
	free(b->ring);
	free(b);
}

int wf_broadcast_subscribe(wf_broadcast *b, wf_broadcast_rx **rxp)
{
	wf_broadcast_rx *rx;
	int r = 0;

	if (!b || !rxp)
		return -EINVAL;
	rx = calloc(1, sizeof(*rx));
	if (!rx)
		return -ENOMEM;
	pthread_mutex_lock(&b->lock);
	if (b->closed) {
		r = -EPIPE;
	} else {
		rx->b = b;
		rx->next = b->tail;
		b->nrx++;
		atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&b->lock);
	if (r) {
		free(rx);
		return r;
	}
	*rxp = rx;
	return 0;
}

int wf_broadcast_send(wf_broadcast *b, const void *msg)
{
	int r;

	if (!b || !msg)
		return -EINVAL;
	pthread_mutex_lock(&b->lock);
	if (b->closed) {
		r = -EPIPE;
	} else {
		memcpy(b->ring + (b->tail % b->cap) * b->elem_size, msg, b->elem_size);
		b->tail++;
		r = (int)b->nrx;
		wf__waitq_wake_all(&b->q);
	}
	pthread_mutex_unlock(&b->lock);
	return r;
}

/* Under the lock: receive now, or -EAGAIN. */
static int bc_take_locked(wf_broadcast_rx *rx, void *buf)
{
	wf_broadcast *b = rx->b;
	uint64_t oldest = b->tail > b->cap ? b->tail - b->cap : 0;

	if (rx->next < oldest) {
		rx->lagged = oldest - rx->next;
		rx->next = oldest;
		return -EOVERFLOW;
	}
	if (rx->next == b->tail)
		return b->closed ? -EPIPE : -EAGAIN;
	memcpy(buf, b->ring + (rx->next % b->cap) * b->elem_size, b->elem_size);
	rx->next++;
	return 0;
}

int wf_broadcast_try_recv(wf_broadcast_rx *rx, void *buf)
{
	int r;

	if (!rx || !buf)
		return -EINVAL;
	pthread_mutex_lock(&rx->b->lock);
	r = bc_take_locked(rx, buf);
	pthread_mutex_unlock(&rx->b->lock);
	return r;
}

int wf_broadcast_recv_until(wf_broadcast_rx *rx, void *buf, uint64_t deadline_ns)
{
	struct wf__waiter node = { 0 };
	wf_broadcast *b;
	int r, reason;

	if (!rx || !buf)
		return -EINVAL;
	r = wf__coop();
	if (r)
		return r;
	b = rx->b;
	node.task = wf__task_cur();
	for (;;) {
		pthread_mutex_lock(&b->lock);
		r = bc_take_locked(rx, buf);
		if (r != -EAGAIN) {
			pthread_mutex_unlock(&b->lock);
			return r;
		}
		node.gen = wf__wait_prepare(node.task);
		wf__waitq_push(&b->q, &node);
		pthread_mutex_unlock(&b->lock);

		reason = wf__wait(node.task, node.gen, deadline_ns);
		if (reason != WF_WOKEN_OK) {
			pthread_mutex_lock(&b->lock);
			wf__waitq_remove(&b->q, &node);
			pthread_mutex_unlock(&b->lock);
			return wf__wait_errno(reason);
		}
	}
}

int wf_broadcast_recv(wf_broadcast_rx *rx, void *buf)
{
	return wf_broadcast_recv_until(rx, buf, WF_FOREVER);
}

uint64_t wf_broadcast_lagged(const wf_broadcast_rx *rx)
{
	return rx ? rx->lagged : 0;
}

int wf_broadcast_close(wf_broadcast *b)
{
	if (!b)
		return -EINVAL;
	pthread_mutex_lock(&b->lock);
	b->closed = true;
	wf__waitq_wake_all(&b->q);
	pthread_mutex_unlock(&b->lock);
	return 0;
}

void wf_broadcast_free(wf_broadcast *b)
{
	if (!b)
		return;
	wf_broadcast_close(b);
	bc_put(b);
}

void wf_broadcast_rx_free(wf_broadcast_rx *rx)
{
	wf_broadcast *b;

	if (!rx)
		return;
	b = rx->b;
	pthread_mutex_lock(&b->lock);
	b->nrx--;
	pthread_mutex_unlock(&b->lock);
	free(rx);
	bc_put(b);
}
