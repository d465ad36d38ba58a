// SPDX-License-Identifier: MIT
/*
 * select.c - wf_select: wait on several cases, complete exactly one.
 *
 * One round:
 *   1. Try: run each enabled case's non-waiting form (try_recv, try_send,
 *	take the notify permit, compare the clock) in order, starting at a
 *	random case unless biased. The first that is ready completes and
 *	select returns; a case that is not ready changes nothing.
 *   2. Arm: start one wait (one generation, wait.c) and link one waiter
 *	node with that same generation into every case's queue, in the same
 *	order. A case found ready while arming links nothing and ends
 *	arming: select then ends its own wait (wf__wait_claim(), wait.c) so that no
 *	waker can win it any more, and goes to 4.
 *   3. Wait: wf__wait() until one of the wakers wins the wait, or the
 *	earliest deadline (timer cases, the _until deadline) passes, or the
 *	task is cancelled. Only one of them can win: the first wf__wake()
 *	for a generation succeeds, later ones fail and their wakers move on
 *	to their next waiter, as if this task had never been queued there.
 *   4. Disarm: unlink every node, each under its primitive's lock. After
 *	that, the one node that won (if any) has result != 0 (select.h).
 *	A send node that won had its message copied into the channel by
 *	the receiver that woke it, and a notify node that won received the
 *	permit: those cases are complete. A receive node that won was told
 *	"look again": its case is tried first, and if something else took
 *	the message meanwhile (several receivers), the round starts over.
 *	Timeout: the timer case due first completes, or -ETIMEDOUT.
 *	Cancel: -ECANCELED, nothing completed.
 * So exactly one case completes and the others are left as they were:
 * nothing is consumed except by the completing try, and nothing is handed
 * to a node that did not win.
 */
#include "internal.h"
#include "select.h"

#include <stdlib.h>

#define SEL_STACK_NODES 16

/*
 * Per-thread xorshift for the random start. Fairness needs spread, not
 * secrecy. Not inlined, and no suspension inside: the TLS address is
 * never carried across a switch (a task may resume on another thread).
 */
static __thread uint32_t sel_seed;

static __attribute__((noinline)) uint32_t sel_rand(void)
{
	uint32_t x = sel_seed;

	if (!x)
		x = ((uint32_t)(uintptr_t)&sel_seed ^ (uint32_t)wf__now()) | 1;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	sel_seed = x;
	return x;
}

static int try_case(struct wf_select_case *c)
{
	switch (c->op) {
	case WF_SEL_RECV:
		return wf_chan_try_recv(c->chan, c->buf);
	case WF_SEL_SEND:
		return wf_chan_try_send(c->chan, c->buf);
	case WF_SEL_ONESHOT:
		return wf_oneshot_try_recv(c->oneshot, c->buf);
	case WF_SEL_NOTIFY:
		return wf__notify_try(c->notify) ? 0 : -EAGAIN;
	case WF_SEL_TIMER:
		return wf__now() >= c->deadline_ns ? 0 : -EAGAIN;
	}
	return -EAGAIN;
}

/* Link @node for @c; true if @c is ready now (nothing linked). */
static bool arm_case(struct wf_select_case *c, struct wf__waiter *node)
{
	switch (c->op) {
	case WF_SEL_RECV:
		return wf__chan_arm_recv(c->chan, node);
	case WF_SEL_SEND:
		return wf__chan_arm_send(c->chan, node, c->buf);
	case WF_SEL_ONESHOT:
		return wf__oneshot_arm(c->oneshot, node);
	case WF_SEL_NOTIFY:
		return wf__notify_arm(c->notify, node);
	}
	return false;	/* timers: the wait's deadline */
}

static void disarm_case(struct wf_select_case *c, struct wf__waiter *node)
{
	switch (c->op) {
	case WF_SEL_RECV:
		wf__chan_disarm_recv(c->chan, node);
		break;
	case WF_SEL_SEND:
		wf__chan_disarm_send(c->chan, node);
		break;
	case WF_SEL_ONESHOT:
		wf__oneshot_disarm(c->oneshot, node);
		break;
	case WF_SEL_NOTIFY:
		wf__notify_disarm(c->notify, node);
		break;
	}
}

/* -EINVAL for a malformed case, else 1 if enabled, 0 if WF_SEL_NONE. */
static int check_case(const struct wf_select_case *c)
{
	switch (c->op) {
	case WF_SEL_NONE:
		return 0;
	case WF_SEL_RECV:
	case WF_SEL_SEND:
	case WF_SEL_ONESHOT:
		return c->chan && c->buf ? 1 : -EINVAL;	/* union: any member */
	case WF_SEL_NOTIFY:
		return c->notify ? 1 : -EINVAL;
	case WF_SEL_TIMER:
		return 1;
	}
	return -EINVAL;
}

