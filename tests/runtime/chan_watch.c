// SPDX-License-Identifier: MIT
/*
 * wf_watch: errors, initial value, changed() waits for a newer version and
 * marks it seen, receivers see the latest value (intermediate ones may be
 * skipped), has_changed, close, deadlines and cancellation, a watcher
 * across workers always converging on the last value.
 */
#include "wtest.h"
#include "chan_util.h"

#include <stdatomic.h>

TEST(errors_outside_a_task)
{
	wf_watch *w;
	wf_watch_rx *rx;
	long v = 1;
	uint64_t ver = 99;

	EXPECT_ERRNO(EINVAL, wf_watch_new(NULL, 8, &v));
	EXPECT_ERRNO(EINVAL, wf_watch_new(&w, 0, &v));
	EXPECT_ERRNO(EINVAL, wf_watch_new(&w, 8, NULL));
	EXPECT_ERRNO(EINVAL, wf_watch_send(NULL, &v));
	EXPECT_ERRNO(EINVAL, wf_watch_get(NULL, &v, NULL));
	EXPECT_ERRNO(EINVAL, wf_watch_subscribe(NULL, &rx));
	EXPECT_ERRNO(EINVAL, wf_watch_changed(NULL));
	EXPECT_ERRNO(EINVAL, wf_watch_changed_until(NULL, 0));
	EXPECT_ERRNO(EINVAL, wf_watch_rx_get(NULL, &v, NULL));
	EXPECT_ERRNO(EINVAL, wf_watch_has_changed(NULL));
	EXPECT_ERRNO(EINVAL, wf_watch_close(NULL));
	ASSERT_EQ(0, wf_watch_new(&w, sizeof(long), &v));
	EXPECT_ERRNO(EINVAL, wf_watch_send(w, NULL));
	EXPECT_ERRNO(EINVAL, wf_watch_get(w, NULL, NULL));
	EXPECT_ERRNO(EINVAL, wf_watch_subscribe(w, NULL));
	v = 0;
	EXPECT_EQ(0, wf_watch_get(w, &v, &ver));
	EXPECT_EQ(1L, v);
	EXPECT_EQ(0u, ver);
	ASSERT_EQ(0, wf_watch_subscribe(w, &rx));
	EXPECT_ERRNO(EPERM, wf_watch_changed(rx));
	EXPECT_ERRNO(EPERM, wf_watch_changed_until(rx, 0));
	EXPECT_EQ(0, wf_watch_has_changed(rx));
	v = 2;
	EXPECT_EQ(0, wf_watch_send(w, &v));
	EXPECT_EQ(1, wf_watch_has_changed(rx));
	EXPECT_EQ(0, wf_watch_rx_get(rx, &v, &ver));
	EXPECT_EQ(2L, v);
	EXPECT_EQ(1u, ver);
	EXPECT_EQ(0, wf_watch_has_changed(rx));
	EXPECT_EQ(0, wf_watch_close(w));
	EXPECT_ERRNO(EPIPE, wf_watch_send(w, &v));
	wf_watch_free(w);
	/* The receiver keeps the watch alive. */
	EXPECT_EQ(0, wf_watch_rx_get(rx, &v, NULL));
	EXPECT_EQ(2L, v);
	wf_watch_rx_free(rx);
	wf_watch_free(NULL);
	wf_watch_rx_free(NULL);
}

static void *late_sends(void *arg)
{
	wf_sleep_ns(3 * WF_NSEC_PER_MSEC);
	for (long v = 10; v <= 12; v++)
		if (wf_watch_send(arg, &v))
			return (void *)1L;
	return NULL;
}

