// SPDX-License-Identifier: MIT
/*
 * io_batch.c - many operations in flight from one task (weft/io.h,
 * docs/io.md "Batches").
 *
 * A batch is an array of entries, each one operation. Entries are free,
 * in flight, or finished; finished ones sit on the batch's done list
 * (under the batch's spinlock) until the owning task takes them in
 * wf_io_batch_wait(). The task sleeps with a wait generation recorded in
 * the batch under the same lock; whoever appends to the done list wakes
 * it (wait.c's protocol: a wake-up for an ended wait does nothing).
 *
 * io_uring: an entry carries a struct wf__ur_req whose on_done callback,
 * run by the owning ring's thread, stores the result and appends the
 * entry. Freeing a batch cancels what is in flight through the same
 * path as a one-shot call (io_uring.c) and waits for every completion.
 * epoll: an entry carries a readiness callback waiter (struct wf__ep_cb);
 * when the descriptor is reported ready the entry is appended as "ready"
 * and the task retries the system call in wf_io_batch_wait().
 */
#include "io.h"

#include <stdlib.h>
#include <unistd.h>

enum { E_FREE, E_INFLIGHT, E_DONE, E_READY };

struct bent {
	union {
		struct wf__ur_req ur;
		struct wf__ep_cb ep;
	} u;
	struct wf_io_batch *b;
	struct wf__io_op op;
	uint64_t tag;
	ssize_t res;
	_Atomic int state;
	struct bent *next;		/* free list (owner) or done list (lock) */
};

struct wf_io_batch {
	wf__spinlock lock;
	struct bent *done_head, *done_tail;	/* under lock */
	struct wf_task *waiter;			/* under lock */
	uint32_t gen;
	struct wf_task *owner;
	struct wf_runtime *rt;
	int kind;
	unsigned max, inflight;			/* owner only */
	struct bent *free_list;			/* owner only */
	struct bent ents[];
};

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* Append e to b's done list and wake the owner if it waits. Any thread. */
static void push_done(struct wf_io_batch *b, struct bent *e)
{
	wf__spin_lock(&b->lock);
	e->next = NULL;
	if (b->done_tail)
		b->done_tail->next = e;
	else
		b->done_head = e;
	b->done_tail = e;
	if (b->waiter) {
		wf__wake(b->waiter, b->gen, WF_WOKEN_OK);
		b->waiter = NULL;
	}
	/* Not a byte of b or e after this unlock: the owner may free them. */
	wf__spin_unlock(&b->lock);
}

#ifdef CONFIG_WEFT_IO_URING
static void ur_done(struct wf__ur_req *r)
{
	struct bent *e = container_of(r, struct bent, u.ur);

	e->res = r->res;
	atomic_store(&e->state, E_DONE);
	push_done(e->b, e);
}

#endif

#ifdef CONFIG_WEFT_IO_EPOLL
static void ep_ready(struct wf__ep_cb *c, uint32_t events)
{
	struct bent *e = container_of(c, struct bent, u.ep);

	(void)events;
	atomic_store(&e->state, E_READY);
	push_done(e->b, e);
}
#endif

static int check_owner(const struct wf_io_batch *b)
{
	struct wf_task *t = wf__task_cur();

	if (!t)
		return -EPERM;
	if (!b)
		return -EINVAL;
	return t == b->owner ? 0 : -EPERM;
}

int wf_io_batch_new(wf_io_batch **bp, unsigned max)
{
	struct wf_task *t = wf__task_cur();
	struct wf_io_batch *b;

	if (!bp || !max || max > 65536)
		return -EINVAL;
	if (!t)
		return -EPERM;
	if (!t->rt->io)
		return -ENOSYS;
	b = calloc(1, sizeof(*b) + (size_t)max * sizeof(struct bent));
	if (!b)
		return -ENOMEM;
	b->owner = t;
	b->rt = t->rt;
	b->kind = t->rt->io->kind;
	b->max = max;
	for (unsigned i = max; i-- > 0;) {
		b->ents[i].b = b;
		b->ents[i].next = b->free_list;
		b->free_list = &b->ents[i];
	}
	*bp = b;
	return 0;
}

static void put_free(struct wf_io_batch *b, struct bent *e)
{
	atomic_store(&e->state, E_FREE);
	e->next = b->free_list;
	b->free_list = e;
	b->inflight--;
}

/* The entry finished at submission (epoll): straight to the done list. */
static void finish_now(struct wf_io_batch *b, struct bent *e, ssize_t res)
{
	e->res = res;
	atomic_store(&e->state, E_DONE);
	push_done(b, e);
}

