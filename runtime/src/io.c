// SPDX-License-Identifier: MIT
/*
 * io.c - the public I/O calls (weft/io.h): argument checks, the budget,
 * and the hand-over to the runtime's driver (io_uring.c, io_epoll.c);
 * choosing that driver when a runtime is created. docs/io.md.
 *
 * Choice: the environment variable WEFT_IO ("uring", "epoll" or "auto")
 * wins over the Kconfig default (CONFIG_WEFT_IO_DEFAULT_*). "auto" takes
 * io_uring when the probe can set up a ring, else epoll. Forcing a driver
 * that is configured out gives -EOPNOTSUPP, forcing io_uring where the
 * kernel refuses it gives the kernel's error (-ENOSYS, -EPERM), and any
 * other WEFT_IO value -EINVAL, all from wf_runtime_new(). Under valgrind
 * "auto" takes epoll (see wf__io_init).
 */
#include "io.h"

#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

/* --- driver choice -------------------------------------------------------------- */

static const struct wf__io_driver *const uring_drv =
#ifdef CONFIG_WEFT_IO_URING
	&wf__io_uring_driver;
#else
	NULL;
#endif
static const struct wf__io_driver *const epoll_drv =
#ifdef CONFIG_WEFT_IO_EPOLL
	&wf__io_epoll_driver;
#else
	NULL;
#endif

enum { CHOOSE_AUTO, CHOOSE_URING, CHOOSE_EPOLL };

static int choice_default(void)
{
#if defined(CONFIG_WEFT_IO_DEFAULT_URING)
	return CHOOSE_URING;
#elif defined(CONFIG_WEFT_IO_DEFAULT_EPOLL)
	return CHOOSE_EPOLL;
#else
	return CHOOSE_AUTO;
#endif
}

/* WEFT_IO: the choice, or -EINVAL (reported once on stderr). */
static int choice_env(void)
{
	const char *e = getenv("WEFT_IO");

	if (!e || !*e)
		return choice_default();
	if (!strcmp(e, "auto"))
		return CHOOSE_AUTO;
	if (!strcmp(e, "uring") || !strcmp(e, "io_uring"))
		return CHOOSE_URING;
	if (!strcmp(e, "epoll"))
		return CHOOSE_EPOLL;
	fprintf(stderr, "weft: WEFT_IO=%s: expected uring, epoll or auto\n", e);
	return -EINVAL;
}

static int start_driver(struct wf_runtime *rt, const struct wf__io_driver *d)
{
	unsigned i;
	int r;

	rt->io = d;
	r = d->rt_init(rt);
	if (r) {
		rt->io = NULL;
		return r;
	}
	for (i = 0; i < rt->nworkers; i++) {
		r = d->worker_init(&rt->workers[i]);
		if (r)
			break;
	}
	if (r) {
		while (i--)
			d->worker_fini(&rt->workers[i]);
		d->rt_fini(rt);
		rt->io = NULL;
	}
	return r;
}

int wf__io_init(struct wf_runtime *rt)
{
	int c = choice_env(), r;

	if (c < 0)
		return c;
	if (c == CHOOSE_EPOLL)
		return epoll_drv ? start_driver(rt, epoll_drv) : -EOPNOTSUPP;
	if (c == CHOOSE_URING && !uring_drv)
		return -EOPNOTSUPP;
	r = -EOPNOTSUPP;
#ifdef CONFIG_WEFT_IO_URING
	/*
	 * valgrind holds its big lock across io_uring_enter (it does not know
	 * the call blocks) and cannot see what the kernel writes through a
	 * ring: "auto" means epoll under it.
	 */
	if (c == CHOOSE_AUTO && RUNNING_ON_VALGRIND && epoll_drv)
		return start_driver(rt, epoll_drv);
	r = wf__io_uring_probe(&rt->io_found);
	if (r == 0)
		r = start_driver(rt, uring_drv);
	else
		rt->io_found = 0;
#endif
	if (r == 0)
		return 0;
	if (c == CHOOSE_URING) {
		/* Forced: the runtime fails; say why once, with the way out. */
		fprintf(stderr,
			"weft: WEFT_IO=uring: io_uring cannot be used here: %s%s; unset WEFT_IO "
			"(or set it to epoll) to use the epoll driver\n",
			strerror(-r),
			r == -EPERM ? " (kernel.io_uring_disabled, or a seccomp filter)"
			: r == -ENOSYS ? " (a kernel without io_uring, or a seccomp filter)" : "");
		return r;
	}
	/* auto: io_uring missing or forbidden, fall back. */
	if (epoll_drv)
		return start_driver(rt, epoll_drv);
	return uring_drv ? r : 0;	/* no driver configured: I/O calls say -ENOSYS */
}

