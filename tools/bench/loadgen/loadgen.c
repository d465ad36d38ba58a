// SPDX-License-Identifier: MIT
/*
 * loadgen - a closed-loop load generator for echo servers (docs/benchmarks.md,
 * "I/O benchmarks").
 *
 * Usage: loadgen --port P [--host ADDR] [--conns N] [--size BYTES]
 *                [--duration S] [--warmup S] [--threads T] [--pipeline K]
 *                [--cpu LIST] [--connect-timeout S] [--server-pid PID]
 *                [--json] [--label NAME]
 *
 * A fixed number of TCP connections (--conns, split across --threads, each
 * thread one epoll loop over non-blocking sockets) each keep --pipeline
 * requests in flight: a request is a message of --size bytes, and it is
 * complete when as many bytes have been echoed back (checked byte for byte).
 * Its latency runs from the moment the request was queued for sending to
 * the moment its last byte came back; a completed request immediately queues
 * the next one on the same connection. All connections are established
 * before the clock starts; requests completing during --warmup are not
 * recorded, nor are those outstanding when --duration has elapsed.
 *
 * Reports requests per second and latency percentiles (p50, p99, p99.9)
 * from a log-linear histogram (64 linear sub-buckets per power of two,
 * reported as the middle of a bucket: within 0.8%), and the errors seen: connections refused, reset, closed
 * by the server in the middle of a request (short read), echoed bytes that
 * differ from those sent, connects that timed out. A connection that fails
 * is not reopened: the load drops and the errors say so.
 *
 * --json prints one line:
 *   {"bench":"echo_64B_c1000","impl":"tokio","rps":123456.7,"p50_us":7.9,
 *    "p99_us":15.2,"p999_us":40.1,...}
 * where the bench name is made from --size, --conns and --pipeline (with
 * _p<K> appended when K > 1) and "impl" is --label. CPU use over the
 * measured seconds, in CPUs: "client_cpu" (this process), "server_cpu"
 * (process --server-pid, if given), "other_cpu" (the rest of the machine's
 * busy time, /proc/stat: other processes, interrupts, steal), which says
 * when a run was disturbed.
 *
 * Exit status: 0 when the run completed (errors, if any, are in the report);
 * 1 when it could not run (nothing listening at the address, no connection
 * established, no request completed); 2 on a bad option.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROG "loadgen"

#define MAX_CONNS 100000
#define MAX_THREADS 256
#define MAX_PIPELINE 1024
#define MAX_SIZE (16u << 20)
#define MAX_INFLIGHT_BYTES (64u << 20) /* size * pipeline */
#define MAX_SECONDS 3600.0
#define RXBUF_SIZE (64u << 10)
/* Connects in progress per thread at once: a burst of 1,000 SYNs can
 * overflow a listen backlog and cost a one-second SYN retransmission. */
#define MAX_CONNECTING 64

/* --- log-linear histogram ------------------------------------------------
 * Values in nanoseconds. Below 2^SUB_BITS every value has its own bucket;
 * above, each power of two [2^m, 2^(m+1)) is split into HALF linear
 * sub-buckets of width 2^(m-SUB_BITS+1). Values above 2^MAX_BITS ns (about
 * 18 minutes) are clamped. */
#define SUB_BITS 7
#define SUB_COUNT (1u << SUB_BITS)  /* 128 */
#define HALF (SUB_COUNT / 2)        /* 64 */
#define MAX_BITS 40
#define NBUCKETS (SUB_COUNT + (MAX_BITS - SUB_BITS + 1) * HALF)

struct hist {
	uint64_t count;
	uint64_t sum; /* ns */
	uint64_t min, max;
	uint64_t b[NBUCKETS];
};

static unsigned hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < SUB_COUNT)
		return (unsigned)v;
	if (v >= (UINT64_C(1) << (MAX_BITS + 1)))
		v = (UINT64_C(1) << (MAX_BITS + 1)) - 1;
	msb = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS */
	shift = msb - SUB_BITS + 1;               /* >= 1 */
	/* v >> shift is in [HALF, SUB_COUNT) */
	return SUB_COUNT + (shift - 1) * HALF + (unsigned)(v >> shift) - HALF;
}

