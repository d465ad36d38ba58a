/* SPDX-License-Identifier: MIT */
/*
 * metrics.h - the runtime's always-on metrics: the hooks the scheduler
 * calls, and the structures they fill.
 *
 * Workers count into a private batch (plain fields, no atomics, no shared
 * cache lines) and publish it into `pub` (relaxed atomics that snapshots
 * read) when they park and at least every CONFIG_WEFT_METRICS_FLUSH_MS
 * while busy, as Tokio's MetricsBatch does. Per-task figures live in the
 * task and are written only by the worker running the task's poll; they
 * are relaxed atomics so a snapshot may read them at any time.
 *
 * Histograms are log-linear: WF_HIST_SUB buckets per power of two, from
 * WF_HIST_MIN_NS up, the last bucket open-ended (see wf__hist_bucket()).
 */
#ifndef WEFT_METRICS_INTERNAL_H
#define WEFT_METRICS_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#define WF_HIST_BUCKETS 48

/*
 * A task's figures, laid out by writer: per poll the running worker writes
 * the first line and, from the second poll on, one bucket of each
 * histogram (three lines in all); wakers count in the control block's
 * first line (struct wf_task), which their wake-up writes anyway. The
 * histograms' counts are the poll count (one sample of each per poll) and
 * the poll histogram's total is busy_ns, so neither is stored twice.
 *
 * A task's first poll leaves the histograms alone: with one poll, each
 * histogram is its one sample, busy_ns and sched_total_ns, which readers
 * put in its bucket themselves (metrics_dump.c); the second poll files
 * the first one's samples with its own. So a task polled once (a spawned
 * job, chained spawns, a connection handled in one go) touches its
 * control block's header and one metrics line, never the six bucket
 * lines, and a recycled block clears the hot line only when its task was
 * polled once, all of it otherwise (task.c tcb_put).
 *
 * Zero when a control block is handed out.
 */
struct wf__task_metrics {
	_Atomic uint64_t polls __attribute__((aligned(64)));
	_Atomic uint64_t busy_ns;	/* total of the poll histogram */
	_Atomic uint64_t slow_polls;
	_Atomic uint64_t poll_max_ns;
	_Atomic uint64_t sched_total_ns;
	_Atomic uint64_t sched_max_ns;
	_Atomic uint64_t first_poll_ns;	/* CLOCK_MONOTONIC of the first poll */
	uint64_t unused;
	_Atomic uint32_t poll_b[WF_HIST_BUCKETS];	/* poll duration */
	_Atomic uint32_t sched_b[WF_HIST_BUCKETS];	/* scheduled delay: runnable -> polled */
};

#define WF__TASK_HIST_LINES \
	((2 * WF_HIST_BUCKETS * sizeof(uint32_t) + 63) / 64)

/* One worker's counters; the same layout serves the batch and `pub`. */
#define WF__WORKER_COUNTERS(X) \
	X(polls) X(busy_ns) X(parks) X(steals) X(steal_ops) X(overflows) \
	X(next_hits) X(forced_yields) X(slow_polls) X(noops) X(inject_polls) \
	X(stack_waits)

struct wf__worker_batch {
#define X(n) uint64_t n;
	WF__WORKER_COUNTERS(X)
#undef X
	uint64_t last_flush_ns;
};

struct wf__worker_pub {
#define X(n) _Atomic uint64_t n;
	WF__WORKER_COUNTERS(X)
#undef X
};

#define WF_HIST_MIN_SHIFT 10	/* first bucket: < 1024 ns */
#define WF_HIST_SUB_BITS 1	/* 2 buckets per power of two */

/*
 * Bucket of a duration: [0, 1024 ns) is bucket 0; then each power of two
 * is split in 2^WF_HIST_SUB_BITS equal parts; the last bucket takes all
 * that is larger (about 2^33 ns = 8.6 s and up).
 */
static inline unsigned wf__hist_bucket(uint64_t ns)
{
	unsigned msb, sub, b;

	if (ns < (1ull << WF_HIST_MIN_SHIFT))
		return 0;
	msb = 63u - (unsigned)__builtin_clzll(ns);
	sub = (unsigned)(ns >> (msb - WF_HIST_SUB_BITS)) & ((1u << WF_HIST_SUB_BITS) - 1);
	b = 1 + ((msb - WF_HIST_MIN_SHIFT) << WF_HIST_SUB_BITS) + sub;
	return b < WF_HIST_BUCKETS ? b : WF_HIST_BUCKETS - 1;
}

/* Lower bound (ns) of bucket b. */
static inline uint64_t wf__hist_bucket_lo(unsigned b)
{
	unsigned msb, sub;

	if (b == 0)
		return 0;
	b--;
	msb = (b >> WF_HIST_SUB_BITS) + WF_HIST_MIN_SHIFT;
	sub = b & ((1u << WF_HIST_SUB_BITS) - 1);
	return (1ull << msb) + ((uint64_t)sub << (msb - WF_HIST_SUB_BITS));
}

/* Single writer at a time (the worker running the poll): plain RMW. */
#define WF__ADD(a, v) \
	atomic_store_explicit(&(a), atomic_load_explicit(&(a), memory_order_relaxed) + (v), \
			      memory_order_relaxed)

/* Count one sample of ns in bucket array b. Single writer, as WF__ADD. */
static inline void wf__hist_bump(_Atomic uint32_t *b, uint64_t ns)
{
	unsigned i = wf__hist_bucket(ns);

	atomic_store_explicit(&b[i], atomic_load_explicit(&b[i], memory_order_relaxed) + 1,
			      memory_order_relaxed);
}



#endif /* WEFT_METRICS_INTERNAL_H */
