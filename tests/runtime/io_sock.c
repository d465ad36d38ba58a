// SPDX-License-Identifier: MIT
/*
 * Sockets on both drivers (io_util.h): TCP echo over 127.0.0.1, many
 * connections across workers, Unix socket pairs, UDP, peer close, reset,
 * EPIPE, EBADF/EINVAL, EMFILE, refused connections, partial writes
 * through send_all on small socket buffers, the driver choice.
 */
#include "io_util.h"

#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

/* --- driver choice ------------------------------------------------------------ */

TEST(bad_weft_io_is_einval)
{
	wf_runtime *rt = NULL;

	setenv("WEFT_IO", "bogus", 1);
	EXPECT_ERRNO(EINVAL, wf_runtime_new(&rt, NULL));
	EXPECT_EQ(NULL, rt);
}

static void *no_driver_body(void *arg)
{
	char b[4];
	wf_io_batch *bt;

	(void)arg;
	CHECK_EQ(-ENOSYS, wf_recv(0, b, sizeof(b), 0));
	CHECK_EQ(-ENOSYS, wf_poll_fd(0, POLLIN, 0));
	CHECK_EQ(-ENOSYS, wf_io_batch_new(&bt, 4));
	return NULL;
}

/* Both drivers configured out: workers park on futexes, I/O says ENOSYS. */
TEST(no_driver_is_enosys)
{
	struct wf_io_info info;
	wf_runtime *rt;
	void *res = (void *)1L;

	unsetenv("WEFT_IO");
	ASSERT_EQ(0, wf_runtime_new(&rt, NULL));
	ASSERT_EQ(0, wf_io_info(rt, &info));
	if (info.kind != WF_IO_NONE) {
		wf_runtime_free(rt);
		SKIP("this build has the %s driver", info.name);
	}
	EXPECT_STREQ("none", info.name);
	EXPECT_EQ(0, wf_block_on(rt, no_driver_body, NULL, &res));
	EXPECT_EQ(NULL, res);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

TEST(errors_outside_a_task)
{
	char b[4];

	EXPECT_ERRNO(EPERM, wf_recv(0, b, sizeof(b), 0));
	EXPECT_ERRNO(EPERM, wf_socket(AF_INET, SOCK_STREAM, 0));
	EXPECT_ERRNO(EPERM, wf_poll_fd(0, POLLIN, 0));
	EXPECT_ERRNO(EINVAL, wf_io_info(NULL, NULL));
}

/* The metrics snapshot and its dumps say which driver runs. */
IO_TEST(driver_in_metrics)
{
	wf_runtime *rt = arg;
	struct wf_metrics *m;
	struct wf_io_info info;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	CHECK_EQ(0, wf_io_info(rt, &info));
	CHECK_EQ(0, wf_metrics_snapshot(rt, &m));
	CHECK(m->io_driver && !strcmp(m->io_driver, info.name));
	CHECK_EQ(info.found, m->io_found);
	CHECK_EQ(info.used, m->io_used);
	CHECK_EQ(info.found, wf_io_features());
	/* Used features are a subset of those found. */
	CHECK_EQ(0, info.used & ~info.found);
	f = open_memstream(&text, &len);
	CHECK(f != NULL);
	CHECK_EQ(0, wf_metrics_dump(m, f, WF_METRICS_JSON));
	fclose(f);
	CHECK(strstr(text, "\"io_driver\":\"") != NULL);
	CHECK(strstr(text, info.name) != NULL);
	TH_LOG("%s: found %#x, used %#x", info.name, info.found, info.used);
	free(text);
	wf_metrics_free(m);
	return NULL;
}

/* --- echo ------------------------------------------------------------------------ */

static void *echo_conn(void *arg)
{
	int fd = (int)(long)arg;
	char buf[4096];
	ssize_t n;

	while ((n = wf_recv(fd, buf, sizeof(buf), 0)) > 0)
		if (wf_send_all(fd, buf, (size_t)n, 0) != n)
			break;
	wf_close(fd);
	return (void *)(long)(n < 0 ? n : 0);
}

struct echo_srv {
	int lfd;
	int conns;	/* accept this many, one task each */
};

static void *echo_server(void *arg)
{
	struct echo_srv *s = arg;

	for (int i = 0; i < s->conns; i++) {
		int c = wf_accept(s->lfd, NULL, NULL, 0);

		CHECK(c >= 0);
		CHECK_EQ(0, wf_spawn(NULL, echo_conn, (void *)(long)c));
	}
	return NULL;
}

IO_TEST(tcp_echo)
{
	struct echo_srv s = { .conns = 1 };
	unsigned char out[10000], in[10000];
	struct sockaddr_in peer;
	socklen_t pl = sizeof(peer);
	uint16_t port = 0;
	wf_task *srv;
	int c;

	s.lfd = io_listen(&port);
	CHECK(s.lfd >= 0);
	CHECK_EQ(0, wf_spawn(&srv, echo_server, &s));
	c = io_dial(port);
	CHECK(c >= 0);
	CHECK_EQ(0, getpeername(c, (struct sockaddr *)&peer, &pl));
	CHECK_EQ(htonl(INADDR_LOOPBACK), peer.sin_addr.s_addr);
	io_pattern(out, sizeof(out), 7, 0);
	CHECK_EQ(sizeof(out), wf_send_all(c, out, sizeof(out), 0));
	CHECK_EQ(0, io_recv_all(c, in, sizeof(in)));
	CHECK(io_check_pattern(in, sizeof(in), 7, 0));
	CHECK_EQ(0L, join_long(srv));
	/* Our half-close: the server sees 0, closes, and we see 0 too. */
	CHECK_EQ(0, wf_shutdown(c, SHUT_WR));
	CHECK_EQ(0, wf_recv(c, in, sizeof(in), 0));
	CHECK_EQ(0, wf_close(c));
	CHECK_EQ(0, wf_close(s.lfd));
	return NULL;
}

/* The same in a current-thread runtime: the block_on thread parks in the driver. */
IO_TEST_W(tcp_echo_current_thread, 0, 30)
{
	struct echo_srv s = { .conns = 4 };
	unsigned char out[3000], in[3000];
	uint16_t port = 0;
	wf_task *srv;
	int c[4];

	s.lfd = io_listen(&port);
	CHECK(s.lfd >= 0);
	CHECK_EQ(0, wf_spawn(&srv, echo_server, &s));
	for (int i = 0; i < 4; i++) {
		c[i] = io_dial(port);
		CHECK(c[i] >= 0);
	}
	for (int r = 0; r < 20; r++) {
		for (int i = 0; i < 4; i++) {
			io_pattern(out, sizeof(out), (unsigned)(r * 4 + i), 0);
			CHECK_EQ(sizeof(out), wf_send_all(c[i], out, sizeof(out), 0));
		}
		for (int i = 0; i < 4; i++) {
			CHECK_EQ(0, io_recv_all(c[i], in, sizeof(in)));
			CHECK(io_check_pattern(in, sizeof(in), (unsigned)(r * 4 + i), 0));
		}
		/* A timer while everything waits on I/O. */
		CHECK_EQ(-ETIMEDOUT, wf_recv_until(c[0], in, 1, 0, ms_from_now(1)));
	}
	CHECK_EQ(0L, join_long(srv));
	for (int i = 0; i < 4; i++)
		wf_close(c[i]);
	wf_close(s.lfd);
	return NULL;
}

#define MANY_CONNS (WTEST_TSAN ? 16 : 64)
#define MANY_ROUNDS 8

static _Atomic int workers_seen;

static void *many_client(void *arg)
{
	uint16_t port = (uint16_t)(long)arg;
	unsigned char out[1500], in[1500];
	unsigned seed = (unsigned)wf_worker_index() * 13u + port;
	int c = io_dial(port);

	CHECK(c >= 0);
	atomic_fetch_or(&workers_seen, 1 << (wf_worker_index() & 15));
	for (int r = 0; r < MANY_ROUNDS; r++) {
		io_pattern(out, sizeof(out), seed + (unsigned)r, 0);
		CHECK_EQ(sizeof(out), wf_send_all(c, out, sizeof(out), 0));
		CHECK_EQ(0, io_recv_all(c, in, sizeof(in)));
		CHECK(io_check_pattern(in, sizeof(in), seed + (unsigned)r, 0));
		atomic_fetch_or(&workers_seen, 1 << (wf_worker_index() & 15));
	}
	CHECK_EQ(0, wf_close(c));
	return NULL;
}

IO_TEST_W(many_connections, 4, 60)
{
	struct echo_srv s = { .conns = MANY_CONNS };
	wf_task *srv, *cl[MANY_CONNS];
	uint16_t port = 0;

	s.lfd = io_listen(&port);
	CHECK(s.lfd >= 0);
	CHECK_EQ(0, wf_spawn(&srv, echo_server, &s));
	for (int i = 0; i < MANY_CONNS; i++)
		CHECK_EQ(0, wf_spawn(&cl[i], many_client, (void *)(long)port));
	for (int i = 0; i < MANY_CONNS; i++)
		CHECK_EQ(0L, join_long(cl[i]));
	CHECK_EQ(0L, join_long(srv));
	/* Clients ran on more than one worker. */
	CHECK(__builtin_popcount((unsigned)atomic_load(&workers_seen)) > 1);
	wf_close(s.lfd);
	return NULL;
}

/* --- Unix socket pairs, peer close, EPIPE ----------------------------------------- */

static void *pair_reader(void *arg)
{
	int fd = (int)(long)arg;
	unsigned char buf[777];
	size_t total = 0;
	ssize_t n;

	while ((n = wf_recv(fd, buf, sizeof(buf), 0)) > 0) {
		CHECK(io_check_pattern(buf, (size_t)n, 3, total));
		total += (size_t)n;
	}
	CHECK_EQ(0, n);		/* the peer closed: 0, not an error */
	return (void *)(long)(total == 100000 ? 0 : -1);
}

IO_TEST(unix_socketpair)
{
	unsigned char buf[100000];
	wf_task *rd;
	int sv[2];
	char c;

	CHECK_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	CHECK_EQ(0, wf_spawn(&rd, pair_reader, (void *)(long)sv[1]));
	io_pattern(buf, sizeof(buf), 3, 0);
	CHECK_EQ(sizeof(buf), wf_send_all(sv[0], buf, sizeof(buf), 0));
	CHECK_EQ(0, wf_close(sv[0]));
	CHECK_EQ(0L, join_long(rd));
	/* The peer is gone: EPIPE (no SIGPIPE: MSG_NOSIGNAL). */
	CHECK_EQ(-EPIPE, wf_send(sv[1], "x", 1, 0));
	CHECK_EQ(0, wf_recv(sv[1], &c, 1, 0));
	CHECK_EQ(0, wf_close(sv[1]));
	return NULL;
}

/* --- resets ------------------------------------------------------------------------------ */

IO_TEST(peer_reset)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	uint16_t port = 0;
	int l, c, s;
	char buf[16];
	ssize_t r;

	l = io_listen(&port);
	CHECK(l >= 0);
	c = io_dial(port);
	CHECK(c >= 0);
	s = wf_accept(l, NULL, NULL, 0);
	CHECK(s >= 0);
	CHECK_EQ(5, wf_send(c, "hello", 5, 0));
	CHECK_EQ(5, wf_recv(s, buf, sizeof(buf), 0));
	/* Close with SO_LINGER 0: an RST instead of a FIN. */
	CHECK_EQ(0, setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	CHECK_EQ(0, wf_close(c));
	CHECK_EQ(-ECONNRESET, wf_recv(s, buf, sizeof(buf), 0));
	/* After the reset, sending fails (EPIPE once the error was reported). */
	r = wf_send(s, "x", 1, 0);
	CHECK(r == -EPIPE || r == -ECONNRESET);
	wf_close(s);
	wf_close(l);
	return NULL;
}

IO_TEST(connect_refused)
{
	uint16_t port = 0;
	int l = io_listen(&port), c;
	struct sockaddr_in a = io_loopback(port);

	CHECK(l >= 0);
	CHECK_EQ(0, wf_close(l));	/* nobody listens there now */
	c = wf_socket(AF_INET, SOCK_STREAM, 0);
	CHECK(c >= 0);
	CHECK_EQ(-ECONNREFUSED, wf_connect(c, (struct sockaddr *)&a, sizeof(a)));
	wf_close(c);
	return NULL;
}

/* --- bad arguments ---------------------------------------------------------------------- */

IO_TEST(bad_arguments)
{
	char buf[8];
	int sv[2], fd;

	CHECK_EQ(-EBADF, wf_recv(-1, buf, sizeof(buf), 0));
	CHECK_EQ(-EBADF, wf_send(-5, buf, sizeof(buf), 0));
	CHECK_EQ(-EBADF, wf_accept(-1, NULL, NULL, 0));
	CHECK_EQ(-EBADF, wf_poll_fd(-1, POLLIN, WF_FOREVER));
	CHECK_EQ(-EBADF, wf_close(-1));
	CHECK_EQ(-EINVAL, wf_listen_tcp("not-an-address", 0, 0));
	CHECK_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	CHECK_EQ(-EINVAL, wf_recv(sv[0], NULL, 8, 0));
	CHECK_EQ(-EINVAL, wf_send(sv[0], NULL, 8, 0));
	CHECK_EQ(-EINVAL, wf_recvmsg(sv[0], NULL, 0));
	CHECK_EQ(-EINVAL, wf_sendmsg(sv[0], NULL, 0));
	CHECK_EQ(-EINVAL, wf_connect(sv[0], NULL, 0));
	CHECK_EQ(-EINVAL, wf_accept(sv[0], NULL, NULL, SOCK_NONBLOCK));
	CHECK_EQ(-EINVAL, wf_poll_fd(sv[0], 0, WF_FOREVER));
	CHECK_EQ(-EINVAL, wf_read(sv[0], buf, sizeof(buf), -2));
	CHECK_EQ(-EINVAL, wf_readv(sv[0], NULL, 1, -1));
	/* A descriptor number that is not open: the kernel's EBADF. */
	fd = dup(sv[0]);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(-EBADF, wf_recv(fd, buf, sizeof(buf), 0));
	CHECK_EQ(-EBADF, wf_send(fd, buf, sizeof(buf), 0));
	CHECK_EQ(-EBADF, wf_read(fd, buf, sizeof(buf), -1));
	CHECK_EQ(-EBADF, wf_poll_fd(fd, POLLIN, WF_FOREVER));
	/* Not a socket. */
	{
		int p[2];

		CHECK_EQ(0, pipe2(p, O_CLOEXEC));
		CHECK_EQ(-ENOTSOCK, wf_accept(p[0], NULL, NULL, 0));
		CHECK_EQ(-ENOTSOCK, wf_recv(p[0], buf, sizeof(buf), 0));
		wf_close(p[0]);
		wf_close(p[1]);
	}
	/* Zero-length operations are fine. */
	CHECK_EQ(0, wf_send(sv[0], buf, 0, 0));
	wf_close(sv[0]);
	wf_close(sv[1]);
	return NULL;
}

/* --- EMFILE ------------------------------------------------------------------------------- */

IO_TEST(emfile)
{
	static int fds[256];
	struct rlimit old, low;
	int n = 0, l, c, s, r;
	uint16_t port = 0;
	char b[2];

	l = io_listen(&port);
	CHECK(l >= 0);
	c = io_dial(port);
	CHECK(c >= 0);
	CHECK_EQ(0, getrlimit(RLIMIT_NOFILE, &old));
	/* Use up every descriptor under a low limit. */
	low = old;
	low.rlim_cur = 128;
	CHECK_EQ(0, setrlimit(RLIMIT_NOFILE, &low));
	while (n < 256 && (r = dup(0)) >= 0)
		fds[n++] = r;
	CHECK(n < 256);
	CHECK_EQ(-EMFILE, wf_socket(AF_INET, SOCK_STREAM, 0));
	CHECK_EQ(-EMFILE, wf_listen_tcp("127.0.0.1", 0, 0));
	/* The pending connection stays queued: accept fails, then works. */
	CHECK_EQ(-EMFILE, wf_accept(l, NULL, NULL, 0));
	close(fds[--n]);
	s = wf_accept(l, NULL, NULL, 0);
	CHECK(s >= 0);
	CHECK_EQ(2, wf_send(c, "ok", 2, 0));
	CHECK_EQ(0, io_recv_all(s, b, 2));
	CHECK(b[0] == 'o' && b[1] == 'k');
	while (n)
		close(fds[--n]);
	CHECK_EQ(0, setrlimit(RLIMIT_NOFILE, &old));
	wf_close(s);
	wf_close(c);
	wf_close(l);
	return NULL;
}

/* --- UDP ----------------------------------------------------------------------------------- */

IO_TEST(udp_loopback)
{
	struct sockaddr_in a = io_loopback(0), b = io_loopback(0), from;
	socklen_t al = sizeof(a), fl = sizeof(from);
	char buf[64];
	int x, y;

	x = wf_socket(AF_INET, SOCK_DGRAM, 0);
	y = wf_socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(x >= 0 && y >= 0);
	CHECK_EQ(0, bind(x, (struct sockaddr *)&a, sizeof(a)));
	CHECK_EQ(0, bind(y, (struct sockaddr *)&b, sizeof(b)));
	CHECK_EQ(0, getsockname(x, (struct sockaddr *)&a, &al));
	al = sizeof(b);
	CHECK_EQ(0, getsockname(y, (struct sockaddr *)&b, &al));

	CHECK_EQ(5, wf_sendto(x, "ping!", 5, 0, (struct sockaddr *)&b, sizeof(b)));
	CHECK_EQ(5, wf_recvfrom(y, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl));
	CHECK_EQ(0, memcmp(buf, "ping!", 5));
	CHECK_EQ(sizeof(from), fl);
	CHECK_EQ(a.sin_port, from.sin_port);
	CHECK_EQ(htonl(INADDR_LOOPBACK), from.sin_addr.s_addr);

	/* sendmsg/recvmsg with two iovecs each. */
	{
		struct iovec o[2] = { { "ab", 2 }, { "cde", 3 } };
		char p1[3], p2[8];
		struct iovec i[2] = { { p1, sizeof(p1) }, { p2, sizeof(p2) } };
		struct msghdr om = { .msg_name = &a, .msg_namelen = sizeof(a), .msg_iov = o,
				     .msg_iovlen = 2 };
		struct msghdr im = { .msg_iov = i, .msg_iovlen = 2 };

		CHECK_EQ(5, wf_sendmsg(y, &om, 0));
		CHECK_EQ(5, wf_recvmsg(x, &im, 0));
		CHECK_EQ(0, memcmp(p1, "abc", 3));
		CHECK_EQ(0, memcmp(p2, "de", 2));
	}
	/* Nothing more to read: the deadline passes. */
	CHECK_EQ(-ETIMEDOUT, wf_recvfrom_until(y, buf, sizeof(buf), 0, NULL, NULL,
					       ms_from_now(20)));
	wf_close(x);
	wf_close(y);
	return NULL;
}

/* --- send_all with small buffers --------------------------------------------------------- */

#define BIG (1u << 20)

static void *slow_reader(void *arg)
{
	int fd = (int)(long)arg;
	unsigned char buf[1000];
	size_t total = 0;
	ssize_t n;

	while ((n = wf_recv(fd, buf, sizeof(buf), 0)) > 0) {
		CHECK(io_check_pattern(buf, (size_t)n, 9, total));
		total += (size_t)n;
		if ((total / 1000) % 64 == 0)
			wf_sleep_ns(100 * WF_NSEC_PER_USEC);
	}
	CHECK_EQ(0, n);
	return (void *)(long)(total == BIG ? 0 : -2);
}

IO_TEST(send_all_partial_writes)
{
	unsigned char *buf = malloc(BIG);
	int small = 4096, sv[2];
	wf_task *rd;
	size_t sent = 0;
	ssize_t r;

	CHECK(buf != NULL);
	io_pattern(buf, BIG, 9, 0);
	CHECK_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	CHECK_EQ(0, setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)));
	CHECK_EQ(0, setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)));
	/* One send cannot take 1 MiB here: a short count comes back. */
	r = wf_send_until(sv[0], buf, BIG, 0, ms_from_now(1000));
	CHECK(r > 0 && (size_t)r < BIG);
	CHECK_EQ(0, wf_spawn(&rd, slow_reader, (void *)(long)sv[1]));
	CHECK_EQ((ssize_t)(BIG - (size_t)r),
		 wf_send_all_until(sv[0], buf + r, BIG - (size_t)r, 0, &sent, WF_FOREVER));
	CHECK_EQ(BIG - (size_t)r, sent);
	CHECK_EQ(0, wf_shutdown(sv[0], SHUT_WR));
	CHECK_EQ(0L, join_long(rd));
	free(buf);
	wf_close(sv[0]);
	wf_close(sv[1]);
	return NULL;
}

