// SPDX-License-Identifier: MIT
/*
 * task.c - task life cycle: stacks, spawn, finish, join, detach, task-local
 * storage, the runtime's task lists, and the stack-overflow report.
 *
 * Memory: a task is a control block (struct wf_task, malloc'd) and, while
 * it runs or is suspended, a stack: one mapping
 *	[guard page][stack ........................][struct wf__stack]
 * taken from the worker's pool at the task's first poll and given back
 * when it returns. A burst of spawns therefore touches dense control
 * blocks only, and a task that runs to completion in one poll hands the
 * next one the same stack, still in the cache and the TLB (the pools are
 * LIFO). A stack of another size than the runtime's, or one needed when
 * every pool is empty, is mapped at spawn instead, so that running out
 * of memory maps is a -ENOMEM from wf_spawn() as before; see
 * wf__task_attach_stack() for the rare first poll that finds no stack.
 * The control block outlives the task while a handle refers to it.
 *
 * References (t->refs): one held by the runtime from spawn until the task
 * returns and its exit is processed (wf__task_finish), one by the handle
 * until wf_join()/wf_detach(). The last one frees the control block.
 */
#include "internal.h"
#include "ctx.h"
#include "probes.h"
#include "sanitizer.h"
#include "sync_internal.h"

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define VALGRIND_STACK_REGISTER(lo, hi) 0u
#define VALGRIND_STACK_DEREGISTER(id) ((void)(id))
#endif

static _Atomic uint64_t next_task_id = 1;
#define WF_TASK_ID_BLOCK 1024u	/* ids a core takes from next_task_id at once */
static long page_size;

/* --- stacks --------------------------------------------------------------------- */

static size_t round_pages(size_t n)
{
	return (n + (size_t)page_size - 1) & ~((size_t)page_size - 1);
}

/*
 * Map a stack of (at least) stack_size usable bytes, its header on top:
 * an idle task that never went deep keeps a single page of it resident.
 */
static struct wf__stack *stack_map(size_t stack_size)
{
	size_t hsz = (sizeof(struct wf__stack) + 63) & ~(size_t)63;
	size_t body = round_pages(stack_size + hsz);
	size_t size = (size_t)page_size + body;
	struct wf__stack *s;
	void *m;

	m = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	/*
	 * The guard page splits the mapping in two: two entries of the
	 * process's vm.max_map_count (65530 by default) per stack. See
	 * docs/runtime.md for running more than ~30,000 tasks at once.
	 */
	if (mprotect(m, (size_t)page_size, PROT_NONE) != 0) {
		munmap(m, size);
		return NULL;
	}
	s = (struct wf__stack *)((char *)m + size - hsz);
	s->map = m;
	s->map_size = size;
	s->size = body - hsz;
	/* Lets valgrind tell a stack switch from a wild stack pointer. */
	s->vg = VALGRIND_STACK_REGISTER((char *)m + page_size, (char *)s);
	return s;
}

static void stack_unmap(struct wf__stack *s)
{
	VALGRIND_STACK_DEREGISTER(s->vg);
	munmap(s->map, s->map_size);
}

/*
 * Free stacks and free control blocks, two levels each: every worker
 * keeps up to CONFIG_WEFT_STACK_POOL (no lock), the runtime a shared
 * cache of up to CONFIG_WEFT_STACK_CACHE more (spinlock), moved in
 * batches so the lock is taken once per batch. Both are arrays of
 * pointers: moving a batch touches no stack (each is a distinct page, a
 * TLB miss away) and no control block. mmap/munmap (two system calls,
 * and a TLB shoot-down on every CPU running the process) and
 * malloc/free happen only when both levels are empty or full. The
 * control blocks have their own cache because a task spawned on one
 * worker often ends on another: through malloc that is a free into the
 * spawner's arena under its lock, the spawner's own malloc contending
 * for it (measured: spawn_many_local twice as slow). The shared caches
 * also serve spawns from outside the runtime and things released by
 * threads that are not workers. Pools and caches are LIFO: what was
 * released last, still in the cache and the TLB, is reused first.
 */
#define CACHE_BATCH 32

