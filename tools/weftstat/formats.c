// SPDX-License-Identifier: MIT
/*
 * formats.c - weftstat formats: the report as JSON (--json), folded stacks for flame
 * graphs (--folded) and the Prometheus text exposition format
 * (--prometheus, also served by --listen).
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

static void json_hist(const char *name, const __u64 *h)
{
	int last = -1;

	for (int i = 0; i < WS_HIST_SLOTS; i++)
		if (h[i])
			last = i;
	printf(",\"%s\":[", name);
	for (int i = 0; i <= last; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)h[i]);
	printf("]");
}

static void json_frame(const struct frame *f)
{
	printf("{\"addr\":\"0x%" PRIx64 "\",\"function\":", f->addr);
	wf__json_str(stdout, f->s.func, sizeof(f->s.func));
	printf(",\"file\":");
	wf__json_str(stdout, f->s.file, sizeof(f->s.file));
	printf(",\"line\":%d,\"module\":", f->s.line);
	wf__json_str(stdout, f->s.module, sizeof(f->s.module));
	printf("}");
}

static const char *const lost_names[WS_CNT_NR] = {
	"ringbuf_full", "user_stack", "kernel_stack", "slot_read", "slot_unstable",
	"user_stack_words", "locks_map_full",
};

void print_json(struct weftstat_bpf *s, const struct totals *t, uint64_t start,
		       uint64_t end, const char *flavour, const uint64_t *lost, bool exited)
{
	enum diag d[D_NR];
	int nd = diagnose(t, d);
	struct frame *fr = calloc(MAX_FRAMES, sizeof(*fr));
	/* --threads: blocked in syscalls, not inside polls; threads, not tasks. */
	const char *bk = thread_mode ? "blocked" : "poll_block";

	printf("{\"pid\":%d,\"programs\":\"%s\",\"mode\":\"%s\",", (int)pid, flavour,
	       thread_mode ? "threads" : "weft");
	if (thread_mode) {
		printf("\"threads_regex\":");
		wf__json_str(stdout, thread_pat, sizeof(thread_pat));
		printf(",");
	}
	printf("\"target_exited\":%s,\"window\":{\"start_ns\":%" PRIu64
	       ",\"end_ns\":%" PRIu64 ",\"duration_ns\":%" PRIu64 "},",
	       exited ? "true" : "false", start, end, end - start);
	printf("\"diagnosis\":{\"class\":\"%s\",\"classes\":[", nd ? diag_name(d[0]) : "healthy");
	for (int i = 0; i < nd; i++)
		printf("%s\"%s\"", i ? "," : "", diag_name(d[i]));
	printf("]},\"totals\":{\"worker_ns\":%" PRIu64 ",\"oncpu_ns\":%" PRIu64
	       ",\"sleep_ns\":%" PRIu64 ",\"runq_ns\":%" PRIu64 ",\"%s_ns\":%" PRIu64
	       ",\"%s_episodes\":%" PRIu64 ",\"futex_user_ns\":%" PRIu64
	       ",\"futex_park_ns\":%" PRIu64 ",\"preemptions\":%" PRIu64 "},",
	       t->worker_ns, t->oncpu, t->sleep, t->runq, bk, t->block, bk, t->nblock,
	       t->futex_user, t->futex_park, t->invol);
	qsort(sites, nsites, sizeof(sites[0]), site_cmp);
	printf("\"sites\":[");
	for (size_t i = 0; i < nsites && fr; i++) {
		const struct site *st = &sites[i];
		size_t n = site_frames(s, st, fr);
		const struct frame *c = culprit_of(fr, n);
		const char *sys = syscall_name(st->sys_nr), *k = kernel_top(s, st->kstack_id);

		printf("%s{\"blocked_ns\":%" PRIu64 ",\"runq_ns\":%" PRIu64 ",\"episodes\":%" PRIu64
		       ",\"max_ns\":%" PRIu64 ",",
		       i ? "," : "", st->total_ns, st->runq_ns, st->count, st->max_ns);
		if (thread_mode) {
			printf("\"thread\":{\"tid\":%" PRIu64 ",\"name\":", st->task_id);
			wf__json_str(stdout, st->task_name, sizeof(st->task_name));
			printf("}");
		} else {
			printf("\"task\":{\"id\":%" PRIu64 ",\"name\":", st->task_id);
			wf__json_str(stdout, st->task_name, sizeof(st->task_name));
			printf(",\"file\":");
			wf__json_str(stdout, st->task_file, sizeof(st->task_file));
			printf(",\"line\":%u},\"other_tasks\":%u", st->task_line, st->nother);
		}
		printf(",\"syscall_nr\":%" PRId64 ",\"syscall\":", st->sys_nr);
		if (sys)
			printf("\"%s\"", sys);
		else
			printf("null");
		printf(",\"kernel\":");
		if (k)
			wf__json_str(stdout, k, 256);
		else
			printf("null");
		printf(",\"culprit\":");
		if (c)
			json_frame(c);
		else
			printf("null");
		printf(",\"stack\":[");
		for (size_t j = 0; j < n; j++) {
			printf("%s", j ? "," : "");
			json_frame(&fr[j]);
		}
		printf("]}");
	}
	printf("],\"locks\":[");
	for (size_t i = 0; i < nlocks; i++) {
		const struct lock *l = &locks[i];
		struct frame c;
		char name[160];

		lock_name(l->uaddr, name, sizeof(name));
		printf("%s{\"addr\":\"0x%" PRIx64 "\",\"name\":", i ? "," : "", l->uaddr);
		wf__json_str(stdout, name, sizeof(name));
		printf(",\"wait_ns\":%" PRIu64 ",\"waits\":%" PRIu64 ",\"max_ns\":%" PRIu64
		       ",\"site\":",
		       l->wait_ns, l->count, l->max_ns);
		if (l->top_stack >= 0 && lock_culprit(s, l, &c))
			json_frame(&c);
		else
			printf("null");
		printf("}");
	}
	printf("],\"workers\":[");
	for (size_t i = 0; i < nworkers; i++) {
		const struct ws_worker *w = &workers[i].st;

		printf("%s{\"tid\":%u,\"index\":%d,\"name\":", i ? "," : "", workers[i].tid,
		       workers[i].index);
		wf__json_str(stdout, workers[i].comm, sizeof(workers[i].comm));
		if (!thread_mode)
			printf(",\"handed_off\":%s", workers[i].handed_off ? "true" : "false");
		printf(",\"oncpu_ns\":%llu,\"sleep_ns\":%llu,"
		       "\"runq_ns\":%llu,\"%s_ns\":%llu,\"%s_episodes\":%llu,"
		       "\"futex_user_ns\":%llu,\"futex_park_ns\":%llu,\"voluntary_switches\":%llu,"
		       "\"preemptions\":%llu,\"wakeups\":%llu",
		       (unsigned long long)w->oncpu_ns, (unsigned long long)w->sleep_ns,
		       (unsigned long long)w->runq_ns, bk, (unsigned long long)w->poll_block_ns, bk,
		       (unsigned long long)w->npoll_block, (unsigned long long)w->futex_user_ns,
		       (unsigned long long)w->futex_park_ns, (unsigned long long)w->nswitch_vol,
		       (unsigned long long)w->nswitch_invol, (unsigned long long)w->nwakeups);
		json_hist("block_hist_us", w->block_hist);
		json_hist("runq_hist_us", w->runq_hist);
		json_hist("futex_hist_us", w->futex_hist);
		printf("}");
	}
	printf("],\"lost\":{");
	for (int i = 0; i < WS_CNT_NR; i++)
		printf("%s\"%s\":%" PRIu64, i ? "," : "", lost_names[i], lost[i]);
	printf(",\"sites_table_full\":%" PRIu64 ",\"workers_untraced\":%" PRIu64 "}}\n",
	       sites_dropped, workers_untraced);
	free(fr);
}

