// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * weftstat.bpf.c - the kernel side of weftstat: where a weft process's
 * worker threads spend their time, and what they block on inside polls.
 *
 * Every program first filters by process (targ_tgid, a read-only global
 * the loader sets before load, so the test is a constant compare) and then
 * by thread: only TIDs the loader put in the workers map are worker
 * threads. Nothing else is looked at.
 *
 * Per worker, from the scheduler tracepoints:
 *   - sched_switch, worker leaving: on-CPU time ends; the episode is a
 *     voluntary sleep, or a preemption (the worker stays runnable, so it
 *     starts waiting in the run queue at once). On a sleep (other than in
 *     the worker's own parking, once learnt: see switch_out()), the
 *     worker's registry slot is read from user memory (bpf_probe_read_user;
 *     the worker is current, so its mm is the one mapped): if the slot says
 *     POLLING, the worker is blocked inside a poll, and the task, the
 *     user and kernel stacks, the syscall in progress and the top of the
 *     user stack are kept for the episode.
 *   - sched_wakeup(_new): the worker is runnable again; run-queue latency
 *     runs from here to its switch-in.
 *   - sched_switch, worker arriving: the episode closes: sleep and
 *     run-queue time are added up; a blocking episode inside a poll goes
 *     to user space through the ring buffer.
 * Futex waits (futex() wait and lock operations, futex_waitv, futex_wait):
 * time, split between the runtime's own idle parking (the slot's
 * park_futex_addr) and everything else, the latter also by futex word and
 * user call stack (the locks map).
 *
 * Syscalls: with tp_btf, nothing runs on syscalls. The syscall a worker
 * sleeps in, and a futex wait's operation and word, are read from the
 * user registers the kernel saved at the syscall's entry
 * (bpf_task_pt_regs) when it leaves its CPU; a futex wait then lasts from
 * that switch-out to the switch-in (a wait that does not sleep costs
 * nothing and is not counted). With raw_tp (no bpf_task_pt_regs), the
 * generic raw syscall tracepoints sys_enter and sys_exit keep the syscall
 * in progress up to date and time futex waits from entry to exit, at a
 * program run per syscall of every thread on the machine, which is what
 * a latency-bound target pays for (docs/weftstat.md, "Costs").
 *
 * Whatever cannot be recorded (ring buffer full, no stack id, unreadable
 * slot) is counted in the counters map; the loader reports it.
 *
 * The programs come in two flavours: tp_btf (typed arguments, the cheaper
 * attach, direct reads of the task fields, syscalls from the registers)
 * and raw_tp with the syscall tracepoints, loaded when tp_btf is refused.
 * The loader enables one set before loading (and sets sys_from_regs).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "task_state.bpf.h"
#include <bpf/usdt.bpf.h>

#include "weftstat.h"

/*
 * Event waits: how a runtime idles for I/O (an epoll or io_uring reactor,
 * poll, select) or for signals. A --threads thread asleep in one of them is
 * idle, not blocked; asleep in any other syscall but a futex wait, it is.
 */
/* A syscall's first argument in its saved user registers (a BTF pointer: a load). */
#if defined(__TARGET_ARCH_x86)
#define REGS_ARG0(regs) ((__u64)(regs)->di)
#elif defined(__TARGET_ARCH_arm64)
#define REGS_ARG0(regs) ((__u64)(regs)->orig_x0)
#endif

#if defined(__TARGET_ARCH_x86)
#define WS_NR_FUTEX 202
#define WS_EVENT_WAIT(nr) ((nr) == 7 || (nr) == 23 || (nr) == 232 || (nr) == 270 || \
			   (nr) == 271 || (nr) == 281 || (nr) == 441 || (nr) == 426 || \
			   (nr) == 34 || (nr) == 128 || (nr) == 130)
#elif defined(__TARGET_ARCH_arm64)
#define WS_NR_FUTEX 98
#define WS_EVENT_WAIT(nr) ((nr) == 22 || (nr) == 72 || (nr) == 73 || (nr) == 441 || \
			   (nr) == 426 || (nr) == 133 || (nr) == 137)
#else
#error "weftstat: unsupported architecture (x86 and arm64 only)"
#endif

