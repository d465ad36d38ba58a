// SPDX-License-Identifier: MIT
/*
 * io_uring.c - the io_uring driver: one ring per worker. docs/io.md.
 *
 * Ring layout. Each worker (core) owns one ring. Only the thread driving
 * that core touches the ring's queues: a task prepares its SQE on the ring
 * of the core it runs on (it is inside a poll of that core, so the worker
 * loop is not using the ring), and the worker loop submits what was
 * prepared (batched over polls: ur_poll) and reaps completions after each
 * poll, when it runs out of work and while parked. A completion wakes its task, which
 * goes to this worker's local queue and may be stolen from there; so a
 * task's next operation may go to another ring than its last.
 *
 * Parking. A parked worker waits in io_uring_submit_and_wait_timeout() for
 * one completion, with the next timer deadline as its timeout. The ring
 * keeps a read armed on the worker's eventfd (re-armed before each wait
 * once it completed); unpark() writes that eventfd, the read completes,
 * and the wait returns. A write while no read is armed stays in the
 * eventfd's counter, so the next armed read completes at once.
 *
 * An operation in flight is a struct ur_req on its task's stack;
 * user_data points at it. Its state word st packs the task's current wait
 * generation (high 32 bits) with three flags:
 *	DONE      the completion arrived (res is valid);
 *	QUEUED    the request sits in its owner's cancel list;
 *	RELEASED  the completer is done with the request after a failed wake.
 * The completer (the owner's driving thread) stores res, sets DONE with
 * one fetch_or that also tells it the generation to wake, and wakes the
 * task unless QUEUED is set (then the cancel drain wakes it). The request
 * lives until its task returns, and the task returns only once the kernel
 * has posted the completion and nobody will touch the request again:
 *  - woken by the completer (its wake won): the completer does not touch
 *    the request after a won wake;
 *  - it saw DONE itself: the completer's wake lost (the wait had ended by
 *    deadline or cancellation), and the task waits for RELEASED.
 * Cancellation (deadline or wf_cancel()): the task moves st to a new,
 * nocancel wait generation with one CAS (unless DONE is set already) and
 * then asks the kernel to cancel: on its own ring directly when it still
 * runs on the owner core, else by pushing the request on the owner's
 * cancel list (lock-free LIFO, drained by the owner) with QUEUED set and
 * writing the owner's eventfd. Either way it then waits, uncancellable,
 * for the original operation's completion: the kernel owns the buffers
 * until then.
 *
 * Features are probed once per process (wf__io_uring_probe). Multi-thread
 * runtimes use SUBMIT_ALL and COOP_TASKRUN with TASKRUN_FLAG of the setup
 * flags (ur_rt_init says why the latter is safe when a core changes
 * threads); SINGLE_ISSUER with DEFER_TASKRUN and registered ring
 * descriptors tie a ring to one thread, and a core (with its ring) moves
 * to another thread in wf_block_in_place() and under stall compensation
 * while the old thread blocks. A current-thread runtime's core never
 * moves within a session: its ring adds SINGLE_ISSUER, DEFER_TASKRUN and
 * TASKRUN_FLAG (ur_attach). Listeners and streams (io_ms.c) use multishot
 * accept and recv, the latter with a provided buffer ring per ring
 * (user_data with UD_MS set). docs/io.md has the table.
 */
#include "io.h"
#include "sanitizer.h"

#include <fcntl.h>
#include <liburing.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define UR_ENTRIES 256u
/*
 * CQ entries: a multishot op ends when its CQE finds the CQ full, and
 * reap() may leave completions there while the local run queue is full,
 * so the CQ is larger than the SQ's default twice (4096 x 16 bytes).
 */
#define UR_CQ_ENTRIES 4096u
#define UD_EFD 1u		/* the eventfd read */
#define UD_IGNORE 2u		/* cancel requests: their result does not matter */
#define UD_SPECIAL 4095u	/* user_data up to this is not a request */

#define ST_DONE 1u
#define ST_QUEUED 2u
#define ST_RELEASED 4u
#define ST_GEN(s) ((uint32_t)((s) >> 32))

#define ur_req wf__ur_req

#define UD_MS 1u		/* low bit of a listener's or stream's user_data */
#define UR_BGID 0		/* each ring's provided buffer group */
#define UR_NBUFS 1024u		/* default buffers per ring (WEFT_IO_BUF_RING) */
#define UR_BUFSZ 4096u

struct ur_worker {
	struct io_uring ring;
	int efd;
	bool efd_armed;
	uint64_t efd_buf;
	_Atomic(struct ur_req *) cancels;	/* pushed by other workers' tasks */
	_Atomic(struct wf__ms *) ms_cancels;	/* listeners and streams to cancel */
	uint64_t sq_since;		/* when the oldest unsubmitted SQE was queued */
	/* Provided buffer ring (group UR_BGID), owner thread only; NULL: none. */
	struct io_uring_buf_ring *br;
	size_t br_size;
	unsigned char *bufs;		/* bufs_alloc: bufs_len bytes mapped */
	size_t bufs_len;
	unsigned nbufs, bufsz;
	bool br_failed;
	/*
	 * Buffers kept by streams instead of copied (io_ms.c: at most one per
	 * stream, lent or read from in place), at most half the ring: held
	 * counts them (the driving thread's); one given back from another
	 * core sets its bit in ret_bits and counts in ret_n, and the driving
	 * thread puts it back in the ring (ret_drain).
	 */
	_Atomic unsigned held;		/* one writer: load and store */
	uint64_t *held_bits;		/* which (the driving thread's) */
	_Atomic uint64_t *ret_bits;
	_Atomic unsigned ret_n;
	/* Thread-affine ring (current-thread runtime): see ur_attach. */
	unsigned setup_flags;
	bool defer;			/* DEFER_TASKRUN: completions need GETEVENTS */
	bool coop;			/* COOP_TASKRUN: they need a kernel entry */
	pid_t owner_tid;		/* the thread that enabled it; 0: not yet */
};

/* Per runtime: buffer ring geometry. */
struct ur_rt {
	unsigned nbufs, bufsz;
};

/*
 * w->io_pending counts the SQEs prepared on w's ring and not yet reaped,
 * the eventfd read left out: while it is 0 there is nothing to submit or
 * reap (a cancel queued by another worker is for an operation in flight
 * here, so it is never 0 then), and the worker loop does not call
 * ur_poll() at all: a runtime doing no I/O pays one load per poll.
 */

/* --- probing ------------------------------------------------------------------------ */

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static int probe_result;
static unsigned probe_found;

