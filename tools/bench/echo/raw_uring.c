// SPDX-License-Identifier: MIT
/*
 * raw_uring - a TCP echo server straight on io_uring, no runtime: the
 * ceiling of the I/O benchmarks (docs/benchmarks.md, "I/O benchmarks").
 *
 * Usage: raw_uring --port P [--workers N] [--bufring] [--no-poll-first]
 *                  [--quiet]
 *
 * Listens on 127.0.0.1:P only. Each worker is one thread with its own ring
 * and its own listening socket (SO_REUSEPORT when N > 1); the default, one
 * worker, is a single-threaded loop. Accept is multishot when the kernel
 * has it (a plain accept re-armed after each connection otherwise).
 *
 * Two echo loops:
 *   default    per connection, a recv into the connection's buffer, then a
 *              send of what came (re-sent until complete), then the next
 *              recv: one operation in flight per connection. The recv is
 *              flagged IORING_RECVSEND_POLL_FIRST (the next request cannot
 *              be there yet when the reply has just gone), unless
 *              --no-poll-first;
 *   --bufring  one multishot recv per connection taking buffers from a
 *              provided buffer ring; each buffer is sent in order (one send
 *              in flight per connection, the rest queued) and goes back to
 *              the ring when its send completes.
 * The ring is set up with SINGLE_ISSUER|DEFER_TASKRUN when the kernel takes
 * them, else COOP_TASKRUN, else plain; its fd is registered. The features
 * found are printed on stderr at start unless --quiet.
 *
 * Exit status: runs until killed; 1 if it cannot start (port in use, no
 * io_uring), 2 on a bad option.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROG "raw_uring"

#define RING_ENTRIES 4096
#define CONN_BUF 16384     /* default mode: one buffer per connection */
#define BR_BUFS 4096       /* --bufring: buffers in the ring (power of 2) */
#define BR_BUF_SIZE 16384
#define BR_GROUP 1
#define MAX_FDS 65536

enum op { OP_ACCEPT = 1, OP_RECV, OP_SEND };

struct conn {
	bool open;
	bool recv_armed;    /* --bufring: the multishot recv is still live */
	bool closing;       /* EOF or error seen */
	bool send_inflight;
	unsigned char *buf; /* default mode */
	unsigned len, off;  /* default mode: bytes to send, bytes sent */
	int qhead, qtail;   /* --bufring: buffers waiting to be sent, -1 if none */
	unsigned qoff;      /* bytes of qhead already sent */
};

struct worker {
	pthread_t tid;
	int idx;
	int lfd;
	struct io_uring ring;
	struct conn *conns; /* by fd */
	bool multishot_accept;
	bool ring_fd_registered;
	/* --bufring */
	struct io_uring_buf_ring *br;
	unsigned char *bufs;
	int *bnext;  /* per buffer: the next one queued on its connection */
	unsigned *blen;
	int *starved; /* connections whose recv ended on -ENOBUFS */
	int nstarved;
};

static int port;
static int nworkers = 1;
static bool use_bufring;
static bool quiet;
static bool poll_first = true;
static unsigned ring_flags_used;

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static void __attribute__((noreturn)) usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: " PROG " --port P [--workers N] [--bufring] [--no-poll-first] [--quiet]\n");
	exit(status);
}

static long parse_int(const char *name, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *s < '0' || *s > '9' || *end || errno || v < lo || v > hi) {
		fprintf(stderr, PROG ": %s needs an integer in %ld..%ld, got '%s'\n", name, lo,
			hi, s);
		usage(2);
	}
	return v;
}

