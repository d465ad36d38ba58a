// SPDX-License-Identifier: MIT
/*
 * wf_notify: errors, the stored permit (at most one), FIFO wake-ups,
 * notify_all wakes only current waiters, timeouts and cancellation never
 * swallow a notification, notification from a plain thread, ping-pong.
 */
#include "wtest.h"
#include "chan_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

TEST(errors)
{
	wf_notify *n;

	EXPECT_ERRNO(EINVAL, wf_notify_new(NULL));
	EXPECT_ERRNO(EINVAL, wf_notify_one(NULL));
	EXPECT_ERRNO(EINVAL, wf_notify_all(NULL));
	EXPECT_ERRNO(EINVAL, wf_notify_wait(NULL));
	EXPECT_ERRNO(EINVAL, wf_notify_wait_until(NULL, 0));
	ASSERT_EQ(0, wf_notify_new(&n));
	/* Waiting outside a task: -EPERM; notifying works anywhere. */
	EXPECT_ERRNO(EPERM, wf_notify_wait(n));
	EXPECT_ERRNO(EPERM, wf_notify_wait_until(n, 0));
	EXPECT_EQ(0, wf_notify_one(n));
	EXPECT_EQ(0, wf_notify_all(n));
	wf_notify_free(n);
	wf_notify_free(NULL);
}

static void *permit_body(void *arg)
{
	wf_notify *n;

	CHECK_EQ(0, wf_notify_new(&n));
	/* No permit: times out. A past deadline returns at once. */
	CHECK_EQ(-ETIMEDOUT, wf_notify_wait_until(n, 0));
	CHECK_EQ(-ETIMEDOUT, wf_notify_wait_until(n, ms_from_now(2)));
	/* One permit, however many notify_one calls. */
	CHECK_EQ(0, wf_notify_one(n));
	CHECK_EQ(0, wf_notify_one(n));
	CHECK_EQ(0, wf_notify_wait(n));
	CHECK_EQ(-ETIMEDOUT, wf_notify_wait_until(n, ms_from_now(2)));
	/* notify_all with nobody waiting stores nothing. */
	CHECK_EQ(0, wf_notify_all(n));
	CHECK_EQ(-ETIMEDOUT, wf_notify_wait_until(n, ms_from_now(2)));
	/* A stored permit is taken even with a past deadline. */
	CHECK_EQ(0, wf_notify_one(n));
	CHECK_EQ(0, wf_notify_wait_until(n, 0));
	wf_notify_free(n);
	return NULL;
}

TEST(permit_is_stored_once)
{
	EXPECT_EQ(0L, run_on(2, permit_body, NULL));
}

struct fifo {
	wf_notify *n;
	_Atomic int order[8];
	_Atomic int next;
	_Atomic int waiting;
};

struct fifo_arg {
	struct fifo *f;
	int id;
};

static void *fifo_waiter(void *arg)
{
	struct fifo_arg *a = arg;
	int r;

	atomic_fetch_add(&a->f->waiting, 1);
	r = wf_notify_wait(a->f->n);
	if (r)
		return (void *)(long)r;
	a->f->order[atomic_fetch_add(&a->f->next, 1)] = a->id;
	return NULL;
}

static void *fifo_body(void *arg)
{
	struct fifo f = { 0 };
	struct fifo_arg a[4];
	wf_task *t[4];

	CHECK_EQ(0, wf_notify_new(&f.n));
	for (int i = 0; i < 4; i++) {
		a[i] = (struct fifo_arg){ &f, i };
		CHECK_EQ(0, wf_spawn(&t[i], fifo_waiter, &a[i]));
		/* Make sure waiter i is queued before i + 1 starts. */
		CHECK(WAIT_FOR(atomic_load(&f.waiting) == i + 1));
		settle();
	}
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(0, wf_notify_one(f.n));
		CHECK(WAIT_FOR(atomic_load(&f.next) == i + 1));
	}
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(0, join_long(t[i]));
		CHECK_EQ(i, atomic_load(&f.order[i]));
	}
	/* Every notification went to a waiter: no permit left. */
	CHECK_EQ(-ETIMEDOUT, wf_notify_wait_until(f.n, 0));
	wf_notify_free(f.n);
	return NULL;
}

TEST(notify_one_wakes_in_fifo_order)
{
	EXPECT_EQ(0L, run_on(4, fifo_body, NULL));
}