/* The range of values bucket i holds: [*lo, *lo + *width). */
static void hist_range(unsigned i, uint64_t *lo, uint64_t *width)
{
	unsigned shift, sub;

	if (i < SUB_COUNT) {
		*lo = i;
		*width = 1;
		return;
	}
	shift = (i - SUB_COUNT) / HALF + 1;
	sub = (i - SUB_COUNT) % HALF + HALF;
	*lo = (uint64_t)sub << shift;
	*width = UINT64_C(1) << shift;
}

static void hist_add(struct hist *h, uint64_t v)
{
	if (h->count == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->count++;
	h->sum += v;
	h->b[hist_index(v)]++;
}

static void hist_merge(struct hist *dst, const struct hist *src)
{
	unsigned i;

	if (src->count == 0)
		return;
	if (dst->count == 0 || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->count += src->count;
	dst->sum += src->sum;
	for (i = 0; i < NBUCKETS; i++)
		dst->b[i] += src->b[i];
}

/* The value at percentile p: the smallest recorded value v such that at
 * least p% of the values are <= v, given as the middle of its bucket,
 * clamped to the exact min and max. */
static double hist_percentile(const struct hist *h, double p)
{
	uint64_t rank, seen = 0, lo, width;
	double v;
	unsigned i;

	if (h->count == 0)
		return 0;
	rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < NBUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank)
			break;
	}
	if (i == NBUCKETS)
		i = NBUCKETS - 1;
	hist_range(i, &lo, &width);
	v = (double)lo + (double)(width - 1) / 2.0;
	if (v < (double)h->min)
		v = (double)h->min;
	if (v > (double)h->max)
		v = (double)h->max;
	return v;
}

/* --- options ---------------------------------------------------------------- */
struct opts {
	char host[INET6_ADDRSTRLEN];
	int port;
	unsigned conns;
	unsigned size;
	double duration;
	double warmup;
	unsigned threads;
	unsigned pipeline;
	bool json;
	const char *label;
	bool have_cpus;
	cpu_set_t cpus;
	double connect_timeout;
	int server_pid;
};

static struct opts opt = {
	.host = "127.0.0.1",
	.port = 0,
	.conns = 1,
	.size = 64,
	.duration = 3.0,
	.warmup = 0.0,
	.threads = 1,
	.pipeline = 1,
	.label = "unknown",
	.connect_timeout = 5.0,
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " --port P [--host ADDR] [--conns N] [--size BYTES]\n"
		"               [--duration S] [--warmup S] [--threads T] [--pipeline K]\n"
		"               [--cpu LIST] [--connect-timeout S] [--server-pid PID]\n"
		"               [--json] [--label NAME]\n"
		"  --host ADDR      numeric IPv4 or IPv6 address of the server (127.0.0.1)\n"
		"  --port P         its TCP port (1-65535, required)\n"
		"  --conns N        connections, all open for the whole run (1)\n"
		"  --size BYTES     message size; K, KiB, M, MiB suffixes (64)\n"
		"  --duration S     measured seconds, may be fractional (3)\n"
		"  --warmup S       seconds run but not recorded first (0)\n"
		"  --threads T      threads, the connections split between them (1)\n"
		"  --pipeline K     requests in flight per connection (1)\n"
		"  --cpu LIST       pin to these CPUs, e.g. 0 or 0,2 or 0-3\n"
		"  --connect-timeout S  give up on a connect after S seconds (5)\n"
		"  --server-pid PID also report the CPU time of process PID (the server)\n"
		"                   over the measured seconds, from /proc/PID/stat (ours and\n"
		"                   the rest of the machine's are always reported)\n"
		"  --json           one JSON line instead of the text report\n"
		"  --label NAME     the \"impl\" of the JSON line (unknown)\n");
}

static void __attribute__((noreturn, format(printf, 1, 2))) die_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	usage(stderr);
	exit(2);
}

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

/* A decimal integer in [lo, hi], nothing else around it. */
static unsigned long parse_uint(const char *name, const char *s, unsigned long lo,
				unsigned long hi)
{
	unsigned long v;
	char *end;

	if (!*s || *s < '0' || *s > '9')
		die_usage("%s needs an integer in %lu..%lu, got '%s'", name, lo, hi, s);
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		die_usage("%s needs an integer in %lu..%lu, got '%s'", name, lo, hi, s);
	return v;
}

