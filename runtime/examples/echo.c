// SPDX-License-Identifier: MIT
/*
 * echo - a TCP echo server on weft: one task per connection, each a
 * recv/send loop that suspends instead of blocking (docs/io.md).
 *
 *	echo [--host ADDR] [--port P] [--workers N] [--quiet]
 *
 * Listens on 127.0.0.1:7777 by default. WEFT_IO=uring|epoll picks the
 * I/O driver. Runs until killed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

static const char *host = "127.0.0.1";
static unsigned port = 7777, workers;
static int quiet;

static void *conn(void *arg)
{
	int fd = (int)(long)arg;
	char buf[16384];
	ssize_t n;

	while ((n = wf_recv(fd, buf, sizeof(buf), 0)) > 0)
		if (wf_send_all(fd, buf, (size_t)n, 0) < 0)
			break;
	wf_close(fd);
	return NULL;
}

static void *serve(void *arg)
{
	struct wf_io_info info;
	int l, c;

	(void)arg;
	l = wf_listen_tcp(host, (uint16_t)port, 4096);
	if (l < 0) {
		fprintf(stderr, "echo: listen %s:%u: %s\n", host, port, strerror(-l));
		return (void *)1L;
	}
	wf_io_info(wf_runtime_current(), &info);
	if (!quiet)
		printf("echo: listening on %s:%u, %u workers, %s\n", host, port,
		       wf_runtime_workers(wf_runtime_current()), info.name);
	fflush(stdout);
	for (;;) {
		c = wf_accept(l, NULL, NULL, 0);
		if (c >= 0) {
			if (wf_spawn(NULL, conn, (void *)(long)c))
				wf_close(c);
		} else if (c == -ECANCELED) {
			break;
		} else if (c == -EMFILE || c == -ENFILE) {
			wf_sleep_ns(10 * WF_NSEC_PER_MSEC);	/* out of descriptors: back off */
		}
	}
	wf_close(l);
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: echo [--host ADDR] [--port P] [--workers N] [--quiet]\n"
		   "  --host ADDR   numeric address to listen on (default 127.0.0.1)\n"
		   "  --port P      TCP port (default 7777)\n"
		   "  --workers N   worker threads (default: one per CPU)\n"
		   "  --quiet       no start-up line\n"
		   "WEFT_IO=uring|epoll|auto chooses the I/O driver.\n");
}

static unsigned number(const char *opt, const char *v, unsigned max)
{
	char *end;
	unsigned long x;

	if (!v) {
		fprintf(stderr, "echo: %s needs a value\n", opt);
		exit(2);
	}
	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno || *end || end == v || x > max) {
		fprintf(stderr, "echo: %s: bad value '%s'\n", opt, v);
		exit(2);
	}
	return (unsigned)x;
}

int main(int argc, char **argv)
{
	struct wf_runtime_opts o = { 0 };
	wf_runtime *rt;
	void *res;
	int r;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq = strchr(a, '=');
		char name[32];
		const char *v;

		snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
		v = eq ? eq + 1 : NULL;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--quiet")) {
			quiet = 1;
		} else if (!strcmp(name, "--host")) {
			host = v ? v : argv[++i];
			if (!host) {
				usage(stderr);
				return 2;
			}
		} else if (!strcmp(name, "--port")) {
			port = number("--port", v ? v : argv[++i], 65535);
		} else if (!strcmp(name, "--workers")) {
			workers = number("--workers", v ? v : argv[++i], 1024);
		} else {
			fprintf(stderr, "echo: unknown argument '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	o.workers = workers;
	r = wf_runtime_new(&rt, &o);
	if (r) {
		fprintf(stderr, "echo: cannot create the runtime: %s\n", strerror(-r));
		return 1;
	}
	r = wf_block_on(rt, serve, NULL, &res);
	wf_runtime_free(rt);
	return r || res ? 1 : 0;
}
