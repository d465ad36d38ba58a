// SPDX-License-Identifier: MIT
/*
 * collect.c - weftstat collect: the figures of one trace, aggregated. The state shared by
 * weftstat's files (the target, its workers, the blocking sites, the user
 * locks, top's tasks), the blocking episodes from the ring buffer grouped
 * into sites by stack, the maps read back, windows (figures since the
 * last window's end) and the totals the diagnosis is made of.
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

pid_t pid;
volatile sig_atomic_t stop_sig;

/* --- a blocking site: episodes aggregated by stack ---------------------------- */

struct site sites[MAX_SITES];
size_t nsites;
uint64_t sites_dropped;	/* episodes with no room for their site */

struct worker *workers;
size_t nworkers;
char thread_prefix[17];

/*
 * --threads mode: worker threads of any runtime, chosen by name (comm),
 * not through a weft registry. Their episodes are blocking syscalls, not
 * polls (bpf/weftstat.h, ws_worker.foreign), and nothing is known of tasks.
 */
bool thread_mode;
regex_t thread_re;
char thread_pat[256];

void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("weftstat: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

uint64_t now_ns(void)
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

static void task_blocked(uint64_t id, uint64_t ns);

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
int on_event(void *ctx, void *data, size_t len)
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

/*
 * Workers: registry slots, not threads. A thread that took a stuck worker's
 * slot over (stall compensation, block_in_place) replaces its thread, it
 * does not add a worker. With --threads, every thread is one.
 */
size_t nslots(void)
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

void sum_up(struct totals *t, uint64_t window)
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

/* --- user locks: futex waits by word ------------------------------------------------ */

struct lock *locks;
size_t nlocks;

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
void read_locks(struct weftstat_bpf *s, bool drain)
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

void lost_counts(struct weftstat_bpf *s, uint64_t *lost)
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

/* --- windows: figures since the last window's end ----------------------------------- */

/*
 * Put the figures of the window that ended at now in workers[i].st: the
 * cumulative totals (open episodes closed at now) minus those at the last
 * commit. With commit, the next window starts at now. An episode still
 * open at now is counted up to now here and for the rest in the next
 * window.
 */
void collect(struct weftstat_bpf *s, uint64_t now, bool commit)
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
void window_reset(void)
{
	nsites = 0;
	nlocks = 0;
}

/* --- tasks (top): the tasks map of the USDT programs ------------------------------- */

struct utask *utasks;	/* sorted by id */
size_t nutasks;

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
void read_tasks(struct weftstat_bpf *s)
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
