// SPDX-License-Identifier: MIT
/*
 * text.c - weftstat text: the report as text. Blocking sites symbolised (user frames,
 * the culprit, the kernel function), the per-worker table and log2
 * histograms, the worst user locks, the lost-events line.
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

/* --- reporting -------------------------------------------------------------------- */

const char *syscall_name(int64_t nr)
{
#if defined(__x86_64__)
	switch (nr) {
	case 0: return "read";
	case 1: return "write";
	case 7: return "poll";
	case 23: return "select";
	case 35: return "nanosleep";
	case 42: return "connect";
	case 43: return "accept";
	case 45: return "recvfrom";
	case 61: return "wait4";
	case 202: return "futex";
	case 230: return "clock_nanosleep";
	case 232: return "epoll_wait";
	case 257: return "openat";
	case 270: return "pselect6";
	case 271: return "ppoll";
	case 281: return "epoll_pwait";
	case 426: return "io_uring_enter";
	case 449: return "futex_waitv";
	case 455: return "futex_wait";
	}
#endif
	(void)nr;
	return NULL;
}

/* The user frames of a site, innermost first: scanned candidates spliced in. */
size_t site_frames(struct weftstat_bpf *s, const struct site *st, struct frame *f)
{
	__u64 ips[WS_STACK_DEPTH];
	size_t n = 0, nips = 0;
	unsigned c;

	memset(ips, 0, sizeof(ips));
	if (st->ustack_id >= 0 &&
	    !bpf_map_lookup_elem(bpf_map__fd(s->maps.stacks), &st->ustack_id, ips))
		while (nips < WS_STACK_DEPTH && ips[nips])
			nips++;
	if (nips) {
		f[0].addr = ips[0];
		sym_user(f[0].addr, &f[0].s);
		n = 1;
	}
	/*
	 * Candidates until the walk's own next frame shows up among them; one
	 * in no function (a stale word pointing at code without a symbol) is
	 * not a frame. -1: the call instruction, not the return address.
	 */
	for (c = 0; c < st->ncands && n < MAX_FRAMES; c++) {
		if (nips > 1 && st->cands[c] == ips[1])
			break;
		f[n].addr = st->cands[c];
		sym_user(f[n].addr - 1, &f[n].s);
		if (strcmp(f[n].s.func, "?"))
			n++;
	}
	for (size_t i = 1; i < nips && n < MAX_FRAMES; i++) {
		f[n].addr = ips[i];
		sym_user(f[n].addr - 1, &f[n].s);
		n++;
	}
	return n;
}

/* The first frame outside the C library and the loader: the code that blocked. */
const struct frame *culprit_of(const struct frame *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!sym_is_system(&f[i].s) && strcmp(f[i].s.func, "?"))
			return &f[i];
	return n ? &f[0] : NULL;
}

const char *kernel_top(struct weftstat_bpf *s, int kstack_id)
{
	static const char *const boring[] = { "__schedule", "schedule", "schedule_hrtimeout",
					      "__traceiter", "bpf_", "preempt_schedule" };
	__u64 ips[WS_STACK_DEPTH];

	if (kstack_id < 0 ||
	    bpf_map_lookup_elem(bpf_map__fd(s->maps.stacks), &kstack_id, ips))
		return NULL;
	for (int i = 0; i < WS_STACK_DEPTH && ips[i]; i++) {
		const char *name = sym_kernel(ips[i]);
		bool skip = false;

		if (!name)
			return NULL;
		for (size_t b = 0; b < sizeof(boring) / sizeof(boring[0]); b++)
			skip |= !strncmp(name, boring[b], strlen(boring[b]));
		if (!skip)
			return name;
	}
	return NULL;
}

int site_cmp(const void *a, const void *b)
{
	const struct site *x = a, *y = b;

	return x->total_ns < y->total_ns ? 1 : x->total_ns > y->total_ns ? -1 : 0;
}

double sec(uint64_t ns)
{
	return (double)ns / 1e9;
}

static void print_hist(const char *title, const __u64 *h)
{
	uint64_t max = 0;
	int last = -1;

	for (int i = 0; i < WS_HIST_SLOTS; i++) {
		if (h[i] > max)
			max = h[i];
		if (h[i])
			last = i;
	}
	if (last < 0)
		return;
	printf("    %-24s : count    distribution\n", title);
	for (int i = 0; i <= last; i++) {
		uint64_t lo = i ? 1ull << i : 0, hi = (1ull << (i + 1)) - 1;
		int stars = max ? (int)(h[i] * 40 / max) : 0;

		printf("    %10" PRIu64 " -> %-10" PRIu64 " : %-8llu |%-40.*s|\n", lo, hi,
		       (unsigned long long)h[i], stars,
		       "****************************************");
	}
}

