// SPDX-License-Identifier: MIT
/*
 * metrics_dump.c - the metrics snapshot API (weft/metrics.h) and its text
 * and JSON forms. Recording is in metrics.c; definitions in docs/metrics.md.
 *
 * A snapshot reads, without stopping anybody:
 *   - each worker's published batch (relaxed atomics, metrics.h);
 *   - its registry slot, under the slot's sequence count (registry.h);
 *   - its local queue indices and "next" slot (atomics);
 *   - the tasks of each task-list shard, copied under that shard's
 *     tasks_lock: a task on the list cannot be freed while the lock is
 *     held (tasks_unlink() takes it), and nothing of a task is touched
 *     after the lock is dropped. The spawn site's file name is copied then
 *     too (interned: tasks usually share a few files).
 */
#include "internal.h"
#include "io.h"
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/metrics.h>

_Static_assert(WF_METRICS_HIST_BUCKETS == WF_HIST_BUCKETS, "public and internal histograms differ");
_Static_assert((int)WF_WORKER_POLLING == (int)WF_REG_W_POLLING &&
		       (int)WF_WORKER_PARKED == (int)WF_REG_W_PARKED &&
		       (int)WF_WORKER_STOPPED == (int)WF_REG_W_STOPPED &&
		       (int)WF_WORKER_SEARCHING == (int)WF_REG_W_SEARCHING,
	       "worker states follow the registry's");
_Static_assert((int)WF_TASK_IDLE == (int)WF_SCHED_IDLE &&
		       (int)WF_TASK_QUEUED == (int)WF_SCHED_QUEUED &&
		       (int)WF_TASK_RUNNING == (int)WF_SCHED_RUNNING &&
		       (int)WF_TASK_NOTIFIED == (int)WF_SCHED_NOTIFIED &&
		       (int)WF_TASK_DONE == (int)WF_SCHED_DONE,
	       "task states follow the scheduler's");

#define FILE_NAME_MAX 4096	/* longest spawn-site file name copied */
#define SLOT_READ_TRIES 1000

/* As metrics.c: worker counters are published this often while busy. */
#ifdef CONFIG_WEFT_METRICS_FLUSH_MS
#define FLUSH_NS ((uint64_t)CONFIG_WEFT_METRICS_FLUSH_MS * 1000000ull)
#else
#define FLUSH_NS (5ull * 1000000ull)
#endif

/* --- names ------------------------------------------------------------------ */

static const char *const worker_states[] = {
	"starting", "polling", "scheduling", "searching", "parked", "stopped",
};

static const char *const task_states[] = {
	"idle", "queued", "running", "notified", "done",
};

const char *wf_worker_state_name(int state)
{
	if (state < 0 || (size_t)state >= WF_ARRAY_SIZE(worker_states))
		return "unknown";
	return worker_states[state];
}

const char *wf_task_state_name(int state)
{
	if (state < 0 || (size_t)state >= WF_ARRAY_SIZE(task_states))
		return "unknown";
	return task_states[state];
}

/* --- histograms ---------------------------------------------------------------- */

int wf_hist_bucket_bounds(unsigned b, uint64_t *lo, uint64_t *hi)
{
	if (b >= WF_METRICS_HIST_BUCKETS || !lo || !hi)
		return -EINVAL;
	*lo = wf__hist_bucket_lo(b);
	*hi = b + 1 < WF_METRICS_HIST_BUCKETS ? wf__hist_bucket_lo(b + 1) : UINT64_MAX;
	return 0;
}

int64_t wf_hist_percentile(const struct wf_hist *h, double q)
{
	uint64_t n = 0, rank, seen = 0;

	if (!h || isnan(q) || q < 0.0 || q > 1.0)
		return -EINVAL;
	for (unsigned b = 0; b < WF_METRICS_HIST_BUCKETS; b++)
		n += h->buckets[b];
	if (!n)
		return -ENODATA;
	if (q >= 1.0)
		return (int64_t)(h->max_ns > INT64_MAX ? INT64_MAX : h->max_ns);
	/* The rank-th smallest value (1-based), rank = ceil(q * n), at least 1. */
	rank = (uint64_t)(q * (double)n);
	if ((double)rank < q * (double)n)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	for (unsigned b = 0; b < WF_METRICS_HIST_BUCKETS; b++) {
		uint64_t c = h->buckets[b], lo, hi, v;

		if (seen + c < rank) {
			seen += c;
			continue;
		}
		wf_hist_bucket_bounds(b, &lo, &hi);
		if (hi == UINT64_MAX || (h->max_ns && hi > h->max_ns))
			hi = h->max_ns > lo ? h->max_ns : lo;
		/* Values spread evenly over [lo, hi): the j-th of c sits at its centre. */
		v = lo + (uint64_t)((double)(hi - lo) * ((double)(rank - seen) - 0.5) / (double)c);
		if (h->max_ns && v > h->max_ns)
			v = h->max_ns;
		return (int64_t)(v > INT64_MAX ? INT64_MAX : v);
	}
	return (int64_t)(h->max_ns > INT64_MAX ? INT64_MAX : h->max_ns);
}

