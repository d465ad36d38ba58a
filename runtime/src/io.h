/* SPDX-License-Identifier: MIT */
/*
 * io.h - the contract between the scheduler and an I/O driver, and
 * between io.c (the public calls) and the drivers. docs/io.md.
 *
 * Parking is an interface: when a runtime has a driver, a parked worker
 * does not sleep on its futex word but inside the driver (io_uring_enter
 * or epoll_pwait2), on its I/O, its timers' deadline and an unpark signal
 * (an eventfd) at once. sched.c calls:
 *	park(w, deadline)  once per wait; returns after completions were
 *	                   reaped (tasks may have been woken), the eventfd
 *	                   was written, or the deadline passed. The caller
 *	                   loops while w->park is still WF_PARK_SLEEPING and
 *	                   it has no work.
 *	unpark(w)          any thread: make a current or future park(w) of
 *	                   this worker return (writes the eventfd).
 *	poll(w, idle)      the driving thread, between polls: submit what
 *	                   tasks queued, reap completions, never block. idle:
 *	                   the worker has no task left (reap everything).
 */
#ifndef WEFT_IO_INTERNAL_H
#define WEFT_IO_INTERNAL_H

#include "internal.h"

#include <weft/io.h>

struct wf__io_driver {
	const char *name;
	int kind;				/* WF_IO_URING / WF_IO_EPOLL */
	int (*rt_init)(struct wf_runtime *rt);
	void (*rt_fini)(struct wf_runtime *rt);
	int (*worker_init)(struct wf__worker *w);
	void (*worker_fini)(struct wf__worker *w);
	void (*park)(struct wf__worker *w, uint64_t deadline_ns);
	void (*unpark)(struct wf__worker *w);
	void (*poll)(struct wf__worker *w, bool idle);
	/* A thread (@tid) starts driving core w; NULL: nothing to do. */
	void (*attach)(struct wf__worker *w, pid_t tid);
};

extern const struct wf__io_driver wf__io_uring_driver;
extern const struct wf__io_driver wf__io_epoll_driver;

/* io.c: choose and set up rt's driver (WEFT_IO, Kconfig); 0 or -errno. */
int wf__io_init(struct wf_runtime *rt);
void wf__io_fini(struct wf_runtime *rt);
int wf__io_worker_init(struct wf__worker *w);
void wf__io_worker_fini(struct wf__worker *w);

/* Driver hooks for sched.c; rt->io is NULL without a driver. */
static inline void wf__io_poll(struct wf__worker *w, bool idle)
{
	if (w->io_pending)
		w->rt->io->poll(w, idle);
}

/* --- operations ---------------------------------------------------------------- */

enum wf__io_opcode {
	WF_OP_RECV, WF_OP_SEND, WF_OP_RECVMSG, WF_OP_SENDMSG, WF_OP_ACCEPT, WF_OP_CONNECT,
	WF_OP_READ, WF_OP_WRITE, WF_OP_READV, WF_OP_WRITEV, WF_OP_OPENAT, WF_OP_FSYNC,
	WF_OP_STATX, WF_OP_POLL,
};

/* One operation's arguments, as the public call got them. */
struct wf__io_op {
	int opcode;
	int fd;
	int flags;
	unsigned mask;			/* statx mask, fsync flags, poll events */
	void *buf;
	size_t len;
	const struct iovec *iov;
	int iovcnt;
	off_t off;
	struct msghdr *msg;
	struct sockaddr *addr;
	socklen_t *addrlen;		/* accept */
	socklen_t alen;			/* connect */
	const char *path;
	mode_t mode;
	struct statx *stx;
};

/*
 * An io_uring operation in flight (io_uring.c has the protocol). On the
 * task's stack for the one-shot calls; inside a batch entry for batches,
 * where on_done replaces waking the task.
 */
struct wf__ur_req {
	struct wf_task *task;
	struct wf__worker *owner;	/* core whose ring has the operation */
	_Atomic uint64_t st;		/* gen << 32 | DONE, QUEUED, RELEASED */
	int res;
	struct wf__ur_req *cnext;	/* owner's cancel list */
	void (*on_done)(struct wf__ur_req *r);	/* owner's thread; NULL: wake task */
};

/* False when the calling poll has no core (stall compensation took it). */
bool wf__ur_batch_submit(struct wf__ur_req *r, const struct wf__io_op *op);
void wf__ur_batch_cancel(struct wf__ur_req *r);

/*
 * An epoll readiness waiter that calls back instead of waking a task
 * (batches): linked in the descriptor's wait queue with waiter.task NULL;
 * cb runs under the descriptor's lock on the reporting thread.
 */
struct wf__ep_cb {
	struct wf__waiter w;		/* first: wake_locked() casts */
	void (*cb)(struct wf__ep_cb *c, uint32_t events);
	int fd;
};

/*
 * epoll: try op once without blocking: its result, or -EAGAIN after
 * linking c to wait for readiness (c->cb then runs once). Files and what
 * cannot wait go through the blocking pool (the call then takes as long).
 */
ssize_t wf__ep_batch_try(struct wf__io_op *op, struct wf__ep_cb *c);
/* Unlink c if still linked: true if it was (its callback will not run). */
bool wf__ep_batch_cancel(struct wf_runtime *rt, struct wf__ep_cb *c);