void put_frame(FILE *f, const struct frame *fr)
{
	wfreg_put_safe(f, fr->s.func);
	if (fr->s.file[0]) {
		fputs(" (", f);
		wfreg_put_safe(f, fr->s.file);
		fprintf(f, ":%d)", fr->s.line);
	} else if (fr->s.module[0]) {
		fputs(" (in ", f);
		wfreg_put_safe(f, fr->s.module);
		/* No symbols (sym.c's symbolizer failed): the offset in the file. */
		if (!strcmp(fr->s.func, "?") && fr->s.offset)
			fprintf(f, "+0x%" PRIx64, fr->s.offset);
		fputc(')', f);
	}
}

/* The culprit frame of a lock's top call stack. */
bool lock_culprit(struct weftstat_bpf *s, const struct lock *l, struct frame *out)
{
	struct site st = { .ustack_id = l->top_stack, .ncands = l->ncands };
	struct frame *fr = calloc(MAX_FRAMES, sizeof(*fr));
	const struct frame *c;
	size_t n;

	if (!fr)
		return false;
	memcpy(st.cands, l->cands, sizeof(st.cands));
	n = site_frames(s, &st, fr);
	c = culprit_of(fr, n);
	if (c)
		*out = *c;
	free(fr);
	return c != NULL;
}

/* "name" or "name+0x10" for a data address, or the module, or "?". */
void lock_name(uint64_t uaddr, char *buf, size_t len)
{
	struct sym sy;

	if (!uaddr) {
		snprintf(buf, len, "(futex_waitv)");
		return;
	}
	if (!sym_user(uaddr, &sy)) {
		snprintf(buf, len, "(heap or stack)");
		return;
	}
	if (strcmp(sy.func, "?"))
		snprintf(buf, len, sy.offset ? "%s+0x%" PRIx64 : "%s", sy.func, sy.offset);
	else
		snprintf(buf, len, "(in %s)", sy.module);
}

/* Untrusted text padded (or cut) to width columns. */
static void put_padded(FILE *f, const char *s, int width)
{
	int n = 0;

	for (; s[n] && n < width; n++)
		fputc((unsigned char)s[n] >= 0x20 && (unsigned char)s[n] < 0x7f ? s[n] : '?', f);
	for (; n < width; n++)
		fputc(' ', f);
}