/* The futex() operations that wait (FUTEX_CMD_MASK applied). */
#define FUTEX_WAIT_ 0
#define FUTEX_LOCK_PI_ 6
#define FUTEX_WAIT_BITSET_ 9
#define FUTEX_WAIT_REQUEUE_PI_ 11
#define FUTEX_LOCK_PI2_ 13
#define FUTEX_CMD_MASK_ (~(128 | 256))

#define TASK_RUNNING_ 0
#define WF_REG_W_POLLING_ 1
#define WF_REG_W_PARKED_ 4
/* A sleep that matches a worker's parking signature re-reads its slot once in this many. */
#define PARK_RECHECK 64

const volatile __u32 targ_tgid = 0;
/*
 * sched_switch passes prev_state (5.18+): the state the task is switched
 * out with, which a racing wakeup cannot have changed yet, unlike
 * prev->__state. The loader sets this from the kernel's BTF.
 */
const volatile bool has_prev_state = false;
/*
 * The syscall a thread sleeps in, and its futex wait, come from its user
 * registers at the switch-out (tp_btf only). False: the raw sys_enter and
 * sys_exit tracepoints keep sys_nr up to date and time the futex waits.
 */
const volatile bool sys_from_regs = false;
/*
 * Run-queue waits from the scheduler's own accounting (CONFIG_SCHED_INFO,
 * tp_btf only): at the switch-in, the task's sched_info.run_delay grown
 * since its switch-out plus the wait in progress (its run queue's clock,
 * through se.cfs_rq->rq with CONFIG_FAIR_GROUP_SCHED, less
 * sched_info.last_queued), so no program runs on wakeups. False: the
 * sched_wakeup programs stamp the wakeup.
 */
const volatile bool runq_from_sched_info = false;
/* The registry's slow-poll threshold, set by the loader after load (top). */
__u64 slow_poll_ns = 0;

/* struct wf_reg_worker (docs/registry.md): a fixed 64-byte layout. */
struct reg_worker {
	__u32 seq;
	__u32 state;
	__s32 tid;
	__s32 index;
	__u64 task_id;
	__u64 poll_start_ns;
	__u64 task_addr;
	__u64 polls;
	__u64 park_futex_addr;
	__u64 reserved;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WS_MAX_WORKERS);
	__type(key, __u32);
	__type(value, struct ws_worker);
} workers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WS_MAX_WORKERS);
	__type(key, __u32);
	__type(value, struct ws_slot_move);
} slot_moves SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WS_MAX_LOCKS);
	__type(key, struct ws_lock_key);
	__type(value, struct ws_lock_val);
} locks SEC(".maps");

/* A new locks entry is built here: it is too big for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ws_lock_val);
} lock_scratch SEC(".maps");

/* Tasks seen by the USDT programs, by id; the least recently polled go first. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WS_MAX_TASKS);
	__type(key, __u64);
	__type(value, struct ws_task);
} tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, WS_MAX_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, WS_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, WS_RINGBUF_BYTES);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WS_CNT_NR);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &which);

	if (c)
		(*c)++;
}

/*
 * Copy up to @max words of user stack from @sp into @dst; returns how many.
 * The whole @max when readable; else the words up to the end of sp's page
 * (a stack's top can be closer than @max words to the end of its mapping:
 * a weft task stack ends in a 64-byte header, a thread's stack in its
 * environment, but a coroutine library's stack may end right there).
 */
static __always_inline __u32 read_sp_words(__u64 *dst, __u32 max, __u64 sp)
{
	__u32 n, sz;

	if (!sp)
		return 0;
	if (!bpf_probe_read_user(dst, max * sizeof(__u64), (void *)sp))
		return max;
	n = (__u32)((4096 - (sp & 4095)) / sizeof(__u64));
	if (n > max)
		n = max;
	sz = n * sizeof(__u64);
	if (sz == 0 || sz > max * sizeof(__u64))
		return 0;
	if (!bpf_probe_read_user(dst, sz, (void *)sp))
		return n;
	return 0;
}

