// SPDX-License-Identifier: MIT
/*
 * Scheduler stress: cross-thread wake-ups (no lost, no doubled poll), steal
 * storms (every task runs exactly once), timer storms (no timer lost or
 * early), cancellation racing wake-ups, and wake-ups from threads outside
 * the runtime. Sized to take seconds in `make check`; WEFT_STRESS=N
 * multiplies every size by N (e.g. WEFT_STRESS=20 for millions of wakes).
 */
#include "wtest.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#include <weft.h>

static long scale(void)
{
	const char *e = getenv("WEFT_STRESS");
	long s = e ? atol(e) : 1;

	if (s < 1)
		s = 1;
	return WTEST_TSAN ? s : s * 4;
}

static wf_runtime *new_rt(struct __test_metadata *_metadata, unsigned workers)
{
	struct wf_runtime_opts o = { .workers = workers };
	wf_runtime *rt;

	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	return rt;
}

/*
 * A poll marker per task: set on every resume, cleared before every
 * suspension. Finding it set on resume means the task was resumed while
 * still inside a poll (a doubled poll).
 */
struct marker {
	_Atomic int in_poll;
};

static _Atomic long doubled, lost;

static void enter(struct marker *m)
{
	if (atomic_exchange(&m->in_poll, 1))
		atomic_fetch_add(&doubled, 1);
}

static void leave(struct marker *m)
{
	atomic_store(&m->in_poll, 0);
}

/* --- 1. ping-pong across workers through notify ---------------------------- */

struct pair {
	wf_notify *to_a, *to_b;
	long rounds;
	_Atomic long a_seen, b_seen;
	struct marker ma, mb;
};

static void *pinger(void *arg)
{
	struct pair *p = arg;

	enter(&p->ma);
	for (long i = 0; i < p->rounds; i++) {
		wf_notify_one(p->to_b);
		leave(&p->ma);
		if (wf_notify_wait(p->to_a))
			return (void *)1L;
		enter(&p->ma);
		atomic_fetch_add(&p->a_seen, 1);
	}
	leave(&p->ma);
	return NULL;
}

static void *ponger(void *arg)
{
	struct pair *p = arg;

	for (long i = 0; i < p->rounds; i++) {
		if (wf_notify_wait(p->to_b))
			return (void *)1L;
		enter(&p->mb);
		atomic_fetch_add(&p->b_seen, 1);
		wf_notify_one(p->to_a);
		leave(&p->mb);
	}
	return NULL;
}

static void *pingpong_root(void *arg)
{
	long npairs = 64, rounds = 500 * scale(), bad = 0;
	struct pair *ps = calloc((size_t)npairs, sizeof(*ps));
	wf_task **t = calloc((size_t)npairs * 2, sizeof(*t));

	for (long i = 0; i < npairs; i++) {
		wf_notify_new(&ps[i].to_a);
		wf_notify_new(&ps[i].to_b);
		ps[i].rounds = rounds;
		wf_spawn(&t[2 * i], pinger, &ps[i]);
		wf_spawn(&t[2 * i + 1], ponger, &ps[i]);
	}
	for (long i = 0; i < 2 * npairs; i++) {
		void *r;

		wf_join(t[i], &r);
		bad += r != NULL;
	}
	for (long i = 0; i < npairs; i++) {
		if (atomic_load(&ps[i].a_seen) != rounds || atomic_load(&ps[i].b_seen) != rounds)
			atomic_fetch_add(&lost, 1);
		wf_notify_free(ps[i].to_a);
		wf_notify_free(ps[i].to_b);
	}
	free(ps);
	free(t);
	return (void *)bad;
}

TEST_TIMEOUT(cross_thread_wakes_none_lost_none_doubled, 120)
{
	wf_runtime *rt = new_rt(_metadata, 4);
	void *res;

	atomic_store(&doubled, 0);
	atomic_store(&lost, 0);
	ASSERT_EQ(0, wf_block_on(rt, pingpong_root, NULL, &res));
	EXPECT_EQ(0L, (long)res);
	EXPECT_EQ(0L, atomic_load(&lost));
	EXPECT_EQ(0L, atomic_load(&doubled));
	TH_LOG("%ld cross-task wakes", 64L * 2 * 500 * scale());
	EXPECT_EQ(0, wf_runtime_free(rt));
}

/* --- 2. steal storm ----------------------------------------------------------- */

static _Atomic uint8_t *ran;
static _Atomic long storm_left;

static void *short_task(void *arg)
{
	long i = (long)arg;

	wf_yield();
	atomic_fetch_add(&ran[i], 1);
	atomic_fetch_sub(&storm_left, 1);
	return NULL;
}

