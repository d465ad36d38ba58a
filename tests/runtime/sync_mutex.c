// SPDX-License-Identifier: MIT
/*
 * wf_mutex: errors, FIFO hand-off, no barging, timeouts, cancellation
 * (a cancelled waiter never swallows a hand-off), statistics, stress.
 */
#include "wtest.h"
#include "sync_util.h"

#include <stdatomic.h>
#include <stdlib.h>

static wf_mutex static_m = WF_MUTEX_INIT;

TEST(errors_outside_a_task)
{
	struct wf_mutex_stats st;
	wf_mutex m;

	EXPECT_ERRNO(EINVAL, wf_mutex_init(NULL));
	ASSERT_EQ(0, wf_mutex_init(&m));
	EXPECT_ERRNO(EPERM, wf_mutex_lock(&m));
	EXPECT_ERRNO(EPERM, wf_mutex_lock_until(&m, WF_FOREVER));
	EXPECT_ERRNO(EPERM, wf_mutex_try_lock(&m));
	EXPECT_ERRNO(EPERM, wf_mutex_unlock(&m));
	EXPECT_ERRNO(EINVAL, wf_mutex_lock(NULL));
	EXPECT_ERRNO(EINVAL, wf_mutex_lock_until(NULL, 0));
	EXPECT_ERRNO(EINVAL, wf_mutex_try_lock(NULL));
	EXPECT_ERRNO(EINVAL, wf_mutex_unlock(NULL));
	EXPECT_ERRNO(EINVAL, wf_mutex_destroy(NULL));
	EXPECT_ERRNO(EINVAL, wf_mutex_stats(NULL, &st));
	EXPECT_ERRNO(EINVAL, wf_mutex_stats(&m, NULL));
	EXPECT_EQ(0, wf_mutex_stats(&m, &st));
	EXPECT_EQ(0u, st.acquisitions);
	EXPECT_EQ(0u, st.locked);
	EXPECT_EQ(0, wf_mutex_destroy(&m));
	EXPECT_EQ(0, wf_mutex_destroy(&static_m));
}

static void *unlock_other(void *arg)
{
	return (void *)(long)wf_mutex_unlock(arg);
}

static void *basic_body(void *arg)
{
	wf_mutex *m = &static_m;
	struct wf_mutex_stats st;
	wf_task *t;
	void *r;

	CHECK_EQ(0, wf_mutex_lock(m));
	CHECK_EQ(-EDEADLK, wf_mutex_lock(m));
	CHECK_EQ(-EDEADLK, wf_mutex_lock_until(m, 0));
	CHECK_EQ(-EBUSY, wf_mutex_try_lock(m));
	CHECK_EQ(-EBUSY, wf_mutex_destroy(m));
	CHECK_EQ(0, wf_mutex_stats(m, &st));
	CHECK_EQ(1, st.locked);
	/* Another task may not unlock it. */
	CHECK_EQ(0, wf_spawn(&t, unlock_other, m));
	CHECK_EQ(0, wf_join(t, &r));
	CHECK_EQ(-EPERM, (long)r);
	CHECK_EQ(0, wf_mutex_unlock(m));
	CHECK_EQ(-EPERM, wf_mutex_unlock(m));
	CHECK_EQ(0, wf_mutex_try_lock(m));
	CHECK_EQ(0, wf_mutex_unlock(m));
	/* A past deadline on a free mutex still takes it. */
	CHECK_EQ(0, wf_mutex_lock_until(m, 0));
	CHECK_EQ(0, wf_mutex_unlock(m));
	CHECK_EQ(0, wf_mutex_destroy(m));
	CHECK_EQ(0, wf_mutex_stats(m, &st));
	CHECK_EQ(3, st.acquisitions);
	CHECK_EQ(0, st.contended);
	return NULL;
}

TEST(lock_unlock_and_errors_in_a_task)
{
	EXPECT_EQ(0L, run_on(2, WF_MULTI_THREAD, basic_body, NULL));
}

/* --- FIFO --- */

#define NFIFO 16

struct fifo {
	wf_mutex m;
	_Atomic int next;
	int order[NFIFO];
	struct fifo_arg {
		struct fifo *f;
		int i;
	} args[NFIFO];
};

static void *fifo_waiter(void *arg)
{
	struct fifo_arg *a = arg;
	struct fifo *f = a->f;
	int r = wf_mutex_lock(&f->m);

	if (r)
		return (void *)(long)r;
	f->order[atomic_fetch_add(&f->next, 1)] = a->i;
	wf_yield();	/* hold it a little: the others must keep waiting */
	return (void *)(long)wf_mutex_unlock(&f->m);
}

