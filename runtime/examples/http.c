// SPDX-License-Identifier: MIT
/*
 * http - a minimal HTTP/1.1 server on weft that wrk can load: keep-alive,
 * pipelining, one fixed response. One task per connection (docs/io.md).
 *
 *	http [--host ADDR] [--port P] [--workers N] [--current-thread] [--oneshot]
 *	     [--quiet]
 *
 * Listens on 127.0.0.1:8080 by default. WEFT_IO=uring|epoll picks the
 * I/O driver. Runs until killed. Requests may carry a body
 * (Content-Length); chunked bodies and headers over 8 KiB are refused.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <weft.h>

#include "server_main.h"

/* Byte for byte the response of the benchmark's Tokio server (docs/benchmarks.md). */
#define BODY "Hello, world!"
#define RESPONSE \
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" \
	"Content-Length: 13\r\n\r\n" BODY
#define RESPONSE_CLOSE \
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" \
	"Content-Length: 13\r\nConnection: close\r\n\r\n" BODY
#define TOO_BIG \
	"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n" \
	"Connection: close\r\n\r\n"
#define BAD \
	"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
#define BUF 8192

static void usage(FILE *f);

static struct server_opts so = { "http", "127.0.0.1", 8080, 0, 0, usage };

/* The value of header @name in [p, end) (after "name:" and blanks), or NULL. */
static const char *header(const char *p, const char *end, const char *name, size_t *vlen)
{
	size_t n = strlen(name);

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > n && p[n] == ':' && !strncasecmp(p, name, n)) {
			const char *v = p + n + 1;

			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			*vlen = (size_t)(eol - v);
			if (*vlen && v[*vlen - 1] == '\r')
				(*vlen)--;
			return v;
		}
		p = eol + 1;
	}
	return NULL;
}

static bool value_is(const char *v, size_t len, const char *want)
{
	return v && len == strlen(want) && !strncasecmp(v, want, len);
}

/*
 * Parse one request at the start of buf: its size (head and body) and
 * whether to keep the connection; 0 if incomplete, -1 if malformed.
 */
static long parse(const char *buf, size_t len, bool *keep)
{
	const char *end, *v, *eol;
	size_t vlen, head;
	unsigned long body = 0;
	bool http11;

	end = memmem(buf, len, "\r\n\r\n", 4);
	if (!end)
		return 0;
	head = (size_t)(end - buf) + 4;
	eol = memchr(buf, '\n', head);
	if (!eol || eol - buf < 10)
		return -1;
	http11 = !memcmp(eol - 9, "HTTP/1.1\r", 9);
	if (!http11 && memcmp(eol - 9, "HTTP/1.0\r", 9))
		return -1;
	v = header(eol + 1, end, "Connection", &vlen);
	*keep = http11 ? !value_is(v, vlen, "close") : value_is(v, vlen, "keep-alive");
	v = header(eol + 1, end, "Transfer-Encoding", &vlen);
	if (v)
		return -1;	/* chunked bodies: not supported */
	v = header(eol + 1, end, "Content-Length", &vlen);
	if (v) {
		char num[24];
		char *e;

		if (!vlen || vlen >= sizeof(num))
			return -1;
		memcpy(num, v, vlen);
		num[vlen] = 0;
		body = strtoul(num, &e, 10);
		if (*e || body > (1ul << 30))
			return -1;
	}
	if (len < head + body)
		return 0;
	return (long)(head + body);
}

static void *conn(void *arg)
{
	static const char ok[] = RESPONSE, ok_close[] = RESPONSE_CLOSE;
	char in[BUF], out[BUF];
	struct server_conn c;
	size_t have = 0;
	bool keep = true;
	int fd = (int)(long)arg;

	if (server_conn_open(&c, fd)) {
		wf_close(fd);
		return NULL;
	}
	while (keep) {
		size_t olen = 0, used = 0;
		ssize_t n = server_recv(&c, in + have, sizeof(in) - have);
		long r;

		if (n <= 0)
			break;
		have += (size_t)n;
		/* Every complete request in the buffer (pipelining): one send. */
		while ((r = parse(in + used, have - used, &keep)) > 0) {
			const char *resp = keep ? ok : ok_close;
			size_t rl = keep ? sizeof(ok) - 1 : sizeof(ok_close) - 1;

			if (olen + rl > sizeof(out)) {
				if (wf_send_all(fd, out, olen, 0) < 0)
					goto done;
				olen = 0;
			}
			memcpy(out + olen, resp, rl);
			olen += rl;
			used += (size_t)r;
			if (!keep)
				break;
		}
		if (r < 0) {
			wf_send_all(fd, BAD, sizeof(BAD) - 1, 0);
			break;
		}
		if (olen && wf_send_all(fd, out, olen, 0) < 0)
			break;
		memmove(in, in + used, have - used);
		have -= used;
		if (have == sizeof(in)) {
			wf_send_all(fd, TOO_BIG, sizeof(TOO_BIG) - 1, 0);
			break;
		}
	}
done:
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
		fprintf(stderr, "http: listen %s:%u: %s\n", so.host, so.port, strerror(-l));
		return (void *)1L;
	}
	wf_io_info(wf_runtime_current(), &info);
	if (!so.quiet)
		printf("http: listening on http://%s:%u/, %u workers, %s\n", so.host, so.port,
		       wf_runtime_workers(wf_runtime_current()), info.name);
	fflush(stdout);
	server_accept_loop(l, conn);
	wf_close(l);
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: http [--host ADDR] [--port P] [--workers N] [--current-thread]\n"
		   "            [--oneshot] [--quiet]\n"
		   "  --host ADDR   numeric address to listen on (default 127.0.0.1)\n"
		   "  --port P      TCP port (default 8080)\n"
		   "  --workers N   worker threads (default: one per CPU)\n"
		   SERVER_OPTS_HELP
		   "  --quiet       no start-up line\n"
		   "Answers every request with a fixed 13-byte body, keep-alive.\n"
		   "WEFT_IO=uring|epoll|auto chooses the I/O driver.\n");
}

int main(int argc, char **argv)
{
	return server_main(&so, argc, argv, serve);
}