static int submit(struct wf_io_batch *b, const struct wf__io_op *op, uint64_t tag)
{
	int r = check_owner(b);
	struct bent *e;

	if (r)
		return r;
	if (!b->free_list)
		return -EAGAIN;
	e = b->free_list;
	b->free_list = e->next;
	b->inflight++;
	e->op = *op;
	e->tag = tag;
	atomic_store(&e->state, E_INFLIGHT);
	if (!wf__worker_cur() || wf__worker_cur()->rt != b->rt) {
		/* Inside wf_block_in_place: no ring to submit to. */
		finish_now(b, e, wf__io_sync_op(&e->op));
		return 0;
	}
#ifdef CONFIG_WEFT_IO_URING
	if (b->kind == WF_IO_URING) {
		e->u.ur.on_done = ur_done;
		if (!wf__ur_batch_submit(&e->u.ur, &e->op))
			finish_now(b, e, wf__io_sync_op(&e->op));	/* core taken */
		return 0;
	}
#endif
#ifdef CONFIG_WEFT_IO_EPOLL
	if (b->kind == WF_IO_EPOLL) {
		ssize_t res;

		e->u.ep.cb = ep_ready;
		res = wf__ep_batch_try(&e->op, &e->u.ep);
		if (res != -EAGAIN)
			finish_now(b, e, res);
		return 0;
	}
#endif
	finish_now(b, e, -ENOSYS);
	return 0;
}

int wf_io_batch_read(wf_io_batch *b, int fd, void *buf, size_t len, off_t off, uint64_t tag)
{
	struct wf__io_op op = { .opcode = WF_OP_READ, .fd = fd, .buf = buf, .len = len,
				.off = off };

	if (fd < 0)
		return -EBADF;
	if ((!buf && len) || off < -1)
		return -EINVAL;
	return submit(b, &op, tag);
}

int wf_io_batch_write(wf_io_batch *b, int fd, const void *buf, size_t len, off_t off,
		      uint64_t tag)
{
	struct wf__io_op op = { .opcode = WF_OP_WRITE, .fd = fd, .buf = (void *)buf,
				.len = len, .off = off };

	if (fd < 0)
		return -EBADF;
	if ((!buf && len) || off < -1)
		return -EINVAL;
	return submit(b, &op, tag);
}

int wf_io_batch_recv(wf_io_batch *b, int fd, void *buf, size_t len, int flags, uint64_t tag)
{
	struct wf__io_op op = { .opcode = WF_OP_RECV, .fd = fd, .buf = buf, .len = len,
				.flags = flags };

	if (fd < 0)
		return -EBADF;
	if (!buf && len)
		return -EINVAL;
	return submit(b, &op, tag);
}

int wf_io_batch_send(wf_io_batch *b, int fd, const void *buf, size_t len, int flags,
		     uint64_t tag)
{
	struct wf__io_op op = { .opcode = WF_OP_SEND, .fd = fd, .buf = (void *)buf,
				.len = len, .flags = flags };

	if (fd < 0)
		return -EBADF;
	if (!buf && len)
		return -EINVAL;
	return submit(b, &op, tag);
}

int wf_io_batch_accept(wf_io_batch *b, int fd, uint64_t tag)
{
	struct wf__io_op op = { .opcode = WF_OP_ACCEPT, .fd = fd };

	if (fd < 0)
		return -EBADF;
	return submit(b, &op, tag);
}

int wf_io_batch_poll(wf_io_batch *b, int fd, short events, uint64_t tag)
{
	struct wf__io_op op = { .opcode = WF_OP_POLL, .fd = fd,
				.mask = (unsigned)(unsigned short)events };

	if (fd < 0)
		return -EBADF;
	if (!events)
		return -EINVAL;
	return submit(b, &op, tag);
}

unsigned wf_io_batch_inflight(const wf_io_batch *b)
{
	return b ? b->inflight : 0;
}

/* Take the whole done list. */
static struct bent *take_done(struct wf_io_batch *b)
{
	struct bent *l;

	wf__spin_lock(&b->lock);
	l = b->done_head;
	b->done_head = b->done_tail = NULL;
	wf__spin_unlock(&b->lock);
	return l;
}

/* Put a list back at the head of the done list (it was taken first). */
static void give_back(struct wf_io_batch *b, struct bent *l)
{
	struct bent *tail = l;

	if (!l)
		return;
	while (tail->next)
		tail = tail->next;
	wf__spin_lock(&b->lock);
	tail->next = b->done_head;
	b->done_head = l;
	if (!b->done_tail)
		b->done_tail = tail;
	wf__spin_unlock(&b->lock);
}

