// SPDX-License-Identifier: MIT
/*
 * wf_select: errors, exactly one case completes and the others are left
 * untouched (no message consumed or sent, no permit taken), random start
 * (both ready cases chosen about equally) and biased mode, timer cases
 * and deadlines, send cases completed by a receiver's hand-off, notify and
 * oneshot cases, closed channels, cancellation, many cases, and storms of
 * concurrent selects with cancellation (nothing lost, nothing doubled).
 */
#include "wtest.h"
#include "chan_util.h"

#include <stdatomic.h>
#include <stdlib.h>

TEST(errors)
{
	struct wf_select_case c[2];
	wf_chan *ch;
	long v;

	ASSERT_EQ(0, wf_chan_new(&ch, sizeof(long), 1));
	EXPECT_ERRNO(EINVAL, wf_select(NULL, 1, 0));
	EXPECT_ERRNO(EINVAL, wf_select(NULL, 0, 0));	/* nothing could complete */
	c[0] = WF_SELECT_RECV(ch, &v);
	EXPECT_ERRNO(EINVAL, wf_select(c, WF_SELECT_MAX + 1, 0));
	EXPECT_ERRNO(EINVAL, wf_select(c, 1, 0x80));
	c[0] = WF_SELECT_RECV(NULL, &v);
	EXPECT_ERRNO(EINVAL, wf_select(c, 1, 0));
	c[0] = WF_SELECT_RECV(ch, NULL);
	EXPECT_ERRNO(EINVAL, wf_select(c, 1, 0));
	c[0] = WF_SELECT_SEND(ch, NULL);
	EXPECT_ERRNO(EINVAL, wf_select(c, 1, 0));
	c[0] = WF_SELECT_ONESHOT(NULL, &v);
	EXPECT_ERRNO(EINVAL, wf_select(c, 1, 0));
	c[0] = WF_SELECT_NOTIFY(NULL);
	EXPECT_ERRNO(EINVAL, wf_select(c, 1, 0));
	c[0] = (struct wf_select_case){ .op = 99, .chan = ch, .buf = &v };
	EXPECT_ERRNO(EINVAL, wf_select(c, 1, 0));
	c[0] = (struct wf_select_case){ .op = WF_SEL_NONE };
	c[1] = (struct wf_select_case){ .op = WF_SEL_NONE };
	EXPECT_ERRNO(EINVAL, wf_select(c, 2, 0));
	/* Valid but outside a task. */
	c[0] = WF_SELECT_RECV(ch, &v);
	EXPECT_ERRNO(EPERM, wf_select(c, 1, 0));
	EXPECT_ERRNO(EPERM, wf_select_until(c, 1, 0, 0));
	wf_chan_free(ch);
}

static void *ready_body(void *arg)
{
	struct wf_select_case c[3];
	long a = 0, b = 0, v;
	wf_chan *ca, *cb;
	wf_notify *n;

	CHECK_EQ(0, wf_chan_new(&ca, sizeof(long), 4));
	CHECK_EQ(0, wf_chan_new(&cb, sizeof(long), 4));
	CHECK_EQ(0, wf_notify_new(&n));
	v = 1;
	CHECK_EQ(0, wf_chan_send(ca, &v));
	v = 2;
	CHECK_EQ(0, wf_chan_send(cb, &v));
	CHECK_EQ(0, wf_notify_one(n));
	c[0] = WF_SELECT_RECV(ca, &a);
	c[1] = WF_SELECT_RECV(cb, &b);
	c[2] = WF_SELECT_NOTIFY(n);
	c[1].result = c[2].result = 77;
	CHECK_EQ(0, wf_select(c, 3, WF_SELECT_BIASED));
	CHECK_EQ(0, c[0].result);
	CHECK_EQ(1, a);
	/* The others were not touched. */
	CHECK_EQ(77, c[1].result);
	CHECK_EQ(77, c[2].result);
	CHECK_EQ(0, b);
	CHECK_EQ(1, wf_chan_len(cb));
	CHECK_EQ(0, wf_notify_wait_until(n, 0));
	/* Next: ca is empty, so cb's message. */
	CHECK_EQ(1, wf_select(c, 3, WF_SELECT_BIASED));
	CHECK_EQ(2, b);
	/* A disabled case is skipped even when ready. */
	CHECK_EQ(0, wf_chan_send(ca, &v));
	CHECK_EQ(0, wf_notify_one(n));
	c[0].op = WF_SEL_NONE;
	CHECK_EQ(2, wf_select(c, 3, WF_SELECT_BIASED));
	CHECK_EQ(0, c[2].result);
	CHECK_EQ(1, wf_chan_len(ca));
	wf_chan_free(ca);
	wf_chan_free(cb);
	wf_notify_free(n);
	return NULL;
}

