/* SPDX-License-Identifier: MIT */
/*
 * weftstat.h - the types weftstat's BPF programs (weftstat.bpf.c) and its
 * loader (tools/weftstat/weftstat.c) share. Fixed-size fields only: the
 * same bytes are read on both sides.
 */
#ifndef WEFT_BPF_WEFTSTAT_H
#define WEFT_BPF_WEFTSTAT_H

#define WS_MAX_WORKERS 4096	/* worker threads traced */
#define WS_HIST_SLOTS 32	/* log2 histogram buckets, in microseconds */
#define WS_STACK_DEPTH 64	/* frames per stack in the stack map */
#define WS_MAX_STACKS 4096	/* distinct stacks kept */
#define WS_SP_WORDS 64		/* user stack words copied at a blocking switch-out */
#define WS_RINGBUF_BYTES (1 << 20)
#define WS_MAX_LOCKS 4096	/* distinct (futex word, call stack) pairs */
#define WS_MAX_TASKS 16384	/* tasks followed through the USDT probes (LRU) */

/* Why a worker is off its CPU. */
enum ws_off_kind {
	WS_OFF_NONE = 0,	/* on CPU, or not seen leaving it */
	WS_OFF_SLEEP = 1,	/* left voluntarily (blocked in the kernel) */
	WS_OFF_PREEMPT = 2,	/* preempted while runnable */
};

/* Counters of what the programs could not record (the counters map). */
enum ws_counter {
	WS_CNT_RINGBUF_FULL = 0,	/* bpf_ringbuf_reserve() failed: episode lost */
	WS_CNT_USTACK_FAIL,		/* bpf_get_stackid(user) failed (map full, no stack) */
	WS_CNT_KSTACK_FAIL,		/* bpf_get_stackid(kernel) failed */
	WS_CNT_SLOT_READ_FAIL,		/* the registry slot could not be read */
	WS_CNT_SLOT_UNSTABLE,		/* the slot was being written (odd seq) */
	WS_CNT_SP_READ_FAIL,		/* the user stack words could not be read */
	WS_CNT_LOCKS_FULL,		/* the locks map was full: a futex wait not attributed */
	WS_CNT_NR,
};

/* Futex syscall numbers: futex, futex_waitv and futex_wait (6.7). */
#define WS_NR_FUTEX_WAITV 449
#define WS_NR_FUTEX_WAIT 455

/*
 * One entry per worker thread, keyed by TID, created by the loader (so the
 * kernel side never allocates: the map cannot fill up under it) and
 * updated by the programs. The loader reads it back at the end.
 */
struct ws_worker {
	/* set by the loader */
	__u64 slot_addr;	/* address of the worker's struct wf_reg_worker */
	__u64 park_futex_addr;	/* the runtime's own idle futex */

	/* the current on/off-CPU episode */
	__u64 on_ts;		/* last switch-in */
	__u64 off_ts;		/* last switch-out (0: on CPU or never seen) */
	__u64 wake_ts;		/* runnable again since (wakeup or preemption; without
				 * the wakeup programs, preemption only) */
	__u64 run_delay0;	/* its sched_info.run_delay then (runq_from_sched_info) */
	__u32 off_kind;		/* enum ws_off_kind */
	__u32 in_poll;		/* switched out inside a poll */
	__u64 task_id;		/* the task polled then */
	__u64 task_addr;	/* its struct wf_reg_task */
	__u64 poll_start_ns;
	__s32 ustack_id, kstack_id;
	__s64 off_sys_nr;	/* syscall in progress at the switch-out, -1 none */
	__u64 off_futex_addr;	/* its futex word, for futex waits */
	__u64 sp_words[WS_SP_WORDS]; /* top of the user stack at the switch-out */
	__u32 nsp_words;
	/*
	 * Set by the loader: a thread of another runtime, selected by name
	 * (weftstat --threads). It has no registry slot, so no poll to be
	 * inside: its tracked episodes (in_poll, poll_block_ns, the events)
	 * are sleeps in a blocking syscall instead, anything but a futex wait
	 * or an event wait (epoll_wait, poll, select, io_uring_enter, ...).
	 */
	__u32 foreign;

