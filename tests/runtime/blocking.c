// SPDX-License-Identifier: MIT
/* The blocking pool and block_in_place. */
#include "wtest.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <weft.h>

static pid_t tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void *job_tid(void *arg)
{
	*(pid_t *)arg = tid();
	return (void *)0x77;
}

static _Atomic long ticks;
static _Atomic int stop_ticker;

static void *ticker(void *arg)
{
	while (!atomic_load(&stop_ticker)) {
		atomic_fetch_add(&ticks, 1);
		if (wf_sleep_ns(1 * WF_NSEC_PER_MSEC))
			break;
	}
	return NULL;
}

static void *sleep_ms(void *arg)
{
	usleep((useconds_t)(long)arg * 1000);
	return arg;
}

static void *run_blocking_root(void *arg)
{
	pid_t job = 0;
	void *res = NULL;
	long before, during;
	wf_task *tk;

	if (wf_run_blocking(job_tid, &job, &res) || res != (void *)0x77)
		return (void *)1L;
	if (job == 0 || job == tid())
		return (void *)2L;
	/* A job that sleeps 200 ms does not stop the other tasks (a 1 ms ticker
	 * keeps ticking: 20 of ~200 ticks is plenty of proof, even under valgrind). */
	atomic_store(&stop_ticker, 0);
	wf_spawn(&tk, ticker, NULL);
	wf_sleep_ns(5 * WF_NSEC_PER_MSEC);
	before = atomic_load(&ticks);
	if (wf_run_blocking(sleep_ms, (void *)200L, &res) || res != (void *)200L)
		return (void *)3L;
	during = atomic_load(&ticks) - before;
	atomic_store(&stop_ticker, 1);
	wf_join(tk, NULL);
	return during >= 20 ? NULL : (void *)(100 + during);
}