void wf__io_fini(struct wf_runtime *rt)
{
	const struct wf__io_driver *d = rt->io;

	if (!d || !rt->workers)
		return;
	for (unsigned i = 0; i < rt->nworkers; i++)
		d->worker_fini(&rt->workers[i]);
	d->rt_fini(rt);
	rt->io = NULL;
}

int wf_io_info(struct wf_runtime *rt, struct wf_io_info *info)
{
	if (!rt || !info)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	info->kind = rt->io ? rt->io->kind : WF_IO_NONE;
	info->name = rt->io ? rt->io->name : "none";
	info->found = rt->io_found;
	info->used = rt->io_used;
	info->ring_entries = rt->io_entries;
	info->cancels = atomic_load_explicit(&rt->io_cancels, memory_order_relaxed);
	info->remote_cancels = atomic_load_explicit(&rt->io_remote_cancels, memory_order_relaxed);
	info->ms_arms = atomic_load_explicit(&rt->io_ms_arms, memory_order_relaxed);
	info->ms_nobufs = atomic_load_explicit(&rt->io_ms_nobufs, memory_order_relaxed);
	info->ms_fallbacks = atomic_load_explicit(&rt->io_ms_fallbacks, memory_order_relaxed);
#ifdef CONFIG_WEFT_IO_URING
	if (rt->io && rt->io->kind == WF_IO_URING)
		info->ms_kept = wf__ur_kept(rt);
#endif
	return 0;
}

unsigned wf_io_features(void)
{
	struct wf__thread *th = wf__thread_cur();

	return th && th->rt ? th->rt->io_found : 0;
}

/* --- the blocking fallback ---------------------------------------------------------- */

/* One operation as a plain (blocking) system call. */
ssize_t wf__io_sync_op(struct wf__io_op *op)
{
	ssize_t r;

	switch (op->opcode) {
	case WF_OP_RECV:
		r = recv(op->fd, op->buf, op->len, op->flags);
		break;
	case WF_OP_SEND:
		r = send(op->fd, op->buf, op->len, op->flags | MSG_NOSIGNAL);
		break;
	case WF_OP_RECVMSG:
		r = recvmsg(op->fd, op->msg, op->flags);
		break;
	case WF_OP_SENDMSG:
		r = sendmsg(op->fd, op->msg, op->flags | MSG_NOSIGNAL);
		break;
	case WF_OP_ACCEPT:
		r = accept4(op->fd, op->addr, op->addrlen, op->flags | SOCK_CLOEXEC);
		break;
	case WF_OP_CONNECT:
		r = connect(op->fd, op->addr, op->alen);
		break;
	case WF_OP_READ:
		r = op->off < 0 ? read(op->fd, op->buf, op->len)
				: pread(op->fd, op->buf, op->len, op->off);
		break;
	case WF_OP_WRITE:
		r = op->off < 0 ? write(op->fd, op->buf, op->len)
				: pwrite(op->fd, op->buf, op->len, op->off);
		break;
	case WF_OP_READV:
		r = preadv(op->fd, op->iov, op->iovcnt, op->off);
		break;
	case WF_OP_WRITEV:
		r = pwritev(op->fd, op->iov, op->iovcnt, op->off);
		break;
	case WF_OP_OPENAT:
		r = openat(op->fd, op->path, op->flags | O_CLOEXEC, op->mode);
		break;
	case WF_OP_FSYNC:
		r = op->mask & WF_FSYNC_DATASYNC ? fdatasync(op->fd) : fsync(op->fd);
		break;
	case WF_OP_STATX:
		r = statx(op->fd, op->path, op->flags, op->mask, op->stx);
		break;
	case WF_OP_POLL: {
		struct pollfd p = { .fd = op->fd, .events = (short)op->mask };

		r = poll(&p, 1, -1);
		if (r > 0)
			r = p.revents & POLLNVAL ? (errno = EBADF, -1) : p.revents;
		break;
	}
	default:
		errno = EINVAL;
		r = -1;
	}
	return r < 0 ? -errno : r;
}

