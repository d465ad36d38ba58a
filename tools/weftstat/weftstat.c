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
#include "weftstat.h"
#include "weftstat.skel.h"
#include "wfreg.h"
#include "ws.h"

#define MAX_SITES 256		/* distinct blocking sites kept */
#define SITE_CANDS 8		/* scanned return addresses kept per site */
#define SITE_TASKS 32		/* other tasks counted per site */
#define MAX_FRAMES (WS_STACK_DEPTH + SITE_CANDS)

/* Diagnosis thresholds (docs/weftstat.md, "Diagnosis"). */
#define TH_BLOCK_FRAC 0.05	/* off CPU inside polls, share of worker time */
#define TH_LOCK_FRAC 0.05	/* futex waits on user locks, share of worker time */
#define TH_RUNQ_FRAC 0.10	/* waiting for a CPU, share of worker time */
#define TH_RUNQ_MEAN_NS 1000000	/* or a mean run-queue wait over 1 ms */
#define TH_BUSY_FRAC 0.90	/* on CPU or runnable, share of worker time: saturated */

static pid_t pid;
static volatile sig_atomic_t stop_sig;

static void task_blocked(uint64_t id, uint64_t ns);

/* --- a blocking site: episodes aggregated by stack ---------------------------- */

struct site {
	int ustack_id, kstack_id;
	uint64_t cands[SITE_CANDS];	/* return addresses found on the stack */
	unsigned ncands;
	uint64_t total_ns, runq_ns, count, max_ns;
	int64_t sys_nr;
	uint64_t task_id;		/* the first task seen blocking here */
	uint64_t other_tasks[SITE_TASKS];	/* others, by id */
	unsigned nother;
	bool more_tasks;		/* more than SITE_TASKS others */
	char task_name[33];
	char task_file[256];
	unsigned task_line;
};

static struct site sites[MAX_SITES];
static size_t nsites;
static uint64_t sites_dropped;	/* episodes with no room for their site */

struct worker {
	uint32_t tid;
	int index;
	uint64_t slot_addr;
	char comm[17];		/* thread name (--threads mode) */
	uint32_t reg_state;	/* registry slot state and polls at the last refresh */
	uint64_t reg_polls;
	uint64_t reg_polls_prev;	/* reg_polls at the last frame (top) */
	bool handed_off;	/* another thread drives its slot now */
	struct ws_worker st;	/* read back from the map: the figures of the window */
	struct ws_worker prev;	/* cumulative at the last window's end */
};

static struct worker *workers;
static size_t nworkers;
static char thread_prefix[17];

/*
 * --threads mode: worker threads of any runtime, chosen by name (comm),
 * not through a weft registry. Their episodes are blocking syscalls, not
 * polls (bpf/weftstat.h, ws_worker.foreign), and nothing is known of tasks.
 */
static bool thread_mode;
static regex_t thread_re;
static char thread_pat[256];
#define TOKIO_THREADS "^tokio-runtime-w"

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("weftstat: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Read the target's memory without dying when it is gone: 0 or -1. */
static int peek(uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)addr, len };

	return process_vm_readv(pid, &l, 1, &r, 1, 0) == (ssize_t)len ? 0 : -1;
}