/* Take one from pool p (worker w's, or none), refilling it from c. */
static void *cache_take(struct wf__cache *c, struct wf__pool *p)
{
	void *x = NULL;
	unsigned len;

	if (p && p->len)
		return p->slot[--p->len];
	if (!atomic_load_explicit(&c->len, memory_order_relaxed))
		return NULL;
	wf__spin_lock(&c->lock);
	len = atomic_load_explicit(&c->len, memory_order_relaxed);
	if (len) {
		x = c->slot[--len];
		/* Refill the worker's pool with a batch while we hold the lock. */
		if (p) {
			unsigned n = len < CACHE_BATCH ? len : CACHE_BATCH;

			len -= n;
			memcpy(&p->slot[p->len], &c->slot[len], n * sizeof(*p->slot));
			p->len += n;
		}
		atomic_store_explicit(&c->len, len, memory_order_relaxed);
	}
	wf__spin_unlock(&c->lock);
	return x;
}

/* Give x back to pool p (or to c); false when both are full: free it. */
static bool cache_put(struct wf__cache *c, struct wf__pool *p, void *x)
{
	unsigned len;
	bool kept = false;

	if (p && p->len < CONFIG_WEFT_STACK_POOL) {
		p->slot[p->len++] = x;
		return true;
	}
	wf__spin_lock(&c->lock);
	len = atomic_load_explicit(&c->len, memory_order_relaxed);
	if (len < CONFIG_WEFT_STACK_CACHE) {
		c->slot[len++] = x;
		kept = true;
		/* A full worker pool gives half of itself back too. */
		if (p) {
			unsigned n = p->len / 2;

			if (n > CONFIG_WEFT_STACK_CACHE - len)
				n = CONFIG_WEFT_STACK_CACHE - len;
			p->len -= n;
			memcpy(&c->slot[len], &p->slot[p->len], n * sizeof(*p->slot));
			len += n;
		}
		atomic_store_explicit(&c->len, len, memory_order_relaxed);
	}
	wf__spin_unlock(&c->lock);
	return kept;
}

/* Worker w if it belongs to rt, else NULL. */
static inline struct wf__worker *own_worker(struct wf_runtime *rt, struct wf__worker *w)
{
	return w && w->rt == rt ? w : NULL;
}

static bool default_size(struct wf_runtime *rt, size_t usable)
{
	return usable >= rt->stack_size && usable < rt->stack_size + (size_t)page_size;
}

/* Whether a pooled stack is at hand for a spawn by w (racy: a hint). */
static bool stack_available(struct wf_runtime *rt, struct wf__worker *w)
{
	return (w && w->stacks.len) ||
	       atomic_load_explicit(&rt->stack_cache.len, memory_order_relaxed);
}

static struct wf__stack *stack_get(struct wf_runtime *rt, struct wf__worker *w,
				   size_t stack_size)
{
	w = own_worker(rt, w);
	if (stack_size == rt->stack_size) {
		struct wf__stack *s = cache_take(&rt->stack_cache, w ? &w->stacks : NULL);

		if (s)
			return s;
	}
	return stack_map(stack_size);
}

static void stack_put(struct wf_runtime *rt, struct wf__stack *s)
{
	struct wf__thread *th = wf__thread_cur();
	struct wf__worker *core = wf__core_enter(th), *w = own_worker(rt, core);

	if (!default_size(rt, s->size) || atomic_load(&rt->stop) ||
	    !cache_put(&rt->stack_cache, w ? &w->stacks : NULL, s)) {
		wf__core_exit(th, core);
		stack_unmap(s);
		return;
	}
	wf__core_exit(th, core);
}

_Static_assert(offsetof(struct wf__task_metrics, poll_b) == 64 &&
	       sizeof(struct wf__task_metrics) == 64 * (1 + WF__TASK_HIST_LINES),
	       "task metrics: one hot line, then whole bucket lines (metrics_clear)");

/* Zero m: a task polled at most once wrote its first line only (metrics.h). */
static void metrics_clear(struct wf__task_metrics *m)
{
	if (atomic_load_explicit(&m->polls, memory_order_relaxed) > 1)
		memset(m, 0, sizeof(*m));
	else
		memset(m, 0, offsetof(struct wf__task_metrics, poll_b));
}

