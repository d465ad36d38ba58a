// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * stall.bpf.c - the kernel side of libweft's BPF stall source
 * (runtime/src/stall_bpf.c, docs/stall.md): for each thread of this
 * process that libweft registered (workers and spares), whether it is on
 * a CPU, asleep or waiting for a CPU, since when, and how long it has
 * slept in total, in a memory-mapped array the runtime's monitor reads
 * with plain loads.
 *
 * Filters, cheapest first: the process (targ_tgid, a read-only global set
 * before load, so the test is a compare with a constant), then the thread
 * (the tids map: TID -> slot index, written by the runtime when a thread
 * starts and removed when it exits). Nothing else is looked at.
 *
 * Events of one thread (its slot's transitions):
 *   sched_switch, leaving:  -> SLEEP (left voluntarily in a sleeping
 *                              state) or RUNNABLE (preempted, or yielded
 *                              with TASK_RUNNING)
 *   sched_wakeup:      SLEEP -> RUNNABLE (the sleep is over; what follows
 *                              is a wait for a CPU, not a block)
 *   sched_switch, arriving: -> ON
 * Each one stamps `since`; leaving SLEEP adds the sleep to sleep_ns. The
 * slot's sequence count (stall.h) brackets every write.
 *
 * Two flavours: tp_btf (typed arguments, the cheaper attach) and raw_tp,
 * which the loader enables when the kernel refuses tp_btf.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "task_state.bpf.h"

#include "stall.h"

#define TASK_RUNNING_ 0

const volatile __u32 targ_tgid = 0;
/* sched_switch passes prev_state (5.18+); the loader reads the kernel's BTF. */
const volatile bool has_prev_state = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WF_STALL_SLOTS);
	__type(key, __u32);	/* TID */
	__type(value, __u32);	/* slot index */
} tids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, WF_STALL_SLOTS);
	__type(key, __u32);
	__type(value, struct wf_stall_slot);
} slots SEC(".maps");

static __always_inline struct wf_stall_slot *slot_of(__u32 tid)
{
	__u32 *idx = bpf_map_lookup_elem(&tids, &tid);

	return idx ? bpf_map_lookup_elem(&slots, idx) : NULL;
}

/*
 * Open and close a write. Only the BPF_FETCH forms of the atomic add are
 * fully ordered on every JIT (arm64 needs the barriers; x86 orders plain
 * stores anyway), and clang emits them only for a result that is used:
 * set_state() stores the two results in the slot's `fetched` field, which
 * no reader looks at.
 */
static __always_inline __u32 write_begin(struct wf_stall_slot *s)
{
	return __sync_fetch_and_add(&s->seq, 1);
}

static __always_inline __u32 write_end(struct wf_stall_slot *s)
{
	return __sync_fetch_and_add(&s->seq, 1);
}

static __always_inline void set_state(struct wf_stall_slot *s, __u32 state, __u64 now)
{
	__u32 g = write_begin(s);

	if (s->state == WF_STALL_S_SLEEP && now > s->since)
		s->sleep_ns += now - s->since;
	s->state = state;
	s->since = now;
	s->events++;
	s->fetched = g + write_end(s);
}

static __always_inline void on_switch(bool preempt, struct task_struct *next, long prev_state)
{
	__u64 id = bpf_get_current_pid_tgid();	/* current is still prev here */
	struct wf_stall_slot *s;
	__u64 now = 0;

	if ((__u32)(id >> 32) == targ_tgid && (s = slot_of((__u32)id))) {
		now = bpf_ktime_get_ns();
		set_state(s, preempt || prev_state == TASK_RUNNING_ ? WF_STALL_S_RUNNABLE
								     : WF_STALL_S_SLEEP, now);
	}
	if ((__u32)BPF_CORE_READ(next, tgid) != targ_tgid)
		return;
	s = slot_of((__u32)BPF_CORE_READ(next, pid));
	if (s)
		set_state(s, WF_STALL_S_ON, now ? now : bpf_ktime_get_ns());
}

static __always_inline void on_wakeup(struct task_struct *p)
{
	struct wf_stall_slot *s;

	if ((__u32)BPF_CORE_READ(p, tgid) != targ_tgid)
		return;
	s = slot_of((__u32)BPF_CORE_READ(p, pid));
	/* A wake-up of a thread that is not asleep (on a CPU, queued) changes nothing. */
	if (s && s->state == WF_STALL_S_SLEEP)
		set_state(s, WF_STALL_S_RUNNABLE, bpf_ktime_get_ns());
}

SEC("tp_btf/sched_switch")
int BPF_PROG(wf_stall_switch_btf, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	/* ctx[3] is read only when the loader saw a fourth argument. */
	long st = has_prev_state ? (long)(unsigned int)ctx[3] : task_state(prev);

	on_switch(preempt, next, st);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(wf_stall_wakeup_btf, struct task_struct *p)
{
	on_wakeup(p);
	return 0;
}

SEC("raw_tp/sched_switch")
int BPF_PROG(wf_stall_switch_raw, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	on_switch(preempt, next, task_state(prev));
	return 0;
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(wf_stall_wakeup_raw, struct task_struct *p)
{
	on_wakeup(p);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
