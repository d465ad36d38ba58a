// SPDX-License-Identifier: MIT
/*
 * weft-registry - print the trace registry of a running weft process:
 * each runtime's workers, their state and the task each one is polling.
 *
 *	weft-registry -p PID [--json] [--scan] [-v]
 *
 * It proves the registry can be found and read from outside, the way
 * weftstat and BPF programs do (docs/registry.md); the finding and reading
 * is tools/lib/wfreg.c, which weftstat shares.
 *
 * Exit status: 0 registry printed; 1 no weft registry in the target (or it
 * could not be read consistently); 2 usage error, no such process, or
 * permission denied.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "json.h"
#include "wfreg.h"

static pid_t pid;

static void print_text(const struct wfreg_found *fd, const struct wfreg_runtime_view *rv, int n,
		       uint64_t now)
{
	static char file[WFREG_MAX_STR];	/* a spawn site, read for the tasks shown */
	const struct wf_registry *r = &fd->root;

	printf("pid %d: weft registry at 0x%" PRIx64 " (%s%s%s), version %u, libweft ", (int)pid,
	       fd->addr, fd->how, fd->object ? " in " : "", fd->object ? fd->object : "",
	       r->version);
	wfreg_put_safe(stdout, r->lib_version);
	printf(", slow poll > %" PRIu64 " us\n", r->slow_poll_ns / 1000);
	if (!n)
		printf("  no runtime\n");
	for (int i = 0; i < n; i++) {
		const struct wfreg_runtime_view *v = &rv[i];

		printf("runtime %" PRIu64 ": %s, %u worker%s, threads \"", v->r.id,
		       wfreg_flavor_name(v->r.flavor), v->r.nworkers, v->r.nworkers == 1 ? "" : "s");
		wfreg_put_safe(stdout, v->r.thread_name);
		printf("\"\n  %6s %8s %-10s %10s  %s\n", "WORKER", "TID", "STATE", "POLLS",
		       "TASK");
		for (uint32_t k = 0; k < v->r.nworkers; k++) {
			const struct wfreg_worker_view *w = &v->w[k];

			if (!w->stable) {
				printf("  %6u %8s %-10s\n", k, "?", "unreadable");
				continue;
			}
			printf("  %6u %8d %-10s %10" PRIu64 "  ", k, (int)w->s.tid,
			       wfreg_state_name(w->s.state), w->s.polls);
			if (w->s.state != WF_REG_W_POLLING) {
				printf("-\n");
				continue;
			}
			printf("%" PRIu64, w->s.task_id);
			if (w->have_task) {
				printf(" \"");
				wfreg_put_safe(stdout, w->task.name);
				printf("\" spawned at ");
				wfreg_task_file(w, file, sizeof(file));
				wfreg_put_safe(stdout, file[0] ? file : "?");
				printf(":%u", w->task.line);
			} else {
				printf(" (task record gone)");
			}
			printf(", poll running for %" PRIu64 " us\n",
			       now > w->s.poll_start_ns ? (now - w->s.poll_start_ns) / 1000 : 0);
		}
	}
}