static struct wf_task *tcb_get(struct wf_runtime *rt, struct wf__worker *w)
{
	struct wf_task *t = cache_take(&rt->tcb_cache, w ? &w->tcbs : NULL);

	if (t)
		return t;
	/* Cache-line aligned (the metrics' hot line); metrics start zeroed. */
	t = aligned_alloc(WF_CACHELINE, sizeof(*t));
	if (t)
		memset(&t->m, 0, sizeof(t->m));
	return t;
}

static void tcb_put(struct wf_runtime *rt, struct wf_task *t)
{
	struct wf__thread *th = wf__thread_cur();
	struct wf__worker *core, *w;
	bool kept;

	/*
	 * A recycled block's metrics are cleared here, where the worker that
	 * ran the task's last poll has them in its cache, rather than at the
	 * next spawn, which may be on another CPU (wf__spawn clears the rest):
	 * the hot line, and the bucket lines its polls wrote (metrics.h).
	 */
	metrics_clear(&t->m);
	core = wf__core_enter(th);
	w = own_worker(rt, core);
	kept = !atomic_load(&rt->stop) && cache_put(&rt->tcb_cache, w ? &w->tcbs : NULL, t);

	wf__core_exit(th, core);
	if (!kept)
		free(t);
}

/* t gets stack s; its first poll will start task_entry on it. */
static void task_entry(void *arg);

static void stack_attach(struct wf_task *t, struct wf__stack *s)
{
	t->stk = s;
	t->sp = wf__ctx_init(s, task_entry, t);
}

/*
 * wf__task_attach_stack - give t (spawned without a stack) one for its
 * first poll on worker w: from w's pool, the shared cache, or a new
 * mapping. False when none can be had (out of memory maps): the caller
 * puts t back in the inject queue, so the poll is retried, on whichever
 * worker has stacks pooled by then, rather than lost. The spawn that let
 * t go without a stack saw one pooled, so this needs a race with other
 * spawns and an exhausted vm.max_map_count at once.
 */
bool wf__task_attach_stack(struct wf__worker *w, struct wf_task *t)
{
	struct wf__stack *s = stack_get(t->rt, w, t->stack_size);

	if (!s)
		return false;
	stack_attach(t, s);
	return true;
}

/* Allocate the pools' and caches' slot arrays (runtime creation). */
int wf__stack_cache_init(struct wf_runtime *rt)
{
	rt->stack_cache.slot = calloc(CONFIG_WEFT_STACK_CACHE + 1, sizeof(void *));
	rt->tcb_cache.slot = calloc(CONFIG_WEFT_STACK_CACHE + 1, sizeof(void *));
	if (!rt->stack_cache.slot || !rt->tcb_cache.slot)
		return -ENOMEM;
	for (unsigned i = 0; i < rt->nworkers; i++) {
		struct wf__worker *w = &rt->workers[i];

		w->stacks.slot = calloc(CONFIG_WEFT_STACK_POOL + 1, sizeof(void *));
		w->tcbs.slot = calloc(CONFIG_WEFT_STACK_POOL + 1, sizeof(void *));
		if (!w->stacks.slot || !w->tcbs.slot)
			return -ENOMEM;
	}
	return 0;
}

/* Unmap and free what the runtime's caches hold (runtime free). */
void wf__stack_cache_drain(struct wf_runtime *rt)
{
	unsigned len = atomic_load(&rt->stack_cache.len);

	for (unsigned i = 0; i < len && rt->stack_cache.slot; i++)
		stack_unmap(rt->stack_cache.slot[i]);
	atomic_store(&rt->stack_cache.len, 0);
	free(rt->stack_cache.slot);
	rt->stack_cache.slot = NULL;
	len = atomic_load(&rt->tcb_cache.len);
	for (unsigned i = 0; i < len && rt->tcb_cache.slot; i++)
		free(rt->tcb_cache.slot[i]);
	atomic_store(&rt->tcb_cache.len, 0);
	free(rt->tcb_cache.slot);
	rt->tcb_cache.slot = NULL;
}