/*
 * --folded: one line per blocking call site, "outer;...;inner;kernel_[k] US":
 * the user frames outermost first, then the kernel frames below the
 * scheduler with "_[k]" appended, weighted by the microseconds the workers
 * were blocked there inside polls. The input of flamegraph.pl (an off-CPU
 * flame graph of blocking in async context).
 */
void print_folded(struct weftstat_bpf *s)
{
	struct frame *fr = calloc(MAX_FRAMES, sizeof(*fr));

	if (!fr) {
		say("out of memory");
		return;
	}
	qsort(sites, nsites, sizeof(sites[0]), site_cmp);
	for (size_t i = 0; i < nsites; i++) {
		const struct site *st = &sites[i];
		uint64_t us = st->total_ns / 1000;
		__u64 kips[WS_STACK_DEPTH];
		size_t n;
		int nk = 0;
		bool first = true;

		if (!us)
			continue;
		n = site_frames(s, st, fr);
		/* --threads: the thread's name is the root frame (';' and ' ' replaced). */
		if (thread_mode && st->task_name[0]) {
			for (const char *c = st->task_name; *c; c++)
				putchar(*c == ';' || *c == ' ' || (unsigned char)*c < 0x20 ? '_'
											  : *c);
			first = false;
		}
		for (size_t j = n; j-- > 0;) {
			const struct sym *y = &fr[j].s;

			if (strcmp(y->func, "?")) {
				/* ';' separates frames, a space the count: neither in a name. */
				printf("%s", first ? "" : ";");
				ws_folded_name(stdout, y->func);
			} else if (y->module[0]) {
				printf("%s", first ? "" : ";");
				ws_folded_name(stdout, y->module);
				printf("+0x%" PRIx64, y->offset);
			} else
				printf("%s0x%" PRIx64, first ? "" : ";", (uint64_t)fr[j].addr);
			first = false;
		}
		memset(kips, 0, sizeof(kips));
		if (st->kstack_id >= 0 &&
		    !bpf_map_lookup_elem(bpf_map__fd(s->maps.stacks), &st->kstack_id, kips))
			while (nk < WS_STACK_DEPTH && kips[nk])
				nk++;
		/* Kernel frames outermost first, the scheduler itself left out. */
		for (int k = nk; k-- > 0;) {
			const char *name = sym_kernel(kips[k]);

			if (!name || !strcmp(name, "__schedule") || !strcmp(name, "schedule") ||
			    !strncmp(name, "__traceiter", 11) || !strncmp(name, "bpf_", 4))
				continue;
			printf("%s%s_[k]", first ? "" : ";", name);
			first = false;
		}
		if (first)
			printf("[unknown]");
		printf(" %" PRIu64 "\n", us);
	}
	free(fr);
}

