// SPDX-License-Identifier: MIT
/*
 * Metrics: the snapshot API after known workloads (polls, slow polls,
 * scheduled delays, wakes), worker state, the percentile helper, the text
 * and JSON dumps (JSON checked by a strict validator and, when present, by
 * python3), error paths, and snapshots racing with spawns and exits.
 */
#include "wtest.h"
#include "json_valid.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weft.h>

#define SLOW_NS ((uint64_t)CONFIG_WEFT_SLOW_POLL_US * 1000u)

static const struct wf_task_metrics *find_task(const struct wf_metrics *m, uint64_t id)
{
	for (size_t i = 0; i < m->ntasks; i++)
		if (m->tasks[i].id == id)
			return &m->tasks[i];
	return NULL;
}

static uint64_t hist_bucket_sum(const struct wf_hist *h)
{
	uint64_t n = 0;

	for (unsigned b = 0; b < WF_METRICS_HIST_BUCKETS; b++)
		n += h->buckets[b];
	return n;
}

/* --- errors and the histogram helpers ---------------------------------------------- */

TEST(errors)
{
	struct wf_metrics *m = (struct wf_metrics *)0x1;
	struct wf_hist h = { 0 };
	wf_runtime *rt;
	uint64_t lo, hi;
	FILE *full;

	ASSERT_EQ(0, wf_runtime_new(&rt, &(struct wf_runtime_opts){ .workers = 1 }));
	EXPECT_ERRNO(EINVAL, wf_metrics_snapshot(NULL, &m));
	EXPECT_EQ((struct wf_metrics *)0x1, m);
	EXPECT_ERRNO(EINVAL, wf_metrics_snapshot(rt, NULL));
	ASSERT_EQ(0, wf_metrics_snapshot(rt, &m));
	EXPECT_ERRNO(EINVAL, wf_metrics_dump(NULL, stdout, 0));
	EXPECT_ERRNO(EINVAL, wf_metrics_dump(m, NULL, 0));
	EXPECT_ERRNO(EINVAL, wf_metrics_dump(m, stdout, 0x100));
	EXPECT_ERRNO(EINVAL, wf_metrics_dump(m, stdout, -1));
	full = fopen("/dev/full", "w");
	if (full) {
		EXPECT_ERRNO(EIO, wf_metrics_dump(m, full, WF_METRICS_JSON));
		fclose(full);
	}
	wf_metrics_free(m);
	wf_metrics_free(NULL);

	EXPECT_ERRNO(EINVAL, wf_hist_percentile(NULL, 0.5));
	EXPECT_ERRNO(ENODATA, wf_hist_percentile(&h, 0.5));
	h.buckets[3] = 1;
	h.count = 1;
	EXPECT_ERRNO(EINVAL, wf_hist_percentile(&h, -0.01));
	EXPECT_ERRNO(EINVAL, wf_hist_percentile(&h, 1.01));
	EXPECT_ERRNO(EINVAL, wf_hist_percentile(&h, NAN));
	EXPECT_ERRNO(EINVAL, wf_hist_bucket_bounds(WF_METRICS_HIST_BUCKETS, &lo, &hi));
	EXPECT_ERRNO(EINVAL, wf_hist_bucket_bounds(0, NULL, &hi));
	EXPECT_ERRNO(EINVAL, wf_hist_bucket_bounds(0, &lo, NULL));
	EXPECT_STREQ("polling", wf_worker_state_name(WF_WORKER_POLLING));
	EXPECT_STREQ("unknown", wf_worker_state_name(WF_WORKER_UNKNOWN));
	EXPECT_STREQ("unknown", wf_worker_state_name(99));
	EXPECT_STREQ("idle", wf_task_state_name(WF_TASK_IDLE));
	EXPECT_STREQ("unknown", wf_task_state_name(-3));
	EXPECT_EQ(0, wf_runtime_free(rt));
}

TEST(bucket_bounds_are_contiguous)
{
	uint64_t lo, hi, prev_hi = 0;

	for (unsigned b = 0; b < WF_METRICS_HIST_BUCKETS; b++) {
		ASSERT_EQ(0, wf_hist_bucket_bounds(b, &lo, &hi));
		EXPECT_EQ(prev_hi, lo);
		EXPECT_LT(lo, hi);
		/* Log-linear: a bucket is at most half as wide as its lower bound. */
		if (b > 0 && hi != UINT64_MAX)
			EXPECT_LE(hi - lo, lo / 2);
		prev_hi = hi;
	}
	EXPECT_EQ(UINT64_MAX, prev_hi);
	ASSERT_EQ(0, wf_hist_bucket_bounds(0, &lo, &hi));
	EXPECT_EQ(0u, lo);
	EXPECT_EQ(1024u, hi);
}