static void *fifo_body(void *arg)
{
	struct fifo *f = calloc(1, sizeof(*f));
	struct wf_mutex_stats st;
	wf_task *t[NFIFO];

	wf_mutex_init(&f->m);
	CHECK_EQ(0, wf_mutex_lock(&f->m));
	for (int i = 0; i < NFIFO; i++) {
		f->args[i] = (struct fifo_arg){ f, i };
		CHECK_EQ(0, wf_spawn(&t[i], fifo_waiter, &f->args[i]));
		/* The next waiter is spawned only once this one is queued. */
		CHECK(WAIT_FOR(wf_mutex_stats(&f->m, &st) == 0 && st.waiters == (uint32_t)i + 1));
	}
	CHECK_EQ(0, wf_mutex_unlock(&f->m));
	/* Handed off: no barging by the previous owner. */
	CHECK_EQ(-EBUSY, wf_mutex_try_lock(&f->m));
	for (int i = 0; i < NFIFO; i++) {
		void *r;

		CHECK_EQ(0, wf_join(t[i], &r));
		CHECK_EQ(0, (long)r);
	}
	for (int i = 0; i < NFIFO; i++)
		CHECK_EQ(i, f->order[i]);
	CHECK_EQ(0, wf_mutex_stats(&f->m, &st));
	CHECK_EQ(NFIFO + 1, st.acquisitions);
	CHECK_EQ(NFIFO, st.contended);
	CHECK(st.wait_max_ns > 0 && st.wait_total_ns >= st.wait_max_ns);
	CHECK_EQ(0, wf_mutex_destroy(&f->m));
	free(f);
	return NULL;
}

TEST(fifo_order_multi_thread)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, fifo_body, NULL));
}

TEST(fifo_order_current_thread)
{
	EXPECT_EQ(0L, run_on(1, WF_CURRENT_THREAD, fifo_body, NULL));
}

/* --- timeouts --- */

static void *lock_until_ms(void *arg)
{
	wf_mutex *m = arg;
	int r = wf_mutex_lock_until(m, ms_from_now(20));

	if (r == 0)
		wf_mutex_unlock(m);
	return (void *)(long)r;
}

static void *timeout_body(void *arg)
{
	wf_mutex m = WF_MUTEX_INIT;
	struct wf_mutex_stats st;
	uint64_t t0;
	wf_task *t;
	void *r;

	CHECK_EQ(0, wf_mutex_lock(&m));
	t0 = wf_now_ns();
	CHECK_EQ(0, wf_spawn(&t, lock_until_ms, &m));
	CHECK_EQ(0, wf_join(t, &r));
	CHECK_EQ(-ETIMEDOUT, (long)r);
	CHECK(wf_now_ns() - t0 >= 20 * WF_NSEC_PER_MSEC);
	/* The timed-out waiter left no trace. */
	CHECK_EQ(0, wf_mutex_stats(&m, &st));
	CHECK_EQ(0, st.waiters);
	CHECK_EQ(0, wf_mutex_unlock(&m));
	CHECK_EQ(0, wf_mutex_try_lock(&m));
	CHECK_EQ(0, wf_mutex_unlock(&m));
	/* Free again: the next lock_until gets it. */
	CHECK_EQ(0, wf_spawn(&t, lock_until_ms, &m));
	CHECK_EQ(0, wf_join(t, &r));
	CHECK_EQ(0, (long)r);
	CHECK_EQ(0, wf_mutex_destroy(&m));
	return NULL;
}

TEST(lock_until_times_out)
{
	EXPECT_EQ(0L, run_on(2, WF_MULTI_THREAD, timeout_body, NULL));
}

static void *lock_past(void *arg)
{
	return (void *)(long)wf_mutex_lock_until(arg, wf_now_ns() - 1);
}

static void *past_deadline_body(void *arg)
{
	wf_mutex m = WF_MUTEX_INIT;
	wf_task *t;
	void *r;

	CHECK_EQ(0, wf_mutex_lock(&m));
	CHECK_EQ(0, wf_spawn(&t, lock_past, &m));
	CHECK_EQ(0, wf_join(t, &r));
	CHECK_EQ(-ETIMEDOUT, (long)r);
	CHECK_EQ(0, wf_mutex_unlock(&m));
	CHECK_EQ(0, wf_mutex_destroy(&m));
	return NULL;
}

TEST(past_deadline_on_a_held_mutex)
{
	EXPECT_EQ(0L, run_on(2, WF_MULTI_THREAD, past_deadline_body, NULL));
}

