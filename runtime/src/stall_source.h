/* SPDX-License-Identifier: MIT */
/*
 * stall_source.h - stall sources: how the monitor (monitor.c) asks whether the
 * thread of a long poll is off CPU. Two exist: /proc (monitor.c, always)
 * and BPF (stall_bpf.c, with CONFIG_WEFT_STALL_BPF on a native build,
 * which defines WF_STALL_BPF for the files that include this header).
 * docs/stall.md describes both.
 */
#ifndef WEFT_STALL_SOURCE_H
#define WEFT_STALL_SOURCE_H

#include "internal.h"

/*
 * STALL_WAITING: the thread neither ran nor slept on its own account: it
 * was runnable and the CPU went to other threads (an overloaded machine),
 * or it was stopped (a debugger). A spare thread would wait for a CPU
 * just the same, so such a poll is not handed off, however long it is.
 */
enum { STALL_UNKNOWN = 0, STALL_BLOCKED = 1, STALL_ONCPU = 2, STALL_WAITING = 3 };

/*
 * What a source remembers of one worker's current long poll. Private to
 * the monitor thread; the monitor zeroes it and sets seq when the poll it
 * looks at changes.
 */
struct stall_look {
	uint64_t seq;		/* the poll these belong to */
	/* /proc: the last look, and the poll's first */
	uint64_t at_ns;		/* when */
	uint64_t run_ns;	/* the thread's CPU time then */
	uint64_t first_at_ns;
	uint64_t first_run_ns;
	/* BPF: the first look at this poll (CLOCK_MONOTONIC) */
	uint64_t ref_ns;
	uint64_t ref_sleep_ns;	/* the thread's total sleep then */
	uint64_t again_ns;	/* a source's wish: look again this much later (0: none) */
	bool fell_back;		/* the BPF source had no data: /proc answered */
	uint64_t retry_ns;	/* the monitor's: hand-off retry while a spare starts */
	uint64_t wait_ns;	/* the monitor's: next look while it waits for a CPU */
	int cls;		/* last classification */
};

/* The poll a source is asked about. */
struct stall_query {
	pid_t tid;		/* the thread driving the core */
	int slot;		/* its BPF slot, -1 for none */
	uint64_t seq;		/* the poll */
	uint64_t start_ns;	/* its start (wf__now) */
	uint64_t now_ns;	/* the look (wf__now) */
	uint64_t blocked_ns;	/* the off-CPU threshold */
};

/*
 * A stall source classifies the thread that runs poll q->seq of a worker:
 * STALL_BLOCKED (off CPU), STALL_ONCPU, STALL_WAITING (runnable, not
 * running: starved of CPU), or STALL_UNKNOWN (not enough looks yet, or the
 * thread is gone). @look is its memory for this poll. Only BLOCKED and
 * ONCPU polls are handed off.
 */
struct stall_source {
	const char *name;
	bool one_look;		/* decides at one look: asked once a poll is old enough */
	int (*classify)(struct stall_look *look, const struct stall_query *q);
};

extern const struct stall_source wf__stall_proc;

#ifdef WF_STALL_BPF
extern const struct stall_source wf__stall_bpf;

int wf__stall_bpf_get(const char **flavour);
void wf__stall_bpf_put(void);
int wf__stall_bpf_thread_start(pid_t tid);
void wf__stall_bpf_thread_stop(int slot, pid_t tid);
#else
static inline int wf__stall_bpf_get(const char **flavour)
{
	(void)flavour;
	return -EOPNOTSUPP;
}
static inline void wf__stall_bpf_put(void) {}
static inline int wf__stall_bpf_thread_start(pid_t tid)
{
	(void)tid;
	return -1;
}
static inline void wf__stall_bpf_thread_stop(int slot, pid_t tid) {}
#endif

#endif /* WEFT_STALL_SOURCE_H */
