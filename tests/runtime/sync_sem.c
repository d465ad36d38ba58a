// SPDX-License-Identifier: MIT
/*
 * wf_sem: errors, counting, strict FIFO (a large request at the head
 * holds back smaller ones), timeouts and cancellation (no lost permits),
 * release from a plain thread, stress.
 */
#include "wtest.h"
#include "sync_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

TEST(errors_outside_a_task)
{
	wf_sem s = WF_SEM_INIT(2);

	EXPECT_ERRNO(EINVAL, wf_sem_init(NULL, 0));
	EXPECT_ERRNO(EINVAL, wf_sem_init(&s, WF_SEM_MAX + 1));
	EXPECT_EQ(0, wf_sem_init(&s, 2));
	EXPECT_ERRNO(EINVAL, wf_sem_destroy(NULL));
	EXPECT_ERRNO(EINVAL, wf_sem_acquire(NULL, 1));
	EXPECT_ERRNO(EINVAL, wf_sem_acquire_until(NULL, 1, 0));
	EXPECT_ERRNO(EINVAL, wf_sem_acquire(&s, WF_SEM_MAX + 1));
	EXPECT_ERRNO(EINVAL, wf_sem_try_acquire(NULL, 1));
	EXPECT_ERRNO(EINVAL, wf_sem_try_acquire(&s, WF_SEM_MAX + 1));
	EXPECT_ERRNO(EINVAL, wf_sem_release(NULL, 1));
	EXPECT_ERRNO(EINVAL, wf_sem_available(NULL));
	EXPECT_ERRNO(EINVAL, wf_sem_waiters(NULL));
	EXPECT_ERRNO(EPERM, wf_sem_acquire(&s, 1));
	EXPECT_ERRNO(EPERM, wf_sem_acquire_until(&s, 1, WF_FOREVER));
	/* try_acquire and release work from any thread. */
	EXPECT_EQ(0, wf_sem_try_acquire(&s, 2));
	EXPECT_ERRNO(EAGAIN, wf_sem_try_acquire(&s, 1));
	EXPECT_EQ(0, wf_sem_try_acquire(&s, 0));
	EXPECT_EQ(0, wf_sem_release(&s, 5));
	EXPECT_EQ(5, wf_sem_available(&s));
	EXPECT_ERRNO(EOVERFLOW, wf_sem_release(&s, WF_SEM_MAX));
	EXPECT_ERRNO(EOVERFLOW, wf_sem_release(&s, UINT64_MAX));
	EXPECT_EQ(5, wf_sem_available(&s));
	EXPECT_EQ(0, wf_sem_release(&s, WF_SEM_MAX - 5));
	EXPECT_EQ((int64_t)WF_SEM_MAX, wf_sem_available(&s));
	EXPECT_EQ(0, wf_sem_waiters(&s));
	EXPECT_EQ(0, wf_sem_destroy(&s));
}

static void *counting_body(void *arg)
{
	wf_sem s;

	CHECK_EQ(0, wf_sem_init(&s, 3));
	CHECK_EQ(0, wf_sem_acquire(&s, 2));
	CHECK_EQ(1, wf_sem_available(&s));
	CHECK_EQ(-EAGAIN, wf_sem_try_acquire(&s, 2));
	CHECK_EQ(0, wf_sem_try_acquire(&s, 1));
	CHECK_EQ(0, wf_sem_available(&s));
	CHECK_EQ(-ETIMEDOUT, wf_sem_acquire_until(&s, 1, 0));
	CHECK_EQ(-ETIMEDOUT, wf_sem_acquire_until(&s, 1, ms_from_now(5)));
	CHECK_EQ(0, wf_sem_waiters(&s));
	CHECK_EQ(0, wf_sem_release(&s, 3));
	CHECK_EQ(0, wf_sem_acquire(&s, 0));
	CHECK_EQ(0, wf_sem_acquire_until(&s, 3, 0));
	CHECK_EQ(0, wf_sem_release(&s, 3));
	CHECK_EQ(3, wf_sem_available(&s));
	CHECK_EQ(0, wf_sem_destroy(&s));
	return NULL;
}

TEST(counting)
{
	EXPECT_EQ(0L, run_on(2, WF_MULTI_THREAD, counting_body, NULL));
}

/* --- FIFO --- */

struct req {
	wf_sem *s;
	uint64_t n;
	uint64_t deadline;
	_Atomic int got;
};

static void *acquirer(void *arg)
{
	struct req *q = arg;
	int r = wf_sem_acquire_until(q->s, q->n, q->deadline ? q->deadline : WF_FOREVER);

	if (r == 0)
		atomic_store(&q->got, 1);
	return (void *)(long)r;
}

