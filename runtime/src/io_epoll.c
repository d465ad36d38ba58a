// SPDX-License-Identifier: MIT
/*
 * io_epoll.c - the epoll driver, for kernels and containers without
 * io_uring. docs/io.md.
 *
 * Readiness, not completion: an operation is tried as a non-blocking
 * system call (MSG_DONTWAIT for sockets; the driver sets O_NONBLOCK on
 * other descriptors it is asked to wait on); on EAGAIN the task registers
 * interest and suspends until the descriptor is reported ready, then
 * tries again. Regular files are never "not ready": positional reads and
 * writes, open, fsync and statx go through the blocking pool.
 *
 * Each worker has an epoll instance and an eventfd in it (the unpark
 * signal). A descriptor is registered once, edge-triggered for input and
 * output, in the epoll set of the worker whose task first waited on it
 * (its owner); that worker reports its events, after every
 * WF_IO_INTERVAL polls, when it runs out of work and while parked.
 *
 * Per-descriptor state (struct ep_fd) lives in a table indexed by fd,
 * allocated in chunks and never freed before the runtime, so a late event
 * for a closed descriptor finds valid memory. It holds a spinlock, the
 * waiting tasks (a wf__waitq: wait.c's protocol, so deadlines and
 * cancellation just unlink the waiter; no buffer is lent to the kernel),
 * and seq, bumped on every event. A task reads seq before its attempt and
 * sleeps only if seq has not moved by the time its waiter is linked under
 * the lock: an event between the attempt and the wait is never lost.
 * Before sleeping it also re-arms the registration (EPOLL_CTL_MOD, which
 * reports current readiness again, or ADD when the descriptor number was
 * closed and reused behind our back).
 */
#include "io.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define EP_CHUNK 1024u
#define EP_MAX_FD (1u << 20)
#define EP_EFD_TAG UINT64_MAX
#define EP_EVENTS 64
#define WF_IO_INTERVAL 61u	/* busy worker: epoll_wait(0) every this many polls */

struct ep_fd {
	wf__spinlock lock;
	_Atomic uint32_t seq;
	int owner;			/* worker whose epoll set holds it, or -1 */
	struct wf__waitq waiters;	/* waiter.data: EPOLLIN / EPOLLOUT wanted */
};

struct ep_rt {
	_Atomic(struct ep_fd *) chunks[EP_MAX_FD / EP_CHUNK];
};

struct ep_worker {
	int epfd;
	int efd;
	unsigned ticks;
};

static struct ep_fd *ep_get(struct wf_runtime *rt, int fd, bool create)
{
	struct ep_rt *e = rt->io_priv;
	_Atomic(struct ep_fd *) *slot;
	struct ep_fd *c, *none = NULL;

	if (fd < 0 || (unsigned)fd >= EP_MAX_FD)
		return NULL;
	slot = &e->chunks[(unsigned)fd / EP_CHUNK];
	c = atomic_load_explicit(slot, memory_order_acquire);
	if (!c) {
		if (!create)
			return NULL;
		c = calloc(EP_CHUNK, sizeof(*c));
		if (!c)
			return NULL;
		for (unsigned i = 0; i < EP_CHUNK; i++)
			c[i].owner = -1;
		/* Release: the initialised chunk before its pointer. */
		if (!atomic_compare_exchange_strong(slot, &none, c)) {
			free(c);
			c = none;
		}
	}
	return &c[(unsigned)fd % EP_CHUNK];
}

/* Wake every waiter of e that @events concern; caller holds e->lock. */
static void wake_locked(struct ep_fd *e, uint32_t events)
{
	bool rd = events & (EPOLLIN | EPOLLRDHUP | EPOLLPRI | EPOLLHUP | EPOLLERR);
	bool wr = events & (EPOLLOUT | EPOLLHUP | EPOLLERR);
	struct wf__waiter *wt = e->waiters.head;

	atomic_fetch_add(&e->seq, 1);
	while (wt) {
		struct wf__waiter *next = wt->next;

		if (((wt->data & EPOLLIN) && rd) || ((wt->data & EPOLLOUT) && wr)) {
			wf__waitq_remove(&e->waiters, wt);
			wt->result = events;
			if (wt->task) {
				wf__wake(wt->task, wt->gen, WF_WOKEN_OK);
			} else {
				struct wf__ep_cb *c = (struct wf__ep_cb *)wt;

				c->cb(c, events);	/* a batch entry (io_batch.c) */
			}
		}
		wt = next;
	}
}

static void deliver(struct wf__worker *w, struct epoll_event *ev, int n)
{
	struct ep_worker *u = w->io;

	for (int i = 0; i < n; i++) {
		struct ep_fd *e;

		if (ev[i].data.u64 == EP_EFD_TAG) {
			eventfd_t v;

			eventfd_read(u->efd, &v);
			continue;
		}
		e = ep_get(w->rt, (int)ev[i].data.u64, false);
		if (!e)
			continue;
		wf__spin_lock(&e->lock);
		wake_locked(e, ev[i].events);
		wf__spin_unlock(&e->lock);
	}
}

