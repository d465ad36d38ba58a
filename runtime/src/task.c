// SPDX-License-Identifier: MIT
/*
 * task.c - task life cycle: stacks, spawn, finish, join, detach, task-local
 * storage, the runtime's task lists, and the stack-overflow report.
 *
 * Memory: a task's control block lives at the top of its own stack mapping
 *	[guard page][stack ........................][struct wf_task]
 * so spawning costs one allocation (usually none: stacks are pooled per
 * worker). The block outlives the task while a handle refers to it.
 *
 * References (t->refs): one held by the runtime from spawn until the task
 * returns and its exit is processed (wf__task_finish), one by the handle
 * until wf_join()/wf_detach(). The last one releases the mapping: back to
 * the releasing worker's pool if it has the default size and the pool has
 * room, else munmap.
 */
#include "internal.h"
#include "ctx.h"
#include "probes.h"
#include "sanitizer.h"
#include "sync_internal.h"

#include <signal.h>
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
static long page_size;

/* --- stacks --------------------------------------------------------------------- */

static size_t round_pages(size_t n)
{
	return (n + (size_t)page_size - 1) & ~((size_t)page_size - 1);
}

/*
 * Map a stack of (at least) stack_size usable bytes with its control block
 * on top, in the same page as the first frames: an idle task that never
 * went deep keeps a single page resident.
 */
static struct wf_task *stack_map(size_t stack_size)
{
	size_t tsz = (sizeof(struct wf_task) + 63) & ~(size_t)63;
	size_t body = round_pages(stack_size + tsz);
	size_t size = (size_t)page_size + body;
	struct wf_task *t;
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
	t = (struct wf_task *)((char *)m + size - tsz);
	t->map = m;
	t->map_size = size;
	t->stack_size = body - tsz;
	/* Lets valgrind tell a stack switch from a wild stack pointer. */
	t->vg_stack = VALGRIND_STACK_REGISTER((char *)m + page_size, (char *)t);
	return t;
}

static void stack_unmap(struct wf_task *t)
{
	VALGRIND_STACK_DEREGISTER(t->vg_stack);
	munmap(t->map, t->map_size);
}

/*
 * Stack cache, two levels: each worker keeps up to CONFIG_WEFT_STACK_POOL
 * stacks of the default size (no lock), and the runtime a shared cache of
 * up to CONFIG_WEFT_STACK_CACHE more (mutex), moved in batches so the lock
 * is taken once per batch. Both are arrays of pointers: moving a batch
 * touches no stack (each is a distinct page, a TLB miss away). mmap/munmap
 * (two system calls, and a TLB shoot-down on every CPU running the process)
 * happen only when both levels are empty or full. The shared cache also
 * serves spawns from outside the runtime and stacks released by threads
 * that are not workers.
 */
#define STACK_BATCH 32

static bool default_size(struct wf_runtime *rt, size_t usable)
{
	return usable >= rt->stack_size && usable < rt->stack_size + (size_t)page_size;
}

static struct wf_task *shared_take(struct wf_runtime *rt, struct wf__worker *w)
{
	struct wf_task *t = NULL;
	unsigned len;

	if (!atomic_load_explicit(&rt->stack_cache_len, memory_order_relaxed))
		return NULL;
	wf__spin_lock(&rt->stack_lock);
	len = atomic_load_explicit(&rt->stack_cache_len, memory_order_relaxed);
	if (len) {
		t = rt->stack_cache[--len];
		/* Refill the worker's pool with a batch while we hold the lock. */
		if (w) {
			unsigned n = len < STACK_BATCH ? len : STACK_BATCH;

			if (n > CONFIG_WEFT_STACK_POOL - w->pool_len)
				n = CONFIG_WEFT_STACK_POOL - w->pool_len;
			len -= n;
			memcpy(&w->pool[w->pool_len], &rt->stack_cache[len], n * sizeof(*w->pool));
			w->pool_len += n;
		}
		atomic_store_explicit(&rt->stack_cache_len, len, memory_order_relaxed);
	}
	wf__spin_unlock(&rt->stack_lock);
	return t;
}

