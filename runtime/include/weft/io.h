/* SPDX-License-Identifier: MIT */
/*
 * weft/io.h - sockets, pipes and files from tasks.
 *
 * Each call suspends the calling task (never its worker) until the kernel
 * has completed the operation: through the io_uring ring of the worker the
 * task runs on, or, under the epoll driver, by trying the system call
 * non-blocking and waiting for readiness (files then go through the
 * blocking pool). docs/io.md describes both drivers; wf_io(3).
 *
 * Conventions (those of the whole library, weft/runtime.h):
 *  - results are >= 0 on success and a negative errno value on failure;
 *    errno is never set. The kernel's own errors come back unchanged
 *    (-ECONNRESET, -EPIPE, -EMFILE, ...).
 *  - a bad argument (NULL buffer with a non-zero length, NULL path, a
 *    negative fd) gives -EINVAL or -EBADF, never a crash.
 *  - called outside a weft task: -EPERM. Called from a runtime created
 *    with no I/O driver (both drivers configured out): -ENOSYS.
 *  - every call counts against the task's cooperative budget: a task that
 *    reads a fast socket in a loop still yields to the others.
 *  - the _until variants take an absolute CLOCK_MONOTONIC deadline
 *    (WF_FOREVER: none). When it passes, or when the task is cancelled
 *    (wf_cancel()), the operation is cancelled in the kernel and the call
 *    returns -ETIMEDOUT or -ECANCELED only after the kernel has let go of
 *    the buffers: they may be reused or freed as soon as it returns. If
 *    the operation completed anyway (data moved), its result is returned
 *    instead, so no byte is lost.
 *  - close descriptors that weft has used with wf_close() (the epoll
 *    driver keeps per-descriptor state). Closing a descriptor does not
 *    end operations pending on it: wf_shutdown() a socket first.
 */
#ifndef WEFT_IO_H
#define WEFT_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct statx;
struct wf_runtime;

/* --- the driver --------------------------------------------------------------- */

enum wf_io_kind {
	WF_IO_NONE = 0,		/* no driver: I/O calls return -ENOSYS */
	WF_IO_URING = 1,
	WF_IO_EPOLL = 2,
};

/* io_uring features, as found by the start-up probe and as used. */
enum {
	WF_IO_F_COOP_TASKRUN = 1u << 0,		/* IORING_SETUP_COOP_TASKRUN */
	WF_IO_F_TASKRUN_FLAG = 1u << 1,		/* IORING_SETUP_TASKRUN_FLAG */
	WF_IO_F_SINGLE_ISSUER = 1u << 2,	/* IORING_SETUP_SINGLE_ISSUER */
	WF_IO_F_DEFER_TASKRUN = 1u << 3,	/* IORING_SETUP_DEFER_TASKRUN */
	WF_IO_F_SUBMIT_ALL = 1u << 4,		/* IORING_SETUP_SUBMIT_ALL */
	WF_IO_F_REG_RING_FD = 1u << 5,		/* IORING_REGISTER_RING_FDS */
	WF_IO_F_ACCEPT_MULTISHOT = 1u << 6,	/* multishot accept (5.19) */
	WF_IO_F_RECV_MULTISHOT = 1u << 7,	/* multishot recv (6.0) */
	WF_IO_F_BUF_RING = 1u << 8,		/* provided buffer rings (5.19) */
	WF_IO_F_EXT_ARG = 1u << 9,		/* timed waits without a timeout SQE */
	WF_IO_F_NODROP = 1u << 10,		/* completions are never dropped */
	WF_IO_F_FAST_POLL = 1u << 11,		/* internal poll, no worker thread */
};

struct wf_io_info {
	int kind;		/* enum wf_io_kind */
	const char *name;	/* "io_uring", "epoll" or "none" */
	unsigned found;		/* WF_IO_F_*: what the kernel offers (io_uring) */
	unsigned used;		/* WF_IO_F_*: what the rings were set up with */
	unsigned ring_entries;	/* submission queue size of each ring */
	uint64_t cancels;	/* operations cancelled in the kernel (deadline, wf_cancel) */
	uint64_t remote_cancels;	/* of those, handed to another worker's ring */
	/* Listeners and streams (below); 0 under epoll. */
	uint64_t ms_arms;	/* multishot accepts and receives armed */
	uint64_t ms_nobufs;	/* receives that found the buffer ring dry (-ENOBUFS) and
				 * went through a one-shot recv into the caller's buffer */
	uint64_t ms_fallbacks;	/* calls that ran one-shot for another reason: no
				 * core (stall compensation), buffer ring missing */
	uint64_t ms_kept;	/* provided buffers streams keep now, to be read or
				 * lent in place (at most half of each ring's) */
};