static void print_json_one(const struct wfreg_found *fd, const struct wfreg_runtime_view *rv, int n,
			   uint64_t now)
{
	static char file[WFREG_MAX_STR];	/* a spawn site, read for the tasks shown */
	const struct wf_registry *r = &fd->root;

	printf("{\"address\":\"0x%" PRIx64 "\",\"found_by\":\"%s\",\"object\":", fd->addr,
	       fd->how);
	if (fd->object)
		wf__json_str(stdout, fd->object, PATH_MAX);
	else
		printf("null");
	printf(",\"version\":%u,\"lib_version\":", r->version);
	wf__json_str(stdout, r->lib_version, PATH_MAX);
	printf(",\"slow_poll_ns\":%" PRIu64 ",\"generation\":%" PRIu64 ",\"runtimes\":[",
	       r->slow_poll_ns, r->generation);
	for (int i = 0; i < n; i++) {
		const struct wfreg_runtime_view *v = &rv[i];

		printf("%s{\"id\":%" PRIu64 ",\"flavor\":\"%s\",\"nworkers\":%u,\"thread_name\":",
		       i ? "," : "", v->r.id, wfreg_flavor_name(v->r.flavor), v->r.nworkers);
		wf__json_str(stdout, v->r.thread_name, PATH_MAX);
		printf(",\"workers\":[");
		for (uint32_t k = 0; k < v->r.nworkers; k++) {
			const struct wfreg_worker_view *w = &v->w[k];

			printf("%s{\"index\":%u,", k ? "," : "", k);
			if (!w->stable) {
				printf("\"state\":\"unreadable\"}");
				continue;
			}
			printf("\"tid\":%d,\"state\":\"%s\",\"polls\":%" PRIu64, (int)w->s.tid,
			       wfreg_state_name(w->s.state), w->s.polls);
			if (w->s.state == WF_REG_W_POLLING) {
				printf(",\"task_id\":%" PRIu64 ",\"poll_start_ns\":%" PRIu64
				       ",\"poll_running_ns\":%" PRIu64 ",\"task\":",
				       w->s.task_id, w->s.poll_start_ns,
				       now > w->s.poll_start_ns ? now - w->s.poll_start_ns : 0);
				if (w->have_task) {
					printf("{\"id\":%" PRIu64 ",\"name\":", w->task.id);
					wf__json_str(stdout, w->task.name, PATH_MAX);
					printf(",\"file\":");
					wfreg_task_file(w, file, sizeof(file));
					wf__json_str(stdout, file, PATH_MAX);
					printf(",\"line\":%u,\"flags\":%u,\"spawn_ns\":%" PRIu64
					       "}",
					       w->task.line, w->task.flags, w->task.spawn_ns);
				} else {
					printf("null");
				}
			}
			printf("}");
		}
		printf("]}");
	}
	printf("]}");
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: weft-registry -p PID [--json] [--scan] [-v]\n"
		"Print the weft trace registry of a running process: its runtimes, each\n"
		"worker's thread, state, and the task it is polling (name, spawn site, for\n"
		"how long). docs/registry.md describes the registry.\n"
		"  -p, --pid PID   process to read\n"
		"  -j, --json      one JSON object instead of text\n"
		"  -s, --scan      find the registry by scanning memory, not ELF sections\n"
		"  -v, --verbose   say how the registry is searched for\n"
		"  -h, --help      this text\n"
		"Exit status: 0 printed; 1 no weft registry in the process;\n"
		"2 usage error, no such process, or permission denied.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' }, { "json", no_argument, NULL, 'j' },
		{ "scan", no_argument, NULL, 's' },	 { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },	 { NULL, 0, NULL, 0 },
	};
	const struct wfreg_found *found;
	struct wfreg_runtime_view *rv;
	bool json = false, scan = false, verbose = false;
	size_t nfound;
	long long p = 0;
	char *end;
	int c, printed = 0;

	while ((c = getopt_long(argc, argv, "p:jsvh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			errno = 0;
			p = strtoll(optarg, &end, 10);
			if (errno || *end || end == optarg || p <= 0 || p > INT_MAX)
				wfreg_die(WFREG_EXIT_USAGE, "-p wants a process id, not '%s'", optarg);
			break;
		case 'j':
			json = true;
			break;
		case 's':
			scan = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return WFREG_EXIT_USAGE;
		}
	}
	if (optind < argc || !p) {
		usage(stderr);
		return WFREG_EXIT_USAGE;
	}
	pid = (pid_t)p;
	wfreg_verbose = verbose;
	wfreg_open(pid);
	nfound = wfreg_find(scan, &found);
	if (!nfound)
		wfreg_die(WFREG_EXIT_NOWEFT,
			  "no weft registry in process %d: it does not use libweft, or its "
			  "libweft was built without CONFIG_WEFT_TRACE_REGISTRY",
			  (int)pid);

	rv = calloc(WFREG_MAX_RUNTIMES, sizeof(*rv));
	if (!rv)
		wfreg_die(WFREG_EXIT_NOWEFT, "out of memory");
	if (json)
		printf("{\"pid\":%d,\"registries\":[", (int)pid);
	for (size_t i = 0; i < nfound; i++) {
		int n = wfreg_read_runtimes(&found[i], rv, WFREG_READ_TASKS);
		uint64_t now = wfreg_target_now();

		if (n < 0) {
			fprintf(stderr,
				"weft-registry: the registry at 0x%" PRIx64 " kept changing or "
				"could not be read; try again\n",
				found[i].addr);
			continue;
		}
		if (json) {
			if (printed)
				printf(",");
			print_json_one(&found[i], rv, n, now);
		} else {
			print_text(&found[i], rv, n, now);
		}
		printed++;
		wfreg_free_runtimes(rv, (size_t)n);
	}
	if (json)
		printf("]}\n");
	free(rv);
	wfreg_close();
	if (fflush(stdout) == EOF)
		return WFREG_EXIT_NOWEFT;
	return printed ? WFREG_EXIT_FOUND : WFREG_EXIT_NOWEFT;
}
