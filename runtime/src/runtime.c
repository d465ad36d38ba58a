// SPDX-License-Identifier: MIT
/*
 * runtime.c - creating a runtime, its worker threads, block_on, shutdown.
 */
#include "internal.h"
#include "io.h"
#include "sanitizer.h"
#include "registry.h"

#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ALTSTACK_SIZE (64 * 1024)

static unsigned cpu_count(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		int n = CPU_COUNT(&set);

		if (n > 0)
			return (unsigned)n;
	}
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

/*
 * Per-thread setup of a thread that runs tasks: its thread state in TLS,
 * its stack bounds for the sanitizers, and an alternate signal stack so a
 * task's stack overflow can be reported.
 */
static void thread_enter(struct wf__thread *th, struct wf_runtime *rt, stack_t *old)
{
	pthread_attr_t attr;
	stack_t ss = { 0 };

	th->rt = rt;
	th->tid = (pid_t)syscall(SYS_gettid);
	th->stall_slot = -1;
	th->san_fiber = wf__san_fiber_current();
	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		void *lo;
		size_t sz;

		if (pthread_attr_getstack(&attr, &lo, &sz) == 0) {
			th->stack_lo = lo;
			th->stack_sz = sz;
		}
		pthread_attr_destroy(&attr);
	}
	th->altstack = malloc(ALTSTACK_SIZE);
	if (th->altstack) {
		ss.ss_sp = th->altstack;
		ss.ss_size = ALTSTACK_SIZE;
		if (sigaltstack(&ss, old) != 0) {
			free(th->altstack);
			th->altstack = NULL;
		}
	}
	wf__thread_set(th);
}

static void thread_leave(struct wf__thread *th, const stack_t *old)
{
	if (th->altstack) {
		stack_t off = { .ss_flags = SS_DISABLE };

		sigaltstack(old && old->ss_sp ? old : &off, NULL);
		free(th->altstack);
		th->altstack = NULL;
	}
	wf__thread_set(NULL);
}

/* th starts driving core w (its queues, timers, registry slot). */
static void core_attach(struct wf__thread *th, struct wf__worker *w)
{
	th->core = w;
	/* Before the TID: the monitor checks the slot's TID against w->tid. */
	atomic_store_explicit(&w->stall_slot, th->stall_slot, memory_order_release);
	atomic_store_explicit(&w->driver, th, memory_order_release);
	atomic_store(&w->tid, th->tid);
	wf__reg_thread(w, th->tid);
	if (w->rt->io && w->rt->io->attach)
		w->rt->io->attach(w, th->tid);	/* io_uring: a thread-affine ring */
	if (th->dedicated) {
		char name[16];

		snprintf(name, sizeof(name), "%.*s-%d", 10, w->rt->thread_name, w->index);
		pthread_setname_np(pthread_self(), name);
	}
}

/*
 * An idle dedicated thread waits here for a core (wf__core_handoff) or
 * for the runtime to stop. Returns false when it should exit.
 */
static bool spare_wait(struct wf__thread *th)
{
	struct wf_runtime *rt = th->rt;

	pthread_mutex_lock(&rt->spare_lock);
	if (atomic_load(&rt->stop)) {
		pthread_mutex_unlock(&rt->spare_lock);
		return false;
	}
	atomic_store(&th->spare_wake, 0);
	th->next_spare = rt->spares;
	rt->spares = th;
	if (th->starting) {
		th->starting = false;
		rt->spares_starting--;
	}
	pthread_mutex_unlock(&rt->spare_lock);
	if (th->dedicated) {
		char name[16];

		snprintf(name, sizeof(name), "%.*s-spare", 9, rt->thread_name);
		pthread_setname_np(pthread_self(), name);
	}
	while (atomic_load(&th->spare_wake) == 0)
		wf__futex_wait(&th->spare_wake, 0, UINT64_MAX);
	return th->core != NULL;
}

/* Worker and spare threads. */
static void *thread_main(void *arg)
{
	struct wf__thread *th = arg;
	stack_t old = { 0 };

	thread_enter(th, th->rt, &old);
	wf__stall_thread_start(th);	/* the BPF stall source follows this thread */
	for (;;) {
		struct wf__worker *w = th->core;

		if (w) {
			core_attach(th, w);
			if (wf__worker_loop(th, NULL, 0)) {
				/* Stopping, and the core is still ours. */
				wf__stack_pool_drain(w);
				wf__reg_state(w, WF_REG_W_STOPPED);
				break;
			}
			/* Lost the core inside a poll (block_in_place): be a spare. */
		}
		if (!spare_wait(th))
			break;
	}
	wf__stall_thread_stop(th);
	thread_leave(th, &old);
	return NULL;
}