static void *all_body(void *arg)
{
	struct fifo f = { 0 };
	struct fifo_arg a[5];
	wf_task *t[5];

	CHECK_EQ(0, wf_notify_new(&f.n));
	for (int i = 0; i < 5; i++) {
		a[i] = (struct fifo_arg){ &f, i };
		CHECK_EQ(0, wf_spawn(&t[i], fifo_waiter, &a[i]));
	}
	CHECK(WAIT_FOR(atomic_load(&f.waiting) == 5));
	settle();
	CHECK_EQ(5, wf_notify_all(f.n));
	for (int i = 0; i < 5; i++)
		CHECK_EQ(0, join_long(t[i]));
	CHECK_EQ(5, atomic_load(&f.next));
	/* Nothing stored for later waiters. */
	CHECK_EQ(-ETIMEDOUT, wf_notify_wait_until(f.n, ms_from_now(2)));
	CHECK_EQ(0, wf_notify_all(f.n));
	wf_notify_free(f.n);
	return NULL;
}

TEST(notify_all_wakes_current_waiters_only)
{
	EXPECT_EQ(0L, run_on(4, all_body, NULL));
}

static void *wait_task(void *arg)
{
	return (void *)(long)wf_notify_wait(arg);
}

static void *timed_wait_task(void *arg)
{
	return (void *)(long)wf_notify_wait_until(arg, ms_from_now(5));
}

static void *self_cancel_wait(void *arg)
{
	wf_cancel(wf_current());
	return (void *)(long)wf_notify_wait(arg);
}

static void *leave_body(void *arg)
{
	wf_notify *n;
	wf_task *a, *b;
	void *r;

	CHECK_EQ(0, wf_notify_new(&n));
	/* A cancelled waiter: -ECANCELED, and it takes no notification. */
	CHECK_EQ(0, wf_spawn(&a, wait_task, n));
	settle();
	CHECK_EQ(0, wf_spawn(&b, wait_task, n));
	settle();
	CHECK_EQ(0, wf_cancel(a));
	CHECK_EQ(WF_JOIN_CANCELLED, wf_join(a, &r));
	CHECK_EQ(-ECANCELED, (long)r);
	CHECK_EQ(0, wf_notify_one(n));
	CHECK_EQ(0, join_long(b));
	/* A timed-out waiter: the next notification is stored, not lost. */
	CHECK_EQ(0, wf_spawn(&a, timed_wait_task, n));
	CHECK_EQ(-ETIMEDOUT, join_long(a));
	CHECK_EQ(0, wf_notify_one(n));
	CHECK_EQ(0, wf_notify_wait_until(n, 0));
	/* A task cancelled before it waits gets -ECANCELED, permit kept. */
	CHECK_EQ(0, wf_notify_one(n));
	CHECK_EQ(0, wf_spawn(&a, self_cancel_wait, n));
	CHECK_EQ(WF_JOIN_CANCELLED, wf_join(a, &r));
	CHECK_EQ(-ECANCELED, (long)r);
	CHECK_EQ(0, wf_notify_wait_until(n, 0));
	wf_notify_free(n);
	return NULL;
}

TEST(timeout_and_cancel_take_nothing)
{
	EXPECT_EQ(0L, run_on(2, leave_body, NULL));
}

static void *thread_notifier(void *arg)
{
	usleep(5000);
	wf_notify_one(arg);
	return NULL;
}

static void *from_thread_body(void *arg)
{
	wf_notify *n;
	pthread_t th;

	CHECK_EQ(0, wf_notify_new(&n));
	CHECK_EQ(0, pthread_create(&th, NULL, thread_notifier, n));
	CHECK_EQ(0, wf_notify_wait_until(n, ms_from_now(5000)));
	pthread_join(th, NULL);
	wf_notify_free(n);
	return NULL;
}

TEST(notify_from_a_plain_thread)
{
	EXPECT_EQ(0L, run_on(2, from_thread_body, NULL));
}

struct pp {
	wf_notify *ping, *pong;
	long rounds;
};

static void *ponger(void *arg)
{
	struct pp *p = arg;

	for (long i = 0; i < p->rounds; i++) {
		if (wf_notify_wait(p->ping))
			return (void *)1L;
		wf_notify_one(p->pong);
	}
	return NULL;
}

static void *pingpong_body(void *arg)
{
	struct pp p = { .rounds = WTEST_TSAN ? 2000 : 50000 };
	wf_task *t;

	CHECK_EQ(0, wf_notify_new(&p.ping));
	CHECK_EQ(0, wf_notify_new(&p.pong));
	CHECK_EQ(0, wf_spawn(&t, ponger, &p));
	for (long i = 0; i < p.rounds; i++) {
		wf_notify_one(p.ping);
		/* A lost wake-up would hang here: fail instead. */
		CHECK_EQ(0, wf_notify_wait_until(p.pong, ms_from_now(5000)));
	}
	CHECK_EQ(0, join_long(t));
	wf_notify_free(p.ping);
	wf_notify_free(p.pong);
	return NULL;
}

TEST_TIMEOUT(ping_pong_across_workers, 120)
{
	EXPECT_EQ(0L, run_on(4, pingpong_body, NULL));
}

TEST_HARNESS_MAIN
