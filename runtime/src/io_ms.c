// SPDX-License-Identifier: MIT
/*
 * io_ms.c - listeners and streams (weft/io.h): one multishot accept or
 * receive armed per object, what it delivers queued in the object.
 * docs/io.md, "Listeners and streams".
 *
 * Under io_uring an object has at most one multishot operation in flight
 * (m->armed), on the ring of the core that armed it (m->owner): the core
 * the waiting task ran on when it found nothing queued and nothing armed.
 * Its completions are reaped by that core's driving thread whichever
 * worker the task runs on later; wf__ms_cqe() takes m->lock and either
 * hands the result straight to the waiting task (copying into its buffer,
 * or storing the descriptor) and wakes it, or appends it to the object's
 * queue. The task takes from the queue first, so bytes and connections
 * come out in the order the kernel completed them.
 *
 * Invariants, all under m->lock:
 *  - armed is set by the task that prepares the SQE (in a core section,
 *    on its own core) and cleared by the owner's reap of the CQE without
 *    IORING_CQE_F_MORE: never two ops in flight, so never two sources of
 *    bytes for one socket. A one-shot recv (fallback) runs only while
 *    nothing is armed and the queue is empty: no byte is reordered.
 *  - a recv op's provided buffer is copied out (into the waiter's buffer
 *    or the queue) and recycled by the owner's driving thread before
 *    reap moves on, or kept by the object: only when no waiter copies
 *    it, the queue is empty and nothing is kept yet (so kept bytes come
 *    before queued ones and order holds), and while its ring has more
 *    than half its buffers (io_uring.c: held), so the ring never runs
 *    dry for keeping. A kept buffer (hdata, hring, hbid) is read or lent
 *    (wf_stream_borrow) in place by the task on any thread, and given
 *    back once read to the end, at the release, or at wf_stream_free:
 *    into the ring at once on the thread driving hring's core, else
 *    through that ring's return bits, which its driving thread drains
 *    (wf__ur_buf_return). -ENOBUFS ends the op; the next call receives
 *    one-shot, then re-arms.
 *  - lent bytes (blen > 0, from the kept buffer, the queue's first
 *    contiguous run, or the one-shot scratch buffer) are not touched
 *    until the release: every other receive gets -EBUSY meanwhile, the
 *    queue only appends (a queue that grows keeps the lent array as
 *    qold until the release), and nothing is kept over a kept buffer.
 *  - the waiter (wt, wbuf, wlen) is written by its task before it waits
 *    and cleared by it under the lock after the wait, whatever ended it:
 *    a completer that filled wbuf while a deadline ended the wait has
 *    set wdone, and the task returns the data instead of -ETIMEDOUT.
 *    After clearing, nobody touches wbuf again.
 *  - cancellation: an op is cancelled by an ASYNC_CANCEL on its owner's
 *    ring, which only the owner's driving thread may prepare, so the
 *    object goes on the owner's cancel list (queued) and the owner turns
 *    it into an SQE (io_uring.c, ms_drain). wf_*_free() waits,
 *    uncancellable, until the op is not armed and the object is in no
 *    list: then no CQE and no list walk can reach it any more.
 *  - the queue has a soft limit: past it the op is cancelled (the kernel
 *    keeps what it has not delivered) and re-armed when the task has
 *    drained the queue, so a slow reader does not grow it without bound.
 */
#include "io.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MS_QMAX (256u * 1024u)	/* recv queue: bytes before the op is cancelled */
#define MS_FMAX 256u		/* accept queue: descriptors before the op is cancelled */
#define MS_AGAIN (-((ssize_t)1 << 40))	/* wres: woken for a state change, no result */
#define MS_SCRATCH 16384u	/* wf_stream_borrow on the one-shot path: buffer size */

enum { MS_LENT_NONE, MS_LENT_HELD, MS_LENT_Q, MS_LENT_SCRATCH };

#ifndef CONFIG_WEFT_IO_URING
/* No io_uring driver: m->multishot is never set, these are never called. */
bool wf__ur_ms_ok(struct wf__worker *w, int kind) { (void)w; (void)kind; return false; }
void wf__ur_reserve(struct wf__worker *w) { (void)w; }
void wf__ur_ms_prep(struct wf__worker *w, struct wf__ms *m) { (void)w; (void)m; }
void wf__ur_buf_return(struct wf__worker *ring, unsigned bid) { (void)ring; (void)bid; }
void wf__ur_ms_push(struct wf__ms *m, struct wf__worker *to, bool remote)
{
	(void)m; (void)to; (void)remote;
}
#endif