/* log2 bucket of a duration, in microseconds (no loop: the verifier sees 5 steps). */
static __always_inline __u32 slot_of(__u64 ns)
{
	__u64 v = ns / 1000;
	__u32 r = 0, sh;

	if (v > 0xffffffffull)
		return WS_HIST_SLOTS - 1;
	sh = (v > 0xffff) << 4; v >>= sh; r |= sh;
	sh = (v > 0xff) << 3; v >>= sh; r |= sh;
	sh = (v > 0xf) << 2; v >>= sh; r |= sh;
	sh = (v > 0x3) << 1; v >>= sh; r |= sh;
	r |= (v >> 1);
	return r < WS_HIST_SLOTS ? r : WS_HIST_SLOTS - 1;
}

/*
 * The worker entry of task @t, or NULL (the filter every program starts
 * with: a constant compare of the tgid, then a hash lookup by TID). btf:
 * @t is a typed tp_btf argument, read directly (a load, not a helper call:
 * this runs for every context switch and wakeup on the machine).
 */
static __always_inline struct ws_worker *worker_of(struct task_struct *t, bool btf, __u32 *tidp)
{
	__u32 tid;

	if (btf) {
		if (t->tgid != (int)targ_tgid)
			return NULL;
		tid = t->pid;
	} else {
		if (BPF_CORE_READ(t, tgid) != (int)targ_tgid)
			return NULL;
		tid = BPF_CORE_READ(t, pid);
	}
	*tidp = tid;
	return bpf_map_lookup_elem(&workers, &tid);
}

/*
 * The syscall a task (current, leaving its CPU) sleeps in, from the user
 * registers @regs the kernel saved at its entry (tp_btf: bpf_task_pt_regs),
 * or -1. x86-64: orig_ax holds the number inside a syscall, but also the
 * error code of an exception (a page fault: 4 to 7 and more), so the
 * entry must be told apart: the syscall instruction leaves the return
 * address in rcx and the flags in r11, saved as they were (the kernel's
 * own test before SYSRET); where it does not hold (FRED, a clobbered
 * register), the two bytes before the return address must be the syscall
 * instruction, 0f 05. arm64: syscallno is -1 (NO_SYSCALL) outside one.
 */
static __always_inline long task_syscall(struct pt_regs *regs)
{
	long nr;

	if (!regs)
		return -1;
#if defined(__TARGET_ARCH_x86)
	nr = (long)regs->orig_ax;
	if (nr < 0)
		return -1;
	if (regs->cx != regs->ip || regs->r11 != regs->flags) {
		__u8 insn[2];

		if (bpf_probe_read_user(insn, sizeof(insn), (void *)(regs->ip - 2)) ||
		    insn[0] != 0x0f || insn[1] != 0x05)
			return -1;
	}
#else
	nr = (long)(int)regs->syscallno;
	if (nr < 0)
		return -1;
#endif
	return nr;
}

static __always_inline bool is_futex_wait(long nr, long op)
{
	if (nr == WS_NR_FUTEX_WAITV || nr == WS_NR_FUTEX_WAIT)
		return true;
	if (nr != WS_NR_FUTEX)
		return false;
	op &= FUTEX_CMD_MASK_;
	return op == FUTEX_WAIT_ || op == FUTEX_LOCK_PI_ || op == FUTEX_WAIT_BITSET_ ||
	       op == FUTEX_WAIT_REQUEUE_PI_ || op == FUTEX_LOCK_PI2_;
}

/*
 * Syscall @nr with user registers @regs starts (or, with sys_from_regs,
 * sleeps): note a futex wait in @w. The wait is idle when it is on the
 * runtime's park futex, or when the thread does not drive the worker slot
 * it was found through (a spare thread of stall compensation that gave
 * the slot back waits as an idle spare); @slot_tid: the slot's tid when
 * @slot_known (else read here).
 */
static __always_inline void futex_start(struct ws_worker *w, struct pt_regs *regs, long nr,
					__u32 tid, bool slot_known, __s32 slot_tid)
{
	long op;

	w->futex_wait = 0;
	w->futex_idle = 0;
	w->futex_addr = 0;
	if (nr != WS_NR_FUTEX && nr != WS_NR_FUTEX_WAITV && nr != WS_NR_FUTEX_WAIT)
		return;
	op = nr == WS_NR_FUTEX ? (long)PT_REGS_PARM2_CORE_SYSCALL(regs) : 0;
	if (!is_futex_wait(nr, op))
		return;
	w->futex_wait = 1;
	/* futex_waitv takes an array of waiters: no single word. */
	if (nr != WS_NR_FUTEX_WAITV)
		w->futex_addr = (__u64)PT_REGS_PARM1_CORE_SYSCALL(regs);
	if (w->futex_addr && w->futex_addr == w->park_futex_addr) {
		w->futex_idle = 1;
		return;
	}
	if (w->slot_addr && !slot_known)
		slot_known = !bpf_probe_read_user(&slot_tid, sizeof(slot_tid),
						  (void *)(w->slot_addr + 8));
	w->futex_idle = w->slot_addr && slot_known && slot_tid != (__s32)tid;
}