/* --- the BPF side ------------------------------------------------------------- */

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN && getenv("WEFTSTAT_DEBUG"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

/*
 * Does the kernel's sched_switch tracepoint pass prev_state (a fourth
 * argument after the context: btf_trace_sched_switch has five)?
 */
static bool sched_switch_has_prev_state(void)
{
	struct btf *vm = btf__load_vmlinux_btf();
	const struct btf_type *t;
	bool has = false;
	int id;

	if (!vm)
		return false;
	id = btf__find_by_name_kind(vm, "btf_trace_sched_switch", BTF_KIND_TYPEDEF);
	t = id > 0 ? btf__type_by_id(vm, (__u32)id) : NULL;
	if (t)
		t = btf__type_by_id(vm, t->type);	/* pointer */
	if (t && btf_is_ptr(t))
		t = btf__type_by_id(vm, t->type);	/* function prototype */
	if (t && btf_is_func_proto(t))
		has = btf_vlen(t) >= 5;
	btf__free(vm);
	return has;
}

static void set_flavour(struct weftstat_bpf *s, bool btf)
{
	bpf_program__set_autoload(s->progs.ws_switch_btf, btf);
	bpf_program__set_autoload(s->progs.ws_wakeup_btf, btf);
	bpf_program__set_autoload(s->progs.ws_wakeup_new_btf, btf);
	bpf_program__set_autoload(s->progs.ws_switch_raw, !btf);
	bpf_program__set_autoload(s->progs.ws_wakeup_raw, !btf);
	bpf_program__set_autoload(s->progs.ws_wakeup_new_raw, !btf);
}

int ws_load(struct weftstat_bpf **skel, pid_t tgid, bool usdt, const char **flavour,
	    char *err, size_t errlen)
{
	int r = -EINVAL;

	libbpf_set_print(libbpf_quiet);
	/*
	 * tp_btf first (cheaper, typed); raw_tp when the kernel refuses it.
	 * WEFTSTAT_RAW_TP=1 skips tp_btf (to test the fallback).
	 */
	for (int btf = getenv("WEFTSTAT_RAW_TP") ? 0 : 1; btf >= 0; btf--) {
		struct weftstat_bpf *s = weftstat_bpf__open();

		if (!s) {
			r = -errno;
			snprintf(err, errlen, "cannot open the BPF object: %s", strerror(errno));
			return r;
		}
		s->rodata->targ_tgid = (__u32)tgid;
		s->rodata->has_prev_state = btf && sched_switch_has_prev_state();
		set_flavour(s, btf);
		bpf_program__set_autoload(s->progs.ws_poll_start, usdt);
		bpf_program__set_autoload(s->progs.ws_poll_end, usdt);
		r = weftstat_bpf__load(s);
		if (!r) {
			*skel = s;
			*flavour = btf ? "tp_btf" : "raw_tp";
			return 0;
		}
		snprintf(err, errlen, "the kernel refused the BPF programs (%s): %s",
			 btf ? "tp_btf" : "raw_tp", strerror(-r));
		weftstat_bpf__destroy(s);
	}
	return r;
}

/*
 * Put the target's workers in the map; again later for new runtimes and
 * late threads (the roots found the first time are kept: they never move).
 */
static const struct wfreg_found *found;
static size_t nfound;
static uint64_t workers_untraced;	/* no room in the workers map, most in one pass */

static int refresh_workers(struct weftstat_bpf *s, bool first)
{
	struct wfreg_runtime_view *rv;
	uint64_t untraced = 0;
	int added = 0;

	if (first) {
		nfound = wfreg_find(false, &found);
		if (!nfound)
			return -ENOENT;
		/* From now on a target that exits is reported, not fatal. */
		wfreg_soft_gone = true;
	}
	rv = calloc(WFREG_MAX_RUNTIMES, sizeof(*rv));
	if (!rv)
		return -ENOMEM;
	for (size_t f = 0; f < nfound; f++) {
		int n = wfreg_read_runtimes(&found[f], rv);

		for (int i = 0; i < n; i++) {
			if (!thread_prefix[0])
				snprintf(thread_prefix, sizeof(thread_prefix), "%s",
					 rv[i].r.thread_name);
			for (uint32_t k = 0; k < rv[i].r.nworkers; k++) {
				const struct wfreg_worker_view *w = &rv[i].w[k];
				struct ws_worker init = { 0 };
				struct worker *nw;
				__u32 tid;
				bool seen = false;

				if (!w->stable || w->s.tid <= 0)
					continue;
				tid = (__u32)w->s.tid;
				for (size_t j = 0; j < nworkers; j++) {
					if (workers[j].slot_addr != rv[i].r.workers_addr +
						(uint64_t)k * found[f].root.worker_size)
						continue;
					workers[j].handed_off = workers[j].tid != tid;
					if (workers[j].tid == tid) {
						seen = true;
						workers[j].reg_state = w->s.state;
						workers[j].reg_polls = w->s.polls;
					}
				}
				if (seen)
					continue;
				if (nworkers >= WS_MAX_WORKERS) {
					untraced++;
					continue;
				}
				nw = realloc(workers, (nworkers + 1) * sizeof(*workers));
				if (!nw)
					break;
				workers = nw;
				nw = &workers[nworkers];
				memset(nw, 0, sizeof(*nw));
				nw->tid = tid;
				nw->index = (int)k;
				nw->reg_state = w->s.state;
				nw->reg_polls = w->s.polls;
				nw->reg_polls_prev = w->s.polls;
				snprintf(nw->comm, sizeof(nw->comm), "%s-%u", rv[i].r.thread_name, k);
				nw->slot_addr = rv[i].r.workers_addr +
						(uint64_t)k * found[f].root.worker_size;
				init.slot_addr = nw->slot_addr;
				init.park_futex_addr = w->s.park_futex_addr;
				init.sys_nr = -1;
				init.off_sys_nr = -1;
				if (bpf_map_update_elem(bpf_map__fd(s->maps.workers), &tid, &init,
							BPF_NOEXIST)) {
					untraced++;
					continue;
				}
				nworkers++;
				added++;
			}
		}
		if (n > 0)
			wfreg_free_runtimes(rv, (size_t)n);
	}
	free(rv);
	if (untraced > workers_untraced)
		workers_untraced = untraced;
	return added;
}

/* A thread's name (comm): 0, or -1 when the thread is gone. */
static int thread_comm(pid_t tid, char *buf, size_t len)
{
	char fn[64], raw[64];
	size_t n;
	FILE *f;

	snprintf(fn, sizeof(fn), "/proc/%d/task/%d/comm", (int)pid, (int)tid);
	f = fopen(fn, "re");
	if (!f)
		return -1;
	n = fread(raw, 1, sizeof(raw), f);
	fclose(f);
	ws_comm(raw, n, buf, len);
	return 0;
}

/*
 * --threads: put the target's threads whose name matches thread_re in the
 * map (again later for new threads). Returns how many were added, -ENOENT
 * when the first pass finds none, or -errno.
 */
static int refresh_threads(struct weftstat_bpf *s, bool first)
{
	char fn[64], comm[17];
	struct dirent *de;
	int added = 0, n = 0;
	DIR *d;

	snprintf(fn, sizeof(fn), "/proc/%d/task", (int)pid);
	d = opendir(fn);
	if (!d)
		return -errno;
	while ((de = readdir(d)) && n < 65536) {
		struct ws_worker init = { 0 };
		struct worker *nw;
		char *e;
		long tid = strtol(de->d_name, &e, 10);
		bool seen = false;

		n++;
		if (*e || tid <= 0 || tid > INT_MAX || thread_comm((pid_t)tid, comm, sizeof(comm)))
			continue;
		if (regexec(&thread_re, comm, 0, NULL, 0))
			continue;
		for (size_t j = 0; j < nworkers && !seen; j++)
			seen = workers[j].tid == (uint32_t)tid;
		if (seen)
			continue;
		if (nworkers >= WS_MAX_WORKERS) {
			workers_untraced++;
			continue;
		}
		nw = realloc(workers, (nworkers + 1) * sizeof(*workers));
		if (!nw)
			break;
		workers = nw;
		nw = &workers[nworkers];
		memset(nw, 0, sizeof(*nw));
		nw->tid = (uint32_t)tid;
		nw->index = (int)nworkers;
		snprintf(nw->comm, sizeof(nw->comm), "%s", comm);
		init.foreign = 1;
		init.sys_nr = -1;
		init.off_sys_nr = -1;
		if (bpf_map_update_elem(bpf_map__fd(s->maps.workers), &nw->tid, &init,
					BPF_NOEXIST))
			continue;
		nworkers++;
		added++;
	}
	closedir(d);
	return first && !added ? -ENOENT : added;
}

/*
 * How often the set of traced threads is refreshed. A thread that starts
 * driving a weft worker (a stall-compensation spare taking a stuck
 * worker's slot) is invisible until then, so the registry, a few reads, is
 * read every 0.1 s; --threads lists /proc/PID/task, so every 0.5 s.
 */
static uint64_t refresh_ns(void)
{
	return thread_mode ? 500000000ull : 100000000ull;
}

static int refresh(struct weftstat_bpf *s, bool first)
{
	return thread_mode ? refresh_threads(s, first) : refresh_workers(s, first);
}

/*
 * Validate and compile a --threads pattern (POSIX extended regex, matched
 * against thread names): 0, or -1 with the message said.
 */
static int set_thread_pattern(const char *re)
{
	char msg[256];
	int r;

	if (!*re) {
		say("--threads wants a regular expression, not an empty string");
		return -1;
	}
	if (strlen(re) >= sizeof(thread_pat)) {
		say("--threads: the pattern is longer than %zu bytes", sizeof(thread_pat) - 1);
		return -1;
	}
	r = regcomp(&thread_re, re, REG_EXTENDED | REG_NOSUB);
	if (r) {
		regerror(r, &thread_re, msg, sizeof(msg));
		say("--threads: bad regular expression '%s': %s", re, msg);
		return -1;
	}
	snprintf(thread_pat, sizeof(thread_pat), "%s", re);
	thread_mode = true;
	return 0;
}

/* --- collecting ----------------------------------------------------------------- */

/* Does a call instruction end just before ret (so ret is a return address)? */
static bool after_call(uint64_t ret)
{
	unsigned char b[7];

	return ret >= 7 && !peek(ret - 7, b, sizeof(b)) && ws_after_call(b);
}

static bool in_text(uint64_t a)
{
	const struct wfreg_map *m = wfreg_map_of(a, 1);

	return m && m->perms[2] == 'x';
}

static void read_task(struct site *st, uint64_t task_addr, uint64_t task_id)
{
	ws_task_info(task_addr, task_id, st->task_name, sizeof(st->task_name), st->task_file,
		     sizeof(st->task_file), &st->task_line);
}

/* Return addresses among the words at the top of a user stack (at most SITE_CANDS). */
static unsigned scan_words(const __u64 *words, unsigned n, uint64_t *cands)
{
	unsigned nc = 0;

	for (unsigned i = 0; i < n && nc < SITE_CANDS; i++) {
		uint64_t w = words[i];
		bool dup = false;

		if (!in_text(w) || !after_call(w))
			continue;
		for (unsigned j = 0; j < nc; j++)
			dup |= cands[j] == w;
		if (!dup)
			cands[nc++] = w;
	}
	return nc;
}

/*
 * One blocking episode. The frame-pointer walk of the user stack starts in
 * the C library, which keeps no frame pointers, so it skips the function
 * that called into it: that function is the culprit. The words at the top
 * of the user stack, kept at the switch-out, hold its return address: the
 * ones that point into code right after a call instruction are kept as
 * candidate frames (docs/weftstat.md, "Stacks").
 */
static int on_event(void *ctx, void *data, size_t len)
{
	const struct ws_block_event *e = data;
	uint64_t cands[SITE_CANDS];
	unsigned nc = 0;
	struct site *st = NULL;

	if (len < sizeof(*e))
		return 0;
	if (!thread_mode)
		task_blocked(e->task_id, e->dur_ns);
	nc = scan_words(e->sp_words, e->nsp_words < WS_SP_WORDS ? e->nsp_words : WS_SP_WORDS,
			cands);
	/* --threads: a site per thread too (the diagnosis names the thread). */
	for (size_t i = 0; i < nsites && !st; i++)
		if (sites[i].ustack_id == e->ustack_id && sites[i].ncands == nc &&
		    !memcmp(sites[i].cands, cands, nc * sizeof(cands[0])) &&
		    (!thread_mode || sites[i].task_id == e->tid))
			st = &sites[i];
	if (!st) {
		if (nsites == MAX_SITES) {
			sites_dropped++;
			return 0;
		}
		st = &sites[nsites++];
		memset(st, 0, sizeof(*st));
		st->ustack_id = e->ustack_id;
		st->kstack_id = e->kstack_id;
		memcpy(st->cands, cands, nc * sizeof(cands[0]));
		st->ncands = nc;
		st->sys_nr = e->sys_nr;
		if (thread_mode) {
			st->task_id = e->tid;
			for (size_t i = 0; i < nworkers; i++)
				if (workers[i].tid == e->tid)
					snprintf(st->task_name, sizeof(st->task_name), "%s",
						 workers[i].comm);
		} else {
			st->task_id = e->task_id;
			read_task(st, e->task_addr, e->task_id);
		}
	}
	if (!thread_mode && e->task_id != st->task_id) {
		bool seen = false;

		for (unsigned i = 0; i < st->nother && !seen; i++)
			seen = st->other_tasks[i] == e->task_id;
		if (!seen && st->nother < SITE_TASKS)
			st->other_tasks[st->nother++] = e->task_id;
		else if (!seen)
			st->more_tasks = true;
	}
	st->total_ns += e->dur_ns;
	st->runq_ns += e->runq_ns;
	st->count++;
	if (e->dur_ns > st->max_ns)
		st->max_ns = e->dur_ns;
	return 0;
}

static void on_signal(int sig)
{
	stop_sig = sig;
}

/* --- reporting -------------------------------------------------------------------- */

static const char *syscall_name(int64_t nr)
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

struct frame {
	uint64_t addr;
	struct sym s;
};

/* The user frames of a site, innermost first: scanned candidates spliced in. */
static size_t site_frames(struct weftstat_bpf *s, const struct site *st, struct frame *f)
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
static const struct frame *culprit_of(const struct frame *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!sym_is_system(&f[i].s) && strcmp(f[i].s.func, "?"))
			return &f[i];
	return n ? &f[0] : NULL;
}

