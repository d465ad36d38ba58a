// SPDX-License-Identifier: MIT
/*
 * weftstat - attach to a running weft process and say why it is slow.
 *
 *	weftstat report -p PID [-d SECONDS] [--json | --folded | --prometheus]
 *	weftstat doctor
 *
 * report finds the target's worker threads through its trace registry
 * (tools/lib/wfreg.c), loads the BPF programs of bpf/weftstat.bpf.c with
 * the target's TGID as a constant and the workers' TIDs and registry slot
 * addresses in a map, attaches them, and for the duration collects:
 * per worker, on-CPU time, off-CPU time split into sleep and run-queue
 * wait, futex waits (the runtime's own parking apart), preemptions; and
 * each episode of a worker blocked in the kernel *inside a poll*, with its
 * task, syscall and stacks. It then prints a diagnosis first (rules in
 * docs/weftstat.md), the culprits symbolised to function and file:line,
 * per-worker tables and log2 histograms.
 *
 * This file is the command line (report, top's entry, doctor) and the
 * --listen loop; the rest is split by concern: attach.c (the target and
 * the BPF programs), collect.c (aggregation), diagnose.c (the rules and
 * their sentences), text.c and formats.c (the outputs), topcmd.c (top).
 *
 * Exit status: 0 reported; 1 the BPF programs could not be loaded or
 * attached; 2 usage error, no such process, not a weft process.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/types.h>
#include <math.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "json.h"
#include "parse.h"
#include "sym.h"
#include "trace.h"
#include "weftstat.h"
#include "weftstat.skel.h"
#include "wfreg.h"
#include "ws.h"

/* Parse -p: the process (a thread id is taken for its process); 0 on error. */
pid_t parse_pid(const char *arg)
{
	pid_t p = ws_parse_pid(arg);

	if (!p)
		say("-p wants a process id, not '%s'", arg);
	return p;
}

bool parse_seconds(const char *opt, const char *arg, double lo, double hi, double *out)
{
	if (ws_parse_seconds(arg, lo, hi, out)) {
		say("%s wants seconds between %g and %g, not '%s'", opt, lo, hi, arg);
		return false;
	}
	return true;
}

/* Parse --listen ADDR:PORT into *ss; false (said why) on error. */
bool parse_listen(const char *arg, struct sockaddr_storage *ss, socklen_t *len)
{
	char err[256];

	if (ws_listen_parse(arg, ss, len, err, sizeof(err))) {
		say("--listen %s", err);
		return false;
	}
	return true;
}

/*
 * Open target p (exits 2 when there is no such process) and, given
 * @listen_spec, its listening socket (the address it serves on in bound):
 * the socket, -1 when not listening, or -2 when it could not be opened
 * (said why: a usage error).
 */
int open_target(pid_t p, const char *listen_spec, const struct sockaddr_storage *laddr,
		socklen_t laddr_len, char *bound, size_t blen)
{
	int lfd;

	set_target(p);
	wfreg_prog = "weftstat";
	wfreg_open(pid);	/* exits 2 when there is no such process */
	if (!listen_spec)
		return -1;
	lfd = ws_listen_open(laddr, laddr_len, bound, blen);
	if (lfd < 0) {
		say("--listen %s: %s", listen_spec, strerror(-lfd));
		return -2;
	}
	return lfd;
}

/* No operand after the options; else say so, with @usage_fn on stderr. */
bool no_operands(int argc, char **argv, void (*usage_fn)(FILE *f))
{
	if (optind >= argc)
		return true;
	say("unexpected argument '%s'", argv[optind]);
	usage_fn(stderr);
	return false;
}

static void report_usage(FILE *f)
{
	fprintf(f,
		"usage: weftstat report -p PID [-d SECONDS] [--json | --folded | --prometheus]\n"
		"                       [--threads REGEX] [--listen ADDR:PORT]\n"
		"Trace a running process's worker threads for SECONDS (default 5;\n"
		"Ctrl-C stops early) and say why it is slow: blocking inside polls, lock\n"
		"contention, CPU starvation, scheduler saturation, or healthy.\n"
		"  -p, --pid PID          the process: a weft process (its registry names the\n"
		"                         workers), else a Tokio process (\"tokio-runtime-w\"\n"
		"                         threads), else any process with --threads\n"
		"  -d, --duration SECONDS how long to trace, 0.1 to 86400 (default 5); with\n"
		"                         --listen, the length of each window\n"
		"  -j, --json             one JSON object instead of text\n"
		"  -f, --folded           blocking stacks, folded, weighted by blocked\n"
		"                         microseconds (flamegraph.pl input)\n"
		"  -P, --prometheus       Prometheus text exposition format\n"
		"  -t, --threads REGEX    trace the threads whose name (comm) matches REGEX\n"
		"                         (POSIX extended), of any runtime: thread-level view,\n"
		"                         blocking syscalls instead of polls, no tasks\n"
		"  -l, --listen ADDR:PORT with --prometheus: serve GET /metrics over HTTP at a\n"
		"                         numeric address (127.0.0.1:9464, [::1]:9464; port 0:\n"
		"                         any free one), the last complete window of SECONDS,\n"
		"                         until SIGINT or SIGTERM\n"
		"  -h, --help             this text\n");
}