static struct io_uring_sqe *get_sqe(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	while (!sqe) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

static inline uint64_t ud(enum op op, int fd)
{
	return ((uint64_t)(unsigned)fd << 8) | (uint64_t)op;
}

static void arm_accept(struct worker *w)
{
	struct io_uring_sqe *sqe = get_sqe(w);

	if (w->multishot_accept)
		io_uring_prep_multishot_accept(sqe, w->lfd, NULL, NULL, SOCK_CLOEXEC);
	else
		io_uring_prep_accept(sqe, w->lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ud(OP_ACCEPT, w->lfd));
}

static void arm_recv(struct worker *w, int fd)
{
	struct conn *c = &w->conns[fd];
	struct io_uring_sqe *sqe = get_sqe(w);

	if (use_bufring) {
		io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = BR_GROUP;
		c->recv_armed = true;
	} else {
		io_uring_prep_recv(sqe, fd, c->buf, CONN_BUF, 0);
		/* The reply just went out: the next request is not there yet,
		 * so arm the poll at once instead of trying the recv first. */
		if (poll_first)
			sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
	}
	io_uring_sqe_set_data64(sqe, ud(OP_RECV, fd));
}

static void arm_send(struct worker *w, int fd, const void *p, unsigned len)
{
	struct io_uring_sqe *sqe = get_sqe(w);

	io_uring_prep_send(sqe, fd, p, len, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud(OP_SEND, fd));
	w->conns[fd].send_inflight = true;
}

static void recycle(struct worker *w, int bid)
{
	io_uring_buf_ring_add(w->br, w->bufs + (size_t)bid * BR_BUF_SIZE, BR_BUF_SIZE,
			      (unsigned short)bid, io_uring_buf_ring_mask(BR_BUFS), 0);
	io_uring_buf_ring_advance(w->br, 1);
}

static void conn_close(struct worker *w, int fd)
{
	struct conn *c = &w->conns[fd];

	while (c->qhead >= 0) {
		int b = c->qhead;

		c->qhead = w->bnext[b];
		recycle(w, b);
	}
	c->qtail = -1;
	c->open = false;
	close(fd);
}

/* --bufring: a connection can close once its recv has ended and its sends
 * are done (or pointless). */
static void maybe_close(struct worker *w, int fd)
{
	struct conn *c = &w->conns[fd];

	if (c->closing && !c->recv_armed && !c->send_inflight)
		conn_close(w, fd);
}

static void on_accept(struct worker *w, struct io_uring_cqe *cqe)
{
	int fd = cqe->res, one = 1;
	struct conn *c;

	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		if (fd == -EINVAL && w->multishot_accept) {
			/* No multishot accept on this kernel: plain accepts. */
			w->multishot_accept = false;
			if (!quiet)
				fprintf(stderr, PROG ": multishot accept refused: plain accept\n");
		}
		arm_accept(w);
	}
	if (fd < 0) {
		if (fd != -EINVAL && fd != -ECANCELED && !quiet)
			fprintf(stderr, PROG ": accept: %s\n", strerror(-fd));
		return;
	}
	if (fd >= MAX_FDS) {
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = &w->conns[fd];
	c->open = true;
	c->closing = false;
	c->send_inflight = false;
	c->recv_armed = false;
	c->qhead = c->qtail = -1;
	c->qoff = 0;
	if (!use_bufring && !c->buf) {
		c->buf = malloc(CONN_BUF);
		if (!c->buf)
			die("out of memory");
	}
	arm_recv(w, fd);
}

static void start_next_send(struct worker *w, int fd)
{
	struct conn *c = &w->conns[fd];
	int b = c->qhead;

	if (b < 0 || c->send_inflight)
		return;
	arm_send(w, fd, w->bufs + (size_t)b * BR_BUF_SIZE + c->qoff, w->blen[b] - c->qoff);
}

static void on_recv(struct worker *w, int fd, struct io_uring_cqe *cqe)
{
	struct conn *c = &w->conns[fd];
	int res = cqe->res;

	if (!use_bufring) {
		if (res <= 0) {
			conn_close(w, fd);
			return;
		}
		c->len = (unsigned)res;
		c->off = 0;
		arm_send(w, fd, c->buf, c->len);
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_MORE))
		c->recv_armed = false;
	if (res > 0) {
		int b = (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);

		w->blen[b] = (unsigned)res;
		w->bnext[b] = -1;
		if (c->qtail >= 0)
			w->bnext[c->qtail] = b;
		else {
			c->qhead = b;
			c->qoff = 0;
		}
		c->qtail = b;
		start_next_send(w, fd);
		if (!c->recv_armed && !c->closing)
			arm_recv(w, fd);
		return;
	}
	if (res == -ENOBUFS && !c->closing) {
		/* The ring is empty: retry once a buffer comes back. */
		if (!c->recv_armed)
			w->starved[w->nstarved++] = fd;
		return;
	}
	c->closing = true; /* EOF or error */
	maybe_close(w, fd);
}