/* --- poll ------------------------------------------------------------------------------------ */

IO_TEST(poll_fd)
{
	int p[2];
	char c;

	CHECK_EQ(0, pipe2(p, O_CLOEXEC));
	CHECK_EQ(-ETIMEDOUT, wf_poll_fd(p[0], POLLIN, ms_from_now(20)));
	CHECK_EQ(POLLOUT, wf_poll_fd(p[1], POLLOUT, WF_FOREVER) & POLLOUT);
	CHECK_EQ(1, wf_write(p[1], "z", 1, -1));
	CHECK(wf_poll_fd(p[0], POLLIN, ms_from_now(1000)) & POLLIN);
	CHECK_EQ(1, wf_read(p[0], &c, 1, -1));
	CHECK_EQ('z', c);
	wf_close(p[1]);
	CHECK(wf_poll_fd(p[0], POLLIN, ms_from_now(1000)) & (POLLHUP | POLLIN));
	wf_close(p[0]);
	return NULL;
}

/* --- I/O submitted by a thread that then blocks -------------------------------------------- */

/*
 * A receive submitted from a worker's thread completes when its data
 * comes, even while that thread is held in user code and its core is
 * driven by another thread: wf_block_in_place(), and stall compensation
 * of a poll blocked in usleep() or spinning on the CPU. Under io_uring the
 * kernel posts a completion through the thread that submitted it; with
 * COOP_TASKRUN that thread is not interrupted but woken from an
 * interruptible sleep, and one running user code posts it at its next
 * kernel entry (the scheduler tick at the latest). The data comes 30 ms
 * into a 400 ms hold; the receive must be done within 150 ms of it.
 */