TEST(ready_case_completes_others_untouched)
{
	EXPECT_EQ(0L, run_on(2, ready_body, NULL));
}

static void *fair_body(void *arg)
{
	int iters = WTEST_TSAN ? 2000 : 20000, biased = (int)(long)arg;
	struct wf_select_case c[2];
	long count[2] = { 0 }, a, b, v = 5;
	wf_chan *ca, *cb;

	CHECK_EQ(0, wf_chan_new(&ca, sizeof(long), 1));
	CHECK_EQ(0, wf_chan_new(&cb, sizeof(long), 1));
	CHECK_EQ(0, wf_chan_send(ca, &v));
	CHECK_EQ(0, wf_chan_send(cb, &v));
	c[0] = WF_SELECT_RECV(ca, &a);
	c[1] = WF_SELECT_RECV(cb, &b);
	for (int i = 0; i < iters; i++) {
		int k = wf_select(c, 2, biased ? WF_SELECT_BIASED : 0);

		CHECK(k == 0 || k == 1);
		CHECK_EQ(0, c[k].result);
		count[k]++;
		/* Refill: both cases are ready at every select. */
		CHECK_EQ(0, wf_chan_try_send(k ? cb : ca, &v));
	}
	printf("# %s: case 0 chosen %ld times, case 1 %ld times\n",
	       biased ? "biased" : "random", count[0], count[1]);
	if (biased) {
		CHECK_EQ(iters, count[0]);
	} else {
		CHECK(count[0] > iters * 4 / 10);
		CHECK(count[1] > iters * 4 / 10);
	}
	wf_chan_free(ca);
	wf_chan_free(cb);
	return NULL;
}

TEST(random_start_is_fair)
{
	EXPECT_EQ(0L, run_on(2, fair_body, (void *)0L));
}

TEST(biased_checks_in_order)
{
	EXPECT_EQ(0L, run_on(2, fair_body, (void *)1L));
}

static void *timer_body(void *arg)
{
	struct wf_select_case c[3];
	wf_chan *ch;
	uint64_t t0;
	long v;

	CHECK_EQ(0, wf_chan_new(&ch, sizeof(long), 1));
	t0 = wf_now_ns();
	c[0] = WF_SELECT_RECV(ch, &v);
	c[1] = WF_SELECT_TIMER(t0 + 20 * WF_NSEC_PER_MSEC);
	c[2] = WF_SELECT_TIMER(t0 + 5 * WF_NSEC_PER_MSEC);
	/* The earlier timer fires. */
	CHECK_EQ(2, wf_select(c, 3, 0));
	CHECK_EQ(0, c[2].result);
	CHECK(wf_now_ns() - t0 >= 5 * WF_NSEC_PER_MSEC);
	/* A past timer is ready at once. */
	CHECK_EQ(2, wf_select(c, 3, WF_SELECT_BIASED));
	/* A deadline before any timer case: -ETIMEDOUT. */
	c[1] = WF_SELECT_TIMER(wf_now_ns() + 50 * WF_NSEC_PER_MSEC);
	c[2].op = WF_SEL_NONE;
	CHECK_EQ(-ETIMEDOUT, wf_select_until(c, 3, 0, ms_from_now(3)));
	CHECK_EQ(-ETIMEDOUT, wf_select_until(c, 3, 0, 0));
	/* A timer case due by the deadline wins over -ETIMEDOUT. */
	c[1] = WF_SELECT_TIMER(wf_now_ns() + 2 * WF_NSEC_PER_MSEC);
	CHECK_EQ(1, wf_select_until(c, 3, 0, ms_from_now(30)));
	/* With no case at all, select_until is a sleep. */
	CHECK_EQ(-ETIMEDOUT, wf_select_until(NULL, 0, 0, ms_from_now(2)));
	/* Nothing was received meanwhile. */
	CHECK_EQ(0, wf_chan_len(ch));
	wf_chan_free(ch);
	return NULL;
}