/*
 * The locks entry of a user-lock wait, by futex word and call stack
 * @ustack_id (-1: not taken), created when new with the top of the user
 * stack (@regs: the user registers) for the frames the frame-pointer walk
 * skips. NULL when the map is full (counted).
 */
static __always_inline struct ws_lock_val *lock_entry(struct pt_regs *regs, __u64 uaddr,
						      __s32 ustack_id)
{
	struct ws_lock_key k = { .uaddr = uaddr, .ustack_id = ustack_id };
	struct ws_lock_val *v = bpf_map_lookup_elem(&locks, &k), *init;
	__u32 zero = 0;

	if (v)
		return v;
	init = bpf_map_lookup_elem(&lock_scratch, &zero);
	if (!init)
		return NULL;
	__builtin_memset(init, 0, sizeof(*init));
	init->nsp_words = read_sp_words(init->sp_words, WS_LOCK_SP_WORDS,
				       PT_REGS_SP_CORE(regs));
	if (!init->nsp_words)
		count(WS_CNT_SP_READ_FAIL);
	if (bpf_map_update_elem(&locks, &k, init, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&locks, &k)) {
		count(WS_CNT_LOCKS_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&locks, &k);
}

static __always_inline __s32 user_stack(void *ctx)
{
	__s32 id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);

	if (id < 0)
		count(WS_CNT_USTACK_FAIL);
	return id;
}

/*
 * A futex wait of @w ends after @d ns: idle parking, or a user-lock wait
 * (also added to its locks entry @v when there is one).
 */
static __always_inline void futex_done(struct ws_worker *w, struct ws_lock_val *v, __u64 d)
{
	if (w->futex_idle) {
		w->futex_park_ns += d;
		return;
	}
	w->futex_user_ns += d;
	w->nfutex_user++;
	w->futex_hist[slot_of(d) & (WS_HIST_SLOTS - 1)]++;
	if (!v)
		return;
	__sync_fetch_and_add(&v->wait_ns, d);
	__sync_fetch_and_add(&v->count, 1);
	if (d > v->max_ns)
		v->max_ns = d;
}

/* Read @w's registry slot, whole and not being written: true, else counted. */
static __always_inline bool read_slot(struct ws_worker *w, struct reg_worker *slot)
{
	if (bpf_probe_read_user(slot, sizeof(*slot), (void *)w->slot_addr)) {
		count(WS_CNT_SLOT_READ_FAIL);
		return false;
	}
	if (slot->seq & 1) {
		count(WS_CNT_SLOT_UNSTABLE);
		return false;
	}
	return true;
}

/*
 * The worker leaves its CPU. btf: the program is tp_btf, whose helpers
 * include bpf_task_pt_regs() (the user registers: the syscall, a futex
 * wait's word, the user stack words).
 */