static void on_send(struct worker *w, int fd, struct io_uring_cqe *cqe)
{
	struct conn *c = &w->conns[fd];
	int res = cqe->res;

	c->send_inflight = false;
	if (!use_bufring) {
		if (res <= 0) {
			conn_close(w, fd);
			return;
		}
		c->off += (unsigned)res;
		if (c->off < c->len)
			arm_send(w, fd, c->buf + c->off, c->len - c->off);
		else
			arm_recv(w, fd);
		return;
	}
	if (res <= 0) {
		c->closing = true;
		if (c->recv_armed) {
			/* Stop the multishot recv; its last completion closes. */
			struct io_uring_sqe *sqe = get_sqe(w);

			io_uring_prep_cancel64(sqe, ud(OP_RECV, fd), 0);
			io_uring_sqe_set_data64(sqe, 0);
		}
		maybe_close(w, fd);
		return;
	}
	c->qoff += (unsigned)res;
	if (c->qoff >= w->blen[c->qhead]) {
		int b = c->qhead;

		c->qhead = w->bnext[b];
		if (c->qhead < 0)
			c->qtail = -1;
		c->qoff = 0;
		recycle(w, b);
		while (w->nstarved > 0) {
			int sfd = w->starved[--w->nstarved];

			if (w->conns[sfd].open && !w->conns[sfd].closing)
				arm_recv(w, sfd);
		}
	}
	if (c->closing)
		maybe_close(w, fd);
	else
		start_next_send(w, fd);
}

static int make_listener(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd, one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (nworkers > 1 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		die("SO_REUSEPORT: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind 127.0.0.1:%d: %s", port, strerror(errno));
	if (listen(fd, SOMAXCONN) < 0)
		die("listen: %s", strerror(errno));
	return fd;
}

static void ring_setup(struct worker *w)
{
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	struct io_uring_params p;
	unsigned i;
	int ret = -EINVAL;

	for (i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = tries[i] | IORING_SETUP_SUBMIT_ALL;
		ret = io_uring_queue_init_params(RING_ENTRIES, &w->ring, &p);
		if (ret == -EINVAL) {
			p.flags &= ~IORING_SETUP_SUBMIT_ALL;
			ret = io_uring_queue_init_params(RING_ENTRIES, &w->ring, &p);
		}
		if (ret == 0)
			break;
		if (ret != -EINVAL)
			break;
	}
	if (ret < 0)
		die("io_uring_queue_init: %s%s", strerror(-ret),
		    ret == -EPERM ? " (kernel.io_uring_disabled or seccomp?)" : "");
	ring_flags_used = p.flags;
	/* A missing feature costs a little, nothing more. */
	w->ring_fd_registered = io_uring_register_ring_fd(&w->ring) == 1;
}

/* In the worker's own thread: with SINGLE_ISSUER the ring belongs to the
 * thread that created it. */
static void worker_init(struct worker *w)
{
	int ret, i;

	ring_setup(w);
	w->conns = calloc(MAX_FDS, sizeof(*w->conns));
	if (!w->conns)
		die("out of memory");
	w->multishot_accept = true;
	if (use_bufring) {
		/* liburing 2.3 has no io_uring_setup_buf_ring(): map and
		 * register the ring by hand. */
		struct io_uring_buf_reg reg = { .ring_entries = BR_BUFS, .bgid = BR_GROUP };
		size_t len = BR_BUFS * sizeof(struct io_uring_buf);
		void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				 -1, 0);

		if (mem == MAP_FAILED)
			die("mmap: %s", strerror(errno));
		w->br = mem;
		io_uring_buf_ring_init(w->br);
		reg.ring_addr = (uint64_t)(uintptr_t)mem;
		ret = io_uring_register_buf_ring(&w->ring, &reg, 0);
		if (ret < 0)
			die("--bufring: io_uring_register_buf_ring: %s", strerror(-ret));
		w->bufs = malloc((size_t)BR_BUFS * BR_BUF_SIZE);
		w->bnext = calloc(BR_BUFS, sizeof(*w->bnext));
		w->blen = calloc(BR_BUFS, sizeof(*w->blen));
		w->starved = calloc(MAX_FDS, sizeof(*w->starved));
		if (!w->bufs || !w->bnext || !w->blen || !w->starved)
			die("out of memory");
		for (i = 0; i < BR_BUFS; i++)
			io_uring_buf_ring_add(w->br, w->bufs + (size_t)i * BR_BUF_SIZE, BR_BUF_SIZE,
					      (unsigned short)i, io_uring_buf_ring_mask(BR_BUFS), i);
		io_uring_buf_ring_advance(w->br, BR_BUFS);
	}
	arm_accept(w);
}