/* --- cancellation --- */

struct cw {
	wf_mutex *m;
	_Atomic int got;	/* 1 once it held the mutex */
};

static void *cancel_waiter(void *arg)
{
	struct cw *c = arg;
	int r = wf_mutex_lock(c->m);

	if (r == 0) {
		atomic_store(&c->got, 1);
		r = wf_mutex_unlock(c->m);
	}
	return (void *)(long)r;
}

static void *cancel_body(void *arg)
{
	wf_mutex m = WF_MUTEX_INIT;
	struct cw c[3] = { { &m }, { &m }, { &m } };
	struct wf_mutex_stats st;
	wf_task *t[3];
	void *r;

	CHECK_EQ(0, wf_mutex_lock(&m));
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(0, wf_spawn(&t[i], cancel_waiter, &c[i]));
		CHECK(WAIT_FOR(wf_mutex_stats(&m, &st) == 0 && st.waiters == (uint32_t)i + 1));
	}
	/* Cancel the middle one, then the head one. */
	wf_cancel(t[1]);
	CHECK_EQ(WF_JOIN_CANCELLED, wf_join(t[1], &r));
	CHECK_EQ(-ECANCELED, (long)r);
	wf_cancel(t[0]);
	CHECK_EQ(WF_JOIN_CANCELLED, wf_join(t[0], &r));
	CHECK_EQ(-ECANCELED, (long)r);
	CHECK_EQ(0, wf_mutex_stats(&m, &st));
	CHECK_EQ(1, st.waiters);
	/* The last one still gets it. */
	CHECK_EQ(0, wf_mutex_unlock(&m));
	CHECK_EQ(0, wf_join(t[2], &r));
	CHECK_EQ(0, (long)r);
	CHECK_EQ(1, atomic_load(&c[2].got));
	CHECK_EQ(0, atomic_load(&c[0].got) + atomic_load(&c[1].got));
	CHECK_EQ(0, wf_mutex_destroy(&m));
	return NULL;
}

TEST(cancel_while_waiting)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, cancel_body, NULL));
}

static void *cancel_self_body(void *arg)
{
	wf_mutex m = WF_MUTEX_INIT;

	wf_cancel(wf_current());
	/* A cancelled task's lock fails even on a free mutex; try_lock works. */
	CHECK_EQ(-ECANCELED, wf_mutex_lock(&m));
	CHECK_EQ(0, wf_mutex_try_lock(&m));
	CHECK_EQ(0, wf_mutex_unlock(&m));
	return NULL;
}

TEST(cancelled_task_cannot_lock)
{
	wf_runtime *rt;
	void *res = (void *)1L;

	ASSERT_EQ(0, wf_runtime_new(&rt, NULL));
	EXPECT_ERRNO(ECANCELED, wf_block_on(rt, cancel_self_body, NULL, &res));
	EXPECT_EQ(NULL, res);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

/*
 * Race a cancel of the head waiter against the unlock that hands it the
 * mutex, many times: either the head waiter got the mutex (and released
 * it) or the next waiter got it; the mutex is never lost.
 */
static void *canceller(void *arg)
{
	wf_cancel(arg);
	return NULL;
}

static void *cancel_race_body(void *arg)
{
	long rounds = (long)arg, head_won = 0;
	wf_mutex m = WF_MUTEX_INIT;
	struct wf_mutex_stats st;

	for (long i = 0; i < rounds; i++) {
		struct cw a = { &m }, b = { &m };
		wf_task *ta, *tb, *tc;
		void *ra, *rb;
		int ja;

		CHECK_EQ(0, wf_mutex_lock(&m));
		CHECK_EQ(0, wf_spawn(&ta, cancel_waiter, &a));
		CHECK(WAIT_FOR(wf_mutex_stats(&m, &st) == 0 && st.waiters == 1));
		CHECK_EQ(0, wf_spawn(&tb, cancel_waiter, &b));
		CHECK(WAIT_FOR(wf_mutex_stats(&m, &st) == 0 && st.waiters == 2));
		CHECK_EQ(0, wf_spawn(&tc, canceller, ta));
		if (i & 1)
			wf_yield();
		CHECK_EQ(0, wf_mutex_unlock(&m));
		ja = wf_join(ta, &ra);
		CHECK_EQ(0, wf_join(tb, &rb));
		CHECK_EQ(0, wf_join(tc, NULL));
		CHECK_EQ(0, (long)rb);
		CHECK_EQ(1, atomic_load(&b.got));
		if (atomic_load(&a.got)) {
			head_won++;
			CHECK_EQ(0, (long)ra);
		} else {
			CHECK_EQ(-ECANCELED, (long)ra);
		}
		CHECK(ja == 0 || ja == WF_JOIN_CANCELLED);
		CHECK_EQ(0, wf_mutex_try_lock(&m));
		CHECK_EQ(0, wf_mutex_unlock(&m));
	}
	CHECK_EQ(0, wf_mutex_stats(&m, &st));
	CHECK_EQ(0, st.waiters);
	CHECK_EQ(0, wf_mutex_destroy(&m));
	printf("# head waiter won the race %ld of %ld times\n", head_won, rounds);
	return NULL;
}

TEST(cancel_races_hand_off)
{
	long rounds = WTEST_TSAN ? 200 : 2000;

	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, cancel_race_body, (void *)rounds));
}