static const char *kernel_top(struct weftstat_bpf *s, int kstack_id)
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

static int site_cmp(const void *a, const void *b)
{
	const struct site *x = a, *y = b;

	return x->total_ns < y->total_ns ? 1 : x->total_ns > y->total_ns ? -1 : 0;
}

static double sec(uint64_t ns)
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

struct totals {
	uint64_t worker_ns, oncpu, sleep, runq, block, futex_user, futex_park;
	uint64_t vol, invol, wakeups, nblock, nfutex;
	double block_frac, lock_frac, runq_frac, busy_frac, runq_mean_ns;
};

enum diag { D_BLOCKING, D_LOCK, D_STARVATION, D_SATURATION, D_NR };

static const char *const diag_id[D_NR] = { "blocking_in_poll", "lock_contention",
					   "cpu_starvation", "scheduler_saturation" };
static const char *const diag_title[D_NR] = { "BLOCKING INSIDE POLLS", "LOCK CONTENTION",
					      "CPU STARVATION", "SCHEDULER SATURATION" };

/* --threads: threads block in syscalls; there are no polls to be inside. */
static const char *diag_name(int d)
{
	return thread_mode && d == D_BLOCKING ? "blocking_in_thread" : diag_id[d];
}

static const char *diag_title_of(int d)
{
	return thread_mode && d == D_BLOCKING ? "BLOCKING IN WORKER THREADS" : diag_title[d];
}