/*
 * Start a dedicated thread that drives core w (NULL: an idle spare).
 * Caller holds rt->spare_lock. Returns 0, -ENOMEM or -EAGAIN.
 */
static int thread_spawn_locked(struct wf_runtime *rt, struct wf__worker *w)
{
	struct wf__thread *th = calloc(1, sizeof(*th));

	if (!th)
		return -ENOMEM;
	th->rt = rt;
	th->core = w;
	th->dedicated = true;
	if (pthread_create(&th->pthread, NULL, thread_main, th) != 0) {
		free(th);
		return -EAGAIN;
	}
	th->next_all = rt->threads;
	rt->threads = th;
	rt->nthreads++;
	return 0;
}

/*
 * wf__core_handoff - have another thread drive core w from now on, while
 * its current thread stays inside a poll. The caller must make its own
 * thread forget the core (th->core = NULL) before the poll ends. Returns 0;
 * -EAGAIN when the thread cap is reached or no thread can be created;
 * -ESHUTDOWN while stopping.
 */
int wf__core_handoff(struct wf__worker *w)
{
	struct wf_runtime *rt = w->rt;
	struct wf__thread *sp;
	int r;

	pthread_mutex_lock(&rt->spare_lock);
	if (atomic_load(&rt->stop)) {
		pthread_mutex_unlock(&rt->spare_lock);
		return -ESHUTDOWN;
	}
	sp = rt->spares;
	if (sp) {
		rt->spares = sp->next_spare;
		sp->core = w;
		atomic_store(&sp->spare_wake, 1);
		pthread_mutex_unlock(&rt->spare_lock);
		wf__futex_wake(&sp->spare_wake, 1);
		return 0;
	}
	if (rt->nthreads >= rt->nworkers + rt->spare_cap) {
		pthread_mutex_unlock(&rt->spare_lock);
		return -EAGAIN;
	}
	r = thread_spawn_locked(rt, w);
	pthread_mutex_unlock(&rt->spare_lock);
	return r;
}

/*
 * wf__spare_reserve - take an idle spare thread for a hand-off (the
 * monitor's). Returns it, off the idle list: nobody else can have it;
 * give it a core (wf__spare_give) or put it back (wf__spare_unreserve).
 * Returns NULL when none is idle: then, below the cap, one is started
 * (it is idle, and can be reserved, a little later); at the cap,
 * *capped is set. The monitor is stopped before rt->stop is set, so a
 * reserved spare is never stranded by a shutdown.
 */
struct wf__thread *wf__spare_reserve(struct wf_runtime *rt, bool *capped)
{
	struct wf__thread *sp = NULL;

	*capped = false;
	pthread_mutex_lock(&rt->spare_lock);
	if (atomic_load(&rt->stop))
		goto out;
	sp = rt->spares;
	if (sp) {
		rt->spares = sp->next_spare;
		goto out;
	}
	if (rt->spares_starting)
		goto out;
	if (rt->nthreads >= rt->nworkers + rt->spare_cap) {
		*capped = true;
		goto out;
	}
	if (thread_spawn_locked(rt, NULL) == 0) {
		rt->threads->starting = true;
		rt->spares_starting++;
	}
out:
	pthread_mutex_unlock(&rt->spare_lock);
	return sp;
}

/*
 * wf__spare_prewarm - start an idle spare now, for a poll that may be
 * handed over soon, unless one is idle or starting or the cap is
 * reached: a new thread takes tens of microseconds to start, and 3-15 ms
 * on a machine whose CPUs are busy, which was most of a hand-off's delay.
 * Spares never exit, so this starts at most one thread more than the
 * hand-offs would.
 */
void wf__spare_prewarm(struct wf_runtime *rt)
{
	pthread_mutex_lock(&rt->spare_lock);
	if (!atomic_load(&rt->stop) && !rt->spares && !rt->spares_starting &&
	    rt->nthreads < rt->nworkers + rt->spare_cap && thread_spawn_locked(rt, NULL) == 0) {
		rt->threads->starting = true;
		rt->spares_starting++;
	}
	pthread_mutex_unlock(&rt->spare_lock);
}

