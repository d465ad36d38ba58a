/* SPDX-License-Identifier: MIT */
/*
 * ws.h - what weftstat's files share: exit codes, the BPF loader.
 */
#ifndef WEFT_WEFTSTAT_WS_H
#define WEFT_WEFTSTAT_WS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

enum { WS_EXIT_OK = 0, WS_EXIT_FAIL = 1, WS_EXIT_USAGE = 2 };

struct weftstat_bpf;

/*
 * Open and load the BPF programs for process tgid: the tp_btf set, else
 * the raw_tp set with the raw syscall tracepoints; with usdt, also the
 * programs for the weft:poll_start and poll_end probes (loaded, not
 * attached). Returns 0 with *skel loaded and *flavour "tp_btf",
 * "tp_btf+sys_tp" (WEFTSTAT_SYS_TP=1) or "raw_tp", or -errno with a message
 * in err (size errlen).
 */
int ws_load(struct weftstat_bpf **skel, pid_t tgid, bool usdt, const char **flavour,
	    char *err, size_t errlen);

/* weftstat doctor ARGS: exit status. */
int ws_doctor(int argc, char **argv);

/* --- top (top.c): one frame of the live view -------------------------------- */

enum ws_sort { WS_SORT_BUSY, WS_SORT_POLLS, WS_SORT_DELAY, WS_SORT_OFFCPU, WS_SORT_NAME };

/* A worker (or --threads thread) over the last interval. */
struct ws_wrow {
	uint32_t tid;
	int index;
	char name[17];		/* thread name */
	char state[16];		/* registry state (weft), scheduler state (--threads) */
	double polls_s;		/* polls per second; < 0: unknown (--threads) */
	double busy_pct;	/* on CPU, share of the interval */
	uint64_t offcpu_ns;	/* blocked inside polls (--threads: in blocking syscalls) */
	uint64_t parked_ns;	/* idle on the runtime's park futex (0 with --threads) */
	uint64_t runq_ns;	/* waiting for a CPU */
	double runq_mean_us;	/* per wakeup or preemption */
	uint64_t futex_ns, futex_waits;
};

/* A task over the last interval (max and slow: since top started). */
struct ws_trow {
	uint64_t id;
	char name[33];
	char site[288];		/* spawn site "file:line", "" unknown */
	double polls_s;
	double busy_pct;	/* time in its polls, share of the interval */
	double delay_mean_us;	/* scheduled delay per poll */
	uint64_t delay_max_ns, slow_polls, polls;
	uint64_t offcpu_ns;	/* its polls' blocking in the kernel */
};

struct ws_frame {
	int pid;
	unsigned seq;		/* 1, 2, ... */
	uint64_t time_ns;	/* CLOCK_MONOTONIC at the end of the interval */
	uint64_t interval_ns;
	bool threads;		/* --threads mode */
	bool exited;		/* the target exited during the interval */
	char what[320];		/* what is traced, one line */
	char diagnosis[512];	/* the interval's diagnosis, one sentence */
	char tasks_note[256];	/* why there are no tasks, "" when there are */
	uint64_t lost;		/* events lost since the start */
	size_t nw, nt;
	struct ws_wrow *w;
	struct ws_trow *t;
};

/* The sort key named by NAME (busy, polls, delay, offcpu, name, or its first letter), or -1. */
int ws_sort_key(const char *name);
const char *ws_sort_name(int key);
/* Sort the workers and tasks, worst first (names: alphabetically). */
void ws_frame_sort(struct ws_frame *f, int key);
/* The frame as text; at most max_tasks task rows, width columns (0: no limit). */
void ws_frame_text(FILE *out, const struct ws_frame *f, int key, size_t max_tasks);
/* The frame as one JSON object on one line. */
void ws_frame_json(FILE *out, const struct ws_frame *f, int key);

/*
 * The terminal: raw mode (no echo, no line buffering) and the alternate
 * screen. ws_tty_enter: 0 or -errno; ws_tty_leave restores what enter
 * changed (safe to call twice, from atexit). ws_tty_key: a key pressed
 * (-1 none). ws_tty_draw: the frame on the screen, cut to its size.
 */
int ws_tty_enter(void);
void ws_tty_leave(void);
int ws_tty_key(void);
void ws_tty_draw(const struct ws_frame *f, int key, const char *status);

/* --- --listen (http.c): the Prometheus text over HTTP ------------------------------ */

/*
 * Parse "ADDR:PORT" (numeric IPv4, or IPv6 in brackets: "[::1]:9464";
 * port 0 to 65535, 0: any free port): 0, or -1 with the reason in err.
 */
int ws_listen_parse(const char *spec, struct sockaddr_storage *ss, socklen_t *len, char *err,
		    size_t errlen);
/* Bind and listen, non-blocking: the socket, or -errno. Names the address bound in buf. */
int ws_listen_open(const struct sockaddr_storage *ss, socklen_t len, char *buf, size_t buflen);
/*
 * Answer one connection waiting on lfd: GET /metrics gets body (the text
 * exposition format), other paths 404, other methods 405. Gives up on a
 * client that has not sent its request within 2 s. 0, or -errno.
 */
int ws_http_answer(int lfd, const char *body, size_t len);

#endif /* WEFT_WEFTSTAT_WS_H */