/* Put n values of v into h (as the runtime would). */
static void hist_add(struct wf_hist *h, uint64_t v, uint64_t n)
{
	for (unsigned b = 0; b < WF_METRICS_HIST_BUCKETS; b++) {
		uint64_t lo, hi;

		wf_hist_bucket_bounds(b, &lo, &hi);
		if (v >= lo && v < hi) {
			h->buckets[b] += n;
			break;
		}
	}
	h->count += n;
	h->total_ns += v * n;
	if (v > h->max_ns)
		h->max_ns = v;
}

TEST(percentile_helper)
{
	struct wf_hist h = { 0 }, one = { 0 };
	int64_t prev = 0, v;

	hist_add(&h, 500, 50);		/* bucket [0, 1024) */
	hist_add(&h, 10000, 40);	/* bucket [8192, 12288) */
	hist_add(&h, 1000000, 9);	/* bucket [786432, 1048576) */
	hist_add(&h, 1200000, 1);	/* max */

	v = wf_hist_percentile(&h, 0.5);
	EXPECT_GE(v, 0);
	EXPECT_LT(v, 1024);
	v = wf_hist_percentile(&h, 0.9);
	EXPECT_GE(v, 8192);
	EXPECT_LT(v, 12288);
	v = wf_hist_percentile(&h, 0.99);
	EXPECT_GE(v, 786432);
	EXPECT_LT(v, 1048576);
	EXPECT_EQ(1200000, wf_hist_percentile(&h, 1.0));
	v = wf_hist_percentile(&h, 0.0);
	EXPECT_GE(v, 0);
	EXPECT_LT(v, 1024);
	/* Monotonic in q, never above the maximum. */
	for (int i = 0; i <= 1000; i++) {
		v = wf_hist_percentile(&h, i / 1000.0);
		ASSERT_GE(v, prev);
		ASSERT_LE(v, 1200000);
		prev = v;
	}

	/* One value: every quantile is within its bucket and at most the value. */
	hist_add(&one, 5000, 1);
	for (int i = 0; i <= 10; i++) {
		v = wf_hist_percentile(&one, i / 10.0);
		EXPECT_GE(v, 4096);
		EXPECT_LE(v, 5000);
	}
}

/* --- snapshots after known workloads ------------------------------------------------ */

struct probe {
	long n;			/* yields, or sleeps */
	_Atomic int done;	/* the workload is over; the task now waits forever */
};

static void *yielder(void *arg)
{
	struct probe *p = arg;

	for (long i = 0; i < p->n; i++)
		if (wf_yield())
			return (void *)-1L;
	atomic_store(&p->done, 1);
	wf_sleep_ns(60 * WF_NSEC_PER_SEC);	/* until cancelled */
	return NULL;
}

static void *spinner(void *arg)
{
	struct probe *p = arg;
	uint64_t spin = 2 * WF_NSEC_PER_MSEC > 2 * SLOW_NS ? 2 * WF_NSEC_PER_MSEC : 2 * SLOW_NS;
	uint64_t until = wf_now_ns() + spin;

	while (wf_now_ns() < until)
		;
	atomic_store(&p->done, 1);
	wf_sleep_ns(60 * WF_NSEC_PER_SEC);
	return NULL;
}

static void *sleeper(void *arg)
{
	struct probe *p = arg;

	for (long i = 0; i < p->n; i++)
		wf_sleep_ns(WF_NSEC_PER_MSEC);
	atomic_store(&p->done, 1);
	wf_sleep_ns(60 * WF_NSEC_PER_SEC);
	return NULL;
}

struct scenario {
	wf_task_fn fn;
	struct probe p;
	const char *name;
	int line;		/* spawn line */
	uint64_t id;
	struct wf_metrics *m;	/* snapshot once the task is idle */
	uint64_t worker_polls;	/* worker totals once they caught up */
	uint64_t worker_slow;
	int err;
};

static uint64_t sum_polls(const struct wf_metrics *m)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < m->nworkers; i++)
		n += m->workers[i].polls;
	return n;
}

static uint64_t sum_slow(const struct wf_metrics *m)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < m->nworkers; i++)
		n += m->workers[i].slow_polls;
	return n;
}