/*
 * Workers: registry slots, not threads. A thread that took a stuck worker's
 * slot over (stall compensation, block_in_place) replaces its thread, it
 * does not add a worker. With --threads, every thread is one.
 */
static size_t nslots(void)
{
	size_t n = 0;

	for (size_t i = 0; i < nworkers; i++) {
		bool dup = false;

		for (size_t j = 0; j < i && !dup && !thread_mode; j++)
			dup = workers[j].slot_addr == workers[i].slot_addr;
		n += !dup;
	}
	return n;
}

static void sum_up(struct totals *t, uint64_t window)
{
	size_t cores = nslots();

	memset(t, 0, sizeof(*t));
	t->worker_ns = window * cores;
	for (size_t i = 0; i < nworkers; i++) {
		const struct ws_worker *w = &workers[i].st;

		t->oncpu += w->oncpu_ns;
		t->sleep += w->sleep_ns;
		t->runq += w->runq_ns;
		t->block += w->poll_block_ns;
		t->futex_user += w->futex_user_ns;
		t->futex_park += w->futex_park_ns;
		t->vol += w->nswitch_vol;
		t->invol += w->nswitch_invol;
		t->wakeups += w->nwakeups;
		t->nblock += w->npoll_block;
		t->nfutex += w->nfutex_user;
	}
	if (t->worker_ns) {
		t->block_frac = (double)t->block / (double)t->worker_ns;
		t->lock_frac = (double)t->futex_user / (double)t->worker_ns;
		t->runq_frac = (double)t->runq / (double)t->worker_ns;
		/* Busy: wanting a CPU, whether it has one or waits for one. */
		t->busy_frac = (double)(t->oncpu + t->runq) / (double)t->worker_ns;
	}
	if (t->wakeups + t->invol)
		t->runq_mean_ns = (double)t->runq / (double)(t->wakeups + t->invol);
}

/* Which problem classes the figures show, the worst first; returns how many. */
static int diagnose(const struct totals *t, enum diag *out)
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

static void put_frame(FILE *f, const struct frame *fr)
{
	wfreg_put_safe(f, fr->s.func);
	if (fr->s.file[0]) {
		fputs(" (", f);
		wfreg_put_safe(f, fr->s.file);
		fprintf(f, ":%d)", fr->s.line);
	} else if (fr->s.module[0]) {
		fputs(" (in ", f);
		wfreg_put_safe(f, fr->s.module);
		fputc(')', f);
	}
}

/* --- user locks: futex waits by word ------------------------------------------------ */

#define MAX_LOCKS_SHOWN 5