void wf__spare_unreserve(struct wf_runtime *rt, struct wf__thread *sp)
{
	pthread_mutex_lock(&rt->spare_lock);
	sp->next_spare = rt->spares;
	rt->spares = sp;
	pthread_mutex_unlock(&rt->spare_lock);
}

/* Reserved spare sp drives core w from now on. */
void wf__spare_give(struct wf__thread *sp, struct wf__worker *w)
{
	sp->core = w;
	/* seq_cst: pairs with spare_wait's load; sp->core is visible after it. */
	atomic_store(&sp->spare_wake, 1);
	wf__futex_wake(&sp->spare_wake, 1);
}

static int validate(const struct wf_runtime_opts *o)
{
	if (!o)
		return 0;
	if (o->flavor != WF_MULTI_THREAD && o->flavor != WF_CURRENT_THREAD)
		return -EINVAL;
	if (o->workers > WF_MAX_WORKERS)
		return -EINVAL;
	if (o->flavor == WF_CURRENT_THREAD && o->workers > 1)
		return -EINVAL;
	if (o->stack_size && (o->stack_size < 16384 || o->stack_size > (1ull << 32)))
		return -EINVAL;
	if (o->budget > 65536 || o->blocking_threads > 65536 || o->blocking_queue > (1u << 24) ||
	    o->blocking_keepalive_ms > 3600000)
		return -EINVAL;
	if (o->stall_compensation < WF_STALL_DEFAULT || o->stall_compensation > WF_STALL_OFF ||
	    (o->stall_compensation == WF_STALL_ON && o->flavor == WF_CURRENT_THREAD))
		return -EINVAL;
	if (o->spare_threads > 4096)
		return -EINVAL;
	if (o->stall_source < WF_STALL_SOURCE_DEFAULT || o->stall_source > WF_STALL_SOURCE_BPF ||
	    o->reserved_int)
		return -EINVAL;
	for (size_t i = 0; i < WF_ARRAY_SIZE(o->reserved); i++)
		if (o->reserved[i])
			return -EINVAL;
	return 0;
}

static void worker_init(struct wf_runtime *rt, struct wf__worker *w, int i)
{
	w->rt = rt;
	w->index = i;
	w->rng = 0x9e3779b9u * (uint32_t)(i + 1);
	/* Hints for the monitor need another core to look at (monitor.c). */
	atomic_init(&w->hint_at,
		    rt->flavor == WF_MULTI_THREAD && rt->nworkers >= 2 ? 0 : UINT64_MAX);
	atomic_init(&w->stall_slot, -1);
	pthread_mutex_init(&w->inbox_lock, NULL);
	wf__timers_init(&w->timers);
}

static void worker_destroy(struct wf__worker *w)
{
	if (w->stacks.slot && w->tcbs.slot)
		wf__stack_pool_drain(w);
	free(w->stacks.slot);
	free(w->tcbs.slot);
	wf__timers_destroy(&w->timers);
	pthread_mutex_destroy(&w->inbox_lock);
}

static void runtime_free_mem(struct wf_runtime *rt)
{
	wf__stall_source_fini(rt);	/* every thread is joined: none uses it */
	wf__reg_runtime_del(rt);
	wf__bpool_free(rt);
	wf__stack_cache_drain(rt);
	wf__io_fini(rt);
	if (rt->workers) {
		wf__free_leftover_tasks(rt);
		for (unsigned i = 0; i < rt->nworkers; i++)
			worker_destroy(&rt->workers[i]);
	}
	free(rt->workers);
	free(rt->sleepers);
	while (rt->threads) {
		struct wf__thread *th = rt->threads;

		rt->threads = th->next_all;
		free(th);
	}
	pthread_mutex_destroy(&rt->idle_lock);
	pthread_mutex_destroy(&rt->spare_lock);
	free(rt->inj_ring);
	free(rt);
}