/*
 * Sleep until the done list is non-empty (or the deadline): the reason.
 * nocancel: for wf_io_batch_free(), which must see every completion.
 */
static int sleep_for_done(struct wf_io_batch *b, struct wf_task *t, uint64_t deadline,
			  bool nocancel)
{
	uint32_t gen = nocancel ? wf__wait_prepare_nocancel(t) : wf__wait_prepare(t);
	int reason;

	wf__spin_lock(&b->lock);
	if (b->done_head) {
		wf__spin_unlock(&b->lock);
		if (nocancel)
			wf__wait_claim_nocancel(t, gen);
		else
			wf__wait_claim(t, gen);
		return WF_WOKEN_OK;
	}
	b->waiter = t;
	b->gen = gen;
	wf__spin_unlock(&b->lock);
	if (nocancel) {
		wf__wait_nocancel(t);
		reason = WF_WOKEN_OK;
	} else {
		reason = wf__wait(t, gen, deadline);
	}
	wf__spin_lock(&b->lock);
	if (b->waiter == t)
		b->waiter = NULL;
	wf__spin_unlock(&b->lock);
	return reason;
}

int wf_io_batch_wait(wf_io_batch *b, struct wf_io_done *out, unsigned max,
		     uint64_t deadline_ns)
{
	struct wf_task *t = wf__task_cur();
	int r = check_owner(b);

	if (r)
		return r;
	if (!out || !max)
		return -EINVAL;
	r = wf__coop();
	if (r)
		return r;
	for (;;) {
		struct bent *l = take_done(b), *keep = NULL, **kt = &keep;
		unsigned n = 0;

		if (!l) {
			int reason;

			if (!b->inflight)
				return 0;
			reason = sleep_for_done(b, t, deadline_ns, false);
			if (reason != WF_WOKEN_OK) {
				wf__spin_lock(&b->lock);
				l = b->done_head;
				wf__spin_unlock(&b->lock);
				if (!l)
					return wf__wait_errno(reason);
			}
			continue;
		}
		while (l) {
			struct bent *e = l;

			l = l->next;
			e->next = NULL;
#ifdef CONFIG_WEFT_IO_EPOLL
			if (atomic_load(&e->state) == E_READY) {
				/* epoll: ready, try again (re-registers on EAGAIN). */
				ssize_t res;

				atomic_store(&e->state, E_INFLIGHT);
				res = wf__ep_batch_try(&e->op, &e->u.ep);
				if (res == -EAGAIN)
					continue;
				e->res = res;
				atomic_store(&e->state, E_DONE);
			}
#endif
			if (n < max) {
				out[n].tag = e->tag;
				out[n].res = e->res;
				n++;
				put_free(b, e);
			} else {
				*kt = e;
				kt = &e->next;
			}
		}
		give_back(b, keep);
		if (n)
			return (int)n;
	}
}

/* A completion nobody will take: release what it handed over. */
static void drop(struct wf_io_batch *b, struct bent *e)
{
	if (atomic_load(&e->state) == E_DONE && e->op.opcode == WF_OP_ACCEPT && e->res >= 0)
		close((int)e->res);
	put_free(b, e);
}

int wf_io_batch_free(wf_io_batch *b)
{
	struct wf_task *t;
	int r;

	if (!b)
		return 0;
	r = check_owner(b);
	if (r)
		return r;
	t = b->owner;
	for (unsigned i = 0; i < b->max; i++) {
		struct bent *e = &b->ents[i];

		if (atomic_load(&e->state) != E_INFLIGHT)
			continue;
#ifdef CONFIG_WEFT_IO_URING
		if (b->kind == WF_IO_URING) {
			wf__ur_batch_cancel(&e->u.ur);
			continue;
		}
#endif
#ifdef CONFIG_WEFT_IO_EPOLL
		/* Unlinked before its callback ran: it is over. Otherwise it
		 * is on the done list already (the callback ran under the
		 * descriptor's lock, which the unlink took). */
		if (b->kind == WF_IO_EPOLL && wf__ep_batch_cancel(b->rt, &e->u.ep))
			put_free(b, e);
#endif
	}
	while (b->inflight) {
		struct bent *l = take_done(b);

		if (!l) {
			sleep_for_done(b, t, WF_FOREVER, true);
			continue;
		}
		while (l) {
			struct bent *e = l;

			l = l->next;
			drop(b, e);
		}
	}
	free(b);
	return 0;
}
