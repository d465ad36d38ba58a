// SPDX-License-Identifier: MIT
/*
 * runtime.c - creating a runtime, its worker threads, block_on, shutdown.
 */
#include "internal.h"
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
 * Per-thread setup of a thread that runs tasks: its worker pointer, and an
 * alternate signal stack so a task's stack overflow can be reported.
 */
static void *thread_enter(struct wf__worker *w, stack_t *old)
{
	stack_t ss = { 0 };
	void *alt = malloc(ALTSTACK_SIZE);

	pthread_attr_t attr;

	atomic_store(&w->tid, (pid_t)syscall(SYS_gettid));
	wf__reg_thread(w, atomic_load(&w->tid));
	wf__worker_set(w);
	w->san_fiber = wf__san_fiber_current();
	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		void *lo;
		size_t sz;

		if (pthread_attr_getstack(&attr, &lo, &sz) == 0) {
			w->stack_lo = lo;
			w->stack_sz = sz;
		}
		pthread_attr_destroy(&attr);
	}
	if (alt) {
		ss.ss_sp = alt;
		ss.ss_size = ALTSTACK_SIZE;
		if (sigaltstack(&ss, old) != 0) {
			free(alt);
			alt = NULL;
		}
	}
	return alt;
}

static void thread_leave(struct wf__worker *w, void *alt, const stack_t *old)
{
	if (alt) {
		stack_t off = { .ss_flags = SS_DISABLE };

		sigaltstack(old && old->ss_sp ? old : &off, NULL);
		free(alt);
	}
	wf__worker_set(NULL);
	wf__reg_state(w, w->is_thread ? WF_REG_W_STOPPED : WF_REG_W_STARTING);
}

static void *worker_main(void *arg)
{
	struct wf__worker *w = arg;
	stack_t old = { 0 };
	void *alt = thread_enter(w, &old);

	wf__worker_loop(w, NULL, 0);
	wf__stack_pool_drain(w);
	thread_leave(w, alt, &old);
	return NULL;
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
	if (o->budget > 65536)
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
	pthread_mutex_init(&w->inbox_lock, NULL);
	pthread_mutex_init(&w->tasks_lock, NULL);
	wf__timers_init(&w->timers);
}

static void worker_destroy(struct wf__worker *w)
{
	wf__stack_pool_drain(w);
	wf__timers_destroy(&w->timers);
	pthread_mutex_destroy(&w->inbox_lock);
	pthread_mutex_destroy(&w->tasks_lock);
}

static void runtime_free_mem(struct wf_runtime *rt)
{
	wf__reg_runtime_del(rt);
	if (rt->workers) {
		wf__free_leftover_tasks(rt);
		for (unsigned i = 0; i < rt->nworkers; i++)
			worker_destroy(&rt->workers[i]);
	}
	free(rt->workers);
	free(rt->sleepers);
	pthread_mutex_destroy(&rt->inject_lock);
	pthread_mutex_destroy(&rt->idle_lock);
	free(rt);
}

static void stop_threads(struct wf_runtime *rt, unsigned started)
{
	atomic_store(&rt->stop, 1);
	wf__unpark_all(rt);
	for (unsigned i = 0; i < started; i++)
		pthread_join(rt->workers[i].thread, NULL);
}

int wf_runtime_new(wf_runtime **rtp, const struct wf_runtime_opts *opts)
{
	struct wf_runtime *rt;
	unsigned n, started = 0;
	int r;

	if (!rtp)
		return -EINVAL;
	r = validate(opts);
	if (r)
		return r;
	wf__stack_guard_init();

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
	snprintf(rt->thread_name, sizeof(rt->thread_name), "%s",
		 opts && opts->thread_name ? opts->thread_name : "weft-worker");
	pthread_mutex_init(&rt->inject_lock, NULL);
	pthread_mutex_init(&rt->idle_lock, NULL);
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
	if (wf__reg_runtime_add(rt)) {
		runtime_free_mem(rt);
		return -ENOMEM;
	}

	if (rt->flavor == WF_MULTI_THREAD) {
		for (; started < n; started++) {
			struct wf__worker *w = &rt->workers[started];
			char name[16];

			w->is_thread = true;
			if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
				stop_threads(rt, started);
				runtime_free_mem(rt);
				return -EAGAIN;
			}
			snprintf(name, sizeof(name), "%.*s-%u", 10, rt->thread_name, started);
			pthread_setname_np(w->thread, name);
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
	struct wf__worker *w = wf__worker_cur();

	return w ? w->rt : NULL;
}

int wf_worker_index(void)
{
	struct wf__worker *w = wf__worker_cur();

	return w && w->current ? w->index : -EPERM;
}

int wf_block_on(wf_runtime *rt, wf_task_fn fn, void *arg, void **result)
{
	struct wf_task *root;
	int r;

	if (!rt || !fn)
		return -EINVAL;
	if (wf__worker_cur())
		return -EDEADLK;
	if (atomic_load(&rt->shutdown))
		return -ESHUTDOWN;
	r = wf__spawn(&root, rt, fn, arg, &(struct wf_spawn_opts){ .name = "block_on" },
		      __FILE__, __LINE__, true);
	if (r)
		return r;
	if (rt->flavor == WF_CURRENT_THREAD) {
		struct wf__worker *w = &rt->workers[0];
		stack_t old = { 0 };
		void *alt = thread_enter(w, &old);

		wf__worker_loop(w, root, 0);
		thread_leave(w, alt, &old);
	}
	return wf_join(root, result);
}

/* Wait until no task is left, or the deadline; drives them if we must. */
static int wait_tasks_gone(struct wf_runtime *rt, uint64_t deadline)
{
	if (rt->flavor == WF_CURRENT_THREAD) {
		/* Nobody else runs tasks: run them here until none is left. */
		struct wf__worker *w = &rt->workers[0];
		stack_t old = { 0 };
		void *alt = thread_enter(w, &old);
		wf__worker_loop(w, NULL, deadline == WF_FOREVER ? WF_FOREVER - 1 : deadline);
		thread_leave(w, alt, &old);
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
	struct wf__worker *w = wf__worker_cur();
	uint64_t deadline;
	int r;

	if (!rt)
		return -EINVAL;
	if (w && w->rt == rt)
		return -EDEADLK;
	if (rt->shut_done)
		return 0;
	deadline = timeout_ns ? wf__now() + timeout_ns : WF_FOREVER;
	atomic_store(&rt->shutdown, 1);
	/* Cancel until none is left: a task may spawn another while dying. */
	do {
		wf__cancel_all(rt);
		r = wait_tasks_gone(rt, wf__live_tasks(rt) ? wf__now() + 50 * WF_NSEC_PER_MSEC
								: deadline);
		if (r == -ETIMEDOUT && deadline != WF_FOREVER && wf__now() >= deadline)
			return -ETIMEDOUT;
	} while (wf__live_tasks(rt));
	if (rt->flavor == WF_MULTI_THREAD)
		stop_threads(rt, rt->nworkers);
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