/* --- snapshot: workers ------------------------------------------------------------ */

#ifdef CONFIG_WEFT_TRACE_REGISTRY
/* Read w's registry slot under its sequence count. */
static void worker_slot(struct wf__worker *w, struct wf_worker_metrics *o)
{
	struct wf_reg_worker *s = w->reg;

	o->state = WF_WORKER_UNKNOWN;
	o->tid = (int32_t)atomic_load_explicit(&w->tid, memory_order_relaxed);
	for (int i = 0; s && i < SLOT_READ_TRIES; i++) {
		uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		uint32_t state;
		int32_t tid;
		uint64_t id, start;

		if (seq & 1)
			continue;
		/* Acquire loads keep the re-read of seq after them (no fence: TSan). */
		state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		tid = __atomic_load_n(&s->tid, __ATOMIC_ACQUIRE);
		id = __atomic_load_n(&s->task_id, __ATOMIC_ACQUIRE);
		start = __atomic_load_n(&s->poll_start_ns, __ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) != seq)
			continue;
		o->state = (int)state;
		if (tid)
			o->tid = tid;
		if (state == WF_REG_W_POLLING) {
			o->current_task_id = id;
			o->poll_start_ns = start;
		}
		break;
	}
}
#else
/* No registry: the state is unknown. */
static void worker_slot(struct wf__worker *w, struct wf_worker_metrics *o)
{
	o->state = WF_WORKER_UNKNOWN;
	o->tid = (int32_t)atomic_load_explicit(&w->tid, memory_order_relaxed);
}
#endif

static void worker_copy(struct wf__worker *w, struct wf_worker_metrics *o)
{
	uint32_t head, tail;

	o->index = (unsigned)w->index;
	worker_slot(w, o);
#define X(n) o->n = atomic_load_explicit(&w->mpub.n, memory_order_relaxed);
	WF__WORKER_COUNTERS(X)
#undef X
	/* head first: tail read later is at least that head, so no underflow. */
	head = atomic_load_explicit(&w->head, memory_order_acquire);
	tail = atomic_load_explicit(&w->tail, memory_order_acquire);
	o->local_queue_depth = tail - head > WF_LOCAL_QUEUE ? WF_LOCAL_QUEUE : tail - head;
	o->next_slot = atomic_load_explicit(&w->runnext, memory_order_relaxed) ? 1 : 0;
	o->handoffs = atomic_load_explicit(&w->handoffs, memory_order_relaxed);
}

/* --- snapshot: tasks ------------------------------------------------------------- */

#ifdef CONFIG_WEFT_METRICS

/* Spawn-site file names, copied once per distinct pointer. */
struct strpool {
	char *buf;
	size_t len, cap;
	const char **keys;	/* open addressing by pointer */
	size_t *offs;
	size_t nslots, used;
};

static size_t ptr_hash(const void *p, size_t nslots)
{
	uint64_t x = (uint64_t)(uintptr_t)p;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (size_t)x & (nslots - 1);
}