/* Run @op to completion in the calling task with @rt's driver. */
ssize_t wf__io_uring_op(struct wf__io_op *op, uint64_t deadline_ns);
ssize_t wf__io_epoll_op(struct wf__io_op *op, uint64_t deadline_ns);
/* The same as one blocking system call on the calling thread. */
ssize_t wf__io_sync_op(struct wf__io_op *op);
/* epoll driver: forget @fd's state before it is closed. */
void wf__io_epoll_forget(struct wf_runtime *rt, int fd);

/* --- listeners and streams (io_ms.c) ------------------------------------------- */

enum { WF_MS_ACCEPT = 1, WF_MS_RECV = 2 };

/*
 * A listener or stream: one multishot operation armed on the ring of
 * @owner at a time, and what it delivered while nobody waited. io_ms.c
 * has the protocol. Everything below lock is under it.
 */
struct wf__ms {
	int kind;			/* WF_MS_* */
	int fd;
	struct wf_runtime *rt;
	bool multishot;			/* io_uring with the features: else one-shot calls */
	wf__spinlock lock;
	struct wf__worker *owner;	/* core whose ring has the armed op */
	bool armed;			/* in flight until its CQE without F_MORE */
	bool queued;			/* in owner's ms cancel list */
	bool cancelled;			/* a cancel was asked for the armed op */
	bool eof;			/* recv: the peer closed (after q) */
	bool nobufs;			/* recv: last op ended with -ENOBUFS */
	int err;			/* recv: sticky error after q; accept: once */
	/* The waiting task: data goes straight to wbuf (recv) or wres (accept). */
	struct wf_task *wt;
	uint32_t wgen;
	void *wbuf;
	size_t wlen;
	ssize_t wres;
	bool wdone;
	/* The task in wf_*_free waiting for the final CQE. */
	struct wf_task *closer;
	uint32_t cgen;
	/*
	 * recv: a provided buffer kept instead of copied (hdata[hoff..hlen)
	 * unread, buffer hbid of core hring's ring; NULL hdata: none). Its
	 * bytes come before q's: one is kept only while q is empty.
	 */
	const unsigned char *hdata;
	uint32_t hoff, hlen;
	unsigned hbid;
	struct wf__worker *hring;
	/* recv: bytes delivered and not taken (ring buffer, capacity a power of 2) */
	unsigned char *q;
	size_t qcap, qhead, qlen;
	/*
	 * recv: wf_stream_borrow() lent blen bytes (0: nothing lent) from
	 * lent (MS_LENT_*); a q that grows meanwhile keeps the lent one as
	 * qold until the release. scratch: the one-shot path's buffer.
	 */
	size_t blen;
	int lent;
	unsigned char *qold, *scratch;
	bool wborrow;			/* the waiter borrows: keep, do not copy */
	/* accept: descriptors delivered and not taken */
	int *fds;
	unsigned fcap, fhead, flen;
	struct wf__ms *cnext;		/* owner's cancel list */
};

struct wf_listener {
	struct wf__ms m;
};

struct wf_stream {
	struct wf__ms m;
};

/*
 * io_ms.c, on the owner's driving thread, for each CQE of m's armed op
 * (@data: the provided buffer @bid of core @w's ring that a recv filled,
 * NULL otherwise); takes m->lock. True: m keeps the buffer (only when
 * @may_keep) and gives it back with wf__ur_buf_return(); false: the
 * caller recycles it at once. When the queue grows past its limit it asks for the op to be
 * cancelled (re-armed once the queue is drained).
 */
bool wf__ms_cqe(struct wf__ms *m, int res, bool more, const void *data, struct wf__worker *w,
		unsigned bid, bool may_keep);
/* io_ms.c, owner thread, under m->lock: m left the cancel list. */
void wf__ms_unqueued_locked(struct wf__ms *m);

/*
 * io_uring.c: provided buffer @bid back into core @ring's buffer ring, at
 * once on the thread driving that core, else through its return bits.
 * Any thread; not under m->lock nor in a core section.
 */
void wf__ur_buf_return(struct wf__worker *ring, unsigned bid);
/* io_uring.c: buffers kept by streams now, over rt's rings (wf_io_info). */
uint64_t wf__ur_kept(struct wf_runtime *rt);

/* io_uring.c: can w's ring arm an op of @kind (features, buffer ring)? */
bool wf__ur_ms_ok(struct wf__worker *w, int kind);
/* Make room for one SQE on w's ring (may reap): before taking any m->lock. */
void wf__ur_reserve(struct wf__worker *w);
/* Prepare m's multishot op on w's ring (room reserved); under m->lock. */
void wf__ur_ms_prep(struct wf__worker *w, struct wf__ms *m);
/*
 * Push m on its owner's cancel list (the caller set m->queued, under
 * m->lock); @remote: write the owner's eventfd so a parked owner sees it.
 */
void wf__ur_ms_push(struct wf__ms *m, struct wf__worker *to, bool remote);

/* Probe io_uring on this kernel (once per process): WF_IO_F_* or -errno. */
int wf__io_uring_probe(unsigned *found);

#endif /* WEFT_IO_INTERNAL_H */
