// SPDX-License-Identifier: MIT
/*
 * diagnose.c - weftstat diagnose: the rules of docs/weftstat.md ("Diagnosis rules") over
 * the totals, and the sentences that say what they found.
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

static const char *const diag_id[D_NR] = { "blocking_in_poll", "lock_contention",
					   "cpu_starvation", "scheduler_saturation" };
static const char *const diag_title[D_NR] = { "BLOCKING INSIDE POLLS", "LOCK CONTENTION",
					      "CPU STARVATION", "SCHEDULER SATURATION" };

/* --threads: threads block in syscalls; there are no polls to be inside. */
const char *diag_name(int d)
{
	return thread_mode && d == D_BLOCKING ? "blocking_in_thread" : diag_id[d];
}

const char *diag_title_of(int d)
{
	return thread_mode && d == D_BLOCKING ? "BLOCKING IN WORKER THREADS" : diag_title[d];
}

/* Which problem classes the figures show, the worst first; returns how many. */
int diagnose(const struct totals *t, enum diag *out)
{
	double score[D_NR];
	int n = 0;

	score[D_BLOCKING] = t->block_frac >= TH_BLOCK_FRAC ? t->block_frac : 0;
	/*
	 * A foreign runtime's idle parking is a futex wait too, on a word
	 * weftstat does not know: its futex waits are shown, not diagnosed.
	 */
	score[D_LOCK] = !thread_mode && t->lock_frac >= TH_LOCK_FRAC ? t->lock_frac : 0;
	score[D_STARVATION] =
		t->runq_frac >= TH_RUNQ_FRAC ||
				(t->runq_mean_ns >= TH_RUNQ_MEAN_NS && t->runq_frac >= 0.01)
			? t->runq_frac
			: 0;
	score[D_SATURATION] = t->busy_frac >= TH_BUSY_FRAC ? t->busy_frac : 0;
	/* Blocking on a user lock inside a poll is lock contention first. */
	if (score[D_LOCK] && score[D_BLOCKING] && t->futex_user >= t->block / 2)
		score[D_BLOCKING] = score[D_LOCK] - 1e-9;
	for (int i = 0; i < D_NR; i++)
		if (score[i] > 0)
			out[n++] = (enum diag)i;
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && score[out[j]] > score[out[j - 1]]; j--) {
			enum diag tmp = out[j];

			out[j] = out[j - 1];
			out[j - 1] = tmp;
		}
	return n;
}

/*
 * --threads, blocking diagnosed: one sentence about the worst site (one
 * thread's), then the totals. Sites are sorted. Thread-level facts only.
 */
void thread_sentence(struct weftstat_bpf *s, const struct totals *t, uint64_t window)
{
	struct frame *fr = calloc(MAX_FRAMES, sizeof(*fr));
	const struct site *st = nsites ? &sites[0] : NULL;

	if (st && fr) {
		size_t n = site_frames(s, st, fr);
		const struct frame *c = culprit_of(fr, n);
		const char *sys = syscall_name(st->sys_nr);

		printf("Thread ");
		wfreg_put_safe(stdout, st->task_name);
		printf(" %" PRIu64 " spent %.1f%% of the trace blocked in ", st->task_id,
		       window ? 100.0 * (double)st->total_ns / (double)window : 0);
		if (sys)
			printf("%s", sys);
		else
			printf("syscall %" PRId64, st->sys_nr);
		if (c && c->s.file[0]) {
			printf(" at ");
			wfreg_put_safe(stdout, c->s.file);
			printf(":%d (", c->s.line);
			wfreg_put_safe(stdout, c->s.func);
			printf(")");
		} else if (c) {
			printf(" in ");
			put_frame(stdout, c);
		}
		printf(", in %" PRIu64 " episodes. ", st->count);
	}
	printf("In all the threads were blocked in syscalls (not futex or event waits) for "
	       "%.3f s of %.3f s thread time (%.1f%%), in %" PRIu64 " episodes: a worker "
	       "thread blocked in the kernel runs nothing else meanwhile.\n",
	       sec(t->block), sec(t->worker_ns), 100 * t->block_frac, t->nblock);
	printf("  Fix: move the blocking call (the top culprit below) off the worker "
	       "threads (Tokio: spawn_blocking or block_in_place), or use its asynchronous "
	       "form.\n");
	free(fr);
}

/* The diagnosis of the figures in workers[].st, in one sentence. */
void diag_line(char *buf, size_t len, const struct totals *t)
{
	enum diag d[D_NR];
	int nd = diagnose(t, d);
	size_t o;

	if (!t->worker_ns) {
		snprintf(buf, len, "Diagnosis: no worker threads traced yet.");
		return;
	}
	if (!nd) {
		snprintf(buf, len,
			 "Diagnosis: HEALTHY. On CPU %.1f%%, %s %.1f%%, futex waits %.1f%%, "
			 "waiting for a CPU %.1f%% of %s time.",
			 100.0 * (double)t->oncpu / (double)t->worker_ns,
			 thread_mode ? "blocked in syscalls" : "blocked inside polls",
			 100 * t->block_frac, 100 * t->lock_frac, 100 * t->runq_frac,
			 thread_mode ? "thread" : "worker");
		return;
	}
	o = (size_t)snprintf(buf, len, "Diagnosis:");
	for (int i = 0; i < nd && o < len; i++) {
		double v = d[i] == D_BLOCKING ? t->block_frac
			   : d[i] == D_LOCK   ? t->lock_frac
			   : d[i] == D_STARVATION ? t->runq_frac
						  : t->busy_frac;

		o += (size_t)snprintf(buf + o, len - o, "%s %s (%.1f%% of %s time)",
				      i ? "," : "", diag_title_of(d[i]), 100 * v,
				      thread_mode ? "thread" : "worker");
	}
	if (o < len && nsites && (thread_mode || nd)) {
		qsort(sites, nsites, sizeof(sites[0]), site_cmp);
		o += (size_t)snprintf(buf + o, len - o, "; worst blocking: %s %" PRIu64 " \"%s\"",
				      thread_mode ? "thread" : "task", sites[0].task_id,
				      sites[0].task_name);
		if (syscall_name(sites[0].sys_nr) && o < len)
			snprintf(buf + o, len - o, " in %s", syscall_name(sites[0].sys_nr));
	}
	if (o < len)
		snprintf(buf + o, len - o, ".");
	for (char *c = buf; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			*c = '?';
}