/* A size: an integer with an optional K/KiB/M/MiB suffix (powers of 1024). */
static unsigned parse_size(const char *name, const char *s)
{
	unsigned long long v, mul = 1;
	char *end;

	if (!*s || *s < '0' || *s > '9')
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		goto bad;
	if (!strcmp(end, "K") || !strcmp(end, "KiB") || !strcmp(end, "k"))
		mul = 1024;
	else if (!strcmp(end, "M") || !strcmp(end, "MiB"))
		mul = 1024 * 1024;
	else if (*end && strcmp(end, "B"))
		goto bad;
	if (v == 0 || v > MAX_SIZE / mul)
		goto bad;
	return (unsigned)(v * mul);
bad:
	die_usage("%s needs a size in 1..%u bytes (suffixes B, K, KiB, M, MiB), got '%s'",
		  name, MAX_SIZE, s);
}

/* Seconds: a positive decimal number, at most MAX_SECONDS (zero only when
 * allow_zero). */
static double parse_seconds(const char *name, const char *s, bool allow_zero)
{
	double v;
	char *end;
	const char *p;

	for (p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || *p == '.'))
			goto bad;
	if (!*s)
		goto bad;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v >= 0) || v > MAX_SECONDS || (v == 0 && !allow_zero))
		goto bad;
	return v;
bad:
	die_usage("%s needs %s number of seconds up to %.0f, got '%s'", name,
		  allow_zero ? "a" : "a positive", MAX_SECONDS, s);
}

/* A CPU list as taskset -c takes it: N, N-M, comma separated. */
static void parse_cpus(const char *s, cpu_set_t *set)
{
	const char *p = s;
	unsigned long a, b;
	char *end;

	CPU_ZERO(set);
	for (;;) {
		if (*p < '0' || *p > '9')
			goto bad;
		a = strtoul(p, &end, 10);
		b = a;
		if (*end == '-') {
			p = end + 1;
			if (*p < '0' || *p > '9')
				goto bad;
			b = strtoul(p, &end, 10);
		}
		if (a > b || b >= CPU_SETSIZE)
			goto bad;
		for (; a <= b; a++)
			CPU_SET(a, set);
		if (*end == '\0')
			break;
		if (*end != ',')
			goto bad;
		p = end + 1;
	}
	return;
bad:
	die_usage("--cpu needs a CPU list such as 0, 0,2 or 0-3 (CPUs below %d), got '%s'",
		  CPU_SETSIZE, s);
}

static bool valid_label(const char *s)
{
	size_t n = 0;

	for (; *s; s++, n++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	}
	return n > 0 && n <= 64;
}

static void parse_args(int argc, char **argv)
{
	bool have_port = false;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		char name[32];
		const char *eq;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		}
		if (!strcmp(a, "--json")) {
			opt.json = true;
			continue;
		}
		if (strncmp(a, "--", 2))
			die_usage("unexpected argument '%s'", a);
		eq = strchr(a, '=');
		if (eq) {
			if ((size_t)(eq - a) >= sizeof(name))
				die_usage("unknown option '%s'", a);
			memcpy(name, a, (size_t)(eq - a));
			name[eq - a] = '\0';
			v = eq + 1;
		} else {
			if (strlen(a) >= sizeof(name))
				die_usage("unknown option '%s'", a);
			strcpy(name, a);
		}
		if (strcmp(name, "--host") && strcmp(name, "--port") &&
		    strcmp(name, "--conns") && strcmp(name, "--size") &&
		    strcmp(name, "--duration") && strcmp(name, "--warmup") &&
		    strcmp(name, "--threads") && strcmp(name, "--pipeline") &&
		    strcmp(name, "--cpu") && strcmp(name, "--label") &&
		    strcmp(name, "--connect-timeout") && strcmp(name, "--server-pid"))
			die_usage("unknown option '%s'", name);
		if (!v) {
			if (i + 1 >= argc)
				die_usage("%s needs a value", name);
			v = argv[++i];
		}
		if (!strcmp(name, "--host")) {
			unsigned char tmp[sizeof(struct in6_addr)];

			if (strlen(v) >= sizeof(opt.host) ||
			    (inet_pton(AF_INET, v, tmp) != 1 && inet_pton(AF_INET6, v, tmp) != 1))
				die_usage("--host needs a numeric IPv4 or IPv6 address, got '%s'", v);
			strcpy(opt.host, v);
		} else if (!strcmp(name, "--port")) {
			opt.port = (int)parse_uint(name, v, 1, 65535);
			have_port = true;
		} else if (!strcmp(name, "--conns")) {
			opt.conns = (unsigned)parse_uint(name, v, 1, MAX_CONNS);
		} else if (!strcmp(name, "--size")) {
			opt.size = parse_size(name, v);
		} else if (!strcmp(name, "--duration")) {
			opt.duration = parse_seconds(name, v, false);
		} else if (!strcmp(name, "--warmup")) {
			opt.warmup = parse_seconds(name, v, true);
		} else if (!strcmp(name, "--connect-timeout")) {
			opt.connect_timeout = parse_seconds(name, v, false);
		} else if (!strcmp(name, "--server-pid")) {
			opt.server_pid = (int)parse_uint(name, v, 1, INT_MAX);
			if (kill(opt.server_pid, 0) < 0 && errno == ESRCH)
				die_usage("--server-pid %d: no such process", opt.server_pid);
		} else if (!strcmp(name, "--threads")) {
			opt.threads = (unsigned)parse_uint(name, v, 1, MAX_THREADS);
		} else if (!strcmp(name, "--pipeline")) {
			opt.pipeline = (unsigned)parse_uint(name, v, 1, MAX_PIPELINE);
		} else if (!strcmp(name, "--cpu")) {
			parse_cpus(v, &opt.cpus);
			opt.have_cpus = true;
		} else if (!strcmp(name, "--label")) {
			if (!valid_label(v))
				die_usage("--label needs 1-64 characters from [A-Za-z0-9._-], got '%s'", v);
			opt.label = v;
		}
	}
	if (!have_port)
		die_usage("--port is required");
	if (opt.threads > opt.conns)
		die_usage("--threads (%u) cannot exceed --conns (%u)", opt.threads, opt.conns);
	if ((unsigned long long)opt.size * opt.pipeline > MAX_INFLIGHT_BYTES)
		die_usage("--size x --pipeline is %llu bytes, more than the %u in flight allowed",
			  (unsigned long long)opt.size * opt.pipeline, MAX_INFLIGHT_BYTES);
}