static bool setup_ok(unsigned flags)
{
	struct io_uring ring;
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	p.flags = flags;
	if (io_uring_queue_init_params(4, &ring, &p))
		return false;
	io_uring_queue_exit(&ring);
	return true;
}

static void probe(void)
{
	struct io_uring ring;
	struct io_uring_params p;
	struct io_uring_probe *pr;
	unsigned f = 0;
	int r;

	memset(&p, 0, sizeof(p));
	r = io_uring_queue_init_params(4, &ring, &p);
	if (r) {
		probe_result = r;	/* -ENOSYS, -EPERM (io_uring_disabled, seccomp) */
		return;
	}
	if (p.features & IORING_FEAT_EXT_ARG)
		f |= WF_IO_F_EXT_ARG;
	if (p.features & IORING_FEAT_NODROP)
		f |= WF_IO_F_NODROP;
	if (p.features & IORING_FEAT_FAST_POLL)
		f |= WF_IO_F_FAST_POLL;
	pr = io_uring_get_probe_ring(&ring);
	if (pr) {
		/* Multishot accept came with IORING_OP_SOCKET (5.19), multishot
		 * recv with zero-copy send (6.0). */
		if (io_uring_opcode_supported(pr, IORING_OP_SOCKET))
			f |= WF_IO_F_ACCEPT_MULTISHOT;
		if (io_uring_opcode_supported(pr, IORING_OP_SEND_ZC))
			f |= WF_IO_F_RECV_MULTISHOT;
		io_uring_free_probe(pr);
	}
	if (io_uring_register_ring_fd(&ring) == 1) {
		f |= WF_IO_F_REG_RING_FD;
		io_uring_unregister_ring_fd(&ring);
	}
	{
		long pg = sysconf(_SC_PAGESIZE);
		void *mem = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (mem != MAP_FAILED) {
			struct io_uring_buf_reg reg = { .ring_addr = (uintptr_t)mem,
							.ring_entries = 1, .bgid = 0 };

			if (io_uring_register_buf_ring(&ring, &reg, 0) == 0) {
				f |= WF_IO_F_BUF_RING;
				io_uring_unregister_buf_ring(&ring, 0);
			}
			munmap(mem, (size_t)pg);
		}
	}
	io_uring_queue_exit(&ring);
	if (setup_ok(IORING_SETUP_COOP_TASKRUN))
		f |= WF_IO_F_COOP_TASKRUN;
	if (setup_ok(IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG))
		f |= WF_IO_F_TASKRUN_FLAG;
	if (setup_ok(IORING_SETUP_SINGLE_ISSUER))
		f |= WF_IO_F_SINGLE_ISSUER;
	if (setup_ok(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN))
		f |= WF_IO_F_DEFER_TASKRUN;
	if (setup_ok(IORING_SETUP_SUBMIT_ALL))
		f |= WF_IO_F_SUBMIT_ALL;
	probe_found = f;
}

int wf__io_uring_probe(unsigned *found)
{
	pthread_once(&probe_once, probe);
	*found = probe_found;
	return probe_result;
}

/* --- the ring -------------------------------------------------------------------------- */

static inline struct ur_worker *urw(struct wf__worker *w)
{
	return w->io;
}

static void complete(struct ur_req *r, int res)
{
	struct wf_task *t = r->task;
	uint64_t old;

	r->res = res;
	/* Release: res before DONE; pairs with the task's acquire loads. */
	old = atomic_fetch_or(&r->st, ST_DONE);
	if (old & ST_QUEUED)
		return;		/* the cancel drain wakes it (drain_cancels) */
	if (r->on_done) {
		r->on_done(r);	/* a batch operation (io_batch.c) */
		return;
	}
	if (!wf__wake(t, ST_GEN(old), WF_WOKEN_OK))
		/* The wait had ended: the task saw DONE and waits for this. */
		atomic_fetch_or(&r->st, ST_RELEASED);
	/* Not a byte of r after this point: its task may have returned. */
}

/*
 * A CQE of a listener's or stream's multishot op. A recv's provided
 * buffer is copied out (into the waiting task's buffer or the object's
 * queue) and given back to the ring at once, on this thread: the buffer
 * ring is touched by its owner only.
 */
static void buf_recycle(struct ur_worker *u, unsigned bid)
{
	io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * u->bufsz, u->bufsz,
			      (unsigned short)bid, io_uring_buf_ring_mask(u->nbufs), 0);
	/* Release: the entry before the tail the kernel reads. */
	io_uring_buf_ring_advance(u->br, 1);
}

/* u->held: written by the ring's driving thread only, read by wf_io_info. */
static inline unsigned held_get(struct ur_worker *u)
{
	return atomic_load_explicit(&u->held, memory_order_relaxed);
}

static inline void held_add(struct ur_worker *u, int d)
{
	atomic_store_explicit(&u->held, held_get(u) + (unsigned)d, memory_order_relaxed);
}

/*
 * Whether a stream may keep a buffer: a kept buffer may stay out for a
 * while (lent across a send), and a connection whose peer already sent
 * more needs a second one meanwhile, so keeping is for a ring with
 * buffers to spare: few kept (an eighth of the ring) and few completions
 * waiting to be reaped (@backlog, each may hold one). Under a load that
 * uses most of the ring, data is copied and its buffer recycled at once,
 * so keeping never makes the ring run dry.
 */
static inline bool may_keep(struct ur_worker *u, unsigned backlog)
{
	unsigned held = held_get(u);

	return held < u->nbufs / 8 && held + backlog < u->nbufs / 4;
}

static void ms_cqe(struct wf__worker *w, struct wf__ms *m, struct io_uring_cqe *cqe,
		   unsigned backlog)
{
	struct ur_worker *u = urw(w);
	bool more = cqe->flags & IORING_CQE_F_MORE;
	unsigned char *data = NULL;
	unsigned bid = 0;

	if ((cqe->flags & IORING_CQE_F_BUFFER) && u->br) {
		bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		data = u->bufs + (size_t)bid * u->bufsz;
	}
	if (wf__ms_cqe(m, cqe->res, more, data, w, bid, data && may_keep(u, backlog))) {
		held_add(u, 1);		/* the stream keeps it: given back later */
		u->held_bits[bid / 64] |= 1ull << (bid % 64);
	}
	else if (data)
		buf_recycle(u, bid);
}