struct lock {
	uint64_t uaddr;
	uint64_t wait_ns, count, max_ns;
	int top_stack;		/* the call stack with the most wait on this word */
	uint64_t top_stack_ns;
	uint64_t cands[SITE_CANDS];	/* return addresses on that stack's top */
	unsigned ncands;
};

static struct lock *locks;
static size_t nlocks;

static int lock_cmp(const void *a, const void *b)
{
	const struct lock *x = a, *y = b;

	return x->wait_ns < y->wait_ns ? 1 : x->wait_ns > y->wait_ns ? -1 : 0;
}

/* Read the locks map into locks[], one entry per futex word, worst first. */
/*
 * With drain, the entries read are deleted: the next window starts empty
 * (a wait added between the read and the delete is lost; rare, small).
 */
static void read_locks(struct weftstat_bpf *s, bool drain)
{
	int fd = bpf_map__fd(s->maps.locks);
	struct ws_lock_key *keys, next, *prev = NULL;
	struct ws_lock_val v;
	size_t nkeys = 0;

	nlocks = 0;
	keys = calloc(WS_MAX_LOCKS, sizeof(*keys));
	if (!keys)
		return;
	/* Keys first: deleting while walking would restart the walk. */
	while (nkeys < WS_MAX_LOCKS && !bpf_map_get_next_key(fd, prev, &next)) {
		keys[nkeys] = next;
		prev = &keys[nkeys++];
	}
	for (size_t ki = 0; ki < nkeys; ki++) {
		struct ws_lock_key k = keys[ki];
		struct lock *l = NULL;

		if (drain && bpf_map_lookup_and_delete_elem(fd, &k, &v)) {
			if (bpf_map_lookup_elem(fd, &k, &v))
				continue;
			bpf_map_delete_elem(fd, &k);
		} else if (!drain && bpf_map_lookup_elem(fd, &k, &v)) {
			continue;
		}
		for (size_t i = 0; i < nlocks && !l; i++)
			if (locks[i].uaddr == k.uaddr)
				l = &locks[i];
		if (!l) {
			struct lock *n = realloc(locks, (nlocks + 1) * sizeof(*locks));

			if (!n)
				break;
			locks = n;
			l = &locks[nlocks++];
			memset(l, 0, sizeof(*l));
			l->uaddr = k.uaddr;
			l->top_stack = -1;
		}
		l->wait_ns += v.wait_ns;
		l->count += v.count;
		if (v.max_ns > l->max_ns)
			l->max_ns = v.max_ns;
		if (v.wait_ns > l->top_stack_ns) {
			l->top_stack_ns = v.wait_ns;
			l->top_stack = k.ustack_id;
			l->ncands = scan_words(v.sp_words,
					       v.nsp_words < WS_LOCK_SP_WORDS ? v.nsp_words
									 : WS_LOCK_SP_WORDS,
					       l->cands);
		}
	}
	free(keys);
	if (nlocks)
		qsort(locks, nlocks, sizeof(*locks), lock_cmp);
}

/* The culprit frame of a lock's top call stack. */
static bool lock_culprit(struct weftstat_bpf *s, const struct lock *l, struct frame *out)
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
static void lock_name(uint64_t uaddr, char *buf, size_t len)
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

/*
 * --threads, blocking diagnosed: one sentence about the worst site (one
 * thread's), then the totals. Sites are sorted. Thread-level facts only.
 */
static void thread_sentence(struct weftstat_bpf *s, const struct totals *t, uint64_t window)
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