/* --- queues ------------------------------------------------------------------------ */

static size_t q_take(struct wf__ms *m, void *buf, size_t len)
{
	size_t n = len < m->qlen ? len : m->qlen, a = m->qcap - m->qhead;

	if (a > n)
		a = n;
	memcpy(buf, m->q + m->qhead, a);
	memcpy((char *)buf + a, m->q, n - a);
	m->qhead = (m->qhead + n) & (m->qcap - 1);
	m->qlen -= n;
	return n;
}

static int q_put(struct wf__ms *m, const void *data, size_t len)
{
	size_t tail, a;

	if (m->qlen + len > m->qcap) {
		size_t cap = m->qcap ? m->qcap : 4096, n = m->qlen;
		unsigned char *q;

		while (cap < n + len)
			cap *= 2;
		q = malloc(cap);
		if (!q)
			return -ENOMEM;
		if (n)
			q_take(m, q, n);	/* unwrapped to q[0..n) */
		if (m->blen && m->lent == MS_LENT_Q && !m->qold)
			m->qold = m->q;		/* lent: freed at the release */
		else
			free(m->q);
		m->q = q;
		m->qcap = cap;
		m->qhead = 0;
		m->qlen = n;
	}
	tail = (m->qhead + m->qlen) & (m->qcap - 1);
	a = m->qcap - tail;
	if (a > len)
		a = len;
	memcpy(m->q + tail, data, a);
	memcpy(m->q, (const char *)data + a, len - a);
	m->qlen += len;
	return 0;
}

static int f_put(struct wf__ms *m, int fd)
{
	if (m->flen == m->fcap) {
		unsigned cap = m->fcap ? m->fcap * 2 : 16;
		int *f = malloc(cap * sizeof(*f));

		if (!f)
			return -ENOMEM;
		for (unsigned i = 0; i < m->flen; i++)
			f[i] = m->fds[(m->fhead + i) & (m->fcap - 1)];
		free(m->fds);
		m->fds = f;
		m->fcap = cap;
		m->fhead = 0;
	}
	m->fds[(m->fhead + m->flen) & (m->fcap - 1)] = fd;
	m->flen++;
	return 0;
}

static int f_take(struct wf__ms *m)
{
	int fd = m->fds[m->fhead];

	m->fhead = (m->fhead + 1) & (m->fcap - 1);
	m->flen--;
	return fd;
}

/* --- the owner's side ----------------------------------------------------------------- */

/* Ask the owner to cancel the armed op; under m->lock. @w: the caller's core or NULL. */
static void ask_cancel_locked(struct wf__ms *m, struct wf__worker *w)
{
	if (!m->armed || m->cancelled)
		return;
	m->cancelled = true;
	if (!m->queued) {
		m->queued = true;
		wf__ur_ms_push(m, m->owner, w != m->owner);
	}
}

static void wake_waiter_locked(struct wf__ms *m, ssize_t res)
{
	m->wres = res;
	m->wdone = true;
	/* A lost wake means the wait ended (deadline, cancel): the task
	 * sees wdone under the lock and takes the result. */
	wf__wake(m->wt, m->wgen, WF_WOKEN_OK);
}

static void wake_closer_locked(struct wf__ms *m)
{
	if (m->closer && !m->armed && !m->queued) {
		wf__wake(m->closer, m->cgen, WF_WOKEN_OK);
		m->closer = NULL;
	}
}

/*
 * A recv CQE's data: straight into the waiting task's buffer; else the
 * provided buffer itself is kept (nothing queued or kept yet, @may_keep:
 * its ring has buffers to spare), which the task then reads or borrows
 * in place; else copied into the queue. True: kept.
 */