/* --- dispatch ------------------------------------------------------------------------- */

/*
 * Run op in the calling task: -EPERM outside a task, -ENOSYS without a
 * driver, -ECANCELED once cancelled; the budget is charged first (a task
 * looping on a fast socket yields here). A task on a thread that handed
 * its worker away (inside wf_block_in_place) makes the plain system call.
 */
static ssize_t io_run(struct wf__io_op *op, uint64_t deadline_ns)
{
	struct wf__thread *th = wf__thread_cur();
	struct wf_task *t = th ? th->current : NULL;
	const struct wf__io_driver *d;
	int r;

	if (!t)
		return -EPERM;
	d = t->rt->io;
	if (!d)
		return -ENOSYS;
	r = wf__coop();
	if (r)
		return r;
	if (!wf__worker_cur() || wf__worker_cur()->rt != t->rt)
		return wf__io_sync_op(op);
#ifdef CONFIG_WEFT_IO_URING
	if (d->kind == WF_IO_URING)
		return wf__io_uring_op(op, deadline_ns);
#endif
#ifdef CONFIG_WEFT_IO_EPOLL
	if (d->kind == WF_IO_EPOLL)
		return wf__io_epoll_op(op, deadline_ns);
#endif
	return -ENOSYS;
}

static bool in_task(void)
{
	return wf__task_cur() != NULL;
}

/* --- sockets ---------------------------------------------------------------------------- */

int wf_socket(int domain, int type, int protocol)
{
	int fd;

	if (!in_task())
		return -EPERM;
	fd = socket(domain, type | SOCK_CLOEXEC, protocol);
	return fd < 0 ? -errno : fd;
}

int wf_listen_tcp(const char *host, uint16_t port, int backlog)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	if (!in_task())
		return -EPERM;
	memset(&ss, 0, sizeof(ss));
	if (!host)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		len = sizeof(*a);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		len = sizeof(*a);
	} else {
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&ss, len) || listen(fd, backlog > 0 ? backlog : 511)) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

int wf_accept_until(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags,
		    uint64_t deadline_ns)
{
	struct wf__io_op op = { .opcode = WF_OP_ACCEPT, .fd = fd, .addr = addr,
				.addrlen = addrlen, .flags = flags };

	if (fd < 0)
		return -EBADF;
	if ((addr && !addrlen) || (flags & ~(SOCK_CLOEXEC)))
		return -EINVAL;
	return (int)io_run(&op, deadline_ns);
}

int wf_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	return wf_accept_until(fd, addr, addrlen, flags, WF_FOREVER);
}

int wf_connect_until(int fd, const struct sockaddr *addr, socklen_t addrlen,
		     uint64_t deadline_ns)
{
	struct wf__io_op op = { .opcode = WF_OP_CONNECT, .fd = fd,
				.addr = (struct sockaddr *)addr, .alen = addrlen };

	if (fd < 0)
		return -EBADF;
	if (!addr || !addrlen)
		return -EINVAL;
	return (int)io_run(&op, deadline_ns);
}

int wf_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	return wf_connect_until(fd, addr, addrlen, WF_FOREVER);
}