static void *storm_root(void *arg)
{
	long n = (long)arg;

	/* One task spawns everything: the other workers must steal it. */
	for (long i = 0; i < n; i++)
		while (wf_spawn(NULL, short_task, (void *)i) == -ENOMEM)
			wf_yield();
	/* Detached tasks: wait for the last one (shutdown would cancel them). */
	while (atomic_load(&storm_left))
		wf_sleep_ns(100000);
	return NULL;
}

TEST_TIMEOUT(steal_storm_runs_every_task_once, 120)
{
	long n = 20000 * scale(), bad = 0;
	wf_runtime *rt = new_rt(_metadata, 4);

	ran = calloc((size_t)n, 1);
	ASSERT_NOT_NULL(ran);
	atomic_store(&storm_left, n);
	ASSERT_EQ(0, wf_block_on(rt, storm_root, (void *)n, NULL));
	/* Shutdown waits for the detached tasks. */
	ASSERT_EQ(0, wf_runtime_shutdown(rt, 0));
	for (long i = 0; i < n; i++)
		bad += atomic_load(&ran[i]) != 1;
	EXPECT_EQ(0L, bad);
	EXPECT_EQ(0, wf_runtime_free(rt));
	free((void *)ran);
}

/* --- 3. timer storm ------------------------------------------------------------ */

static _Atomic long early, timer_done;
static _Atomic uint64_t worst_late;

static void *sleeper(void *arg)
{
	uint64_t d = (uint64_t)(long)arg, dl = wf_now_ns() + d, now, late;

	if (wf_sleep_until(dl))
		return (void *)1L;
	now = wf_now_ns();
	if (now < dl)
		atomic_fetch_add(&early, 1);
	late = now - dl;
	for (uint64_t w = atomic_load(&worst_late); late > w;)
		if (atomic_compare_exchange_weak(&worst_late, &w, late))
			break;
	atomic_fetch_add(&timer_done, 1);
	return NULL;
}

static void *timer_root(void *arg)
{
	long n = (long)arg, bad = 0;
	wf_task **t = calloc((size_t)n, sizeof(*t));
	unsigned seed = 12345;

	long joined = 0;

	for (long i = 0; i < n; i++) {
		/* 0..20 ms, with many equal deadlines and sub-tick ones. */
		long d = (long)(rand_r(&seed) % 20000) * 1000 + (i % 7) * 100;

		/*
		 * Out of memory maps (vm.max_map_count, big WEFT_STRESS):
		 * join the oldest to give its stack back, then retry.
		 */
		while (wf_spawn(&t[i], sleeper, (void *)d) == -ENOMEM) {
			void *r;

			if (joined == i)
				return (void *)-1L;
			wf_join(t[joined++], &r);
			bad += r != NULL;
		}
	}
	for (long i = joined; i < n; i++) {
		void *r;

		wf_join(t[i], &r);
		bad += r != NULL;
	}
	free(t);
	return (void *)bad;
}