struct sel {
	struct wf_select_case *cs;
	struct wf__waiter *nodes;
	unsigned n, start;
	uint64_t timer_min;	/* earliest timer case, WF_FOREVER if none */
	unsigned timer_idx;
};

static inline unsigned sel_idx(const struct sel *s, unsigned k)
{
	unsigned i = s->start + k;

	return i >= s->n ? i - s->n : i;
}

/* Phase 1. Returns the index of a completed case, or -1. */
static int sel_try(struct sel *s)
{
	for (unsigned k = 0; k < s->n; k++) {
		unsigned i = sel_idx(s, k);
		struct wf_select_case *c = &s->cs[i];
		int r;

		if (c->op == WF_SEL_NONE)
			continue;
		r = try_case(c);
		if (r != -EAGAIN) {
			c->result = r;
			return (int)i;
		}
	}
	return -1;
}

/*
 * Phases 2-4 for one round. Returns a completed index, -EAGAIN to start
 * another round, -ETIMEDOUT or -ECANCELED.
 */
static int sel_wait(struct sel *s, struct wf_task *t, uint64_t deadline_ns)
{
	uint64_t until = s->timer_min < deadline_ns ? s->timer_min : deadline_ns;
	uint32_t gen = wf__wait_prepare(t);
	unsigned armed, k;
	int reason, won = -1;
	bool ready = false;

	for (armed = 0; armed < s->n; armed++) {
		unsigned i = sel_idx(s, armed);
		struct wf__waiter *node = &s->nodes[i];

		*node = (struct wf__waiter){ .task = t, .gen = gen };
		if (arm_case(&s->cs[i], node)) {
			ready = true;
			break;
		}
	}
	if (ready)
		reason = wf__wait_claim(t, gen) ? WF_WOKEN_OK : (int)(uint32_t)atomic_load(&t->wait);
	else
		reason = wf__wait(t, gen, until);

	for (k = 0; k < armed; k++) {
		unsigned i = sel_idx(s, k);

		disarm_case(&s->cs[i], &s->nodes[i]);
		if (s->nodes[i].result)
			won = (int)i;
	}

	if (won >= 0) {
		struct wf_select_case *c = &s->cs[won];
		intptr_t res = s->nodes[won].result;
		int r;

		switch (c->op) {
		case WF_SEL_SEND:
		case WF_SEL_NOTIFY:
			c->result = res == WF__NODE_WON ? 0 : (int)res;
			return won;
		default:
			r = try_case(c);
			if (r == -EAGAIN)
				return -EAGAIN;
			c->result = r;
			return won;
		}
	}
	if (reason == WF_WOKEN_TIMEOUT) {
		if (s->timer_min <= deadline_ns) {
			s->cs[s->timer_idx].result = 0;
			return (int)s->timer_idx;
		}
		return -ETIMEDOUT;
	}
	if (reason == WF_WOKEN_CANCEL)
		return -ECANCELED;
	return -EAGAIN;	/* we ended the wait ourselves: a case was ready */
}

int wf_select_until(struct wf_select_case *cases, unsigned n, unsigned flags,
		    uint64_t deadline_ns)
{
	struct wf__waiter stack_nodes[SEL_STACK_NODES];
	struct sel s = { .cs = cases, .n = n, .timer_min = WF_FOREVER };
	unsigned enabled = 0;
	struct wf_task *t;
	int r;

	if ((!cases && n) || n > WF_SELECT_MAX || (flags & ~WF_SELECT_BIASED))
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		r = check_case(&cases[i]);
		if (r < 0)
			return r;
		enabled += (unsigned)r;
	}
	if (!enabled && deadline_ns == WF_FOREVER)
		return -EINVAL;
	r = wf__coop();
	if (r)
		return r;
	t = wf__task_cur();

	/* The timer case due first (the first in array order on a tie). */
	for (unsigned i = 0; i < n; i++) {
		if (cases[i].op == WF_SEL_TIMER && cases[i].deadline_ns < s.timer_min) {
			s.timer_min = cases[i].deadline_ns;
			s.timer_idx = i;
		}
	}
	s.start = n && !(flags & WF_SELECT_BIASED) ? sel_rand() % n : 0;
	s.nodes = stack_nodes;
	if (n > SEL_STACK_NODES) {
		s.nodes = malloc(n * sizeof(*s.nodes));
		if (!s.nodes)
			return -ENOMEM;
	}
	do {
		r = sel_try(&s);
		if (r < 0)
			r = sel_wait(&s, t, deadline_ns);
	} while (r == -EAGAIN);
	if (s.nodes != stack_nodes)
		free(s.nodes);
	return r;
}

int wf_select(struct wf_select_case *cases, unsigned n, unsigned flags)
{
	return wf_select_until(cases, n, flags, WF_FOREVER);
}
