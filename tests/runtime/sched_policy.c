// SPDX-License-Identifier: MIT
/*
 * Scheduling policy: work is not stranded behind a worker stuck in a poll
 * (the next slot is stealable, tokio#4941), the cooperative budget makes a
 * task that never suspends yield, intervals tick and skip missed ticks.
 */
#include "wtest.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <weft.h>

static void spin_ms(unsigned ms)
{
	uint64_t end = wf_now_ns() + ms * WF_NSEC_PER_MSEC;

	while (wf_now_ns() < end)
		;
}

static _Atomic uint64_t woken_at;

static void *wakee(void *arg)
{
	if (wf_notify_wait(arg))
		return (void *)1L;
	atomic_store(&woken_at, wf_now_ns());
	return NULL;
}

struct strand {
	wf_notify *n;
	uint64_t notified_at;
};

/* Wake the waiter (it lands in this worker's next slot), then hog the worker. */
static void *hog(void *arg)
{
	struct strand *s = arg;

	s->notified_at = wf_now_ns();
	wf_notify_one(s->n);
	spin_ms(200);
	return NULL;
}

static void *strand_root(void *arg)
{
	struct strand s;
	wf_task *a, *b;

	wf_notify_new(&s.n);
	wf_spawn(&a, wakee, s.n);
	wf_sleep_ns(20 * WF_NSEC_PER_MSEC);	/* a waits; other workers park */
	wf_spawn(&b, hog, &s);
	wf_join(a, NULL);
	wf_join(b, NULL);
	wf_notify_free(s.n);
	return (void *)(uintptr_t)(atomic_load(&woken_at) - s.notified_at);
}

TEST(next_slot_is_not_stranded_behind_a_long_poll)
{
	struct wf_runtime_opts o = { .workers = 2 };
	wf_runtime *rt;
	void *res;

	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	ASSERT_EQ(0, wf_block_on(rt, strand_root, NULL, &res));
	TH_LOG("woken task ran %.3f ms after the wake-up (its waker hogged 200 ms)",
	       (uintptr_t)res / 1e6);
	/* Tokio's LIFO slot would leave it for the whole 200 ms. */
	EXPECT_LT((uintptr_t)res, 50 * WF_NSEC_PER_MSEC);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

static _Atomic long other_polls;
static _Atomic int greedy_done;

static void *other(void *arg)
{
	while (!atomic_load(&greedy_done)) {
		atomic_fetch_add(&other_polls, 1);
		if (wf_yield())
			break;
	}
	return NULL;
}

/* Never suspends: every send finds room, every receive a message. */
static void *greedy(void *arg)
{
	wf_chan *ch;
	long seen_other = -1, v;

	wf_chan_new(&ch, sizeof(long), 4);
	for (long i = 0; i < 20000; i++) {
		wf_chan_send(ch, &i);
		wf_chan_recv(ch, &v);
		if (i == 10000)
			seen_other = atomic_load(&other_polls);
	}
	atomic_store(&greedy_done, 1);
	wf_chan_free(ch);
	return (void *)seen_other;
}

static void *budget_root(void *arg)
{
	wf_task *g, *o;
	void *seen;

	wf_spawn(&o, other, NULL);
	wf_yield();
	wf_spawn(&g, greedy, NULL);
	wf_join(g, &seen);
	wf_join(o, NULL);
	/* Parking publishes the worker's metrics batch. */
	wf_sleep_ns(10 * WF_NSEC_PER_MSEC);
	return seen;
}

TEST(budget_makes_a_task_that_never_suspends_yield)
{
	struct wf_runtime_opts o = { .flavor = WF_CURRENT_THREAD };
	struct wf_metrics *m;
	wf_runtime *rt;
	void *seen;

	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	ASSERT_EQ(0, wf_block_on(rt, budget_root, NULL, &seen));
	/* One worker: the other task ran only because the greedy one yielded. */
	EXPECT_GT((long)seen, 10L);
	ASSERT_EQ(0, wf_metrics_snapshot(rt, &m));
	/* 40,000 operations at 128 per poll: about 312 forced yields. */
	EXPECT_GE(m->workers[0].forced_yields, 40000ull / 128 - 2);
	TH_LOG("%llu forced yields", (unsigned long long)m->workers[0].forced_yields);
	wf_metrics_free(m);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

static void *ticker(void *arg)
{
	struct wf_interval iv;
	uint64_t t0 = wf_now_ns();
	int64_t skipped = 0, r;

	if (wf_interval_init(&iv, 5 * WF_NSEC_PER_MSEC))
		return (void *)-1L;
	for (int i = 0; i < 10; i++)
		if (wf_interval_tick(&iv) < 0)
			return (void *)-2L;
	/* 10 ticks of 5 ms: about 50 ms. */
	if (wf_now_ns() - t0 < 50 * WF_NSEC_PER_MSEC)
		return (void *)-3L;
	/* Late by 23 ms: the 4 missed ticks are skipped, not replayed. */
	spin_ms(23);
	r = wf_interval_tick(&iv);
	if (r < 0)
		return (void *)-4L;
	skipped = r;
	return (void *)skipped;
}

TEST(interval_ticks_and_skips_missed_ticks)
{
	void *res;

	ASSERT_EQ(0, wf_main(ticker, NULL, &res));
	EXPECT_GE((long)res, 3L);
	EXPECT_LE((long)res, 5L);
	EXPECT_ERRNO(EINVAL, wf_interval_init(NULL, 1));
	struct wf_interval iv;

	EXPECT_ERRNO(EINVAL, wf_interval_init(&iv, 0));
	EXPECT_ERRNO(EPERM, wf_interval_tick(&(struct wf_interval){ .next = 1, .period = 1 }));
}

TEST_HARNESS_MAIN