static void print_features(const struct worker *w)
{
	fprintf(stderr, PROG ": 127.0.0.1:%d, %d worker%s, ring flags%s%s%s%s, %s, %s\n",
		port, nworkers, nworkers == 1 ? "" : "s",
		ring_flags_used & IORING_SETUP_SINGLE_ISSUER ? " single-issuer" : "",
		ring_flags_used & IORING_SETUP_DEFER_TASKRUN ? " defer-taskrun" : "",
		ring_flags_used & IORING_SETUP_COOP_TASKRUN ? " coop-taskrun" : "",
		w->ring_fd_registered ? " registered-fd" : "",
		"multishot accept (plain if refused)",
		use_bufring ? "multishot recv with a provided buffer ring"
			    : poll_first ? "recv (poll first)/send" : "recv/send");
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct io_uring_cqe *cqe;
	unsigned head, n;

	worker_init(w);
	if (w->idx == 0 && !quiet)
		print_features(w);
	for (;;) {
		int ret = io_uring_submit_and_wait(&w->ring, 1);

		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			die("io_uring_submit_and_wait: %s", strerror(-ret));
		n = 0;
		io_uring_for_each_cqe(&w->ring, head, cqe) {
			uint64_t d = io_uring_cqe_get_data64(cqe);
			int fd = (int)(d >> 8);

			n++;
			switch ((enum op)(d & 0xff)) {
			case OP_ACCEPT:
				on_accept(w, cqe);
				break;
			case OP_RECV:
				on_recv(w, fd, cqe);
				break;
			case OP_SEND:
				on_send(w, fd, cqe);
				break;
			default: /* cancel completions */
				break;
			}
		}
		io_uring_cq_advance(&w->ring, n);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct worker *ws;
	struct rlimit rl;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			usage(0);
		else if (!strcmp(a, "--bufring"))
			use_bufring = true;
		else if (!strcmp(a, "--quiet"))
			quiet = true;
		else if (!strcmp(a, "--no-poll-first"))
			poll_first = false;
		else if (!strcmp(a, "--port") || !strcmp(a, "--workers")) {
			if (i + 1 >= argc) {
				fprintf(stderr, PROG ": %s needs a value\n", a);
				usage(2);
			}
			if (!strcmp(a, "--port"))
				port = (int)parse_int(a, argv[++i], 1, 65535);
			else
				nworkers = (int)parse_int(a, argv[++i], 1, 256);
		} else if (!strncmp(a, "--port=", 7))
			port = (int)parse_int("--port", a + 7, 1, 65535);
		else if (!strncmp(a, "--workers=", 10))
			nworkers = (int)parse_int("--workers", a + 10, 1, 256);
		else {
			fprintf(stderr, PROG ": unknown option '%s'\n", a);
			usage(2);
		}
	}
	if (!port) {
		fprintf(stderr, PROG ": --port is required\n");
		usage(2);
	}
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	ws = calloc((size_t)nworkers, sizeof(*ws));
	if (!ws)
		die("out of memory");
	/* Every listener bound before any worker runs: a bind error ends the
	 * program before the port looks ready. */
	for (i = 0; i < nworkers; i++) {
		ws[i].idx = i;
		ws[i].lfd = make_listener();
	}
	for (i = 1; i < nworkers; i++)
		if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]))
			die("pthread_create failed");
	worker_main(&ws[0]);
	return 0;
}
