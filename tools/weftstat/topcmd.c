// SPDX-License-Identifier: MIT
/*
 * topcmd.c - weftstat topcmd: weftstat top, the command. Options, the loop over
 * intervals (terminal keys, signals, the target exiting) and each frame
 * built from the maps; top.c draws the frames.
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

/* --- top ------------------------------------------------------------------------------ */

/* A --threads thread's scheduler state, from /proc. */
static void proc_state(uint32_t tid, char *buf, size_t len)
{
	char fn[64], st[512], c;
	FILE *f;
	size_t n;

	snprintf(buf, len, "gone");
	snprintf(fn, sizeof(fn), "/proc/%d/task/%u/stat", (int)pid, tid);
	f = fopen(fn, "re");
	if (!f)
		return;
	n = fread(st, 1, sizeof(st), f);
	fclose(f);
	c = ws_stat_state(st, n);
	if (!c)
		return;
	switch (c) {
	case 'R': snprintf(buf, len, "running"); break;
	case 'S': snprintf(buf, len, "sleeping"); break;
	case 'D': snprintf(buf, len, "disk"); break;
	case 'T': case 't': snprintf(buf, len, "stopped"); break;
	case 'Z': case 'X': snprintf(buf, len, "dead"); break;
	default: snprintf(buf, len, "%c", c); break;
	}
}

/*
 * Build the frame of the interval that ended at now: workers from the
 * workers map (and the registry's states and poll counts), tasks from the
 * tasks map. The caller has refreshed the registry view and consumed the
 * ring buffer. With page (--listen), also the Prometheus page of the same
 * interval: *page replaced when it could be built (a heap string, *plen
 * bytes).
 */
