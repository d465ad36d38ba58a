/* SPDX-License-Identifier: MIT */
/*
 * stall_util.h - what the stall compensation tests (stall.c, stall_bpf.c)
 * share: a CPU spin, metrics snapshots and hand-off counts, and a "stuck poll next to a ticker" workload: a task
 * sleeping 1 ms in a loop keeps runnable work behind the stuck poll, so
 * the monitor has a reason to hand its core over.
 */
#ifndef WEFT_TESTS_STALL_UTIL_H
#define WEFT_TESTS_STALL_UTIL_H

#include <stdatomic.h>
#include <stdint.h>
#include <weft.h>

#define MS WF_NSEC_PER_MSEC

static inline void spin_ns(uint64_t ns)
{
	uint64_t end = wf_now_ns() + ns;

	while (wf_now_ns() < end)
		;
}

static _Atomic int bg_stop;

static void *bg_ticker(void *arg)
{
	(void)arg;
	while (!atomic_load(&bg_stop))
		if (wf_sleep_ns(1 * MS))
			break;
	return NULL;
}

/* A metrics snapshot of rt, or NULL. */
static inline struct wf_metrics *snap(wf_runtime *rt)
{
	struct wf_metrics *m = NULL;

	if (wf_metrics_snapshot(rt, &m))
		return NULL;
	return m;
}

/* Hand-offs of every core by the monitor. */
static inline uint64_t handoffs(const struct wf_metrics *m)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < m->nworkers; i++)
		n += m->workers[i].handoffs;
	return n;
}

struct cls_case {
	wf_task_fn fn;
	void *arg;
};

/* Root: a ticker, then c->fn as the task "stuck"; returns what it returned. */
static void *cls_root(void *arg)
{
	struct cls_case *c = arg;
	wf_task *bg, *t;
	void *res;

	atomic_store(&bg_stop, 0);
	if (wf_spawn(&bg, bg_ticker, NULL))
		return (void *)1L;
	wf_sleep_ns(10 * MS);
	if (wf_spawn_named(&t, "stuck", c->fn, c->arg))
		return (void *)2L;
	wf_join(t, &res);
	wf_sleep_ns(5 * MS);
	atomic_store(&bg_stop, 1);
	wf_join(bg, NULL);
	return res;
}

#endif /* WEFT_TESTS_STALL_UTIL_H */