enum { HOLD_IN_PLACE, HOLD_SLEEPING, HOLD_SPINNING };
#define HOLD_NS (400 * WF_NSEC_PER_MSEC)
#define HOLD_DATA_NS (30 * WF_NSEC_PER_MSEC)

struct held {
	int fd;			/* the receiving end */
	int peer;		/* the sending end */
	bool stream;		/* wf_stream_recv, else wf_recv */
	_Atomic uint64_t sent_ns, got_ns;
	_Atomic int stop;
};

static void *held_reader(void *arg)
{
	struct held *h = arg;
	wf_stream *s = NULL;
	ssize_t n;
	char c = 0;

	if (h->stream) {
		if (wf_stream_new(&s, h->fd))
			return (void *)1L;
		n = wf_stream_recv(s, &c, 1, WF_FOREVER);
	} else {
		n = wf_recv(h->fd, &c, 1, 0);
	}
	atomic_store(&h->got_ns, wf_now_ns());
	if (s)
		wf_stream_free(s);
	return (void *)(long)(n == 1 && c == 'h' ? 0 : 2);
}

static void *held_sender(void *arg)
{
	struct held *h = arg;

	usleep(HOLD_DATA_NS / 1000);
	atomic_store(&h->sent_ns, wf_now_ns());
	return (void *)(long)(send(h->peer, "h", 1, MSG_NOSIGNAL) == 1 ? 0 : 1);
}