TEST(timer_cases_and_deadlines)
{
	EXPECT_EQ(0L, run_on(2, timer_body, NULL));
}

struct later {
	wf_chan *ch;
	long v;
	int op;		/* 0: send v, 1: receive into v */
};

static void *later_task(void *arg)
{
	struct later *l = arg;

	wf_sleep_ns(3 * WF_NSEC_PER_MSEC);
	return (void *)(long)(l->op ? wf_chan_recv(l->ch, &l->v) : wf_chan_send(l->ch, &l->v));
}

static void *send_recv_body(void *arg)
{
	struct wf_select_case c[2];
	wf_chan *full, *empty;
	struct later l;
	long in = 0, out = 42, v;
	wf_task *t;

	CHECK_EQ(0, wf_chan_new(&full, sizeof(long), 2));
	CHECK_EQ(0, wf_chan_new(&empty, sizeof(long), 2));
	for (v = 0; v < 2; v++)
		CHECK_EQ(0, wf_chan_send(full, &v));
	c[0] = WF_SELECT_SEND(full, &out);
	c[1] = WF_SELECT_RECV(empty, &in);

	/* Someone sends to the empty one: the receive completes. */
	l = (struct later){ empty, 9, 0 };
	CHECK_EQ(0, wf_spawn(&t, later_task, &l));
	CHECK_EQ(1, wf_select(c, 2, 0));
	CHECK_EQ(0, c[1].result);
	CHECK_EQ(9, in);
	CHECK_EQ(0, join_long(t));
	/* ... and our message was not sent. */
	CHECK_EQ(2, wf_chan_len(full));

	/* Someone receives from the full one: our send completes. */
	l = (struct later){ full, 0, 1 };
	CHECK_EQ(0, wf_spawn(&t, later_task, &l));
	CHECK_EQ(0, wf_select(c, 2, 0));
	CHECK_EQ(0, c[0].result);
	CHECK_EQ(0, join_long(t));
	CHECK_EQ(0, l.v);
	CHECK_EQ(2, wf_chan_len(full));
	CHECK_EQ(0, wf_chan_recv(full, &v));
	CHECK_EQ(1, v);
	CHECK_EQ(0, wf_chan_recv(full, &v));
	CHECK_EQ(42, v);
	CHECK_EQ(0, wf_chan_len(empty));

	/* Closed channels complete their cases with -EPIPE. */
	CHECK_EQ(0, wf_chan_close(empty));
	c[0].op = WF_SEL_NONE;
	CHECK_EQ(1, wf_select(c, 2, 0));
	CHECK_EQ(-EPIPE, c[1].result);
	c[0] = WF_SELECT_SEND(empty, &out);
	c[1].op = WF_SEL_NONE;
	CHECK_EQ(0, wf_select(c, 2, 0));
	CHECK_EQ(-EPIPE, c[0].result);
	wf_chan_free(full);
	wf_chan_free(empty);
	return NULL;
}

TEST(send_and_recv_cases)
{
	EXPECT_EQ(0L, run_on(4, send_recv_body, NULL));
}