static bool recv_cqe_locked(struct wf__ms *m, int res, const void *data, struct wf__worker *w,
			    unsigned bid, bool may_keep)
{
	bool kept = false;
	size_t off = 0;

	if (res > 0 && data) {
		bool waiter = m->wt && !m->wdone;

		if (waiter && !m->wborrow && !m->qlen && !m->hdata) {
			off = (size_t)res < m->wlen ? (size_t)res : m->wlen;
			memcpy(m->wbuf, data, off);
			wake_waiter_locked(m, (ssize_t)off);
		}
		if (off < (size_t)res) {
			if (!off && may_keep && !m->qlen && !m->hdata) {
				m->hdata = data;
				m->hoff = 0;
				m->hlen = (uint32_t)res;
				m->hbid = bid;
				m->hring = w;
				kept = true;
			} else if (q_put(m, (const char *)data + off, (size_t)res - off)) {
				m->err = -ENOMEM;	/* bytes could not be kept: say so, never skip them */
			}
			if (waiter && m->wborrow)
				wake_waiter_locked(m, MS_AGAIN);	/* it takes them in place */
		}
	} else if (res == 0) {
		m->eof = true;
	} else if (res == -ENOBUFS || res == -EAGAIN) {
		m->nobufs = true;	/* the next call receives one-shot, then re-arms */
		if (res == -ENOBUFS)
			atomic_fetch_add_explicit(&m->rt->io_ms_nobufs, 1, memory_order_relaxed);
	} else if (res != -ECANCELED && res != -EINTR && res < 0) {
		m->err = res;
	}
	return kept;
}

static void accept_cqe_locked(struct wf__ms *m, int res)
{
	if (res >= 0) {
		if (m->wt && !m->wdone && !m->flen)
			wake_waiter_locked(m, res);
		else if (f_put(m, res)) {
			close(res);	/* the peer sees a reset; the caller an error */
			m->err = -ENOMEM;
		}
	} else if (res != -ECANCELED && res != -EINTR && res != -EAGAIN) {
		m->err = res;		/* -EMFILE, ...: reported once, then re-armed */
	}
}

bool wf__ms_cqe(struct wf__ms *m, int res, bool more, const void *data, struct wf__worker *w,
		unsigned bid, bool may_keep)
{
	bool kept = false;

	wf__spin_lock(&m->lock);
	if (m->kind == WF_MS_RECV)
		kept = recv_cqe_locked(m, res, data, w, bid, may_keep);
	else
		accept_cqe_locked(m, res);
	if (!more)
		m->armed = false;
	/* Something the task must look at: wake it without a result. */
	if (m->wt && !m->wdone && (!more || m->eof || m->err))
		wake_waiter_locked(m, MS_AGAIN);
	if (more && (m->qlen > MS_QMAX || m->flen > MS_FMAX))
		ask_cancel_locked(m, m->owner);
	wake_closer_locked(m);
	wf__spin_unlock(&m->lock);
	return kept;
}

void wf__ms_unqueued_locked(struct wf__ms *m)
{
	m->queued = false;
	wake_closer_locked(m);
}

/* --- the task's side ------------------------------------------------------------------- */

/*
 * Multishot recv on AF_UNIX stream sockets missed the peer's end of file
 * now and then on Linux 6.18 (the op stayed armed with POLLIN|POLLRDHUP
 * pending and nothing queued: tests/runtime/io_ms.c, stolen tasks; about
 * once in 10,000 runs, the op armed in the ring's poll list with the
 * end of file readable: docs/io.md), so streams on Unix sockets take the
 * one-shot path.
 */
static bool is_unix(int fd)
{
	int d = 0;
	socklen_t l = sizeof(d);

	return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &d, &l) == 0 && d == AF_UNIX;
}

static int ms_new(struct wf__ms **mp, size_t size, int fd, int kind)
{
	struct wf__thread *th = wf__thread_cur();
	struct wf_runtime *rt = th && th->current ? th->current->rt : NULL;
	struct wf__ms *m;

	if (!mp)
		return -EINVAL;
	*mp = NULL;
	if (fd < 0)
		return -EBADF;
	if (!rt)
		return -EPERM;
	if (!rt->io)
		return -ENOSYS;
	m = calloc(1, size);
	if (!m)
		return -ENOMEM;
	m->kind = kind;
	m->fd = fd;
	m->rt = rt;
	m->multishot = rt->io->kind == WF_IO_URING && !(kind == WF_MS_RECV && is_unix(fd)) &&
		       (rt->io_used & (kind == WF_MS_RECV ? WF_IO_F_RECV_MULTISHOT | WF_IO_F_BUF_RING
							  : WF_IO_F_ACCEPT_MULTISHOT)) ==
			       (kind == WF_MS_RECV ? WF_IO_F_RECV_MULTISHOT | WF_IO_F_BUF_RING
						   : WF_IO_F_ACCEPT_MULTISHOT);
	*mp = m;
	return 0;
}