/* Driving thread: back into the ring, the buffers given back from elsewhere. */
static void ret_drain(struct ur_worker *u)
{
	unsigned words = (u->nbufs + 63) / 64;

	if (!u->ret_bits || !atomic_load_explicit(&u->ret_n, memory_order_relaxed))
		return;
	atomic_exchange_explicit(&u->ret_n, 0, memory_order_acquire);
	for (unsigned i = 0; i < words; i++) {
		uint64_t b;

		if (!atomic_load_explicit(&u->ret_bits[i], memory_order_relaxed))
			continue;
		b = atomic_exchange_explicit(&u->ret_bits[i], 0, memory_order_acquire);
		u->held_bits[i] &= ~b;
		held_add(u, -__builtin_popcountll(b));
		while (b) {
			buf_recycle(u, i * 64 + (unsigned)__builtin_ctzll(b));
			b &= b - 1;
		}
	}
}

/* Room in w's local run queue, less a few slots kept for spawns and yields. */
static unsigned reap_room(struct wf__worker *w)
{
	uint32_t len = atomic_load_explicit(&w->tail, memory_order_relaxed) -
		       atomic_load_explicit(&w->head, memory_order_acquire);

	return len + 16 < WF_LOCAL_QUEUE ? WF_LOCAL_QUEUE - 16 - len : 0;
}

/*
 * Under load a completion's request (on its task's stack) or stream, and
 * the task it wakes, are cold: with a thousand connections each is a
 * cache and TLB miss. reap() asks for them ahead of use: the request or
 * stream REAP_AHEAD completions ahead, the task it names half as far
 * ahead (by then its pointer is in cache). Prefetches never fault, and
 * the CQEs up to tail are the kernel's to read, ours until we advance.
 */
#define REAP_AHEAD 4u

/*
 * A stream's waiting task, read without its lock: only a prefetch hint,
 * so a stale or torn-free racy read is harmless; ThreadSanitizer would
 * call it a race, so there is no hint under it.
 */
static inline const void *ms_waiter_hint(const struct wf__ms *m)
{
#ifdef WF_TSAN_FIBERS
	(void)m;
	return NULL;
#else
	return *(const void *const volatile *)&m->wt;
#endif
}

static inline void reap_prefetch(struct ur_worker *u, unsigned head, unsigned *tailp)
{
	const struct io_uring_cqe *c;
	unsigned tail = *tailp;
	uint64_t ud;

	/*
	 * The loop goes on past the tail read at its start when the kernel
	 * posts more meanwhile: read it again then, never look at a slot at
	 * or past it (a stale CQE of the ring's last lap, naming a request
	 * or stream that may be gone).
	 */
	if ((int)(tail - head) <= (int)REAP_AHEAD)
		*tailp = tail = io_uring_smp_load_acquire(u->ring.cq.ktail);
	if (tail - head > REAP_AHEAD) {
		c = &u->ring.cq.cqes[(head + REAP_AHEAD) & u->ring.cq.ring_mask];
		ud = c->user_data;
		if (ud > UD_SPECIAL && ud != LIBURING_UDATA_TIMEOUT)
			__builtin_prefetch((void *)(uintptr_t)(ud & ~(uint64_t)UD_MS), 1);
	}
	if (tail - head > REAP_AHEAD / 2) {
		c = &u->ring.cq.cqes[(head + REAP_AHEAD / 2) & u->ring.cq.ring_mask];
		ud = c->user_data;
		if (ud > UD_SPECIAL && ud != LIBURING_UDATA_TIMEOUT) {
			const void *t = (ud & UD_MS) ?
				ms_waiter_hint((const struct wf__ms *)(uintptr_t)(ud & ~(uint64_t)UD_MS)) :
				(const void *)((const struct ur_req *)(uintptr_t)ud)->task;

			if (t)
				__builtin_prefetch(t, 1);
		}
	}
}

/*
 * Reap completions in the order the kernel posted them. Driving thread
 * only. Each may wake a task onto this worker's local queue; @bounded:
 * stop while that queue is (nearly) full, so a burst of completions never
 * spills wake-ups into the inject queue, where they would wait behind
 * every later local wake-up (it is served every 61 polls). The rest stay
 * in the CQ, in order, for the next poll: connections are served first
 * come, first served. Completions that wake nobody (a stream's data
 * queued while its task runs) do not use room.
 */
static unsigned reap(struct wf__worker *w, bool bounded)
{
	struct ur_worker *u = urw(w);
	struct io_uring_cqe *cqe;
	unsigned head, tail, n = 0;

	if (IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW)
		io_uring_get_events(&u->ring);
	tail = io_uring_smp_load_acquire(u->ring.cq.ktail);
	io_uring_for_each_cqe(&u->ring, head, cqe) {
		uint64_t ud = cqe->user_data;

		if (bounded && !reap_room(w))
			break;
		reap_prefetch(u, head, &tail);
		if (ud == UD_EFD) {
			u->efd_armed = false;
		} else if (ud > UD_SPECIAL && (ud & UD_MS)) {
			if (!(cqe->flags & IORING_CQE_F_MORE))
				w->io_pending--;
			ms_cqe(w, (struct wf__ms *)(uintptr_t)(ud & ~(uint64_t)UD_MS), cqe,
			       tail - head);
		} else if (ud != LIBURING_UDATA_TIMEOUT) {
			w->io_pending--;
			if (ud > UD_SPECIAL)
				complete((struct ur_req *)(uintptr_t)ud, cqe->res);
		}
		n++;
	}
	io_uring_cq_advance(&u->ring, n);
	return n;
}

#define REAP_ALL false	/* reap(): every completion, room or not */

/* An SQE on w's ring; submits (and reaps, if the kernel pushes back) when full. */
static struct io_uring_sqe *get_sqe(struct wf__worker *w)
{
	struct ur_worker *u = urw(w);
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(&u->ring))) {
		if (io_uring_submit(&u->ring) < 0)
			reap(w, REAP_ALL);
	}
	w->io_pending++;
	return sqe;
}

static void prep_cancel(struct wf__worker *w, struct ur_req *r)
{
	struct io_uring_sqe *sqe = get_sqe(w);

	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)r, 0);
	io_uring_sqe_set_data64(sqe, UD_IGNORE);
}

/* Owner: turn the cancel requests other workers' tasks queued into SQEs. */
static void drain_cancels(struct wf__worker *w)
{
	struct ur_worker *u = urw(w);
	struct ur_req *r = atomic_exchange(&u->cancels, NULL);

	while (r) {
		struct ur_req *next = r->cnext;
		struct wf_task *t = r->task;
		uint64_t old;

		/* DONE is only ever set on this thread: stable here. */
		if (!(atomic_load(&r->st) & ST_DONE))
			prep_cancel(w, r);
		old = atomic_fetch_and(&r->st, ~(uint64_t)ST_QUEUED);
		if (old & ST_DONE) {
			/* The completion saw QUEUED and left the wake-up to us. */
			if (r->on_done)
				r->on_done(r);
			else
				wf__wake(t, ST_GEN(old), WF_WOKEN_OK);
		}
		r = next;
	}
}