	/*
	 * The syscall in progress (raw_tp: from sys_enter to sys_exit; tp_btf:
	 * the one of the last sleep, from the registers at the switch-out)
	 */
	__s64 sys_nr;		/* -1 when none */
	__u64 sys_ts;
	__u64 futex_addr;	/* futex word of a futex wait in progress */
	__u32 futex_wait;	/* the syscall is a futex wait */
	__u32 futex_idle;	/* ... idle: on the park futex, or by a thread not
				 * driving its worker slot then */
	/*
	 * tp_btf: the runtime's parking, learnt from sleeps while the slot
	 * said PARKED: syscall (0: none known) and first argument
	 */
	__s64 park_nr;
	__u64 park_arg0;
	__u32 park_hits;	/* sleeps that matched it (one in 64 re-reads the slot) */
	__s32 lock_ustack_id;	/* tp_btf: the locks key of the wait in progress */
	__u32 lock_pending;	/* ... which has a locks entry to add to */

	/* totals over the trace */
	__u64 oncpu_ns;
	__u64 sleep_ns;		/* off CPU, not runnable */
	__u64 runq_ns;		/* runnable, waiting for a CPU (wakeup or preemption) */
	__u64 poll_block_ns;	/* off CPU (sleep + run queue) inside a poll */
	__u64 futex_user_ns;	/* futex waits on other words than the park futex */
	__u64 futex_park_ns;	/* futex waits on the park futex, or while not driving
				 * the worker slot (a stall-compensation spare): idle */
	__u64 nswitch_vol;	/* voluntary switch-outs */
	__u64 nswitch_invol;	/* involuntary (preempted) switch-outs */
	__u64 nwakeups;
	__u64 npoll_block;	/* blocking episodes inside polls */
	__u64 nfutex_user;
	__u64 runq_hist[WS_HIST_SLOTS];
	__u64 block_hist[WS_HIST_SLOTS];
	__u64 futex_hist[WS_HIST_SLOTS];
};

/*
 * A traced thread now driving another worker slot than its entry's (stall
 * compensation's spares move between slots), keyed by TID: written by the
 * loader, followed by the programs when the slot they read is not the
 * thread's.
 */
struct ws_slot_move {
	__u64 slot_addr;
	__u64 park_futex_addr;
};

/* Futex waits on user locks, by futex word and user call stack. */
struct ws_lock_key {
	__u64 uaddr;		/* the futex word, 0 for futex_waitv */
	__s32 ustack_id;	/* the waiter's user stack, -1 when not taken */
	__u32 pad;
};

#define WS_LOCK_SP_WORDS 32	/* user stack words kept per lock entry */

struct ws_lock_val {
	__u64 wait_ns;
	__u64 count;
	__u64 max_ns;
	__u32 nsp_words;	/* of the entry's first wait */
	__u32 pad;
	__u64 sp_words[WS_LOCK_SP_WORDS];
};

/*
 * One task, from the USDT probes weft:poll_start and weft:poll_end (top's
 * task view), keyed by task id. Cumulative since the programs attached.
 */
struct ws_task {
	__u64 task_addr;	/* its struct wf_reg_task, from the worker's slot, 0 unknown */
	__u64 polls;
	__u64 busy_ns;		/* sum of poll durations */
	__u64 delay_ns;		/* sum of scheduled delays (runnable to poll start) */
	__u64 max_delay_ns;
	__u64 slow_polls;	/* polls longer than the registry's slow_poll_ns */
	__u64 max_poll_ns;
	__u32 last_tid;		/* the thread that polled it last */
	__u32 pad;
};

/*
 * One blocking episode inside a poll (for a --threads thread: in a blocking
 * syscall; task_id 0), sent through the ring buffer.
 */
struct ws_block_event {
	__u32 tid;
	__u32 nsp_words;
	__u64 task_id;
	__u64 task_addr;
	__u64 poll_start_ns;
	__u64 off_ts;		/* switch-out */
	__u64 dur_ns;		/* until switch-in (sleep + run queue) */
	__u64 runq_ns;		/* of which waiting for a CPU */
	__s64 sys_nr;		/* syscall in progress, -1 none */
	__u64 futex_addr;
	__s32 ustack_id, kstack_id;
	__u64 sp_words[WS_SP_WORDS];
};

#endif /* WEFT_BPF_WEFTSTAT_H */