/*
 * wf_io_info - which I/O driver @rt runs and, for io_uring, the features
 * the start-up probe found and those in use (docs/io.md explains why
 * some found features are not used). Returns 0; -EINVAL for NULL.
 */
int wf_io_info(struct wf_runtime *rt, struct wf_io_info *info);

/* WF_IO_F_* the probe found, for the current runtime (0 outside one). */
unsigned wf_io_features(void);

/* --- sockets ------------------------------------------------------------------ */

/*
 * wf_socket - socket(2) with SOCK_CLOEXEC; the descriptor is set up for
 * the runtime's driver. Returns the descriptor; the kernel's error
 * (-EAFNOSUPPORT, -EMFILE, ...); -EPERM outside a task.
 */
int wf_socket(int domain, int type, int protocol);

/*
 * wf_listen_tcp - a TCP listening socket bound to @host (a numeric IPv4
 * or IPv6 address; NULL: 127.0.0.1) and @port (0: any; read it back with
 * getsockname()), with SO_REUSEADDR and a backlog of @backlog (0: 511).
 * Returns the descriptor; -EINVAL for a host that is not a numeric
 * address; the kernel's error (-EADDRINUSE, -EACCES, -EMFILE, ...).
 */
int wf_listen_tcp(const char *host, uint16_t port, int backlog);

/*
 * wf_accept - accept a connection on listening socket @fd; @addr and
 * @addrlen as for accept4(2) (both may be NULL); @flags: SOCK_CLOEXEC is
 * always added, SOCK_NONBLOCK is refused (-EINVAL).
 * Returns the new descriptor; -EBADF, -ENOTSOCK, -EINVAL (not
 * listening), -EMFILE/-ENFILE (out of descriptors: the connection stays
 * queued), -ETIMEDOUT, -ECANCELED, -EPERM.
 */
int wf_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);
int wf_accept_until(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags,
		    uint64_t deadline_ns);

/*
 * wf_connect - connect socket @fd to @addr. Returns 0; -ECONNREFUSED,
 * -ETIMEDOUT (the kernel's, or the deadline's), -ECANCELED, -EBADF,
 * -EINVAL (NULL @addr), the kernel's other errors.
 */
int wf_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
int wf_connect_until(int fd, const struct sockaddr *addr, socklen_t addrlen,
		     uint64_t deadline_ns);

/*
 * wf_recv / wf_send - recv(2) / send(2) on a connected socket; send never
 * raises SIGPIPE (MSG_NOSIGNAL is added). Return the bytes moved, which
 * may be fewer than @len; wf_recv returns 0 when the peer has closed (or
 * @len is 0). Errors: -EBADF, -ENOTSOCK, -ECONNRESET, -EPIPE (send after
 * the peer or we shut down), -EINVAL (NULL @buf with a non-zero @len),
 * -ETIMEDOUT, -ECANCELED, -EPERM.
 */
ssize_t wf_recv(int fd, void *buf, size_t len, int flags);
ssize_t wf_recv_until(int fd, void *buf, size_t len, int flags, uint64_t deadline_ns);
ssize_t wf_send(int fd, const void *buf, size_t len, int flags);
ssize_t wf_send_until(int fd, const void *buf, size_t len, int flags, uint64_t deadline_ns);

/*
 * wf_send_all - send all @len bytes, however many sends it takes.
 * Returns @len; or, on an error after part of the data went out, the
 * error (-EPIPE, -ECONNRESET, -ETIMEDOUT, -ECANCELED, ...) with the
 * count sent so far in *@sent when @sent is not NULL (wf_send_all_until).
 */
