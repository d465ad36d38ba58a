// SPDX-License-Identifier: MIT
/* Tasks: block_on, spawn, join, detach, yield, cancel, task-local storage. */
#include "wtest.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <weft.h>

static void *ret_arg(void *arg)
{
	return arg;
}

TEST(block_on_returns_root_result)
{
	wf_runtime *rt;
	void *res = NULL;

	ASSERT_EQ(0, wf_runtime_new(&rt, NULL));
	ASSERT_EQ(0, wf_block_on(rt, ret_arg, (void *)0x1234, &res));
	EXPECT_EQ((void *)0x1234, res);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

static void *spawn_join_many(void *arg)
{
	long n = (long)arg, sum = 0;
	wf_task **ts = calloc((size_t)n, sizeof(*ts));

	for (long i = 0; i < n; i++)
		if (wf_spawn(&ts[i], ret_arg, (void *)i))
			return (void *)-1L;
	for (long i = 0; i < n; i++) {
		void *r;

		if (wf_join(ts[i], &r))
			return (void *)-2L;
		sum += (long)r;
	}
	free(ts);
	return (void *)sum;
}

TEST(spawn_and_join_many)
{
	void *res;

	long n = WTEST_TSAN ? 1000 : 10000;

	ASSERT_EQ(0, wf_main(spawn_join_many, (void *)n, &res));
	EXPECT_EQ(n * (n - 1) / 2, (long)res);
}

TEST(current_thread_flavor)
{
	struct wf_runtime_opts o = { .flavor = WF_CURRENT_THREAD };
	wf_runtime *rt;
	void *res;

	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	EXPECT_EQ(1u, wf_runtime_workers(rt));
	ASSERT_EQ(0, wf_block_on(rt, spawn_join_many, (void *)1000L, &res));
	EXPECT_EQ(1000L * 999 / 2, (long)res);
	/* A second block_on on the same runtime works too. */
	ASSERT_EQ(0, wf_block_on(rt, spawn_join_many, (void *)10L, &res));
	EXPECT_EQ(45L, (long)res);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

static _Atomic long counter;

static void *yielder(void *arg)
{
	for (int i = 0; i < 1000; i++) {
		atomic_fetch_add(&counter, 1);
		if (wf_yield())
			return (void *)-1L;
	}
	return NULL;
}

static void *spawn_yielders(void *arg)
{
	wf_task *ts[200];

	for (int i = 0; i < 200; i++)
		wf_spawn(&ts[i], yielder, NULL);
	for (int i = 0; i < 200; i++) {
		void *r;

		if (wf_join(ts[i], &r) || r)
			return (void *)1L;
	}
	return NULL;
}

TEST(yield_many)
{
	void *res;

	atomic_store(&counter, 0);
	ASSERT_EQ(0, wf_main(spawn_yielders, NULL, &res));
	EXPECT_EQ(NULL, res);
	EXPECT_EQ(200000L, atomic_load(&counter));
}

static void *sleeper(void *arg)
{
	return (void *)(long)wf_sleep_ns((uint64_t)(long)arg);
}

static void *cancel_sleeper(void *arg)
{
	wf_task *t;
	void *r = (void *)99L;
	int j;

	wf_spawn(&t, sleeper, (void *)(long)(10 * WF_NSEC_PER_SEC));
	wf_sleep_ns(5 * WF_NSEC_PER_MSEC);
	wf_cancel(t);
	j = wf_join(t, &r);
	if (j != WF_JOIN_CANCELLED)
		return (void *)1L;
	/* The sleeper's own wf_sleep_ns returned -ECANCELED. */
	return r;
}

TEST(cancel_wakes_a_sleeping_task)
{
	void *res;
	uint64_t t0 = wf_now_ns();

	ASSERT_EQ(0, wf_main(cancel_sleeper, NULL, &res));
	EXPECT_EQ(-ECANCELED, (long)res);
	EXPECT_LT(wf_now_ns() - t0, 2 * WF_NSEC_PER_SEC);
}

static void *cancel_self_then_suspend(void *arg)
{
	wf_cancel(wf_current());
	if (wf_cancelled() != 1)
		return (void *)1L;
	if (wf_yield() != -ECANCELED)
		return (void *)2L;
	if (wf_sleep_ns(1000) != -ECANCELED)
		return (void *)3L;
	return NULL;
}

TEST(cancel_is_sticky)
{
	void *res = (void *)7L;
	wf_runtime *rt;

	ASSERT_EQ(0, wf_runtime_new(&rt, NULL));
	EXPECT_ERRNO(ECANCELED, wf_block_on(rt, cancel_self_then_suspend, NULL, &res));
	EXPECT_EQ(NULL, res);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

TEST(errors_outside_a_task)
{
	struct wf_runtime_opts bad = { .flavor = 7 };
	wf_runtime *rt;

	EXPECT_ERRNO(EPERM, wf_yield());
	EXPECT_ERRNO(EPERM, wf_sleep_ns(1));
	EXPECT_ERRNO(EPERM, wf_cancelled());
	EXPECT_ERRNO(EPERM, wf_worker_index());
	EXPECT_NULL(wf_current());
	EXPECT_ERRNO(EINVAL, wf_runtime_new(NULL, NULL));
	EXPECT_ERRNO(EINVAL, wf_runtime_new(&rt, &bad));
	bad = (struct wf_runtime_opts){ .stack_size = 100 };
	EXPECT_ERRNO(EINVAL, wf_runtime_new(&rt, &bad));
	bad = (struct wf_runtime_opts){ .reserved = { 1 } };
	EXPECT_ERRNO(EINVAL, wf_runtime_new(&rt, &bad));
	EXPECT_ERRNO(EINVAL, wf_spawn(NULL, ret_arg, NULL));	/* no runtime */
	EXPECT_ERRNO(EINVAL, wf_join(NULL, NULL));
	EXPECT_ERRNO(EINVAL, wf_detach(NULL));
	EXPECT_ERRNO(EINVAL, wf_cancel(NULL));
	EXPECT_ERRNO(EINVAL, wf_block_on(NULL, ret_arg, NULL, NULL));
	EXPECT_EQ(0, wf_runtime_free(NULL));
	EXPECT_EQ(0u, wf_task_id(NULL));
}

static void *bad_spawns(void *arg)
{
	struct wf_spawn_opts o = { .flags = 0x80 };

	if (wf_spawn_opts(NULL, ret_arg, NULL, &o) != -EINVAL)
		return (void *)1L;
	o = (struct wf_spawn_opts){ .stack_size = 4096 };
	if (wf_spawn_opts(NULL, ret_arg, NULL, &o) != -EINVAL)
		return (void *)2L;
	if (wf_join(wf_current(), NULL) != -EINVAL)
		return (void *)3L;
	return NULL;
}

TEST(spawn_errors_inside_a_task)
{
	void *res;

	ASSERT_EQ(0, wf_main(bad_spawns, NULL, &res));
	EXPECT_EQ(NULL, res);
}

static void *ids_and_names(void *arg)
{
	wf_task *a, *b;
	uint64_t ia, ib;

	wf_spawn_named(&a, "alpha", ret_arg, NULL);
	wf_spawn(&b, ret_arg, NULL);
	ia = wf_task_id(a);
	ib = wf_task_id(b);
	if (ia == 0 || ib <= ia)
		return (void *)1L;
	if (strcmp(wf_task_name(a), "alpha") || strcmp(wf_task_name(b), ""))
		return (void *)2L;
	wf_join(a, NULL);
	wf_join(b, NULL);
	return NULL;
}

TEST(ids_increase_and_names_stick)
{
	void *res;

	ASSERT_EQ(0, wf_main(ids_and_names, NULL, &res));
	EXPECT_EQ(NULL, res);
}

static wf_tls_key key;
static _Atomic int dtor_calls;

static void tls_dtor(void *v)
{
	atomic_fetch_add(&dtor_calls, 1);
	free(v);
}

static void *tls_user(void *arg)
{
	long *v = malloc(sizeof(*v));

	*v = (long)arg;
	if (wf_tls_get(key))
		return (void *)-1L;
	wf_tls_set(key, v);
	for (int i = 0; i < 50; i++) {
		wf_yield();
		if (*(long *)wf_tls_get(key) != (long)arg)
			return (void *)-2L;
	}
	return NULL;
}

static void *tls_many(void *arg)
{
	wf_task *ts[64];
	long bad = 0;

	for (long i = 0; i < 64; i++)
		wf_spawn(&ts[i], tls_user, (void *)i);
	for (int i = 0; i < 64; i++) {
		void *r;

		wf_join(ts[i], &r);
		bad += r != NULL;
	}
	return (void *)bad;
}

TEST(task_local_storage)
{
	void *res;

	ASSERT_EQ(0, wf_tls_key_create(&key, tls_dtor));
	EXPECT_ERRNO(EPERM, wf_tls_set(key, NULL));
	EXPECT_ERRNO(EINVAL, wf_tls_set(9999, NULL));
	ASSERT_EQ(0, wf_main(tls_many, NULL, &res));
	EXPECT_EQ(0L, (long)res);
	EXPECT_EQ(64, atomic_load(&dtor_calls));
}

static void *pinned_body(void *arg)
{
	int home = wf_worker_index();

	for (int i = 0; i < 2000; i++) {
		wf_yield();
		if (wf_worker_index() != home)
			return (void *)1L;
	}
	return NULL;
}

static void *busy_body(void *arg)
{
	for (int i = 0; i < 2000; i++)
		wf_yield();
	return NULL;
}

static void *pinned_mix(void *arg)
{
	struct wf_spawn_opts po = { .flags = WF_SPAWN_PINNED, .name = "pinned" };
	wf_task *p[8], *b[32];
	long bad = 0;

	for (int i = 0; i < 8; i++)
		wf_spawn_opts(&p[i], pinned_body, NULL, &po);
	for (int i = 0; i < 32; i++)
		wf_spawn(&b[i], busy_body, NULL);
	for (int i = 0; i < 8; i++) {
		void *r;

		wf_join(p[i], &r);
		bad += r != NULL;
	}
	for (int i = 0; i < 32; i++)
		wf_join(b[i], NULL);
	return (void *)bad;
}

TEST(pinned_tasks_never_migrate)
{
	struct wf_runtime_opts o = { .workers = 4 };
	wf_runtime *rt;
	void *res;

	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	ASSERT_EQ(0, wf_block_on(rt, pinned_mix, NULL, &res));
	EXPECT_EQ(0L, (long)res);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

static void *detached_sleeper(void *arg)
{
	wf_sleep_ns(60 * WF_NSEC_PER_SEC);
	atomic_fetch_add(&counter, 1);	/* runs after the cancel */
	return NULL;
}

static void *spawn_detached(void *arg)
{
	for (int i = 0; i < 100; i++)
		wf_spawn(NULL, detached_sleeper, NULL);
	return NULL;
}

TEST(shutdown_cancels_what_is_left)
{
	wf_runtime *rt;
	uint64_t t0;

	atomic_store(&counter, 0);
	ASSERT_EQ(0, wf_runtime_new(&rt, NULL));
	ASSERT_EQ(0, wf_block_on(rt, spawn_detached, NULL, NULL));
	t0 = wf_now_ns();
	EXPECT_EQ(0, wf_runtime_free(rt));
	EXPECT_EQ(100L, atomic_load(&counter));
	EXPECT_LT(wf_now_ns() - t0, 5 * WF_NSEC_PER_SEC);
}

TEST(block_on_after_shutdown)
{
	wf_runtime *rt;

	ASSERT_EQ(0, wf_runtime_new(&rt, NULL));
	ASSERT_EQ(0, wf_runtime_shutdown(rt, 0));
	EXPECT_ERRNO(ESHUTDOWN, wf_block_on(rt, ret_arg, NULL, NULL));
	EXPECT_EQ(0, wf_runtime_free(rt));
}

TEST_HARNESS_MAIN