static void print_text(struct weftstat_bpf *s, const struct totals *t, uint64_t window,
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

static void print_json(struct weftstat_bpf *s, const struct totals *t, uint64_t start,
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

/* Read the per-worker totals back, closing episodes still open at the end. */
static void read_back(struct weftstat_bpf *s, uint64_t end)
{
	int fd = bpf_map__fd(s->maps.workers);

	for (size_t i = 0; i < nworkers; i++) {
		struct ws_worker *w = &workers[i].st;

		if (bpf_map_lookup_elem(fd, &workers[i].tid, w)) {
			memset(w, 0, sizeof(*w));
			continue;
		}
		if (w->on_ts && w->on_ts < end) {
			w->oncpu_ns += end - w->on_ts;
		} else if (w->off_ts && w->off_ts < end) {
			uint64_t off = end - w->off_ts, runq = 0;

			if (w->wake_ts >= w->off_ts && w->wake_ts < end)
				runq = end - w->wake_ts;
			w->runq_ns += runq;
			w->sleep_ns += off - runq;
			if (w->in_poll) {
				w->poll_block_ns += off;
				w->npoll_block++;
			}
		}
	}
}

static void lost_counts(struct weftstat_bpf *s, uint64_t *lost)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *v;

	memset(lost, 0, WS_CNT_NR * sizeof(*lost));
	if (ncpu <= 0)
		return;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return;
	for (__u32 k = 0; k < WS_CNT_NR; k++)
		if (!bpf_map_lookup_elem(bpf_map__fd(s->maps.counters), &k, v))
			for (int c = 0; c < ncpu; c++)
				lost[k] += v[c];
	free(v);
}

/* Gone, or a zombie waiting for its parent: either way, done. */
static bool target_alive(void)
{
	char fn[64], buf[512], c;
	FILE *f;
	size_t n;

	if (kill(pid, 0) && errno == ESRCH)
		return false;
	snprintf(fn, sizeof(fn), "/proc/%d/stat", (int)pid);
	f = fopen(fn, "re");
	if (!f)
		return errno != ENOENT;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	c = ws_stat_state(buf, n);
	return c != 'Z' && c != 'X';
}

/* The process a thread id belongs to (the id itself when unknown). */
static pid_t tgid_of(pid_t tid)
{
	char fn[64], text[4096];
	size_t n;
	FILE *f;

	snprintf(fn, sizeof(fn), "/proc/%d/status", (int)tid);
	f = fopen(fn, "re");
	if (!f)
		return tid;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return ws_status_tgid(text, tid);
}

/*
 * --folded: one line per blocking call site, "outer;...;inner;kernel_[k] US":
 * the user frames outermost first, then the kernel frames below the
 * scheduler with "_[k]" appended, weighted by the microseconds the workers
 * were blocked there inside polls. The input of flamegraph.pl (an off-CPU
 * flame graph of blocking in async context).
 */
static void print_folded(struct weftstat_bpf *s)
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
				for (const char *c = y->func; *c; c++)
					putchar(*c == ';' ? ',' : *c == ' ' ? '_' : *c);
			}
			else if (y->module[0])
				printf("%s%s+0x%" PRIx64, first ? "" : ";", y->module, y->offset);
			else
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
static void print_prometheus(FILE *f, struct weftstat_bpf *s, const struct totals *t,
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

/* --- windows: figures since the last window's end ----------------------------------- */

/* The totals of struct ws_worker: every __u64 from oncpu_ns to the end. */
#define WS_TOTALS_OFF offsetof(struct ws_worker, oncpu_ns)
_Static_assert((sizeof(struct ws_worker) - WS_TOTALS_OFF) % sizeof(__u64) == 0,
	       "ws_worker's totals are __u64s up to its end");

/*
 * Put the figures of the window that ended at now in workers[i].st: the
 * cumulative totals (open episodes closed at now) minus those at the last
 * commit. With commit, the next window starts at now. An episode still
 * open at now is counted up to now here and for the rest in the next
 * window.
 */
static void collect(struct weftstat_bpf *s, uint64_t now, bool commit)
{
	const size_t n = (sizeof(struct ws_worker) - WS_TOTALS_OFF) / sizeof(__u64);

	read_back(s, now);
	for (size_t i = 0; i < nworkers; i++) {
		struct ws_worker cur = workers[i].st;
		__u64 *d = (__u64 *)((char *)&workers[i].st + WS_TOTALS_OFF);
		const __u64 *c = (const __u64 *)((const char *)&cur + WS_TOTALS_OFF);
		const __u64 *p = (const __u64 *)((const char *)&workers[i].prev + WS_TOTALS_OFF);

		for (size_t k = 0; k < n; k++)
			d[k] = c[k] >= p[k] ? c[k] - p[k] : 0;
		if (commit)
			workers[i].prev = cur;
	}
}

/* Blocking sites, user locks: what the next window collects starts empty. */
static void window_reset(void)
{
	nsites = 0;
	nlocks = 0;
}

/* --- tasks (top): the tasks map of the USDT programs ------------------------------- */

struct utask {
	uint64_t id;
	struct ws_task cur, prev;	/* cumulative now and at the last frame */
	uint64_t off_ns;		/* its polls blocked in the kernel, this frame */
	bool named;			/* the record was read (or could not be) */
	char name[33];
	char site[288];
};

static struct utask *utasks;	/* sorted by id */
static size_t nutasks;

/* Blocked time of tasks in this frame, from the events (the map is read later). */
#define MAX_PENDING 4096
static struct {
	uint64_t id, ns;
} pending[MAX_PENDING];
static size_t npending;

static void task_blocked(uint64_t id, uint64_t ns)
{
	for (size_t i = 0; i < npending; i++)
		if (pending[i].id == id) {
			pending[i].ns += ns;
			return;
		}
	if (npending < MAX_PENDING) {
		pending[npending].id = id;
		pending[npending++].ns = ns;
	}
}

static int utask_cmp(const void *a, const void *b)
{
	const struct utask *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static struct utask *utask_find(struct utask *v, size_t n, uint64_t id)
{
	struct utask key = { .id = id };

	return n ? bsearch(&key, v, n, sizeof(*v), utask_cmp) : NULL;
}

/* Name and spawn site from the task's registry record (checked against its id). */
static void utask_name(struct utask *u)
{
	struct site st;

	u->named = true;
	memset(&st, 0, sizeof(st));
	read_task(&st, u->cur.task_addr, u->id);
	snprintf(u->name, sizeof(u->name), "%s", st.task_name);
	if (st.task_file[0])
		snprintf(u->site, sizeof(u->site), "%.270s:%u", st.task_file, st.task_line);
}

/* Read the tasks map into a new utasks[], carrying names and last frame's figures. */
static void read_tasks(struct weftstat_bpf *s)
{
	int fd = bpf_map__fd(s->maps.tasks);
	struct utask *nu = calloc(WS_MAX_TASKS, sizeof(*nu));
	__u64 key, next, *prev = NULL;
	size_t n = 0;

	if (!nu)
		return;
	while (n < WS_MAX_TASKS && !bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &nu[n].cur))
			continue;
		nu[n++].id = key;
	}
	qsort(nu, n, sizeof(*nu), utask_cmp);
	for (size_t i = 0; i < n; i++) {
		struct utask *old = utask_find(utasks, nutasks, nu[i].id);

		if (old) {
			nu[i].prev = old->cur;
			nu[i].named = old->named;
			memcpy(nu[i].name, old->name, sizeof(nu[i].name));
			memcpy(nu[i].site, old->site, sizeof(nu[i].site));
		}
		if (!nu[i].named && nu[i].cur.task_addr)
			utask_name(&nu[i]);
	}
	for (size_t i = 0; i < npending; i++) {
		struct utask *u = utask_find(nu, n, pending[i].id);

		if (u)
			u->off_ns = pending[i].ns;
	}
	npending = 0;
	free(utasks);
	utasks = nu;
	nutasks = n;
}

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