ssize_t wf_send_all(int fd, const void *buf, size_t len, int flags);
ssize_t wf_send_all_until(int fd, const void *buf, size_t len, int flags, size_t *sent,
			  uint64_t deadline_ns);

/*
 * wf_recvfrom / wf_sendto - datagrams (UDP); as recvfrom(2) / sendto(2).
 * @src/@srclen may be NULL. Errors as wf_recv / wf_send.
 */
ssize_t wf_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *src,
		    socklen_t *srclen);
ssize_t wf_recvfrom_until(int fd, void *buf, size_t len, int flags, struct sockaddr *src,
			  socklen_t *srclen, uint64_t deadline_ns);
ssize_t wf_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *dst,
		  socklen_t dstlen);
ssize_t wf_sendto_until(int fd, const void *buf, size_t len, int flags,
			const struct sockaddr *dst, socklen_t dstlen, uint64_t deadline_ns);

/* wf_recvmsg / wf_sendmsg - recvmsg(2) / sendmsg(2); -EINVAL for NULL @msg. */
ssize_t wf_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t wf_recvmsg_until(int fd, struct msghdr *msg, int flags, uint64_t deadline_ns);
ssize_t wf_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t wf_sendmsg_until(int fd, const struct msghdr *msg, int flags, uint64_t deadline_ns);

/*
 * wf_shutdown - shutdown(2): never suspends. Wakes operations pending on
 * the socket (a pending recv returns 0). Returns 0; -EBADF, -ENOTSOCK,
 * -ENOTCONN, -EINVAL.
 */
int wf_shutdown(int fd, int how);

/*
 * wf_close - forget the descriptor's driver state and close(2) it; never
 * suspends. Returns 0; -EBADF; the kernel's error.
 */
int wf_close(int fd);

/* --- files and pipes --------------------------------------------------------------- */

/*
 * wf_read / wf_write - read or write at @off (a file), or at the current
 * position when @off is -1 (pipes, sockets, terminals, appending).
 * Return the bytes moved (short counts happen: 0 is end of file for a
 * read); -EBADF, -EINVAL (NULL @buf with a non-zero @len, @off < -1),
 * -ESPIPE (an offset on a pipe), -EPIPE (write to a pipe with no
 * reader), -EISDIR, -ETIMEDOUT, -ECANCELED, -EPERM.
 */
ssize_t wf_read(int fd, void *buf, size_t len, off_t off);
ssize_t wf_read_until(int fd, void *buf, size_t len, off_t off, uint64_t deadline_ns);
ssize_t wf_write(int fd, const void *buf, size_t len, off_t off);
ssize_t wf_write_until(int fd, const void *buf, size_t len, off_t off, uint64_t deadline_ns);

/* Vectored forms; -EINVAL for NULL @iov or @iovcnt outside 1..IOV_MAX. */
ssize_t wf_readv(int fd, const struct iovec *iov, int iovcnt, off_t off);
ssize_t wf_writev(int fd, const struct iovec *iov, int iovcnt, off_t off);

/*
 * wf_openat - openat(2), O_CLOEXEC added. Returns the descriptor;
 * -EINVAL for NULL @path; the kernel's errors (-ENOENT, -EACCES, -EMFILE).
 */
int wf_openat(int dirfd, const char *path, int flags, mode_t mode);

/* Flags of wf_fsync(). */
#define WF_FSYNC_DATASYNC 1u

/* wf_fsync - fsync(2), or fdatasync(2) with WF_FSYNC_DATASYNC. 0; -EBADF, -EINVAL. */
int wf_fsync(int fd, unsigned flags);

/*
 * wf_statx - statx(2). Returns 0; -EINVAL for NULL @path or @stx; the
 * kernel's errors (-ENOENT, -EBADF, ...).
 */
int wf_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *stx);

/* --- readiness --------------------------------------------------------------------- */

/*
 * wf_poll_fd - wait until @fd reports one of @events (POLLIN, POLLOUT,
 * ...; POLLERR and POLLHUP are always reported) or the deadline passes.
 * Returns the events that are ready (> 0); -ETIMEDOUT, -ECANCELED,
 * -EBADF, -EINVAL (no events asked for), -EPERM.
 */
int wf_poll_fd(int fd, short events, uint64_t deadline_ns);

/* --- listeners and streams ------------------------------------------------------- */