static void *notify_later(void *arg)
{
	wf_sleep_ns(3 * WF_NSEC_PER_MSEC);
	return (void *)(long)wf_notify_one(arg);
}

static void *oneshot_later(void *arg)
{
	long v = 5;

	wf_sleep_ns(3 * WF_NSEC_PER_MSEC);
	return (void *)(long)wf_oneshot_send(arg, &v);
}

static _Atomic int stop_all;

static void *notify_all_loop(void *arg)
{
	while (!atomic_load(&stop_all)) {
		if (wf_notify_all(arg) < 0)
			return (void *)1L;
		wf_sleep_ns(WF_NSEC_PER_MSEC);
	}
	return NULL;
}

static void *notify_oneshot_body(void *arg)
{
	struct wf_select_case c[3];
	wf_oneshot *os;
	wf_notify *n;
	wf_chan *ch;
	long v = 0, w = 0;
	wf_task *t;

	CHECK_EQ(0, wf_notify_new(&n));
	CHECK_EQ(0, wf_oneshot_new(&os, sizeof(long)));
	CHECK_EQ(0, wf_chan_new(&ch, sizeof(long), 1));
	c[0] = WF_SELECT_NOTIFY(n);
	c[1] = WF_SELECT_ONESHOT(os, &v);
	c[2] = WF_SELECT_RECV(ch, &w);

	CHECK_EQ(0, wf_spawn(&t, notify_later, n));
	CHECK_EQ(0, wf_select(c, 3, 0));
	CHECK_EQ(0, c[0].result);
	CHECK_EQ(0, join_long(t));
	/* The notification went to the select: no permit left over. */
	CHECK_EQ(-ETIMEDOUT, wf_notify_wait_until(n, 0));

	CHECK_EQ(0, wf_spawn(&t, oneshot_later, os));
	CHECK_EQ(1, wf_select(c, 3, 0));
	CHECK_EQ(0, c[1].result);
	CHECK_EQ(5, v);
	CHECK_EQ(0, join_long(t));
	/* Received: the oneshot case now completes with -EALREADY. */
	CHECK_EQ(1, wf_select(c, 3, WF_SELECT_BIASED));
	CHECK_EQ(-EALREADY, c[1].result);
	c[1].op = WF_SEL_NONE;

	/* notify_all reaches a selecting task too. */
	atomic_store(&stop_all, 0);
	CHECK_EQ(0, wf_spawn(&t, notify_all_loop, n));
	CHECK_EQ(0, wf_select(c, 3, 0));
	CHECK_EQ(0, c[0].result);
	atomic_store(&stop_all, 1);
	CHECK_EQ(0, join_long(t));
	CHECK_EQ(-ETIMEDOUT, wf_notify_wait_until(n, 0));	/* notify_all stores nothing */
	wf_oneshot_drop_sender(os);
	wf_oneshot_drop_receiver(os);

	/* A sender that drops its end: the oneshot case completes, -EPIPE. */
	CHECK_EQ(0, wf_oneshot_new(&os, sizeof(long)));
	c[1] = WF_SELECT_ONESHOT(os, &v);
	wf_oneshot_drop_sender(os);
	CHECK_EQ(1, wf_select(c, 3, 0));
	CHECK_EQ(-EPIPE, c[1].result);
	wf_oneshot_drop_receiver(os);
	wf_notify_free(n);
	wf_chan_free(ch);
	return NULL;
}

TEST(notify_and_oneshot_cases)
{
	EXPECT_EQ(0L, run_on(4, notify_oneshot_body, NULL));
}

struct sel_cancel {
	wf_chan *full, *empty;
	wf_notify *n;
	wf_oneshot *os;
	_Atomic int in_select;
};