static struct wf_task *stack_get(struct wf_runtime *rt, size_t stack_size)
{
	struct wf__worker *w = wf__worker_cur();
	struct wf_task *t;

	if (w && w->rt != rt)
		w = NULL;
	if (stack_size == rt->stack_size) {
		if (w && w->pool_len)
			return w->pool[--w->pool_len];
		t = shared_take(rt, w);
		if (t)
			return t;
	}
	return stack_map(stack_size);
}

static void stack_put(struct wf_task *t)
{
	struct wf__worker *w = wf__worker_cur();
	struct wf_runtime *rt = t->rt;
	unsigned len;

	if (!default_size(rt, t->stack_size) || atomic_load(&rt->stop)) {
		stack_unmap(t);
		return;
	}
	if (w && w->rt != rt)
		w = NULL;
	if (w && w->pool_len < CONFIG_WEFT_STACK_POOL) {
		w->pool[w->pool_len++] = t;
		return;
	}
	wf__spin_lock(&rt->stack_lock);
	len = atomic_load_explicit(&rt->stack_cache_len, memory_order_relaxed);
	if (len < CONFIG_WEFT_STACK_CACHE) {
		rt->stack_cache[len++] = t;
		t = NULL;
		/* A full worker pool gives half of itself back too. */
		if (w) {
			unsigned n = w->pool_len / 2;

			if (n > CONFIG_WEFT_STACK_CACHE - len)
				n = CONFIG_WEFT_STACK_CACHE - len;
			w->pool_len -= n;
			memcpy(&rt->stack_cache[len], &w->pool[w->pool_len], n * sizeof(*w->pool));
			len += n;
		}
		atomic_store_explicit(&rt->stack_cache_len, len, memory_order_relaxed);
	}
	wf__spin_unlock(&rt->stack_lock);
	if (t)
		stack_unmap(t);
}

/* Allocate the pools' slot arrays (runtime creation). */
int wf__stack_cache_init(struct wf_runtime *rt)
{
	rt->stack_cache = calloc(CONFIG_WEFT_STACK_CACHE + 1, sizeof(*rt->stack_cache));
	if (!rt->stack_cache)
		return -ENOMEM;
	for (unsigned i = 0; i < rt->nworkers; i++) {
		rt->workers[i].pool = calloc(CONFIG_WEFT_STACK_POOL + 1, sizeof(struct wf_task *));
		if (!rt->workers[i].pool)
			return -ENOMEM;
	}
	return 0;
}

/* Unmap the runtime's shared stack cache and free the arrays (runtime free). */
void wf__stack_cache_drain(struct wf_runtime *rt)
{
	unsigned len = atomic_load(&rt->stack_cache_len);

	for (unsigned i = 0; i < len && rt->stack_cache; i++)
		stack_unmap(rt->stack_cache[i]);
	atomic_store(&rt->stack_cache_len, 0);
	free(rt->stack_cache);
	rt->stack_cache = NULL;
}

