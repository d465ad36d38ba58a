// SPDX-License-Identifier: MIT
/*
 * Listeners and streams (weft/io.h) on both drivers (io_util.h): under
 * io_uring multishot accept and multishot recv on provided buffer rings,
 * under epoll (and with WEFT_IO_NOFEAT) the one-shot calls behind the
 * same API. Many connections accepted, many messages through buffer
 * rings small enough to run dry (no byte lost or reordered), deadlines
 * and cancellation with data in flight, free while armed, peer close and
 * reset, EMFILE, tasks stolen across 4 workers, a current-thread runtime.
 */
#include "io_util.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

/* The runtime's I/O info, from inside a task. */
static struct wf_io_info ms_info(void)
{
	struct wf_io_info i;

	memset(&i, 0, sizeof(i));
	wf_io_info(wf_runtime_current(), &i);
	return i;
}

static bool ms_on(unsigned bits)
{
	struct wf_io_info i = ms_info();

	return i.kind == WF_IO_URING && (i.used & bits) == bits;
}

/* A connected TCP pair over 127.0.0.1: 0 or -errno. */
static int tcp_pair(int sv[2])
{
	uint16_t port = 0;
	int l = io_listen(&port);

	if (l < 0)
		return l;
	sv[0] = io_dial(port);
	sv[1] = sv[0] >= 0 ? wf_accept(l, NULL, NULL, 0) : -1;
	wf_close(l);
	return sv[0] >= 0 && sv[1] >= 0 ? 0 : -EIO;
}