static void *basic_body(void *arg)
{
	wf_watch_rx *rx;
	wf_watch *w;
	wf_task *t;
	uint64_t ver;
	long v = 0;

	CHECK_EQ(0, wf_watch_new(&w, sizeof(long), &v));
	CHECK_EQ(0, wf_watch_subscribe(w, &rx));
	/* Nothing new: waits, times out. */
	CHECK_EQ(-ETIMEDOUT, wf_watch_changed_until(rx, ms_from_now(2)));
	CHECK_EQ(-ETIMEDOUT, wf_watch_changed_until(rx, 0));
	/* Three sends while we wait: we wake, and see the latest. */
	CHECK_EQ(0, wf_spawn(&t, late_sends, w));
	CHECK_EQ(0, wf_watch_changed(rx));
	CHECK_EQ(0, join_long(t));
	CHECK_EQ(0, wf_watch_rx_get(rx, &v, &ver));
	CHECK_EQ(12, v);
	CHECK_EQ(3, ver);
	CHECK_EQ(-ETIMEDOUT, wf_watch_changed_until(rx, 0));
	/* changed() marks the newest as seen. */
	v = 13;
	CHECK_EQ(0, wf_watch_send(w, &v));
	v = 14;
	CHECK_EQ(0, wf_watch_send(w, &v));
	CHECK_EQ(0, wf_watch_changed(rx));
	CHECK_EQ(0, wf_watch_has_changed(rx));
	CHECK_EQ(-ETIMEDOUT, wf_watch_changed_until(rx, 0));
	/* Close: an unseen value is still reported, then -EPIPE. */
	v = 15;
	CHECK_EQ(0, wf_watch_send(w, &v));
	CHECK_EQ(0, wf_watch_close(w));
	CHECK_EQ(0, wf_watch_changed(rx));
	CHECK_EQ(-EPIPE, wf_watch_changed(rx));
	CHECK_EQ(0, wf_watch_rx_get(rx, &v, NULL));
	CHECK_EQ(15, v);
	wf_watch_rx_free(rx);
	wf_watch_free(w);
	return NULL;
}

TEST(changed_sees_the_latest_value)
{
	EXPECT_EQ(0L, run_on(2, basic_body, NULL));
}

static void *changed_task(void *arg)
{
	return (void *)(long)wf_watch_changed(arg);
}

static void *wake_body(void *arg)
{
	wf_watch_rx *rx[3];
	wf_task *t[3];
	wf_watch *w;
	long v = 0;
	void *r;

	CHECK_EQ(0, wf_watch_new(&w, sizeof(long), &v));
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(0, wf_watch_subscribe(w, &rx[i]));
		CHECK_EQ(0, wf_spawn(&t[i], changed_task, rx[i]));
	}
	settle();
	/* Cancel one waiter; the others are woken by a send, or by close. */
	CHECK_EQ(0, wf_cancel(t[0]));
	CHECK_EQ(WF_JOIN_CANCELLED, wf_join(t[0], &r));
	CHECK_EQ(-ECANCELED, (long)r);
	v = 1;
	CHECK_EQ(0, wf_watch_send(w, &v));
	CHECK_EQ(0, join_long(t[1]));
	CHECK_EQ(0, join_long(t[2]));
	/* The cancelled receiver still has the value to see. */
	CHECK_EQ(1, wf_watch_has_changed(rx[0]));
	CHECK_EQ(0, wf_spawn(&t[1], changed_task, rx[1]));
	settle();
	CHECK_EQ(0, wf_watch_close(w));
	CHECK_EQ(-EPIPE, join_long(t[1]));
	for (int i = 0; i < 3; i++)
		wf_watch_rx_free(rx[i]);
	wf_watch_free(w);
	return NULL;
}

TEST(send_and_close_wake_waiters)
{
	EXPECT_EQ(0L, run_on(4, wake_body, NULL));
}

struct conv {
	wf_watch_rx *rx;
	long last;
};

static void *watcher(void *arg)
{
	struct conv *c = arg;
	long v, prev = -1;

	while (wf_watch_changed(c->rx) == 0) {
		wf_watch_rx_get(c->rx, &v, NULL);
		if (v < prev)
			return (void *)1L;	/* went back in time */
		prev = v;
	}
	wf_watch_rx_get(c->rx, &v, NULL);
	c->last = v;
	return NULL;
}

static void *converge_body(void *arg)
{
	long n = WTEST_TSAN ? 2000 : 50000, v = 0;
	struct conv c[4];
	wf_task *t[4];
	wf_watch *w;

	CHECK_EQ(0, wf_watch_new(&w, sizeof(long), &v));
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(0, wf_watch_subscribe(w, &c[i].rx));
		CHECK_EQ(0, wf_spawn(&t[i], watcher, &c[i]));
	}
	for (v = 1; v <= n; v++) {
		CHECK_EQ(0, wf_watch_send(w, &v));
		if (v % 128 == 0)
			wf_yield();
	}
	CHECK_EQ(0, wf_watch_close(w));
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(0, join_long(t[i]));
		CHECK_EQ(n, c[i].last);
		wf_watch_rx_free(c[i].rx);
	}
	wf_watch_free(w);
	return NULL;
}

TEST_TIMEOUT(watchers_converge_on_the_last_value, 120)
{
	EXPECT_EQ(0L, run_on(4, converge_body, NULL));
}

TEST_HARNESS_MAIN