/*
 * A listener keeps one accept armed on a listening socket for as long as
 * it lives, and a stream keeps one receive armed on a connected socket:
 * under io_uring, multishot accept and multishot recv with provided
 * buffer rings (one buffer ring per worker), so a busy server posts one
 * SQE per connection instead of one per accept or receive. What the
 * kernel completes while nobody waits is queued in the object, in order;
 * a waiting task gets its data copied straight into its buffer.
 *
 * Under the epoll driver, and under io_uring where the kernel lacks the
 * features or WEFT_IO_NOFEAT turns them off, the same calls run the
 * one-shot operations (readiness + accept4/recv loops under epoll), so
 * the API works everywhere. docs/io.md, "Listeners and streams".
 *
 * One task at a time may wait on an object (-EBUSY for a second one); any
 * task may use it, on any worker. The object does not own the descriptor:
 * free the object, then close the descriptor.
 */
typedef struct wf_listener wf_listener;
typedef struct wf_stream wf_stream;

/*
 * wf_listener_new - a listener on listening socket @fd. Nothing is armed
 * until the first wf_listener_accept(). Returns 0; -EBADF (negative fd);
 * -EINVAL (NULL @lp); -ENOMEM; -EPERM outside a task; -ENOSYS without a
 * driver.
 */
int wf_listener_new(wf_listener **lp, int fd);

/*
 * wf_listener_accept - the next accepted connection (SOCK_CLOEXEC, in
 * blocking mode as wf_accept() gives it); @addr/@addrlen as for
 * wf_accept() (filled with getpeername(2) under multishot). Returns the
 * descriptor; -EMFILE/-ENFILE (reported once: the connection stays
 * queued in the kernel and the next call takes it); -ETIMEDOUT,
 * -ECANCELED (nothing lost: a connection accepted meanwhile stays
 * queued in the listener); -EBUSY (another task waits); -EINVAL;
 * the kernel's errors (-EBADF, -EINVAL not listening, ...).
 */
int wf_listener_accept(wf_listener *l, struct sockaddr *addr, socklen_t *addrlen,
		       uint64_t deadline_ns);

/*
 * wf_listener_free - stop accepting: cancel the armed accept, wait (even
 * if the task is cancelled) for the kernel to let go of it, close the
 * connections accepted and not taken, free @l. Does not close the
 * listening socket. NULL is accepted. Returns 0; -EBUSY while a task
 * waits in wf_listener_accept() (nothing is freed); -EPERM outside a task
 * with an accept armed.
 */
int wf_listener_free(wf_listener *l);

/*
 * wf_stream_new - a stream receiving on connected socket @fd. Nothing is
 * armed until the first wf_stream_recv(). Errors as wf_listener_new().
 */
int wf_stream_new(wf_stream **sp, int fd);

/*
 * wf_stream_recv - up to @len bytes, in order, no byte lost or repeated,
 * whatever mix of multishot completions, queued data and one-shot
 * fallbacks (buffer ring dry: -ENOBUFS from the kernel) delivered them.
 * Returns the byte count (> 0); 0 once the peer has closed and
 * everything before was returned; -ECONNRESET and the kernel's other
 * errors (after the data that came before them); -ETIMEDOUT,
 * -ECANCELED (data that arrives meanwhile stays queued for the next
 * call); -EBUSY (another task waits); -EINVAL (NULL @s, or NULL @buf or
 * @len 0).
 */
ssize_t wf_stream_recv(wf_stream *s, void *buf, size_t len, uint64_t deadline_ns);

/*
 * wf_stream_borrow - the next bytes of the stream, in place: *@data
 * points to the returned count (> 0) of bytes, valid and unchanged until
 * wf_stream_release(@s), which must come before the next receive on @s.
 * Under io_uring with multishot receive they are, when possible, the
 * ring's provided buffer the kernel wrote (no copy at all: an echo or a
 * proxy sends them straight on); else data queued in the stream, or (the
 * one-shot path: epoll, Unix sockets, no buffer ring) a buffer of the
 * stream's that wf_recv() filled. Same order and guarantees as
 * wf_stream_recv(), with which it mixes freely. Returns the count; 0
 * once the peer has closed and everything before was returned; the
 * errors of wf_stream_recv(), -EBUSY also while borrowed bytes are not
 * released; -EINVAL: NULL @s or @data (*@data is NULL on any result
 * but a count).
 */
