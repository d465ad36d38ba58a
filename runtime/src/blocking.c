// SPDX-License-Identifier: MIT
/*
 * blocking.c - the blocking pool and block_in_place.
 *
 * Pool: one mutex guards the job queue, the thread counts and every job's
 * state and joiner. Threads are detached and counted; each waits on the
 * condition variable for work, for at most the keep-alive time, and leaves
 * when that passes idle. A spawn starts a new thread only when no thread
 * is idle and the cap is not reached. The queue holds at most queue_limit
 * jobs: a spawning task waits on `room` (the wait protocol of wait.c) and
 * is woken by the thread that dequeues a job.
 *
 * Jobs carry two references, the pool's (until it ran) and the handle's
 * (until joined); the last one frees it.
 */
#include "internal.h"
#include "probes.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_DROPPED };

struct wf_blocking {
	wf_task_fn fn;
	void *arg;
	void *result;
	struct wf_blocking *next;
	_Atomic uint32_t state;		/* futex word for thread joiners */
	_Atomic int refs;
	struct wf__waiter *joiner;	/* task joiner, under pool lock */
	struct wf__bpool *pool;
	uint64_t id;
};

struct wf__bpool {
	pthread_mutex_t lock;
	pthread_cond_t work;
	pthread_cond_t gone;
	struct wf_blocking *head, *tail;
	struct wf__waitq room;
	unsigned qlen, limit, nthreads, nidle, max_threads;
	uint64_t keepalive_ns;
	bool shutdown;
	uint64_t next_id;
	struct wf_blocking_stats st;
};

static struct wf__bpool *pool_of(struct wf_runtime *rt)
{
	return rt->bpool;
}

int wf__bpool_init(struct wf_runtime *rt, const struct wf_runtime_opts *o)
{
	struct wf__bpool *p = calloc(1, sizeof(*p));
	pthread_condattr_t ca;

	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->work, &ca);
	pthread_cond_init(&p->gone, &ca);
	pthread_condattr_destroy(&ca);
	p->limit = o && o->blocking_queue ? o->blocking_queue : CONFIG_WEFT_BLOCKING_QUEUE_LIMIT;
	p->max_threads = o && o->blocking_threads ? o->blocking_threads
						   : CONFIG_WEFT_BLOCKING_MAX_THREADS;
	p->keepalive_ns = (uint64_t)(o && o->blocking_keepalive_ms
					     ? o->blocking_keepalive_ms
					     : CONFIG_WEFT_BLOCKING_KEEPALIVE_MS) *
			  1000000ull;
	p->st.queue_limit = p->limit;
	rt->bpool = p;
	return 0;
}

static void job_put(struct wf_blocking *j)
{
	if (atomic_fetch_sub(&j->refs, 1) == 1)
		free(j);
}

/* Caller holds p->lock: the job ended (done or dropped); wake its joiner. */
static void job_finish_locked(struct wf_blocking *j, uint32_t state)
{
	atomic_store_explicit(&j->state, state, memory_order_release);
	if (j->joiner) {
		wf__wake(j->joiner->task, j->joiner->gen, WF_WOKEN_OK);
		j->joiner = NULL;
	}
	wf__futex_wake(&j->state, INT32_MAX);
}

static void wake_room_locked(struct wf__bpool *p)
{
	struct wf__waiter *w;

	while ((w = wf__waitq_pop(&p->room)))
		if (wf__wake(w->task, w->gen, WF_WOKEN_OK))
			break;
}