/*
 * Owner: cancel the multishot ops of the listeners and streams queued on
 * ms_cancels (io_ms.c). An object queued here whose op has meanwhile
 * ended and been re-armed on another ring is sent on to that ring.
 */
static void ms_drain(struct wf__worker *w)
{
	struct ur_worker *u = urw(w);
	struct wf__ms *m = atomic_exchange(&u->ms_cancels, NULL);

	while (m) {
		struct wf__ms *next = m->cnext;	/* before m may be freed */

		wf__ur_reserve(w);
		wf__spin_lock(&m->lock);
		if (m->armed && m->owner != w && m->cancelled) {
			wf__ur_ms_push(m, m->owner, true);	/* stays queued */
		} else {
			if (m->armed && m->owner == w) {
				struct io_uring_sqe *sqe = get_sqe(w);

				io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)m | UD_MS, 0);
				io_uring_sqe_set_data64(sqe, UD_IGNORE);
			}
			wf__ms_unqueued_locked(m);
		}
		wf__spin_unlock(&m->lock);
		m = next;
	}
}

/*
 * Between polls. Submissions are batched: one io_uring_enter for the SQEs
 * of several polls, once the worker runs out of tasks (idle), once
 * UR_BATCH are waiting, or once the oldest has waited UR_SUBMIT_NS (a
 * busy worker must not sit on an operation). Completions are reaped every
 * time: the CQ tail is in shared memory, so that costs no system call.
 */
#define UR_BATCH 16u
#define UR_SUBMIT_NS 20000u

static void ur_poll(struct wf__worker *w, bool idle)
{
	struct ur_worker *u = urw(w);
	unsigned n;
	bool tw;

	if (atomic_load_explicit(&u->cancels, memory_order_relaxed))
		drain_cancels(w);
	if (atomic_load_explicit(&u->ms_cancels, memory_order_relaxed))
		ms_drain(w);
	ret_drain(u);
	n = io_uring_sq_ready(&u->ring);
	/*
	 * COOP_TASKRUN: completion work the kernel queued for this thread
	 * runs at its next kernel entry; TASKRUN_FLAG says some is waiting.
	 * It is batched like the submissions (the submit's io_uring_enter
	 * runs it too): at once when idle, else within UR_SUBMIT_NS.
	 */
	tw = u->coop && (IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_TASKRUN);
	if (n || tw) {
		if (!u->sq_since)
			u->sq_since = w->poll_end;
		if (idle || n >= UR_BATCH || w->poll_end - u->sq_since >= UR_SUBMIT_NS) {
			if (n)
				io_uring_submit(&u->ring);
			else
				io_uring_get_events(&u->ring);
			u->sq_since = 0;
		}
	}
	/*
	 * DEFER_TASKRUN: completions wait in the kernel until we ask;
	 * TASKRUN_FLAG tells us (a shared-memory load) when there are some.
	 */
	if (u->defer && (IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_TASKRUN))
		io_uring_get_events(&u->ring);
	if (io_uring_cq_ready(&u->ring) ||
	    (IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW))
		reap(w, true);
	/* A queue over its limit asked for a cancel while being reaped. */
	if (atomic_load_explicit(&u->ms_cancels, memory_order_relaxed))
		ms_drain(w);
}

static void ur_park(struct wf__worker *w, uint64_t deadline)
{
	struct ur_worker *u = urw(w);
	struct __kernel_timespec ts, *tsp = NULL;
	struct io_uring_cqe *cqe;

	if (atomic_load(&u->cancels))
		drain_cancels(w);
	if (atomic_load(&u->ms_cancels))
		ms_drain(w);
	ret_drain(u);
	if (!u->efd_armed) {
		struct io_uring_sqe *sqe = get_sqe(w);

		io_uring_prep_read(sqe, u->efd, &u->efd_buf, sizeof(u->efd_buf), 0);
		io_uring_sqe_set_data64(sqe, UD_EFD);
		w->io_pending--;	/* not counted: see above */
		u->efd_armed = true;
	}
	if (io_uring_cq_ready(&u->ring)) {
		io_uring_submit(&u->ring);
		u->sq_since = 0;
		reap(w, true);
		return;
	}
	if (deadline != UINT64_MAX) {
		uint64_t now = wf__now(), d = deadline > now ? deadline - now : 0;

		ts.tv_sec = (long long)(d / 1000000000ull);
		ts.tv_nsec = (long long)(d % 1000000000ull);
		tsp = &ts;
	}
	io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, tsp, NULL);
	u->sq_since = 0;
	reap(w, true);
}

static void ur_unpark(struct wf__worker *w)
{
	struct ur_worker *u = urw(w);

	eventfd_write(u->efd, 1);
}

/*
 * WEFT_IO_NOFEAT: WF_IO_F_* bits (a number, e.g. 0x1c0) the rings must
 * not use although the kernel has them: to test and measure the
 * fallbacks. WEFT_IO_BUF_RING=COUNTxSIZE: buffers per ring (a power of
 * two, 1..32768) and their size in bytes (16..1 MiB).
 */
static unsigned env_nofeat(void)
{
	const char *e = getenv("WEFT_IO_NOFEAT");

	return e && *e ? (unsigned)strtoul(e, NULL, 0) : 0;
}

static void env_buf_ring(struct ur_rt *r)
{
	const char *e = getenv("WEFT_IO_BUF_RING");
	unsigned long n, sz;
	char *end;

	r->nbufs = UR_NBUFS;
	r->bufsz = UR_BUFSZ;
	if (!e || !*e)
		return;
	n = strtoul(e, &end, 0);
	if (*end == 'x')
		sz = strtoul(end + 1, &end, 0);
	else
		sz = 0;
	if (*end || !n || n > 32768 || (n & (n - 1)) || sz < 16 || sz > (1ul << 20)) {
		static _Atomic bool warned;

		if (!atomic_exchange(&warned, true))
			fprintf(stderr, "weft: WEFT_IO_BUF_RING='%s' ignored: want COUNTxSIZE, COUNT "
				"a power of two from 1 to 32768, SIZE 16 to 1048576 bytes (using "
				"%ux%u)\n", e, UR_NBUFS, UR_BUFSZ);
		return;
	}
	r->nbufs = (unsigned)n;
	r->bufsz = (unsigned)sz;
}