/* A test run with the environment variable @var set to @val. */
#define IO_TEST_ENV(name, workers, var, val) \
	static void *name##_body(void *arg); \
	TEST_TIMEOUT(name##_uring, 60) \
	{ \
		setenv(var, val, 1); \
		io_run_test(_metadata, "uring", workers, name##_body); \
		unsetenv(var); \
	} \
	TEST_TIMEOUT(name##_epoll, 60) \
	{ \
		setenv(var, val, 1); \
		io_run_test(_metadata, "epoll", workers, name##_body); \
		unsetenv(var); \
	} \
	static void *name##_body(void __attribute__((unused)) *arg)

/* --- accept ---------------------------------------------------------------------- */

#define NCONN 200

struct dialer {
	uint16_t port;
	int n;
};

static void *dial_many(void *arg)
{
	struct dialer *d = arg;
	int fds[NCONN];

	for (int i = 0; i < d->n; i++) {
		fds[i] = io_dial(d->port);
		CHECK(fds[i] >= 0);
		CHECK_EQ(1, wf_send(fds[i], &(char){ (char)i }, 1, 0));
	}
	for (int i = 0; i < d->n; i++) {
		char b;

		/* The server answers each connection, then closes it. */
		CHECK_EQ(1, wf_recv(fds[i], &b, 1, 0));
		CHECK_EQ(0, wf_recv(fds[i], &b, 1, 0));
		wf_close(fds[i]);
	}
	return NULL;
}

IO_TEST(listener_accepts_many)
{
	struct dialer d = { .n = NCONN };
	int l = io_listen(&d.port), got = 0;
	wf_listener *ls;
	wf_task *t;

	CHECK(l >= 0);
	CHECK_EQ(0, wf_listener_new(&ls, l));
	CHECK_EQ(0, wf_spawn(&t, dial_many, &d));
	while (got < NCONN) {
		struct sockaddr_in a;
		socklen_t al = sizeof(a);
		int c = wf_listener_accept(ls, (struct sockaddr *)&a, &al, ms_from_now(10000));
		char b;

		CHECK(c >= 0);
		CHECK_EQ(sizeof(a), al);
		CHECK_EQ(htonl(INADDR_LOOPBACK), a.sin_addr.s_addr);
		/* Blocking mode, close-on-exec, as wf_accept() gives them. */
		CHECK_EQ(0, fcntl(c, F_GETFL) & O_NONBLOCK);
		CHECK(fcntl(c, F_GETFD) & FD_CLOEXEC);
		CHECK_EQ(1, wf_recv(c, &b, 1, 0));
		CHECK_EQ(1, wf_send(c, &b, 1, 0));
		wf_close(c);
		got++;
	}
	CHECK_EQ(0L, join_long(t));
	/* Nothing more: the deadline passes, the accept stays armed. */
	CHECK_EQ(-ETIMEDOUT, wf_listener_accept(ls, NULL, NULL, ms_from_now(20)));
	if (ms_on(WF_IO_F_ACCEPT_MULTISHOT))
		CHECK(ms_info().ms_arms >= 1);
	CHECK_EQ(0, wf_listener_free(ls));
	CHECK_EQ(0, wf_close(l));
	return NULL;
}

/* Connections accepted by the kernel while nobody waits are closed by free. */
IO_TEST(listener_free_with_queued)
{
	uint16_t port = 0;
	int l = io_listen(&port), c[4], s;
	wf_listener *ls;
	char b;

	CHECK(l >= 0);
	CHECK_EQ(0, wf_listener_new(&ls, l));
	for (int i = 0; i < 4; i++) {
		c[i] = io_dial(port);
		CHECK(c[i] >= 0);
	}
	s = wf_listener_accept(ls, NULL, NULL, ms_from_now(5000));
	CHECK(s >= 0);
	wf_close(s);
	wf_sleep_ns(50000000);
	CHECK_EQ(0, wf_listener_free(ls));
	/* Closing the listener resets what is still in its backlog. */
	CHECK_EQ(0, wf_close(l));
	/* Every client sees its connection closed: by us, by free(), or reset. */
	for (int i = 0; i < 4; i++) {
		ssize_t r = wf_recv_until(c[i], &b, 1, 0, ms_from_now(5000));

		CHECK(r == 0 || r == -ECONNRESET);
		wf_close(c[i]);
	}
	return NULL;
}

IO_TEST(listener_emfile)
{
	struct rlimit old, low;
	uint16_t port = 0;
	int l, c, s, fds[256], n = 0, r;
	wf_listener *ls;
	char b[2];

	l = io_listen(&port);
	CHECK(l >= 0);
	CHECK_EQ(0, wf_listener_new(&ls, l));
	CHECK_EQ(0, getrlimit(RLIMIT_NOFILE, &old));
	low = old;
	low.rlim_cur = 128;
	CHECK_EQ(0, setrlimit(RLIMIT_NOFILE, &low));
	c = io_dial(port);
	CHECK(c >= 0);
	while (n < 256 && (r = dup(0)) >= 0)
		fds[n++] = r;
	CHECK(n < 256);
	/* Reported once; the connection stays queued in the kernel. */
	r = wf_listener_accept(ls, NULL, NULL, ms_from_now(5000));
	CHECK_EQ(-EMFILE, r);
	close(fds[--n]);
	s = wf_listener_accept(ls, NULL, NULL, ms_from_now(5000));
	CHECK(s >= 0);
	CHECK_EQ(2, wf_send(c, "ok", 2, 0));
	CHECK_EQ(0, io_recv_all(s, b, 2));
	CHECK(b[0] == 'o' && b[1] == 'k');
	while (n)
		close(fds[--n]);
	CHECK_EQ(0, setrlimit(RLIMIT_NOFILE, &old));
	CHECK_EQ(0, wf_listener_free(ls));
	wf_close(s);
	wf_close(c);
	wf_close(l);
	return NULL;
}

/* --- receive --------------------------------------------------------------------------- */

#define STREAM_BYTES (2u << 20)

struct pump {
	int fd;
	unsigned seed;
	size_t len;
	bool close_after;
};

/* Send len pattern bytes in chunks of varying size, then shut down. */
static void *pump(void *arg)
{
	struct pump *p = arg;
	/* Not a thread's static buffer: this task moves between threads. */
	unsigned char *chunk = malloc(8192);
	uint32_t rng = p->seed * 2654435761u + 1;
	size_t off = 0;

	CHECK(chunk);

	while (off < p->len) {
		size_t n = 1 + xorshift(&rng) % 8192;

		if (n > p->len - off)
			n = p->len - off;
		io_pattern(chunk, n, p->seed, off);
		CHECK_EQ((ssize_t)n, wf_send_all(p->fd, chunk, n, 0));
		off += n;
		if (xorshift(&rng) % 16 == 0)
			wf_yield();
	}
	free(chunk);
	if (p->close_after)
		CHECK_EQ(0, wf_shutdown(p->fd, SHUT_WR));
	return NULL;
}

enum { RD_RECV, RD_BORROW, RD_MIXED };

/*
 * Read through a stream until end of file; check every byte in order.
 * @how: wf_stream_recv, wf_stream_borrow (checked in place, sometimes
 * after a yield, then released), or either at random.
 */
static long drain_stream_how(int fd, unsigned seed, size_t want, bool yields, int how)
{
	unsigned char buf[5000];
	uint32_t rng = seed + 99;
	wf_stream *s;
	size_t off = 0;
	ssize_t r;

	if (wf_stream_new(&s, fd))
		return -1;
	for (;;) {
		size_t n = 1 + xorshift(&rng) % sizeof(buf);
		bool borrow = how == RD_BORROW || (how == RD_MIXED && xorshift(&rng) % 2);

		if (borrow) {
			const void *d = NULL;

			r = wf_stream_borrow(s, &d, ms_from_now(20000));
			if (r <= 0) {
				if (d)
					return -4;	/* *data NULL on anything but a count */
				break;
			}
			if (!d || !io_check_pattern(d, (size_t)r, seed, off))
				return -5;
			if (yields && xorshift(&rng) % 4 == 0)
				wf_yield();	/* maybe released on another thread */
			if (!io_check_pattern(d, (size_t)r, seed, off))
				return -6;	/* changed while lent */
			if (wf_stream_release(s))
				return -7;
		} else {
			r = wf_stream_recv(s, buf, n, ms_from_now(20000));
			if (r <= 0)
				break;
			if ((size_t)r > n || !io_check_pattern(buf, (size_t)r, seed, off))
				return -2;
		}
		off += (size_t)r;
		if (yields && xorshift(&rng) % 4 == 0)
			wf_yield();
	}
	wf_stream_free(s);
	if (r < 0)
		return r;
	return off == want ? 0 : -3;
}

static long drain_stream(int fd, unsigned seed, size_t want, bool yields)
{
	return drain_stream_how(fd, seed, want, yields, RD_RECV);
}

/* 4 buffers of 16 bytes per ring: the ring runs dry again and again. */
IO_TEST_ENV(stream_small_buffer_ring, IO_WORKERS, "WEFT_IO_BUF_RING", "4x16")
{
	int sv[2];
	struct pump p;
	wf_task *t;

	CHECK_EQ(0, tcp_pair(sv));
	p = (struct pump){ .fd = sv[0], .seed = 3, .len = STREAM_BYTES, .close_after = true };
	CHECK_EQ(0, wf_spawn(&t, pump, &p));
	CHECK_EQ(0L, drain_stream(sv[1], 3, STREAM_BYTES, false));
	CHECK_EQ(0L, join_long(t));
	if (ms_on(WF_IO_F_RECV_MULTISHOT)) {
		struct wf_io_info i = ms_info();

		CHECK(i.ms_arms >= 1);
		CHECK(i.ms_nobufs >= 1);	/* the exhaustion path ran */
	}
	wf_close(sv[0]);
	wf_close(sv[1]);
	return NULL;
}

/* A reader slower than the writer: the queue limit cancels and re-arms. */
IO_TEST(stream_slow_reader_tcp)
{
	uint16_t port = 0;
	int l = io_listen(&port), c, s;
	unsigned char buf[1024];
	struct pump p;
	wf_stream *st;
	size_t off = 0;
	wf_task *t;
	ssize_t r;

	CHECK(l >= 0);
	c = io_dial(port);
	CHECK(c >= 0);
	s = wf_accept(l, NULL, NULL, 0);
	CHECK(s >= 0);
	p = (struct pump){ .fd = c, .seed = 11, .len = 4u << 20, .close_after = true };
	CHECK_EQ(0, wf_spawn(&t, pump, &p));
	CHECK_EQ(0, wf_stream_new(&st, s));
	while ((r = wf_stream_recv(st, buf, sizeof(buf), ms_from_now(20000))) > 0) {
		CHECK(io_check_pattern(buf, (size_t)r, 11, off));
		off += (size_t)r;
		if (off % (256u << 10) < sizeof(buf))
			wf_sleep_ns(1000000);	/* 1 ms now and then */
	}
	CHECK_EQ(0L, (long)r);
	CHECK_EQ(p.len, off);
	CHECK_EQ(0L, join_long(t));
	CHECK_EQ(0, wf_stream_free(st));
	wf_close(s);
	wf_close(c);
	wf_close(l);
	return NULL;
}

/* Streams whose tasks hop between 4 workers while their ops stay on one ring. */
struct hop {
	int fd;
	unsigned seed;
	int how;	/* RD_* */
};

static void *hop_reader(void *arg)
{
	struct hop *h = arg;

	return (void *)drain_stream_how(h->fd, h->seed, 256u << 10, true, h->how);
}

static void *stolen_how(bool unix_pairs, int how)
{
	enum { N = 16 };
	int sv[N][2];
	struct pump p[N];
	struct hop h[N];
	wf_task *w[N], *r[N];

	for (int i = 0; i < N; i++) {
		CHECK_EQ(0, unix_pairs ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[i])
				       : tcp_pair(sv[i]));
		p[i] = (struct pump){ .fd = sv[i][0], .seed = 100u + (unsigned)i,
				      .len = 256u << 10, .close_after = true };
		h[i] = (struct hop){ .fd = sv[i][1], .seed = 100u + (unsigned)i, .how = how };
		CHECK_EQ(0, wf_spawn(&r[i], hop_reader, &h[i]));
		CHECK_EQ(0, wf_spawn(&w[i], pump, &p[i]));
	}
	for (int i = 0; i < N; i++) {
		CHECK_EQ(0L, join_long(w[i]));
		CHECK_EQ(0L, join_long(r[i]));
		wf_close(sv[i][0]);
		wf_close(sv[i][1]);
	}
	return NULL;
}

static void *stolen(bool unix_pairs)
{
	return stolen_how(unix_pairs, RD_RECV);
}

IO_TEST_W(stream_stolen_tasks, 4, 60)
{
	return stolen(false);
}

/* Unix stream sockets take the one-shot path (docs/io.md says why). */
IO_TEST_W(stream_stolen_tasks_unix, 4, 60)
{
	return stolen(true);
}

/* Deadlines and cancellation while armed: data arriving later is kept. */
static void *recv_forever(void *arg)
{
	wf_stream *s = arg;
	char b[8];

	return (void *)(long)wf_stream_recv(s, b, sizeof(b), WF_FOREVER);
}

IO_TEST(stream_deadline_cancel_keep_data)
{
	int sv[2];
	wf_stream *s;
	wf_task *t;
	char b[16];

	CHECK_EQ(0, tcp_pair(sv));
	CHECK_EQ(0, wf_stream_new(&s, sv[1]));
	CHECK_EQ(-ETIMEDOUT, wf_stream_recv(s, b, sizeof(b), ms_from_now(20)));
	CHECK_EQ(0, wf_spawn(&t, recv_forever, s));
	wf_sleep_ns(20000000);
	/* A second waiter is refused while the first waits, and so is free. */
	CHECK_EQ(-EBUSY, wf_stream_recv(s, b, sizeof(b), ms_from_now(5)));
	CHECK_EQ(-EBUSY, wf_stream_free(s));
	CHECK_EQ(0, wf_cancel(t));
	CHECK_EQ(-ECANCELED, join_cancelled(t));
	/* Data sent after both gave up is received, in order, once. */
	CHECK_EQ(6, wf_send(sv[0], "abcdef", 6, 0));
	CHECK_EQ(3, wf_stream_recv(s, b, 3, ms_from_now(5000)));
	CHECK_EQ(0, memcmp(b, "abc", 3));
	CHECK_EQ(3, wf_stream_recv(s, b, sizeof(b), ms_from_now(5000)));
	CHECK_EQ(0, memcmp(b, "def", 3));
	CHECK_EQ(0, wf_stream_free(s));
	/* Bad arguments. */
	CHECK_EQ(-EINVAL, wf_stream_recv(NULL, b, 1, 0));
	CHECK_EQ(-EINVAL, wf_stream_new(NULL, sv[1]));
	CHECK_EQ(-EBADF, wf_stream_new(&s, -1));
	CHECK_EQ(-EINVAL, wf_listener_accept(NULL, NULL, NULL, 0));
	CHECK_EQ(0, wf_stream_free(NULL));
	CHECK_EQ(0, wf_listener_free(NULL));
	wf_close(sv[0]);
	wf_close(sv[1]);
	return NULL;
}

/* Free while the receive is armed and data keeps coming: nothing hangs. */
static void *blast(void *arg)
{
	int fd = (int)(long)arg;
	char buf[4096];
	ssize_t r;

	memset(buf, 'x', sizeof(buf));
	do
		r = wf_send(fd, buf, sizeof(buf), 0);
	while (r > 0);
	return (void *)(long)(r == -EPIPE || r == -ECONNRESET ? 0 : r);
}

IO_TEST(stream_free_with_data_in_flight)
{
	for (int round = 0; round < 20; round++) {
		int sv[2];
		wf_stream *s;
		wf_task *t;
		char b[100];

		CHECK_EQ(0, tcp_pair(sv));
		CHECK_EQ(0, wf_spawn(&t, blast, (void *)(long)sv[0]));
		CHECK_EQ(0, wf_stream_new(&s, sv[1]));
		for (int i = 0; i < round; i++)
			CHECK(wf_stream_recv(s, b, sizeof(b), ms_from_now(5000)) > 0);
		CHECK_EQ(0, wf_stream_free(s));
		/* Closed with unread data: TCP resets, the writer sees it. */
		CHECK_EQ(0, wf_close(sv[1]));
		CHECK_EQ(0L, join_long(t));
		wf_close(sv[0]);
	}
	return NULL;
}

IO_TEST(stream_peer_close_and_reset)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	uint16_t port = 0;
	int l = io_listen(&port), c, s;
	wf_stream *st;
	char b[16];

	CHECK(l >= 0);
	/* Close: data, then 0, and 0 again. */
	c = io_dial(port);
	CHECK(c >= 0);
	s = wf_accept(l, NULL, NULL, 0);
	CHECK(s >= 0);
	CHECK_EQ(0, wf_stream_new(&st, s));
	CHECK_EQ(5, wf_send(c, "hello", 5, 0));
	CHECK_EQ(0, wf_close(c));
	CHECK_EQ(5, wf_stream_recv(st, b, sizeof(b), ms_from_now(5000)));
	CHECK_EQ(0, wf_stream_recv(st, b, sizeof(b), ms_from_now(5000)));
	CHECK_EQ(0, wf_stream_recv(st, b, sizeof(b), ms_from_now(5000)));
	CHECK_EQ(0, wf_stream_free(st));
	wf_close(s);
	/* Reset while a receive waits. */
	c = io_dial(port);
	CHECK(c >= 0);
	s = wf_accept(l, NULL, NULL, 0);
	CHECK(s >= 0);
	CHECK_EQ(0, wf_stream_new(&st, s));
	CHECK_EQ(-ETIMEDOUT, wf_stream_recv(st, b, sizeof(b), ms_from_now(10)));
	CHECK_EQ(0, setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	CHECK_EQ(0, wf_close(c));
	CHECK_EQ(-ECONNRESET, wf_stream_recv(st, b, sizeof(b), ms_from_now(5000)));
	CHECK_EQ(0, wf_stream_free(st));
	wf_close(s);
	wf_close(l);
	return NULL;
}

/* The one-shot path behind the same API: features turned off. */
IO_TEST_ENV(stream_listener_without_multishot, IO_WORKERS, "WEFT_IO_NOFEAT", "0x1c0")
{
	struct dialer d = { .n = 8 };
	int l = io_listen(&d.port);
	wf_listener *ls;
	wf_task *t;

	CHECK(l >= 0);
	CHECK_EQ(0, wf_listener_new(&ls, l));
	CHECK_EQ(0, wf_spawn(&t, dial_many, &d));
	for (int i = 0; i < d.n; i++) {
		int c = wf_listener_accept(ls, NULL, NULL, ms_from_now(10000));
		wf_stream *s;
		char b;

		CHECK(c >= 0);
		CHECK_EQ(0, wf_stream_new(&s, c));
		CHECK_EQ(1, wf_stream_recv(s, &b, 1, ms_from_now(5000)));
		CHECK_EQ(1, wf_send(c, &b, 1, 0));
		CHECK_EQ(0, wf_stream_free(s));
		wf_close(c);
	}
	CHECK_EQ(0L, join_long(t));
	CHECK_EQ(0, wf_listener_free(ls));
	CHECK_EQ(0UL, (unsigned long)ms_info().ms_arms);
	CHECK_EQ(0U, ms_info().used & (WF_IO_F_ACCEPT_MULTISHOT | WF_IO_F_RECV_MULTISHOT |
				       WF_IO_F_BUF_RING));
	wf_close(l);
	return NULL;
}

/* --- a current-thread runtime ---------------------------------------------------------- */

static void *echo_conn(void *arg)
{
	int fd = (int)(long)arg;
	char buf[2048];
	wf_stream *s;
	ssize_t n;

	if (wf_stream_new(&s, fd))
		return (void *)1L;
	while ((n = wf_stream_recv(s, buf, sizeof(buf), WF_FOREVER)) > 0)
		if (wf_send_all(fd, buf, (size_t)n, 0) != n)
			break;
	wf_stream_free(s);
	wf_close(fd);
	return NULL;
}

static void *echo_listen(void *arg)
{
	int l = (int)(long)arg, n = 0;
	wf_listener *ls;

	if (wf_listener_new(&ls, l))
		return (void *)1L;
	while (n < 8) {
		int c = wf_listener_accept(ls, NULL, NULL, WF_FOREVER);

		if (c < 0)
			break;
		wf_spawn(NULL, echo_conn, (void *)(long)c);
		n++;
	}
	wf_listener_free(ls);
	return n == 8 ? NULL : (void *)2L;
}

static long echo_client(uint16_t port, unsigned seed)
{
	unsigned char out[20000], in[20000];
	int c = io_dial(port);
	long r;

	if (c < 0)
		return c;
	io_pattern(out, sizeof(out), seed, 0);
	if (wf_send_all(c, out, sizeof(out), 0) != (ssize_t)sizeof(out))
		return -1;
	r = io_recv_all(c, in, sizeof(in));
	wf_close(c);
	if (r)
		return r;
	return io_check_pattern(in, sizeof(in), seed, 0) ? 0 : -2;
}

IO_TEST_W(listener_stream_current_thread, 0, 60)
{
	uint16_t port = 0;
	int l = io_listen(&port);
	wf_task *srv;

	CHECK(l >= 0);
	/* io_uring: the ring is tied to this thread (docs/io.md). */
	if (ms_info().kind == WF_IO_URING) {
		unsigned aff = WF_IO_F_SINGLE_ISSUER | WF_IO_F_DEFER_TASKRUN | WF_IO_F_TASKRUN_FLAG;

		if ((ms_info().found & aff) == aff)
			CHECK_EQ(aff, ms_info().used & aff);
	}
	CHECK_EQ(0, wf_spawn(&srv, echo_listen, (void *)(long)l));
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(0L, echo_client(port, i));
	CHECK_EQ(0L, join_long(srv));
	wf_close(l);
	return NULL;
}

/*
 * One current-thread runtime driven by two threads in turn: the affine
 * ring is set up again for the second (nothing in flight in between).
 */
static void *ct_session(void *arg)
{
	(void)arg;
	return listener_stream_current_thread_body(NULL);
}

static void *ct_thread(void *arg)
{
	void *res = (void *)-1L;

	if (wf_block_on(arg, ct_session, NULL, &res))
		return (void *)-2L;
	return res;
}

static void ct_two_threads(struct __test_metadata *_metadata, const char *drv)
{
	struct wf_runtime_opts o = { .flavor = WF_CURRENT_THREAD };
	void *res = (void *)-1L;
	wf_runtime *rt;
	pthread_t th;
	int r;

	setenv("WEFT_IO", drv, 1);
	r = wf_runtime_new(&rt, &o);
	if (r == -EOPNOTSUPP || r == -ENOSYS || r == -EPERM)
		SKIP("the %s driver is unavailable: %s", drv, wtest_errno_name(-r));
	ASSERT_EQ(0, r);
	ASSERT_EQ(0, wf_block_on(rt, ct_session, NULL, &res));
	EXPECT_EQ(NULL, res);
	ASSERT_EQ(0, pthread_create(&th, NULL, ct_thread, rt));
	ASSERT_EQ(0, pthread_join(th, &res));
	EXPECT_EQ(NULL, res);
	ASSERT_EQ(0, wf_block_on(rt, ct_session, NULL, &res));
	EXPECT_EQ(NULL, res);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

TEST_TIMEOUT(current_thread_two_threads_uring, 60)
{
	ct_two_threads(_metadata, "uring");
}

TEST_TIMEOUT(current_thread_two_threads_epoll, 60)
{
	ct_two_threads(_metadata, "epoll");
}

/* --- borrowed receives (wf_stream_borrow) ------------------------------------------------ */

/* Borrowed and copied receives mixed, 2 workers: every byte, in order. */
IO_TEST(stream_borrow_in_order)
{
	int sv[2];
	struct pump p;
	wf_task *t;

	CHECK_EQ(0, tcp_pair(sv));
	p = (struct pump){ .fd = sv[0], .seed = 7, .len = STREAM_BYTES, .close_after = true };
	CHECK_EQ(0, wf_spawn(&t, pump, &p));
	CHECK_EQ(0L, drain_stream_how(sv[1], 7, STREAM_BYTES, true, RD_MIXED));
	CHECK_EQ(0L, join_long(t));
	if (ms_on(WF_IO_F_RECV_MULTISHOT))
		CHECK(WAIT_FOR(ms_info().ms_kept == 0));	/* all given back */
	wf_close(sv[0]);
	wf_close(sv[1]);
	return NULL;
}

/* Only borrows, through a ring that runs dry: one-shot scratch path too. */
IO_TEST_ENV(stream_borrow_small_buffer_ring, IO_WORKERS, "WEFT_IO_BUF_RING", "4x16")
{
	int sv[2];
	struct pump p;
	wf_task *t;

	CHECK_EQ(0, tcp_pair(sv));
	p = (struct pump){ .fd = sv[0], .seed = 8, .len = STREAM_BYTES, .close_after = true };
	CHECK_EQ(0, wf_spawn(&t, pump, &p));
	CHECK_EQ(0L, drain_stream_how(sv[1], 8, STREAM_BYTES, false, RD_BORROW));
	CHECK_EQ(0L, join_long(t));
	wf_close(sv[0]);
	wf_close(sv[1]);
	return NULL;
}

/*
 * Borrowing tasks moved between 4 workers, releasing on other threads than
 * the ring's: the buffers they kept go back through the return bits.
 */
IO_TEST_W(stream_borrow_stolen_tasks, 4, 60)
{
	void *r = stolen_how(false, RD_MIXED);

	if (r)
		return r;
	if (ms_on(WF_IO_F_RECV_MULTISHOT))
		CHECK(WAIT_FOR(ms_info().ms_kept == 0));
	return NULL;
}

IO_TEST_W(stream_borrow_stolen_tasks_unix, 4, 60)
{
	return stolen_how(true, RD_MIXED);
}

/* The rules: one borrow out at a time, nothing else meanwhile, bad calls. */
IO_TEST(stream_borrow_rules)
{
	const void *d = (const void *)1;
	unsigned char b[8];
	wf_stream *s;
	int sv[2];

	CHECK_EQ(0, tcp_pair(sv));
	CHECK_EQ(0, wf_stream_new(&s, sv[1]));
	CHECK_EQ(-EINVAL, wf_stream_borrow(NULL, &d, WF_FOREVER));
	CHECK_EQ(-EINVAL, wf_stream_borrow(s, NULL, WF_FOREVER));
	CHECK_EQ(-EINVAL, wf_stream_release(NULL));
	CHECK_EQ(-EINVAL, wf_stream_release(s));		/* nothing lent */
	CHECK_EQ(-ETIMEDOUT, wf_stream_borrow(s, &d, ms_from_now(20)));
	CHECK(d == NULL);
	CHECK_EQ(6, wf_send_all(sv[0], "abcdef", 6, 0));
	CHECK_EQ(6, wf_stream_borrow(s, &d, ms_from_now(5000)));
	CHECK(d && !memcmp(d, "abcdef", 6));
	CHECK_EQ(-EBUSY, wf_stream_borrow(s, &d, WF_FOREVER));
	CHECK_EQ(-EBUSY, wf_stream_recv(s, b, sizeof(b), WF_FOREVER));
	CHECK_EQ(-EBUSY, wf_stream_free(s));
	CHECK_EQ(0, wf_stream_release(s));
	CHECK_EQ(-EINVAL, wf_stream_release(s));		/* released already */
	/* Mixed with copies: a message read in part, then borrowed. */
	CHECK_EQ(5, wf_send_all(sv[0], "ghijk", 5, 0));
	CHECK_EQ(2, wf_stream_recv(s, b, 2, ms_from_now(5000)));
	CHECK(!memcmp(b, "gh", 2));
	CHECK_EQ(3, wf_stream_borrow(s, &d, ms_from_now(5000)));
	CHECK(!memcmp(d, "ijk", 3));
	CHECK_EQ(0, wf_stream_release(s));
	/* End of file: 0, and no pointer. */
	CHECK_EQ(0, wf_shutdown(sv[0], SHUT_WR));
	d = (const void *)1;
	CHECK_EQ(0, wf_stream_borrow(s, &d, ms_from_now(5000)));
	CHECK(d == NULL);
	CHECK_EQ(0, wf_stream_free(s));
	wf_close(sv[0]);
	wf_close(sv[1]);
	return NULL;
}

/*
 * Keeping is capped at an eighth of each ring (64 buffers here: 8), the rest
 * of the data is queued, no receive finds the ring dry, and every kept
 * buffer comes back: once read, and when its stream is freed unread.
 */
#define KEEP_N 20

static void *kept_round(bool read_them)
{
	int sv[KEEP_N][2];
	wf_stream *s[KEEP_N];
	unsigned char b[128];

	for (int i = 0; i < KEEP_N; i++) {
		CHECK_EQ(0, tcp_pair(sv[i]));
		CHECK_EQ(0, wf_stream_new(&s[i], sv[i][1]));
		/* The first byte goes to a waiter; the op stays armed. */
		CHECK_EQ(1, wf_send_all(sv[i][0], "x", 1, 0));
		CHECK_EQ(1, wf_stream_recv(s[i], b, 1, ms_from_now(5000)));
	}
	for (int i = 0; i < KEEP_N; i++) {
		io_pattern(b, 99, (unsigned)i, 0);
		CHECK_EQ(99, wf_send_all(sv[i][0], b, 99, 0));
		wf_sleep_ns(2 * WF_NSEC_PER_MSEC);	/* reaped one by one */
	}
	wf_sleep_ns(20 * WF_NSEC_PER_MSEC);	/* all arrived, nobody waiting */
	if (ms_on(WF_IO_F_RECV_MULTISHOT)) {
		struct wf_io_info i = ms_info();

		CHECK_EQ(8, i.ms_kept);		/* an eighth of 64 */
		CHECK_EQ(0, i.ms_nobufs);
	}
	for (int i = 0; i < KEEP_N; i++) {
		if (read_them) {
			size_t got = 0;

			while (got < 99) {
				ssize_t r = wf_stream_recv(s[i], b + got, 99 - got, ms_from_now(5000));

				CHECK(r > 0);
				got += (size_t)r;
			}
			CHECK(io_check_pattern(b, 99, (unsigned)i, 0));
		}
		CHECK_EQ(0, wf_stream_free(s[i]));
		wf_close(sv[i][0]);
		wf_close(sv[i][1]);
	}
	if (ms_on(WF_IO_F_RECV_MULTISHOT))
		CHECK_EQ(0, ms_info().ms_kept);
	return NULL;
}

IO_TEST_ENV(stream_kept_buffers_capped_and_given_back, 1, "WEFT_IO_BUF_RING", "64x4096")
{
	void *r = kept_round(true);

	return r ? r : kept_round(false);
}

/*
 * A stream read from a poll that lost its core (stall compensation hands
 * a spinning poll's core over) takes what the armed op delivered first:
 * a one-shot receive racing the armed op would read later bytes first.
 */
struct coreless {
	int peer;
	_Atomic int stop;
};

static void *coreless_sender(void *arg)
{
	struct coreless *c = arg;

	usleep(15000);			/* the reader spins, its core handed over */
	if (send(c->peer, "bcd", 3, MSG_NOSIGNAL) != 3)
		return (void *)1L;
	usleep(5000);
	return (void *)(long)(send(c->peer, "efg", 3, MSG_NOSIGNAL) == 3 ? 0 : 2);
}

IO_TEST_W(stream_read_from_a_poll_that_lost_its_core_keeps_order, 1, 30)
{
	struct coreless c = { .peer = -1 };
	char b[8] = { 0 };
	size_t got = 0;
	wf_stream *s;
	wf_task *tk;
	pthread_t snd;
	void *sres;
	uint64_t end;
	int sv[2];

	CHECK_EQ(0, tcp_pair(sv));
	c.peer = sv[0];
	CHECK_EQ(0, wf_stream_new(&s, sv[1]));
	CHECK_EQ(1, wf_send_all(sv[0], "a", 1, 0));
	CHECK_EQ(1, wf_stream_recv(s, b, 1, ms_from_now(5000)));	/* armed now */
	CHECK_EQ('a', b[0]);
	CHECK_EQ(0, wf_spawn(&tk, io_ticker, &c.stop));
	CHECK_EQ(0, pthread_create(&snd, NULL, coreless_sender, &c));
	end = wf_now_ns() + 60 * WF_NSEC_PER_MSEC;
	while (wf_now_ns() < end)	/* on CPU past the threshold: handed over */
		;
	while (got < 6) {
		ssize_t r = wf_stream_recv(s, b + got, 6 - got, ms_from_now(5000));

		CHECK(r > 0);
		got += (size_t)r;
	}
	CHECK(!memcmp(b, "bcdefg", 6));
	atomic_store(&c.stop, 1);
	wf_join(tk, NULL);
	pthread_join(snd, &sres);
	CHECK_EQ(0L, (long)sres);
	CHECK_EQ(0, wf_stream_free(s));
	wf_close(sv[0]);
	wf_close(sv[1]);
	return NULL;
}

TEST_HARNESS_MAIN