/* The diagnosis of the figures in workers[].st, in one sentence. */
static void diag_line(char *buf, size_t len, const struct totals *t)
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

/*
 * Build the frame of the interval that ended at now: workers from the
 * workers map (and the registry's states and poll counts), tasks from the
 * tasks map. The caller has refreshed the registry view and consumed the
 * ring buffer.
 */
static void build_frame(struct weftstat_bpf *s, struct ws_frame *f, uint64_t now,
			uint64_t interval, bool usdt, const char *note)
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
			/* A thread whose slot another drives now: a spare, or waiting for one. */
			snprintf(r->state, sizeof(r->state), "%s",
				 workers[i].handed_off ? "handed-off"
						       : wfreg_state_name(workers[i].reg_state));
			r->polls_s = workers[i].handed_off
					     ? 0
					     : (double)(workers[i].reg_polls -
							workers[i].reg_polls_prev) / iv;
			workers[i].reg_polls_prev = workers[i].reg_polls;
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

static void top_usage(FILE *f)
{
	fprintf(f,
		"usage: weftstat top -p PID [-i SECONDS] [--sort KEY] [-n FRAMES] [--json]\n"
		"                    [--threads REGEX] [--no-tasks]\n"
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
		"  -h, --help             this text\n");
}

/* Options and target shared by report and top. */
static const char *tokio_note;

/*
 * Find the threads to trace and put them in the map: the weft registry's
 * workers; --threads; or, without a registry, Tokio's workers. 0, or an
 * exit status with the message said.
 */
static int find_threads(struct weftstat_bpf *s)
{
	int r;

	if (thread_mode) {
		r = refresh_threads(s, true);
		if (r == -ENOENT) {
			say("process %d has no thread whose name matches /%s/ (see "
			    "/proc/%d/task/*/comm)", (int)pid, thread_pat, (int)pid);
			return WS_EXIT_USAGE;
		}
		if (r < 0) {
			say("cannot list the threads of process %d: %s", (int)pid, strerror(-r));
			return WS_EXIT_USAGE;
		}
		return 0;
	}
	r = refresh_workers(s, true);
	if (r == -ENOENT) {
		/* No weft registry: a Tokio program's workers, by their default name. */
		set_thread_pattern(TOKIO_THREADS);
		r = refresh_threads(s, true);
		if (r > 0) {
			tokio_note = "no weft registry; tracing Tokio's worker threads by name";
			return 0;
		}
		say("process %d is not a weft process (no weft registry in its memory: it does "
		    "not use libweft, or libweft was built without CONFIG_WEFT_TRACE_REGISTRY) "
		    "and has no Tokio worker threads (tokio-runtime-w): name its worker threads "
		    "with --threads REGEX",
		    (int)pid);
		return WS_EXIT_USAGE;
	}
	if (r < 0 || !nworkers) {
		say("process %d has a weft registry but no running worker threads yet",
		    (int)pid);
		return WS_EXIT_USAGE;
	}
	return 0;
}

/* Parse -p: the process (a thread id is taken for its process); 0 on error. */
static pid_t parse_pid(const char *arg)
{
	pid_t p = ws_parse_pid(arg);

	if (!p)
		say("-p wants a process id, not '%s'", arg);
	return p;
}

static bool parse_seconds(const char *opt, const char *arg, double lo, double hi, double *out)
{
	if (ws_parse_seconds(arg, lo, hi, out)) {
		say("%s wants seconds between %g and %g, not '%s'", opt, lo, hi, arg);
		return false;
	}
	return true;
}

/* The target process of -p P: P's process; says so when P is a thread. */
static void set_target(pid_t p)
{
	pid = tgid_of(p);
	if (pid != p)
		say("%d is a thread of process %d: tracing process %d", (int)p, (int)pid,
		    (int)pid);
}

#define MAX_USDT_LINKS 8


/*
 * Common to report and top once the programs are loaded: the target's
 * symbols (a failure only costs names), the ring buffer, the attach, and
 * SIGINT/SIGTERM (and SIGHUP with @hup) as a clean stop. Returns 0, or -1
 * after saying why (*rbp is then NULL or to be freed by the caller).
 */
static int start_tracing(struct weftstat_bpf *s, bool kernel_syms, bool hup,
			 struct ring_buffer **rbp)
{
	struct sigaction sa;
	int r = sym_user_open(pid);

