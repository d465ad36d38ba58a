/* SPDX-License-Identifier: MIT */
/*
 * weft/blocking.h - running blocking code without stalling a worker.
 *
 * A task that calls something that blocks its thread (a synchronous DNS
 * lookup, a slow read() on a file, a C library with no async API, a long
 * computation) stops every other task queued on its worker: the "5% CPU"
 * stall. Two ways out:
 *
 *  - wf_spawn_blocking() / wf_run_blocking(): hand the function to the
 *    blocking pool, a set of threads separate from the workers, and
 *    suspend until it is done. The pool grows on demand up to
 *    CONFIG_WEFT_BLOCKING_MAX_THREADS (512), idle threads leave after
 *    CONFIG_WEFT_BLOCKING_KEEPALIVE_MS (10 s), and its queue is bounded
 *    (CONFIG_WEFT_BLOCKING_QUEUE_LIMIT): a full queue makes the caller wait,
 *    or fail with -EAGAIN under WF_BLOCKING_NOWAIT. Never unbounded.
 *
 *  - wf_block_in_place(): run the function right here, on this thread,
 *    after handing this worker's queues to another thread so the other
 *    tasks go on meanwhile (Tokio's block_in_place). Cheaper for a call
 *    that needs the task's stack and data in place.
 */
#ifndef WEFT_BLOCKING_H
#define WEFT_BLOCKING_H

#include <stdint.h>
#include <weft/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wf_blocking wf_blocking;

enum {
	/* Fail with -EAGAIN instead of waiting when the queue is full. */
	WF_BLOCKING_NOWAIT = 1u << 0,
};

/*
 * wf_spawn_blocking - queue @fn(@arg) on the blocking pool of the calling
 * thread's runtime (use wf_spawn_blocking_on() elsewhere).
 * @jp: where the job handle goes, to be given back with wf_blocking_join();
 *      NULL runs it detached.
 * Returns 0; -EINVAL for NULL @fn or unknown flags; -EPERM outside a
 * runtime; -EAGAIN when the queue is full and WF_BLOCKING_NOWAIT is set,
 * or when called from outside a task with a full queue (a thread cannot
 * be suspended); -ECANCELED if the calling task is cancelled while waiting
 * for room; -ESHUTDOWN once the runtime shuts down; -ENOMEM.
 */
int wf_spawn_blocking(wf_blocking **jp, wf_task_fn fn, void *arg, unsigned flags);
int wf_spawn_blocking_on(wf_runtime *rt, wf_blocking **jp, wf_task_fn fn, void *arg,
			 unsigned flags);

/*
 * wf_blocking_join - wait for the job, take its result, free the handle.
 * Suspends a task; blocks a thread. Returns 0 with *@result set;
 * -ESHUTDOWN when a runtime shutdown dropped the job before it started
 * (handle freed); -ECANCELED when the waiting task is cancelled (handle
 * still valid: join again); -EBUSY when another task is joining it;
 * -EINVAL.
 */
int wf_blocking_join(wf_blocking *j, void **result);
/* The same with an absolute CLOCK_MONOTONIC deadline: -ETIMEDOUT (handle valid). */
int wf_blocking_join_until(wf_blocking *j, void **result, uint64_t deadline_ns);

/*
 * wf_run_blocking - spawn on the pool and wait: the usual way. A task
 * cancelled meanwhile still waits for the job (it may use the task's
 * stack), then gets -ECANCELED with *@result set. Other errors: those of
 * wf_spawn_blocking() and -ESHUTDOWN as for wf_blocking_join().
 */
int wf_run_blocking(wf_task_fn fn, void *arg, void **result);

/*
 * wf_block_in_place - run @fn(@arg) on this thread, blocking it, after
 * handing this worker's queues to a spare thread; the task continues on
 * some worker afterwards. Inside @fn the thread is not a worker: weft's
 * suspending calls still work but end the hand-off early.
 * Returns 0 with *@result set; -EPERM outside a task; -EINVAL for NULL
 * @fn; -EOPNOTSUPP in a current-thread runtime or from a pinned task (they
 * cannot move; call @fn directly or use wf_run_blocking()). When no spare
 * thread can be had (CONFIG_WEFT_SPARE_THREADS reached) @fn still runs,
 * without the hand-off.
 */
int wf_block_in_place(wf_task_fn fn, void *arg, void **result);

struct wf_blocking_stats {
	uint64_t threads;	/* pool threads alive */
	uint64_t idle;		/* of which waiting for work */
	uint64_t queued;	/* jobs waiting for a thread */
	uint64_t queue_limit;
	uint64_t max_queued;	/* high-water mark of queued */
	uint64_t completed;	/* jobs run to the end */
	uint64_t rejected;	/* -EAGAIN answers */
	uint64_t waited_for_room;	/* spawns that had to wait for room */
	uint64_t in_place;	/* wf_block_in_place() calls */
	uint64_t handoffs;	/* ... of which handed the worker's queues away */
};

/* Returns 0 with *@st filled; -EINVAL for NULL. */
int wf_blocking_stats(wf_runtime *rt, struct wf_blocking_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_BLOCKING_H */