int wf_listener_new(wf_listener **lp, int fd)
{
	return ms_new((struct wf__ms **)lp, sizeof(struct wf_listener), fd, WF_MS_ACCEPT);
}

int wf_stream_new(wf_stream **sp, int fd)
{
	return ms_new((struct wf__ms **)sp, sizeof(struct wf_stream), fd, WF_MS_RECV);
}

enum { GOT_RESULT, GOT_NOTHING, GOT_ONESHOT };

/*
 * A multishot object's calls all go through ms_wait, even from a poll
 * that has lost its core (stall compensation: wf__core_enter gives NULL):
 * what is queued or kept is taken first, and one armed op is waited for,
 * never raced by a one-shot call (two sources of bytes would reorder
 * them: seen under ThreadSanitizer, where slow polls are handed off).
 * Without a core nothing can be armed, so only then does it go one-shot.
 */

/*
 * Take what is queued, or arm the op if needed and wait for one result.
 * GOT_RESULT: *res is the call's result. GOT_NOTHING: state changed (op
 * ended), look again. GOT_ONESHOT: run the one-shot call instead.
 */
static int ms_wait(struct wf__ms *m, void *buf, size_t len, uint64_t deadline, ssize_t *res,
		   const void **borrow)
{
	struct wf__thread *th = wf__thread_cur();
	struct wf_task *t = th->current;
	struct wf__worker *w = wf__core_enter(th), *ret_ring = NULL;
	unsigned ret_bid = 0;
	bool done;
	uint32_t gen;
	int reason;

	if (w && (w->rt != m->rt || !wf__ur_ms_ok(w, m->kind))) {
		wf__core_exit(th, w);
		w = NULL;
	}
	if (w)
		wf__ur_reserve(w);	/* may reap: before the lock */
	wf__spin_lock(&m->lock);
	if (m->wt) {
		*res = -EBUSY;
		goto out_now;
	}
	if (m->blen) {
		*res = -EBUSY;		/* borrowed bytes not released yet */
		goto out_now;
	}
	if (m->kind == WF_MS_RECV && m->hdata) {
		size_t n = m->hlen - m->hoff;

		if (borrow) {
			*borrow = m->hdata + m->hoff;
			m->blen = n;
			m->lent = MS_LENT_HELD;
		} else {
			if (n > len)
				n = len;
			memcpy(buf, m->hdata + m->hoff, n);
			m->hoff += (uint32_t)n;
			if (m->hoff == m->hlen) {
				ret_ring = m->hring;
				ret_bid = m->hbid;
				m->hdata = NULL;
			}
		}
		*res = (ssize_t)n;
		goto out_now;
	}
	if (m->kind == WF_MS_RECV && m->qlen) {
		if (borrow) {
			size_t n = m->qcap - m->qhead;

			if (n > m->qlen)
				n = m->qlen;
			*borrow = m->q + m->qhead;
			m->blen = n;
			m->lent = MS_LENT_Q;
			*res = (ssize_t)n;
		} else {
			*res = (ssize_t)q_take(m, buf, len);
		}
		goto out_now;
	}
	if (m->kind == WF_MS_ACCEPT && m->flen) {
		*res = f_take(m);
		goto out_now;
	}
	if (m->err) {
		*res = m->err;
		if (m->kind == WF_MS_ACCEPT)
			m->err = 0;	/* reported once: the next call re-arms */
		goto out_now;
	}
	if (m->eof) {
		*res = 0;
		goto out_now;
	}
	if (!m->armed) {
		if (m->nobufs || !w) {
			if (!m->nobufs)
				atomic_fetch_add_explicit(&m->rt->io_ms_fallbacks, 1,
							  memory_order_relaxed);
			m->nobufs = false;
			wf__spin_unlock(&m->lock);
			wf__core_exit(th, w);
			return GOT_ONESHOT;
		}
		wf__ur_ms_prep(w, m);
		atomic_fetch_add_explicit(&m->rt->io_ms_arms, 1, memory_order_relaxed);
	}
	gen = wf__wait_prepare(t);
	m->wt = t;
	m->wgen = gen;
	m->wbuf = buf;
	m->wlen = len;
	m->wborrow = borrow != NULL;
	m->wres = MS_AGAIN;
	m->wdone = false;
	wf__spin_unlock(&m->lock);
	wf__core_exit(th, w);
	/* The worker loop submits the SQE after this poll. */
	reason = wf__wait(t, gen, deadline);
	wf__spin_lock(&m->lock);
	done = m->wdone;
	*res = m->wres;
	m->wt = NULL;
	m->wbuf = NULL;
	wf__spin_unlock(&m->lock);
	if (done)
		return *res == MS_AGAIN ? GOT_NOTHING : GOT_RESULT;
	if (reason == WF_WOKEN_OK)
		return GOT_NOTHING;	/* not ours (a stale wake-up) */
	*res = wf__wait_errno(reason);
	return GOT_RESULT;

out_now:
	wf__spin_unlock(&m->lock);
	wf__core_exit(th, w);
	if (ret_ring)
		wf__ur_buf_return(ret_ring, ret_bid);
	return GOT_RESULT;
}