static void *pool_thread(void *arg)
{
	struct wf_runtime *rt = arg;
	struct wf__bpool *p = pool_of(rt);

	pthread_setname_np(pthread_self(), "weft-blocking");
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct wf_blocking *j;

		while (!p->head && !p->shutdown) {
			uint64_t until = wf__now() + p->keepalive_ns;
			struct timespec ts = { .tv_sec = (time_t)(until / 1000000000ull),
					       .tv_nsec = (long)(until % 1000000000ull) };
			int r;

			p->nidle++;
			r = pthread_cond_timedwait(&p->work, &p->lock, &ts);
			p->nidle--;
			if (r == ETIMEDOUT && !p->head)
				goto out;
		}
		if (!p->head)
			break;	/* shutting down, nothing left */
		j = p->head;
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		p->qlen--;
		atomic_store(&j->state, JOB_RUNNING);
		wake_room_locked(p);
		pthread_mutex_unlock(&p->lock);

		WF_PROBE(blocking_start, j->id);
		j->result = j->fn(j->arg);
		WF_PROBE(blocking_end, j->id);

		pthread_mutex_lock(&p->lock);
		p->st.completed++;
		job_finish_locked(j, JOB_DONE);
		pthread_mutex_unlock(&p->lock);
		job_put(j);
		pthread_mutex_lock(&p->lock);
	}
out:
	p->nthreads--;
	if (p->nthreads == 0)
		pthread_cond_broadcast(&p->gone);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Caller holds p->lock. Start a thread if the queue needs one. */
static void maybe_grow_locked(struct wf_runtime *rt, struct wf__bpool *p)
{
	pthread_attr_t a;
	pthread_t th;

	if (p->nidle >= p->qlen || p->nthreads >= p->max_threads)
		return;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &a, pool_thread, rt) == 0)
		p->nthreads++;
	pthread_attr_destroy(&a);
}

int wf_spawn_blocking_on(wf_runtime *rt, wf_blocking **jp, wf_task_fn fn, void *arg,
			 unsigned flags)
{
	struct wf_task *me = wf__task_cur();
	struct wf_blocking *j;
	struct wf__bpool *p;

	if (!rt || !fn || (flags & ~(unsigned)WF_BLOCKING_NOWAIT))
		return -EINVAL;
	p = pool_of(rt);
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->fn = fn;
	j->arg = arg;
	j->pool = p;
	atomic_init(&j->refs, jp ? 2 : 1);
	pthread_mutex_lock(&p->lock);
	for (bool waited = false;;) {
		struct wf__waiter wt = { .task = me };
		int reason;

		if (p->shutdown || atomic_load(&rt->shutdown)) {
			pthread_mutex_unlock(&p->lock);
			free(j);
			return -ESHUTDOWN;
		}
		if (p->qlen < p->limit)
			break;
		if ((flags & WF_BLOCKING_NOWAIT) || !me || me->rt != rt) {
			p->st.rejected++;
			pthread_mutex_unlock(&p->lock);
			free(j);
			return -EAGAIN;
		}
		if (!waited)
			p->st.waited_for_room++;	/* spawns that waited, not waits */
		waited = true;
		wt.gen = wf__wait_prepare(me);
		wf__waitq_push(&p->room, &wt);
		pthread_mutex_unlock(&p->lock);
		reason = wf__wait(me, wt.gen, WF_FOREVER);
		pthread_mutex_lock(&p->lock);
		wf__waitq_remove(&p->room, &wt);
		if (reason != WF_WOKEN_OK) {
			/* Pass a wake-up we may have swallowed to the next waiter. */
			if (p->qlen < p->limit)
				wake_room_locked(p);
			pthread_mutex_unlock(&p->lock);
			free(j);
			return wf__wait_errno(reason);
		}
	}
	j->id = ++p->next_id;
	atomic_store(&j->state, JOB_QUEUED);
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	p->qlen++;
	if (p->qlen > p->st.max_queued)
		p->st.max_queued = p->qlen;
	maybe_grow_locked(rt, p);
	if (p->nthreads == 0) {
		/* Not even one thread could be started. */
		p->tail = NULL;
		p->head = NULL;
		p->qlen = 0;
		pthread_mutex_unlock(&p->lock);
		free(j);
		return -EAGAIN;
	}
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
	if (jp)
		*jp = j;
	return 0;
}

