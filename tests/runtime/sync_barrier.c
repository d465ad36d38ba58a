// SPDX-License-Identifier: MIT
/*
 * wf_barrier: errors, one leader per generation, reuse, nobody passes
 * early, withdrawal on timeout and cancellation.
 */
#include "wtest.h"
#include "sync_util.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

TEST(errors_outside_a_task)
{
	wf_barrier b = WF_BARRIER_INIT(2), zero = { 0 };

	EXPECT_ERRNO(EINVAL, wf_barrier_init(NULL, 2));
	EXPECT_ERRNO(EINVAL, wf_barrier_init(&b, 0));
	EXPECT_ERRNO(EINVAL, wf_barrier_destroy(NULL));
	EXPECT_ERRNO(EINVAL, wf_barrier_wait(NULL));
	EXPECT_ERRNO(EINVAL, wf_barrier_wait_until(NULL, 0));
	EXPECT_ERRNO(EINVAL, wf_barrier_wait(&zero));
	EXPECT_ERRNO(EINVAL, wf_barrier_waiters(NULL));
	EXPECT_ERRNO(EPERM, wf_barrier_wait(&b));
	EXPECT_ERRNO(EPERM, wf_barrier_wait_until(&b, WF_FOREVER));
	EXPECT_EQ(0, wf_barrier_waiters(&b));
	EXPECT_EQ(0, wf_barrier_init(&b, 3));
	EXPECT_EQ(0, wf_barrier_destroy(&b));
}

static void *one_party_body(void *arg)
{
	wf_barrier b;

	CHECK_EQ(0, wf_barrier_init(&b, 1));
	for (int i = 0; i < 10; i++)
		CHECK_EQ(1, wf_barrier_wait(&b));
	CHECK_EQ(1, wf_barrier_wait_until(&b, 0));
	CHECK_EQ(0, wf_barrier_destroy(&b));
	return NULL;
}

TEST(single_party_always_leads)
{
	EXPECT_EQ(0L, run_on(1, WF_CURRENT_THREAD, one_party_body, NULL));
}

/* --- generations --- */

#define GENS 1000

struct gens {
	wf_barrier b;
	long parties;
	_Atomic long arrived[GENS];
	_Atomic long leaders[GENS];
	_Atomic long early, errors;
};

static void *gen_worker(void *arg)
{
	struct gens *g = arg;

	for (int i = 0; i < GENS; i++) {
		int r;

		atomic_fetch_add(&g->arrived[i], 1);
		if (i % 7 == 0)
			wf_yield();
		r = (i & 1) ? wf_barrier_wait(&g->b)
			    : wf_barrier_wait_until(&g->b, ms_from_now(60000));
		if (r < 0) {
			atomic_fetch_add(&g->errors, 1);
			return NULL;
		}
		if (r == 1)
			atomic_fetch_add(&g->leaders[i], 1);
		/* Released only once every party arrived at this generation. */
		if (atomic_load(&g->arrived[i]) != g->parties)
			atomic_fetch_add(&g->early, 1);
	}
	return NULL;
}

static void *gens_body(void *arg)
{
	struct gens *g = calloc(1, sizeof(*g));
	wf_task **t;

	g->parties = (long)arg;
	t = calloc((size_t)g->parties, sizeof(*t));
	CHECK_EQ(0, wf_barrier_init(&g->b, (unsigned)g->parties));
	for (long i = 0; i < g->parties; i++)
		CHECK_EQ(0, wf_spawn(&t[i], gen_worker, g));
	for (long i = 0; i < g->parties; i++)
		CHECK_EQ(0, wf_join(t[i], NULL));
	CHECK_EQ(0, atomic_load(&g->errors));
	CHECK_EQ(0, atomic_load(&g->early));
	for (int i = 0; i < GENS; i++) {
		CHECK_EQ(g->parties, atomic_load(&g->arrived[i]));
		CHECK_EQ(1, atomic_load(&g->leaders[i]));
	}
	CHECK_EQ(0, wf_barrier_waiters(&g->b));
	CHECK_EQ(0, wf_barrier_destroy(&g->b));
	free(t);
	free(g);
	return NULL;
}

TEST(one_leader_per_generation_4_workers)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, gens_body, (void *)(long)(WTEST_TSAN ? 8 : 32)));
}

TEST(one_leader_per_generation_current_thread)
{
	EXPECT_EQ(0L, run_on(1, WF_CURRENT_THREAD, gens_body, (void *)5L));
}

/* --- withdrawal --- */

struct arr {
	wf_barrier *b;
	uint64_t deadline;
};

static void *arrive(void *arg)
{
	struct arr *a = arg;

	return (void *)(long)wf_barrier_wait_until(a->b, a->deadline ? a->deadline : WF_FOREVER);
}

static void *withdraw_body(void *arg)
{
	bool cancel = arg != NULL;
	wf_barrier b = WF_BARRIER_INIT(3);
	struct arr leaver = { &b, cancel ? 0 : ms_from_now(20) }, stay = { &b };
	wf_task *tl, *ts, *tx;
	void *r, *rx;
	int me;

	CHECK_EQ(0, wf_spawn(&tl, arrive, &leaver));
	CHECK(WAIT_FOR(wf_barrier_waiters(&b) == 1));
	CHECK_EQ(0, wf_spawn(&ts, arrive, &stay));
	CHECK(WAIT_FOR(wf_barrier_waiters(&b) == 2));
	if (cancel) {
		wf_cancel(tl);
		CHECK_EQ(WF_JOIN_CANCELLED, wf_join(tl, &r));
		CHECK_EQ(-ECANCELED, (long)r);
	} else {
		CHECK_EQ(0, wf_join(tl, &r));
		CHECK_EQ(-ETIMEDOUT, (long)r);
	}
	/* The leaver is no longer counted: two more arrivals complete it. */
	CHECK_EQ(1, wf_barrier_waiters(&b));
	CHECK_EQ(0, wf_spawn(&tx, arrive, &stay));
	CHECK(WAIT_FOR(wf_barrier_waiters(&b) == 2));
	me = wf_barrier_wait(&b);
	CHECK_EQ(1, me);	/* the last to arrive leads */
	CHECK_EQ(0, wf_join(ts, &r));
	CHECK_EQ(0, wf_join(tx, &rx));
	CHECK_EQ(0, (long)r);
	CHECK_EQ(0, (long)rx);
	CHECK_EQ(0, wf_barrier_waiters(&b));
	CHECK_EQ(0, wf_barrier_destroy(&b));
	return NULL;
}

TEST(timed_out_party_withdraws)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, withdraw_body, NULL));
}

TEST(cancelled_party_withdraws)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, withdraw_body, (void *)1L));
}

static void *busy_body(void *arg)
{
	wf_barrier b = WF_BARRIER_INIT(2);
	struct arr a = { &b };
	wf_task *t;
	void *r;

	CHECK_EQ(0, wf_spawn(&t, arrive, &a));
	CHECK(WAIT_FOR(wf_barrier_waiters(&b) == 1));
	CHECK_EQ(-EBUSY, wf_barrier_destroy(&b));
	CHECK_EQ(1, wf_barrier_wait_until(&b, 0));
	CHECK_EQ(0, wf_join(t, &r));
	CHECK_EQ(0, (long)r);
	CHECK_EQ(0, wf_barrier_destroy(&b));
	return NULL;
}

TEST(destroy_busy_and_past_deadline_arrival)
{
	/* An arrival that completes a generation never waits, deadline or not. */
	EXPECT_EQ(0L, run_on(2, WF_MULTI_THREAD, busy_body, NULL));
}

TEST_HARNESS_MAIN