ssize_t wf_stream_borrow(wf_stream *s, const void **data, uint64_t deadline_ns);

/*
 * wf_stream_release - give back the bytes of the last
 * wf_stream_borrow(); *data must not be read any more. Any thread.
 * Returns 0; -EINVAL: NULL @s, or nothing is borrowed.
 */
int wf_stream_release(wf_stream *s);

/*
 * wf_stream_free - cancel the armed receive, wait (even if the task is
 * cancelled) until the kernel has posted its last completion, free @s
 * and the data queued in it. Does not close the socket. NULL is
 * accepted. Returns 0; -EBUSY while a task waits in wf_stream_recv() or
 * borrowed bytes are not released;
 * -EPERM outside a task with a receive armed.
 */
int wf_stream_free(wf_stream *s);

/* --- batches ------------------------------------------------------------------------ */

/*
 * A batch lets one task keep many operations in flight and take their
 * completions as they arrive, without a task per operation (a file copy
 * with 32 reads outstanding, a fan-out to many sockets). The task that
 * submits is the one that waits; the operations may complete on any
 * worker. Buffers belong to the kernel from submission until the
 * completion with the operation's tag has been taken by
 * wf_io_batch_wait(), or until wf_io_batch_free() returns.
 *
 * Under the epoll driver, socket and pipe operations wait for readiness
 * in the batch too; file operations (and connect) run to completion
 * through the blocking pool when they are submitted.
 */
typedef struct wf_io_batch wf_io_batch;

struct wf_io_done {
	uint64_t tag;		/* the tag given at submission */
	ssize_t res;		/* what the one-shot call would have returned */
};

/*
 * wf_io_batch_new - a batch with room for @max operations in flight
 * (1..65536). Returns 0; -EINVAL; -ENOMEM; -EPERM outside a task;
 * -ENOSYS without an I/O driver.
 */
int wf_io_batch_new(wf_io_batch **bp, unsigned max);

/*
 * Submit one operation, arguments as for the one-shot call of the same
 * name, with a @tag that its completion carries. Never suspends (except
 * epoll file operations, see above). Returns 0; -EAGAIN when @max
 * operations are in flight (wait for some first); -EINVAL, -EBADF for
 * bad arguments; -EPERM from another task than the batch's creator.
 */
int wf_io_batch_read(wf_io_batch *b, int fd, void *buf, size_t len, off_t off, uint64_t tag);
int wf_io_batch_write(wf_io_batch *b, int fd, const void *buf, size_t len, off_t off,
		      uint64_t tag);
int wf_io_batch_recv(wf_io_batch *b, int fd, void *buf, size_t len, int flags, uint64_t tag);
int wf_io_batch_send(wf_io_batch *b, int fd, const void *buf, size_t len, int flags,
		     uint64_t tag);
int wf_io_batch_accept(wf_io_batch *b, int fd, uint64_t tag);
int wf_io_batch_poll(wf_io_batch *b, int fd, short events, uint64_t tag);

/*
 * wf_io_batch_wait - take up to @max completions (in completion order),
 * waiting until at least one is there or the deadline passes.
 * Returns how many were stored in @out (>= 1); 0 when nothing is in
 * flight; -ETIMEDOUT; -ECANCELED (the operations stay in flight: free the
 * batch to cancel them); -EINVAL; -EPERM.
 */
int wf_io_batch_wait(wf_io_batch *b, struct wf_io_done *out, unsigned max,
		     uint64_t deadline_ns);

/* Operations submitted and not yet taken by wf_io_batch_wait(). */
unsigned wf_io_batch_inflight(const wf_io_batch *b);

/*
 * wf_io_batch_free - cancel what is still in flight, wait (even if the
 * task is cancelled) until the kernel has let go of every buffer, free
 * the batch. Completions not taken are dropped (a descriptor that an
 * accept returned meanwhile is closed). NULL is accepted. Returns 0;
 * -EPERM from another task than the creator.
 */
int wf_io_batch_free(wf_io_batch *b);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_IO_H */