int wf_spawn_blocking(wf_blocking **jp, wf_task_fn fn, void *arg, unsigned flags)
{
	struct wf_runtime *rt = wf_runtime_current();

	if (!rt)
		return fn ? -EPERM : -EINVAL;
	return wf_spawn_blocking_on(rt, jp, fn, arg, flags);
}

/*
 * Wait for j to end. A task suspends (nocancel: see wf_run_blocking), a
 * thread sleeps on the job's state word. Returns 0 when it ended (done or
 * dropped), else -ETIMEDOUT / -ECANCELED with the handle still valid.
 */
static int wait_job(struct wf_blocking *j, uint64_t deadline_ns, bool nocancel)
{
	struct wf__bpool *p = j->pool;
	struct wf_task *me = wf__task_cur();
	uint32_t st;

	if (me) {
		struct wf__waiter wt = { .task = me };
		int reason = WF_WOKEN_OK;

		pthread_mutex_lock(&p->lock);
		st = atomic_load(&j->state);
		if (st != JOB_QUEUED && st != JOB_RUNNING) {
			pthread_mutex_unlock(&p->lock);
			return 0;
		}
		if (j->joiner) {
			pthread_mutex_unlock(&p->lock);
			return -EBUSY;
		}
		wt.gen = nocancel ? wf__wait_prepare_nocancel(me) : wf__wait_prepare(me);
		j->joiner = &wt;
		pthread_mutex_unlock(&p->lock);
		if (nocancel)
			wf__wait_nocancel(me);
		else
			reason = wf__wait(me, wt.gen, deadline_ns);
		pthread_mutex_lock(&p->lock);
		if (j->joiner == &wt)
			j->joiner = NULL;
		st = atomic_load(&j->state);
		pthread_mutex_unlock(&p->lock);
		if (st == JOB_QUEUED || st == JOB_RUNNING)
			return wf__wait_errno(reason == WF_WOKEN_OK ? WF_WOKEN_CANCEL : reason);
		return 0;
	}
	while ((st = atomic_load_explicit(&j->state, memory_order_acquire)) == JOB_QUEUED ||
	       st == JOB_RUNNING) {
		if (deadline_ns != WF_FOREVER && wf__now() >= deadline_ns)
			return -ETIMEDOUT;
		wf__futex_wait(&j->state, st, deadline_ns);
	}
	return 0;
}

/* j has ended: take its result and drop the handle's reference. */
static int take_job(struct wf_blocking *j, void **result)
{
	uint32_t st = atomic_load_explicit(&j->state, memory_order_acquire);

	if (st == JOB_DROPPED) {
		job_put(j);
		return -ESHUTDOWN;
	}
	if (result)
		*result = j->result;
	job_put(j);
	return 0;
}

int wf_blocking_join_until(wf_blocking *j, void **result, uint64_t deadline_ns)
{
	int r;

	if (!j)
		return -EINVAL;
	r = wait_job(j, deadline_ns, false);
	return r ? r : take_job(j, result);
}

int wf_blocking_join(wf_blocking *j, void **result)
{
	return wf_blocking_join_until(j, result, WF_FOREVER);
}

/*
 * The job usually works on the caller's data (often on its stack), so a
 * cancelled caller cannot walk away while it runs: it waits for the end
 * regardless (other tasks run meanwhile), then reports -ECANCELED.
 */
int wf_run_blocking(wf_task_fn fn, void *arg, void **result)
{
	struct wf_task *me = wf__task_cur();
	wf_blocking *j;
	int r = wf_spawn_blocking(&j, fn, arg, 0);

	if (r)
		return r;
	r = wait_job(j, WF_FOREVER, true);
	if (r)
		return r;	/* -EBUSY cannot happen: the handle is ours */
	r = take_job(j, result);
	if (!r && me && atomic_load(&me->cancelled))
		r = -ECANCELED;
	return r;
}