void print_text(struct weftstat_bpf *s, const struct totals *t, uint64_t window,
		       const char *flavour, const uint64_t *lost, bool exited)
{
	enum diag d[D_NR];
	int nd = diagnose(t, d);
	struct frame *fr = calloc(MAX_FRAMES, sizeof(*fr));
	bool blocking = false, locking = false;

	if (thread_mode) {
		printf("weftstat: pid %d, %zu thread%s named like /", (int)pid, nworkers,
		       nworkers == 1 ? "" : "s");
		wfreg_put_safe(stdout, thread_pat);
		printf("/ (chosen by name: thread-level figures, no tasks)");
	} else {
		printf("weftstat: pid %d, %zu worker%s (threads \"", (int)pid, nslots(),
		       nslots() == 1 ? "" : "s");
		wfreg_put_safe(stdout, thread_prefix);
		printf("-N\"");
		if (nworkers > nslots())
			printf("; %zu threads drove them: stall compensation", nworkers);
		printf(")");
	}
	printf(", traced %.2f s with %s programs%s\n\n", sec(window), flavour,
	       exited ? "; the target exited during the trace" : "");

	qsort(sites, nsites, sizeof(sites[0]), site_cmp);
	if (!nd && thread_mode) {
		printf("Diagnosis: HEALTHY. Threads were on CPU %.1f%% of their time, blocked "
		       "in syscalls %.1f%%, in futex waits %.1f%% (locks or idle parking: "
		       "weftstat cannot tell them apart in a foreign runtime), waiting for a "
		       "CPU %.1f%%; the rest idle (event waits such as epoll_wait).\n",
		       100.0 * (double)t->oncpu / (double)t->worker_ns, 100 * t->block_frac,
		       100 * t->lock_frac, 100 * t->runq_frac);
	} else if (!nd) {
		printf("Diagnosis: HEALTHY. Workers were on CPU %.1f%% of their time, off CPU "
		       "inside polls %.1f%%, waiting on user locks %.1f%%, waiting for a CPU "
		       "%.1f%%; the rest idle (parked or between polls).\n",
		       100.0 * (double)t->oncpu / (double)t->worker_ns, 100 * t->block_frac,
		       100 * t->lock_frac, 100 * t->runq_frac);
	}
	for (int i = 0; i < nd; i++) {
		printf("%s: %s. ", i ? "Also" : "Diagnosis", diag_title_of(d[i]));
		switch (d[i]) {
		case D_BLOCKING:
			if (thread_mode) {
				thread_sentence(s, t, window);
				break;
			}
			printf("Workers were blocked in the kernel inside polls for %.3f s of "
			       "%.3f s worker time (%.1f%%), in %" PRIu64 " episodes: while a "
			       "poll blocks, its worker runs nothing else, so every task queued "
			       "on it waits.\n",
			       sec(t->block), sec(t->worker_ns), 100 * t->block_frac, t->nblock);
			printf("  Fix: move the blocking call (the top culprit below) out of the "
			       "poll: wf_run_blocking() or wf_block_in_place(), or wait the weft "
			       "way (docs/runtime.md).\n");
			break;
		case D_LOCK:
			printf("Workers waited on futexes (user locks, not the runtime's idle "
			       "parking) for %.3f s of %.3f s worker time (%.1f%%), in %" PRIu64
			       " waits.\n",
			       sec(t->futex_user), sec(t->worker_ns), 100 * t->lock_frac,
			       t->nfutex);
			printf("  Fix: shorten the critical section of the top lock below, or "
			       "take a wf_mutex, which suspends the task, not the worker "
			       "(docs/sync.md).\n");
			break;
		case D_STARVATION:
			printf("Workers were runnable but waiting for a CPU for %.3f s (%.1f%% "
			       "of worker time), %.0f us on average after each wakeup or "
			       "preemption (%" PRIu64 " preemptions): other threads or too few "
			       "CPUs.\n",
			       sec(t->runq), 100 * t->runq_frac, t->runq_mean_ns / 1000, t->invol);
			printf("  Fix: find what else runs on these CPUs (other processes, the "
			       "blocking pool), or give the workers CPUs of their own.\n");
			break;
		case D_SATURATION:
			printf("Workers were busy (on CPU %.1f%%, waiting for one %.1f%%) %.1f%% "
			       "of the time, never idle: the runtime is saturated; more work "
			       "arrives than %zu worker%s can run.\n",
			       100.0 * (double)t->oncpu / (double)t->worker_ns,
			       100 * t->runq_frac, 100 * t->busy_frac, nworkers,
			       thread_mode ? (nworkers == 1 ? " thread" : " threads")
					   : (nworkers == 1 ? "" : "s"));
			printf("  Fix: more workers (if there are idle CPUs), or less work per "
			       "poll.\n");
			break;
		default:
			break;
		}
	}
	for (int i = 0; i < nd; i++) {
		blocking |= d[i] == D_BLOCKING || d[i] == D_LOCK;
		locking |= d[i] == D_LOCK;
	}
	if (nsites && fr) {
		if (thread_mode)
			printf("\n%s, by call site and thread (worst first):\n",
			       blocking ? "Blocking syscalls"
					: "Short blocking syscalls (below the thresholds)");
		else
			printf("\n%s, by call site (worst first):\n",
			       blocking ? "Blocking inside polls"
					: "Short blocking inside polls (below the thresholds)");
		for (size_t i = 0; i < nsites && i < 5; i++) {
			const struct site *st = &sites[i];
			size_t n = site_frames(s, st, fr);
			const struct frame *c = culprit_of(fr, n);
			const char *sys = syscall_name(st->sys_nr), *k = kernel_top(s, st->kstack_id);

			printf("  %s%.1f ms in %" PRIu64 " episodes (max %.1f ms, %.1f%% of the "
			       "blocked time): ",
			       i || !blocking ? "" : "TOP CULPRIT ", (double)st->total_ns / 1e6,
			       st->count,
			       (double)st->max_ns / 1e6,
			       t->block ? 100.0 * (double)st->total_ns / (double)t->block : 0);
			if (c)
				put_frame(stdout, c);
			else
				printf("(no user stack)");
			printf("\n      %s %" PRIu64 " \"", thread_mode ? "thread" : "task",
			       st->task_id);
			wfreg_put_safe(stdout, st->task_name);
			printf("\"");
			if (st->task_file[0]) {
				printf(" spawned at ");
				wfreg_put_safe(stdout, st->task_file);
				printf(":%u", st->task_line);
			}
			if (st->nother)
				printf(" and %s%u other task%s", st->more_tasks ? "over " : "",
				       st->nother, st->nother == 1 ? "" : "s");
			if (st->sys_nr >= 0) {
				if (sys)
					printf(", in syscall %s", sys);
				else
					printf(", in syscall %" PRId64, st->sys_nr);
			}
			if (k)
				printf(", kernel: %s", k);
			printf("\n      stack:");
			for (size_t j = 0; j < n && j < 12; j++) {
				printf("\n        #%zu 0x%" PRIx64 " ", j, fr[j].addr);
				put_frame(stdout, &fr[j]);
			}
			printf("\n");
		}

	}

	if (nlocks) {
		printf("\n%s, by lock (worst first):\n",
		       thread_mode ? "Futex waits (user locks or the runtime's idle parking: "
				     "not told apart, not diagnosed, for threads chosen by name)"
		       : locking   ? "Futex waits on user locks"
				   : "Futex waits on user locks (below the thresholds)");
		for (size_t i = 0; i < nlocks && i < MAX_LOCKS_SHOWN; i++) {
			const struct lock *l = &locks[i];
			struct frame c;
			char name[160];

			lock_name(l->uaddr, name, sizeof(name));
			printf("  %s%.1f ms in %" PRIu64 " waits (max %.1f ms): lock ",
			       i || !locking ? "" : "TOP LOCK ", (double)l->wait_ns / 1e6,
			       l->count, (double)l->max_ns / 1e6);
			wfreg_put_safe(stdout, name);
			printf(" at 0x%" PRIx64, l->uaddr);
			if (l->top_stack >= 0 && lock_culprit(s, l, &c)) {
				printf(", waited for in ");
				put_frame(stdout, &c);
			}
			printf("\n");
		}
	}

	if (thread_mode) {
		printf("\nPer thread (times in ms over %.2f s; BLOCKED: in blocking syscalls, "
		       "FUTEX: locks or idle parking):\n", sec(window));
		printf("  %8s %-16s %9s %9s %9s %9s %9s %7s %7s\n", "TID", "NAME", "ON-CPU",
		       "SLEEP", "RUNQ", "BLOCKED", "FUTEX", "VOLSW", "PREEMPT");
	} else {
		printf("\nPer worker (times in ms over %.2f s):\n", sec(window));
		printf("  %8s %6s %9s %9s %9s %9s %9s %9s %7s %7s\n", "TID", "WORKER",
		       "ON-CPU", "SLEEP", "RUNQ", "IN-POLL", "FUTEX", "PARKED", "VOLSW",
		       "PREEMPT");
	}
	for (size_t i = 0; i < nworkers && thread_mode; i++) {
		const struct ws_worker *w = &workers[i].st;

		printf("  %8u ", workers[i].tid);
		put_padded(stdout, workers[i].comm, 16);
		printf(" %9.1f %9.1f %9.1f %9.1f %9.1f %7llu %7llu\n",
		       (double)w->oncpu_ns / 1e6, (double)w->sleep_ns / 1e6,
		       (double)w->runq_ns / 1e6, (double)w->poll_block_ns / 1e6,
		       (double)w->futex_user_ns / 1e6, (unsigned long long)w->nswitch_vol,
		       (unsigned long long)w->nswitch_invol);
	}
	for (size_t i = 0; i < nworkers && !thread_mode; i++) {
		const struct ws_worker *w = &workers[i].st;

		printf("  %8u %6d %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %7llu %7llu\n",
		       workers[i].tid, workers[i].index, (double)w->oncpu_ns / 1e6,
		       (double)w->sleep_ns / 1e6, (double)w->runq_ns / 1e6,
		       (double)w->poll_block_ns / 1e6, (double)w->futex_user_ns / 1e6,
		       (double)w->futex_park_ns / 1e6, (unsigned long long)w->nswitch_vol,
		       (unsigned long long)w->nswitch_invol);
	}
	for (size_t i = 0; i < nworkers; i++) {
		const struct ws_worker *w = &workers[i].st;

		if (thread_mode) {
			printf("\n  thread %u \"", workers[i].tid);
			wfreg_put_safe(stdout, workers[i].comm);
			printf("\", microseconds:\n");
		} else {
			printf("\n  worker %d (tid %u), microseconds:\n", workers[i].index,
			       workers[i].tid);
		}
		print_hist(thread_mode ? "blocked in a syscall" : "blocked inside a poll",
			   w->block_hist);
		print_hist("run-queue wait", w->runq_hist);
		print_hist(thread_mode ? "futex wait" : "futex wait (user locks)", w->futex_hist);
	}
	if (workers_untraced)
		printf("\nUntraced: %" PRIu64 " worker threads (more than %d).\n",
		       workers_untraced, WS_MAX_WORKERS);
	printf("\nLost: %" PRIu64 " episodes (ring buffer full), %" PRIu64 " sites (table full), "
	       "%" PRIu64 " user and %" PRIu64 " kernel stacks, %" PRIu64 " unreadable and %" PRIu64
	       " unstable registry slots, %" PRIu64 " unreadable user stacks, %" PRIu64
	       " futex waits (locks map full).\n",
	       lost[WS_CNT_RINGBUF_FULL], sites_dropped, lost[WS_CNT_USTACK_FAIL],
	       lost[WS_CNT_KSTACK_FAIL], lost[WS_CNT_SLOT_READ_FAIL], lost[WS_CNT_SLOT_UNSTABLE],
	       lost[WS_CNT_SP_READ_FAIL], lost[WS_CNT_LOCKS_FULL]);
	free(fr);
}