/* --- statistics --- */

static void *hold_ms(void *arg)
{
	wf_mutex *m = arg;

	if (wf_mutex_lock(m))
		return (void *)1L;
	wf_sleep_ns(5 * WF_NSEC_PER_MSEC);
	wf_yield();	/* see stats_body: a suspension even if the sleep had none */
	return (void *)(long)wf_mutex_unlock(m);
}

static void *stats_body(void *arg)
{
	wf_mutex m = WF_MUTEX_INIT;
	struct wf_mutex_stats st;
	wf_task *t;
	void *r;

	/*
	 * Held across a sleep: 2 ms of hold time, one suspension. A sleep
	 * whose timer fires (on another worker) before the task has switched
	 * out returns without suspending, which a loaded machine or valgrind's
	 * thread scheduling makes happen; the yield makes the suspension
	 * certain.
	 */
	CHECK_EQ(0, wf_mutex_lock(&m));
	wf_sleep_ns(2 * WF_NSEC_PER_MSEC);
	wf_yield();
	CHECK_EQ(0, wf_mutex_unlock(&m));
	CHECK_EQ(0, wf_mutex_stats(&m, &st));
	CHECK_EQ(1, st.acquisitions);
	CHECK_EQ(1, st.held_across_suspend);
	CHECK(st.hold_max_ns >= 2 * WF_NSEC_PER_MSEC);
	CHECK(st.hold_total_ns == st.hold_max_ns);
	CHECK(st.hold_max_ns < 2 * WF_NSEC_PER_SEC);

	/* Not suspended while held: not counted. */
	CHECK_EQ(0, wf_mutex_lock(&m));
	CHECK_EQ(0, wf_mutex_unlock(&m));
	CHECK_EQ(0, wf_mutex_try_lock(&m));
	CHECK_EQ(0, wf_mutex_unlock(&m));
	CHECK_EQ(0, wf_mutex_stats(&m, &st));
	CHECK_EQ(3, st.acquisitions);
	CHECK_EQ(1, st.held_across_suspend);
	CHECK(st.hold_total_ns >= st.hold_max_ns);

	/* A yield is a suspension too. */
	CHECK_EQ(0, wf_mutex_lock(&m));
	CHECK_EQ(0, wf_yield());
	CHECK_EQ(0, wf_mutex_unlock(&m));
	CHECK_EQ(0, wf_mutex_stats(&m, &st));
	CHECK_EQ(2, st.held_across_suspend);

	/* Contended: we wait while another task holds it ~5 ms. */
	CHECK_EQ(0, wf_spawn(&t, hold_ms, &m));
	CHECK(WAIT_FOR(wf_mutex_stats(&m, &st) == 0 && st.locked));
	CHECK_EQ(0, wf_mutex_lock(&m));
	CHECK_EQ(0, wf_mutex_unlock(&m));
	CHECK_EQ(0, wf_join(t, &r));
	CHECK_EQ(0, (long)r);
	CHECK_EQ(0, wf_mutex_stats(&m, &st));
	CHECK_EQ(6, st.acquisitions);
	CHECK(st.contended <= 1);
	if (st.contended)
		CHECK(st.wait_max_ns > 0 && st.wait_total_ns == st.wait_max_ns);
	CHECK(st.hold_max_ns >= 2 * WF_NSEC_PER_MSEC);
	CHECK_EQ(3, st.held_across_suspend);
	CHECK_EQ(0, st.locked);
	return NULL;
}

TEST(stats_hold_time_and_suspension)
{
	EXPECT_EQ(0L, run_on(2, WF_MULTI_THREAD, stats_body, NULL));
}