static void *selector(void *arg)
{
	struct sel_cancel *s = arg;
	struct wf_select_case c[5];
	long out = 1000, in = 0, v = 0;

	c[0] = WF_SELECT_SEND(s->full, &out);
	c[1] = WF_SELECT_RECV(s->empty, &in);
	c[2] = WF_SELECT_NOTIFY(s->n);
	c[3] = WF_SELECT_ONESHOT(s->os, &v);
	c[4] = WF_SELECT_TIMER(wf_now_ns() + 60 * WF_NSEC_PER_SEC);
	atomic_store(&s->in_select, 1);
	return (void *)(long)wf_select(c, 5, 0);
}

static void *cancel_body(void *arg)
{
	struct sel_cancel s = { 0 };
	wf_task *t;
	long v;
	void *r;

	CHECK_EQ(0, wf_chan_new(&s.full, sizeof(long), 1));
	CHECK_EQ(0, wf_chan_new(&s.empty, sizeof(long), 1));
	CHECK_EQ(0, wf_notify_new(&s.n));
	CHECK_EQ(0, wf_oneshot_new(&s.os, sizeof(long)));
	v = 1;
	CHECK_EQ(0, wf_chan_send(s.full, &v));
	CHECK_EQ(0, wf_spawn(&t, selector, &s));
	CHECK(WAIT_FOR(atomic_load(&s.in_select)));
	settle();
	CHECK_EQ(0, wf_cancel(t));
	CHECK_EQ(WF_JOIN_CANCELLED, wf_join(t, &r));
	CHECK_EQ(-ECANCELED, (long)r);
	/* Nothing happened: the send did not go, everything else is intact. */
	CHECK_EQ(0, wf_chan_recv(s.full, &v));
	CHECK_EQ(1, v);
	CHECK_EQ(-EAGAIN, wf_chan_try_recv(s.full, &v));
	v = 2;
	CHECK_EQ(0, wf_chan_send(s.empty, &v));
	CHECK_EQ(0, wf_chan_try_recv(s.empty, &v));
	CHECK_EQ(0, wf_notify_one(s.n));	/* stored: nobody waits any more */
	CHECK_EQ(0, wf_notify_wait_until(s.n, 0));
	CHECK_EQ(0, wf_oneshot_send(s.os, &v));
	CHECK_EQ(0, wf_oneshot_try_recv(s.os, &v));
	wf_chan_free(s.full);
	wf_chan_free(s.empty);
	wf_notify_free(s.n);
	wf_oneshot_drop_sender(s.os);
	wf_oneshot_drop_receiver(s.os);
	return NULL;
}

TEST(cancelled_select_completes_nothing)
{
	EXPECT_EQ(0L, run_on(4, cancel_body, NULL));
}

static void *many_body(void *arg)
{
	enum { N = 40 };
	struct wf_select_case c[N];
	wf_chan *ch[N];
	long buf[N], v = 7;
	wf_task *t;
	struct later l;

	for (int i = 0; i < N; i++) {
		CHECK_EQ(0, wf_chan_new(&ch[i], sizeof(long), 1));
		c[i] = WF_SELECT_RECV(ch[i], &buf[i]);
	}
	CHECK_EQ(0, wf_chan_send(ch[N - 1], &v));
	CHECK_EQ(N - 1, wf_select(c, N, 0));
	CHECK_EQ(7, buf[N - 1]);
	/* And waiting on all of them. */
	l = (struct later){ ch[17], 8, 0 };
	CHECK_EQ(0, wf_spawn(&t, later_task, &l));
	CHECK_EQ(17, wf_select(c, N, 0));
	CHECK_EQ(8, buf[17]);
	CHECK_EQ(0, join_long(t));
	for (int i = 0; i < N; i++) {
		CHECK_EQ(0, wf_chan_len(ch[i]));
		wf_chan_free(ch[i]);
	}
	return NULL;
}

TEST(many_cases)
{
	EXPECT_EQ(0L, run_on(2, many_body, NULL));
}

/* --- storms ------------------------------------------------------------------- */

#define STORM_N (WTEST_TSAN ? 1600L : 16000L)
#define BATCH 16

