/* SPDX-License-Identifier: MIT */
/*
 * weft/time.h - clocks, sleeps and intervals.
 *
 * All times are CLOCK_MONOTONIC nanoseconds, the clock bpf_ktime_get_ns()
 * reads, so the runtime's times compare directly with the tracer's.
 * Deadlines are absolute; every suspending call has a *_until variant that
 * returns -ETIMEDOUT when its deadline passes first.
 */
#ifndef WEFT_TIME_H
#define WEFT_TIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WF_NSEC_PER_USEC 1000ull
#define WF_NSEC_PER_MSEC 1000000ull
#define WF_NSEC_PER_SEC 1000000000ull

/* A deadline that never comes. */
#define WF_FOREVER UINT64_MAX

/* CLOCK_MONOTONIC now, in nanoseconds. */
uint64_t wf_now_ns(void);

/*
 * wf_sleep_ns - suspend the calling task for at least @ns nanoseconds.
 * Timers have about 1 us resolution. Returns 0; -ECANCELED when the task
 * is cancelled meanwhile; -EPERM outside a task.
 */
int wf_sleep_ns(uint64_t ns);

/* Suspend until CLOCK_MONOTONIC reaches @deadline_ns. As wf_sleep_ns. */
int wf_sleep_until(uint64_t deadline_ns);

/*
 * An interval ticks every @period_ns; a tick that comes late does not
 * make the next ones come early (missed ticks are skipped, as Tokio's
 * MissedTickBehavior::Skip does).
 */
struct wf_interval {
	uint64_t next;
	uint64_t period;
};

/* Returns 0; -EINVAL for NULL or a zero period. First tick: now + period. */
int wf_interval_init(struct wf_interval *iv, uint64_t period_ns);

/*
 * wf_interval_tick - wait for the next tick. Returns the number of ticks
 * skipped because the caller was late (usually 0); -ECANCELED; -EPERM;
 * -EINVAL for NULL.
 */
int64_t wf_interval_tick(struct wf_interval *iv);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_TIME_H */