static void ep_poll(struct wf__worker *w, bool idle)
{
	struct ep_worker *u = w->io;
	struct epoll_event ev[EP_EVENTS];
	int n;

	if (!idle && ++u->ticks % WF_IO_INTERVAL)
		return;
	n = epoll_wait(u->epfd, ev, EP_EVENTS, 0);
	if (n > 0)
		deliver(w, ev, n);
}

static void ep_park(struct wf__worker *w, uint64_t deadline)
{
	struct ep_worker *u = w->io;
	struct epoll_event ev[EP_EVENTS];
	struct timespec ts, *tsp = NULL;
	int n;

	if (deadline != UINT64_MAX) {
		uint64_t now = wf__now(), d = deadline > now ? deadline - now : 0;

		ts.tv_sec = (time_t)(d / 1000000000ull);
		ts.tv_nsec = (long)(d % 1000000000ull);
		tsp = &ts;
	}
	n = epoll_pwait2(u->epfd, ev, EP_EVENTS, tsp, NULL);
	if (n < 0 && errno == ENOSYS) {
		/* Before 5.11: millisecond timeouts, rounded up. */
		int ms = -1;

		if (tsp) {
			uint64_t d = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;

			ms = d / 1000000 >= INT32_MAX ? INT32_MAX : (int)((d + 999999) / 1000000);
		}
		n = epoll_wait(u->epfd, ev, EP_EVENTS, ms);
	}
	if (n > 0)
		deliver(w, ev, n);
}

static void ep_unpark(struct wf__worker *w)
{
	struct ep_worker *u = w->io;

	eventfd_write(u->efd, 1);
}

static int ep_rt_init(struct wf_runtime *rt)
{
	rt->io_priv = calloc(1, sizeof(struct ep_rt));
	return rt->io_priv ? 0 : -ENOMEM;
}

static void ep_rt_fini(struct wf_runtime *rt)
{
	struct ep_rt *e = rt->io_priv;

	if (!e)
		return;
	for (size_t i = 0; i < WF_ARRAY_SIZE(e->chunks); i++)
		free(atomic_load(&e->chunks[i]));
	free(e);
	rt->io_priv = NULL;
}

static int ep_worker_init(struct wf__worker *w)
{
	struct ep_worker *u = calloc(1, sizeof(*u));
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EP_EFD_TAG };
	int r;

	if (!u)
		return -ENOMEM;
	u->epfd = epoll_create1(EPOLL_CLOEXEC);
	u->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->epfd < 0 || u->efd < 0 || epoll_ctl(u->epfd, EPOLL_CTL_ADD, u->efd, &ev)) {
		r = -errno;
		if (u->epfd >= 0)
			close(u->epfd);
		if (u->efd >= 0)
			close(u->efd);
		free(u);
		return r;
	}
	w->io = u;
	w->io_pending = 1;	/* always polled (io.h) */
	return 0;
}

static void ep_worker_fini(struct wf__worker *w)
{
	struct ep_worker *u = w->io;

	if (!u)
		return;
	close(u->epfd);
	close(u->efd);
	free(u);
	w->io = NULL;
}

const struct wf__io_driver wf__io_epoll_driver = {
	.name = "epoll",
	.kind = WF_IO_EPOLL,
	.rt_init = ep_rt_init,
	.rt_fini = ep_rt_fini,
	.worker_init = ep_worker_init,
	.worker_fini = ep_worker_fini,
	.park = ep_park,
	.unpark = ep_unpark,
	.poll = ep_poll,
};

void wf__io_epoll_forget(struct wf_runtime *rt, int fd)
{
	struct ep_fd *e = ep_get(rt, fd, false);

	if (!e)
		return;
	wf__spin_lock(&e->lock);
	if (e->owner >= 0) {
		struct ep_worker *u = rt->workers[e->owner].io;

		epoll_ctl(u->epfd, EPOLL_CTL_DEL, fd, NULL);
		e->owner = -1;
	}
	/* Anyone still waiting tries again and sees the closed descriptor. */
	wake_locked(e, EPOLLIN | EPOLLOUT | EPOLLERR);
	wf__spin_unlock(&e->lock);
}

/* --- operations ------------------------------------------------------------------------- */

/*
 * Register interest (caller holds e->lock): re-arm the registration in its
 * owner's set, or add it to the calling worker's. 0 or -errno.
 */