static __always_inline void switch_out(void *ctx, struct task_struct *prev, bool preempt,
				       long prev_state, bool btf)
{
	struct ws_worker *w;
	struct reg_worker slot;
	struct pt_regs *regs = NULL;
	bool slot_ok = false, parked = false;
	__s32 ustack = -2;	/* -2: not taken yet */
	__u64 now, arg0 = 0;
	long nr = -1;
	__u32 tid;

	w = worker_of(prev, btf, &tid);
	if (!w)
		return;
	now = bpf_ktime_get_ns();
	if (w->on_ts && w->on_ts < now)
		w->oncpu_ns += now - w->on_ts;
	w->on_ts = 0;
	w->off_ts = now;
	w->in_poll = 0;
	w->lock_pending = 0;
	if (btf && runq_from_sched_info)
		w->run_delay0 = prev->sched_info.run_delay;
	if (preempt || prev_state == TASK_RUNNING_) {
		w->off_kind = WS_OFF_PREEMPT;
		w->wake_ts = now;
		w->nswitch_invol++;
		return;
	}
	w->off_kind = WS_OFF_SLEEP;
	w->wake_ts = 0;
	w->nswitch_vol++;
	if (btf)
		regs = (struct pt_regs *)bpf_task_pt_regs(prev);
	if (btf && sys_from_regs) {
		nr = regs ? task_syscall(regs) : -1;
		arg0 = nr >= 0 && regs ? REGS_ARG0(regs) : 0;
		/*
		 * The runtime's own parking (the syscall and first argument a
		 * worker was seen to sleep in while its slot said PARKED: its
		 * io_uring ring or epoll fd, or its park futex) is not inside a
		 * poll: the slot, the dearest read here, is skipped, but read
		 * once in PARK_RECHECK times to check the signature still holds.
		 */
		parked = !w->foreign && w->park_nr > 0 && nr == w->park_nr &&
			 arg0 == w->park_arg0 && ++w->park_hits % PARK_RECHECK;
	}
	if (!w->foreign && w->slot_addr && !parked) {
		slot_ok = read_slot(w, &slot);
		/* Not its slot (any more): has the thread moved to another? */
		if (slot_ok && slot.tid != (__s32)tid) {
			struct ws_slot_move *m = bpf_map_lookup_elem(&slot_moves, &tid);

			if (m && m->slot_addr && m->slot_addr != w->slot_addr) {
				w->slot_addr = m->slot_addr;
				w->park_futex_addr = m->park_futex_addr;
				w->park_nr = 0;
				slot_ok = read_slot(w, &slot);
			}
		}
	}
	if (btf && sys_from_regs && slot_ok && nr >= 0 && slot.tid == (__s32)tid) {
		if (slot.state == WF_REG_W_PARKED_) {
			w->park_nr = nr;
			w->park_arg0 = arg0;
		} else if (slot.state == WF_REG_W_POLLING_ && nr == w->park_nr &&
			   arg0 == w->park_arg0) {
			w->park_nr = 0;	/* a poll sleeps there too: no shortcut */
		}
	}
	if (btf && sys_from_regs) {
		w->sys_nr = nr;
		if (nr >= 0 && regs)
			futex_start(w, regs, nr, tid, slot_ok, slot_ok ? slot.tid : 0);
		else
			w->futex_wait = 0;
		/* A user-lock wait: its entry now (the stack is this thread's). */
		if (w->futex_wait && !w->futex_idle && regs) {
			ustack = user_stack(ctx);
			w->lock_ustack_id = ustack < 0 ? -1 : ustack;
			w->lock_pending = lock_entry(regs, w->futex_addr, w->lock_ustack_id) != NULL;
		}
	} else {
		nr = w->sys_nr;
	}
	if (w->foreign) {
		/* No polls to be inside: a blocking syscall is the episode. */
		if (nr < 0 || w->futex_wait || WS_EVENT_WAIT(nr))
			return;
		w->task_id = 0;
		w->task_addr = 0;
		w->poll_start_ns = 0;
	} else {
		if (!slot_ok || slot.state != WF_REG_W_POLLING_ || slot.tid != (__s32)tid)
			return;
		w->task_id = slot.task_id;
		w->task_addr = slot.task_addr;
		w->poll_start_ns = slot.poll_start_ns;
	}
	w->in_poll = 1;
	w->off_sys_nr = nr;
	w->off_futex_addr = w->futex_wait ? w->futex_addr : 0;
	w->ustack_id = ustack != -2 ? ustack : user_stack(ctx);
	w->kstack_id = bpf_get_stackid(ctx, &stacks, 0);
	if (w->kstack_id < 0)
		count(WS_CNT_KSTACK_FAIL);
	w->nsp_words = 0;
	if (btf) {
		__u64 sp = regs ? PT_REGS_SP_CORE(regs) : 0;

		w->nsp_words = read_sp_words(w->sp_words, WS_SP_WORDS, sp);
		if (!w->nsp_words)
			count(WS_CNT_SP_READ_FAIL);
	}
}