static void *fifo_body(void *arg)
{
	wf_sem s = WF_SEM_INIT(0);
	struct req big = { &s, 5 }, small = { &s, 1 };
	wf_task *tb, *ts;
	void *r;

	CHECK_EQ(0, wf_spawn(&tb, acquirer, &big));
	CHECK(WAIT_FOR(wf_sem_waiters(&s) == 1));
	CHECK_EQ(0, wf_spawn(&ts, acquirer, &small));
	CHECK(WAIT_FOR(wf_sem_waiters(&s) == 2));
	/* One permit would do for the small request, but the big one is first. */
	CHECK_EQ(0, wf_sem_release(&s, 1));
	for (int i = 0; i < 20; i++)
		wf_yield();
	CHECK_EQ(0, atomic_load(&small.got));
	CHECK_EQ(1, wf_sem_available(&s));
	CHECK_EQ(-EAGAIN, wf_sem_try_acquire(&s, 1));	/* no barging either */
	CHECK_EQ(0, wf_sem_release(&s, 4));
	CHECK_EQ(0, wf_join(tb, &r));
	CHECK_EQ(0, (long)r);
	CHECK_EQ(0, wf_sem_available(&s));
	CHECK_EQ(0, atomic_load(&small.got));
	CHECK_EQ(0, wf_sem_release(&s, 1));
	CHECK_EQ(0, wf_join(ts, &r));
	CHECK_EQ(0, (long)r);
	CHECK_EQ(0, wf_sem_available(&s));
	CHECK_EQ(0, wf_sem_destroy(&s));
	return NULL;
}

TEST(large_request_at_head_blocks_smaller_ones)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, fifo_body, NULL));
}

#define NORD 12

struct ordered {
	wf_sem s;
	_Atomic int next;
	int order[NORD];
	struct oarg {
		struct ordered *o;
		int i;
	} args[NORD];
};

static void *ordered_acquirer(void *arg)
{
	struct oarg *a = arg;
	int r = wf_sem_acquire(&a->o->s, 1);

	if (r == 0)
		a->o->order[atomic_fetch_add(&a->o->next, 1)] = a->i;
	return (void *)(long)r;
}

static void *order_body(void *arg)
{
	struct ordered *o = calloc(1, sizeof(*o));
	wf_task *t[NORD];

	wf_sem_init(&o->s, 0);
	for (int i = 0; i < NORD; i++) {
		o->args[i] = (struct oarg){ o, i };
		CHECK_EQ(0, wf_spawn(&t[i], ordered_acquirer, &o->args[i]));
		CHECK(WAIT_FOR(wf_sem_waiters(&o->s) == i + 1));
	}
	/* Release one at a time: each goes to the longest waiter. */
	for (int i = 0; i < NORD; i++) {
		CHECK_EQ(0, wf_sem_release(&o->s, 1));
		CHECK(WAIT_FOR(atomic_load(&o->next) == i + 1));
	}
	for (int i = 0; i < NORD; i++) {
		CHECK_EQ(0, wf_join(t[i], NULL));
		CHECK_EQ(i, o->order[i]);
	}
	CHECK_EQ(0, wf_sem_destroy(&o->s));
	free(o);
	return NULL;
}

TEST(fifo_order)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, order_body, NULL));
}

/* --- leaving the queue --- */

/*
 * The big request at the head gives up (timeout or cancel): the permit
 * already there goes to the small request behind it.
 */
static void *leave_body(void *arg)
{
	bool cancel = arg != NULL;
	wf_sem s = WF_SEM_INIT(0);
	struct req big = { &s, 5, cancel ? 0 : ms_from_now(30) }, small = { &s, 1 };
	wf_task *tb, *ts;
	void *r;

	CHECK_EQ(0, wf_spawn(&tb, acquirer, &big));
	CHECK(WAIT_FOR(wf_sem_waiters(&s) == 1));
	CHECK_EQ(0, wf_spawn(&ts, acquirer, &small));
	CHECK(WAIT_FOR(wf_sem_waiters(&s) == 2));
	CHECK_EQ(0, wf_sem_release(&s, 1));
	if (cancel) {
		wf_cancel(tb);
		CHECK_EQ(WF_JOIN_CANCELLED, wf_join(tb, &r));
		CHECK_EQ(-ECANCELED, (long)r);
	} else {
		CHECK_EQ(0, wf_join(tb, &r));
		CHECK_EQ(-ETIMEDOUT, (long)r);
	}
	CHECK_EQ(0, wf_join(ts, &r));
	CHECK_EQ(0, (long)r);
	CHECK_EQ(0, wf_sem_available(&s));
	CHECK_EQ(0, wf_sem_waiters(&s));
	CHECK_EQ(0, wf_sem_destroy(&s));
	return NULL;
}

TEST(timed_out_head_lets_smaller_through)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, leave_body, NULL));
}

TEST(cancelled_head_lets_smaller_through)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, leave_body, (void *)1L));
}

static void *canceller(void *arg)
{
	wf_cancel(arg);
	return NULL;
}

