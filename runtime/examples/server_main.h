/* SPDX-License-Identifier: MIT */
/*
 * server_main.h - the command line and main() the example servers (echo.c,
 * http.c) share: --host, --port, --workers, --current-thread, --oneshot,
 * --quiet, --help, each value checked (exit 2 with a message on a bad
 * one), then a runtime with that many workers running the server's root
 * task; and the accept and receive both servers use: a listener and one
 * stream per connection (multishot under io_uring, docs/io.md), or with
 * --oneshot the one-shot wf_accept() and wf_recv().
 */
#ifndef WEFT_EXAMPLE_SERVER_MAIN_H
#define WEFT_EXAMPLE_SERVER_MAIN_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

struct server_opts {
	const char *prog;		/* for messages */
	const char *host;		/* default set by the caller */
	unsigned port;			/* idem */
	unsigned workers;		/* 0: one per CPU */
	int quiet;
	void (*usage)(FILE *f);
	int oneshot;			/* --oneshot: wf_accept/wf_recv */
	int current;			/* --current-thread: one worker, this thread */
	int stats;			/* --stats: the driver's counters every second */
};

#define SERVER_OPTS_HELP \
	"  --current-thread  a current-thread runtime (one worker: the main thread)\n" \
	"  --oneshot     one-shot wf_accept()/wf_recv() instead of a listener and streams\n" \
	"  --stats       print the I/O driver's counters (wf_io_info) every second\n"

static struct server_opts *server_so;

/* A connection: its descriptor and, unless --oneshot, its stream. */
struct server_conn {
	int fd;
	wf_stream *s;
};

static int server_conn_open(struct server_conn *c, int fd)
{
	c->fd = fd;
	c->s = NULL;
	return server_so->oneshot ? 0 : wf_stream_new(&c->s, fd);
}

static ssize_t server_recv(struct server_conn *c, void *buf, size_t len)
{
	return c->s ? wf_stream_recv(c->s, buf, len, WF_FOREVER) : wf_recv(c->fd, buf, len, 0);
}

static void server_conn_close(struct server_conn *c)
{
	wf_stream_free(c->s);
	wf_close(c->fd);
}

/* --stats: one line a second on stderr. */
static void *server_stats(void *arg)
{
	struct wf_io_info i;

	(void)arg;
	while (wf_sleep_ns(WF_NSEC_PER_SEC) == 0) {
		wf_io_info(wf_runtime_current(), &i);
		fprintf(stderr, "%s: %s used %#x arms %llu nobufs %llu fallbacks %llu kept %llu "
			"cancels %llu\n", server_so->prog, i.name, i.used,
			(unsigned long long)i.ms_arms, (unsigned long long)i.ms_nobufs,
			(unsigned long long)i.ms_fallbacks, (unsigned long long)i.ms_kept,
			(unsigned long long)i.cancels);
	}
	return NULL;
}

/*
 * Accept connections on listening socket @l and spawn @conn for each
 * (its argument: the descriptor) until cancelled.
 */
static void server_accept_loop(int l, wf_task_fn conn)
{
	wf_listener *ls = NULL;
	int c;

	if (!server_so->oneshot && wf_listener_new(&ls, l))
		ls = NULL;
	if (server_so->stats)
		wf_spawn(NULL, server_stats, NULL);
	for (;;) {
		c = ls ? wf_listener_accept(ls, NULL, NULL, WF_FOREVER) : wf_accept(l, NULL, NULL, 0);
		if (c >= 0) {
			if (wf_spawn(NULL, conn, (void *)(long)c))
				wf_close(c);
		} else if (c == -ECANCELED) {
			break;
		} else if (c == -EMFILE || c == -ENFILE) {
			wf_sleep_ns(10 * WF_NSEC_PER_MSEC);	/* out of descriptors: back off */
		}
	}
	wf_listener_free(ls);
}

static unsigned server_number(const char *prog, const char *opt, const char *v, unsigned max)
{
	char *end;
	unsigned long x;

	if (!v) {
		fprintf(stderr, "%s: %s needs a value\n", prog, opt);
		exit(2);
	}
	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno || *end || end == v || x > max) {
		fprintf(stderr, "%s: %s: bad value '%s'\n", prog, opt, v);
		exit(2);
	}
	return (unsigned)x;
}

/* Parse argv into *so, run serve() as the root task; returns main's status. */
static int server_main(struct server_opts *so, int argc, char **argv, wf_task_fn serve)
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
			so->usage(stdout);
			return 0;
		} else if (!strcmp(a, "--quiet")) {
			so->quiet = 1;
		} else if (!strcmp(a, "--stats")) {
			so->stats = 1;
		} else if (!strcmp(a, "--oneshot")) {
			so->oneshot = 1;
		} else if (!strcmp(a, "--current-thread")) {
			so->current = 1;
		} else if (!strcmp(name, "--host")) {
			so->host = v ? v : argv[++i];
			if (!so->host) {
				fprintf(stderr, "%s: --host needs a value\n", so->prog);
				return 2;
			}
		} else if (!strcmp(name, "--port")) {
			so->port = server_number(so->prog, "--port", v ? v : argv[++i], 65535);
		} else if (!strcmp(name, "--workers")) {
			so->workers = server_number(so->prog, "--workers", v ? v : argv[++i], 1024);
			if (!so->workers) {
				fprintf(stderr, "%s: --workers: at least 1 (leave it out for one per CPU)\n",
					so->prog);
				exit(2);
			}
		} else {
			fprintf(stderr, "%s: unknown argument '%s'\n", so->prog, a);
			so->usage(stderr);
			return 2;
		}
	}
	server_so = so;
	o.workers = so->workers;
	if (so->current) {
		if (so->workers > 1) {
			fprintf(stderr, "%s: --current-thread runs one worker\n", so->prog);
			return 2;
		}
		o.flavor = WF_CURRENT_THREAD;
		o.workers = 0;
	}
	r = wf_runtime_new(&rt, &o);
	if (r) {
		fprintf(stderr, "%s: cannot create the runtime: %s\n", so->prog, strerror(-r));
		return 1;
	}
	r = wf_block_on(rt, serve, NULL, &res);
	wf_runtime_free(rt);
	return r || res ? 1 : 0;
}

#endif /* WEFT_EXAMPLE_SERVER_MAIN_H */
