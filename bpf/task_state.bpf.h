/* SPDX-License-Identifier: MIT */
/*
 * task_state.bpf.h - the scheduler state a task leaves the CPU with, for
 * the BPF programs on sched_switch (weftstat.bpf.c, stall.bpf.c): the
 * field is __state since Linux 5.14 and state before; CO-RE picks the one
 * the running kernel has. Include after vmlinux.h and bpf_core_read.h.
 */
#ifndef WEFT_TASK_STATE_BPF_H
#define WEFT_TASK_STATE_BPF_H

struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___old *)t, state);
}

#endif /* WEFT_TASK_STATE_BPF_H */
