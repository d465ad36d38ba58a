// SPDX-License-Identifier: MIT
/*
 * http.c - weftstat report --prometheus --listen ADDR:PORT: serve the text
 * exposition format on GET /metrics.
 *
 * A deliberately small HTTP/1.0-style server: one connection at a time,
 * answered and closed by the tracing loop itself (a scrape every few
 * seconds is the whole load), the request read with a 2 s deadline so a
 * client that connects and says nothing cannot stop the tracer for long.
 * Only numeric addresses are accepted: no name resolution, nothing to
 * surprise an operator about which interface is listening.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "parse.h"
#include "ws.h"

#define REQ_MAX 8192		/* request head read, at most */
#define REQ_DEADLINE_MS 2000	/* for the whole request head */

int ws_listen_parse(const char *spec, struct sockaddr_storage *ss, socklen_t *len, char *err,
		    size_t errlen)
{
	struct addrinfo hints = { 0 }, *ai = NULL;
	char host[INET6_ADDRSTRLEN + 1], *end;
	const char *colon, *port;
	size_t hl;
	long p;
	int r;

	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');

		if (!rb || rb[1] != ':') {
			snprintf(err, errlen, "'%s': an IPv6 address is written [ADDR]:PORT", spec);
			return -1;
		}
		hl = (size_t)(rb - spec - 1);
		if (hl >= sizeof(host)) {
			snprintf(err, errlen, "'%s': not an IPv6 address", spec);
			return -1;
		}
		memcpy(host, spec + 1, hl);
		port = rb + 2;
	} else {
		colon = strrchr(spec, ':');
		if (!colon) {
			snprintf(err, errlen, "'%s': want ADDR:PORT (127.0.0.1:9464, [::1]:9464)",
				 spec);
			return -1;
		}
		if (memchr(spec, ':', (size_t)(colon - spec))) {
			snprintf(err, errlen, "'%s': put an IPv6 address in brackets, [ADDR]:PORT",
				 spec);
			return -1;
		}
		hl = (size_t)(colon - spec);
		if (hl >= sizeof(host)) {
			snprintf(err, errlen, "'%s': not a numeric IPv4 address", spec);
			return -1;
		}
		memcpy(host, spec, hl);
		port = colon + 1;
	}
	host[hl] = '\0';
	if (!hl) {
		snprintf(err, errlen, "'%s': no address (0.0.0.0 listens on every interface)", spec);
		return -1;
	}
	errno = 0;
	p = strtol(port, &end, 10);
	if (!*port || *end || errno || p < 0 || p > 65535 || port[0] == '-' || port[0] == '+') {
		snprintf(err, errlen, "'%s': the port must be a number from 0 to 65535", spec);
		return -1;
	}
	/* Dotted quads only (getaddrinfo alone also takes "127.1"). */
	{
		unsigned char bin[sizeof(struct in6_addr)];

		if (inet_pton(spec[0] == '[' ? AF_INET6 : AF_INET, host, bin) != 1) {
			snprintf(err, errlen, "'%s': '%s' is not a numeric %s address", spec,
				 host, spec[0] == '[' ? "IPv6" : "IPv4");
			return -1;
		}
	}
	hints.ai_family = spec[0] == '[' ? AF_INET6 : AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	r = getaddrinfo(host, port, &hints, &ai);
	if (r || !ai || ai->ai_addrlen > sizeof(*ss)) {
		snprintf(err, errlen, "'%s': '%s' is not a numeric %s address", spec, host,
			 spec[0] == '[' ? "IPv6" : "IPv4");
		if (ai)
			freeaddrinfo(ai);
		return -1;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int ws_listen_open(const struct sockaddr_storage *ss, socklen_t len, char *buf, size_t buflen)
{
	struct sockaddr_storage got;
	socklen_t gl = sizeof(got);
	char host[INET6_ADDRSTRLEN], port[8];
	int fd, one = 1, r;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) || listen(fd, 16)) {
		r = -errno;
		close(fd);
		return r;
	}
	if (!getsockname(fd, (struct sockaddr *)&got, &gl) &&
	    !getnameinfo((struct sockaddr *)&got, gl, host, sizeof(host), port, sizeof(port),
			 NI_NUMERICHOST | NI_NUMERICSERV))
		snprintf(buf, buflen, got.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
	else
		snprintf(buf, buflen, "?");
	return fd;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Write all of buf to a non-blocking socket, within the deadline: 0 or -errno. */
static int send_all(int fd, const char *buf, size_t len, uint64_t deadline)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (mono_ms() >= deadline)
			return -ETIMEDOUT;
		poll(&(struct pollfd){ .fd = fd, .events = POLLOUT }, 1, 100);
	}
	return 0;
}

static int respond(int fd, const char *status, const char *type, const char *body, size_t len,
		   bool head_only, uint64_t deadline)
{
	char hdr[256];
	int n, r;

	n = snprintf(hdr, sizeof(hdr),
		     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n",
		     status, type, len);
	r = send_all(fd, hdr, (size_t)n, deadline);
	if (!r && !head_only)
		r = send_all(fd, body, len, deadline);
	return r;
}

int ws_http_answer(int lfd, const char *body, size_t len)
{
	static const char text[] = "text/plain; charset=utf-8";
	static const char prom[] = "text/plain; version=0.0.4; charset=utf-8";
	char req[REQ_MAX + 1];
	uint64_t deadline = mono_ms() + REQ_DEADLINE_MS;
	size_t got = 0;
	bool head;
	int fd, r, code;

	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	/* The request head: up to the empty line. */
	while (got < REQ_MAX) {
		ssize_t n = recv(fd, req + got, REQ_MAX - got, 0);
		uint64_t now = mono_ms();

		if (n > 0) {
			got += (size_t)n;
			if (ws_http_head_done(req, got))
				break;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR) || now >= deadline) {
			close(fd);
			return 0;
		}
		poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1, (int)(deadline - now));
	}
	code = ws_http_route(req, got, &head);
	if (code == 400)
		r = respond(fd, "400 Bad Request", text, "bad request\n", 12, false, deadline);
	else if (code == 405)
		r = respond(fd, "405 Method Not Allowed", text, "GET /metrics\n", 13, false,
			    deadline);
	else if (code == 404)
		r = respond(fd, "404 Not Found", text, "GET /metrics\n", 13, head, deadline);
	else
		r = respond(fd, "200 OK", prom, body, len, head, deadline);
	close(fd);
	return r == -EPIPE || r == -ECONNRESET || r == -ETIMEDOUT ? 0 : r;
}