/* Root task: spawn the workload, wait until it is idle, snapshot, clean up. */
static void *run_scenario(void *arg)
{
	struct scenario *s = arg;
	wf_runtime *rt = wf_runtime_current();
	uint64_t deadline = wf_now_ns() + 20 * WF_NSEC_PER_SEC;
	struct wf_spawn_opts o = { .name = s->name };
	wf_task *t;

	s->line = __LINE__ + 1;
	s->err = wf_spawn_at(&t, s->fn, &s->p, &o, __FILE__, __LINE__);
	if (s->err)
		return NULL;
	s->id = wf_task_id(t);
	while (wf_now_ns() < deadline) {
		struct wf_metrics *m;
		const struct wf_task_metrics *tm;

		wf_sleep_ns(2 * WF_NSEC_PER_MSEC);
		if (!atomic_load(&s->p.done))
			continue;
		s->err = wf_metrics_snapshot(rt, &m);
		if (s->err)
			break;
		tm = find_task(m, s->id);
		if (!m->task_metrics || (tm && tm->state == WF_TASK_IDLE && tm->polls)) {
			s->m = m;
			break;
		}
		wf_metrics_free(m);
	}
	/* Worker counters are published on park or every flush interval. */
	while (s->m && wf_now_ns() < deadline) {
		struct wf_metrics *m;

		if (wf_metrics_snapshot(rt, &m))
			break;
		s->worker_polls = sum_polls(m);
		s->worker_slow = sum_slow(m);
		wf_metrics_free(m);
		if (s->worker_polls >= (uint64_t)s->p.n + 1 && (s->fn != spinner || s->worker_slow))
			break;
		wf_sleep_ns(2 * WF_NSEC_PER_MSEC);
	}
	wf_cancel(t);
	wf_join(t, NULL);
	return NULL;
}

static void scenario_run(struct __test_metadata *_metadata, struct scenario *s)
{
	wf_runtime *rt;

	ASSERT_EQ(0, wf_runtime_new(&rt, &(struct wf_runtime_opts){ .workers = 2 }));
	ASSERT_EQ(0, wf_block_on(rt, run_scenario, s, NULL));
	EXPECT_EQ(0, wf_runtime_free(rt));
	ASSERT_EQ(0, s->err);
	ASSERT_NOT_NULL(s->m);
}

/* Checks every task snapshot must pass. */
static void check_task_invariants(struct __test_metadata *_metadata, const struct wf_metrics *m,
				  const struct wf_task_metrics *t)
{
	EXPECT_EQ(t->polls, t->poll.count);
	EXPECT_EQ(t->polls, t->sched.count);
	EXPECT_EQ(t->poll.count, hist_bucket_sum(&t->poll));
	EXPECT_EQ(t->sched.count, hist_bucket_sum(&t->sched));
	EXPECT_EQ(t->busy_ns, t->poll.total_ns);
	EXPECT_EQ(t->scheduled_ns, t->sched.total_ns);
	EXPECT_LE(t->poll.max_ns, t->busy_ns);
	EXPECT_GE(t->first_poll_ns, t->spawn_ns);
	EXPECT_LE(t->spawn_ns, m->now_ns);
	EXPECT_EQ(m->now_ns - t->spawn_ns, t->age_ns);
	if (t->age_ns >= t->busy_ns + t->scheduled_ns)
		EXPECT_EQ(t->age_ns - t->busy_ns - t->scheduled_ns, t->idle_ns);
	else
		EXPECT_EQ(0u, t->idle_ns);
	EXPECT_LE(t->slow_polls, t->polls);
	EXPECT_LE(t->self_wakes, t->wakes);
}

TEST(yields_counted)
{
	struct scenario s = { .fn = yielder, .p = { .n = 1000 }, .name = "yielder" };
	const struct wf_task_metrics *t;

	scenario_run(_metadata, &s);
#ifndef CONFIG_WEFT_METRICS
	EXPECT_EQ(0, s.m->task_metrics);
	EXPECT_EQ(0u, s.m->ntasks);
	wf_metrics_free(s.m);
	SKIP("per-task metrics are not built in (CONFIG_WEFT_METRICS=n)");
#endif
	t = find_task(s.m, s.id);
	ASSERT_NOT_NULL(t);
	/* The first poll, one after each yield; the last one ended in the sleep. */
	EXPECT_EQ((uint64_t)s.p.n + 1, t->polls);
	EXPECT_EQ(0u, t->wakes);
	EXPECT_EQ(0u, t->self_wakes);
	EXPECT_STREQ("yielder", t->name);
	EXPECT_NOT_NULL(strstr(t->file, "metrics.c"));
	EXPECT_EQ(s.line, t->line);
	EXPECT_EQ(WF_TASK_IDLE, t->state);
	EXPECT_EQ(0u, t->flags);
	EXPECT_GT(t->busy_ns, 0u);
	check_task_invariants(_metadata, s.m, t);
	EXPECT_GE(s.worker_polls, (uint64_t)s.p.n + 1);
	wf_metrics_free(s.m);
}