/*
 * --listen: trace in windows of dur seconds until a signal (or the target
 * exits); each scrape gets the last complete window, or the one in
 * progress before the first completes. Returns an exit status.
 */
static int serve(struct weftstat_bpf *s, struct ring_buffer *rb, int lfd, double dur)
{
	uint64_t start = now_ns(), wstart = start, wlen = (uint64_t)(dur * 1e9);
	uint64_t next_refresh = start + refresh_ns();
	char *page = NULL;
	size_t len = 0;
	bool exited = false;

	while (!stop_sig) {
		struct pollfd pf[2] = {
			{ .fd = ring_buffer__epoll_fd(rb), .events = POLLIN },
			{ .fd = lfd, .events = POLLIN },
		};
		uint64_t now;

		poll(pf, 2, 100);
		ring_buffer__consume(rb);
		now = now_ns();
		if (!exited && !target_alive()) {
			exited = true;
			say("process %d exited: serving its last window until SIGINT or SIGTERM",
			    (int)pid);
		}
		if (!exited && now >= next_refresh) {
			refresh(s, false);
			next_refresh = now + refresh_ns();
		}
		if (!exited && now - wstart >= wlen) {
			char *p;

			if (!thread_mode)
				sym_user_refresh(pid);
			p = ws_prom_page(s, now, now - wstart, true, false, &len);
			if (p) {
				free(page);
				page = p;
			}
			window_reset();
			wstart = now;
		} else if (exited && !page) {
			page = ws_prom_page(s, now, now - wstart, true, true, &len);
		}
		if (pf[1].revents & POLLIN) {
			char *p = page, *partial = NULL;
			size_t plen = len;

			if (!p) {
				partial = ws_prom_page(s, now, now - wstart, false, exited, &plen);
				p = partial;
			}
			if (p && ws_http_answer(lfd, p, plen) < 0)
				say("answering a scrape: %s", strerror(errno));
			free(partial);
		}
	}
	free(page);
	return WS_EXIT_OK;
}