void wf__stack_pool_drain(struct wf__worker *w)
{
	while (w->stacks.len)
		stack_unmap(w->stacks.slot[--w->stacks.len]);
	while (w->tcbs.len)
		free(w->tcbs.slot[--w->tcbs.len]);
}

/* --- stack overflow ----------------------------------------------------------- */

/*
 * A task that overflows its stack faults on its guard page. The handler
 * runs on the worker's alternate signal stack, finds the task whose guard
 * page holds the faulting address and says which task it was; any other
 * fault goes to the previous handler (or the default action).
 */
static struct sigaction prev_segv;
static _Atomic int guard_installed;

static void write_str(const char *s)
{
	ssize_t __attribute__((unused)) n = write(STDERR_FILENO, s, strlen(s));
}

static void write_num(long v)
{
	char buf[24];
	int i = (int)sizeof(buf);
	int neg = v < 0;
	unsigned long u = neg ? (unsigned long)-v : (unsigned long)v;

	buf[--i] = '\0';
	do {
		buf[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u && i > 1);
	if (neg)
		buf[--i] = '-';
	write_str(buf + i);
}

static void segv_handler(int sig, siginfo_t *si, void *uc)
{
	struct wf__thread *th = wf__thread_cur();
	struct wf_task *t = th ? th->current : NULL;
	char *addr = si->si_addr;

	if (t && t->stk && addr >= (char *)t->stk->map - (size_t)page_size * 16 &&
	    addr < (char *)t->stk->map + page_size) {
		write_str("weft: stack overflow in task ");
		write_str(t->reg.name[0] ? t->reg.name : "(unnamed)");
		write_str(" spawned at ");
		write_str(task_file(t) ? task_file(t) : "?");
		write_str(":");
		write_num(task_line(t));
		write_str(" (task id ");
		write_num((long)t->reg.id);
		write_str(", stack of ");
		write_num((long)t->stk->size);
		write_str(" bytes exhausted: spawn it with a larger .stack_size)\n");
		signal(SIGABRT, SIG_DFL);
		abort();
	}
	if (prev_segv.sa_flags & SA_SIGINFO) {
		if (prev_segv.sa_sigaction) {
			prev_segv.sa_sigaction(sig, si, uc);
			return;
		}
	} else if (prev_segv.sa_handler != SIG_DFL && prev_segv.sa_handler != SIG_IGN) {
		prev_segv.sa_handler(sig);
		return;
	}
	/* Default action: re-raise with the default handler. */
	signal(sig, SIG_DFL);
	raise(sig);
}

void wf__stack_guard_init(void)
{
	struct sigaction sa;
	int exp = 0;

	if (!page_size)
		page_size = sysconf(_SC_PAGESIZE);
	if (!atomic_compare_exchange_strong(&guard_installed, &exp, 1))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = segv_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &prev_segv);
}

/* --- spawn ----------------------------------------------------------------------- */

static void task_entry(void *arg)
{
	struct wf_task *t = arg;

	wf__san_finish_switch(NULL);
	*wf__thread_cur()->errno_p = 0;
	t->result = t->fn(t->arg);
	/* Task-local destructors run on the task, as pthread's do. */
	if (t->tls)
		wf__tls_run_dtors(t);
	wf__switch_out(t, WF_SW_DONE);
	__builtin_unreachable();
}

