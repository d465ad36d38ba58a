// SPDX-License-Identifier: MIT
/*
 * wf_group: errors, wait for all, spawning while others wait (nested
 * fan-out), cancel all, timeouts, a cancelled waiter still waits for its
 * members, self-wait deadlock, spawning from a plain thread, stress.
 */
#include "wtest.h"
#include "sync_util.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

static void *nop(void *arg)
{
	return arg;
}

TEST(errors_outside_a_task)
{
	wf_group g = WF_GROUP_INIT;
	struct wf_group_stats st;

	EXPECT_ERRNO(EINVAL, wf_group_init(NULL));
	EXPECT_ERRNO(EINVAL, wf_group_destroy(NULL));
	EXPECT_ERRNO(EINVAL, wf_group_spawn(NULL, nop, NULL));
	EXPECT_ERRNO(EINVAL, wf_group_spawn(&g, NULL, NULL));
	EXPECT_ERRNO(EINVAL, wf_group_spawn(&g, nop, NULL));	/* no runtime given */
	EXPECT_ERRNO(EINVAL, wf_group_wait(NULL));
	EXPECT_ERRNO(EINVAL, wf_group_wait_until(NULL, 0));
	EXPECT_ERRNO(EINVAL, wf_group_cancel(NULL));
	EXPECT_ERRNO(EINVAL, wf_group_stats(NULL, &st));
	EXPECT_ERRNO(EINVAL, wf_group_stats(&g, NULL));
	EXPECT_ERRNO(EPERM, wf_group_wait(&g));
	EXPECT_ERRNO(EPERM, wf_group_wait_until(&g, WF_FOREVER));
	EXPECT_EQ(0, wf_group_stats(&g, &st));
	EXPECT_EQ(0u, st.spawned);
	EXPECT_EQ(0u, st.running);
	EXPECT_EQ(0, wf_group_init(&g));
	EXPECT_EQ(0, wf_group_destroy(&g));
}

/* --- wait for all --- */

static _Atomic long done;

static void *sleepy(void *arg)
{
	wf_sleep_ns((uint64_t)(long)arg * WF_NSEC_PER_MSEC);
	atomic_fetch_add(&done, 1);
	return NULL;
}

static void *wait_all_body(void *arg)
{
	wf_group g;
	struct wf_group_stats st;
	struct wf_spawn_opts o = { .name = "member" };

	atomic_store(&done, 0);
	CHECK_EQ(0, wf_group_init(&g));
	CHECK_EQ(0, wf_group_wait(&g));		/* empty: returns at once */
	for (long i = 0; i < 50; i++)
		CHECK_EQ(0, wf_group_spawn(&g, sleepy, (void *)(i % 5)));
	CHECK_EQ(0, wf_group_spawn_named(&g, "named", sleepy, (void *)1L));
	CHECK_EQ(0, wf_group_spawn_opts(&g, sleepy, (void *)2L, &o));
	CHECK_EQ(-EBUSY, wf_group_destroy(&g));
	CHECK_EQ(0, wf_group_wait(&g));
	CHECK_EQ(52, atomic_load(&done));
	CHECK_EQ(0, wf_group_stats(&g, &st));
	CHECK_EQ(52, st.spawned);
	CHECK_EQ(52, st.finished);
	CHECK_EQ(0, st.cancelled);
	CHECK_EQ(0, st.running);
	CHECK_EQ(0, st.waiters);
	/* Reusable after a wait. */
	CHECK_EQ(0, wf_group_spawn(&g, sleepy, (void *)1L));
	CHECK_EQ(0, wf_group_wait_until(&g, ms_from_now(10000)));
	CHECK_EQ(53, atomic_load(&done));
	CHECK_EQ(0, wf_group_destroy(&g));
	return NULL;
}

TEST(wait_for_all)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, wait_all_body, NULL));
}

/* Members spawn more members while the parent (and a second task) wait. */
struct tree {
	wf_group g;
	_Atomic long nodes;
	_Atomic long errors;
};

static struct tree *the_tree;

static void *node(void *arg)
{
	long depth = (long)arg;

	atomic_fetch_add(&the_tree->nodes, 1);
	wf_yield();
	if (depth > 0)
		for (int i = 0; i < 3; i++)
			if (wf_group_spawn(&the_tree->g, node, (void *)(depth - 1)))
				atomic_fetch_add(&the_tree->errors, 1);
	return NULL;
}

static void *second_waiter(void *arg)
{
	return (void *)(long)wf_group_wait(arg);
}