ssize_t wf_recv_until(int fd, void *buf, size_t len, int flags, uint64_t deadline_ns)
{
	struct wf__io_op op = { .opcode = WF_OP_RECV, .fd = fd, .buf = buf, .len = len,
				.flags = flags };

	if (fd < 0)
		return -EBADF;
	if (!buf && len)
		return -EINVAL;
	return io_run(&op, deadline_ns);
}

ssize_t wf_recv(int fd, void *buf, size_t len, int flags)
{
	return wf_recv_until(fd, buf, len, flags, WF_FOREVER);
}

ssize_t wf_send_until(int fd, const void *buf, size_t len, int flags, uint64_t deadline_ns)
{
	struct wf__io_op op = { .opcode = WF_OP_SEND, .fd = fd, .buf = (void *)buf,
				.len = len, .flags = flags };

	if (fd < 0)
		return -EBADF;
	if (!buf && len)
		return -EINVAL;
	return io_run(&op, deadline_ns);
}

ssize_t wf_send(int fd, const void *buf, size_t len, int flags)
{
	return wf_send_until(fd, buf, len, flags, WF_FOREVER);
}

ssize_t wf_send_all_until(int fd, const void *buf, size_t len, int flags, size_t *sent,
			  uint64_t deadline_ns)
{
	const char *p = buf;
	size_t done = 0;
	ssize_t r = 0;

	if (sent)
		*sent = 0;
	if (fd < 0)
		return -EBADF;
	if (!buf && len)
		return -EINVAL;
	if (len > SSIZE_MAX)
		return -EINVAL;
	do {
		r = wf_send_until(fd, p + done, len - done, flags, deadline_ns);
		if (r < 0)
			break;
		done += (size_t)r;
		if (sent)
			*sent = done;
	} while (done < len);
	return r < 0 ? r : (ssize_t)done;
}

ssize_t wf_send_all(int fd, const void *buf, size_t len, int flags)
{
	return wf_send_all_until(fd, buf, len, flags, NULL, WF_FOREVER);
}

ssize_t wf_recvmsg_until(int fd, struct msghdr *msg, int flags, uint64_t deadline_ns)
{
	struct wf__io_op op = { .opcode = WF_OP_RECVMSG, .fd = fd, .msg = msg, .flags = flags };

	if (fd < 0)
		return -EBADF;
	if (!msg)
		return -EINVAL;
	return io_run(&op, deadline_ns);
}

ssize_t wf_recvmsg(int fd, struct msghdr *msg, int flags)
{
	return wf_recvmsg_until(fd, msg, flags, WF_FOREVER);
}

ssize_t wf_sendmsg_until(int fd, const struct msghdr *msg, int flags, uint64_t deadline_ns)
{
	struct wf__io_op op = { .opcode = WF_OP_SENDMSG, .fd = fd, .msg = (struct msghdr *)msg,
				.flags = flags };

	if (fd < 0)
		return -EBADF;
	if (!msg)
		return -EINVAL;
	return io_run(&op, deadline_ns);
}

ssize_t wf_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	return wf_sendmsg_until(fd, msg, flags, WF_FOREVER);
}

ssize_t wf_recvfrom_until(int fd, void *buf, size_t len, int flags, struct sockaddr *src,
			  socklen_t *srclen, uint64_t deadline_ns)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t r;

	if (!buf && len)
		return -EINVAL;
	if (src && !srclen)
		return -EINVAL;
	if (src) {
		msg.msg_name = src;
		msg.msg_namelen = *srclen;
	}
	r = wf_recvmsg_until(fd, &msg, flags, deadline_ns);
	if (r >= 0 && src)
		*srclen = msg.msg_namelen;
	return r;
}

ssize_t wf_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *src,
		    socklen_t *srclen)
{
	return wf_recvfrom_until(fd, buf, len, flags, src, srclen, WF_FOREVER);
}

ssize_t wf_sendto_until(int fd, const void *buf, size_t len, int flags,
			const struct sockaddr *dst, socklen_t dstlen, uint64_t deadline_ns)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_name = (void *)dst, .msg_namelen = dst ? dstlen : 0 };

	if (!buf && len)
		return -EINVAL;
	return wf_sendmsg_until(fd, &msg, flags, deadline_ns);
}