/*
 * Race a cancel of the head waiter against the release that serves it:
 * permits are conserved (whoever got one gives it back) and the second
 * waiter is always served.
 */
static void *cancel_race_body(void *arg)
{
	long rounds = (long)arg, head_won = 0;
	wf_sem s = WF_SEM_INIT(0);

	for (long i = 0; i < rounds; i++) {
		struct req a = { &s, 1 }, b = { &s, 1 };
		wf_task *ta, *tb, *tc;
		void *ra, *rb;

		CHECK_EQ(0, wf_spawn(&ta, acquirer, &a));
		CHECK(WAIT_FOR(wf_sem_waiters(&s) == 1));
		CHECK_EQ(0, wf_spawn(&tb, acquirer, &b));
		CHECK(WAIT_FOR(wf_sem_waiters(&s) == 2));
		CHECK_EQ(0, wf_spawn(&tc, canceller, ta));
		if (i & 1)
			wf_yield();
		CHECK_EQ(0, wf_sem_release(&s, 1));
		wf_join(ta, &ra);
		if (atomic_load(&a.got)) {
			/* a took the permit: b still waits for one. */
			head_won++;
			CHECK_EQ(0, (long)ra);
			CHECK_EQ(0, wf_sem_release(&s, 1));
		} else {
			CHECK_EQ(-ECANCELED, (long)ra);
		}
		CHECK_EQ(0, wf_join(tb, &rb));
		CHECK_EQ(0, wf_join(tc, NULL));
		CHECK_EQ(0, (long)rb);
		CHECK_EQ(0, wf_sem_available(&s));
		CHECK_EQ(0, wf_sem_waiters(&s));
	}
	printf("# head waiter won the race %ld of %ld times\n", head_won, rounds);
	CHECK_EQ(0, wf_sem_destroy(&s));
	return NULL;
}

TEST(cancel_races_release)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, cancel_race_body,
			     (void *)(long)(WTEST_TSAN ? 200 : 2000)));
}

/* --- release from outside the runtime --- */

static void *thread_release(void *arg)
{
	usleep(10000);
	wf_sem_release(arg, 2);
	return NULL;
}

static void *from_thread_body(void *arg)
{
	wf_sem s = WF_SEM_INIT(0);
	pthread_t th;

	CHECK_EQ(0, pthread_create(&th, NULL, thread_release, &s));
	CHECK_EQ(0, wf_sem_acquire(&s, 2));
	pthread_join(th, NULL);
	CHECK_EQ(0, wf_sem_destroy(&s));
	return NULL;
}

TEST(release_from_a_plain_thread)
{
	EXPECT_EQ(0L, run_on(2, WF_MULTI_THREAD, from_thread_body, NULL));
}

/* --- stress --- */

#define LIMIT 4

struct stress {
	wf_sem s;
	_Atomic long inside;	/* permits held now */
	_Atomic long errors, done;
	long iters;
};

static void *stress_worker(void *arg)
{
	struct stress *s = arg;

	for (long i = 0; i < s->iters; i++) {
		uint64_t n = 1 + (uint64_t)(i % 3 == 0);	/* 1 or 2 permits */
		int r = (i % 5 == 0) ? wf_sem_acquire_until(&s->s, n, ms_from_now(60000))
				     : wf_sem_acquire(&s->s, n);

		if (r) {
			atomic_fetch_add(&s->errors, 1);
			continue;
		}
		if (atomic_fetch_add(&s->inside, (long)n) + (long)n > LIMIT)
			atomic_fetch_add(&s->errors, 1);
		if (i % 4 == 0)
			wf_yield();
		atomic_fetch_sub(&s->inside, (long)n);
		atomic_fetch_add(&s->done, 1);
		if (wf_sem_release(&s->s, n))
			atomic_fetch_add(&s->errors, 1);
	}
	return NULL;
}

static void *stress_body(void *arg)
{
	long ntasks = WTEST_TSAN ? 16 : 64;
	struct stress s = { .iters = WTEST_TSAN ? 2000 : 24000 };
	wf_task **t = calloc((size_t)ntasks, sizeof(*t));

	wf_sem_init(&s.s, LIMIT);
	for (long i = 0; i < ntasks; i++)
		CHECK_EQ(0, wf_spawn(&t[i], stress_worker, &s));
	for (long i = 0; i < ntasks; i++)
		CHECK_EQ(0, wf_join(t[i], NULL));
	free(t);
	CHECK_EQ(0, atomic_load(&s.errors));
	CHECK_EQ(ntasks * s.iters, atomic_load(&s.done));
	CHECK_EQ(LIMIT, wf_sem_available(&s.s));
	CHECK_EQ(0, wf_sem_destroy(&s.s));
	return NULL;
}

TEST_TIMEOUT(stress_limits_concurrency_4_workers, 60)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, stress_body, NULL));
}

TEST_HARNESS_MAIN