/* --- the run --------------------------------------------------------------- */
static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

enum err_kind { E_REFUSED, E_RESET, E_EOF, E_MISMATCH, E_TIMEOUT, E_OTHER, E_NKINDS };
static const char *const err_names[E_NKINDS] = {
	"refused", "reset", "eof", "mismatch", "timeout", "other",
};

enum conn_state { C_IDLE, C_CONNECTING, C_UP, C_DEAD };

struct conn {
	int fd;
	enum conn_state state;
	bool want_out;       /* EPOLLOUT registered */
	uint64_t connect_ns; /* when the connect started */
	uint64_t tx_pos;     /* stream bytes written */
	uint64_t tx_end;     /* stream bytes queued (requests issued * size) */
	uint64_t rx_pos;     /* stream bytes echoed back and checked */
	unsigned head, n;    /* the send times of the requests in flight */
	uint64_t *sent_ns;   /* pipeline entries, a ring */
};

struct thread {
	pthread_t tid;
	unsigned idx;
	unsigned nconns;
	struct conn *conns;
	uint64_t *sent_ns;
	int ep;
	unsigned up, dead, connecting, next_connect;
	struct hist hist;
	uint64_t err[E_NKINDS];
	int first_errno; /* for the "could not connect" message */
	uint64_t end_ns; /* when its loop ended */
	unsigned char *rxbuf;
};

static struct sockaddr_storage server;
static socklen_t server_len;
/* The stream a connection sends: the message repeated; byte p is
 * pattern[p % size]. The buffer holds several messages so that one write
 * covers at least a whole message whatever the offset. */
static unsigned char *pattern;
static size_t pattern_len;

static pthread_barrier_t ready_barrier;
static _Atomic uint64_t start_ns;   /* set by main after the barrier */
static uint64_t measure_from, measure_to;
static atomic_uint setup_failed;

static void conn_fail(struct thread *t, struct conn *c, enum err_kind k)
{
	t->err[k]++;
	if (c->state == C_CONNECTING)
		t->connecting--;
	else if (c->state == C_UP)
		t->up--;
	c->state = C_DEAD;
	t->dead++;
	if (c->fd >= 0) {
		/* An abortive close: no TIME_WAIT left behind for a dead one. */
		close(c->fd);
		c->fd = -1;
	}
}

static enum err_kind classify(int e)
{
	switch (e) {
	case ECONNREFUSED:
		return E_REFUSED;
	case ECONNRESET:
	case EPIPE:
	case ECONNABORTED:
		return E_RESET;
	case ETIMEDOUT:
		return E_TIMEOUT;
	default:
		return E_OTHER;
	}
}