TEST(slow_poll_counted)
{
	struct scenario s = { .fn = spinner, .name = "spinner" };
	const struct wf_task_metrics *t;
	int64_t p100;

	scenario_run(_metadata, &s);
#ifndef CONFIG_WEFT_METRICS
	wf_metrics_free(s.m);
	SKIP("per-task metrics are not built in (CONFIG_WEFT_METRICS=n)");
#endif
	t = find_task(s.m, s.id);
	ASSERT_NOT_NULL(t);
	EXPECT_EQ(1u, t->polls);
	EXPECT_EQ(1u, t->slow_polls);
	EXPECT_GE(t->poll.max_ns, 2 * WF_NSEC_PER_MSEC);
	p100 = wf_hist_percentile(&t->poll, 1.0);
	EXPECT_EQ((int64_t)t->poll.max_ns, p100);
	check_task_invariants(_metadata, s.m, t);
	EXPECT_GE(s.worker_slow, 1u);
	wf_metrics_free(s.m);
}

TEST(wakes_counted)
{
	struct scenario s = { .fn = sleeper, .p = { .n = 5 }, .name = "sleeper" };
	const struct wf_task_metrics *t;

	scenario_run(_metadata, &s);
#ifndef CONFIG_WEFT_METRICS
	wf_metrics_free(s.m);
	SKIP("per-task metrics are not built in (CONFIG_WEFT_METRICS=n)");
#endif
	t = find_task(s.m, s.id);
	ASSERT_NOT_NULL(t);
	/* Each sleep ends with a timer wake-up and one more poll. */
	EXPECT_EQ((uint64_t)s.p.n, t->wakes);
	EXPECT_EQ(0u, t->self_wakes);
	EXPECT_EQ((uint64_t)s.p.n + 1, t->polls);
	/*
	 * It slept 5 ms in all: idle time, except the part of each sleep spent
	 * finishing the poll that started it (busy); never scheduled delay.
	 */
	EXPECT_GE(t->idle_ns + t->busy_ns, (uint64_t)s.p.n * WF_NSEC_PER_MSEC);
	if (t->idle_ns + t->busy_ns < (uint64_t)s.p.n * WF_NSEC_PER_MSEC)
		TH_LOG("age %llu ns = busy %llu + scheduled %llu (max %llu) + idle %llu: a "
		       "scheduled delay counted time the task was waiting",
		       (unsigned long long)t->age_ns, (unsigned long long)t->busy_ns,
		       (unsigned long long)t->scheduled_ns, (unsigned long long)t->sched.max_ns,
		       (unsigned long long)t->idle_ns);
	check_task_invariants(_metadata, s.m, t);
	wf_metrics_free(s.m);
}

/*
 * A task polled once keeps its one sample as the totals and its histogram
 * lines untouched; the second poll files both samples; a recycled control
 * block clears only the bucket lines its polls wrote (metrics.h). Blocks
 * of tasks that dirtied many buckets are reused (one worker: its pool
 * hands back the last blocks freed), and the new tasks' histograms must
 * hold exactly their own polls.
 */
static void *dirtier(void *arg)
{
	long k = (long)(intptr_t)arg;

	for (long i = 0; i < 40; i++) {
		uint64_t until = wf_now_ns() + (uint64_t)((i * 7 + k) % 40) * 3000;

		while (wf_now_ns() < until)
			;
		if (i % 8 == 0)
			wf_sleep_ns(100 * 1000);
		else
			wf_yield();
	}
	return NULL;
}

static void *once_then_idle(void *arg)
{
	long polls = (long)(intptr_t)arg;

	for (long i = 1; i < polls; i++)
		wf_yield();
	wf_sleep_ns(60 * WF_NSEC_PER_SEC);	/* until cancelled */
	return NULL;
}

#define RECYCLE_TASKS 24