	if (r)
		say("cannot read the symbols of process %d (%s): stacks will show addresses",
		    (int)pid, strerror(-r));
	if (kernel_syms)
		sym_kernel_open();
	*rbp = ring_buffer__new(bpf_map__fd(s->maps.events), on_event, NULL, NULL);
	if (!*rbp) {
		say("cannot create the ring buffer: %s", strerror(errno));
		return -1;
	}
	r = weftstat_bpf__attach(s);
	if (r) {
		say("cannot attach the BPF programs: %s", strerror(-r));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (hup)
		sigaction(SIGHUP, &sa, NULL);
	return 0;
}

/* Attach the task programs to the weft:poll_start/poll_end probes of each libweft. */
static int attach_usdt(struct weftstat_bpf *s, struct bpf_link **links, size_t *nlinks,
		       char *note, size_t notelen)
{
	int err = 0;

	for (size_t f = 0; f < nfound && *nlinks + 2 <= MAX_USDT_LINKS; f++) {
		char path[PATH_MAX];
		struct bpf_link *a, *b;

		if (!found[f].object || found[f].object[0] != '/') {
			err = -ENOENT;
			continue;
		}
		/* The target's own file, as its mount namespace names it. */
		snprintf(path, sizeof(path), "/proc/%d/root%s", (int)pid, found[f].object);
		a = bpf_program__attach_usdt(s->progs.ws_poll_start, pid, path, "weft",
					     "poll_start", NULL);
		if (!a) {
			err = -errno;
			continue;
		}
		b = bpf_program__attach_usdt(s->progs.ws_poll_end, pid, path, "weft", "poll_end",
					     NULL);
		if (!b) {
			err = -errno;
			bpf_link__destroy(a);
			continue;
		}
		links[(*nlinks)++] = a;
		links[(*nlinks)++] = b;
		if (!s->bss->slow_poll_ns)
			s->bss->slow_poll_ns = found[f].root.slow_poll_ns;
	}
	if (*nlinks)
		return 0;
	snprintf(note, notelen,
		 "no task view: cannot attach to the weft:poll_start and poll_end probes (%s; "
		 "a libweft built with CONFIG_WEFT_USDT=n has none)",
		 strerror(err ? -err : ENOENT));
	return err ? err : -ENOENT;
}

static int cmd_top(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "interval", required_argument, NULL, 'i' },
		{ "sort", required_argument, NULL, 's' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "threads", required_argument, NULL, 't' },
		{ "no-tasks", no_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bpf_link *links[MAX_USDT_LINKS];
	struct weftstat_bpf *s = NULL;
	struct ring_buffer *rb = NULL;
	struct ws_frame frame = { 0 };
	const char *flavour = "?";
	char err[256], note[256] = "", status[256], *e;
	double iv = 1;
	long long iters = 0;
	bool json = false, want_tasks = true, usdt = false, tty, exited = false;
	int c, r, key = WS_SORT_BUSY, rc = WS_EXIT_FAIL;
	uint64_t start, last, next_frame, next_refresh;
	size_t nlinks = 0;
	pid_t p = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:i:s:n:jt:h", opts, NULL)) != -1) {
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
		case 'h':
			top_usage(stdout);
			return WS_EXIT_OK;
		default:
			top_usage(stderr);
			return WS_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		say("unexpected argument '%s'", argv[optind]);
		top_usage(stderr);
		return WS_EXIT_USAGE;
	}
	if (!p) {
		say("top needs -p PID");
		top_usage(stderr);
		return WS_EXIT_USAGE;
	}
	tty = !json && isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
	set_target(p);
	wfreg_prog = "weftstat";
	wfreg_open(pid);	/* exits 2 when there is no such process */

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
		struct pollfd pf[2] = {
			{ .fd = ring_buffer__epoll_fd(rb), .events = POLLIN },
			{ .fd = STDIN_FILENO, .events = POLLIN },
		};
		uint64_t now = now_ns();
		int left = now < next_frame ? (int)((next_frame - now) / 1000000) + 1 : 0;
		int k, redraw = 0;

		poll(pf, tty ? 2 : 1, left < 100 ? left : 100);
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
		if (now >= next_frame || exited) {
			if (!exited && !thread_mode)
				refresh_workers(s, false);	/* states and poll counts now */
			ring_buffer__consume(rb);
			frame.seq++;
			build_frame(s, &frame, now, now - last, usdt, note);
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

/* The Prometheus page of the window that ended at now (a heap string, or NULL). */
static char *prom_page(struct weftstat_bpf *s, uint64_t now, uint64_t window, bool commit,
		       bool exited, size_t *len)
{
	uint64_t lost[WS_CNT_NR];
	struct totals t;
	char *buf = NULL;
	FILE *m;

	collect(s, now, commit);
	read_locks(s, commit);
	lost_counts(s, lost);
	sum_up(&t, window);
	m = open_memstream(&buf, len);
	if (!m)
		return NULL;
	print_prometheus(m, s, &t, window, lost, exited);
	if (fclose(m)) {
		free(buf);
		return NULL;
	}
	return buf;
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
			p = prom_page(s, now, now - wstart, true, false, &len);
			if (p) {
				free(page);
				page = p;
			}
			window_reset();
			wstart = now;
		} else if (exited && !page) {
			page = prom_page(s, now, now - wstart, true, true, &len);
		}
		if (pf[1].revents & POLLIN) {
			char *p = page, *partial = NULL;
			size_t plen = len;

			if (!p) {
				partial = prom_page(s, now, now - wstart, false, exited, &plen);
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
			if (ws_listen_parse(optarg, &laddr, &laddr_len, err, sizeof(err))) {
				say("--listen %s", err);
				return WS_EXIT_USAGE;
			}
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
	if (optind < argc) {
		say("unexpected argument '%s'", argv[optind]);
		report_usage(stderr);
		return WS_EXIT_USAGE;
	}
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
	set_target(p);
	wfreg_prog = "weftstat";
	wfreg_open(pid);	/* exits 2 when there is no such process */
	if (listen_spec) {
		lfd = ws_listen_open(&laddr, laddr_len, bound, sizeof(bound));
		if (lfd < 0) {
			say("--listen %s: %s", listen_spec, strerror(-lfd));
			rc = WS_EXIT_USAGE;
			goto out;
		}
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

static void usage(FILE *f)
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