static int arm_locked(struct ep_fd *e, int fd)
{
	/*
	 * Only the kernel's epoll sets are used here (epoll_ctl is safe from
	 * any thread), so no core section: a poll whose core the monitor
	 * took (stall compensation) registers with worker 0's set instead.
	 */
	struct wf__worker *w = wf__worker_cur();
	struct wf_task *t = wf__task_cur();

	if (!w)
		w = &t->rt->workers[0];
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET,
				  .data.u64 = (uint64_t)fd };

	if (e->owner >= 0 &&
	    !epoll_ctl(((struct ep_worker *)w->rt->workers[e->owner].io)->epfd, EPOLL_CTL_MOD,
		       fd, &ev))
		return 0;
	/* Not registered, or closed and reused: (re-)register here. */
	if (e->owner >= 0 && errno != ENOENT)
		return -errno;
	if (epoll_ctl(((struct ep_worker *)w->io)->epfd, EPOLL_CTL_ADD, fd, &ev) &&
	    errno != EEXIST)
		return -errno;
	e->owner = w->index;
	return 0;
}

/*
 * Wait until fd is reported ready for @want (EPOLLIN/EPOLLOUT) or its seq
 * moved past @seq. 0 (try again), -ETIMEDOUT, -ECANCELED, or the error of
 * registering the descriptor.
 */
static int wait_ready(struct ep_fd *e, int fd, uint32_t want, uint32_t seq, uint64_t deadline)
{
	struct wf_task *t = wf__task_cur();
	struct wf__waiter wt = { .task = t, .data = want };
	int reason, r;

	wf__spin_lock(&e->lock);
	if (atomic_load(&e->seq) != seq) {
		wf__spin_unlock(&e->lock);
		return 0;
	}
	r = arm_locked(e, fd);
	if (r) {
		wf__spin_unlock(&e->lock);
		return r;
	}
	wt.gen = wf__wait_prepare(t);
	wf__waitq_push(&e->waiters, &wt);
	wf__spin_unlock(&e->lock);

	reason = wf__wait(t, wt.gen, deadline);
	if (reason == WF_WOKEN_OK)
		return 0;
	wf__spin_lock(&e->lock);
	wf__waitq_remove(&e->waiters, &wt);
	wf__spin_unlock(&e->lock);
	/* Nothing is in the kernel's hands: unlinking is the cancellation. */
	atomic_fetch_add_explicit(&t->rt->io_cancels, 1, memory_order_relaxed);
	return wf__wait_errno(reason);
}

/* Make fd non-blocking (for read, write, accept, connect); 0 or -errno. */
static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK))
		return -errno;
	return 0;
}

/* One non-blocking attempt. */
static ssize_t try_op(struct wf__io_op *op)
{
	ssize_t r;

	switch (op->opcode) {
	case WF_OP_RECV:
		r = recv(op->fd, op->buf, op->len, op->flags | MSG_DONTWAIT);
		break;
	case WF_OP_SEND:
		r = send(op->fd, op->buf, op->len, op->flags | MSG_DONTWAIT | MSG_NOSIGNAL);
		break;
	case WF_OP_RECVMSG:
		r = recvmsg(op->fd, op->msg, op->flags | MSG_DONTWAIT);
		break;
	case WF_OP_SENDMSG:
		r = sendmsg(op->fd, op->msg, op->flags | MSG_DONTWAIT | MSG_NOSIGNAL);
		break;
	case WF_OP_ACCEPT:
		r = accept4(op->fd, op->addr, op->addrlen, op->flags | SOCK_CLOEXEC);
		break;
	case WF_OP_CONNECT:
		r = connect(op->fd, op->addr, op->alen);
		break;
	case WF_OP_READ:
		r = read(op->fd, op->buf, op->len);
		break;
	case WF_OP_WRITE:
		r = write(op->fd, op->buf, op->len);
		break;
	case WF_OP_READV:
		r = readv(op->fd, op->iov, op->iovcnt);
		break;
	case WF_OP_WRITEV:
		r = writev(op->fd, op->iov, op->iovcnt);
		break;
	case WF_OP_POLL: {
		struct pollfd p = { .fd = op->fd, .events = (short)op->mask };

		r = poll(&p, 1, 0);
		if (r == 0) {
			errno = EAGAIN;
			r = -1;
		} else if (r > 0) {
			if (p.revents & POLLNVAL) {
				errno = EBADF;
				r = -1;
			} else {
				r = p.revents;
			}
		}
		break;
	}
	default:
		errno = EINVAL;
		r = -1;
	}
	return r < 0 ? -errno : r;
}

struct blocking_job {
	struct wf__io_op *op;
	ssize_t res;
	bool ran;
};

static void *blocking_fn(void *arg)
{
	struct blocking_job *j = arg;

	j->res = wf__io_sync_op(j->op);
	j->ran = true;
	return NULL;
}