/*
 * The one-shot calls behind the API (epoll, no multishot, fallbacks),
 * with the same one-waiter rule: m->wt marks the task inside.
 */
static bool oneshot_enter(struct wf__ms *m)
{
	bool ok;

	wf__spin_lock(&m->lock);
	ok = !m->wt && !m->blen;
	if (ok) {
		m->wt = wf__task_cur();
		m->wdone = true;	/* nothing to deliver to: no op is armed */
	}
	wf__spin_unlock(&m->lock);
	return ok;
}

static void oneshot_exit(struct wf__ms *m)
{
	wf__spin_lock(&m->lock);
	m->wt = NULL;
	wf__spin_unlock(&m->lock);
}

static ssize_t oneshot_recv(struct wf__ms *m, void *buf, size_t len, uint64_t deadline)
{
	ssize_t r;

	if (!oneshot_enter(m))
		return -EBUSY;
	r = wf_recv_until(m->fd, buf, len, 0, deadline);
	oneshot_exit(m);
	return r;
}

static int oneshot_accept(struct wf__ms *m, struct sockaddr *addr, socklen_t *addrlen,
			  uint64_t deadline)
{
	int r;

	if (!oneshot_enter(m))
		return -EBUSY;
	r = wf_accept_until(m->fd, addr, addrlen, 0, deadline);
	oneshot_exit(m);
	return r;
}

ssize_t wf_stream_recv(wf_stream *s, void *buf, size_t len, uint64_t deadline_ns)
{
	struct wf__ms *m = (struct wf__ms *)s;
	ssize_t res;
	int r;

	if (!m || !buf || !len)
		return -EINVAL;
	if (!wf__task_cur())
		return -EPERM;
	if (!m->multishot)
		return oneshot_recv(m, buf, len, deadline_ns);
	r = wf__coop();
	if (r)
		return r;
	for (;;) {
		switch (ms_wait(m, buf, len, deadline_ns, &res, NULL)) {
		case GOT_RESULT:
			return res;
		case GOT_ONESHOT:
			return oneshot_recv(m, buf, len, deadline_ns);
		}
	}
}

/* wf_stream_borrow on the one-shot path: received into m->scratch, lent from there. */
static ssize_t scratch_borrow(struct wf__ms *m, const void **data, uint64_t deadline)
{
	ssize_t r;

	if (!m->scratch) {
		unsigned char *b = malloc(MS_SCRATCH);

		if (!b)
			return -ENOMEM;
		wf__spin_lock(&m->lock);
		if (!m->scratch) {
			m->scratch = b;
			b = NULL;
		}
		wf__spin_unlock(&m->lock);
		free(b);
	}
	if (!oneshot_enter(m))
		return -EBUSY;
	r = wf_recv_until(m->fd, m->scratch, MS_SCRATCH, 0, deadline);
	wf__spin_lock(&m->lock);
	m->wt = NULL;
	if (r > 0) {
		m->blen = (size_t)r;
		m->lent = MS_LENT_SCRATCH;
		*data = m->scratch;
	}
	wf__spin_unlock(&m->lock);
	return r;
}

ssize_t wf_stream_borrow(wf_stream *s, const void **data, uint64_t deadline_ns)
{
	struct wf__ms *m = (struct wf__ms *)s;
	ssize_t res;
	int r;

	if (!m || !data)
		return -EINVAL;
	*data = NULL;
	if (!wf__task_cur())
		return -EPERM;
	if (!m->multishot)
		return scratch_borrow(m, data, deadline_ns);
	r = wf__coop();
	if (r)
		return r;
	for (;;) {
		switch (ms_wait(m, NULL, 0, deadline_ns, &res, data)) {
		case GOT_RESULT:
			return res;
		case GOT_ONESHOT:
			return scratch_borrow(m, data, deadline_ns);
		}
	}
}