static int cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "folded", no_argument, NULL, 'f' },
		{ "prometheus", no_argument, NULL, 'P' },
		{ "threads", required_argument, NULL, 't' },
		{ "listen", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct weftstat_bpf *s = NULL;
	struct ring_buffer *rb = NULL;
	const char *flavour = "?", *listen_spec = NULL;
	double dur = 5;
	bool json = false, folded = false, prom = false, exited = false;
	uint64_t start, end, deadline, next_refresh, lost[WS_CNT_NR];
	struct sockaddr_storage laddr;
	socklen_t laddr_len = 0;
	struct totals t;
	char err[256], bound[80];
	pid_t p = 0;
	int c, r, lfd = -1, rc = WS_EXIT_FAIL;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:d:jfPt:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			p = parse_pid(optarg);
			if (!p)
				return WS_EXIT_USAGE;
			break;
		case 'd':
			if (!parse_seconds("-d", optarg, 0.1, 86400, &dur))
				return WS_EXIT_USAGE;
			break;
		case 'j':
			json = true;
			break;
		case 'f':
			folded = true;
			break;
		case 'P':
			prom = true;
			break;
		case 't':
			if (set_thread_pattern(optarg))
				return WS_EXIT_USAGE;
			break;
		case 'l':
			if (!parse_listen(optarg, &laddr, &laddr_len))
				return WS_EXIT_USAGE;
			listen_spec = optarg;
			break;
		case 'h':
			report_usage(stdout);
			return WS_EXIT_OK;
		default:
			report_usage(stderr);
			return WS_EXIT_USAGE;
		}
	}
	if (!no_operands(argc, argv, report_usage))
		return WS_EXIT_USAGE;
	if (json + folded + prom > 1) {
		say("--json, --folded and --prometheus are output formats: give one");
		return WS_EXIT_USAGE;
	}
	if (listen_spec && !prom) {
		say("--listen serves the Prometheus format: give --prometheus too");
		return WS_EXIT_USAGE;
	}
	if (!p) {
		say("report needs -p PID");
		report_usage(stderr);
		return WS_EXIT_USAGE;
	}
	lfd = open_target(p, listen_spec, &laddr, laddr_len, bound, sizeof(bound));
	if (lfd == -2) {
		rc = WS_EXIT_USAGE;
		goto out;
	}

	r = ws_load(&s, pid, false, &flavour, err, sizeof(err));
	if (r) {
		say("%s", err);
		say("run 'weftstat doctor' to see what this machine lacks");
		goto out;
	}
	rc = find_threads(s);
	if (rc)
		goto out;
	rc = WS_EXIT_FAIL;
	if (tokio_note)
		say("%s (/%s/)", tokio_note, thread_pat);
	if (start_tracing(s, true, false, &rb))
		goto out;
	if (lfd >= 0) {
		fprintf(stderr,
			"weftstat: serving http://%s/metrics for pid %d, %zu %s, windows of %.1f s "
			"(SIGINT or SIGTERM to stop)\n",
			bound, (int)pid, nworkers, thread_mode ? "threads" : "workers", dur);
		rc = serve(s, rb, lfd, dur);
		goto out;
	}
	start = now_ns();
	deadline = start + (uint64_t)(dur * 1e9);
	next_refresh = start + refresh_ns();
	if (!json)
		fprintf(stderr, "weftstat: tracing pid %d, %zu %s, for %.1f s (Ctrl-C to stop)\n",
			(int)pid, nworkers, thread_mode ? "threads" : "workers", dur);
	while (!stop_sig) {
		uint64_t now = now_ns();
		int left;

		if (now >= deadline)
			break;
		left = (int)((deadline - now) / 1000000) + 1;
		r = ring_buffer__poll(rb, left < 100 ? left : 100);
		if (r < 0 && r != -EINTR) {
			say("reading the ring buffer: %s", strerror(-r));
			break;
		}
		if (!target_alive()) {
			exited = true;
			break;
		}
		if (now_ns() >= next_refresh) {
			refresh(s, false);
			next_refresh = now_ns() + refresh_ns();
		}
	}
	end = now_ns();
	weftstat_bpf__detach(s);
	ring_buffer__consume(rb);	/* what arrived before the detach */
	if (!exited && !target_alive())
		exited = true;
	if (!exited)
		sym_user_refresh(pid);	/* libraries loaded during the trace */
	collect(s, end, true);
	read_locks(s, false);
	lost_counts(s, lost);
	sum_up(&t, end - start);
	if (json)
		print_json(s, &t, start, end, flavour, lost, exited);
	else if (folded)
		print_folded(s);
	else if (prom)
		print_prometheus(stdout, s, &t, end - start, lost, exited);
	else
		print_text(s, &t, end - start, flavour, lost, exited);
	if (exited)
		say("process %d exited during the trace: the report covers %.2f s", (int)pid,
		    sec(end - start));
	rc = fflush(stdout) == EOF ? WS_EXIT_FAIL : WS_EXIT_OK;
out:
	if (lfd >= 0)
		close(lfd);
	ring_buffer__free(rb);
	weftstat_bpf__destroy(s);
	sym_user_close();
	sym_kernel_close();
	wfreg_close();
	free(workers);
	free(locks);
	return rc;
}

void usage(FILE *f)
{
	fprintf(f,
		"usage: weftstat COMMAND [OPTIONS]\n"
		"Attach to a running weft (or Tokio, or any threaded) process and say why it\n"
		"is slow (eBPF).\n"
		"Commands:\n"
		"  report -p PID [-d SECONDS] [--json | --folded | --prometheus [--listen ADDR:PORT]]\n"
		"         [--threads REGEX]              trace, then diagnose\n"
		"  top -p PID [-i SECONDS] [--sort KEY] [-n FRAMES] [--json] [--threads REGEX]\n"
		"                                        live view of workers and tasks\n"
		"  doctor                               check this machine can run weftstat\n"
		"  help                                 this text\n"
		"'weftstat COMMAND --help' describes each command; docs/weftstat.md the rest.\n"
		"Exit status: 0 done; 1 failed (BPF refused, checks failed); 2 usage error,\n"
		"no such process, no workers found.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return WS_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "report"))
		return cmd_report(argc - 1, argv + 1);
	if (!strcmp(argv[1], "top"))
		return cmd_top(argc - 1, argv + 1);
	if (!strcmp(argv[1], "doctor"))
		return ws_doctor(argc - 1, argv + 1);
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return WS_EXIT_OK;
	}
	say("unknown command '%s'", argv[1]);
	usage(stderr);
	return WS_EXIT_USAGE;
}