static void conn_start(struct thread *t, struct conn *c)
{
	int one = 1, fd;

	fd = socket(server.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->state = C_CONNECTING;
	c->connect_ns = now_ns();
	t->connecting++;
	if (connect(fd, (struct sockaddr *)&server, server_len) < 0 && errno != EINPROGRESS) {
		if (!t->first_errno)
			t->first_errno = errno;
		conn_fail(t, c, classify(errno));
		return;
	}
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
	if (epoll_ctl(t->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
	c->want_out = true;
}

static void set_out(struct thread *t, struct conn *c, bool want)
{
	struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c };

	if (c->want_out == want)
		return;
	if (epoll_ctl(t->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
	c->want_out = want;
}

/* Queue one request on c, sent at time now. */
static inline void issue(struct conn *c, uint64_t now)
{
	unsigned slot = (c->head + c->n) % opt.pipeline;

	c->sent_ns[slot] = now;
	c->n++;
	c->tx_end += opt.size;
}

/* Write what is queued; register for EPOLLOUT when the socket is full. */
static void flush(struct thread *t, struct conn *c)
{
	while (c->tx_pos < c->tx_end) {
		size_t off = (size_t)(c->tx_pos % opt.size);
		size_t len = pattern_len - off;
		ssize_t w;

		if (len > c->tx_end - c->tx_pos)
			len = (size_t)(c->tx_end - c->tx_pos);
		w = send(c->fd, pattern + off, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				set_out(t, c, true);
				return;
			}
			if (errno == EINTR)
				continue;
			conn_fail(t, c, classify(errno));
			return;
		}
		c->tx_pos += (uint64_t)w;
	}
	set_out(t, c, false);
}

/* Check n received bytes against the stream at c->rx_pos. */
static bool check_echo(const struct conn *c, const unsigned char *buf, size_t n)
{
	uint64_t pos = c->rx_pos;

	while (n > 0) {
		size_t off = (size_t)(pos % opt.size);
		size_t len = pattern_len - off;

		if (len > n)
			len = n;
		if (memcmp(buf, pattern + off, len))
			return false;
		buf += len;
		n -= len;
		pos += len;
	}
	return true;
}

static void on_readable(struct thread *t, struct conn *c)
{
	ssize_t r;
	uint64_t done_to, now;
	bool running;

	for (;;) {
		r = recv(c->fd, t->rxbuf, RXBUF_SIZE, MSG_DONTWAIT);
		if (r > 0)
			break;
		if (r == 0) {
			conn_fail(t, c, E_EOF);
			return;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (errno != EINTR) {
			conn_fail(t, c, classify(errno));
			return;
		}
	}
	if ((uint64_t)r > c->tx_pos - c->rx_pos || !check_echo(c, t->rxbuf, (size_t)r)) {
		/* More than was sent, or not what was sent. */
		conn_fail(t, c, E_MISMATCH);
		return;
	}
	c->rx_pos += (uint64_t)r;
	/* Requests wholly echoed: the first n are those not yet completed. */
	done_to = c->rx_pos / opt.size;
	if (done_to == (c->tx_end / opt.size) - c->n)
		return; /* no request completed by these bytes */
	now = now_ns();
	running = now < measure_to;
	while ((c->tx_end / opt.size) - c->n < done_to) {
		uint64_t sent = c->sent_ns[c->head];

		c->head = (c->head + 1) % opt.pipeline;
		c->n--;
		if (now >= measure_from && running)
			hist_add(&t->hist, now - sent);
		if (running)
			issue(c, now);
	}
	if (running)
		flush(t, c);
}

static void on_connected(struct thread *t, struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		if (!t->first_errno)
			t->first_errno = err;
		conn_fail(t, c, classify(err));
		return;
	}
	t->connecting--;
	t->up++;
	c->state = C_UP;
	set_out(t, c, false);
}

static void *thread_main(void *arg)
{
	struct thread *t = arg;
	struct epoll_event evs[256];
	uint64_t timeout_ns = (uint64_t)(opt.connect_timeout * 1e9);
	unsigned i;
	int n;

	/* Phase 1: open every connection, at most MAX_CONNECTING at once. */
	for (;;) {
		uint64_t now;

		while (t->next_connect < t->nconns && t->connecting < MAX_CONNECTING)
			conn_start(t, &t->conns[t->next_connect++]);
		if (t->up + t->dead == t->nconns)
			break;
		n = epoll_wait(t->ep, evs, 256, 50);
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (i = 0; i < (unsigned)(n > 0 ? n : 0); i++) {
			struct conn *c = evs[i].data.ptr;

			if (c->state == C_CONNECTING)
				on_connected(t, c);
		}
		now = now_ns();
		for (i = 0; i < t->next_connect; i++) {
			struct conn *c = &t->conns[i];

			if (c->state == C_CONNECTING && now - c->connect_ns > timeout_ns)
				conn_fail(t, c, E_TIMEOUT);
		}
	}
	if (t->up == 0)
		atomic_fetch_add(&setup_failed, 1);

	pthread_barrier_wait(&ready_barrier); /* every thread connected */
	pthread_barrier_wait(&ready_barrier); /* main has set the clock */
	if (atomic_load(&setup_failed))
		return NULL;

	/* Phase 2: every connection queues its pipeline, then the loop. */
	uint64_t t0 = atomic_load(&start_ns);
	for (i = 0; i < t->nconns; i++) {
		struct conn *c = &t->conns[i];
		unsigned k;

		if (c->state != C_UP)
			continue;
		for (k = 0; k < opt.pipeline; k++)
			issue(c, t0);
		flush(t, c);
	}
	for (;;) {
		uint64_t now = now_ns();
		int ms;

		if (now >= measure_to || t->up == 0) {
			t->end_ns = now;
			break;
		}
		ms = (int)((measure_to - now + 999999) / 1000000);
		n = epoll_wait(t->ep, evs, 256, ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (i = 0; i < (unsigned)n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c->state != C_UP)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				on_readable(t, c);
			if (c->state == C_UP && (evs[i].events & EPOLLOUT))
				flush(t, c);
		}
	}
	return NULL;
}

static uint64_t process_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time (user + system, all threads) of process pid in ns, from
 * /proc/PID/stat (clock-tick resolution); -1 when it cannot be read. */
static int64_t pid_cpu_ns(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	ssize_t n;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold anything */
	if (!p)
		return -1;
	/* After ") ": state is field 3; utime and stime are fields 14, 15. */
	for (i = 2; i < 14 && p; i++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %llu %llu", &ut, &st) != 2)
		return -1;
	return (int64_t)((ut + st) * (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK)));
}

/* CPU time the whole machine spent busy (user, nice, system, irq, softirq,
 * steal), in ns over all CPUs, from /proc/stat; -1 when unreadable. */
static int64_t machine_busy_ns(void)
{
	unsigned long long v[8] = { 0 };
	char buf[512];
	ssize_t n;
	int fd;

	fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		   &v[3], &v[4], &v[5], &v[6], &v[7]) != 8)
		return -1;
	/* user nice system idle iowait irq softirq steal */
	return (int64_t)((v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) *
			 (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK)));
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / 1000000000u),
			       .tv_nsec = (long)(t % 1000000000u) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void raise_nofile(unsigned need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur >= need)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
		die("%u connections need %u file descriptors, the hard limit is %llu (ulimit -Hn)",
		    opt.conns, need, (unsigned long long)rl.rlim_max);
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("setrlimit(RLIMIT_NOFILE, %u): %s", need, strerror(errno));
}