int wf_stream_release(wf_stream *s)
{
	struct wf__ms *m = (struct wf__ms *)s;
	struct wf__worker *ret_ring = NULL;
	unsigned ret_bid = 0;
	unsigned char *old;

	if (!m)
		return -EINVAL;
	wf__spin_lock(&m->lock);
	if (!m->blen) {
		wf__spin_unlock(&m->lock);
		return -EINVAL;		/* nothing lent */
	}
	if (m->lent == MS_LENT_HELD) {
		m->hoff += (uint32_t)m->blen;
		if (m->hoff == m->hlen) {
			ret_ring = m->hring;
			ret_bid = m->hbid;
			m->hdata = NULL;
		}
	} else if (m->lent == MS_LENT_Q) {
		/* Still q's first bytes, whether or not q grew meanwhile. */
		m->qhead = (m->qhead + m->blen) & (m->qcap - 1);
		m->qlen -= m->blen;
	}
	old = m->qold;
	m->qold = NULL;
	m->blen = 0;
	m->lent = MS_LENT_NONE;
	wf__spin_unlock(&m->lock);
	free(old);
	if (ret_ring)
		wf__ur_buf_return(ret_ring, ret_bid);
	return 0;
}

static void fill_peer(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	if (addr && getpeername(fd, addr, addrlen))
		*addrlen = 0;
}

int wf_listener_accept(wf_listener *l, struct sockaddr *addr, socklen_t *addrlen,
		       uint64_t deadline_ns)
{
	struct wf__ms *m = (struct wf__ms *)l;
	ssize_t res;
	int r;

	if (!m || (addr && !addrlen))
		return -EINVAL;
	if (!wf__task_cur())
		return -EPERM;
	if (!m->multishot)
		return oneshot_accept(m, addr, addrlen, deadline_ns);
	r = wf__coop();
	if (r)
		return r;
	for (;;) {
		switch (ms_wait(m, NULL, 0, deadline_ns, &res, NULL)) {
		case GOT_RESULT:
			if (res >= 0)
				fill_peer((int)res, addr, addrlen);
			return (int)res;
		case GOT_ONESHOT:
			return oneshot_accept(m, addr, addrlen, deadline_ns);
		}
	}
}

/* Cancel the armed op, wait until nothing can reach m, free it. */
static int ms_free(struct wf__ms *m)
{
	struct wf__thread *th = wf__thread_cur();
	struct wf_task *t = th ? th->current : NULL;
	bool wait = false;

	if (!m)
		return 0;
	{
		bool busy;

		wf__spin_lock(&m->lock);
		busy = m->blen || (!m->multishot && m->wt);
		wf__spin_unlock(&m->lock);
		if (busy)
			return -EBUSY;	/* a task waits in it, or borrowed bytes are out */
	}
	if (m->multishot) {
		struct wf__worker *w = wf__core_enter(th);

		wf__spin_lock(&m->lock);
		if (m->wt) {
			/* A task still waits on it: freeing would pull the rug. */
			wf__spin_unlock(&m->lock);
			wf__core_exit(th, w);
			return -EBUSY;
		}
		if (m->armed || m->queued) {
			if (!t) {
				/* Outside a task nobody can wait: leave it to the runtime. */
				wf__spin_unlock(&m->lock);
				wf__core_exit(th, w);
				return -EPERM;
			}
			ask_cancel_locked(m, w);
			m->cgen = wf__wait_prepare_nocancel(t);
			m->closer = t;
			wait = true;
		}
		wf__spin_unlock(&m->lock);
		wf__core_exit(th, w);
		if (wait) {
			wf__wait_nocancel(t);
			/* The waker's unlock is its last touch of m. */
			wf__spin_lock(&m->lock);
			wf__spin_unlock(&m->lock);
		}
	}
	while (m->flen)
		close(f_take(m));
	if (m->hdata)
		wf__ur_buf_return(m->hring, m->hbid);
	free(m->fds);
	free(m->q);
	free(m->scratch);
	free(m);
	return 0;
}

int wf_listener_free(wf_listener *l)
{
	return ms_free((struct wf__ms *)l);
}

int wf_stream_free(wf_stream *s)
{
	return ms_free((struct wf__ms *)s);
}
