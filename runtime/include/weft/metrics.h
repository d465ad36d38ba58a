/* SPDX-License-Identifier: MIT */
/*
 * weft/metrics.h - the runtime's metrics as a snapshot, and its text and
 * JSON forms. docs/metrics.md defines every figure.
 *
 * Definitions (the same as Tokio's, on polls):
 *   poll            one run of a task, from the moment a worker resumes it
 *                   until it suspends, yields or returns.
 *   busy time       the sum of a task's (or worker's) poll durations.
 *   scheduled delay for one poll, the time from the task becoming runnable
 *                   (spawned, woken, or yielded) to that poll's start.
 *   slow poll       a poll longer than CONFIG_WEFT_SLOW_POLL_US.
 *   wake            a wait of the task ended by someone (a waker, a timer,
 *                   a cancel); a self-wake is one done by the task itself.
 *
 * Freshness: each worker counts into a private batch and publishes it when
 * it parks and at least every CONFIG_WEFT_METRICS_FLUSH_MS while busy, so
 * worker counters in a snapshot may be that much behind (more for a worker
 * stuck inside one long poll). Per-task figures are exact at each poll's end.
 *
 * With CONFIG_WEFT_METRICS=n the per-worker counters are still kept but the
 * per-task part of a snapshot is empty (ntasks == 0, task_metrics == 0).
 */
#ifndef WEFT_METRICS_H
#define WEFT_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <weft/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Layout version of struct wf_metrics; bumped on incompatible changes. */
#define WF_METRICS_VERSION 2u	/* 2: stall compensation fields */

/*
 * Histogram buckets. Log-linear: bucket 0 is [0, 1024 ns); then every power
 * of two from 2^10 ns is split in two equal halves; the last bucket is
 * open-ended (about 8.6 s and up). wf_hist_bucket_bounds() gives the bounds.
 */
#define WF_METRICS_HIST_BUCKETS 48

struct wf_hist {
	uint64_t count;		/* values recorded */
	uint64_t total_ns;	/* their sum */
	uint64_t max_ns;	/* the largest */
	uint64_t buckets[WF_METRICS_HIST_BUCKETS];
};

/* Worker states (the trace registry's, weft/registry.h). */
enum wf_worker_state {
	WF_WORKER_UNKNOWN = -1,	/* built without CONFIG_WEFT_TRACE_REGISTRY */
	WF_WORKER_STARTING = 0,	/* thread not started, or current-thread idle */
	WF_WORKER_POLLING = 1,	/* inside a poll of current_task_id */
	WF_WORKER_SCHEDULING = 2, /* between polls, finding the next task */
	WF_WORKER_SEARCHING = 3, /* out of local work, stealing */
	WF_WORKER_PARKED = 4,	/* asleep, idle */
	WF_WORKER_STOPPED = 5,	/* runtime shut down */
};

struct wf_worker_metrics {
	unsigned index;		/* 0 .. nworkers - 1 */
	int32_t tid;		/* kernel thread id, 0 if not started */
	int state;		/* enum wf_worker_state */
	uint64_t current_task_id; /* task being polled (state POLLING), else 0 */
	uint64_t poll_start_ns;	/* start of that poll (CLOCK_MONOTONIC), else 0 */

	/* Published counters (see "Freshness" above). */
	uint64_t polls;		/* polls run */
	uint64_t busy_ns;	/* time inside polls */
	uint64_t parks;		/* times the worker went to sleep */
	uint64_t steals;	/* tasks taken from other workers */
	uint64_t steal_ops;	/* successful steal operations (each takes >= 1) */
	uint64_t overflows;	/* local queue full: half moved to the inject queue */
	uint64_t next_hits;	/* polls of a task taken from the "next" slot */
	uint64_t forced_yields;	/* yields forced by the cooperative budget */
	uint64_t slow_polls;	/* polls longer than the slow-poll threshold */
	uint64_t inject_polls;	/* tasks taken from the inject queue by the ~61-tick check */
	uint64_t noops;		/* unparked, then parked again without a poll */
	uint64_t stack_waits;	/* first polls put off: no stack could be mapped */

	/* Read live at snapshot time. */
	uint32_t local_queue_depth; /* tasks in the local queue (tail - head) */
	uint32_t next_slot;	/* 1 if the "next" slot holds a task */

	/* Since version 2. */
	uint64_t handoffs;	/* stall compensation: core handed to another thread */
};

/* Task run states. */
enum wf_task_state {
	WF_TASK_IDLE = 0,	/* waiting for something (not runnable) */
	WF_TASK_QUEUED = 1,	/* runnable, in a run queue */
	WF_TASK_RUNNING = 2,	/* inside a poll */
	WF_TASK_NOTIFIED = 3,	/* inside a poll, and woken meanwhile */
	WF_TASK_DONE = 4,	/* returned; its handle is still held */
};

/* wf_task_metrics.flags */
#define WF_TASK_F_PINNED 0x1u	/* spawned with WF_SPAWN_PINNED */
#define WF_TASK_F_ROOT 0x2u	/* root task of wf_block_on() */

struct wf_task_metrics {
	uint64_t id;		/* never reused */
	char name[32];		/* "" when unnamed */
	const char *file;	/* spawn site, points into the snapshot ("" unknown) */
	int line;
	int state;		/* enum wf_task_state */
	unsigned flags;		/* WF_TASK_F_* */
	uint64_t spawn_ns;	/* CLOCK_MONOTONIC at spawn */
	uint64_t first_poll_ns;	/* start of its first poll, 0 before it */