/* Put t in shard's task table. Returns 0 or -ENOMEM. */
static int tasks_link(struct wf_runtime *rt, struct wf_task *t, int shard)
{
	struct wf__worker *s = &rt->workers[shard];
	uint32_t slot;

	t->shard = shard;
	wf__spin_lock(&s->tasks_lock);
	if (s->tasks_nfree) {
		slot = s->tasks_free[--s->tasks_nfree];
	} else {
		if (s->tasks_len == s->tasks_cap) {
			uint32_t cap = s->tasks_cap ? s->tasks_cap * 2 : 256;
			struct wf_task **a = realloc(s->tasks, cap * sizeof(*a));
			uint32_t *f;

			if (a)
				s->tasks = a;
			f = a ? realloc(s->tasks_free, cap * sizeof(*f)) : NULL;
			if (!f) {
				wf__spin_unlock(&s->tasks_lock);
				return -ENOMEM;
			}
			s->tasks_free = f;
			s->tasks_cap = cap;
		}
		slot = s->tasks_len++;
	}
	s->tasks[slot] = t;
	t->slot = slot;
	/* live only changes under tasks_lock: a load and a store, no RMW. */
	atomic_store_explicit(&s->live, atomic_load_explicit(&s->live, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	wf__spin_unlock(&s->tasks_lock);
	return 0;
}

static inline void tasks_unlink_locked(struct wf__worker *s, struct wf_task *t)
{
	s->tasks[t->slot] = NULL;
	s->tasks_free[s->tasks_nfree++] = t->slot;
}

static void tasks_unlink(struct wf_task *t)
{
	struct wf__worker *s = &t->rt->workers[t->shard];

	wf__spin_lock(&s->tasks_lock);
	tasks_unlink_locked(s, t);
	wf__spin_unlock(&s->tasks_lock);
}

/*
 * t returned: one live task fewer in its shard and, with @unlink (no
 * handle refers to it), out of the table too, under one lock. The last
 * task of a runtime that shuts down wakes wf_runtime_shutdown().
 */
static void task_free(struct wf_task *t);

static void tasks_retire_n(struct wf_runtime *rt, int shard, struct wf_task **ts, unsigned n,
			   bool unlink)
{
	struct wf__worker *s = &rt->workers[shard];
	uint64_t left;

	wf__spin_lock(&s->tasks_lock);
	if (unlink)
		for (unsigned i = 0; i < n; i++)
			tasks_unlink_locked(s, ts[i]);
	left = atomic_load_explicit(&s->live, memory_order_relaxed) - n;
	atomic_store_explicit(&s->live, left, memory_order_relaxed);
	wf__spin_unlock(&s->tasks_lock);
	if (left)
		return;
	/*
	 * [live = 0; fence; read shutdown] against the shutdown's [shutdown
	 * = 1 (seq_cst); read live_futex; read live]: one sees the other.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load(&rt->shutdown)) {
		atomic_fetch_add(&rt->live_futex, 1);
		wf__futex_wake(&rt->live_futex, INT32_MAX);
	}
}

static void tasks_retire(struct wf_task *t, bool unlink)
{
	tasks_retire_n(t->rt, t->shard, &t, 1, unlink);
}

/*
 * A task spawned on one core (its shard) often returns on another (stolen
 * by an idle worker): retiring it there took the spawning shard's lock
 * from the other CPU at every exit, and the spawner took it back at the
 * next spawn (the lock's line bounced on every task: a fifth of a spawn
 * storm's time). Such tasks, when nobody holds a handle (the common
 * case), are batched on the core that finished them and leave their
 * shard's table WF_RETIRE_BATCH at a time, in one lock hold; they stay
 * counted live until then. The owner flushes when the batch is full, when
 * a task of another shard comes, before it parks, and when it stops
 * driving the core (sched.c), so a batch never outlives the work that
 * filled it: shutdown and wf_block_on's drain see live reach 0.
 */
void wf__retire_flush(struct wf__worker *w)
{
	unsigned n = w->rb_n;

	if (!n)
		return;
	w->rb_n = 0;
	tasks_retire_n(w->rt, w->rb_shard, w->rb, n, true);
	for (unsigned i = 0; i < n; i++)
		task_free(w->rb[i]);
}

static void retire_defer(struct wf__worker *w, struct wf_task *t)
{
	if (w->rb_n && w->rb_shard != t->shard)
		wf__retire_flush(w);
	w->rb_shard = t->shard;
	w->rb[w->rb_n++] = t;
	if (w->rb_n == WF_RETIRE_BATCH)
		wf__retire_flush(w);
}

/*
 * A fresh task id: from the spawning core's block when there is one (no
 * shared counter per spawn), else from the process-wide counter. Ids are
 * unique for the process's life and increase along one core's spawns.
 */
static uint64_t task_id_new(struct wf__worker *core)
{
	if (!core)
		return atomic_fetch_add_explicit(&next_task_id, 1, memory_order_relaxed);
	if (core->id_next == core->id_end) {
		core->id_next = atomic_fetch_add_explicit(&next_task_id, WF_TASK_ID_BLOCK,
							  memory_order_relaxed);
		core->id_end = core->id_next + WF_TASK_ID_BLOCK;
	}
	return core->id_next++;
}

int wf__spawn(struct wf_task **tp, struct wf_runtime *rt, wf_task_fn fn, void *arg,
	      const struct wf_spawn_opts *opts, const char *file, int line, bool root)
{
	struct wf__thread *th = wf__thread_cur();
	struct wf__worker *w = wf__worker_cur(), *core;	/* w: for its index only */
	size_t stack_size = rt->stack_size;
	unsigned flags = opts ? opts->flags : 0;
	struct wf_task *t;
	int shard;

	if (opts && opts->stack_size) {
		if (opts->stack_size < 16384 || opts->stack_size > (1ull << 32))
			return -EINVAL;
		stack_size = opts->stack_size;
	}
	if (flags & ~(unsigned)WF_SPAWN_PINNED)
		return -EINVAL;
	if (atomic_load(&rt->shutdown))
		return -ESHUTDOWN;
	/* The core's pools are owner-only: a core section (internal.h). */
	core = wf__core_enter(th);
	t = tcb_get(rt, own_worker(rt, core));
	if (!t) {
		wf__core_exit(th, core);
		return -ENOMEM;
	}
	/* All but the metrics, which come zeroed (tcb_get, tcb_put). */
	memset(t, 0, offsetof(struct wf_task, m));
	t->stack_size = stack_size;
	/*
	 * The stack comes at the first poll (task.c, "Memory"), unless it
	 * has its own size or no pooled stack is at hand: then now, so that
	 * a failure to map one is this call's -ENOMEM.
	 */
	if (stack_size != rt->stack_size || !stack_available(rt, own_worker(rt, core))) {
		struct wf__stack *s = stack_get(rt, core, stack_size);

		if (!s) {
			tcb_put(rt, t);
			wf__core_exit(th, core);
			return -ENOMEM;
		}
		stack_attach(t, s);
	}
	/* The section stays open to the enqueue (one CAS per spawn, not two). */
	t->rt = rt;
	t->fn = fn;
	t->arg = arg;
	t->reg.file_addr = (uint64_t)(uintptr_t)file;
	t->reg.line = (uint32_t)line;
	t->reg.flags = (flags & WF_SPAWN_PINNED ? 1u : 0u) | (root ? 2u : 0u);
	t->reg.spawn_ns = wf__now_hint();
	t->reg.id = task_id_new(own_worker(rt, core));
	if (opts && opts->name)
		snprintf(t->reg.name, sizeof(t->reg.name), "%s", opts->name);
	t->in_block_on = root;
	t->san_fiber = wf__san_fiber_create();
	atomic_init(&t->refs, tp ? 2 : 1);
	atomic_init(&t->sched, WF_SCHED_QUEUED);

	shard = (w && w->rt == rt) ? w->index : 0;
	if (flags & WF_SPAWN_PINNED) {
		t->pinned = 1;
		/* Pinned to the spawning worker; from outside, to worker 0. */
		t->home = &rt->workers[shard];
	}
	if (tasks_link(rt, t, shard)) {
		wf__san_fiber_destroy(t->san_fiber);
		if (t->stk)
			stack_put(rt, t->stk);
		tcb_put(rt, t);
		wf__core_exit(th, core);
		return -ENOMEM;
	}
	WF_PROBE(task_spawn, t->reg.id, t->reg.name, file, line);
	if (tp)
		*tp = t;
	t->sched_at = t->reg.spawn_ns;

	wf__spawn_enqueue(t);
	wf__core_exit(th, core);
	return 0;
}

int wf_spawn_at(wf_task **tp, wf_task_fn fn, void *arg, const struct wf_spawn_opts *opts,
		const char *file, int line)
{
	struct wf_runtime *rt = opts && opts->rt ? opts->rt : wf_runtime_current();

	if (!fn || !rt)
		return -EINVAL;
	return wf__spawn(tp, rt, fn, arg, opts, file, line, false);
}

/* --- exit, join, detach ---------------------------------------------------------- */

/* Free t's control block and what hangs off it; t is out of the table. */
static void task_free(struct wf_task *t)
{
	free(t->tls);
	wf__san_fiber_destroy(t->san_fiber);
	if (t->stk)
		stack_put(t->rt, t->stk);	/* never ran, or never finished */
	tcb_put(t->rt, t);
}

void wf__task_release(struct wf_task *t)
{
	if (atomic_fetch_sub(&t->refs, 1) != 1)
		return;
	tasks_unlink(t);
	task_free(t);
}

/* Called by the worker (on its own stack) once t has switched out DONE. */
void wf__task_finish(struct wf__worker *w, struct wf_task *t)
{
	struct wf_runtime *rt = t->rt;
	struct wf__waiter *j;

	WF_PROBE(task_exit, t->reg.id, atomic_load_explicit(&t->m.polls, memory_order_relaxed),
		 atomic_load_explicit(&t->m.busy_ns, memory_order_relaxed));
	atomic_store_explicit(&t->sched, WF_SCHED_DONE, memory_order_release);
	/* Its stack is quiescent (it switched out for good): the next task's. */
	stack_put(rt, t->stk);
	t->stk = NULL;
	t->sp = NULL;
	/*
	 * No handle left (spawned without one, or detached): nobody can be
	 * joining or ever join, so skip the join protocol. A handle is only
	 * dropped by its owner (wf_detach, or a wf_join that saw done), so a
	 * count of 1 cannot rise again.
	 */
	if (atomic_load_explicit(&t->refs, memory_order_acquire) == 1) {
		/*
		 * And the runtime's reference, the only one, is dropped here:
		 * out of the table and freed without the count's RMW.
		 */
		atomic_store_explicit(&t->done, 1, memory_order_release);
		if (w && t->shard != w->index) {
			retire_defer(w, t);
			return;
		}
		tasks_retire(t, true);
		task_free(t);
		return;
	}
	sync_lock(&t->join_lock);
	atomic_store(&t->done, 1);
	j = t->joiner;
	t->joiner = NULL;
	if (j)
		wf__wake(j->task, j->gen, WF_WOKEN_OK);
	sync_unlock(&t->join_lock);
	/*
	 * A thread blocked in wf_join()/wf_block_on() waits on t->done. It
	 * sets thread_waiters before re-reading done, we store done before
	 * reading thread_waiters (both seq_cst): one of us sees the other, and
	 * the common case (no thread waiting) costs no system call.
	 */
	if (atomic_load(&t->thread_waiters))
		wf__futex_wake(&t->done, INT32_MAX);
	(void)w;
	tasks_retire(t, false);
	wf__task_release(t);
}

int wf_join_until(wf_task *t, void **result, uint64_t deadline_ns)
{
	struct wf_task *me = wf__task_cur();

	if (!t || t == me)
		return -EINVAL;
	if (!atomic_load_explicit(&t->done, memory_order_acquire)) {
		if (me) {
			struct wf__waiter wt = { .task = me };
			int reason;

			sync_lock(&t->join_lock);
			if (!atomic_load(&t->done)) {
				if (t->joiner) {
					sync_unlock(&t->join_lock);
					return -EBUSY;
				}
				wt.gen = wf__wait_prepare(me);
				t->joiner = &wt;
				sync_unlock(&t->join_lock);
				reason = wf__wait(me, wt.gen, deadline_ns);
				if (reason != WF_WOKEN_OK) {
					sync_lock(&t->join_lock);
					if (t->joiner == &wt)
						t->joiner = NULL;
					sync_unlock(&t->join_lock);
					if (!atomic_load(&t->done))
						return wf__wait_errno(reason);
				}
			} else {
				sync_unlock(&t->join_lock);
			}
		} else {
			atomic_store(&t->thread_waiters, 1);
			while (!atomic_load(&t->done)) {
				if (deadline_ns != WF_FOREVER && wf__now() >= deadline_ns)
					return -ETIMEDOUT;
				wf__futex_wait(&t->done, 0, deadline_ns);
			}
		}
	}
	if (result)
		*result = t->result;
	{
		int r = atomic_load(&t->cancelled) ? WF_JOIN_CANCELLED : 0;

		wf__task_release(t);
		return r;
	}
}

int wf_join(wf_task *t, void **result)
{
	return wf_join_until(t, result, WF_FOREVER);
}

int wf_detach(wf_task *t)
{
	if (!t)
		return -EINVAL;
	wf__task_release(t);
	return 0;
}

wf_task *wf_current(void)
{
	return wf__task_cur();
}

uint64_t wf_task_id(const wf_task *t)
{
	return t ? t->reg.id : 0;
}

const char *wf_task_name(const wf_task *t)
{
	return t ? t->reg.name : "";
}

int wf_task_done(const wf_task *t)
{
	if (!t)
		return -EINVAL;
	return atomic_load_explicit(&((struct wf_task *)t)->done, memory_order_acquire) ? 1 : 0;
}

int wf_errno(void)
{
	return *wf__errno_loc();
}

void wf_set_errno(int e)
{
	*wf__errno_loc() = e;
}

/* --- runtime-wide task operations --------------------------------------------------- */

uint64_t wf__live_tasks(struct wf_runtime *rt)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < rt->nworkers; i++)
		n += atomic_load(&rt->workers[i].live);
	return n;
}

/* Cancel every task that has not returned yet. */
void wf__cancel_all(struct wf_runtime *rt)
{
	for (unsigned i = 0; i < rt->nworkers; i++) {
		struct wf__worker *s = &rt->workers[i];

		struct wf_task *t;

		wf__spin_lock(&s->tasks_lock);
		wf__for_each_task(s, j, t)
			if (!atomic_load(&t->done))
				wf_cancel(t);
		wf__spin_unlock(&s->tasks_lock);
	}
}

/* Free the control blocks of finished tasks whose handles were never given back. */
void wf__free_leftover_tasks(struct wf_runtime *rt)
{
	for (unsigned i = 0; i < rt->nworkers; i++) {
		struct wf__worker *s = &rt->workers[i];
		struct wf_task *t;

		wf__for_each_task(s, j, t) {
			s->tasks[j] = NULL;
			free(t->tls);
			wf__san_fiber_destroy(t->san_fiber);
			if (t->stk)
				stack_unmap(t->stk);
			free(t);
		}
		free(s->tasks);
		free(s->tasks_free);
		s->tasks = NULL;
		s->tasks_free = NULL;
		s->tasks_len = s->tasks_cap = s->tasks_nfree = 0;
	}
}

/* --- task-local storage -------------------------------------------------------------- */

static _Atomic unsigned tls_next;
static void (*tls_dtors[WF_TLS_KEYS])(void *);

int wf_tls_key_create(wf_tls_key *key, void (*dtor)(void *))
{
	unsigned k;

	if (!key)
		return -EINVAL;
	k = atomic_fetch_add(&tls_next, 1);
	if (k >= WF_TLS_KEYS) {
		atomic_store(&tls_next, WF_TLS_KEYS);
		return -EAGAIN;
	}
	tls_dtors[k] = dtor;
	*key = k;
	return 0;
}

void *wf_tls_get(wf_tls_key key)
{
	struct wf_task *t = wf__task_cur();

	if (!t || key >= WF_TLS_KEYS || !t->tls)
		return NULL;
	return t->tls[key];
}

int wf_tls_set(wf_tls_key key, void *value)
{
	struct wf_task *t = wf__task_cur();

	if (key >= WF_TLS_KEYS || key >= atomic_load(&tls_next))
		return -EINVAL;
	if (!t)
		return -EPERM;
	if (!t->tls) {
		t->tls = calloc(WF_TLS_KEYS, sizeof(void *));
		if (!t->tls)
			return -ENOMEM;
	}
	t->tls[key] = value;
	return 0;
}

void wf__tls_run_dtors(struct wf_task *t)
{
	/* Like pthread: a destructor may set values again; up to 4 rounds. */
	for (int round = 0; round < 4; round++) {
		bool any = false;

		for (unsigned k = 0; k < WF_TLS_KEYS; k++) {
			void *v = t->tls[k];

			if (v && tls_dtors[k]) {
				t->tls[k] = NULL;
				tls_dtors[k](v);
				any = true;
			}
		}
		if (!any)
			break;
	}
}