int wf_blocking_stats(wf_runtime *rt, struct wf_blocking_stats *st)
{
	struct wf__bpool *p;

	if (!rt || !st)
		return -EINVAL;
	p = pool_of(rt);
	pthread_mutex_lock(&p->lock);
	*st = p->st;
	st->threads = p->nthreads;
	st->idle = p->nidle;
	st->queued = p->qlen;
	pthread_mutex_unlock(&p->lock);
	st->in_place = atomic_load(&rt->bip_calls);
	st->handoffs = atomic_load(&rt->bip_handoffs);
	return 0;
}

/*
 * Shutdown, first half: refuse new jobs, drop the ones nobody started
 * (their joiners see -ECANCELED). Running jobs finish; wf__bpool_join()
 * then waits for the threads.
 */
void wf__bpool_shutdown(struct wf_runtime *rt)
{
	struct wf__bpool *p = pool_of(rt);
	struct wf_blocking *j;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->shutdown = true;
	while ((j = p->head)) {
		p->head = j->next;
		p->qlen--;
		job_finish_locked(j, JOB_DROPPED);
		pthread_mutex_unlock(&p->lock);
		job_put(j);
		pthread_mutex_lock(&p->lock);
	}
	p->tail = NULL;
	wake_room_locked(p);
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
}

/* After wf__bpool_shutdown: wait until every pool thread has left. */
void wf__bpool_join(struct wf_runtime *rt)
{
	struct wf__bpool *p = pool_of(rt);

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	while (p->nthreads)
		pthread_cond_wait(&p->gone, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

void wf__bpool_free(struct wf_runtime *rt)
{
	struct wf__bpool *p = pool_of(rt);

	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->gone);
	free(p);
	rt->bpool = NULL;
}

/* --- block_in_place ------------------------------------------------------------- */

int wf_block_in_place(wf_task_fn fn, void *arg, void **result)
{
	struct wf__thread *th = wf__thread_cur();
	struct wf_task *t = th ? th->current : NULL;
	struct wf__worker *w;
	bool handed = false;
	void *r;

	if (!fn)
		return -EINVAL;
	if (!t)
		return -EPERM;
	if (t->pinned || t->rt->flavor == WF_CURRENT_THREAD)
		return -EOPNOTSUPP;
	atomic_fetch_add_explicit(&t->rt->bip_calls, 1, memory_order_relaxed);
	/*
	 * Inside a core section the monitor cannot claim the core, so it
	 * and we never both hand it over. NULL: the monitor already has.
	 */
	w = wf__core_enter(th);
	/* Changing hands: the monitor leaves a core with no driver alone. */
	if (w)
		atomic_store_explicit(&w->driver, NULL, memory_order_release);
	if (w && wf__core_handoff(w) == 0) {
		/*
		 * From here on another thread drives w (and set its driver);
		 * we must not touch it, not even to close the section: our
		 * own word stays BUSY until our poll's end, which sees the
		 * loss (th->core != w).
		 */
		th->core = NULL;
		th->core_nest = 0;
		handed = true;
		atomic_fetch_add_explicit(&t->rt->bip_handoffs, 1, memory_order_relaxed);
	} else {
		if (w)
			atomic_store_explicit(&w->driver, th, memory_order_release);
		wf__core_exit(th, w);
		handed = !th->core;
	}
	WF_PROBE(blocking_start, t->reg.id);
	r = fn(arg);
	WF_PROBE(blocking_end, t->reg.id);
	if (result)
		*result = r;
	/*
	 * Back to being a task: if we still have no core, a yield ends this
	 * poll on our thread and queues us where any worker finds us (see
	 * finish_orphan_poll in sched.c). Our thread then becomes a spare.
	 */
	th = wf__thread_cur();
	if (handed && !th->core)
		wf__switch_out(t, WF_SW_YIELD);
	return 0;
}
