/* SPDX-License-Identifier: MIT */
/*
 * weft/runtime.h - creating, running and shutting down a runtime.
 *
 * Error convention for the whole library: functions return 0 (or a
 * non-negative count) on success and a negative errno value on failure.
 * No function sets errno. A function that can suspend the calling task
 * returns -EPERM when called from a thread that is not running a weft
 * task, and -ECANCELED once the task has been cancelled.
 */
#ifndef WEFT_RUNTIME_H
#define WEFT_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wf_runtime wf_runtime;

/* Runtime flavours. */
enum wf_flavor {
	/* Several worker threads, work stealing (the default). */
	WF_MULTI_THREAD = 0,
	/*
	 * One worker: the thread that calls wf_block_on(). No other thread
	 * runs tasks; tasks make progress only inside wf_block_on().
	 */
	WF_CURRENT_THREAD = 1,
};

struct wf_runtime_opts {
	/* WF_MULTI_THREAD or WF_CURRENT_THREAD. */
	int flavor;
	/* Worker threads; 0 means one per CPU the process may run on. */
	unsigned workers;
	/* Default task stack size in bytes; 0 means CONFIG_WEFT_STACK_SIZE. */
	size_t stack_size;
	/*
	 * Prefix of worker thread names; workers are named PREFIX-N
	 * (truncated to 15 bytes). NULL means "weft-worker".
	 */
	const char *thread_name;
	/* Operations per poll before a forced yield; 0: CONFIG_WEFT_BUDGET. */
	unsigned budget;
	/* Blocking pool: max threads (0: CONFIG_WEFT_BLOCKING_MAX_THREADS). */
	unsigned blocking_threads;
	/* Blocking pool: queued jobs limit (0: CONFIG_WEFT_BLOCKING_QUEUE_LIMIT). */
	unsigned blocking_queue;
	/* Blocking pool: idle keep-alive in ms (0: CONFIG_WEFT_BLOCKING_KEEPALIVE_MS). */
	unsigned blocking_keepalive_ms;
	/*
	 * Stall compensation (docs/stall.md): WF_STALL_DEFAULT (0) follows
	 * CONFIG_WEFT_STALL_COMPENSATION for a multi-thread runtime and is
	 * off for a current-thread one; WF_STALL_ON, WF_STALL_OFF. It took
	 * the first 8 bytes of what was reserved[4] with spare_threads, so
	 * the layout and the meaning of a zeroed struct are unchanged.
	 */
	int stall_compensation;
	/*
	 * Most threads beyond the workers, shared by wf_block_in_place()
	 * and stall compensation (1..4096); 0: CONFIG_WEFT_SPARE_THREADS.
	 */
	unsigned spare_threads;
	/*
	 * How stall compensation tells a blocked poll from a computing one
	 * (docs/stall.md): WF_STALL_SOURCE_DEFAULT (0) follows the
	 * environment variable WEFT_STALL_SOURCE (bpf, proc or auto), else
	 * auto; WF_STALL_SOURCE_AUTO, _PROC, _BPF. It and reserved_int took
	 * what was reserved[0]: the layout and the meaning of a zeroed
	 * struct are unchanged.
	 */
	int stall_source;
	/* Reserved, must be zero. */
	int reserved_int;
	uint64_t reserved[2];
};

/* Values of wf_runtime_opts.stall_compensation. */
enum wf_stall_mode {
	WF_STALL_DEFAULT = 0,
	WF_STALL_ON = 1,	/* -EINVAL with WF_CURRENT_THREAD */
	WF_STALL_OFF = 2,
};

/*
 * Values of wf_runtime_opts.stall_source. AUTO and BPF use the BPF stall
 * source where libweft has it (CONFIG_WEFT_STALL_BPF) and the kernel lets
 * the process load it, else /proc; PROC never tries BPF. Which one a
 * runtime uses is in its metrics (wf_metrics.stall_source).
 */
enum wf_stall_source {
	WF_STALL_SOURCE_DEFAULT = 0,
	WF_STALL_SOURCE_AUTO = 1,
	WF_STALL_SOURCE_PROC = 2,
	WF_STALL_SOURCE_BPF = 3,
};

/*
 * wf_runtime_new - create a runtime and start its worker threads.
 * @rtp:  where the new runtime is stored on success.
 * @opts: options, or NULL for the defaults.
 *
 * Returns 0 on success; -EINVAL for a bad option (unknown flavour,
 * more than 1024 workers, a stack smaller than 16 KiB, an unknown
 * stall_compensation or WF_STALL_ON with WF_CURRENT_THREAD, an unknown
 * stall_source or WEFT_STALL_SOURCE value, non-zero reserved fields, NULL
 * @rtp); -ENOMEM; -EAGAIN when a thread cannot be created.
 */
int wf_runtime_new(wf_runtime **rtp, const struct wf_runtime_opts *opts);

/* Entry point of a task: receives its argument, returns its result. */
typedef void *(*wf_task_fn)(void *arg);

/*
 * wf_block_on - run @fn(@arg) as the runtime's root task and wait for it.
 * @result: where the root task's return value goes (may be NULL).
 *
 * The calling thread must not be a worker of any runtime. With
 * WF_CURRENT_THREAD the caller becomes the worker until the root task
 * returns. Other tasks keep running after it returns (multi-thread).
 *
 * Returns 0 when the root task returned; -ECANCELED when it was
 * cancelled before it could; -EINVAL for NULL @rt or @fn; -EDEADLK when
 * called from a worker thread; -ESHUTDOWN after wf_runtime_shutdown().
 */
int wf_block_on(wf_runtime *rt, wf_task_fn fn, void *arg, void **result);

/*
 * wf_runtime_shutdown - stop accepting new tasks, cancel every live task
 * and wait for them to finish, then stop the workers.
 *
 * Cancelled tasks see -ECANCELED from their current or next suspending
 * call and are expected to return. Waits at most @timeout_ns for them
 * (0: forever). Returns 0; -ETIMEDOUT when tasks were still alive at the
 * deadline (the runtime then keeps them and their memory); -EINVAL for
 * NULL; -EDEADLK from inside a task of this runtime.
 */
int wf_runtime_shutdown(wf_runtime *rt, uint64_t timeout_ns);

/*
 * wf_runtime_free - shut down (waiting forever) if not already done,
 * join every thread and free everything. NULL is accepted and ignored.
 * Returns 0, or the error of the implied wf_runtime_shutdown().
 * Threads outside the runtime must have returned from every call that can
 * wake one of its tasks (wf_notify_one(), wf_chan_try_send(), ...) before
 * it is freed: such a call may still be waking a worker after the task it
 * woke has run to completion.
 */
int wf_runtime_free(wf_runtime *rt);

/* Number of worker threads of @rt (0 for NULL). */
unsigned wf_runtime_workers(const wf_runtime *rt);

/*
 * wf_main - convenience: create a runtime with default options, block on
 * @fn(@arg), shut down and free it. Returns what wf_runtime_new or
 * wf_block_on returned; the root task's result goes to @result.
 */
int wf_main(wf_task_fn fn, void *arg, void **result);

/* The runtime of the calling task or worker thread, or NULL. */
wf_runtime *wf_runtime_current(void);

/*
 * Index of the worker thread running the calling task (0..workers-1),
 * or -EPERM outside a task. A task can move between workers at every
 * suspension unless it was spawned pinned.
 */
int wf_worker_index(void);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_RUNTIME_H */