struct storm {
	_Atomic int gate;	/* the receivers receive only while open */
	wf_chan *ch[2];
	_Atomic int *where;	/* per message: case index select returned */
	_Atomic int *got[2];	/* per message and channel: times received */
};

struct storm_arg {
	struct storm *s;
	long id;
};

static void *storm_sender(void *arg)
{
	struct storm_arg *a = arg;
	struct wf_select_case c[2] = {
		WF_SELECT_SEND(a->s->ch[0], &a->id),
		WF_SELECT_SEND(a->s->ch[1], &a->id),
	};
	int k = wf_select(c, 2, 0);

	if (k >= 0 && c[k].result)
		k = -1000 + c[k].result;
	atomic_store(&a->s->where[a->id], k);
	return NULL;
}

struct drain {
	struct storm *s;
	int which;
};

static void *storm_drain(void *arg)
{
	struct drain *d = arg;
	uint32_t seed = 99 + (uint32_t)d->which;
	long id;
	int r;

	for (;;) {
		while (!atomic_load(&d->s->gate))
			wf_sleep_ns(20 * WF_NSEC_PER_USEC);
		r = wf_chan_recv(d->s->ch[d->which], &id);
		if (r)
			break;
		if (id < 0 || id >= STORM_N)
			return (void *)1L;
		atomic_fetch_add(&d->s->got[d->which][id], 1);
		if (xorshift(&seed) % 3 == 0)
			wf_yield();
	}
	return r == -EPIPE ? NULL : (void *)2L;
}

static void *send_storm_body(void *arg)
{
	struct storm s = { 0 };
	struct storm_arg a[BATCH];
	struct drain d[2];
	wf_task *t[BATCH], *rx[2];
	uint32_t seed = 5;
	long sent = 0, cancelled = 0;

	s.where = calloc(STORM_N, sizeof(*s.where));
	s.got[0] = calloc(STORM_N, sizeof(*s.got[0]));
	s.got[1] = calloc(STORM_N, sizeof(*s.got[1]));
	CHECK(s.where && s.got[0] && s.got[1]);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(0, wf_chan_new(&s.ch[i], sizeof(long), 2));
		d[i] = (struct drain){ &s, i };
		CHECK_EQ(0, wf_spawn(&rx[i], storm_drain, &d[i]));
	}
	for (long base = 0; base < STORM_N; base += BATCH) {
		atomic_store(&s.gate, 0);
		for (int j = 0; j < BATCH; j++) {
			a[j] = (struct storm_arg){ &s, base + j };
			atomic_store(&s.where[base + j], 99);
			CHECK_EQ(0, wf_spawn(&t[j], storm_sender, &a[j]));
		}
		/* Both channels full (4 sent): let the others block, then release. */
		settle();
		atomic_store(&s.gate, 1);
		for (int j = 0; j < BATCH; j++) {
			if (xorshift(&seed) % 3)
				continue;
			if (xorshift(&seed) % 2)
				wf_yield();
			wf_cancel(t[j]);
		}
		for (int j = 0; j < BATCH; j++)
			CHECK(wf_join_until(t[j], NULL, ms_from_now(10000)) != -ETIMEDOUT);
	}
	atomic_store(&s.gate, 1);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(0, wf_chan_close(s.ch[i]));
		CHECK_EQ(0, join_long(rx[i]));
	}
	for (long id = 0; id < STORM_N; id++) {
		int k = atomic_load(&s.where[id]);
		int g0 = atomic_load(&s.got[0][id]), g1 = atomic_load(&s.got[1][id]);

		if (k == -ECANCELED) {
			cancelled++;
		} else if (k == 0 || k == 1) {
			sent++;
		} else {
			printf("# message %ld: select returned %d\n", id, k);
			CHECK(0);
		}
		/* Received once, from the channel the select said, or not at all. */
		if (g0 != (k == 0) || g1 != (k == 1)) {
			printf("# message %ld: select %d, received %d + %d\n", id, k, g0, g1);
			CHECK(0);
		}
	}
	printf("# %ld sent, %ld cancelled\n", sent, cancelled);
	CHECK(sent > 0 && cancelled > 0);
	for (int i = 0; i < 2; i++)
		wf_chan_free(s.ch[i]);
	free(s.where);
	free(s.got[0]);
	free(s.got[1]);
	return NULL;
}

