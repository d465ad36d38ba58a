// SPDX-License-Identifier: MIT
/*
 * wf_broadcast: errors, every receiver sees every message in order, a new
 * receiver sees only later messages, lag is reported with the exact
 * number skipped and the receiver resumes at the oldest message kept,
 * close drains then -EPIPE, waiting receivers are woken, deadlines and
 * cancellation, many receivers across workers.
 */
#include "wtest.h"
#include "chan_util.h"

#include <stdatomic.h>

TEST(errors_outside_a_task)
{
	wf_broadcast *b;
	wf_broadcast_rx *rx;
	long v = 1;

	EXPECT_ERRNO(EINVAL, wf_broadcast_new(NULL, 8, 4));
	EXPECT_ERRNO(EINVAL, wf_broadcast_new(&b, 0, 4));
	EXPECT_ERRNO(EINVAL, wf_broadcast_new(&b, 8, 0));
	if (!WTEST_ASAN && !WTEST_TSAN)
		EXPECT_ERRNO(ENOMEM, wf_broadcast_new(&b, WF_CHAN_MAX_ELEM, WF_CHAN_MAX_CAPACITY));
	EXPECT_ERRNO(EINVAL, wf_broadcast_subscribe(NULL, &rx));
	EXPECT_ERRNO(EINVAL, wf_broadcast_send(NULL, &v));
	EXPECT_ERRNO(EINVAL, wf_broadcast_recv(NULL, &v));
	EXPECT_ERRNO(EINVAL, wf_broadcast_recv_until(NULL, &v, 0));
	EXPECT_ERRNO(EINVAL, wf_broadcast_try_recv(NULL, &v));
	EXPECT_ERRNO(EINVAL, wf_broadcast_close(NULL));
	EXPECT_EQ(0u, wf_broadcast_lagged(NULL));
	ASSERT_EQ(0, wf_broadcast_new(&b, sizeof(long), 4));
	EXPECT_ERRNO(EINVAL, wf_broadcast_subscribe(b, NULL));
	EXPECT_ERRNO(EINVAL, wf_broadcast_send(b, NULL));
	/* No receiver yet: the send succeeds and reaches nobody. */
	EXPECT_EQ(0, wf_broadcast_send(b, &v));
	ASSERT_EQ(0, wf_broadcast_subscribe(b, &rx));
	EXPECT_ERRNO(EINVAL, wf_broadcast_try_recv(rx, NULL));
	EXPECT_ERRNO(EPERM, wf_broadcast_recv(rx, &v));
	EXPECT_ERRNO(EPERM, wf_broadcast_recv_until(rx, &v, 0));
	EXPECT_ERRNO(EAGAIN, wf_broadcast_try_recv(rx, &v));
	v = 2;
	EXPECT_EQ(1, wf_broadcast_send(b, &v));
	EXPECT_EQ(0, wf_broadcast_try_recv(rx, &v));
	EXPECT_EQ(2L, v);
	EXPECT_EQ(0, wf_broadcast_close(b));
	EXPECT_ERRNO(EPIPE, wf_broadcast_send(b, &v));
	EXPECT_ERRNO(EPIPE, wf_broadcast_try_recv(rx, &v));
	wf_broadcast_rx_free(rx);
	EXPECT_ERRNO(EPIPE, wf_broadcast_subscribe(b, &rx));
	wf_broadcast_free(b);
	wf_broadcast_free(NULL);
	wf_broadcast_rx_free(NULL);
}

static void *lag_body(void *arg)
{
	wf_broadcast_rx *rx, *late;
	wf_broadcast *b;
	long v;

	CHECK_EQ(0, wf_broadcast_new(&b, sizeof(long), 4));
	CHECK_EQ(0, wf_broadcast_subscribe(b, &rx));
	CHECK_EQ(0, wf_broadcast_lagged(rx));
	for (v = 0; v < 10; v++)
		CHECK_EQ(1, wf_broadcast_send(b, &v));
	/* 10 sent, 4 kept (6..9): 6 skipped. */
	CHECK_EQ(-EOVERFLOW, wf_broadcast_recv(rx, &v));
	CHECK_EQ(6, wf_broadcast_lagged(rx));
	for (long want = 6; want < 10; want++) {
		CHECK_EQ(0, wf_broadcast_recv(rx, &v));
		CHECK_EQ(want, v);
	}
	CHECK_EQ(-ETIMEDOUT, wf_broadcast_recv_until(rx, &v, ms_from_now(2)));
	/* Exactly capacity behind is not a lag. */
	for (v = 10; v < 14; v++)
		CHECK_EQ(1, wf_broadcast_send(b, &v));
	CHECK_EQ(0, wf_broadcast_recv(rx, &v));
	CHECK_EQ(10, v);
	/* One more than capacity behind: lag of 1 (message 11 lost). */
	CHECK_EQ(0, wf_broadcast_subscribe(b, &late));
	for (v = 14; v < 16; v++)
		CHECK_EQ(2, wf_broadcast_send(b, &v));
	CHECK_EQ(-EOVERFLOW, wf_broadcast_recv(rx, &v));
	CHECK_EQ(1, wf_broadcast_lagged(rx));
	CHECK_EQ(0, wf_broadcast_recv(rx, &v));
	CHECK_EQ(12, v);
	/* The late subscriber saw only what came after it. */
	CHECK_EQ(0, wf_broadcast_recv(late, &v));
	CHECK_EQ(14, v);
	CHECK_EQ(0, wf_broadcast_recv(late, &v));
	CHECK_EQ(15, v);
	CHECK_EQ(-EAGAIN, wf_broadcast_try_recv(late, &v));
	/* Close: drain what was not seen, then -EPIPE. */
	CHECK_EQ(0, wf_broadcast_close(b));
	for (long want = 13; want < 16; want++) {
		CHECK_EQ(0, wf_broadcast_recv(rx, &v));
		CHECK_EQ(want, v);
	}
	CHECK_EQ(-EPIPE, wf_broadcast_recv(rx, &v));
	CHECK_EQ(-EPIPE, wf_broadcast_recv(late, &v));
	wf_broadcast_rx_free(rx);
	wf_broadcast_free(b);	/* late still holds it */
	CHECK_EQ(-EPIPE, wf_broadcast_try_recv(late, &v));
	wf_broadcast_rx_free(late);
	return NULL;
}

