// SPDX-License-Identifier: MIT
/*
 * uv_echo - the libuv peer of weft's echo benchmark (docs/benchmarks.md,
 * "I/O benchmarks"): a TCP echo server on libuv's event loop.
 *
 * Usage: uv_echo --port P [--workers N]
 *
 * Listens on 127.0.0.1:P only. Each worker is one thread running its own
 * uv_loop_t with its own listening socket (SO_REUSEPORT when N > 1; libuv
 * 1.44 has no flag for it, so the socket is made here and handed to
 * uv_tcp_open). Default: one worker, libuv's usual single-threaded shape.
 *
 * Each connection reads into its own 16 KiB buffer; what arrives is written
 * back with uv_try_write, and whatever the socket does not take at once is
 * copied into a uv_write request while reading pauses until it completes
 * (the usual libuv back-pressure). TCP_NODELAY on every connection.
 *
 * Runs until killed; exit 1 if it cannot start, 2 on a bad option.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define PROG "uv_echo"
#define CONN_BUF 16384

struct conn {
	uv_tcp_t tcp; /* first: the handle's address is the connection's */
	char buf[CONN_BUF];
};

struct pending_write {
	uv_write_t req;
	uv_buf_t buf;
};

struct worker {
	pthread_t tid;
	int lfd;
	uv_loop_t loop;
	uv_tcp_t server;
};

static int port;
static int nworkers = 1;

static void __attribute__((noreturn)) usage(int status)
{
	fprintf(status ? stderr : stdout, "usage: " PROG " --port P [--workers N]\n");
	exit(status);
}

static void __attribute__((noreturn)) die(const char *what, const char *why)
{
	fprintf(stderr, PROG ": %s: %s\n", what, why);
	exit(1);
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

static void on_close(uv_handle_t *h)
{
	free(h); /* the struct conn */
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = (struct conn *)h;

	(void)suggested;
	*buf = uv_buf_init(c->buf, CONN_BUF);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status)
{
	struct pending_write *pw = (struct pending_write *)req;
	uv_stream_t *s = req->handle;

	free(pw->buf.base);
	free(pw);
	if (status < 0) {
		if (!uv_is_closing((uv_handle_t *)s))
			uv_close((uv_handle_t *)s, on_close);
		return;
	}
	if (!uv_is_closing((uv_handle_t *)s))
		uv_read_start(s, on_alloc, on_read);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct pending_write *pw;
	uv_buf_t data;
	int w;

	if (n < 0) {
		uv_close((uv_handle_t *)s, on_close);
		return;
	}
	if (n == 0)
		return; /* EAGAIN */
	/* buf->len is the size of the buffer, not of what was read. */
	data = uv_buf_init(buf->base, (unsigned)n);
	w = uv_try_write(s, &data, 1);
	if (w == (int)n)
		return;
	if (w < 0 && w != UV_EAGAIN && w != UV_ENOSYS) {
		uv_close((uv_handle_t *)s, on_close);
		return;
	}
	if (w < 0)
		w = 0;
	/* The rest waits in a write request; stop reading until it is out. */
	pw = malloc(sizeof(*pw));
	if (!pw)
		die("malloc", "out of memory");
	pw->buf = uv_buf_init(malloc((size_t)n - (size_t)w), (unsigned)((size_t)n - (size_t)w));
	if (!pw->buf.base)
		die("malloc", "out of memory");
	memcpy(pw->buf.base, buf->base + w, pw->buf.len);
	uv_read_stop(s);
	if (uv_write(&pw->req, s, &pw->buf, 1, on_written) < 0) {
		free(pw->buf.base);
		free(pw);
		uv_close((uv_handle_t *)s, on_close);
	}
}

static void on_connection(uv_stream_t *server, int status)
{
	struct conn *c;

	if (status < 0)
		return;
	c = malloc(sizeof(*c));
	if (!c)
		die("malloc", "out of memory");
	uv_tcp_init(server->loop, &c->tcp);
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		uv_close((uv_handle_t *)&c->tcp, on_close);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static int make_listener(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd, one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (nworkers > 1 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		die("SO_REUSEPORT", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, PROG ": bind 127.0.0.1:%d: %s\n", port, strerror(errno));
		exit(1);
	}
	return fd;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int r;

	if ((r = uv_loop_init(&w->loop)) < 0)
		die("uv_loop_init", uv_strerror(r));
	if ((r = uv_tcp_init(&w->loop, &w->server)) < 0)
		die("uv_tcp_init", uv_strerror(r));
	if ((r = uv_tcp_open(&w->server, w->lfd)) < 0)
		die("uv_tcp_open", uv_strerror(r));
	if ((r = uv_listen((uv_stream_t *)&w->server, SOMAXCONN, on_connection)) < 0)
		die("uv_listen", uv_strerror(r));
	uv_run(&w->loop, UV_RUN_DEFAULT);
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
		die("calloc", "out of memory");
	/* Every listener bound before any loop runs. */
	for (i = 0; i < nworkers; i++)
		ws[i].lfd = make_listener();
	for (i = 1; i < nworkers; i++)
		if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]))
			die("pthread_create", "failed");
	worker_main(&ws[0]);
	return 0;
}
