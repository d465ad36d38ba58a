// SPDX-License-Identifier: MIT
/*
 * echo - a TCP echo server on weft: one task per connection, each a
 * recv/send loop that suspends instead of blocking (docs/io.md).
 *
 *	echo [--host ADDR] [--port P] [--workers N] [--current-thread] [--oneshot]
 *	     [--quiet]
 *
 * Connections are accepted through a listener and read through streams
 * (multishot accept and receive under io_uring); --oneshot uses
 * wf_accept() and wf_recv() instead.
 * Listens on 127.0.0.1:7777 by default. WEFT_IO=uring|epoll picks the
 * I/O driver. Runs until killed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

#include "server_main.h"

static void usage(FILE *f);

static struct server_opts so = { "echo", "127.0.0.1", 7777, 0, 0, usage };

static void *conn(void *arg)
{
	struct server_conn c;
	char buf[16384];
	ssize_t n;

	if (server_conn_open(&c, (int)(long)arg)) {
		wf_close((int)(long)arg);
		return NULL;
	}
	if (c.s) {
		const void *data;

		/* Borrowed: sent straight from the buffer the kernel filled. */
		while ((n = wf_stream_borrow(c.s, &data, WF_FOREVER)) > 0) {
			ssize_t r = wf_send_all(c.fd, data, (size_t)n, 0);

			wf_stream_release(c.s);
			if (r < 0)
				break;
		}
	} else {
		while ((n = server_recv(&c, buf, sizeof(buf))) > 0)
			if (wf_send_all(c.fd, buf, (size_t)n, 0) < 0)
				break;
	}
	server_conn_close(&c);
	return NULL;
}

static void *serve(void *arg)
{
	struct wf_io_info info;
	int l;

	(void)arg;
	l = wf_listen_tcp(so.host, (uint16_t)so.port, 4096);
	if (l < 0) {
		fprintf(stderr, "echo: listen %s:%u: %s\n", so.host, so.port, strerror(-l));
		return (void *)1L;
	}
	wf_io_info(wf_runtime_current(), &info);
	if (!so.quiet)
		printf("echo: listening on %s:%u, %u workers, %s\n", so.host, so.port,
		       wf_runtime_workers(wf_runtime_current()), info.name);
	fflush(stdout);
	server_accept_loop(l, conn);
	wf_close(l);
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: echo [--host ADDR] [--port P] [--workers N] [--current-thread]\n"
		   "            [--oneshot] [--quiet]\n"
		   "  --host ADDR   numeric address to listen on (default 127.0.0.1)\n"
		   "  --port P      TCP port (default 7777)\n"
		   "  --workers N   worker threads (default: one per CPU)\n"
		   SERVER_OPTS_HELP
		   "  --quiet       no start-up line\n"
		   "WEFT_IO=uring|epoll|auto chooses the I/O driver.\n");
}

int main(int argc, char **argv)
{
	return server_main(&so, argc, argv, serve);
}