static int ur_rt_init(struct wf_runtime *rt)
{
	struct ur_rt *r = calloc(1, sizeof(*r));
	unsigned want = WF_IO_F_SUBMIT_ALL | WF_IO_F_EXT_ARG | WF_IO_F_NODROP |
			WF_IO_F_FAST_POLL | WF_IO_F_ACCEPT_MULTISHOT | WF_IO_F_RECV_MULTISHOT |
			WF_IO_F_BUF_RING;

	if (!r)
		return -ENOMEM;
	env_buf_ring(r);
	rt->io_priv = r;
	rt->io_entries = UR_ENTRIES;
	rt->io_used = rt->io_found & want & ~env_nofeat();
	/*
	 * A current-thread runtime's core never changes thread inside a
	 * session (no wf_block_in_place, no stall compensation): its ring
	 * may be tied to the driving thread. ur_attach enables it there.
	 */
	if (rt->flavor == WF_CURRENT_THREAD) {
		unsigned aff = WF_IO_F_SINGLE_ISSUER | WF_IO_F_DEFER_TASKRUN | WF_IO_F_TASKRUN_FLAG;

		if ((rt->io_found & aff & ~env_nofeat()) == aff)
			rt->io_used |= aff;
	}
	/*
	 * Elsewhere, COOP_TASKRUN with TASKRUN_FLAG: the kernel no longer
	 * interrupts a worker running user code to post a completion (an
	 * IPI and a kernel entry per arrival under load); ur_poll enters the
	 * kernel for them when the flag says some wait. A thread that blocks
	 * while its core drives on elsewhere (wf_block_in_place, stall
	 * compensation) is still woken from an interruptible sleep to post
	 * the completions of what it submitted (the kernel's
	 * __set_notify_signal wakes TASK_INTERRUPTIBLE sleepers with or
	 * without the IPI); one running user code posts them at its next
	 * kernel entry, the scheduler tick at the latest.
	 */
	if (!(rt->io_used & WF_IO_F_DEFER_TASKRUN)) {
		unsigned coop = WF_IO_F_COOP_TASKRUN | WF_IO_F_TASKRUN_FLAG;

		if ((rt->io_found & coop & ~env_nofeat()) == coop)
			rt->io_used |= coop;
	}
	/* Multishot recv needs the buffer ring. */
	if (!(rt->io_used & WF_IO_F_BUF_RING))
		rt->io_used &= ~WF_IO_F_RECV_MULTISHOT;
	if (!(rt->io_used & WF_IO_F_RECV_MULTISHOT))
		rt->io_used &= ~WF_IO_F_BUF_RING;
	return 0;
}

static void ur_rt_fini(struct wf_runtime *rt)
{
	free(rt->io_priv);
	rt->io_priv = NULL;
}

/* Every buffer not kept by a stream to the kernel. */
static void buf_ring_fill(struct ur_worker *u)
{
	int n = 0;

	io_uring_buf_ring_init(u->br);
	for (unsigned i = 0; i < u->nbufs; i++)
		if (!(u->held_bits[i / 64] & (1ull << (i % 64))))
			io_uring_buf_ring_add(u->br, u->bufs + (size_t)i * u->bufsz, u->bufsz,
					      (unsigned short)i, io_uring_buf_ring_mask(u->nbufs),
					      n++);
	io_uring_buf_ring_advance(u->br, n);
}

/*
 * The buffers of a provided buffer ring: the kernel takes them in ring
 * order and they come back in about the same order, so under load every
 * buffer is cold when used again (1024 x 4 KiB cycle through 4 MiB), and
 * each is its own page: a TLB miss on every receive, for the kernel's
 * copy and ours. On 2 MiB-aligned memory with MADV_HUGEPAGE (transparent
 * huge pages in "madvise" mode, Debian's default) the whole area is a
 * couple of TLB entries. Falls back to plain pages where THP is off.
 */
#define BUFS_ALIGN (2u << 20)