static void *tree_body(void *arg)
{
	long depth = (long)arg, expect = 0, width = 1;
	struct wf_group_stats st;
	wf_task *w2;
	void *r;

	for (long d = 0; d <= depth; d++, width *= 3)
		expect += width;
	the_tree = calloc(1, sizeof(*the_tree));
	wf_group_init(&the_tree->g);
	CHECK_EQ(0, wf_group_spawn(&the_tree->g, node, (void *)depth));
	CHECK_EQ(0, wf_spawn(&w2, second_waiter, &the_tree->g));
	CHECK_EQ(0, wf_group_wait(&the_tree->g));
	/* Every node, including those spawned during the wait, finished. */
	CHECK_EQ(expect, atomic_load(&the_tree->nodes));
	CHECK_EQ(0, wf_join(w2, &r));
	CHECK_EQ(0, (long)r);
	CHECK_EQ(0, wf_group_stats(&the_tree->g, &st));
	CHECK_EQ(expect, st.spawned);
	CHECK_EQ(expect, st.finished);
	CHECK_EQ(0, atomic_load(&the_tree->errors));
	CHECK_EQ(0, wf_group_destroy(&the_tree->g));
	free(the_tree);
	return NULL;
}

TEST(spawn_while_others_wait)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, tree_body, (void *)(long)(WTEST_TSAN ? 4 : 6)));
}

/* --- cancellation --- */

static _Atomic long cleaned;

static void *long_sleeper(void *arg)
{
	int r = wf_sleep_ns(60 * WF_NSEC_PER_SEC);

	if (r == -ECANCELED) {
		wf_yield();	/* cleanup that can no longer suspend, but runs */
		atomic_fetch_add(&cleaned, 1);
	}
	return NULL;
}

static void *cancel_all_body(void *arg)
{
	wf_group g = WF_GROUP_INIT;
	struct wf_group_stats st;
	uint64_t t0 = wf_now_ns();

	atomic_store(&cleaned, 0);
	for (int i = 0; i < 20; i++)
		CHECK_EQ(0, wf_group_spawn(&g, long_sleeper, NULL));
	CHECK_EQ(-ETIMEDOUT, wf_group_wait_until(&g, ms_from_now(10)));
	CHECK_EQ(0, wf_group_stats(&g, &st));
	CHECK_EQ(20, st.running);
	CHECK_EQ(0, wf_group_cancel(&g));
	CHECK_EQ(-ECANCELED, wf_group_spawn(&g, nop, NULL));
	CHECK_EQ(0, wf_group_wait(&g));
	CHECK(wf_now_ns() - t0 < 10 * WF_NSEC_PER_SEC);
	CHECK_EQ(20, atomic_load(&cleaned));
	CHECK_EQ(0, wf_group_stats(&g, &st));
	CHECK_EQ(20, st.spawned);
	CHECK_EQ(20, st.finished);
	CHECK_EQ(20, st.cancelled);
	CHECK_EQ(1, st.group_cancelled);
	CHECK_EQ(0, wf_group_destroy(&g));
	return NULL;
}

TEST(cancel_all)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, cancel_all_body, NULL));
}

/*
 * A parent cancelled while it waits for its group cancels the members
 * and returns only once they have all finished their cleanup.
 */
struct parent {
	wf_group g;
	long seen_cleaned;
	int ret;
};

static void *parent_task(void *arg)
{
	struct parent *p = arg;

	for (int i = 0; i < 10; i++)
		if (wf_group_spawn(&p->g, long_sleeper, NULL))
			return (void *)1L;
	p->ret = wf_group_wait(&p->g);
	p->seen_cleaned = atomic_load(&cleaned);
	/* Still cancelled afterwards. */
	return (void *)(long)wf_cancelled();
}

static void *cancelled_parent_body(void *arg)
{
	struct parent *p = calloc(1, sizeof(*p));
	struct wf_group_stats st;
	wf_task *t;
	void *r;

	atomic_store(&cleaned, 0);
	wf_group_init(&p->g);
	CHECK_EQ(0, wf_spawn(&t, parent_task, p));
	CHECK(WAIT_FOR(wf_group_stats(&p->g, &st) == 0 && st.waiters == 1));
	wf_cancel(t);
	CHECK_EQ(WF_JOIN_CANCELLED, wf_join(t, &r));
	CHECK_EQ(1, (long)r);
	CHECK_EQ(-ECANCELED, p->ret);
	CHECK_EQ(10, p->seen_cleaned);
	CHECK_EQ(0, wf_group_stats(&p->g, &st));
	CHECK_EQ(0, st.running);
	CHECK_EQ(10, st.cancelled);
	CHECK_EQ(0, wf_group_destroy(&p->g));
	free(p);
	return NULL;
}

TEST(cancelled_waiter_waits_for_members)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, cancelled_parent_body, NULL));
}

/* Already cancelled before waiting: same guarantee. */
static void *precancelled_body(void *arg)
{
	wf_group g = WF_GROUP_INIT;

	atomic_store(&cleaned, 0);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(0, wf_group_spawn(&g, long_sleeper, NULL));
	wf_cancel(wf_current());
	CHECK_EQ(-ECANCELED, wf_group_wait(&g));
	CHECK_EQ(5, atomic_load(&cleaned));
	CHECK_EQ(1, wf_cancelled());
	CHECK_EQ(0, wf_group_destroy(&g));
	return NULL;
}