TEST(run_blocking_runs_elsewhere_and_others_go_on)
{
	struct wf_runtime_opts o = { .workers = 1 };
	wf_runtime *rt;
	void *res;

	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	ASSERT_EQ(0, wf_block_on(rt, run_blocking_root, NULL, &res));
	EXPECT_EQ(NULL, res);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

static void *bounded_root(void *arg)
{
	wf_blocking *j[4];
	struct wf_blocking_stats st;
	long r = 0;

	/* 1 thread busy + 2 queued = full. */
	for (int i = 0; i < 3; i++) {
		if (wf_spawn_blocking(&j[i], sleep_ms, (void *)100L, 0))
			return (void *)1L;
		/* Let the first one start (polled: valgrind is slow to start threads). */
		for (int k = 0; i == 0 && k < 5000; k++) {
			wf_blocking_stats(wf_runtime_current(), &st);
			if (st.threads == 1 && st.queued == 0)
				break;
			wf_sleep_ns(WF_NSEC_PER_MSEC);
		}
	}
	if (wf_spawn_blocking(&j[3], sleep_ms, (void *)1L, WF_BLOCKING_NOWAIT) != -EAGAIN)
		return (void *)2L;
	/* Without NOWAIT the spawn waits for room, then succeeds. */
	if (wf_spawn_blocking(&j[3], sleep_ms, (void *)1L, 0))
		return (void *)3L;
	for (int i = 0; i < 4; i++) {
		void *x;

		if (wf_blocking_join(j[i], &x))
			return (void *)4L;
		r += (long)x;
	}
	wf_blocking_stats(wf_runtime_current(), &st);
	if (st.rejected != 1 || st.waited_for_room != 1 || st.completed != 4 || st.threads != 1 ||
	    st.max_queued != 2) {
		printf("# stats: rejected %lu waited %lu completed %lu threads %lu max_queued %lu\n",
		       (unsigned long)st.rejected, (unsigned long)st.waited_for_room,
		       (unsigned long)st.completed, (unsigned long)st.threads,
		       (unsigned long)st.max_queued);
		return (void *)5L;
	}
	return (void *)r;
}

TEST(queue_is_bounded)
{
	struct wf_runtime_opts o = { .blocking_threads = 1, .blocking_queue = 2 };
	wf_runtime *rt;
	void *res;

	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	ASSERT_EQ(0, wf_block_on(rt, bounded_root, NULL, &res));
	EXPECT_EQ(301L, (long)res);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

TEST(idle_threads_leave_after_keepalive)
{
	struct wf_runtime_opts o = { .blocking_keepalive_ms = 50 };
	struct wf_blocking_stats st;
	wf_blocking *j[8];
	wf_runtime *rt;

	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	/* From a plain thread: spawn_blocking_on works outside tasks. */
	for (int i = 0; i < 8; i++)
		ASSERT_EQ(0, wf_spawn_blocking_on(rt, &j[i], sleep_ms, (void *)20L, 0));
	for (int i = 0; i < 8; i++)
		ASSERT_EQ(0, wf_blocking_join(j[i], NULL));
	ASSERT_EQ(0, wf_blocking_stats(rt, &st));
	EXPECT_GE(st.threads, 2ull);
	usleep(300 * 1000);
	ASSERT_EQ(0, wf_blocking_stats(rt, &st));
	EXPECT_EQ(0ull, st.threads);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

static void *in_place_root(void *arg)
{
	struct wf_blocking_stats st;
	long before, during;
	wf_task *tk;
	void *res;

	atomic_store(&stop_ticker, 0);
	wf_spawn(&tk, ticker, NULL);
	wf_sleep_ns(5 * WF_NSEC_PER_MSEC);
	before = atomic_load(&ticks);
	/* One worker: the ticker can only run if our core is handed off. */
	if (wf_block_in_place(sleep_ms, (void *)200L, &res) || res != (void *)200L)
		return (void *)1L;
	during = atomic_load(&ticks) - before;
	/* And we are a normal task again: suspend and resume. */
	if (wf_sleep_ns(WF_NSEC_PER_MSEC) || wf_yield())
		return (void *)2L;
	atomic_store(&stop_ticker, 1);
	wf_join(tk, NULL);
	wf_blocking_stats(wf_runtime_current(), &st);
	if (st.in_place != 1 || st.handoffs != 1)
		return (void *)3L;
	return during >= 20 ? NULL : (void *)(100 + during);
}

TEST(block_in_place_hands_the_worker_over)
{
	struct wf_runtime_opts o = { .workers = 1 };
	wf_runtime *rt;
	void *res;

	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	ASSERT_EQ(0, wf_block_on(rt, in_place_root, NULL, &res));
	EXPECT_EQ(NULL, res);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

static void *in_place_many(void *arg)
{
	void *res;

	for (int i = 0; i < 50; i++) {
		if (wf_block_in_place(sleep_ms, (void *)1L, &res) || res != (void *)1L)
			return (void *)1L;
		wf_yield();
	}
	return NULL;
}

static void *in_place_storm(void *arg)
{
	wf_task *t[16];
	long bad = 0;

	for (int i = 0; i < 16; i++)
		wf_spawn(&t[i], in_place_many, NULL);
	for (int i = 0; i < 16; i++) {
		void *r;

		wf_join(t[i], &r);
		bad += r != NULL;
	}
	return (void *)bad;
}

TEST(block_in_place_storm)
{
	struct wf_runtime_opts o = { .workers = 2 };
	wf_runtime *rt;
	void *res;

	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	ASSERT_EQ(0, wf_block_on(rt, in_place_storm, NULL, &res));
	EXPECT_EQ(0L, (long)res);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

static void *pinned_in_place(void *arg)
{
	return (void *)(long)wf_block_in_place(sleep_ms, (void *)1L, NULL);
}

static void *errors_root(void *arg)
{
	struct wf_spawn_opts po = { .flags = WF_SPAWN_PINNED };
	wf_task *t;
	void *r;

	if (wf_block_in_place(NULL, NULL, NULL) != -EINVAL)
		return (void *)1L;
	if (wf_spawn_blocking(NULL, NULL, NULL, 0) != -EINVAL)
		return (void *)2L;
	if (wf_spawn_blocking(NULL, sleep_ms, NULL, 0x80) != -EINVAL)
		return (void *)3L;
	wf_spawn_opts(&t, pinned_in_place, NULL, &po);
	wf_join(t, &r);
	if ((long)r != -EOPNOTSUPP)
		return (void *)4L;
	return NULL;
}

TEST(errors)
{
	struct wf_runtime_opts ct = { .flavor = WF_CURRENT_THREAD };
	wf_runtime *rt;
	void *res;

	EXPECT_ERRNO(EPERM, wf_block_in_place(sleep_ms, NULL, NULL));
	EXPECT_ERRNO(EPERM, wf_spawn_blocking(NULL, sleep_ms, NULL, 0));
	EXPECT_ERRNO(EINVAL, wf_blocking_join(NULL, NULL));
	EXPECT_ERRNO(EINVAL, wf_blocking_stats(NULL, NULL));
	ASSERT_EQ(0, wf_runtime_new(&rt, NULL));
	ASSERT_EQ(0, wf_block_on(rt, errors_root, NULL, &res));
	EXPECT_EQ(NULL, res);
	EXPECT_EQ(0, wf_runtime_free(rt));
	ASSERT_EQ(0, wf_runtime_new(&rt, &ct));
	ASSERT_EQ(0, wf_block_on(rt, pinned_in_place, NULL, &res));
	EXPECT_EQ(-EOPNOTSUPP, (long)res);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

static _Atomic long cancelled_rc = 1;

static void *runs_blocking(void *arg)
{
	atomic_store(&cancelled_rc, wf_run_blocking(sleep_ms, (void *)10L, NULL));
	return NULL;
}

static void *spawn_and_leave(void *arg)
{
	wf_spawn(NULL, runs_blocking, NULL);
	return NULL;
}

/* Poll the pool's stats until cond holds (10 s at most). */
#define WAIT_STATS(rt, st, cond) \
	do { \
		uint64_t _until = wf_now_ns() + 10 * WF_NSEC_PER_SEC; \
		do { \
			ASSERT_EQ(0, wf_blocking_stats(rt, &(st))); \
			if (cond) \
				break; \
			usleep(1000); \
		} while (wf_now_ns() < _until); \
		ASSERT_TRUE(cond); \
	} while (0)

TEST(shutdown_drops_unstarted_jobs_and_waits_for_running_ones)
{
	struct wf_runtime_opts o = { .blocking_threads = 1, .blocking_queue = 8 };
	struct wf_blocking_stats st;
	wf_blocking *busy, *queued;
	wf_runtime *rt;
	void *res = NULL;

	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	/* Occupy the pool's one thread for 500 ms. */
	ASSERT_EQ(0, wf_spawn_blocking_on(rt, &busy, sleep_ms, (void *)500L, 0));
	WAIT_STATS(rt, st, st.threads == 1 && st.queued == 0);
	/* A task's job queues behind it, then one from this thread. */
	ASSERT_EQ(0, wf_block_on(rt, spawn_and_leave, NULL, NULL));
	WAIT_STATS(rt, st, st.queued == 1);
	ASSERT_EQ(0, wf_spawn_blocking_on(rt, &queued, sleep_ms, (void *)1L, 0));
	ASSERT_EQ(0, wf_runtime_shutdown(rt, 0));
	/* The running job finished; the queued ones were dropped. */
	EXPECT_EQ(0, wf_blocking_join(busy, &res));
	EXPECT_EQ((void *)500L, res);
	EXPECT_ERRNO(ESHUTDOWN, wf_blocking_join(queued, NULL));
	/* The waiting task saw its job dropped. */
	EXPECT_EQ(-ESHUTDOWN, atomic_load(&cancelled_rc));
	EXPECT_EQ(0, wf_runtime_free(rt));
}

TEST_HARNESS_MAIN