static void *bufs_alloc(size_t len, size_t *maplen)
{
	size_t want = (len + BUFS_ALIGN - 1) & ~(size_t)(BUFS_ALIGN - 1);
	unsigned char *p = mmap(NULL, want + BUFS_ALIGN, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *a;

	if (p == MAP_FAILED)
		return NULL;
	a = (unsigned char *)(((uintptr_t)p + BUFS_ALIGN - 1) & ~(uintptr_t)(BUFS_ALIGN - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (a + want < p + want + BUFS_ALIGN)
		munmap(a + want, (size_t)(p + want + BUFS_ALIGN - (a + want)));
#ifdef MADV_HUGEPAGE
	madvise(a, want, MADV_HUGEPAGE);
#endif
	*maplen = want;
	return a;
}

/* The buffers and their keep/return bitmaps (buf_ring_init's). */
static void bufs_free(struct ur_worker *u)
{
	if (u->bufs)
		munmap(u->bufs, u->bufs_len);
	free((void *)u->ret_bits);
	free(u->held_bits);
	u->bufs = NULL;
	u->ret_bits = NULL;
	u->held_bits = NULL;
}

/* The worker's provided buffer ring; 0, or -errno. */
static int buf_ring_init(struct wf__worker *w, struct ur_worker *u)
{
	struct ur_rt *rr = w->rt->io_priv;
	long pg = sysconf(_SC_PAGESIZE);
	struct io_uring_buf_reg reg;
	size_t sz = (rr->nbufs * sizeof(struct io_uring_buf) + (size_t)pg - 1) &
		    ~((size_t)pg - 1);
	void *mem;
	int r;

	mem = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -errno;
	u->bufs = bufs_alloc((size_t)rr->nbufs * rr->bufsz, &u->bufs_len);
	u->ret_bits = calloc((rr->nbufs + 63) / 64, sizeof(*u->ret_bits));
	u->held_bits = calloc((rr->nbufs + 63) / 64, sizeof(*u->held_bits));
	if (!u->bufs || !u->ret_bits || !u->held_bits) {
		bufs_free(u);
		munmap(mem, sz);
		return -ENOMEM;
	}
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uintptr_t)mem;
	reg.ring_entries = rr->nbufs;
	reg.bgid = UR_BGID;
	r = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (r) {
		bufs_free(u);
		munmap(mem, sz);
		return r;
	}
	u->br = mem;
	u->br_size = sz;
	u->nbufs = rr->nbufs;
	u->bufsz = rr->bufsz;
	buf_ring_fill(u);
	return 0;
}

static int ur_worker_init(struct wf__worker *w)
{
	struct ur_worker *u = calloc(1, sizeof(*u));
	struct io_uring_params p;
	int r;

	if (!u)
		return -ENOMEM;
	memset(&p, 0, sizeof(p));
	if (w->rt->io_used & WF_IO_F_SUBMIT_ALL)
		p.flags |= IORING_SETUP_SUBMIT_ALL;
	if (w->rt->io_used & WF_IO_F_DEFER_TASKRUN) {
		p.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			   IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_R_DISABLED;
		u->defer = true;
	} else if (w->rt->io_used & WF_IO_F_COOP_TASKRUN) {
		p.flags |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
		u->coop = true;
	}
	p.flags |= IORING_SETUP_CQSIZE;
	p.cq_entries = UR_CQ_ENTRIES;
	u->setup_flags = p.flags;
	r = io_uring_queue_init_params(UR_ENTRIES, &u->ring, &p);
	if (r) {
		free(u);
		return r;
	}
	u->efd = eventfd(0, EFD_CLOEXEC);
	if (u->efd < 0) {
		r = -errno;
		io_uring_queue_exit(&u->ring);
		if (u->br) {
			munmap(u->br, u->br_size);
			bufs_free(u);
		}
		free(u);
		return r;
	}
	w->io = u;
	return 0;
}

static void ur_worker_fini(struct wf__worker *w)
{
	struct ur_worker *u = urw(w);

	if (!u)
		return;
	/* Let the eventfd read complete: the kernel must be done with efd_buf. */
	if (u->efd_armed) {
		eventfd_write(u->efd, 1);
		for (int i = 0; i < 1000 && u->efd_armed; i++) {
			struct io_uring_cqe *cqe;

			io_uring_submit_and_wait(&u->ring, 1);
			if (io_uring_peek_cqe(&u->ring, &cqe) == 0)
				reap(w, REAP_ALL);
		}
	}
	/* Exiting the ring ends what is still in flight (a listener or a
	 * stream never freed): only then may its buffers go. */
	io_uring_queue_exit(&u->ring);
	if (u->br) {
		munmap(u->br, u->br_size);
		bufs_free(u);
	}
	close(u->efd);
	free(u);
	w->io = NULL;
}

/*
 * A thread-affine ring (SINGLE_ISSUER, DEFER_TASKRUN: a current-thread
 * runtime) answers only the thread that enabled it, and its completions
 * are posted only when that thread enters the kernel. It is created
 * disabled and enabled by the first thread that drives the core. When a
 * later wf_block_on() drives it from another thread, the ring is set up
 * again for that thread, carrying over the SQEs not yet submitted; that
 * needs nothing in flight in the kernel. With operations in flight (a
 * task left waiting on I/O between two wf_block_on() calls made from
 * different threads) they cannot be moved: weft says so on stderr and
 * they complete when the first thread drives the runtime again
 * (WEFT_IO_NOFEAT=0xe turns the affine features off). docs/io.md.
 */
/* IORING_REGISTER_ENABLE_RINGS (liburing 2.3 declares its helper, does not export it). */
static int enable_rings(struct io_uring *ring)
{
	long r = syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS,
			 NULL, 0);

	return r < 0 ? -errno : 0;
}

static void ring_redo(struct ur_worker *u, pid_t tid)
{
	unsigned n = io_uring_sq_ready(&u->ring), i;
	struct io_uring_sqe *keep = NULL;
	struct io_uring_params p;
	int r;

	if (n) {
		keep = malloc(n * sizeof(*keep));
		if (!keep)
			goto fail;
		for (i = 0; i < n; i++)
			keep[i] = u->ring.sq.sqes[(u->ring.sq.sqe_head + i) & u->ring.sq.ring_mask];
	}
	io_uring_queue_exit(&u->ring);	/* ends the eventfd read, takes the buffer ring */
	u->efd_armed = false;
	memset(&p, 0, sizeof(p));
	p.flags = u->setup_flags;
	p.cq_entries = UR_CQ_ENTRIES;
	r = io_uring_queue_init_params(UR_ENTRIES, &u->ring, &p);
	if (r)
		goto fail;
	if (u->br) {
		struct io_uring_buf_reg reg = { .ring_addr = (uintptr_t)u->br,
						.ring_entries = u->nbufs, .bgid = UR_BGID };

		if (io_uring_register_buf_ring(&u->ring, &reg, 0))
			goto fail;
		buf_ring_fill(u);
	}
	if (enable_rings(&u->ring))
		goto fail;
	for (i = 0; i < n; i++)
		*io_uring_get_sqe(&u->ring) = keep[i];
	free(keep);
	u->owner_tid = tid;
	return;
fail:
	fprintf(stderr, "weft: io_uring: cannot set the ring up again for thread %d\n", (int)tid);
	abort();
}

static void ur_attach(struct wf__worker *w, pid_t tid)
{
	struct ur_worker *u = urw(w);
	static _Atomic bool warned;

	if (!u || !u->defer || u->owner_tid == tid)
		return;
	if (!u->owner_tid) {
		enable_rings(&u->ring);
		u->owner_tid = tid;
	} else if (w->io_pending == io_uring_sq_ready(&u->ring)) {
		ring_redo(u, tid);
	} else if (!atomic_exchange(&warned, true)) {
		fprintf(stderr, "weft: io_uring: a current-thread runtime is driven by thread %d "
			"with operations in flight from thread %d; they complete when that thread "
			"drives it again (WEFT_IO_NOFEAT=0xe avoids this)\n", (int)tid,
			(int)u->owner_tid);
	}
}

const struct wf__io_driver wf__io_uring_driver = {
	.name = "io_uring",
	.kind = WF_IO_URING,
	.rt_init = ur_rt_init,
	.rt_fini = ur_rt_fini,
	.worker_init = ur_worker_init,
	.worker_fini = ur_worker_fini,
	.park = ur_park,
	.unpark = ur_unpark,
	.poll = ur_poll,
	.attach = ur_attach,
};

/* --- operations ---------------------------------------------------------------------------- */

static unsigned clamp_len(size_t len)
{
	return len > 0x7ffff000u ? 0x7ffff000u : (unsigned)len;
}

static uint64_t off64(off_t off)
{
	return off < 0 ? (uint64_t)-1 : (uint64_t)off;	/* -1: the current position */
}

static void prep(struct io_uring_sqe *sqe, const struct wf__io_op *op)
{
	switch (op->opcode) {
	case WF_OP_RECV:
		io_uring_prep_recv(sqe, op->fd, op->buf, op->len, op->flags);
		break;
	case WF_OP_SEND:
		io_uring_prep_send(sqe, op->fd, op->buf, op->len, op->flags | MSG_NOSIGNAL);
		break;
	case WF_OP_RECVMSG:
		io_uring_prep_recvmsg(sqe, op->fd, op->msg, (unsigned)op->flags);
		break;
	case WF_OP_SENDMSG:
		io_uring_prep_sendmsg(sqe, op->fd, op->msg, (unsigned)op->flags | MSG_NOSIGNAL);
		break;
	case WF_OP_ACCEPT:
		io_uring_prep_accept(sqe, op->fd, op->addr, op->addrlen, op->flags | SOCK_CLOEXEC);
		break;
	case WF_OP_CONNECT:
		io_uring_prep_connect(sqe, op->fd, op->addr, op->alen);
		break;
	case WF_OP_READ:
		io_uring_prep_read(sqe, op->fd, op->buf, clamp_len(op->len), off64(op->off));
		break;
	case WF_OP_WRITE:
		io_uring_prep_write(sqe, op->fd, op->buf, clamp_len(op->len), off64(op->off));
		break;
	case WF_OP_READV:
		io_uring_prep_readv(sqe, op->fd, op->iov, (unsigned)op->iovcnt, off64(op->off));
		break;
	case WF_OP_WRITEV:
		io_uring_prep_writev(sqe, op->fd, op->iov, (unsigned)op->iovcnt, off64(op->off));
		break;
	case WF_OP_OPENAT:
		io_uring_prep_openat(sqe, op->fd, op->path, op->flags | O_CLOEXEC, op->mode);
		break;
	case WF_OP_FSYNC:
		io_uring_prep_fsync(sqe, op->fd,
				    op->mask & WF_FSYNC_DATASYNC ? IORING_FSYNC_DATASYNC : 0);
		break;
	case WF_OP_STATX:
		io_uring_prep_statx(sqe, op->fd, op->path, op->flags, op->mask, op->stx);
		break;
	case WF_OP_POLL:
		io_uring_prep_poll_add(sqe, op->fd, op->mask);
		break;
	default:
		io_uring_prep_nop(sqe);
		break;
	}
}

/* The task's wait ended by deadline or cancellation: see the top comment. */
static int cancel_and_wait(struct ur_req *r, int reason)
{
	struct wf_task *t = r->task;
	struct wf__thread *th = wf__thread_cur();
	/* A core section: the owner's ring is touched only by its driver. */
	struct wf__worker *w = wf__core_enter(th);
	bool local = w && w == r->owner;
	uint32_t gen = wf__wait_prepare_nocancel(t);
	uint64_t old = atomic_load(&r->st), nw;
	int res;

	do {
		if (old & ST_DONE) {
			/* Completed meanwhile; its wake lost to ours ending. */
			wf__core_exit(th, w);
			wf__wait_claim_nocancel(t, gen);
			while (!(atomic_load(&r->st) & ST_RELEASED))
				sched_yield();
			goto out;
		}
		nw = ((uint64_t)gen << 32) | (local ? 0 : ST_QUEUED);
	} while (!atomic_compare_exchange_weak(&r->st, &old, nw));

	atomic_fetch_add_explicit(&t->rt->io_cancels, 1, memory_order_relaxed);
	if (local)
		prep_cancel(w, r);
	wf__core_exit(th, w);
	if (!local) {
		atomic_fetch_add_explicit(&t->rt->io_remote_cancels, 1, memory_order_relaxed);
		struct ur_worker *o = urw(r->owner);
		struct ur_req *h = atomic_load(&o->cancels);

		do
			r->cnext = h;
		while (!atomic_compare_exchange_weak(&o->cancels, &h, r));
		eventfd_write(o->efd, 1);
	}
	wf__wait_nocancel(t);
out:
	res = r->res;
	/* The kernel cancelled it (or it was interrupted): report why. Any
	 * other result is the operation's own: data moved is not lost. */
	if (res == -ECANCELED || res == -EINTR)
		return wf__wait_errno(reason);
	return res;
}

/*
 * Submit op on the current core's ring and wait for its completion.
 * *nocore: the monitor took this poll's core (stall compensation): nothing
 * was submitted, the caller runs the operation without the ring.
 */
static int submit_wait(const struct wf__io_op *op, uint64_t deadline, bool *nocore)
{
	struct wf_task *t = wf__task_cur();
	struct wf__thread *th = wf__thread_cur();
	struct wf__worker *w = wf__core_enter(th);
	struct ur_req r = { .task = t, .owner = w };
	struct io_uring_sqe *sqe;
	uint32_t gen;
	int reason;

	*nocore = !w;
	if (!w)
		return 0;
	/*
	 * Inside the core section, and the wait generation before the SQE:
	 * once the section ends the core may go to another thread, which
	 * may submit and complete the operation before this task suspends.
	 */
	gen = wf__wait_prepare(t);
	atomic_store(&r.st, (uint64_t)gen << 32);
	sqe = get_sqe(w);
	prep(sqe, op);
	io_uring_sqe_set_data(sqe, &r);
	wf__core_exit(th, w);
	/* The worker loop submits after this poll ends (batched). */
	reason = wf__wait(t, gen, deadline);
	if (reason == WF_WOKEN_OK)
		return r.res;
	return cancel_and_wait(&r, reason);
}

static bool retry_on_eagain(const struct wf__io_op *op)
{
	switch (op->opcode) {
	case WF_OP_RECV: case WF_OP_SEND: case WF_OP_RECVMSG: case WF_OP_SENDMSG:
	case WF_OP_ACCEPT:
		return true;
	case WF_OP_READ: case WF_OP_WRITE: case WF_OP_READV: case WF_OP_WRITEV:
		return op->off < 0;
	}
	return false;
}

static bool wants_out(int opcode)
{
	return opcode == WF_OP_SEND || opcode == WF_OP_SENDMSG || opcode == WF_OP_WRITE ||
	       opcode == WF_OP_WRITEV || opcode == WF_OP_CONNECT;
}

ssize_t wf__io_uring_op(struct wf__io_op *op, uint64_t deadline_ns)
{
	int r;

	for (;;) {
		bool nocore;

		r = submit_wait(op, deadline_ns, &nocore);
		if (nocore)
			return wf__io_sync_op(op);	/* as in wf_block_in_place */
		/*
		 * A descriptor someone made O_NONBLOCK answers -EAGAIN (and a
		 * connect -EINPROGRESS): wait for readiness, then try again.
		 */
		if ((r == -EAGAIN && retry_on_eagain(op)) ||
		    (r == -EINPROGRESS && op->opcode == WF_OP_CONNECT)) {
			struct wf__io_op p = { .opcode = WF_OP_POLL, .fd = op->fd,
					       .mask = wants_out(op->opcode) ? POLLOUT : POLLIN };
			int pr = wf__coop();

			if (pr)
				return pr;
			pr = submit_wait(&p, deadline_ns, &nocore);
			if (nocore)
				return wf__io_sync_op(op);
			if (pr < 0)
				return pr;
			if (op->opcode == WF_OP_CONNECT) {
				int err = 0;
				socklen_t l = sizeof(err);

				if (getsockopt(op->fd, SOL_SOCKET, SO_ERROR, &err, &l))
					return -errno;
				return -err;
			}
			continue;
		}
		return r;
	}
}

/* --- batch operations (io_batch.c) ------------------------------------------------------------ */

/*
 * Prepare r's operation on the calling task's ring; r->on_done runs on
 * the owner's thread when it completes. No wait generation: nobody sleeps
 * on r itself.
 */
bool wf__ur_batch_submit(struct wf__ur_req *r, const struct wf__io_op *op)
{
	struct wf__thread *th = wf__thread_cur();
	struct wf__worker *w = wf__core_enter(th);	/* the ring is owner-only */
	struct io_uring_sqe *sqe;

	if (!w)
		return false;
	r->task = NULL;
	r->owner = w;
	r->res = 0;
	atomic_store(&r->st, 0);
	sqe = get_sqe(w);
	prep(sqe, op);
	io_uring_sqe_set_data(sqe, r);
	wf__core_exit(th, w);
	return true;
}

/*
 * Ask the kernel to cancel r (still in flight: its on_done has not run).
 * Its completion (-ECANCELED or the real result) still comes through
 * on_done; the caller waits for that before reusing r.
 */
void wf__ur_batch_cancel(struct wf__ur_req *r)
{
	struct wf__thread *th = wf__thread_cur();
	/* NULL in wf_block_in_place, or when the monitor took the core. */
	struct wf__worker *w = wf__core_enter(th);
	struct wf_runtime *rt = r->owner->rt;
	uint64_t old = atomic_load(&r->st);
	struct ur_worker *o;
	struct ur_req *h;

	if (old & ST_DONE) {
		wf__core_exit(th, w);
		return;
	}
	atomic_fetch_add_explicit(&rt->io_cancels, 1, memory_order_relaxed);
	if (w && w == r->owner) {
		/* DONE is set by the core's driver only, between polls: it
		 * stays clear until this poll ends, after this SQE. */
		prep_cancel(w, r);
		wf__core_exit(th, w);
		return;
	}
	wf__core_exit(th, w);
	do {
		if (old & ST_DONE)
			return;		/* completed meanwhile: on_done has run or runs */
	} while (!atomic_compare_exchange_weak(&r->st, &old, old | ST_QUEUED));
	atomic_fetch_add_explicit(&rt->io_remote_cancels, 1, memory_order_relaxed);
	o = urw(r->owner);
	h = atomic_load(&o->cancels);
	do
		r->cnext = h;
	while (!atomic_compare_exchange_weak(&o->cancels, &h, r));
	eventfd_write(o->efd, 1);
}

/* --- listeners and streams (io_ms.c) ---------------------------------------------------------- */

bool wf__ur_ms_ok(struct wf__worker *w, int kind)
{
	struct ur_worker *u = urw(w);

	if (!u)
		return false;
	if (kind != WF_MS_RECV)
		return w->rt->io_used & WF_IO_F_ACCEPT_MULTISHOT;
	if (!(w->rt->io_used & WF_IO_F_RECV_MULTISHOT))
		return false;
	/*
	 * The buffer ring is set up when the first stream arms a receive on
	 * this ring (a runtime without streams pays nothing for it), by the
	 * ring's driving thread (we are in its core section).
	 */
	if (!u->br && !u->br_failed && buf_ring_init(w, u))
		u->br_failed = true;	/* streams here go one-shot */
	return u->br;
}

void wf__ur_reserve(struct wf__worker *w)
{
	struct ur_worker *u = urw(w);

	while (!io_uring_sq_space_left(&u->ring)) {
		if (io_uring_submit(&u->ring) < 0)
			reap(w, REAP_ALL);
	}
}

void wf__ur_ms_prep(struct wf__worker *w, struct wf__ms *m)
{
	struct io_uring_sqe *sqe = get_sqe(w);	/* room reserved: no reap here */

	if (m->kind == WF_MS_ACCEPT) {
		io_uring_prep_multishot_accept(sqe, m->fd, NULL, NULL, SOCK_CLOEXEC);
	} else {
		io_uring_prep_recv_multishot(sqe, m->fd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = UR_BGID;
	}
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)m | UD_MS);
	m->armed = true;
	m->cancelled = false;
	m->owner = w;
}

