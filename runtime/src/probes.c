// SPDX-License-Identifier: MIT
/* probes.c - the USDT semaphores (see probes.h). */
#include "internal.h"
#include "probes.h"

#ifdef CONFIG_WEFT_USDT
/* Placed in .probes, where the kernel's uprobe code expects semaphores. */
#define WF_DEFINE_SEMAPHORE(name) \
	__attribute__((section(".probes"), used)) volatile unsigned short \
		weft_##name##_semaphore

WF_DEFINE_SEMAPHORE(task_spawn);
WF_DEFINE_SEMAPHORE(task_exit);
WF_DEFINE_SEMAPHORE(poll_start);
WF_DEFINE_SEMAPHORE(poll_end);
WF_DEFINE_SEMAPHORE(slow_poll);
WF_DEFINE_SEMAPHORE(park);
WF_DEFINE_SEMAPHORE(unpark);
WF_DEFINE_SEMAPHORE(blocking_start);
WF_DEFINE_SEMAPHORE(blocking_end);
WF_DEFINE_SEMAPHORE(stall_handoff);
#endif