/* The worker is back on a CPU: close its off-CPU episode. */
static __always_inline void switch_in(struct task_struct *next, bool btf)
{
	struct ws_worker *w;
	struct ws_block_event *e;
	__u64 now, off, runq = 0, runnable;
	__u32 tid;

	w = worker_of(next, btf, &tid);
	if (!w)
		return;
	now = bpf_ktime_get_ns();
	w->on_ts = now;
	if (!w->off_ts || w->off_ts > now) {
		w->off_ts = 0;
		if (btf && sys_from_regs)
			w->futex_wait = 0;
		return;
	}
	off = now - w->off_ts;
	if (btf && runq_from_sched_info) {
		/*
		 * Queued since the switch-out: what the scheduler added to
		 * run_delay (a wait cut by a migration), and the wait it is
		 * ending now, on the rq clock of the CPU it arrives on
		 * (updated by __schedule() just before this tracepoint;
		 * sched_clock, as last_queued and run_delay are).
		 */
		__u64 q = next->sched_info.last_queued, clk = next->se.cfs_rq->rq->clock;
		__u64 rd = next->sched_info.run_delay;

		runq = rd > w->run_delay0 ? rd - w->run_delay0 : 0;
		if (q && clk > q)
			runq += clk - q;
		if (runq > off)
			runq = off;
		w->runq_hist[slot_of(runq) & (WS_HIST_SLOTS - 1)]++;
		if (w->off_kind == WS_OFF_SLEEP)
			w->nwakeups++;
	} else {
		runnable = w->wake_ts >= w->off_ts ? w->wake_ts : 0;
		if (runnable && runnable <= now) {
			runq = now - runnable;
			w->runq_hist[slot_of(runq) & (WS_HIST_SLOTS - 1)]++;
		}
	}
	w->runq_ns += runq;
	w->sleep_ns += off - runq;
	if (w->in_poll) {
		w->poll_block_ns += off;
		w->npoll_block++;
		w->block_hist[slot_of(off) & (WS_HIST_SLOTS - 1)]++;
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (e) {
			e->tid = tid;
			e->nsp_words = w->nsp_words;
			e->task_id = w->task_id;
			e->task_addr = w->task_addr;
			e->poll_start_ns = w->poll_start_ns;
			e->off_ts = w->off_ts;
			e->dur_ns = off;
			e->runq_ns = runq;
			e->sys_nr = w->off_sys_nr;
			e->futex_addr = w->off_futex_addr;
			e->ustack_id = w->ustack_id;
			e->kstack_id = w->kstack_id;
			__builtin_memcpy(e->sp_words, w->sp_words, sizeof(e->sp_words));
			bpf_ringbuf_submit(e, 0);
		} else {
			count(WS_CNT_RINGBUF_FULL);
		}
	}
	if (btf && sys_from_regs && w->futex_wait) {
		/* The futex wait that switch_out() saw ends: it slept @off. */
		struct ws_lock_key k = { .uaddr = w->futex_addr, .ustack_id = w->lock_ustack_id };

		futex_done(w, w->lock_pending ? bpf_map_lookup_elem(&locks, &k) : NULL, off);
		w->futex_wait = 0;
		w->lock_pending = 0;
	}
	w->off_ts = 0;
	w->wake_ts = 0;
	w->in_poll = 0;
	w->off_kind = WS_OFF_NONE;
}

static __always_inline void wakeup(struct task_struct *p, bool btf)
{
	__u32 tid;
	struct ws_worker *w = worker_of(p, btf, &tid);

	if (!w)
		return;
	/* Only the first wakeup of a sleep starts the run-queue wait. */
	if (w->off_ts && !w->wake_ts) {
		w->wake_ts = bpf_ktime_get_ns();
		w->nwakeups++;
	}
}

static __always_inline void sys_enter(struct pt_regs *regs, long nr)
{
	struct ws_worker *w;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;

	if ((id >> 32) != targ_tgid)
		return;
	w = bpf_map_lookup_elem(&workers, &tid);
	if (!w)
		return;
	w->sys_nr = nr;
	w->sys_ts = bpf_ktime_get_ns();
	futex_start(w, regs, nr, tid, false, 0);
}