static void bench_name(char *buf, size_t len)
{
	char sz[32], pl[16] = "";

	if (opt.size % (1024 * 1024) == 0)
		snprintf(sz, sizeof(sz), "%uMiB", opt.size / (1024 * 1024));
	else if (opt.size % 1024 == 0)
		snprintf(sz, sizeof(sz), "%uKiB", opt.size / 1024);
	else
		snprintf(sz, sizeof(sz), "%uB", opt.size);
	if (opt.pipeline > 1)
		snprintf(pl, sizeof(pl), "_p%u", opt.pipeline);
	snprintf(buf, len, "echo_%s_c%u%s", sz, opt.conns, pl);
}

int main(int argc, char **argv)
{
	struct thread *threads;
	struct hist *total;
	uint64_t err[E_NKINDS] = { 0 }, nerr = 0, t_end, cpu0 = 0, cpu1 = 0;
	int64_t srv0 = -1, srv1 = -1, mach0 = -1, mach1 = -1;
	unsigned i, k, up = 0;
	int first_errno = 0;
	size_t m;
	char name[64];

	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);

	memset(&server, 0, sizeof(server));
	if (strchr(opt.host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&server;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)opt.port);
		inet_pton(AF_INET6, opt.host, &s6->sin6_addr);
		server_len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&server;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)opt.port);
		inet_pton(AF_INET, opt.host, &s4->sin_addr);
		server_len = sizeof(*s4);
	}

	if (opt.have_cpus && sched_setaffinity(0, sizeof(opt.cpus), &opt.cpus) < 0)
		die("--cpu: sched_setaffinity: %s (does this machine have those CPUs?)",
		    strerror(errno));
	raise_nofile(opt.conns + opt.threads + 64);

	/* The stream pattern: at least two messages and 64 KiB, whole messages. */
	m = (64u << 10) / opt.size + 2;
	pattern_len = m * opt.size;
	pattern = malloc(pattern_len);
	if (!pattern)
		die("out of memory");
	for (m = 0; m < pattern_len; m++) {
		size_t p = m % opt.size;

		pattern[m] = (unsigned char)('a' + (p * 7 + p / 26) % 26);
	}

	threads = calloc(opt.threads, sizeof(*threads));
	total = calloc(1, sizeof(*total));
	if (!threads || !total)
		die("out of memory");
	if (pthread_barrier_init(&ready_barrier, NULL, opt.threads + 1))
		die("pthread_barrier_init failed");
	for (i = 0; i < opt.threads; i++) {
		struct thread *t = &threads[i];

		t->idx = i;
		t->nconns = opt.conns / opt.threads + (i < opt.conns % opt.threads);
		t->conns = calloc(t->nconns, sizeof(*t->conns));
		t->sent_ns = calloc((size_t)t->nconns * opt.pipeline, sizeof(uint64_t));
		t->rxbuf = malloc(RXBUF_SIZE);
		t->ep = epoll_create1(EPOLL_CLOEXEC);
		if (!t->conns || !t->sent_ns || !t->rxbuf)
			die("out of memory");
		if (t->ep < 0)
			die("epoll_create1: %s", strerror(errno));
		for (k = 0; k < t->nconns; k++) {
			t->conns[k].fd = -1;
			t->conns[k].sent_ns = t->sent_ns + (size_t)k * opt.pipeline;
		}
		if (pthread_create(&t->tid, NULL, thread_main, t))
			die("pthread_create failed");
	}

	pthread_barrier_wait(&ready_barrier); /* all connected (or failed) */
	for (i = 0; i < opt.threads; i++) {
		up += threads[i].up;
		if (!first_errno)
			first_errno = threads[i].first_errno;
	}
	if (atomic_load(&setup_failed) == 0) {
		uint64_t t0 = now_ns();

		measure_from = t0 + (uint64_t)(opt.warmup * 1e9);
		measure_to = measure_from + (uint64_t)(opt.duration * 1e9);
		atomic_store(&start_ns, t0);
	}
	pthread_barrier_wait(&ready_barrier);
	if (atomic_load(&setup_failed) == 0) {
		/* CPU use over the measured window, ours and the server's. */
		sleep_until(measure_from);
		cpu0 = process_cpu_ns();
		srv0 = opt.server_pid ? pid_cpu_ns(opt.server_pid) : -1;
		mach0 = machine_busy_ns();
		sleep_until(measure_to);
		cpu1 = process_cpu_ns();
		srv1 = srv0 >= 0 ? pid_cpu_ns(opt.server_pid) : -1;
		mach1 = mach0 >= 0 ? machine_busy_ns() : -1;
	}
	t_end = 0;
	for (i = 0; i < opt.threads; i++) {
		pthread_join(threads[i].tid, NULL);
		if (threads[i].end_ns > t_end)
			t_end = threads[i].end_ns;
	}

	for (i = 0; i < opt.threads; i++) {
		hist_merge(total, &threads[i].hist);
		for (k = 0; k < E_NKINDS; k++)
			err[k] += threads[i].err[k];
	}
	for (k = 0; k < E_NKINDS; k++)
		nerr += err[k];

	if (up == 0 || atomic_load(&setup_failed)) {
		if (up == 0 && first_errno == ECONNREFUSED)
			die("nothing is listening on %s port %d (connect: %s)", opt.host,
			    opt.port, strerror(first_errno));
		if (up == 0)
			die("could not connect to %s port %d: %s", opt.host, opt.port,
			    first_errno ? strerror(first_errno) : "connect timed out");
		die("a thread could not connect any of its connections to %s port %d "
		    "(%u of %u up): %s",
		    opt.host, opt.port, up, opt.conns,
		    first_errno ? strerror(first_errno) : "connect timed out");
	}

	bench_name(name, sizeof(name));
	double secs = opt.duration;
	double rps = (double)total->count / secs;
	double p50 = hist_percentile(total, 50) / 1e3;
	double p99 = hist_percentile(total, 99) / 1e3;
	double p999 = hist_percentile(total, 99.9) / 1e3;
	double mean = total->count ? (double)total->sum / (double)total->count / 1e3 : 0;
	double client_cpu = (double)(cpu1 - cpu0) / (opt.duration * 1e9);
	double server_cpu = srv0 >= 0 && srv1 >= srv0 ? (double)(srv1 - srv0) / (opt.duration * 1e9)
						     : -1;
	/* Everything else the machine did meanwhile: other processes, steal. */
	double other_cpu = mach0 >= 0 && mach1 >= mach0
				   ? (double)(mach1 - mach0) / (opt.duration * 1e9) - client_cpu -
					     (server_cpu > 0 ? server_cpu : 0)
				   : -1;

	if (t_end < measure_to)
		fprintf(stderr, PROG ": every connection failed %.2f s before the end of the run\n",
			(double)(measure_to - t_end) / 1e9);
	if (opt.json) {
		printf("{\"bench\":\"%s\",\"impl\":\"%s\",\"rps\":%.1f,\"p50_us\":%.2f,"
		       "\"p99_us\":%.2f,\"p999_us\":%.2f,\"mean_us\":%.2f,\"min_us\":%.2f,"
		       "\"max_us\":%.2f,\"requests\":%llu,\"duration_s\":%g,\"warmup_s\":%g,"
		       "\"conns\":%u,\"conns_up\":%u,\"size\":%u,\"pipeline\":%u,\"threads\":%u,"
		       "\"errors\":%llu",
		       name, opt.label, rps, p50, p99, p999, mean,
		       (double)total->min / 1e3, (double)total->max / 1e3,
		       (unsigned long long)total->count, opt.duration, opt.warmup, opt.conns, up,
		       opt.size, opt.pipeline, opt.threads, (unsigned long long)nerr);
		for (k = 0; k < E_NKINDS; k++)
			printf(",\"err_%s\":%llu", err_names[k], (unsigned long long)err[k]);
		printf(",\"client_cpu\":%.3f", client_cpu);
		if (server_cpu >= 0)
			printf(",\"server_cpu\":%.3f", server_cpu);
		if (other_cpu > -1)
			printf(",\"other_cpu\":%.3f", other_cpu > 0 ? other_cpu : 0);
		printf("}\n");
	} else {
		printf("%s (%s): %u connections (%u up), %u-byte messages, pipeline %u, "
		       "%u thread%s, %g s measured after %g s warm-up\n",
		       name, opt.label, opt.conns, up, opt.size, opt.pipeline, opt.threads,
		       opt.threads == 1 ? "" : "s", opt.duration, opt.warmup);
		printf("  requests   %llu (%.1f per second)\n", (unsigned long long)total->count,
		       rps);
		printf("  latency us p50 %.2f  p99 %.2f  p99.9 %.2f  mean %.2f  min %.2f  max %.2f\n",
		       p50, p99, p999, mean, (double)total->min / 1e3, (double)total->max / 1e3);
		printf("  cpu        loadgen %.0f%%", client_cpu * 100);
		if (server_cpu >= 0)
			printf("  server %.0f%%", server_cpu * 100);
		if (other_cpu > -1)
			printf("  %s %.0f%%", server_cpu >= 0 ? "others" : "others and server",
			       other_cpu > 0 ? other_cpu * 100 : 0);
		printf(" (of one CPU)\n");
		printf("  errors     %llu", (unsigned long long)nerr);
		for (k = 0; k < E_NKINDS; k++)
			if (err[k])
				printf("  %s %llu", err_names[k], (unsigned long long)err[k]);
		printf("\n");
	}
	if (fflush(stdout) != 0)
		die("writing the report: %s", strerror(errno));
	if (total->count == 0) {
		fprintf(stderr, PROG ": no request completed\n");
		return 1;
	}
	return 0;
}