TEST_TIMEOUT(send_select_storm_with_cancel, 300)
{
	EXPECT_EQ(0L, run_on(4, send_storm_body, NULL));
}

struct rsel {
	wf_chan *ch[2];
	wf_notify *never;	/* a case that never fires */
	long per;
	_Atomic long got[2];
	_Atomic long sum;
};

static void *rsel_sender(void *arg)
{
	struct rsel *r = arg;
	static _Atomic int which;
	int k = atomic_fetch_add(&which, 1) & 1;

	for (long i = 1; i <= r->per; i++)
		if (wf_chan_send(r->ch[k], &i))
			return (void *)1L;
	return NULL;
}

static void *rsel_receiver(void *arg)
{
	struct rsel *r = arg;
	long a, b;
	struct wf_select_case c[3] = {
		WF_SELECT_RECV(r->ch[0], &a),
		WF_SELECT_RECV(r->ch[1], &b),
		WF_SELECT_NOTIFY(r->never),
	};

	for (;;) {
		int k = wf_select(c, 3, 0);

		if (k < 0 || k == 2)
			return (void *)3L;
		if (c[k].result == -EPIPE)
			return NULL;	/* closed and drained */
		if (c[k].result)
			return (void *)4L;
		atomic_fetch_add(&r->got[k], 1);
		atomic_fetch_add(&r->sum, k ? b : a);
	}
}

static void *recv_storm_body(void *arg)
{
	struct rsel r = { .per = WTEST_TSAN ? 5000 : 50000 };
	wf_task *s[4], *rx[2];
	long a;

	CHECK_EQ(0, wf_chan_new(&r.ch[0], sizeof(long), 8));
	CHECK_EQ(0, wf_chan_new(&r.ch[1], sizeof(long), 8));
	CHECK_EQ(0, wf_notify_new(&r.never));
	/* Two selecting receivers on both channels (more than MPSC needs). */
	for (int i = 0; i < 2; i++)
		CHECK_EQ(0, wf_spawn(&rx[i], rsel_receiver, &r));
	for (int i = 0; i < 4; i++)
		CHECK_EQ(0, wf_spawn(&s[i], rsel_sender, &r));
	for (int i = 0; i < 4; i++)
		CHECK_EQ(0, join_long(s[i]));
	CHECK(WAIT_FOR(atomic_load(&r.got[0]) + atomic_load(&r.got[1]) == 4 * r.per));
	CHECK_EQ(0, wf_chan_close(r.ch[0]));
	CHECK_EQ(0, wf_chan_close(r.ch[1]));
	for (int i = 0; i < 2; i++)
		CHECK_EQ(0, join_long(rx[i]));
	CHECK_EQ(2 * r.per, atomic_load(&r.got[0]));
	CHECK_EQ(2 * r.per, atomic_load(&r.got[1]));
	CHECK_EQ(4 * r.per * (r.per + 1) / 2, atomic_load(&r.sum));
	CHECK_EQ(-EPIPE, wf_chan_try_recv(r.ch[0], &a));
	CHECK_EQ(-EPIPE, wf_chan_try_recv(r.ch[1], &a));
	wf_chan_free(r.ch[0]);
	wf_chan_free(r.ch[1]);
	wf_notify_free(r.never);
	return NULL;
}

TEST_TIMEOUT(recv_select_storm_exact_sum, 300)
{
	EXPECT_EQ(0L, run_on(4, recv_storm_body, NULL));
}

TEST_HARNESS_MAIN
