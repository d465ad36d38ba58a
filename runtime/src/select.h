/* SPDX-License-Identifier: MIT */
/*
 * select.h - what each primitive gives wf_select() (select.c), and the
 * conventions the message-passing files (notify.c, chan.c, oneshot.c,
 * broadcast.c, watch.c) share.
 *
 * Waiter nodes. A waiting task links a struct wf__waiter (internal.h) into
 * a primitive's queue under the primitive's lock. A waker pops it under
 * the same lock and then:
 *	node->result = R;		(R != 0: what the waiter gets)
 *	if (!wf__wake(node->task, node->gen, WF_WOKEN_OK))
 *		node->result = 0;	(it is leaving: try the next one)
 * result is written before the wake because a plain waiter woken with
 * WF_WOKEN_OK may return (and reuse its stack) without taking the lock
 * again; it is cleared after a lost wake while the lock is still held,
 * and a waiter that did not win always takes the lock before it leaves,
 * so it never sees a stale value. A select waiter takes every lock
 * before it reads the results, so result != 0 marks the one node that
 * won its wait (only one wf__wake per generation succeeds).
 *
 * Arming (select). wf__X_arm() links the node (task and gen already
 * set) unless the case is ready now, in which case it links nothing and
 * returns true. wf__X_disarm() unlinks the node if still linked; after
 * it, node->result is stable. Neither consumes anything: select does
 * that with the primitive's try call, or, for cases where the waker hands
 * something over (a channel slot to a sender, a notify permit), by
 * reading node->result.
 */
#ifndef WEFT_SELECT_H
#define WEFT_SELECT_H

#include "internal.h"

#include <stdlib.h>
#include <weft/chan.h>

/* node->result values besides negative errnos. */
#define WF__NODE_WON 1		/* woken: handed over (send, notify) or ready */

/* chan.c */
bool wf__chan_arm_recv(wf_chan *ch, struct wf__waiter *node);
void wf__chan_disarm_recv(wf_chan *ch, struct wf__waiter *node);
bool wf__chan_arm_send(wf_chan *ch, struct wf__waiter *node, const void *msg);
void wf__chan_disarm_send(wf_chan *ch, struct wf__waiter *node);

/* oneshot.c */
bool wf__oneshot_arm(wf_oneshot *os, struct wf__waiter *node);
void wf__oneshot_disarm(wf_oneshot *os, struct wf__waiter *node);

/* notify.c */
bool wf__notify_try(wf_notify *n);
bool wf__notify_arm(wf_notify *n, struct wf__waiter *node);
void wf__notify_disarm(wf_notify *n, struct wf__waiter *node);

/*
 * Offer @r to the waiter @node (popped by the caller, under the owner's
 * lock): true if it won the wait and will see @r in node->result.
 */
static inline bool wf__node_wake(struct wf__waiter *node, intptr_t r)
{
	node->result = r;
	if (wf__wake(node->task, node->gen, WF_WOKEN_OK))
		return true;
	node->result = 0;
	return false;
}

/* Wake every waiter of @q with WF__NODE_WON; returns how many won. Under its lock. */
static inline int wf__waitq_wake_all(struct wf__waitq *q)
{
	struct wf__waiter *node;
	int n = 0;

	while ((node = wf__waitq_pop(q)))
		n += wf__node_wake(node, WF__NODE_WON);
	return n;
}

/* Allocate @size bytes aligned to a cache line, or NULL. */
static inline void *wf__alloc_aligned(size_t size)
{
	void *p;

	size = (size + WF_CACHELINE - 1) & ~(size_t)(WF_CACHELINE - 1);
	return posix_memalign(&p, WF_CACHELINE, size) ? NULL : p;
}

#endif /* WEFT_SELECT_H */