/*
 * A woken waiter may unlock and free the mutex at once (with or without
 * wf_mutex_destroy, which waits for the mutex's internal lock): the task
 * that handed it over must not touch it afterwards (ASan checks this).
 */
static void *take_and_free(void *arg)
{
	wf_mutex *m = arg;

	if (wf_mutex_lock(m))
		return (void *)1L;
	if (wf_mutex_unlock(m))
		return (void *)2L;
	if (((uintptr_t)m >> 4) & 1 && wf_mutex_destroy(m))
		return (void *)3L;
	free(m);
	return NULL;
}

static void *free_after_handoff_body(void *arg)
{
	long rounds = (long)arg;

	for (long i = 0; i < rounds; i++) {
		wf_mutex *m = malloc(sizeof(*m));
		struct wf_mutex_stats st;
		wf_task *t;
		void *r;

		wf_mutex_init(m);
		CHECK_EQ(0, wf_mutex_lock(m));
		CHECK_EQ(0, wf_spawn(&t, take_and_free, m));
		CHECK(WAIT_FOR(wf_mutex_stats(m, &st) == 0 && st.waiters == 1));
		CHECK_EQ(0, wf_mutex_unlock(m));
		CHECK_EQ(0, wf_join(t, &r));
		CHECK_EQ(0, (long)r);
	}
	return NULL;
}

TEST(free_right_after_hand_off)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, free_after_handoff_body,
			     (void *)(long)(WTEST_TSAN ? 100 : 1000)));
}

/* --- stress --- */

struct stress {
	wf_mutex m;
	long counter;		/* protected by m, deliberately not atomic */
	long iters;
	_Atomic long errors;
};

struct stress_arg {
	struct stress *s;
	long id;
};

/*
 * Tasks are out of phase (id), so while one holds the mutex across a
 * yield others are in lock(), lock_until() or a try_lock() loop.
 */
static void *stress_worker(void *arg)
{
	struct stress_arg *a = arg;
	struct stress *s = a->s;

	for (long i = 0; i < s->iters; i++) {
		long k = i + a->id;
		int r;

		switch (k % 8) {
		case 0:
			while ((r = wf_mutex_try_lock(&s->m)) == -EBUSY)
				wf_yield();
			break;
		case 1:
			r = wf_mutex_lock_until(&s->m, wf_now_ns() + 60 * WF_NSEC_PER_SEC);
			break;
		default:
			r = wf_mutex_lock(&s->m);
		}
		if (r) {
			atomic_fetch_add(&s->errors, 1);
			continue;
		}
		long v = s->counter;

		if (k % 16 == 3)
			wf_yield();	/* held across a suspension */
		s->counter = v + 1;
		if (wf_mutex_unlock(&s->m))
			atomic_fetch_add(&s->errors, 1);
	}
	return NULL;
}

static void *stress_body(void *arg)
{
	long ntasks = WTEST_TSAN ? 16 : 64;
	struct stress s = { .iters = WTEST_TSAN ? 1600 : 10000 };
	struct stress_arg *a = calloc((size_t)ntasks, sizeof(*a));
	struct wf_mutex_stats st;
	wf_task **t = calloc((size_t)ntasks, sizeof(*t));

	wf_mutex_init(&s.m);
	for (long i = 0; i < ntasks; i++) {
		a[i] = (struct stress_arg){ &s, i };
		CHECK_EQ(0, wf_spawn(&t[i], stress_worker, &a[i]));
	}
	for (long i = 0; i < ntasks; i++)
		CHECK_EQ(0, wf_join(t[i], NULL));
	free(t);
	free(a);
	CHECK_EQ(0, atomic_load(&s.errors));
	CHECK_EQ(ntasks * s.iters, s.counter);
	CHECK_EQ(0, wf_mutex_stats(&s.m, &st));
	CHECK_EQ(ntasks * s.iters, (long)st.acquisitions);
	CHECK(st.contended > 0);
	/* iters is a multiple of 16: each task yielded iters / 16 times holding it. */
	CHECK(st.held_across_suspend >= (uint64_t)(ntasks * (s.iters / 16)));
	CHECK_EQ(0, st.waiters);
	CHECK_EQ(0, wf_mutex_destroy(&s.m));
	printf("# %ld acquisitions, %llu contended, max wait %llu ns, max hold %llu ns\n",
	       (long)st.acquisitions, (unsigned long long)st.contended,
	       (unsigned long long)st.wait_max_ns, (unsigned long long)st.hold_max_ns);
	return NULL;
}

TEST_TIMEOUT(stress_counter_4_workers, 60)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, stress_body, NULL));
}

TEST_HARNESS_MAIN