static void stop_threads(struct wf_runtime *rt)
{
	wf__monitor_stop(rt);
	pthread_mutex_lock(&rt->spare_lock);
	atomic_store(&rt->stop, 1);
	for (struct wf__thread *sp = rt->spares; sp; sp = sp->next_spare) {
		atomic_store(&sp->spare_wake, 1);
		wf__futex_wake(&sp->spare_wake, 1);
	}
	rt->spares = NULL;
	pthread_mutex_unlock(&rt->spare_lock);
	wf__unpark_all(rt);
	/* No thread is added once stop is set (under spare_lock). */
	for (struct wf__thread *th = rt->threads; th; th = th->next_all)
		pthread_join(th->pthread, NULL);
}

int wf_runtime_new(wf_runtime **rtp, const struct wf_runtime_opts *opts)
{
	struct wf_runtime *rt;
	unsigned n;
	int r;

	if (!rtp)
		return -EINVAL;
	r = validate(opts);
	if (r)
		return r;
	wf__stack_guard_init();
	wf__clock_init();

	rt = calloc(1, sizeof(*rt));
	if (!rt)
		return -ENOMEM;
	rt->flavor = opts ? opts->flavor : WF_MULTI_THREAD;
	n = opts && opts->workers ? opts->workers : cpu_count();
	if (rt->flavor == WF_CURRENT_THREAD)
		n = 1;
	if (n > WF_MAX_WORKERS)
		n = WF_MAX_WORKERS;
	rt->nworkers = n;
	rt->stack_size = opts && opts->stack_size ? opts->stack_size : CONFIG_WEFT_STACK_SIZE;
	rt->budget = opts && opts->budget ? opts->budget : CONFIG_WEFT_BUDGET;
	rt->spare_cap = opts && opts->spare_threads ? opts->spare_threads
						    : CONFIG_WEFT_SPARE_THREADS;
#ifdef CONFIG_WEFT_STALL_COMPENSATION
	rt->stall_on = rt->flavor == WF_MULTI_THREAD;
#endif
	if (opts && opts->stall_compensation == WF_STALL_ON)
		rt->stall_on = true;
	else if (opts && opts->stall_compensation == WF_STALL_OFF)
		rt->stall_on = false;
	snprintf(rt->thread_name, sizeof(rt->thread_name), "%s",
		 opts && opts->thread_name ? opts->thread_name : "weft-worker");
	pthread_mutex_init(&rt->idle_lock, NULL);
	pthread_mutex_init(&rt->spare_lock, NULL);
	/* Every worker counts as unparked until it parks. */
	atomic_init(&rt->idle_state, n << 16);

	if (posix_memalign((void **)&rt->workers, WF_CACHELINE, n * sizeof(*rt->workers))) {
		rt->workers = NULL;
		runtime_free_mem(rt);
		return -ENOMEM;
	}
	memset(rt->workers, 0, n * sizeof(*rt->workers));
	rt->sleepers = calloc(n, sizeof(*rt->sleepers));
	if (!rt->sleepers) {
		runtime_free_mem(rt);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n; i++)
		worker_init(rt, &rt->workers[i], (int)i);
	if (wf__reg_runtime_add(rt) || wf__bpool_init(rt, opts) || wf__stack_cache_init(rt) ||
	    wf__inject_init(rt)) {
		runtime_free_mem(rt);
		return -ENOMEM;
	}
	/* The I/O driver: WEFT_IO, then Kconfig (io.c); -EINVAL for a bad WEFT_IO. */
	r = wf__io_init(rt);
	if (r) {
		runtime_free_mem(rt);
		return r;
	}

	/* Before the threads: each registers with the BPF stall source as it starts. */
	r = wf__stall_source_init(rt, opts ? opts->stall_source : WF_STALL_SOURCE_DEFAULT);
	if (r) {
		runtime_free_mem(rt);
		return r;
	}
	if (rt->flavor == WF_MULTI_THREAD) {
		wf__monitor_prepare(rt);	/* before the threads read own_fenced */
		pthread_mutex_lock(&rt->spare_lock);
		for (unsigned i = 0; i < n && !r; i++)
			r = thread_spawn_locked(rt, &rt->workers[i]);
		pthread_mutex_unlock(&rt->spare_lock);
		if (!r)
			r = wf__monitor_start(rt);
		if (r) {
			stop_threads(rt);
			runtime_free_mem(rt);
			return r;
		}
	}
	*rtp = rt;
	return 0;
}

unsigned wf_runtime_workers(const wf_runtime *rt)
{
	return rt ? rt->nworkers : 0;
}

wf_runtime *wf_runtime_current(void)
{
	struct wf__thread *th = wf__thread_cur();

	return th ? th->rt : NULL;
}