static void prom_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The labels naming worker i: worker index and tid; --threads adds the thread's name. */
static void prom_worker(FILE *f, size_t i)
{
	fprintf(f, "{pid=\"%d\",worker=\"%d\",tid=\"%u\"", (int)pid, workers[i].index,
		workers[i].tid);
	if (thread_mode) {
		fputs(",thread=\"", f);
		ws_prom_label(f, workers[i].comm, sizeof(workers[i].comm));
		fputc('"', f);
	}
	fputc('}', f);
}

/*
 * --prometheus: the report in the Prometheus text exposition format (for a
 * node_exporter textfile collector, a pushgateway, or a scrape of
 * --listen): per-worker times over the window, the diagnosis as one gauge
 * per class, the ten worst blocking call sites, and what could not be
 * recorded. Times in seconds. --threads: blocked time is in blocking
 * syscalls (weftstat_worker_blocked_syscall_seconds), no parked time, and
 * sites carry the thread, not a task.
 */
void print_prometheus(FILE *f, struct weftstat_bpf *s, const struct totals *t,
			     uint64_t window, const uint64_t *lost, bool exited)
{
	static const struct {
		const char *name, *help;
		size_t off;
		int mode;	/* 0 both, 1 weft only, 2 --threads only */
	} wm[] = {
#define WM(n, f, m, h) { "weftstat_worker_" n "_seconds", h, offsetof(struct ws_worker, f), m }
		WM("oncpu", oncpu_ns, 0, "Time the worker thread ran on a CPU."),
		WM("sleep", sleep_ns, 0, "Time the worker thread slept (off CPU, not runnable)."),
		WM("runqueue", runq_ns, 0,
		   "Time the worker thread was runnable but waited for a CPU."),
		WM("blocked_in_poll", poll_block_ns, 1,
		   "Off-CPU time of the worker inside a poll (blocking in async context)."),
		WM("blocked_syscall", poll_block_ns, 2,
		   "Off-CPU time of the thread in blocking syscalls (not futex or event waits)."),
		WM("futex_user", futex_user_ns, 0,
		   "Time in futex waits other than the runtime's park."),
		WM("parked", futex_park_ns, 1, "Time the worker was parked idle by the runtime."),
#undef WM
	};
	enum diag d[D_NR];
	int nd = diagnose(t, d);
	struct frame *fr = calloc(MAX_FRAMES, sizeof(*fr));

	prom_head(f, "weftstat_window_seconds", "gauge", "Length of the trace window.");
	fprintf(f, "weftstat_window_seconds{pid=\"%d\"} %.6f\n", (int)pid, sec(window));
	prom_head(f, "weftstat_target_exited", "gauge",
		  "1 if the process exited during the trace.");
	fprintf(f, "weftstat_target_exited{pid=\"%d\"} %d\n", (int)pid, exited ? 1 : 0);
	prom_head(f, "weftstat_diagnosis", "gauge",
		  "1 for each problem class diagnosed (healthy: none), by rank.");
	for (int i = 0; i < D_NR; i++) {
		int rank = 0;

		if (thread_mode && i == D_LOCK)
			continue;	/* never diagnosed: see diagnose() */
		for (int k = 0; k < nd; k++)
			if (d[k] == (enum diag)i)
				rank = k + 1;
		fprintf(f, "weftstat_diagnosis{pid=\"%d\",class=\"%s\",rank=\"%d\"} %d\n",
			(int)pid, diag_name(i), rank, rank ? 1 : 0);
	}
	fprintf(f, "weftstat_diagnosis{pid=\"%d\",class=\"healthy\",rank=\"%d\"} %d\n",
		(int)pid, nd ? 0 : 1, nd ? 0 : 1);
	for (size_t m = 0; m < sizeof(wm) / sizeof(wm[0]); m++) {
		if (wm[m].mode == (thread_mode ? 1 : 2))
			continue;
		prom_head(f, wm[m].name, "gauge", wm[m].help);
		for (size_t i = 0; i < nworkers; i++) {
			const char *base = (const char *)&workers[i].st;
			uint64_t ns;

			memcpy(&ns, base + wm[m].off, sizeof(ns));
			fputs(wm[m].name, f);
			prom_worker(f, i);
			fprintf(f, " %.6f\n", sec(ns));
		}
	}
	prom_head(f, "weftstat_worker_preemptions", "gauge",
		  "Involuntary switches of the worker thread in the window.");
	for (size_t i = 0; i < nworkers; i++) {
		fputs("weftstat_worker_preemptions", f);
		prom_worker(f, i);
		fprintf(f, " %llu\n", (unsigned long long)workers[i].st.nswitch_invol);
	}
	prom_head(f, "weftstat_blocking_site_seconds", "gauge",
		  thread_mode ? "Time threads were blocked in syscalls at a call site (ten worst)."
			      : "Time workers were blocked inside polls at a call site (ten worst).");
	qsort(sites, nsites, sizeof(sites[0]), site_cmp);
	for (size_t i = 0; i < nsites && i < 10 && fr; i++) {
		const struct site *st = &sites[i];
		size_t n = site_frames(s, st, fr);
		const struct frame *c = culprit_of(fr, n);
		const char *sys = syscall_name(st->sys_nr);

		fprintf(f, "weftstat_blocking_site_seconds{pid=\"%d\",function=\"", (int)pid);
		ws_prom_label(f, c ? c->s.func : "?", sizeof(c->s.func));
		fputs("\",file=\"", f);
		ws_prom_label(f, c ? c->s.file : "", sizeof(c->s.file));
		fprintf(f, "\",line=\"%d\",syscall=\"", c ? c->s.line : 0);
		if (sys)
			fputs(sys, f);
		else if (st->sys_nr >= 0)
			fprintf(f, "%" PRId64, st->sys_nr);
		if (thread_mode)
			fprintf(f, "\",tid=\"%" PRIu64 "\",thread=\"", st->task_id);
		else
			fputs("\",task=\"", f);
		ws_prom_label(f, st->task_name, sizeof(st->task_name));
		fprintf(f, "\"} %.6f\n", sec(st->total_ns));
	}
	prom_head(f, "weftstat_lost_total", "counter",
		  "Events the tracer could not record, by kind (never silent).");
	for (int i = 0; i < WS_CNT_NR; i++)
		fprintf(f, "weftstat_lost_total{pid=\"%d\",kind=\"%s\"} %" PRIu64 "\n", (int)pid,
			lost_names[i], lost[i]);
	fprintf(f, "weftstat_lost_total{pid=\"%d\",kind=\"sites_table_full\"} %" PRIu64 "\n",
		(int)pid, sites_dropped);
	free(fr);
}

char *ws_prom_render(struct weftstat_bpf *s, const struct totals *t, uint64_t window,
		     const uint64_t *lost, bool exited, size_t *len)
{
	char *buf = NULL;
	FILE *m = open_memstream(&buf, len);

	if (!m)
		return NULL;
	print_prometheus(m, s, t, window, lost, exited);
	if (fclose(m)) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *ws_prom_page(struct weftstat_bpf *s, uint64_t now, uint64_t window, bool commit,
		   bool exited, size_t *len)
{
	uint64_t lost[WS_CNT_NR];
	struct totals t;

	collect(s, now, commit);
	read_locks(s, commit);
	lost_counts(s, lost);
	sum_up(&t, window);
	return ws_prom_render(s, &t, window, lost, exited, len);
}