struct recycle {
	uint64_t ids[RECYCLE_TASKS];
	long polls[RECYCLE_TASKS];
	struct wf_metrics *m;
	int err;
};

static void *recycle_root(void *arg)
{
	struct recycle *r = arg;
	wf_task *t[RECYCLE_TASKS];
	uint64_t deadline = wf_now_ns() + 20 * WF_NSEC_PER_SEC;

	for (long i = 0; i < RECYCLE_TASKS; i++)
		if ((r->err = wf_spawn(&t[i], dirtier, (void *)(intptr_t)i)))
			return NULL;
	for (int i = 0; i < RECYCLE_TASKS; i++)
		wf_join(t[i], NULL);
	for (int i = 0; i < RECYCLE_TASKS; i++) {
		r->polls[i] = 1 + i % 3;
		if ((r->err = wf_spawn(&t[i], once_then_idle, (void *)(intptr_t)r->polls[i])))
			return NULL;
		r->ids[i] = wf_task_id(t[i]);
	}
	while (wf_now_ns() < deadline) {
		bool idle = true;

		wf_sleep_ns(WF_NSEC_PER_MSEC);
		if ((r->err = wf_metrics_snapshot(wf_runtime_current(), &r->m)))
			break;
		for (int i = 0; i < RECYCLE_TASKS && idle; i++) {
			const struct wf_task_metrics *tm = find_task(r->m, r->ids[i]);

			idle = tm && tm->state == WF_TASK_IDLE && tm->polls == (uint64_t)r->polls[i];
		}
		if (idle)
			break;
		wf_metrics_free(r->m);
		r->m = NULL;
	}
	for (int i = 0; i < RECYCLE_TASKS; i++) {
		wf_cancel(t[i]);
		wf_join(t[i], NULL);
	}
	return NULL;
}

/* The one nonzero bucket of h holds v. */
static void expect_one_sample(struct __test_metadata *_metadata, const struct wf_hist *h,
			      uint64_t v)
{
	for (unsigned b = 0; b < WF_METRICS_HIST_BUCKETS; b++) {
		uint64_t lo, hi;

		if (!h->buckets[b])
			continue;
		ASSERT_EQ(0, wf_hist_bucket_bounds(b, &lo, &hi));
		EXPECT_EQ(1u, h->buckets[b]);
		EXPECT_LE(lo, v);
		EXPECT_LT(v, hi);
	}
	EXPECT_EQ(1u, hist_bucket_sum(h));
}

TEST(recycled_blocks_start_with_clean_histograms)
{
	struct recycle r = { .err = 0 };
	wf_runtime *rt;

	ASSERT_EQ(0, wf_runtime_new(&rt, &(struct wf_runtime_opts){ .flavor = WF_CURRENT_THREAD }));
	ASSERT_EQ(0, wf_block_on(rt, recycle_root, &r, NULL));
	EXPECT_EQ(0, wf_runtime_free(rt));
	ASSERT_EQ(0, r.err);
	ASSERT_NOT_NULL(r.m);
#ifndef CONFIG_WEFT_METRICS
	wf_metrics_free(r.m);
	SKIP("per-task metrics are not built in (CONFIG_WEFT_METRICS=n)");
#endif
	for (int i = 0; i < RECYCLE_TASKS; i++) {
		const struct wf_task_metrics *t = find_task(r.m, r.ids[i]);

		ASSERT_NOT_NULL(t);
		ASSERT_EQ((uint64_t)r.polls[i], t->polls);
		check_task_invariants(_metadata, r.m, t);
		if (t->polls == 1) {
			expect_one_sample(_metadata, &t->poll, t->busy_ns);
			expect_one_sample(_metadata, &t->sched, t->scheduled_ns);
			EXPECT_EQ(t->busy_ns, t->poll.max_ns);
			EXPECT_EQ(t->scheduled_ns, t->sched.max_ns);
		}
		EXPECT_EQ(0u, t->wakes);
	}
	wf_metrics_free(r.m);
}

/* --- worker state and runtime-level figures ------------------------------------------- */

struct self_view {
	uint64_t my_id;
	int my_worker;
	struct wf_metrics *m;
	int err;
};

static void *snapshot_self(void *arg)
{
	struct self_view *v = arg;

	v->my_id = wf_task_id(wf_current());
	v->my_worker = wf_worker_index();
	v->err = wf_metrics_snapshot(wf_runtime_current(), &v->m);
	return NULL;
}