uint64_t wf__ur_kept(struct wf_runtime *rt)
{
	uint64_t n = 0;

	for (unsigned i = 0; rt->workers && i < rt->nworkers; i++)
		if (rt->workers[i].io) {
			struct ur_worker *u = urw(&rt->workers[i]);

			/* Less those given back and not yet in the ring again. */
			n += held_get(u) - atomic_load_explicit(&u->ret_n, memory_order_relaxed);
		}
	return n;
}

void wf__ur_buf_return(struct wf__worker *ring, unsigned bid)
{
	struct wf__thread *th = wf__thread_cur();
	struct wf__worker *w = th ? wf__core_enter(th) : NULL;
	struct ur_worker *u = urw(ring);

	if (w == ring) {
		u->held_bits[bid / 64] &= ~(1ull << (bid % 64));
		buf_recycle(u, bid);
		held_add(u, -1);
	} else {
		atomic_fetch_or_explicit(&u->ret_bits[bid / 64], 1ull << (bid % 64),
					 memory_order_release);
		atomic_fetch_add_explicit(&u->ret_n, 1, memory_order_release);
	}
	if (th)
		wf__core_exit(th, w);
}

void wf__ur_ms_push(struct wf__ms *m, struct wf__worker *to, bool remote)
{
	struct ur_worker *o = urw(to);
	struct wf__ms *h = atomic_load(&o->ms_cancels);

	do
		m->cnext = h;
	while (!atomic_compare_exchange_weak(&o->ms_cancels, &h, m));
	if (remote)
		eventfd_write(o->efd, 1);
}
