/* SPDX-License-Identifier: MIT */
/*
 * stall.h - the types the BPF stall source's program (stall.bpf.c) and
 * libweft's side of it (runtime/src/stall_bpf.c) share. Fixed-size
 * fields only: the same bytes are read on both sides, through a
 * memory-mapped array map.
 */
#ifndef WEFT_BPF_STALL_H
#define WEFT_BPF_STALL_H

/* Threads one process can have tracked at once (slots of the array map). */
#define WF_STALL_SLOTS 1024

/* What a thread was doing at its last scheduler event. */
enum wf_stall_state {
	WF_STALL_S_ON = 0,	/* running on a CPU */
	WF_STALL_S_SLEEP = 1,	/* switched out asleep (a syscall, a futex, a fault) */
	WF_STALL_S_RUNNABLE = 2, /* preempted or woken: waiting for a CPU */
};

/*
 * One thread's slot. 64 bytes, one cache line: the slots of two threads
 * are written by the CPUs they run on and must not share a line.
 *
 * seq is a sequence count: the program makes it odd (atomic add, fully
 * ordered) before it writes state, since and sleep_ns, and even again
 * (atomic add) after. A reader loads seq and then the fields with acquire
 * loads, then seq again, and keeps the fields only if both seq loads are
 * the same even value. Events of one thread are serialised by
 * the scheduler (its switch-out completes before any wake-up or switch-in
 * of it), so each slot has one writer at a time.
 *
 * tid is written by user space when the slot is given to a thread, before
 * the thread's TID goes into the tids map; the program never writes it.
 */
struct wf_stall_slot {
	__u32 seq;
	__u32 tid;
	__u32 state;		/* enum wf_stall_state */
	__u32 fetched;		/* program-private, readers ignore it (stall.bpf.c) */
	__u64 since;		/* bpf_ktime_get_ns() of the last event (CLOCK_MONOTONIC) */
	__u64 sleep_ns;		/* asleep in total, closed episodes only */
	__u64 events;		/* scheduler events seen (switches and wake-ups) */
	__u64 pad1[3];
};

#endif /* WEFT_BPF_STALL_H */