int wf_worker_index(void)
{
	struct wf__thread *th = wf__thread_cur();

	if (!th || !th->current)
		return -EPERM;
	return th->core ? th->core->index : -ENOENT;
}

int wf_block_on(wf_runtime *rt, wf_task_fn fn, void *arg, void **result)
{
	struct wf_task *root;
	int r;

	if (!rt || !fn)
		return -EINVAL;
	if (wf__thread_cur())
		return -EDEADLK;
	if (atomic_load(&rt->shutdown))
		return -ESHUTDOWN;
	r = wf__spawn(&root, rt, fn, arg, &(struct wf_spawn_opts){ .name = "block_on" },
		      __FILE__, __LINE__, true);
	if (r)
		return r;
	if (rt->flavor == WF_CURRENT_THREAD) {
		struct wf__thread th = { 0 };
		stack_t old = { 0 };

		thread_enter(&th, rt, &old);
		core_attach(&th, &rt->workers[0]);
		wf__worker_loop(&th, root, 0);
		wf__reg_state(&rt->workers[0], WF_REG_W_STARTING);
		thread_leave(&th, &old);
	}
	r = wf_join(root, result);
	return r == WF_JOIN_CANCELLED ? -ECANCELED : r;
}

/* Wait until no task is left, or the deadline; drives them if we must. */
static int wait_tasks_gone(struct wf_runtime *rt, uint64_t deadline)
{
	if (rt->flavor == WF_CURRENT_THREAD) {
		/* Nobody else runs tasks: run them here until none is left. */
		struct wf__thread th = { 0 };
		stack_t old = { 0 };

		thread_enter(&th, rt, &old);
		core_attach(&th, &rt->workers[0]);
		wf__worker_loop(&th, NULL, deadline == WF_FOREVER ? WF_FOREVER - 1 : deadline);
		wf__reg_state(&rt->workers[0], WF_REG_W_STARTING);
		thread_leave(&th, &old);
		return wf__live_tasks(rt) ? -ETIMEDOUT : 0;
	}
	for (;;) {
		uint32_t seen = atomic_load(&rt->live_futex);

		if (!wf__live_tasks(rt))
			return 0;
		if (deadline != WF_FOREVER && wf__now() >= deadline)
			return -ETIMEDOUT;
		/* Re-check every 10 ms as well: a cheap guard, not the mechanism. */
		uint64_t until = wf__now() + 10 * WF_NSEC_PER_MSEC;

		wf__futex_wait(&rt->live_futex, seen, deadline < until ? deadline : until);
	}
}

int wf_runtime_shutdown(wf_runtime *rt, uint64_t timeout_ns)
{
	struct wf__thread *th = wf__thread_cur();
	uint64_t deadline;
	int r;

	if (!rt)
		return -EINVAL;
	if (th && th->rt == rt)
		return -EDEADLK;
	if (rt->shut_done)
		return 0;
	deadline = timeout_ns ? wf__now() + timeout_ns : WF_FOREVER;
	atomic_store(&rt->shutdown, 1);
	wf__bpool_shutdown(rt);
	/* Cancel until none is left: a task may spawn another while dying. */
	do {
		wf__cancel_all(rt);
		r = wait_tasks_gone(rt, wf__live_tasks(rt) ? wf__now() + 50 * WF_NSEC_PER_MSEC
								: deadline);
		if (r == -ETIMEDOUT && deadline != WF_FOREVER && wf__now() >= deadline)
			return -ETIMEDOUT;
	} while (wf__live_tasks(rt));
	wf__bpool_join(rt);
	if (rt->flavor == WF_MULTI_THREAD)
		stop_threads(rt);
	rt->shut_done = true;
	return 0;
}

int wf_runtime_free(wf_runtime *rt)
{
	int r;

	if (!rt)
		return 0;
	r = wf_runtime_shutdown(rt, 0);
	if (r)
		return r;
	runtime_free_mem(rt);
	return 0;
}

int wf_main(wf_task_fn fn, void *arg, void **result)
{
	wf_runtime *rt;
	int r, r2;

	if (!fn)
		return -EINVAL;
	r = wf_runtime_new(&rt, NULL);
	if (r)
		return r;
	r = wf_block_on(rt, fn, arg, result);
	r2 = wf_runtime_free(rt);
	return r ? r : r2;
}
