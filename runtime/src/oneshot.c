// SPDX-License-Identifier: MIT
/*
 * oneshot.c - wf_oneshot: one message, one sender, one receiver.
 *
 * Everything is under os->lock, sync_internal.h's spinlock (held for a
 * few instructions and a wake-up, never across a suspension; with a
 * pthread mutex, its lock and unlock calls took 14% of the cycles of the
 * ping_pong benchmark): the state bits, the value and the queue
 * of waiting receivers (one in the contract; a queue costs nothing and
 * lets a select wait on it beside a plain receive). The sender's send or
 * drop wakes every waiter; a woken receiver looks at the state again, so
 * no data moves through a wake-up and a receiver that gives up (timeout,
 * cancel, another select case) leaves the value in place.
 *
 * Lifetime: two references, one per end; each drop gives one back and
 * the last frees the object.
 */
#include "internal.h"
#include "select.h"
#include "sync_internal.h"

#include <string.h>

enum {
	OS_SENT = 1u << 0,	/* a value was stored */
	OS_TAKEN = 1u << 1,	/* and received */
	OS_TX_GONE = 1u << 2,	/* sender's end dropped */
	OS_RX_GONE = 1u << 3,	/* receiver's end dropped */
};

struct wf_oneshot {
	uint32_t lock;			/* sync_lock() spinlock */
	unsigned state;
	_Atomic int refs;
	size_t elem_size;
	struct wf__waitq q;
	unsigned char val[];
};

int wf_oneshot_new(wf_oneshot **osp, size_t elem_size)
{
	wf_oneshot *os;

	if (!osp || !elem_size || elem_size > WF_CHAN_MAX_ELEM)
		return -EINVAL;
	os = calloc(1, sizeof(*os) + elem_size);
	if (!os)
		return -ENOMEM;
	atomic_init(&os->refs, 2);
	os->elem_size = elem_size;
	*osp = os;
	return 0;
}

static void os_put(wf_oneshot *os)
{
	if (atomic_fetch_sub_explicit(&os->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(os);
}

int wf_oneshot_send(wf_oneshot *os, const void *msg)
{
	int r = 0;

	if (!os || !msg)
		return -EINVAL;
	sync_lock(&os->lock);
	if (os->state & OS_SENT) {
		r = -EALREADY;
	} else if (os->state & OS_RX_GONE) {
		r = -EPIPE;
	} else {
		memcpy(os->val, msg, os->elem_size);
		os->state |= OS_SENT;
		wf__waitq_wake_all(&os->q);
	}
	sync_unlock(&os->lock);
	return r;
}

/* Under the lock: the outcome of a receive now, -EAGAIN if none yet. */
static int os_take_locked(wf_oneshot *os, void *buf)
{
	if (os->state & OS_TAKEN)
		return -EALREADY;
	if (os->state & OS_SENT) {
		memcpy(buf, os->val, os->elem_size);
		os->state |= OS_TAKEN;
		return 0;
	}
	return os->state & OS_TX_GONE ? -EPIPE : -EAGAIN;
}

int wf_oneshot_try_recv(wf_oneshot *os, void *buf)
{
	int r;

	if (!os || !buf)
		return -EINVAL;
	sync_lock(&os->lock);
	r = os_take_locked(os, buf);
	sync_unlock(&os->lock);
	return r;
}

bool wf__oneshot_arm(wf_oneshot *os, struct wf__waiter *node)
{
	bool ready;

	sync_lock(&os->lock);
	ready = os->state & (OS_SENT | OS_TX_GONE);
	if (!ready)
		wf__waitq_push(&os->q, node);
	sync_unlock(&os->lock);
	return ready;
}

void wf__oneshot_disarm(wf_oneshot *os, struct wf__waiter *node)
{
	sync_lock(&os->lock);
	wf__waitq_remove(&os->q, node);
	sync_unlock(&os->lock);
}

int wf_oneshot_recv_until(wf_oneshot *os, void *buf, uint64_t deadline_ns)
{
	struct wf__waiter node = { 0 };
	int r, reason;

	if (!os || !buf)
		return -EINVAL;
	r = wf__coop();
	if (r)
		return r;
	node.task = wf__task_cur();
	for (;;) {
		sync_lock(&os->lock);
		r = os_take_locked(os, buf);
		if (r != -EAGAIN) {
			sync_unlock(&os->lock);
			return r;
		}
		node.gen = wf__wait_prepare(node.task);
		wf__waitq_push(&os->q, &node);
		sync_unlock(&os->lock);

		reason = wf__wait(node.task, node.gen, deadline_ns);
		if (reason != WF_WOKEN_OK) {
			wf__oneshot_disarm(os, &node);
			return wf__wait_errno(reason);
		}
	}
}

int wf_oneshot_recv(wf_oneshot *os, void *buf)
{
	return wf_oneshot_recv_until(os, buf, WF_FOREVER);
}

void wf_oneshot_drop_sender(wf_oneshot *os)
{
	if (!os)
		return;
	sync_lock(&os->lock);
	os->state |= OS_TX_GONE;
	if (!(os->state & OS_SENT))
		wf__waitq_wake_all(&os->q);
	sync_unlock(&os->lock);
	os_put(os);
}

void wf_oneshot_drop_receiver(wf_oneshot *os)
{
	if (!os)
		return;
	sync_lock(&os->lock);
	os->state |= OS_RX_GONE;
	sync_unlock(&os->lock);
	os_put(os);
}