static void check_self(struct __test_metadata *_metadata, struct self_view *v, unsigned nworkers)
{
	const struct wf_worker_metrics *w;

	ASSERT_EQ(0, v->err);
	ASSERT_NOT_NULL(v->m);
	EXPECT_EQ(WF_METRICS_VERSION, v->m->version);
	EXPECT_EQ(nworkers, v->m->nworkers);
	EXPECT_GE(v->m->live_tasks, 1u);
	EXPECT_EQ((uint64_t)CONFIG_WEFT_SLOW_POLL_US * 1000u, v->m->slow_poll_ns);
	ASSERT_GE(v->my_worker, 0);
	ASSERT_LT(v->my_worker, (int)nworkers);
	w = &v->m->workers[v->my_worker];
	EXPECT_EQ((unsigned)v->my_worker, w->index);
	EXPECT_GT(w->tid, 0);
	EXPECT_LE(w->local_queue_depth, 256u);
#ifdef CONFIG_WEFT_TRACE_REGISTRY
	/* The snapshot was taken inside this task's poll. */
	EXPECT_EQ(WF_WORKER_POLLING, w->state);
	EXPECT_EQ(v->my_id, w->current_task_id);
	EXPECT_GT(w->poll_start_ns, 0u);
	EXPECT_LE(w->poll_start_ns, v->m->now_ns);
#else
	EXPECT_EQ(WF_WORKER_UNKNOWN, w->state);
#endif
#ifdef CONFIG_WEFT_METRICS
	{
		const struct wf_task_metrics *t = find_task(v->m, v->my_id);

		ASSERT_NOT_NULL(t);
		EXPECT_EQ(WF_TASK_RUNNING, t->state);
		EXPECT_EQ(WF_TASK_F_ROOT, t->flags & WF_TASK_F_ROOT);
		EXPECT_STREQ("block_on", t->name);
	}
#endif
	wf_metrics_free(v->m);
}