void wf__stack_pool_drain(struct wf__worker *w)
{
	while (w->pool_len)
		stack_unmap(w->pool[--w->pool_len]);
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

	if (t && addr >= (char *)t->map - (size_t)page_size * 16 &&
	    addr < (char *)t->map + page_size) {
		write_str("weft: stack overflow in task ");
		write_str(t->reg.name[0] ? t->reg.name : "(unnamed)");
		write_str(" spawned at ");
		write_str(t->file ? t->file : "?");
		write_str(":");
		write_num(t->line);
		write_str(" (task id ");
		write_num((long)t->reg.id);
		write_str(", stack of ");
		write_num((long)t->stack_size);
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
	*wf__errno_loc() = 0;
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
	atomic_fetch_add(&s->live, 1);
	wf__spin_unlock(&s->tasks_lock);
	return 0;
}

static void tasks_unlink(struct wf_task *t)
{
	struct wf__worker *s = &t->rt->workers[t->shard];

	wf__spin_lock(&s->tasks_lock);
	s->tasks[t->slot] = NULL;
	s->tasks_free[s->tasks_nfree++] = t->slot;
	wf__spin_unlock(&s->tasks_lock);
}

int wf__spawn(struct wf_task **tp, struct wf_runtime *rt, wf_task_fn fn, void *arg,
	      const struct wf_spawn_opts *opts, const char *file, int line, bool root)
{
	struct wf__worker *w = wf__worker_cur();
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
	t = stack_get(rt, stack_size);
	if (!t)
		return -ENOMEM;
	{
		/* Keep the mapping fields; reset everything else. */
		void *map = t->map;
		size_t map_size = t->map_size, ss = t->stack_size;
		unsigned vg = t->vg_stack;

		memset(t, 0, sizeof(*t));
		t->map = map;
		t->map_size = map_size;
		t->stack_size = ss;
		t->vg_stack = vg;
	}
	t->rt = rt;
	t->fn = fn;
	t->arg = arg;
	t->file = file;
	t->line = line;
	t->reg.file_addr = (uint64_t)(uintptr_t)file;
	t->reg.line = (uint32_t)line;
	t->reg.flags = (flags & WF_SPAWN_PINNED ? 1u : 0u) | (root ? 2u : 0u);
	t->reg.spawn_ns = wf__now_hint();
	t->reg.id = atomic_fetch_add_explicit(&next_task_id, 1, memory_order_relaxed);
	if (opts && opts->name)
		snprintf(t->reg.name, sizeof(t->reg.name), "%s", opts->name);
	t->in_block_on = root;
	t->san_fiber = wf__san_fiber_create();
	atomic_init(&t->refs, tp ? 2 : 1);
	atomic_init(&t->sched, WF_SCHED_QUEUED);
	t->sp = wf__ctx_init(t, task_entry, t);

	shard = (w && w->rt == rt) ? w->index : 0;
	if (flags & WF_SPAWN_PINNED) {
		t->pinned = 1;
		/* Pinned to the spawning worker; from outside, to worker 0. */
		t->home = &rt->workers[shard];
	}
	if (tasks_link(rt, t, shard)) {
		wf__san_fiber_destroy(t->san_fiber);
		stack_put(t);
		return -ENOMEM;
	}
	WF_PROBE(task_spawn, t->reg.id, t->reg.name, file, line);
	if (tp)
		*tp = t;
	t->sched_at = t->reg.spawn_ns;

	wf__spawn_enqueue(t);
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

void wf__task_release(struct wf_task *t)
{
	if (atomic_fetch_sub(&t->refs, 1) != 1)
		return;
	tasks_unlink(t);
	free(t->tls);
	wf__san_fiber_destroy(t->san_fiber);
	stack_put(t);
}

/* Called by the worker (on its own stack) once t has switched out DONE. */
void wf__task_finish(struct wf__worker *w, struct wf_task *t)
{
	struct wf_runtime *rt = t->rt;
	struct wf__worker *shard = &rt->workers[t->shard];
	struct wf__waiter *j;

	WF_PROBE(task_exit, t->reg.id, atomic_load_explicit(&t->m.polls, memory_order_relaxed),
		 atomic_load_explicit(&t->m.busy_ns, memory_order_relaxed));
	atomic_store_explicit(&t->sched, WF_SCHED_DONE, memory_order_release);
	/*
	 * No handle left (spawned without one, or detached): nobody can be
	 * joining or ever join, so skip the join protocol. A handle is only
	 * dropped by its owner (wf_detach, or a wf_join that saw done), so a
	 * count of 1 cannot rise again.
	 */
	if (atomic_load_explicit(&t->refs, memory_order_acquire) == 1) {
		atomic_store_explicit(&t->done, 1, memory_order_release);
		goto release;
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
release:
	(void)w;
	wf__task_release(t);
	if (atomic_fetch_sub(&shard->live, 1) == 1 && atomic_load(&rt->shutdown)) {
		atomic_fetch_add(&rt->live_futex, 1);
		wf__futex_wake(&rt->live_futex, INT32_MAX);
	}
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
			stack_unmap(t);
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