/* Files: the blocking pool (the task waits even if cancelled meanwhile). */
static ssize_t via_pool(struct wf__io_op *op)
{
	struct blocking_job j = { .op = op };
	int r = wf_run_blocking(blocking_fn, &j, NULL);

	return j.ran ? j.res : r;
}

static bool is_file_op(const struct wf__io_op *op)
{
	switch (op->opcode) {
	case WF_OP_OPENAT: case WF_OP_FSYNC: case WF_OP_STATX:
		return true;
	case WF_OP_READ: case WF_OP_WRITE: case WF_OP_READV: case WF_OP_WRITEV:
		return op->off >= 0;
	}
	return false;
}

/* The readiness op waits for: EPOLLIN, EPOLLOUT or both (poll). */
static uint32_t wants(const struct wf__io_op *op)
{
	switch (op->opcode) {
	case WF_OP_SEND: case WF_OP_SENDMSG: case WF_OP_WRITE: case WF_OP_WRITEV:
	case WF_OP_CONNECT:
		return EPOLLOUT;
	case WF_OP_POLL:
		return (op->mask & POLLOUT ? EPOLLOUT : 0) |
		       (op->mask & ~(unsigned)POLLOUT || !op->mask ? EPOLLIN : 0);
	}
	return EPOLLIN;
}

/* Set up what op needs before a non-blocking attempt; 0 or -errno. */
static int prepare_fd(const struct wf__io_op *op)
{
	switch (op->opcode) {
	case WF_OP_RECV: case WF_OP_SEND: case WF_OP_RECVMSG: case WF_OP_SENDMSG:
	case WF_OP_POLL:
		return 0;	/* MSG_DONTWAIT / poll: no flag needed */
	}
	return set_nonblock(op->fd);
}

ssize_t wf__ep_batch_try(struct wf__io_op *op, struct wf__ep_cb *c)
{
	struct wf_runtime *rt = wf__task_cur()->rt;
	struct ep_fd *e;
	uint32_t seq;
	ssize_t r;

	if (is_file_op(op) || op->opcode == WF_OP_CONNECT)
		return via_pool(op);
	r = prepare_fd(op);
	if (r)
		return r;
	e = ep_get(rt, op->fd, true);
	if (!e)
		return via_pool(op);
	for (;;) {
		seq = atomic_load(&e->seq);
		r = try_op(op);
		if (r != -EAGAIN && r != -EWOULDBLOCK)
			return r;
		wf__spin_lock(&e->lock);
		if (atomic_load(&e->seq) != seq) {
			wf__spin_unlock(&e->lock);
			continue;	/* an event came meanwhile: try again */
		}
		r = arm_locked(e, op->fd);
		if (r) {
			wf__spin_unlock(&e->lock);
			return r;
		}
		c->fd = op->fd;
		c->w.task = NULL;
		c->w.data = wants(op);
		wf__waitq_push(&e->waiters, &c->w);
		wf__spin_unlock(&e->lock);
		return -EAGAIN;
	}
}

bool wf__ep_batch_cancel(struct wf_runtime *rt, struct wf__ep_cb *c)
{
	struct ep_fd *e = ep_get(rt, c->fd, false);
	bool was;

	if (!e)
		return false;
	wf__spin_lock(&e->lock);
	was = c->w.linked;
	wf__waitq_remove(&e->waiters, &c->w);
	wf__spin_unlock(&e->lock);
	return was;
}

ssize_t wf__io_epoll_op(struct wf__io_op *op, uint64_t deadline_ns)
{
	struct wf_runtime *rt = wf__task_cur()->rt;
	bool connecting = false;
	struct ep_fd *e;
	ssize_t r;

	if (is_file_op(op))
		return via_pool(op);
	r = prepare_fd(op);
	if (r)
		return r;
	e = ep_get(rt, op->fd, true);
	if (!e)
		return via_pool(op);	/* beyond the table (or no memory): block in the pool */
	for (bool first = true;; first = false) {
		uint32_t seq = atomic_load(&e->seq);
		uint32_t want = wants(op);

		if (!first) {
			/* Every retry is an operation: a fast socket still yields. */
			r = wf__coop();
			if (r)
				return r;
		}
		if (connecting) {
			int err = 0;
			socklen_t l = sizeof(err);
			struct pollfd p = { .fd = op->fd, .events = POLLOUT };

			if (poll(&p, 1, 0) == 1) {
				if (getsockopt(op->fd, SOL_SOCKET, SO_ERROR, &err, &l))
					return -errno;
				return -err;
			}
			r = -EAGAIN;
		} else {
			r = try_op(op);
		}
		if (r == -EINPROGRESS && op->opcode == WF_OP_CONNECT) {
			connecting = true;
			r = -EAGAIN;
		}
		if (r != -EAGAIN && r != -EWOULDBLOCK)
			return r;
		r = wait_ready(e, op->fd, want, seq, deadline_ns);
		if (r < 0)
			return r;
	}
}