TEST(worker_state_multi_thread)
{
	struct self_view v = { 0 };
	wf_runtime *rt;

	ASSERT_EQ(0, wf_runtime_new(&rt, &(struct wf_runtime_opts){ .workers = 3 }));
	ASSERT_EQ(0, wf_block_on(rt, snapshot_self, &v, NULL));
	EXPECT_EQ(WF_MULTI_THREAD, v.m ? v.m->flavor : -1);
	check_self(_metadata, &v, 3);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

TEST(worker_state_current_thread)
{
	struct self_view v = { 0 };
	wf_runtime *rt;

	ASSERT_EQ(0, wf_runtime_new(&rt, &(struct wf_runtime_opts){ .flavor = WF_CURRENT_THREAD }));
	ASSERT_EQ(0, wf_block_on(rt, snapshot_self, &v, NULL));
	EXPECT_EQ(WF_CURRENT_THREAD, v.m ? v.m->flavor : -1);
	check_self(_metadata, &v, 1);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

TEST(snapshot_from_outside_idle_runtime)
{
	uint64_t deadline = wf_now_ns() + 10 * WF_NSEC_PER_SEC;
	struct wf_metrics *m;
	bool parked = false;
	wf_runtime *rt;

	ASSERT_EQ(0, wf_runtime_new(&rt, &(struct wf_runtime_opts){ .workers = 2 }));
	/* With nothing to do, every worker ends up parked. */
	while (!parked && wf_now_ns() < deadline) {
		ASSERT_EQ(0, wf_metrics_snapshot(rt, &m));
		EXPECT_EQ(0u, m->live_tasks);
		EXPECT_EQ(0u, m->ntasks);
		EXPECT_EQ(0u, m->inject_depth);
		parked = true;
		for (unsigned i = 0; i < m->nworkers; i++) {
			parked &= m->workers[i].state == WF_WORKER_PARKED;
			EXPECT_EQ(0u, m->workers[i].current_task_id);
			EXPECT_EQ(0u, m->workers[i].local_queue_depth);
		}
		wf_metrics_free(m);
		if (!parked)
			usleep(1000);
	}
#ifdef CONFIG_WEFT_TRACE_REGISTRY
	EXPECT_TRUE(parked);
#endif
	EXPECT_EQ(0, wf_runtime_free(rt));
}

/* --- the dumps ------------------------------------------------------------------------- */

/* A name that needs every kind of JSON escape, and a byte that is not UTF-8. */
static const char weird_name[] = "q\"b\\s\n\t\x01\xff\xc3\xa9!";

struct dump_run {
	struct wf_metrics *m;
	uint64_t id;
	int err;
};

static void *park_forever(void *arg)
{
	wf_sleep_ns(60 * WF_NSEC_PER_SEC);
	return arg;
}

static void *dump_root(void *arg)
{
	struct dump_run *d = arg;
	wf_task *t;

	d->err = wf_spawn_named(&t, weird_name, park_forever, NULL);
	if (d->err)
		return NULL;
	d->id = wf_task_id(t);
	wf_sleep_ns(5 * WF_NSEC_PER_MSEC);	/* let it poll once */
	d->err = wf_metrics_snapshot(wf_runtime_current(), &d->m);
	wf_cancel(t);
	wf_join(t, NULL);
	return NULL;
}

/* The dump as a string (open_memstream). */
static char *dump_str(const struct wf_metrics *m, int flags, int *ret)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	*ret = wf_metrics_dump(m, f, flags);
	fclose(f);
	return buf;
}

/* 1 valid, 0 invalid, -1 python3 not available. */
static int python_json_ok(const char *text)
{
	char path[] = "/tmp/weft-metrics-json.XXXXXX";
	char cmd[256];
	int fd = mkstemp(path), st;
	size_t len = strlen(text);

	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	if (system("command -v python3 >/dev/null 2>&1") != 0) {
		unlink(path);
		return -1;
	}
	snprintf(cmd, sizeof(cmd),
		 "python3 -c 'import json,sys; json.load(sys.stdin)' < %s", path);
	st = system(cmd);
	unlink(path);
	return st == 0;
}

TEST(dumps)
{
	struct dump_run d = { 0 };
	wf_runtime *rt;
	char *s;
	size_t where = 0;
	int ret = -1, py;

	ASSERT_EQ(0, wf_runtime_new(&rt, &(struct wf_runtime_opts){ .workers = 2 }));
	ASSERT_EQ(0, wf_block_on(rt, dump_root, &d, NULL));
	EXPECT_EQ(0, wf_runtime_free(rt));
	ASSERT_EQ(0, d.err);
	ASSERT_NOT_NULL(d.m);

	/* Text: the tables, the task's row, and with WF_METRICS_HIST its histograms. */
	s = dump_str(d.m, 0, &ret);
	ASSERT_NOT_NULL(s);
	EXPECT_EQ(0, ret);
	EXPECT_NOT_NULL(strstr(s, "weft metrics: multi-thread runtime, 2 workers"));
	EXPECT_NOT_NULL(strstr(s, "WORKER"));
	EXPECT_NOT_NULL(strstr(s, "total"));
#ifdef CONFIG_WEFT_METRICS
	EXPECT_NOT_NULL(strstr(s, "SPAWNED AT"));
	EXPECT_NOT_NULL(strstr(s, "block_on"));
	EXPECT_NOT_NULL(strstr(s, "metrics.c:"));
#else
	EXPECT_NOT_NULL(strstr(s, "CONFIG_WEFT_METRICS=n"));
#endif
	free(s);
	s = dump_str(d.m, WF_METRICS_HIST, &ret);
	ASSERT_NOT_NULL(s);
	EXPECT_EQ(0, ret);
#ifdef CONFIG_WEFT_METRICS
	EXPECT_NOT_NULL(strstr(s, "poll duration: count"));
	EXPECT_NOT_NULL(strstr(s, "scheduled delay: count"));
#endif
	free(s);
	s = dump_str(d.m, WF_METRICS_NO_TASKS, &ret);
	ASSERT_NOT_NULL(s);
	EXPECT_NULL(strstr(s, "SPAWNED AT"));
	free(s);

	/* JSON, with and without buckets: valid, and the awkward name escaped. */
	for (int flags = WF_METRICS_JSON; flags <= (WF_METRICS_JSON | WF_METRICS_HIST |
						    WF_METRICS_NO_TASKS); flags += 2) {
		s = dump_str(d.m, flags, &ret);
		ASSERT_NOT_NULL(s);
		EXPECT_EQ(0, ret);
		if (!json_valid(s, &where)) {
			TH_LOG("flags %#x: invalid JSON at offset %zu: %.60s", flags, where,
			       s + where);
			FAIL("wf_metrics_dump wrote invalid JSON");
		}
		py = python_json_ok(s);
		if (py >= 0)
			EXPECT_EQ(1, py);
		EXPECT_NOT_NULL(strstr(s, "\"workers\":[{\"index\":0,"));
		if (flags & WF_METRICS_NO_TASKS) {
			EXPECT_NULL(strstr(s, "\"tasks\""));
		} else {
#ifdef CONFIG_WEFT_METRICS
			EXPECT_NOT_NULL(
				strstr(s, "\"name\":\"q\\\"b\\\\s\\n\\t\\u0001\\ufffd\xc3\xa9!\""));
			EXPECT_NOT_NULL(strstr(s, "\"p99_ns\":"));
			if (flags & WF_METRICS_HIST)
				EXPECT_NOT_NULL(strstr(s, "\"buckets\":[{\"lo_ns\":"));
			else
				EXPECT_NULL(strstr(s, "\"buckets\""));
#endif
		}
		free(s);
	}
#ifdef CONFIG_WEFT_METRICS
	{
		const struct wf_task_metrics *t = find_task(d.m, d.id);

		ASSERT_NOT_NULL(t);
		EXPECT_STREQ(weird_name, t->name);
	}
#endif
	wf_metrics_free(d.m);
}

/* The validator itself rejects what it should. */
TEST(json_validator)
{
	EXPECT_TRUE(json_valid("{\"a\":[1,-2.5e3,true,false,null,\"\\u00e9\"]}", NULL));
	EXPECT_TRUE(json_valid(" [] ", NULL));
	EXPECT_FALSE(json_valid("{\"a\":1,}", NULL));
	EXPECT_FALSE(json_valid("{\"a\" 1}", NULL));
	EXPECT_FALSE(json_valid("[01]", NULL));
	EXPECT_FALSE(json_valid("[\"\x01\"]", NULL));
	EXPECT_FALSE(json_valid("[\"\xff\"]", NULL));
	EXPECT_FALSE(json_valid("[\"\\x\"]", NULL));
	EXPECT_FALSE(json_valid("[1] [2]", NULL));
	EXPECT_FALSE(json_valid("", NULL));
}

/* --- snapshots racing with spawns and exits ------------------------------------------- */

struct race {
	wf_runtime *rt;
	_Atomic int stop;
	long snapshots;
	int err;
};

static void *short_task(void *arg)
{
	if ((uintptr_t)arg & 1)
		wf_yield();
	return arg;
}

static void *spawn_storm(void *arg)
{
	struct race *r = arg;
	long n = WTEST_TSAN ? 3000 : 30000;

	for (long i = 0; i < n; i++) {
		wf_task *t;

		if (wf_spawn_named(&t, "short", short_task, (void *)(uintptr_t)i))
			return (void *)1L;
		/* Half detached (freed on exit), half joined (freed by us). */
		if (i & 2)
			wf_detach(t);
		else
			wf_join(t, NULL);
	}
	atomic_store(&r->stop, 1);
	return NULL;
}

static void *snapshotter(void *arg)
{
	struct race *r = arg;

	while (!atomic_load(&r->stop)) {
		struct wf_metrics *m;
		char *buf = NULL;
		size_t len = 0;
		FILE *f;

		r->err = wf_metrics_snapshot(r->rt, &m);
		if (r->err)
			break;
		f = open_memstream(&buf, &len);
		if (f) {
			wf_metrics_dump(m, f, WF_METRICS_JSON | WF_METRICS_HIST);
			fclose(f);
			if (!json_valid(buf, NULL))
				r->err = -EPROTO;
			free(buf);
		}
		for (size_t i = 1; i < m->ntasks; i++)
			if (m->tasks[i - 1].id >= m->tasks[i].id)
				r->err = -EPROTO;
		wf_metrics_free(m);
		r->snapshots++;
		if (r->err)
			break;
	}
	return NULL;
}

TEST_TIMEOUT(snapshot_races_spawn_and_exit, 120)
{
	struct race r = { 0 };
	pthread_t th;
	void *res = NULL;

	ASSERT_EQ(0, wf_runtime_new(&r.rt, &(struct wf_runtime_opts){ .workers = 2 }));
	ASSERT_EQ(0, pthread_create(&th, NULL, snapshotter, &r));
	EXPECT_EQ(0, wf_block_on(r.rt, spawn_storm, &r, &res));
	atomic_store(&r.stop, 1);
	pthread_join(th, NULL);
	EXPECT_EQ(NULL, res);
	EXPECT_EQ(0, r.err);
	EXPECT_GT(r.snapshots, 0);
	TH_LOG("%ld snapshots during the storm", r.snapshots);
	EXPECT_EQ(0, wf_runtime_free(r.rt));
}

TEST_HARNESS_MAIN