TEST(lag_reports_exact_skipped_count)
{
	EXPECT_EQ(0L, run_on(2, lag_body, NULL));
}

#define NRX 8

struct fan {
	wf_broadcast *b;
	wf_broadcast_rx *rx[NRX];
	long n;
	_Atomic int ready;
};

struct fan_arg {
	struct fan *f;
	int i;
};

static void *fan_receiver(void *arg)
{
	struct fan_arg *a = arg;
	wf_broadcast_rx *rx = a->f->rx[a->i];
	long v, want = 0;
	int r;

	atomic_fetch_add(&a->f->ready, 1);
	while ((r = wf_broadcast_recv(rx, &v)) == 0) {
		if (v != want)
			return (void *)1L;
		want++;
	}
	if (r != -EPIPE || want != a->f->n)
		return (void *)2L;
	return NULL;
}

static void *fan_body(void *arg)
{
	struct fan f = { .n = WTEST_TSAN ? 2000 : 20000 };
	struct fan_arg a[NRX];
	wf_task *t[NRX];
	wf_broadcast_rx *extra;

	/* Capacity = n: nobody lags, every receiver sees everything. */
	CHECK_EQ(0, wf_broadcast_new(&f.b, sizeof(long), (size_t)f.n));
	for (int i = 0; i < NRX; i++) {
		CHECK_EQ(0, wf_broadcast_subscribe(f.b, &f.rx[i]));
		a[i] = (struct fan_arg){ &f, i };
		CHECK_EQ(0, wf_spawn(&t[i], fan_receiver, &a[i]));
	}
	CHECK(WAIT_FOR(atomic_load(&f.ready) == NRX));
	settle();	/* they wait: every send wakes them */
	for (long v = 0; v < f.n; v++) {
		CHECK_EQ(NRX, wf_broadcast_send(f.b, &v));
		if (v % 64 == 0)
			wf_yield();
	}
	CHECK_EQ(0, wf_broadcast_subscribe(f.b, &extra));
	CHECK_EQ(0, wf_broadcast_close(f.b));
	for (int i = 0; i < NRX; i++) {
		CHECK_EQ(0, join_long(t[i]));
		wf_broadcast_rx_free(f.rx[i]);
	}
	CHECK_EQ(-EPIPE, wf_broadcast_try_recv(extra, &(long){ 0 }));
	wf_broadcast_rx_free(extra);
	wf_broadcast_free(f.b);
	return NULL;
}

TEST_TIMEOUT(every_receiver_sees_every_message, 120)
{
	EXPECT_EQ(0L, run_on(4, fan_body, NULL));
}

static void *recv_task(void *arg)
{
	long v;

	return (void *)(long)wf_broadcast_recv(arg, &v);
}

static void *cancel_body(void *arg)
{
	wf_broadcast_rx *rx;
	wf_broadcast *b;
	wf_task *t;
	long v = 3;
	void *r;

	CHECK_EQ(0, wf_broadcast_new(&b, sizeof(long), 2));
	CHECK_EQ(0, wf_broadcast_subscribe(b, &rx));
	CHECK_EQ(0, wf_spawn(&t, recv_task, rx));
	settle();
	CHECK_EQ(0, wf_cancel(t));
	CHECK_EQ(WF_JOIN_CANCELLED, wf_join(t, &r));
	CHECK_EQ(-ECANCELED, (long)r);
	CHECK_EQ(1, wf_broadcast_send(b, &v));
	v = 0;
	CHECK_EQ(0, wf_broadcast_recv(rx, &v));
	CHECK_EQ(3, v);
	wf_broadcast_rx_free(rx);
	wf_broadcast_free(b);
	return NULL;
}

TEST(cancelled_receiver_loses_nothing)
{
	EXPECT_EQ(0L, run_on(2, cancel_body, NULL));
}

TEST_HARNESS_MAIN
