/* SPDX-License-Identifier: MIT */
/*
 * probes.h - USDT probes of the runtime (provider "weft").
 *
 * Each probe has a semaphore: the kernel increments it when a uprobe is
 * attached, so a probe nobody listens to costs one load and a predicted
 * branch. Probe names and arguments are an ABI for weftstat, bpftrace and
 * perf; docs/probes.md lists them.
 *
 *   weft:task_spawn   (u64 id, const char *name, const char *file, int line)
 *   weft:task_exit    (u64 id, u64 polls, u64 busy_ns)
 *   weft:poll_start   (u64 id, int worker, u64 scheduled_delay_ns)
 *   weft:poll_end     (u64 id, int worker, u64 poll_ns)
 *   weft:slow_poll    (u64 id, int worker, u64 poll_ns)  > CONFIG_WEFT_SLOW_POLL_US
 *   weft:park         (int worker)
 *   weft:unpark       (int worker)
 *   weft:stall_handoff (u64 id, int worker, u64 poll_ns, int blocked)
 *                     the monitor handed worker's core away from task id's
 *                     poll (blocked: 1 off CPU, 0 on CPU); docs/stall.md
 */
#ifndef WEFT_PROBES_H
#define WEFT_PROBES_H

#ifdef CONFIG_WEFT_USDT
#define _SDT_HAS_SEMAPHORES 1
#define SDT_USE_VARIADIC 1
#include <sys/sdt.h>

#define WF_PROBE_SEMAPHORE(name) \
	extern volatile unsigned short weft_##name##_semaphore

WF_PROBE_SEMAPHORE(task_spawn);
WF_PROBE_SEMAPHORE(task_exit);
WF_PROBE_SEMAPHORE(poll_start);
WF_PROBE_SEMAPHORE(poll_end);
WF_PROBE_SEMAPHORE(slow_poll);
WF_PROBE_SEMAPHORE(park);
WF_PROBE_SEMAPHORE(unpark);
WF_PROBE_SEMAPHORE(blocking_start);
WF_PROBE_SEMAPHORE(blocking_end);
WF_PROBE_SEMAPHORE(stall_handoff);

#define WF_PROBE_ENABLED(name) unlikely(weft_##name##_semaphore)
#define WF_PROBE(name, ...) \
	do { \
		if (WF_PROBE_ENABLED(name)) \
			STAP_PROBEV(weft, name, ##__VA_ARGS__); \
	} while (0)
#else
#define WF_PROBE_ENABLED(name) 0
#define WF_PROBE(name, ...) \
	do { \
	} while (0)
#endif

#endif /* WEFT_PROBES_H */