static void *hold_sleep(void *arg)
{
	(void)arg;
	usleep(HOLD_NS / 1000);
	return NULL;
}

static void *hold(int how, bool stream)
{
	struct held h = { .stream = stream };
	uint16_t port = 0;
	int l = io_listen(&port);
	wf_task *rd, *tk;
	pthread_t snd;
	void *sres;

	CHECK(l >= 0);
	h.peer = io_dial(port);
	CHECK(h.peer >= 0);
	h.fd = wf_accept(l, NULL, NULL, 0);
	CHECK(h.fd >= 0);
	CHECK_EQ(0, wf_spawn(&rd, held_reader, &h));
	CHECK_EQ(0, wf_spawn(&tk, io_ticker, &h.stop)	/* work behind the held poll */);
	wf_sleep_ns(5 * WF_NSEC_PER_MSEC);	/* the receive is armed and submitted */
	CHECK_EQ(0, pthread_create(&snd, NULL, held_sender, &h));
	if (how == HOLD_IN_PLACE) {
		CHECK_EQ(0, wf_block_in_place(hold_sleep, NULL, NULL));
	} else if (how == HOLD_SLEEPING) {
		usleep(HOLD_NS / 1000);		/* blocks the poll: handed off */
	} else {
		uint64_t end = wf_now_ns() + HOLD_NS;

		while (wf_now_ns() < end)	/* spins: handed off */
			;
	}
	CHECK_EQ(0L, join_long(rd));
	atomic_store(&h.stop, 1);
	wf_join(tk, NULL);
	pthread_join(snd, &sres);
	CHECK_EQ(0L, (long)sres);
	printf("# received %.1f ms after the send\n",
	       (double)(atomic_load(&h.got_ns) - atomic_load(&h.sent_ns)) / 1e6);
	CHECK(atomic_load(&h.got_ns) - atomic_load(&h.sent_ns) < 150 * WF_NSEC_PER_MSEC);
	wf_close(h.fd);
	wf_close(h.peer);
	wf_close(l);
	return NULL;
}

IO_TEST_W(recv_completes_while_its_submitter_is_in_block_in_place, 1, 30)
{
	return hold(HOLD_IN_PLACE, false);
}

IO_TEST_W(recv_completes_while_its_submitter_sleeps_in_a_handed_off_poll, 1, 30)
{
	return hold(HOLD_SLEEPING, false);
}

IO_TEST_W(recv_completes_while_its_submitter_spins_in_a_handed_off_poll, 1, 30)
{
	return hold(HOLD_SPINNING, false);
}

IO_TEST_W(stream_recv_completes_while_its_submitter_is_in_block_in_place, 1, 30)
{
	return hold(HOLD_IN_PLACE, true);
}

IO_TEST_W(stream_recv_completes_while_its_submitter_sleeps_in_a_handed_off_poll, 1, 30)
{
	return hold(HOLD_SLEEPING, true);
}

IO_TEST_W(stream_recv_completes_while_its_submitter_spins_in_a_handed_off_poll, 1, 30)
{
	return hold(HOLD_SPINNING, true);
}

TEST_HARNESS_MAIN