TEST(precancelled_waiter_waits_for_members)
{
	wf_runtime *rt;
	void *res = (void *)1L;

	ASSERT_EQ(0, wf_runtime_new(&rt, NULL));
	EXPECT_ERRNO(ECANCELED, wf_block_on(rt, precancelled_body, NULL, &res));
	EXPECT_EQ(NULL, res);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

/*
 * A cancelled waiter's deadline still holds: a member that ignores
 * cancellation keeps it waiting only until then.
 */
static _Atomic int let_go;

static void *stubborn(void *arg)
{
	/* Ignores cancellation (and blocks its worker: 4 workers here). */
	while (!atomic_load(&let_go))
		sched_yield();
	return NULL;
}

static void *shielded_deadline_body(void *arg)
{
	wf_group g = WF_GROUP_INIT;
	struct wf_group_stats st;
	uint64_t t0;

	atomic_store(&let_go, 0);
	CHECK_EQ(0, wf_group_spawn(&g, stubborn, NULL));
	wf_cancel(wf_current());
	t0 = wf_now_ns();
	CHECK_EQ(-ETIMEDOUT, wf_group_wait_until(&g, ms_from_now(20)));
	CHECK(wf_now_ns() - t0 >= 20 * WF_NSEC_PER_MSEC);
	CHECK_EQ(-ETIMEDOUT, wf_group_wait_until(&g, 0));
	CHECK_EQ(0, wf_group_stats(&g, &st));
	CHECK_EQ(1, st.running);
	CHECK_EQ(0, st.waiters);
	CHECK_EQ(1, st.group_cancelled);
	atomic_store(&let_go, 1);
	CHECK_EQ(-ECANCELED, wf_group_wait(&g));
	CHECK_EQ(0, wf_group_stats(&g, &st));
	CHECK_EQ(0, st.running);
	CHECK_EQ(1, st.cancelled);
	CHECK_EQ(0, wf_group_destroy(&g));
	return NULL;
}

TEST(cancelled_waiter_keeps_its_deadline)
{
	struct wf_runtime_opts o = { .workers = 4 };
	wf_runtime *rt;
	void *res = (void *)1L;

	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	EXPECT_ERRNO(ECANCELED, wf_block_on(rt, shielded_deadline_body, NULL, &res));
	EXPECT_EQ(NULL, res);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

/* --- misc --- */

static wf_group self_g = WF_GROUP_INIT;

static _Atomic long self_ret = 1;

static void *self_waiter_rec(void *arg)
{
	atomic_store(&self_ret, wf_group_wait(&self_g));
	return NULL;
}

static void *self_wait_rec_body(void *arg)
{
	CHECK_EQ(0, wf_group_spawn(&self_g, self_waiter_rec, NULL));
	CHECK_EQ(0, wf_group_wait(&self_g));
	CHECK_EQ(-EDEADLK, atomic_load(&self_ret));
	return NULL;
}

TEST(member_waiting_on_its_group_is_a_deadlock)
{
	EXPECT_EQ(0L, run_on(2, WF_MULTI_THREAD, self_wait_rec_body, NULL));
}

static void *group_wait_body(void *arg)
{
	return (void *)(long)wf_group_wait(arg);
}

TEST(spawn_from_a_plain_thread)
{
	struct wf_runtime_opts ro = { .workers = 2 };
	struct wf_spawn_opts o = { .name = "from-thread" };
	wf_group g = WF_GROUP_INIT;
	wf_runtime *rt;
	void *res = (void *)1L;

	atomic_store(&done, 0);
	ASSERT_EQ(0, wf_runtime_new(&rt, &ro));
	o.rt = rt;
	for (int i = 0; i < 10; i++)
		ASSERT_EQ(0, wf_group_spawn_opts(&g, sleepy, (void *)1L, &o));
	ASSERT_EQ(0, wf_block_on(rt, group_wait_body, &g, &res));
	EXPECT_EQ(NULL, res);
	EXPECT_EQ(10L, atomic_load(&done));
	EXPECT_EQ(0, wf_group_destroy(&g));
	EXPECT_EQ(0, wf_runtime_free(rt));
}

/* --- stress --- */

static _Atomic long hits;

static void *hit(void *arg)
{
	atomic_fetch_add(&hits, 1);
	if ((long)arg & 1)
		wf_yield();
	return NULL;
}

static void *stress_body(void *arg)
{
	long rounds = WTEST_TSAN ? 40 : 500, per = 100;
	wf_group *g = malloc(sizeof(*g));

	atomic_store(&hits, 0);
	for (long r = 0; r < rounds; r++) {
		wf_group_init(g);
		for (long i = 0; i < per; i++)
			CHECK_EQ(0, wf_group_spawn(g, hit, (void *)i));
		if (r % 3 == 1)
			wf_group_cancel(g);
		CHECK_EQ(0, wf_group_wait(g));
		/* Freed and reused at once: members must be done with it. */
		CHECK_EQ(0, wf_group_destroy(g));
		free(g);
		g = malloc(sizeof(*g));
	}
	free(g);
	CHECK_EQ(rounds * per, atomic_load(&hits));
	return NULL;
}

TEST_TIMEOUT(stress_spawn_wait_free_4_workers, 60)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, stress_body, NULL));
}

TEST_HARNESS_MAIN