ssize_t wf_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *dst,
		  socklen_t dstlen)
{
	return wf_sendto_until(fd, buf, len, flags, dst, dstlen, WF_FOREVER);
}

int wf_shutdown(int fd, int how)
{
	if (fd < 0)
		return -EBADF;
	return shutdown(fd, how) ? -errno : 0;
}

int wf_close(int fd)
{
	struct wf__thread *th = wf__thread_cur();

	if (fd < 0)
		return -EBADF;
#ifdef CONFIG_WEFT_IO_EPOLL
	if (th && th->rt && th->rt->io == &wf__io_epoll_driver)
		wf__io_epoll_forget(th->rt, fd);
#else
	(void)th;
#endif
	/* Linux releases the descriptor even when close reports an error. */
	return close(fd) ? -errno : 0;
}

/* --- files and pipes ------------------------------------------------------------------------ */

ssize_t wf_read_until(int fd, void *buf, size_t len, off_t off, uint64_t deadline_ns)
{
	struct wf__io_op op = { .opcode = WF_OP_READ, .fd = fd, .buf = buf, .len = len,
				.off = off };

	if (fd < 0)
		return -EBADF;
	if ((!buf && len) || off < -1)
		return -EINVAL;
	return io_run(&op, deadline_ns);
}

ssize_t wf_read(int fd, void *buf, size_t len, off_t off)
{
	return wf_read_until(fd, buf, len, off, WF_FOREVER);
}

ssize_t wf_write_until(int fd, const void *buf, size_t len, off_t off, uint64_t deadline_ns)
{
	struct wf__io_op op = { .opcode = WF_OP_WRITE, .fd = fd, .buf = (void *)buf,
				.len = len, .off = off };

	if (fd < 0)
		return -EBADF;
	if ((!buf && len) || off < -1)
		return -EINVAL;
	return io_run(&op, deadline_ns);
}

ssize_t wf_write(int fd, const void *buf, size_t len, off_t off)
{
	return wf_write_until(fd, buf, len, off, WF_FOREVER);
}

static ssize_t rw_vec(int opcode, int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	struct wf__io_op op = { .opcode = opcode, .fd = fd, .iov = iov, .iovcnt = iovcnt,
				.off = off };

	if (fd < 0)
		return -EBADF;
	if (!iov || iovcnt < 1 || iovcnt > IOV_MAX || off < -1)
		return -EINVAL;
	return io_run(&op, WF_FOREVER);
}

ssize_t wf_readv(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	return rw_vec(WF_OP_READV, fd, iov, iovcnt, off);
}

ssize_t wf_writev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	return rw_vec(WF_OP_WRITEV, fd, iov, iovcnt, off);
}

int wf_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	struct wf__io_op op = { .opcode = WF_OP_OPENAT, .fd = dirfd, .path = path,
				.flags = flags, .mode = mode };

	if (!path)
		return -EINVAL;
	return (int)io_run(&op, WF_FOREVER);
}

int wf_fsync(int fd, unsigned flags)
{
	struct wf__io_op op = { .opcode = WF_OP_FSYNC, .fd = fd, .mask = flags };

	if (fd < 0)
		return -EBADF;
	if (flags & ~WF_FSYNC_DATASYNC)
		return -EINVAL;
	return (int)io_run(&op, WF_FOREVER);
}

int wf_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *stx)
{
	struct wf__io_op op = { .opcode = WF_OP_STATX, .fd = dirfd, .path = path,
				.flags = flags, .mask = mask, .stx = stx };

	if (!path || !stx)
		return -EINVAL;
	return (int)io_run(&op, WF_FOREVER);
}

int wf_poll_fd(int fd, short events, uint64_t deadline_ns)
{
	struct wf__io_op op = { .opcode = WF_OP_POLL, .fd = fd,
				.mask = (unsigned)(unsigned short)events };

	if (fd < 0)
		return -EBADF;
	if (!events)
		return -EINVAL;
	return (int)io_run(&op, deadline_ns);
}
