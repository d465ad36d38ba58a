// SPDX-License-Identifier: MIT
/*
 * metrics.c - recording (the hooks the scheduler calls per poll). The
 * snapshot API and its text and JSON forms are in metrics_dump.c.
 */
#include "internal.h"
#include "probes.h"

/* Worker counters are kept even with CONFIG_WEFT_METRICS=n (no flush option then). */
#ifdef CONFIG_WEFT_METRICS_FLUSH_MS
#define FLUSH_NS ((uint64_t)CONFIG_WEFT_METRICS_FLUSH_MS * 1000000ull)
#else
#define FLUSH_NS (5ull * 1000000ull)
#endif
#define SLOW_NS ((uint64_t)CONFIG_WEFT_SLOW_POLL_US * 1000ull)

/* Publish the worker's batch (owner only). */
void wf__metrics_flush(struct wf__worker *w, uint64_t now)
{
#define X(n) atomic_store_explicit(&w->mpub.n, w->mb.n, memory_order_relaxed);
	WF__WORKER_COUNTERS(X)
#undef X
	w->mb.last_flush_ns = now;
}

/*
 * The task's part of one poll of t from start to end: written by the thread
 * that ran the poll, the task's only writer until it is queued again.
 */
static inline void task_poll(struct wf_task *t, uint64_t start, uint64_t end, bool slow)
{
#ifdef CONFIG_WEFT_METRICS
	struct wf__task_metrics *m = &t->m;
	uint64_t d = end - start;
	uint64_t sd = start > t->sched_at ? start - t->sched_at : 0;
	uint64_t polls = atomic_load_explicit(&m->polls, memory_order_relaxed);

	if (!polls) {
		/* The histograms are these two figures (metrics.h). */
		atomic_store_explicit(&m->first_poll_ns, start, memory_order_relaxed);
		atomic_store_explicit(&m->busy_ns, d, memory_order_relaxed);
		if (slow)
			atomic_store_explicit(&m->slow_polls, 1, memory_order_relaxed);
		atomic_store_explicit(&m->poll_max_ns, d, memory_order_relaxed);
		atomic_store_explicit(&m->sched_total_ns, sd, memory_order_relaxed);
		atomic_store_explicit(&m->sched_max_ns, sd, memory_order_relaxed);
		atomic_store_explicit(&m->polls, 1, memory_order_relaxed);
		return;
	}
	if (polls == 1) {
		/* File the first poll's samples, kept as the totals. */
		wf__hist_bump(m->poll_b, atomic_load_explicit(&m->busy_ns, memory_order_relaxed));
		wf__hist_bump(m->sched_b,
			      atomic_load_explicit(&m->sched_total_ns, memory_order_relaxed));
	}
	atomic_store_explicit(&m->polls, polls + 1, memory_order_relaxed);
	WF__ADD(m->busy_ns, d);
	if (slow)
		WF__ADD(m->slow_polls, 1);
	if (d > atomic_load_explicit(&m->poll_max_ns, memory_order_relaxed))
		atomic_store_explicit(&m->poll_max_ns, d, memory_order_relaxed);
	WF__ADD(m->sched_total_ns, sd);
	if (sd > atomic_load_explicit(&m->sched_max_ns, memory_order_relaxed))
		atomic_store_explicit(&m->sched_max_ns, sd, memory_order_relaxed);
	wf__hist_bump(m->poll_b, d);
	wf__hist_bump(m->sched_b, sd);
#else
	(void)t;
	(void)start;
	(void)end;
	(void)slow;
#endif
}

/* One poll of t on w ran from start to end (ns). */
void wf__metrics_poll(struct wf__worker *w, struct wf_task *t, uint64_t start, uint64_t end)
{
	uint64_t d = end - start;
	bool slow = d > SLOW_NS;

	w->mb.polls++;
	w->mb.busy_ns += d;
	if (slow) {
		w->mb.slow_polls++;
		WF_PROBE(slow_poll, t->reg.id, w->index, d);
	}
	task_poll(t, start, end, slow);
	if (end - w->mb.last_flush_ns >= FLUSH_NS)
		wf__metrics_flush(w, end);
}

/*
 * A poll of t that started on the worker with index @worker, from start to
 * end, whose thread lost the core meanwhile (stall compensation,
 * block_in_place): the task's figures and the probes, not the core's
 * counters, which its new driver owns. Such polls are the long ones the
 * monitor acted on: without this they were missing from the task's slow
 * polls and histograms.
 */
void wf__metrics_orphan_poll(struct wf_task *t, int worker, uint64_t start, uint64_t end)
{
	uint64_t d = end - start;
	bool slow = d > SLOW_NS;

	if (slow)
		WF_PROBE(slow_poll, t->reg.id, worker, d);
	task_poll(t, start, end, slow);
	(void)worker;
}