static int pool_grow_slots(struct strpool *p)
{
	size_t n = p->nslots ? p->nslots * 2 : 64;
	const char **keys = calloc(n, sizeof(*keys));
	size_t *offs = calloc(n, sizeof(*offs));

	if (!keys || !offs) {
		free(keys);
		free(offs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < p->nslots; i++) {
		size_t j;

		if (!p->keys[i])
			continue;
		for (j = ptr_hash(p->keys[i], n); keys[j]; j = (j + 1) & (n - 1))
			;
		keys[j] = p->keys[i];
		offs[j] = p->offs[i];
	}
	free(p->keys);
	free(p->offs);
	p->keys = keys;
	p->offs = offs;
	p->nslots = n;
	return 0;
}

/* Offset of a copy of file in the pool; 0 ("") for NULL. -1 on ENOMEM. */
static long pool_intern(struct strpool *p, const char *file)
{
	size_t j, n;

	if (!file)
		return 0;
	if (2 * (p->used + 1) > p->nslots && pool_grow_slots(p))
		return -1;
	for (j = ptr_hash(file, p->nslots); p->keys[j]; j = (j + 1) & (p->nslots - 1))
		if (p->keys[j] == file)
			return (long)p->offs[j];
	n = strnlen(file, FILE_NAME_MAX);
	if (p->len + n + 1 > p->cap) {
		size_t cap = (p->len + n + 1) * 2;
		char *b = realloc(p->buf, cap);

		if (!b)
			return -1;
		p->buf = b;
		p->cap = cap;
	}
	memcpy(p->buf + p->len, file, n);
	p->buf[p->len + n] = '\0';
	p->keys[j] = file;
	p->offs[j] = p->len;
	p->used++;
	p->len += n + 1;
	return (long)p->offs[j];
}

static void pool_free_index(struct strpool *p)
{
	free(p->keys);
	free(p->offs);
	p->keys = NULL;
	p->offs = NULL;
}

static void hist_copy(struct wf_hist *o, uint64_t count, uint64_t total, uint64_t max,
		      const _Atomic uint32_t *b)
{
	o->count = count;
	o->total_ns = total;
	o->max_ns = max;
	/* A task polled once has its one sample in total (metrics.h). */
	if (count == 1) {
		o->buckets[wf__hist_bucket(total)] = 1;
		return;
	}
	for (unsigned i = 0; i < WF_HIST_BUCKETS; i++)
		o->buckets[i] = atomic_load_explicit(&b[i], memory_order_relaxed);
}

/* Copy what a task's metrics say; called under its shard's tasks_lock. */
static int task_copy(struct wf_task *t, struct wf_task_metrics *o, struct strpool *pool)
{
	const struct wf__task_metrics *m = &t->m;
	long off = pool_intern(pool, task_file(t));

	if (off < 0)
		return -ENOMEM;
	memset(o, 0, sizeof(*o));
	o->id = t->reg.id;
	memcpy(o->name, t->reg.name, sizeof(o->name));
	o->name[sizeof(o->name) - 1] = '\0';
	/* An offset for now: the pool may still move (see tasks_fixup()). */
	o->file = (const char *)(uintptr_t)off;
	o->line = task_line(t);
	o->state = (int)atomic_load_explicit(&t->sched, memory_order_relaxed);
	o->flags = t->reg.flags & (WF_TASK_F_PINNED | WF_TASK_F_ROOT);
	o->spawn_ns = t->reg.spawn_ns;
	o->polls = atomic_load_explicit(&m->polls, memory_order_relaxed);
	o->first_poll_ns = o->polls ? atomic_load_explicit(&m->first_poll_ns,
							  memory_order_relaxed) : 0;
	o->busy_ns = atomic_load_explicit(&m->busy_ns, memory_order_relaxed);
	o->slow_polls = atomic_load_explicit(&m->slow_polls, memory_order_relaxed);
	o->wakes = atomic_load_explicit(&t->wakes, memory_order_relaxed);
	o->self_wakes = atomic_load_explicit(&t->self_wakes, memory_order_relaxed);
	/* One sample of each histogram per poll: their counts are the polls. */
	hist_copy(&o->poll, o->polls, o->busy_ns,
		  atomic_load_explicit(&m->poll_max_ns, memory_order_relaxed), m->poll_b);
	hist_copy(&o->sched, o->polls,
		  atomic_load_explicit(&m->sched_total_ns, memory_order_relaxed),
		  atomic_load_explicit(&m->sched_max_ns, memory_order_relaxed), m->sched_b);
	return 0;
}

static inline void prefetch_task(const struct wf_task *t)
{
	const char *p = (const char *)&t->m;

	__builtin_prefetch(&t->reg);
	for (size_t off = 0; off < sizeof(t->m); off += WF_CACHELINE)
		__builtin_prefetch(p + off);
}

static int grow_tasks(struct wf_metrics *m, size_t *cap, size_t need)
{
	struct wf_task_metrics *a;
	size_t n = need + need / 2 + 16;

	a = realloc(m->tasks, n * sizeof(*a));
	if (!a)
		return -ENOMEM;
	m->tasks = a;
	*cap = n;
	return 0;
}

/*
 * Copy the tasks of one shard. The array was sized from the live count
 * beforehand; finished tasks still held by a handle can make the list
 * longer, and then it grows under the lock (an allocation, not a wait).
 */
static int shard_copy(struct wf__worker *s, struct wf_metrics *m, size_t *cap,
		      struct strpool *pool)
{
	int r = 0;

	struct wf_task *t;

	wf__spin_lock(&s->tasks_lock);
	wf__for_each_task(s, i, t) {
		/* Each block sits in its own stack mapping, cold: fetch the next one early. */
		if (i + 1 < s->tasks_len && s->tasks[i + 1])
			prefetch_task(s->tasks[i + 1]);
		if (m->ntasks == *cap) {
			r = grow_tasks(m, cap, *cap + 1);
			if (r)
				break;
		}
		r = task_copy(t, &m->tasks[m->ntasks], pool);
		if (r)
			break;
		m->ntasks++;
	}
	wf__spin_unlock(&s->tasks_lock);
	return r;
}

static int cmp_task_id(const void *a, const void *b)
{
	const struct wf_task_metrics *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int tasks_snapshot(struct wf_runtime *rt, struct wf_metrics *m)
{
	struct strpool pool = { 0 };
	size_t cap = 0;
	int r = 0;

	/* An empty string at offset 0 for tasks without a spawn site. */
	pool.buf = malloc(256);
	if (!pool.buf)
		return -ENOMEM;
	pool.buf[0] = '\0';
	pool.len = 1;
	pool.cap = 256;
	r = grow_tasks(m, &cap, (size_t)wf__live_tasks(rt) + 16);
	for (unsigned i = 0; !r && i < rt->nworkers; i++)
		r = shard_copy(&rt->workers[i], m, &cap, &pool);
	pool_free_index(&pool);
	if (r) {
		free(pool.buf);
		return r;
	}
	/* The pool is final: offsets become pointers; it is freed with m. */
	m->strings_ = pool.buf;
	for (size_t i = 0; i < m->ntasks; i++) {
		struct wf_task_metrics *o = &m->tasks[i];
		uint64_t age = m->now_ns > o->spawn_ns ? m->now_ns - o->spawn_ns : 0;
		uint64_t used;

		o->file = pool.buf + (uintptr_t)o->file;
		o->age_ns = age;
		o->scheduled_ns = o->sched.total_ns;
		used = o->busy_ns + o->scheduled_ns;
		o->idle_ns = age > used ? age - used : 0;
	}
	qsort(m->tasks, m->ntasks, sizeof(*m->tasks), cmp_task_id);
	return 0;
}

#endif /* CONFIG_WEFT_METRICS */

int wf_metrics_snapshot(wf_runtime *rt, struct wf_metrics **out)
{
	struct wf_metrics *m;

	if (!rt || !out)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->version = WF_METRICS_VERSION;
	m->flavor = rt->flavor;
	m->now_ns = wf__now();
	m->slow_poll_ns = (uint64_t)CONFIG_WEFT_SLOW_POLL_US * 1000ull;
	m->flush_ns = FLUSH_NS;
	m->live_tasks = wf__live_tasks(rt);
	m->inject_depth = atomic_load_explicit(&rt->inj_len, memory_order_relaxed);
	m->io_driver = rt->io ? rt->io->name : "none";
	m->io_found = rt->io_found;
	m->io_used = rt->io_used;
	m->stall_compensation = rt->stall_on;
	m->stall_handoffs_blocked = atomic_load_explicit(&rt->stall_blocked, memory_order_relaxed);
	m->stall_handoffs_cpu = atomic_load_explicit(&rt->stall_cpu, memory_order_relaxed);
	m->stall_capped = atomic_load_explicit(&rt->stall_capped, memory_order_relaxed);
	m->stall_source = wf__stall_source_name(rt);
	m->stall_bpf_error = rt->stall_bpf_err;
	m->stall_bpf_fallbacks = atomic_load_explicit(&rt->stall_bpf_fallbacks,
						      memory_order_relaxed);
	m->nworkers = rt->nworkers;
	m->workers = calloc(rt->nworkers, sizeof(*m->workers));
	if (!m->workers) {
		free(m);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < rt->nworkers; i++)
		worker_copy(&rt->workers[i], &m->workers[i]);
#ifdef CONFIG_WEFT_METRICS
	m->task_metrics = 1;
	{
		int r = tasks_snapshot(rt, m);

		if (r) {
			wf_metrics_free(m);
			return r;
		}
	}
#endif
	*out = m;
	return 0;
}

void wf_metrics_free(struct wf_metrics *m)
{
	if (!m)
		return;
	free(m->workers);
	free(m->tasks);
	free(m->strings_);
	free(m);
}

/* --- text ---------------------------------------------------------------------- */

/* A duration, short: 950ns, 12.3us, 4.50ms, 1.20s. */
static const char *fmt_ns(char *buf, size_t n, uint64_t ns)
{
	if (ns < 1000)
		snprintf(buf, n, "%lluns", (unsigned long long)ns);
	else if (ns < 1000000)
		snprintf(buf, n, "%.1fus", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, n, "%.2fms", (double)ns / 1e6);
	else
		snprintf(buf, n, "%.2fs", (double)ns / 1e9);
	return buf;
}

static const char *fmt_pct(char *buf, size_t n, const struct wf_hist *h, double q)
{
	int64_t v = wf_hist_percentile(h, q);

	if (v < 0)
		snprintf(buf, n, "-");
	else
		fmt_ns(buf, n, (uint64_t)v);
	return buf;
}

static const char *flavor_name(int flavor)
{
	return flavor == WF_CURRENT_THREAD ? "current-thread" : "multi-thread";
}

static void text_hist(FILE *f, const char *what, const struct wf_hist *h)
{
	uint64_t peak = 0;

	fprintf(f, "    %s: count %llu, total ", what, (unsigned long long)h->count);
	{
		char a[24], b[24];

		fprintf(f, "%s, max %s\n", fmt_ns(a, sizeof(a), h->total_ns),
			fmt_ns(b, sizeof(b), h->max_ns));
	}
	for (unsigned b = 0; b < WF_METRICS_HIST_BUCKETS; b++)
		if (h->buckets[b] > peak)
			peak = h->buckets[b];
	for (unsigned b = 0; b < WF_METRICS_HIST_BUCKETS; b++) {
		char lo_s[24], hi_s[24], bar[41];
		uint64_t lo, hi, c = h->buckets[b];
		unsigned len;

		if (!c)
			continue;
		wf_hist_bucket_bounds(b, &lo, &hi);
		len = (unsigned)((c * 40 + peak - 1) / peak);
		memset(bar, '*', len);
		bar[len] = '\0';
		fmt_ns(lo_s, sizeof(lo_s), lo);
		if (hi == UINT64_MAX)
			snprintf(hi_s, sizeof(hi_s), "...");
		else
			fmt_ns(hi_s, sizeof(hi_s), hi);
		fprintf(f, "      %9s .. %-9s %10llu |%-40s|\n", lo_s, hi_s,
			(unsigned long long)c, bar);
	}
}

static void dump_text(const struct wf_metrics *m, FILE *f, int flags)
{
	struct wf_worker_metrics tot = { 0 };
	char a[24], b[24], c[24], d[24];

	fprintf(f, "weft metrics: %s runtime, %u worker%s, %llu live task%s, inject queue %llu\n",
		flavor_name(m->flavor), m->nworkers, m->nworkers == 1 ? "" : "s",
		(unsigned long long)m->live_tasks, m->live_tasks == 1 ? "" : "s",
		(unsigned long long)m->inject_depth);
	if (m->flush_ns)
		fprintf(f, "slow poll > %s; worker counters published on park and every %s\n",
			fmt_ns(a, sizeof(a), m->slow_poll_ns), fmt_ns(b, sizeof(b), m->flush_ns));
	else
		fprintf(f, "slow poll > %s; worker counters published on park and every poll\n",
			fmt_ns(a, sizeof(a), m->slow_poll_ns));
	fprintf(f, "I/O driver %s; io_uring features found %#x, used %#x (WF_IO_F_*)\n",
		m->io_driver ? m->io_driver : "none", m->io_found, m->io_used);

	fprintf(f, "\n%6s %8s %-10s %10s %9s %7s %7s %9s %9s %5s %4s %9s %7s %6s %7s %6s  %s\n",
		"WORKER", "TID", "STATE", "POLLS", "BUSY", "PARKS", "STEALS", "STEAL_OPS",
		"OVERFLOWS", "QUEUE", "NEXT", "NEXT_HITS", "FORCED", "SLOW", "INJECT", "NOOPS",
		"CURRENT");
	for (unsigned i = 0; i < m->nworkers; i++) {
		const struct wf_worker_metrics *w = &m->workers[i];

		fprintf(f, "%6u %8d %-10s %10llu %9s %7llu %7llu %9llu %9llu %5u %4u %9llu %7llu "
			   "%6llu %7llu %6llu  ",
			w->index, (int)w->tid, wf_worker_state_name(w->state),
			(unsigned long long)w->polls, fmt_ns(a, sizeof(a), w->busy_ns),
			(unsigned long long)w->parks, (unsigned long long)w->steals,
			(unsigned long long)w->steal_ops, (unsigned long long)w->overflows,
			w->local_queue_depth, w->next_slot, (unsigned long long)w->next_hits,
			(unsigned long long)w->forced_yields, (unsigned long long)w->slow_polls,
			(unsigned long long)w->inject_polls, (unsigned long long)w->noops);
		if (w->state == WF_WORKER_POLLING)
			fprintf(f, "task %llu for %s\n", (unsigned long long)w->current_task_id,
				fmt_ns(b, sizeof(b), m->now_ns > w->poll_start_ns
							     ? m->now_ns - w->poll_start_ns : 0));
		else
			fprintf(f, "-\n");
#define X(n) tot.n += w->n;
		WF__WORKER_COUNTERS(X)
#undef X
		tot.local_queue_depth += w->local_queue_depth;
		tot.next_slot += w->next_slot;
	}
	fprintf(f, "%6s %8s %-10s %10llu %9s %7llu %7llu %9llu %9llu %5u %4u %9llu %7llu %6llu "
		   "%7llu %6llu\n",
		"total", "", "", (unsigned long long)tot.polls, fmt_ns(a, sizeof(a), tot.busy_ns),
		(unsigned long long)tot.parks, (unsigned long long)tot.steals,
		(unsigned long long)tot.steal_ops, (unsigned long long)tot.overflows,
		tot.local_queue_depth, tot.next_slot, (unsigned long long)tot.next_hits,
		(unsigned long long)tot.forced_yields, (unsigned long long)tot.slow_polls,
		(unsigned long long)tot.inject_polls, (unsigned long long)tot.noops);
	if (m->stall_compensation || m->stall_handoffs_blocked || m->stall_handoffs_cpu) {
		fprintf(f, "stall compensation %s (source %s): %llu hand-offs (%llu blocked, "
			   "%llu on CPU), %llu refused at the spare thread cap; per worker:",
			m->stall_compensation ? "on" : "off",
			m->stall_source ? m->stall_source : "none",
			(unsigned long long)(m->stall_handoffs_blocked + m->stall_handoffs_cpu),
			(unsigned long long)m->stall_handoffs_blocked,
			(unsigned long long)m->stall_handoffs_cpu,
			(unsigned long long)m->stall_capped);
		for (unsigned i = 0; i < m->nworkers; i++)
			fprintf(f, " %llu", (unsigned long long)m->workers[i].handoffs);
		fputc('\n', f);
	}

	if (flags & WF_METRICS_NO_TASKS)
		return;
	if (!m->task_metrics) {
		fprintf(f, "\nper-task metrics: not built in (CONFIG_WEFT_METRICS=n)\n");
		return;
	}
	fprintf(f, "\n%8s %-20s %-8s %9s %9s %9s %9s %6s %7s %6s  %-26s  %-26s  %s\n", "TASK",
		"NAME", "STATE", "POLLS", "BUSY", "IDLE", "SCHEDULED", "SLOW", "WAKES", "SELF",
		"POLL p50/p99/max", "SCHED DELAY p50/p99/max", "SPAWNED AT");
	for (size_t i = 0; i < m->ntasks; i++) {
		const struct wf_task_metrics *t = &m->tasks[i];
		char pp[80], sp[80];

		snprintf(pp, sizeof(pp), "%s/%s/%s", fmt_pct(a, sizeof(a), &t->poll, 0.5),
			 fmt_pct(b, sizeof(b), &t->poll, 0.99),
			 fmt_ns(c, sizeof(c), t->poll.max_ns));
		snprintf(sp, sizeof(sp), "%s/%s/%s", fmt_pct(a, sizeof(a), &t->sched, 0.5),
			 fmt_pct(b, sizeof(b), &t->sched, 0.99),
			 fmt_ns(c, sizeof(c), t->sched.max_ns));
		fprintf(f, "%8llu %-20.20s %-8s %9llu ", (unsigned long long)t->id,
			t->name[0] ? t->name : "-", wf_task_state_name(t->state),
			(unsigned long long)t->polls);
		fprintf(f, "%9s ", fmt_ns(a, sizeof(a), t->busy_ns));
		fprintf(f, "%9s ", fmt_ns(b, sizeof(b), t->idle_ns));
		fprintf(f, "%9s ", fmt_ns(d, sizeof(d), t->scheduled_ns));
		fprintf(f, "%6llu %7llu %6llu  %-26s  %-26s  %s:%d\n",
			(unsigned long long)t->slow_polls, (unsigned long long)t->wakes,
			(unsigned long long)t->self_wakes, pp, sp, t->file[0] ? t->file : "?",
			t->line);
	}
	if (!(flags & WF_METRICS_HIST))
		return;
	for (size_t i = 0; i < m->ntasks; i++) {
		const struct wf_task_metrics *t = &m->tasks[i];

		fprintf(f, "\ntask %llu (%s):\n", (unsigned long long)t->id,
			t->name[0] ? t->name : "unnamed");
		text_hist(f, "poll duration", &t->poll);
		text_hist(f, "scheduled delay", &t->sched);
	}
}

/* --- JSON ---------------------------------------------------------------------- */

static void json_hist(FILE *f, const struct wf_hist *h, int flags)
{
	static const struct {
		const char *key;
		double q;
	} pcts[] = { { "p50_ns", 0.5 }, { "p90_ns", 0.9 }, { "p99_ns", 0.99 } };

	fprintf(f, "{\"count\":%llu,\"total_ns\":%llu,\"max_ns\":%llu",
		(unsigned long long)h->count, (unsigned long long)h->total_ns,
		(unsigned long long)h->max_ns);
	for (size_t i = 0; i < WF_ARRAY_SIZE(pcts); i++) {
		int64_t v = wf_hist_percentile(h, pcts[i].q);

		if (v < 0)
			fprintf(f, ",\"%s\":null", pcts[i].key);
		else
			fprintf(f, ",\"%s\":%lld", pcts[i].key, (long long)v);
	}
	if (flags & WF_METRICS_HIST) {
		bool first = true;

		fputs(",\"buckets\":[", f);
		for (unsigned b = 0; b < WF_METRICS_HIST_BUCKETS; b++) {
			uint64_t lo, hi;

			if (!h->buckets[b])
				continue;
			wf_hist_bucket_bounds(b, &lo, &hi);
			fprintf(f, "%s{\"lo_ns\":%llu,\"hi_ns\":", first ? "" : ",",
				(unsigned long long)lo);
			if (hi == UINT64_MAX)
				fputs("null", f);
			else
				fprintf(f, "%llu", (unsigned long long)hi);
			fprintf(f, ",\"count\":%llu}", (unsigned long long)h->buckets[b]);
			first = false;
		}
		fputc(']', f);
	}
	fputc('}', f);
}

static void dump_json(const struct wf_metrics *m, FILE *f, int flags)
{
	fprintf(f, "{\"version\":%u,\"flavor\":\"%s\",\"now_ns\":%llu,\"slow_poll_ns\":%llu,"
		   "\"flush_ns\":%llu,\"task_metrics\":%s,\"live_tasks\":%llu,"
		   "\"inject_depth\":%llu,\"io_driver\":\"%s\",\"io_found\":%u,\"io_used\":%u,"
		   "\"stall_compensation\":%s,"
		   "\"stall_handoffs_blocked\":%llu,\"stall_handoffs_cpu\":%llu,"
		   "\"stall_capped\":%llu,\"stall_source\":\"%s\",\"stall_bpf_error\":%d,"
		   "\"stall_bpf_fallbacks\":%llu,\"nworkers\":%u,\"workers\":[",
		m->version, flavor_name(m->flavor), (unsigned long long)m->now_ns,
		(unsigned long long)m->slow_poll_ns, (unsigned long long)m->flush_ns,
		m->task_metrics ? "true" : "false", (unsigned long long)m->live_tasks,
		(unsigned long long)m->inject_depth, m->io_driver ? m->io_driver : "none",
		m->io_found, m->io_used, m->stall_compensation ? "true" : "false",
		(unsigned long long)m->stall_handoffs_blocked,
		(unsigned long long)m->stall_handoffs_cpu, (unsigned long long)m->stall_capped,
		m->stall_source ? m->stall_source : "none", m->stall_bpf_error,
		(unsigned long long)m->stall_bpf_fallbacks, m->nworkers);
	for (unsigned i = 0; i < m->nworkers; i++) {
		const struct wf_worker_metrics *w = &m->workers[i];

		fprintf(f, "%s{\"index\":%u,\"tid\":%d,\"state\":\"%s\",\"current_task_id\":%llu,"
			   "\"poll_start_ns\":%llu",
			i ? "," : "", w->index, (int)w->tid, wf_worker_state_name(w->state),
			(unsigned long long)w->current_task_id,
			(unsigned long long)w->poll_start_ns);
#define X(n) fprintf(f, ",\"" #n "\":%llu", (unsigned long long)w->n);
		WF__WORKER_COUNTERS(X)
#undef X
		fprintf(f, ",\"local_queue_depth\":%u,\"next_slot\":%u,\"handoffs\":%llu}",
			w->local_queue_depth, w->next_slot, (unsigned long long)w->handoffs);
	}
	fputc(']', f);
	if (!(flags & WF_METRICS_NO_TASKS)) {
		fputs(",\"tasks\":[", f);
		for (size_t i = 0; i < m->ntasks; i++) {
			const struct wf_task_metrics *t = &m->tasks[i];

			fprintf(f, "%s{\"id\":%llu,\"name\":", i ? "," : "",
				(unsigned long long)t->id);
			wf__json_str(f, t->name, sizeof(t->name));
			fputs(",\"file\":", f);
			wf__json_str(f, t->file ? t->file : "", FILE_NAME_MAX);
			fprintf(f,
				",\"line\":%d,\"state\":\"%s\",\"pinned\":%s,\"root\":%s,"
				"\"spawn_ns\":%llu,\"first_poll_ns\":%llu,\"polls\":%llu,"
				"\"busy_ns\":%llu,\"slow_polls\":%llu,\"wakes\":%llu,"
				"\"self_wakes\":%llu,\"age_ns\":%llu,\"scheduled_ns\":%llu,"
				"\"idle_ns\":%llu,\"poll\":",
				t->line, wf_task_state_name(t->state),
				t->flags & WF_TASK_F_PINNED ? "true" : "false",
				t->flags & WF_TASK_F_ROOT ? "true" : "false",
				(unsigned long long)t->spawn_ns,
				(unsigned long long)t->first_poll_ns, (unsigned long long)t->polls,
				(unsigned long long)t->busy_ns, (unsigned long long)t->slow_polls,
				(unsigned long long)t->wakes, (unsigned long long)t->self_wakes,
				(unsigned long long)t->age_ns, (unsigned long long)t->scheduled_ns,
				(unsigned long long)t->idle_ns);
			json_hist(f, &t->poll, flags);
			fputs(",\"sched\":", f);
			json_hist(f, &t->sched, flags);
			fputc('}', f);
		}
		fputc(']', f);
	}
	fputs("}\n", f);
}

int wf_metrics_dump(const struct wf_metrics *m, FILE *f, int flags)
{
	if (!m || !f || (flags & ~(WF_METRICS_JSON | WF_METRICS_HIST | WF_METRICS_NO_TASKS)))
		return -EINVAL;
	if (m->version != WF_METRICS_VERSION || (m->nworkers && !m->workers) ||
	    (m->ntasks && !m->tasks))
		return -EINVAL;
	if (flags & WF_METRICS_JSON)
		dump_json(m, f, flags);
	else
		dump_text(m, f, flags);
	if (fflush(f) == EOF || ferror(f))
		return -EIO;
	return 0;
}
