/* SPDX-License-Identifier: MIT */
/*
 * server_main.h - the command line and main() the example servers (echo.c,
 * http.c) share: --host, --port, --workers, --quiet, --help, each value
 * checked (exit 2 with a message on a bad one), then a runtime with that
 * many workers running the server's root task.
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
};

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
		} else {
			fprintf(stderr, "%s: unknown argument '%s'\n", so->prog, a);
			so->usage(stderr);
			return 2;
		}
	}
	o.workers = so->workers;
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