static void build_frame(struct weftstat_bpf *s, struct ws_frame *f, uint64_t now,
			uint64_t interval, bool usdt, const char *note, bool exited,
			char **page, size_t *plen)
{
	struct totals t;
	uint64_t lost[WS_CNT_NR];
	double iv = interval ? (double)interval / 1e9 : 1;

	collect(s, now, true);
	read_locks(s, true);
	sum_up(&t, interval);
	f->pid = (int)pid;
	f->time_ns = now;
	f->interval_ns = interval;
	f->threads = thread_mode;
	if (thread_mode)
		snprintf(f->what, sizeof(f->what), "%zu thread%s named like /%s/", nworkers,
			 nworkers == 1 ? "" : "s", thread_pat);
	else
		snprintf(f->what, sizeof(f->what), "%zu worker%s (threads \"%s-N\"%s)", nslots(),
			 nslots() == 1 ? "" : "s", thread_prefix,
			 nworkers > nslots() ? "; spares took some over" : "");
	/* The prefix is the target's, the pattern the user's: printable only. */
	for (char *c = f->what; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			*c = '?';
	diag_line(f->diagnosis, sizeof(f->diagnosis), &t);
	lost_counts(s, lost);
	if (page) {
		size_t len = 0;
		char *p = ws_prom_render(s, &t, interval, lost, exited, &len);

		if (p) {
			free(*page);
			*page = p;
			*plen = len;
		}
	}
	f->lost = sites_dropped;
	for (int i = 0; i < WS_CNT_NR; i++)
		f->lost += lost[i];
	free(f->w);
	f->w = calloc(nworkers ? nworkers : 1, sizeof(*f->w));
	f->nw = 0;
	for (size_t i = 0; f->w && i < nworkers; i++) {
		const struct ws_worker *w = &workers[i].st;
		struct ws_wrow *r = &f->w[f->nw++];
		uint64_t nwait = w->nwakeups + w->nswitch_invol;

		r->tid = workers[i].tid;
		r->index = workers[i].index;
		snprintf(r->name, sizeof(r->name), "%s", workers[i].comm);
		if (thread_mode) {
			proc_state(r->tid, r->state, sizeof(r->state));
			r->polls_s = -1;
		} else {
			/*
			 * Name, index and state: the slot it drives now
			 * (refresh_workers() just walked the registry). One
			 * that drives none keeps its last slot's name.
			 */
			snprintf(r->state, sizeof(r->state), "%s",
				 workers[i].handed_off ? "handed-off"
						       : wfreg_state_name(workers[i].reg_state));
			r->polls_s = (double)(workers[i].polls - workers[i].polls_prev) / iv;
			workers[i].polls_prev = workers[i].polls;
		}
		r->busy_pct = 100.0 * (double)w->oncpu_ns / (double)interval;
		r->offcpu_ns = w->poll_block_ns;
		r->parked_ns = w->futex_park_ns;
		r->runq_ns = w->runq_ns;
		r->runq_mean_us = nwait ? (double)w->runq_ns / (double)nwait / 1000 : 0;
		r->futex_ns = w->futex_user_ns;
		r->futex_waits = w->nfutex_user;
	}
	free(f->t);
	f->t = NULL;
	f->nt = 0;
	snprintf(f->tasks_note, sizeof(f->tasks_note), "%s", note ? note : "");
	if (!usdt)
		return;
	read_tasks(s);
	f->t = calloc(nutasks ? nutasks : 1, sizeof(*f->t));
	for (size_t i = 0; f->t && i < nutasks; i++) {
		const struct utask *u = &utasks[i];
		struct ws_trow *r = &f->t[f->nt++];
		uint64_t dp = u->cur.polls - u->prev.polls;

		r->id = u->id;
		memcpy(r->name, u->name, sizeof(r->name));
		memcpy(r->site, u->site, sizeof(r->site));
		r->polls_s = (double)dp / iv;
		r->busy_pct = 100.0 * (double)(u->cur.busy_ns - u->prev.busy_ns) / (double)interval;
		r->delay_mean_us =
			dp ? (double)(u->cur.delay_ns - u->prev.delay_ns) / (double)dp / 1000 : 0;
		r->delay_max_ns = u->cur.max_delay_ns;
		r->slow_polls = u->cur.slow_polls;
		r->polls = u->cur.polls;
		r->offcpu_ns = u->off_ns;
	}
}

/*
 * --listen: answer one scrape with the last frame's page, or before the
 * first frame with the interval so far (not committed: the frame still
 * gets it). On a terminal, a failed answer is not said (it would tear the
 * screen); a slow client holds top up to 2 s (ws_http_answer()).
 */
static void scrape(struct weftstat_bpf *s, int lfd, const char *page, size_t len,
		   uint64_t now, uint64_t since, bool exited, bool tty)
{
	char *partial = NULL;

	if (!page) {
		partial = ws_prom_page(s, now, since, false, exited, &len);
		page = partial;
	}
	if (page && ws_http_answer(lfd, page, len) < 0 && !tty)
		say("answering a scrape: %s", strerror(errno));
	free(partial);
}

static void top_usage(FILE *f)
{
	fprintf(f,
		"usage: weftstat top -p PID [-i SECONDS] [--sort KEY] [-n FRAMES] [--json]\n"
		"                    [--threads REGEX] [--no-tasks] [--listen ADDR:PORT]\n"
		"A live view of a running process's workers and tasks, refreshed every\n"
		"interval, worst first. On a terminal: q quits; b, p, d, o, n sort by busy,\n"
		"polls, delay, off-CPU, name. Elsewhere (a pipe, a file): one plain-text frame\n"
		"per interval, like top -b.\n"
		"  -p, --pid PID          the process\n"
		"  -i, --interval SECONDS refresh interval, 0.1 to 3600 (default 1)\n"
		"  -s, --sort KEY         busy, polls, delay, offcpu or name (default busy)\n"
		"  -n, --iterations N     stop after N frames (default: until q, ^C or the\n"
		"                         target exits)\n"
		"  -j, --json             one JSON object per frame, one per line (no terminal UI)\n"
		"  -t, --threads REGEX    worker threads chosen by name (comm), for any runtime\n"
		"                         (default: the weft registry's workers, else Tokio's\n"
		"                         \"tokio-runtime-w\" threads)\n"
		"      --no-tasks         no task view (it attaches uprobes to weft:poll_start\n"
		"                         and poll_end: about 1.3 us per poll while attached)\n"
		"  -l, --listen ADDR:PORT also serve GET /metrics over HTTP at a numeric address\n"
		"                         (127.0.0.1:9464, [::1]:9464; port 0: any free one):\n"
		"                         the Prometheus text of the last frame's interval\n"
		"                         (before the first frame, the interval so far), while\n"
		"                         top runs\n"
		"  -h, --help             this text\n");
}

int cmd_top(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "interval", required_argument, NULL, 'i' },
		{ "sort", required_argument, NULL, 's' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "threads", required_argument, NULL, 't' },
		{ "no-tasks", no_argument, NULL, 'T' },
		{ "listen", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bpf_link *links[MAX_USDT_LINKS];
	struct weftstat_bpf *s = NULL;
	struct ring_buffer *rb = NULL;
	struct ws_frame frame = { 0 };
	const char *flavour = "?";
	char err[256], note[256] = "", status[256], bound[80] = "";
	const char *listen_spec = NULL;
	struct sockaddr_storage laddr;
	socklen_t laddr_len = 0;
	char *page = NULL;
	size_t page_len = 0;
	int lfd = -1;
	double iv = 1;
	long long iters = 0;
	bool json = false, want_tasks = true, usdt = false, tty, exited = false;
	int c, r, key = WS_SORT_BUSY, rc = WS_EXIT_FAIL;
	uint64_t start, last, next_frame, next_refresh;
	size_t nlinks = 0;
	pid_t p = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:i:s:n:jt:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			p = parse_pid(optarg);
			if (!p)
				return WS_EXIT_USAGE;
			break;
		case 'i':
			if (!parse_seconds("-i", optarg, 0.1, 3600, &iv))
				return WS_EXIT_USAGE;
			break;
		case 's':
			key = ws_sort_key(optarg);
			if (key < 0) {
				say("--sort wants busy, polls, delay, offcpu or name, not '%s'",
				    optarg);
				return WS_EXIT_USAGE;
			}
			break;
		case 'n':
			if (ws_parse_count(optarg, 1, 1000000000, &iters)) {
				say("-n wants a number of frames from 1, not '%s'", optarg);
				return WS_EXIT_USAGE;
			}
			break;
		case 'j':
			json = true;
			break;
		case 't':
			if (set_thread_pattern(optarg))
				return WS_EXIT_USAGE;
			break;
		case 'T':
			want_tasks = false;
			break;
		case 'l':
			if (!parse_listen(optarg, &laddr, &laddr_len))
				return WS_EXIT_USAGE;
			listen_spec = optarg;
			break;
		case 'h':
			top_usage(stdout);
			return WS_EXIT_OK;
		default:
			top_usage(stderr);
			return WS_EXIT_USAGE;
		}
	}
	if (!no_operands(argc, argv, top_usage))
		return WS_EXIT_USAGE;
	if (!p) {
		say("top needs -p PID");
		top_usage(stderr);
		return WS_EXIT_USAGE;
	}
	tty = !json && isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
	lfd = open_target(p, listen_spec, &laddr, laddr_len, bound, sizeof(bound));
	if (lfd == -2) {
		rc = WS_EXIT_USAGE;
		goto out;
	}

	r = ws_load(&s, pid, want_tasks && !thread_mode, &flavour, err, sizeof(err));
	if (r) {
		say("%s", err);
		say("run 'weftstat doctor' to see what this machine lacks");
		goto out;
	}
	rc = find_threads(s);
	if (rc)
		goto out;
	rc = WS_EXIT_FAIL;
	if (thread_mode)
		snprintf(note, sizeof(note), "none for threads chosen by name (%s)",
			 tokio_note ? tokio_note : "--threads");
	else if (!want_tasks)
		snprintf(note, sizeof(note), "off (--no-tasks)");
	else
		usdt = !attach_usdt(s, links, &nlinks, note, sizeof(note));
	if (start_tracing(s, false, true, &rb))
		goto out;
	if (lfd >= 0)
		fprintf(stderr,
			"weftstat: serving http://%s/metrics for pid %d, %zu %s, the last frame of "
			"%.1f s (while top runs)\n",
			bound, (int)pid, nworkers, thread_mode ? "threads" : "workers", iv);
	if (tty) {
		r = ws_tty_enter();
		if (r) {
			say("cannot set up the terminal: %s", strerror(-r));
			goto out;
		}
		atexit(ws_tty_leave);
		/* Stopped in raw mode, top would leave the shell a raw terminal. */
		signal(SIGTSTP, SIG_IGN);
	}
	start = last = now_ns();
	next_frame = start + (uint64_t)(iv * 1e9);
	next_refresh = start + refresh_ns();
	if (tty) {
		snprintf(status, sizeof(status),
			 " weftstat top: pid %d, first frame in %.1f s; q quits", (int)pid, iv);
		memset(&frame, 0, sizeof(frame));
		frame.pid = (int)pid;
		snprintf(frame.diagnosis, sizeof(frame.diagnosis), "Collecting...");
		snprintf(frame.tasks_note, sizeof(frame.tasks_note), "%s", note);
		ws_tty_draw(&frame, key, status);
	}
	rc = WS_EXIT_OK;
	while (!stop_sig) {
		/* The terminal's keys and the listening socket, when there are. */
		struct pollfd pf[3] = {
			{ .fd = ring_buffer__epoll_fd(rb), .events = POLLIN },
			{ .fd = tty ? STDIN_FILENO : -1, .events = POLLIN },
			{ .fd = lfd, .events = POLLIN },
		};
		uint64_t now = now_ns();
		int left = now < next_frame ? (int)((next_frame - now) / 1000000) + 1 : 0;
		int k, redraw = 0;

		poll(pf, 3, left < 100 ? left : 100);
		ring_buffer__consume(rb);
		while ((k = ws_tty_key()) >= 0) {
			if (k == 'q' || k == 'Q' || k == 3) {
				stop_sig = SIGINT;
				break;
			}
			k = k == 'b' ? WS_SORT_BUSY : k == 'p' ? WS_SORT_POLLS
				: k == 'd' ? WS_SORT_DELAY : k == 'o' ? WS_SORT_OFFCPU
				: k == 'n' ? WS_SORT_NAME : -1;
			if (k >= 0) {
				key = k;
				redraw = 1;
			}
		}
		if (stop_sig)
			break;
		if (!target_alive())
			exited = true;
		now = now_ns();
		if (now >= next_refresh && !exited) {
			refresh(s, false);
			next_refresh = now + refresh_ns();
		}
		if (lfd >= 0 && (pf[2].revents & POLLIN))
			scrape(s, lfd, page, page_len, now, now - last, exited, tty);
		if (now >= next_frame || exited) {
			if (!exited && !thread_mode)
				refresh_workers(s, false);	/* states and poll counts now */
			ring_buffer__consume(rb);
			frame.seq++;
			build_frame(s, &frame, now, now - last, usdt, note, exited,
				    lfd >= 0 ? &page : NULL, &page_len);
			frame.exited = exited;
			window_reset();
			last = now;
			next_frame = now + (uint64_t)(iv * 1e9);
			ws_frame_sort(&frame, key);
			if (tty && !exited) {
				redraw = 1;
			} else if (json) {
				ws_frame_json(stdout, &frame, key);
			} else if (!tty) {
				ws_frame_text(stdout, &frame, key, 20);
				fputc('\n', stdout);
			}
			if (!tty && fflush(stdout) == EOF) {
				rc = WS_EXIT_FAIL;
				break;
			}
			if (exited || (iters && frame.seq >= (unsigned long long)iters))
				break;
		}
		if (redraw && tty && frame.seq) {
			ws_frame_sort(&frame, key);
			snprintf(status, sizeof(status),
				 " q quit  b busy  p polls  d delay  o off-cpu  n name   sorted by %s,"
				 " every %.1f s",
				 ws_sort_name(key), iv);
			ws_tty_draw(&frame, key, status);
		}
	}
	if (tty) {
		ws_tty_leave();
		/* The last frame stays on the screen the shell gets back. */
		if (frame.seq)
			ws_frame_text(stdout, &frame, key, 20);
	}
	if (exited) {
		if (tty || !json)
			printf("weftstat: process %d exited; top stopped\n", (int)pid);
		say("process %d exited", (int)pid);
	}
	fflush(stdout);
out:
	for (size_t i = 0; i < nlinks; i++)
		bpf_link__destroy(links[i]);
	if (lfd >= 0)
		close(lfd);
	free(page);
	ring_buffer__free(rb);
	weftstat_bpf__destroy(s);
	sym_user_close();
	wfreg_close();
	free(frame.w);
	free(frame.t);
	free(utasks);
	free(workers);
	free(locks);
	return rc;
}