	uint64_t polls;		/* completed polls */
	uint64_t busy_ns;	/* sum of their durations */
	uint64_t slow_polls;	/* polls longer than the slow-poll threshold */
	uint64_t wakes;		/* waits ended by someone (wake-up, timer, cancel) */
	uint64_t self_wakes;	/* of those, wakes done by the task itself */

	/*
	 * Time accounting, as of wf_metrics.now_ns:
	 *   age_ns       = now - spawn_ns
	 *   scheduled_ns = sched.total_ns, time runnable but not yet polled
	 *                  (completed delays only)
	 *   idle_ns      = age_ns - busy_ns - scheduled_ns (never negative):
	 *                  time waiting for something. A poll or a run-queue
	 *                  wait still in progress counts as idle until it ends.
	 */
	uint64_t age_ns;
	uint64_t scheduled_ns;
	uint64_t idle_ns;

	struct wf_hist poll;	/* poll durations; count == polls */
	struct wf_hist sched;	/* scheduled delays; count == polls */
};

struct wf_metrics {
	uint32_t version;	/* WF_METRICS_VERSION */
	int flavor;		/* WF_MULTI_THREAD or WF_CURRENT_THREAD */
	uint64_t now_ns;	/* CLOCK_MONOTONIC when the snapshot was taken */
	uint64_t slow_poll_ns;	/* slow-poll threshold */
	uint64_t flush_ns;	/* worker publish interval while busy */
	int task_metrics;	/* 1 if per-task metrics are built in (CONFIG_WEFT_METRICS) */

	uint64_t live_tasks;	/* tasks spawned and not yet returned */
	uint64_t inject_depth;	/* tasks in the global inject queue */

	unsigned nworkers;
	struct wf_worker_metrics *workers;	/* nworkers entries */

	size_t ntasks;		/* tasks listed: those whose control block exists */
	struct wf_task_metrics *tasks;		/* sorted by id */

	void *strings_;		/* private: storage of the tasks' file names */

	/* Since version 2: the I/O driver (weft/io.h): "io_uring", "epoll"
	 * or "none"; WF_IO_F_* bits. */
	const char *io_driver;
	unsigned io_found;	/* io_uring features the start-up probe found */
	unsigned io_used;	/* those the rings were set up with */

	/* Since version 2: stall compensation (docs/stall.md). */
	int stall_compensation;		/* 1 if on for this runtime */
	uint64_t stall_handoffs_blocked; /* hand-offs of polls blocked off CPU */
	uint64_t stall_handoffs_cpu;	/* ... of polls computing too long */
	uint64_t stall_capped;		/* polls not handed over: spare thread cap */

	/*
	 * Appended within version 2 (older libraries do not fill them): the
	 * stall source in use, "bpf", "proc" or "none" (compensation off);
	 * why the BPF source is not in use: 0 (in use, or not tried), or a
	 * negative errno (-EOPNOTSUPP: not built in; -EPERM: no CAP_BPF; ...);
	 * looks at a long poll the BPF source could not answer (its thread
	 * had no slot) and /proc answered instead.
	 */
	const char *stall_source;
	int stall_bpf_error;
	uint64_t stall_bpf_fallbacks;
};

/*
 * wf_metrics_snapshot - copy the current metrics of @rt into a new snapshot.
 * @out: where the snapshot goes; free it with wf_metrics_free().
 *
 * Callable from any thread, inside a task or not, while @rt exists. Lists
 * every task whose control block is alive (running, waiting, or returned
 * but not yet joined or detached). Each worker's task list is locked while
 * its tasks are copied (about 1 KiB each), which delays spawns on that
 * worker for as long; nothing else is stopped.
 *
 * Returns 0; -EINVAL for NULL @rt or @out; -ENOMEM.
 */
int wf_metrics_snapshot(wf_runtime *rt, struct wf_metrics **out);

/* Free a snapshot; NULL is accepted. */
void wf_metrics_free(struct wf_metrics *m);

/* wf_metrics_dump() flags. */
#define WF_METRICS_JSON 0x1	/* one JSON object instead of the tables */
#define WF_METRICS_HIST 0x2	/* also the histograms' non-empty buckets */
#define WF_METRICS_NO_TASKS 0x4	/* runtime and workers only */

/*
 * wf_metrics_dump - write @m to @f: human-readable tables, or with
 * WF_METRICS_JSON a single JSON object (RFC 8259; docs/metrics.md gives
 * its schema) followed by a newline.
 *
 * Returns 0; -EINVAL for NULL @m or @f or unknown flags; -EIO when
 * writing failed.
 */
int wf_metrics_dump(const struct wf_metrics *m, FILE *f, int flags);

/*
 * wf_hist_percentile - estimate the @q quantile (0.0 .. 1.0; 0.99 is p99)
 * of @h in nanoseconds, interpolating linearly inside the bucket that holds
 * it and clamped to max_ns (q = 1.0 gives max_ns exactly). The error is at
 * most the width of that bucket: half the value or less (under 1024 ns:
 * 1024 ns).
 *
 * Returns the estimate (>= 0); -EINVAL for NULL @h or @q outside [0, 1]
 * (or NaN); -ENODATA for an empty histogram.
 */
int64_t wf_hist_percentile(const struct wf_hist *h, double q);

/*
 * wf_hist_bucket_bounds - bucket @b covers [*lo, *hi) nanoseconds; the last
 * bucket's *hi is UINT64_MAX. Returns 0; -EINVAL for @b out of range or
 * NULL pointers.
 */
int wf_hist_bucket_bounds(unsigned b, uint64_t *lo, uint64_t *hi);

/* "polling", "parked", ...; "unknown" for a value out of range. */
const char *wf_worker_state_name(int state);

/* "idle", "queued", "running", "notified", "done"; "unknown" otherwise. */
const char *wf_task_state_name(int state);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_METRICS_H */