TEST_TIMEOUT(timer_storm_no_timer_lost_or_early, 120)
{
	long n = (WTEST_TSAN ? 2000 : 5000) * scale();
	wf_runtime *rt = new_rt(_metadata, 4);

	/*
	 * Under TSan every live task is a fiber, and fibers count against
	 * its 8128 threads: more sleepers at once and it dies ("Thread limit
	 * exceeded"), whatever the runtime does (WEFT_STRESS=5 did).
	 */
	if (WTEST_TSAN && n > 6000)
		n = 6000;
	atomic_store(&early, 0);
	atomic_store(&timer_done, 0);
	void *res;

	ASSERT_EQ(0, wf_block_on(rt, timer_root, (void *)n, &res));
	EXPECT_EQ(0L, (long)res);
	EXPECT_EQ(n, atomic_load(&timer_done));
	EXPECT_EQ(0L, atomic_load(&early));
	TH_LOG("%ld timers, worst lateness %.3f ms", n, atomic_load(&worst_late) / 1e6);
	/* Lost timers would show as tasks still sleeping at shutdown. */
	EXPECT_LT(atomic_load(&worst_late), 2 * WF_NSEC_PER_SEC);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

/* --- 4. cancellation racing wake-ups -------------------------------------------- */

static _Atomic long finished, woken, cancelled_n;

static void *victim(void *arg)
{
	wf_notify *n = arg;

	for (;;) {
		int r;

		switch (rand() % 3) {
		case 0:
			r = wf_notify_wait(n);
			break;
		case 1:
			r = wf_sleep_ns(10000);
			break;
		default:
			r = wf_yield();
		}
		if (r == -ECANCELED) {
			atomic_fetch_add(&cancelled_n, 1);
			break;
		}
		atomic_fetch_add(&woken, 1);
	}
	atomic_fetch_add(&finished, 1);
	return NULL;
}

static void *cancel_root(void *arg)
{
	long n = (long)arg;
	wf_task **t = calloc((size_t)n, sizeof(*t));
	wf_notify *no;

	wf_notify_new(&no);
	for (long i = 0; i < n; i++)
		wf_spawn(&t[i], victim, no);
	/* Wake and cancel at the same time, in random order. */
	for (long i = 0; i < n; i++) {
		wf_notify_all(no);
		wf_cancel(t[(i * 7919) % n]);
		if (i % 16 == 0)
			wf_yield();
	}
	for (long i = 0; i < n; i++)
		wf_join(t[i], NULL);
	wf_notify_free(no);
	free(t);
	return NULL;
}

TEST_TIMEOUT(cancel_races_wakeups_every_task_ends, 120)
{
	long n = 500 * scale();
	wf_runtime *rt = new_rt(_metadata, 4);

	atomic_store(&finished, 0);
	atomic_store(&cancelled_n, 0);
	ASSERT_EQ(0, wf_block_on(rt, cancel_root, (void *)n, NULL));
	EXPECT_EQ(n, atomic_load(&finished));
	EXPECT_EQ(n, atomic_load(&cancelled_n));
	EXPECT_EQ(0, wf_runtime_free(rt));
}

/* --- 5. wake-ups from threads outside the runtime ----------------------------------- */

struct ext {
	wf_notify *n;
	long rounds;
	_Atomic long got;
	_Atomic int stop;
};

static void *ext_waiter(void *arg)
{
	struct ext *e = arg;

	while (atomic_load(&e->got) < e->rounds) {
		if (wf_notify_wait(e->n))
			return (void *)1L;
		atomic_fetch_add(&e->got, 1);
	}
	return NULL;
}

static void *ext_thread(void *arg)
{
	struct ext *e = arg;

	/* Permits coalesce: keep notifying until the waiter has seen enough. */
	while (!atomic_load(&e->stop))
		wf_notify_one(e->n);
	return NULL;
}

TEST_TIMEOUT(wakes_from_foreign_threads, 60)
{
	struct ext e = { .rounds = 20000 * scale() };
	struct wf_spawn_opts o;
	wf_runtime *rt = new_rt(_metadata, 2);
	pthread_t th[2];
	wf_task *t;

	ASSERT_EQ(0, wf_notify_new(&e.n));
	o = (struct wf_spawn_opts){ .rt = rt, .name = "ext-waiter" };
	ASSERT_EQ(0, wf_spawn_opts(&t, ext_waiter, &e, &o));
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, ext_thread, &e));
	/* A plain thread joins a task too. */
	ASSERT_EQ(0, wf_join(t, NULL));
	atomic_store(&e.stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	EXPECT_EQ(e.rounds, atomic_load(&e.got));
	wf_notify_free(e.n);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

/*
 * One wake-up at a time from outside, into a runtime with a single worker
 * that goes idle between them: the task pushed to the inject queue while
 * the worker is on its way to park must not be left there (no search, so
 * the parker itself must see it). Each round waits for the task's answer;
 * a lost wake-up shows as a round that never ends.
 */
static void *pong_waiter(void *arg)
{
	struct ext *e = arg;

	while (atomic_load(&e->got) < e->rounds) {
		if (wf_notify_wait(e->n))
			return (void *)1L;
		atomic_fetch_add(&e->got, 1);
	}
	return NULL;
}

TEST_TIMEOUT(single_worker_foreign_wakes_one_at_a_time, 120)
{
	struct ext e = { .rounds = 5000 * scale() };
	struct wf_spawn_opts o;
	wf_runtime *rt = new_rt(_metadata, 1);
	long stuck = 0;
	wf_task *t;

	ASSERT_EQ(0, wf_notify_new(&e.n));
	o = (struct wf_spawn_opts){ .rt = rt, .name = "pong" };
	ASSERT_EQ(0, wf_spawn_opts(&t, pong_waiter, &e, &o));
	for (long i = 0; i < e.rounds && !stuck; i++) {
		uint64_t until;

		wf_notify_one(e.n);
		until = wf_now_ns() + 5 * WF_NSEC_PER_SEC;
		while (atomic_load(&e.got) <= i) {
			if (wf_now_ns() > until) {
				stuck = i + 1;
				break;
			}
			sched_yield();
		}
		/* Vary the gap so the next wake-up lands anywhere in the park path. */
		for (volatile long k = 0; k < (i * 7919) % 3000; k++)
			;
	}
	if (stuck) {
		TH_LOG("round %ld: the task was not woken within 5 s", stuck);
		wf_notify_one(e.n);	/* let the test end anyway */
	}
	EXPECT_EQ(0L, stuck);
	atomic_store(&e.got, e.rounds);
	wf_notify_one(e.n);
	ASSERT_EQ(0, wf_join(t, NULL));
	wf_notify_free(e.n);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

TEST_HARNESS_MAIN