static __always_inline void sys_exit(void *ctx, struct pt_regs *regs)
{
	struct ws_worker *w;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	__u64 now, d;

	if ((id >> 32) != targ_tgid)
		return;
	w = bpf_map_lookup_elem(&workers, &tid);
	if (!w)
		return;
	if (w->futex_wait && w->sys_ts) {
		struct ws_lock_val *v = NULL;

		now = bpf_ktime_get_ns();
		d = now > w->sys_ts ? now - w->sys_ts : 0;
		if (!w->futex_idle)
			v = lock_entry(regs, w->futex_addr, user_stack(ctx));
		futex_done(w, v, d);
	}
	w->sys_nr = -1;
	w->sys_ts = 0;
	w->futex_wait = 0;
}

/* --- tp_btf programs --------------------------------------------------------- */

SEC("tp_btf/sched_switch")
int BPF_PROG(ws_switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	/* ctx[3] is read only when the loader saw a fourth argument. */
	long st = has_prev_state ? (long)(unsigned int)ctx[3] : task_state(prev);

	switch_out(ctx, prev, preempt, st, true);
	switch_in(next, true);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(ws_wakeup_btf, struct task_struct *p)
{
	wakeup(p, true);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(ws_wakeup_new_btf, struct task_struct *p)
{
	wakeup(p, true);
	return 0;
}

/* --- raw_tp fallbacks ------------------------------------------------------- */

SEC("raw_tp/sched_switch")
int BPF_PROG(ws_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	switch_out(ctx, prev, preempt, task_state(prev), false);
	switch_in(next, false);
	return 0;
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(ws_wakeup_raw, struct task_struct *p)
{
	wakeup(p, false);
	return 0;
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(ws_wakeup_new_raw, struct task_struct *p)
{
	wakeup(p, false);
	return 0;
}

/* --- tasks, from the USDT probes (top) --------------------------------------- */

/*
 * weft:poll_start(task id, worker index, scheduled delay ns) fires on the
 * worker just after it wrote the poll into its registry slot, so the slot
 * gives the task's record address (for its name and spawn site).
 */
SEC("usdt")
int BPF_USDT(ws_poll_start, __u64 task_id, int worker, __u64 delay)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct ws_task *t, zero = {};
	struct ws_worker *w;
	struct reg_worker slot;

	if ((id >> 32) != targ_tgid)
		return 0;
	/* A timer's task is runnable from its deadline, which may be a bit ahead. */
	if ((__s64)delay < 0)
		delay = 0;
	t = bpf_map_lookup_elem(&tasks, &task_id);
	if (!t) {
		bpf_map_update_elem(&tasks, &task_id, &zero, BPF_NOEXIST);
		t = bpf_map_lookup_elem(&tasks, &task_id);
		if (!t)
			return 0;
	}
	__sync_fetch_and_add(&t->polls, 1);
	__sync_fetch_and_add(&t->delay_ns, delay);
	if (delay > t->max_delay_ns)
		t->max_delay_ns = delay;
	t->last_tid = tid;
	if (t->task_addr)
		return 0;
	w = bpf_map_lookup_elem(&workers, &tid);
	if (w && w->slot_addr &&
	    !bpf_probe_read_user(&slot, sizeof(slot), (void *)w->slot_addr) &&
	    !(slot.seq & 1) && slot.task_id == task_id)
		t->task_addr = slot.task_addr;
	return 0;
}

/* weft:poll_end(task id, worker index, poll duration ns). */
SEC("usdt")
int BPF_USDT(ws_poll_end, __u64 task_id, int worker, __u64 dur)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ws_task *t;

	if ((id >> 32) != targ_tgid)
		return 0;
	t = bpf_map_lookup_elem(&tasks, &task_id);
	if (!t)
		return 0;
	__sync_fetch_and_add(&t->busy_ns, dur);
	if (dur > t->max_poll_ns)
		t->max_poll_ns = dur;
	if (slow_poll_ns && dur > slow_poll_ns)
		__sync_fetch_and_add(&t->slow_polls, 1);
	return 0;
}

/* --- syscalls (raw_tp: sys_enter's arguments are the registers and the number) */

SEC("raw_tp/sys_enter")
int BPF_PROG(ws_sys_enter, struct pt_regs *regs, long id)
{
	sys_enter(regs, id);
	return 0;
}

SEC("raw_tp/sys_exit")
int BPF_PROG(ws_sys_exit, struct pt_regs *regs, long ret)
{
	sys_exit(ctx, regs);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
