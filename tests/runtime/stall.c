// SPDX-License-Identifier: MIT
/*
 * Stall compensation (docs/stall.md): a task that blocks inside a poll
 * gets its worker's core handed to a spare thread, so the other tasks of
 * that worker keep their latency; blocked and computing polls are told
 * apart; no task is lost or run twice across many hand-offs, wake-ups and
 * shutdowns; the spare thread cap holds; off means off. The latency and
 * classification cases use the /proc stall source (always there, no
 * privilege); tests/runtime/stall_bpf.c runs them on the BPF one.
 */
#include "wtest.h"
#include "stall_util.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <stdbool.h>
#include <unistd.h>
#include <weft.h>


/* Threads of this process, from /proc/self/task. */
static int thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * Threads before a runtime exists, once the sanitizers' helper threads
 * (started lazily with the first thread of the process) are up: create
 * and free a throwaway runtime first.
 */
static int base_threads(void)
{
	struct wf_runtime_opts o = { .workers = 1 };
	wf_runtime *rt;

	if (wf_runtime_new(&rt, &o) == 0)
		wf_runtime_free(rt);
	return thread_count();
}



/* --- latency: 100 tasks due every 1 ms share a worker with a 200 ms usleep -- */

#define NTICK 100

struct lat_run {
	uint64_t warm_ns;	/* tickers alone before the usleep */
	bool busy;		/* and a task that yields in a loop: the worker never parks */
	_Atomic int stop;
	_Atomic int measuring;
	_Atomic uint64_t max_late[NTICK];
	_Atomic long ticks;
};

struct ticker_arg {
	struct lat_run *r;
	int i;
};

static void *ticker(void *arg)
{
	struct ticker_arg *a = arg;
	struct lat_run *r = a->r;

	while (!atomic_load(&r->stop)) {
		uint64_t due = wf_now_ns() + 1 * MS, late;

		if (wf_sleep_until(due))
			break;
		late = wf_now_ns() - due;
		atomic_fetch_add(&r->ticks, 1);
		if (atomic_load(&r->measuring) && late > atomic_load(&r->max_late[a->i]))
			atomic_store(&r->max_late[a->i], late);
	}
	return NULL;
}

static void *busy_yielder(void *arg)
{
	struct lat_run *r = arg;

	while (!atomic_load(&r->stop))
		if (wf_yield())
			break;
	return NULL;
}

static void *usleeper(void *arg)
{
	usleep((useconds_t)(uintptr_t)arg);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void *lat_root(void *arg)
{
	struct lat_run *r = arg;
	struct ticker_arg ta[NTICK];
	wf_task *tk[NTICK], *b, *y = NULL;

	for (int i = 0; i < NTICK; i++) {
		ta[i] = (struct ticker_arg){ r, i };
		if (wf_spawn_named(&tk[i], "ticker", ticker, &ta[i]))
			return (void *)1L;
	}
	if (r->busy && wf_spawn_named(&y, "busy", busy_yielder, r))
		return (void *)3L;
	wf_sleep_ns(r->warm_ns);
	atomic_store(&r->measuring, 1);
	if (wf_spawn_named(&b, "usleeper", usleeper, (void *)(uintptr_t)200000))
		return (void *)2L;
	wf_sleep_ns(300 * MS);
	atomic_store(&r->stop, 1);
	wf_join(b, NULL);
	if (y)
		wf_join(y, NULL);
	for (int i = 0; i < NTICK; i++)
		wf_join(tk[i], NULL);
	return NULL;
}

/*
 * Runs the workload on one worker, the usleep after warm_ns of tickers
 * alone; returns the p99 over tickers of their worst lateness.
 */
static uint64_t lat_p99_after(struct __test_metadata *_metadata, int mode, uint64_t warm_ns,
			      bool busy, uint64_t *nhand)
{
	struct wf_runtime_opts o = { .workers = 1, .stall_compensation = mode,
				     .stall_source = WF_STALL_SOURCE_PROC };
	struct lat_run *r = calloc(1, sizeof(*r));
	uint64_t v[NTICK], p99;
	struct wf_metrics *m;
	wf_runtime *rt;
	void *res;

	ASSERT_NOT_NULL(r);
	r->warm_ns = warm_ns;
	r->busy = busy;
	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	ASSERT_EQ(0, wf_block_on(rt, lat_root, r, &res));
	ASSERT_NULL(res);
	m = snap(rt);
	ASSERT_NOT_NULL(m);
	*nhand = handoffs(m);
	EXPECT_EQ(mode == WF_STALL_ON, m->stall_compensation);
	EXPECT_STREQ(mode == WF_STALL_ON ? "proc" : "none", m->stall_source);
	wf_metrics_free(m);
	EXPECT_EQ(0, wf_runtime_free(rt));
	for (int i = 0; i < NTICK; i++)
		v[i] = atomic_load(&r->max_late[i]);
	qsort(v, NTICK, sizeof(v[0]), cmp_u64);
	p99 = v[NTICK * 99 / 100 - 1];
	TH_LOG("%s: worst lateness per ticker p50 %.2f ms, p99 %.2f ms, max %.2f ms; "
	       "%ld ticks; %llu hand-offs",
	       mode == WF_STALL_ON ? "on" : "off", v[NTICK / 2] / 1e6, p99 / 1e6,
	       v[NTICK - 1] / 1e6, atomic_load(&r->ticks), (unsigned long long)*nhand);
	free(r);
	return p99;
}

static uint64_t lat_p99(struct __test_metadata *_metadata, int mode, uint64_t *nhand)
{
	return lat_p99_after(_metadata, mode, 50 * MS, false, nhand);
}

TEST(blocked_poll_does_not_delay_its_workers_other_tasks)
{
	uint64_t n, p99 = lat_p99(_metadata, WF_STALL_ON, &n);

	EXPECT_LT(p99, 50 * MS);
	EXPECT_GE(n, 1u);
}

/*
 * After a second and a half of a busy worker (it never parks: nothing
 * wakes the monitor but its own backoff) with nothing stuck, the
 * monitor's backoff has had its CPU budget applied (monitor.c, "Cadence",
 * 4.): its cap may have grown past 10 ms where wake-ups are dear, never
 * past 50 ms, so the stall is still handed over, within the cap plus the
 * threshold and a spare's start (28 ms on the quiet KVM guest, where the
 * cap settles near 20 ms; 200 ms without compensation).
 */
TEST(blocked_poll_is_handed_off_within_the_budgets_cap)
{
	uint64_t n, p99 = lat_p99_after(_metadata, WF_STALL_ON, 1500 * MS, true, &n);

	EXPECT_LT(p99, 100 * MS);
	EXPECT_GE(n, 1u);
}

/*
 * A poll the monitor handed over still counts in its task's metrics (slow
 * polls, poll histogram, busy time): it is the long one. Its thread lost
 * the core, so the figures are written on the orphan path (sched.c
 * finish_orphan_poll); before, such polls were missing, and the runtime's
 * own view of the culprit (stall_demo's diagnosis) named a bystander.
 */
struct orphan_run {
	_Atomic int stop;
	_Atomic int blocker_done;
	uint64_t id;
	struct wf_metrics *m;	/* taken once the blocker returned, before the join */
};

static void *orphan_ticker(void *arg)
{
	struct orphan_run *r = arg;

	while (!atomic_load(&r->stop))
		if (wf_sleep_ns(MS))
			break;
	return NULL;
}

static void *orphan_blocker(void *arg)
{
	struct orphan_run *r = arg;

	for (int i = 0; i < 3; i++) {
		usleep(30000);
		if (wf_sleep_ns(20 * MS))
			break;
	}
	atomic_store(&r->blocker_done, 1);
	return NULL;
}

static void *orphan_root(void *arg)
{
	struct orphan_run *r = arg;
	wf_task *tk[20], *b;

	for (int i = 0; i < 20; i++)
		if (wf_spawn_named(&tk[i], "ticker", orphan_ticker, r))
			return (void *)1L;
	if (wf_spawn_named(&b, "blocker", orphan_blocker, r))
		return (void *)2L;
	r->id = wf_task_id(b);
	while (!atomic_load(&r->blocker_done))
		wf_sleep_ns(MS);
	wf_sleep_ns(5 * MS);	/* its last poll ended */
	r->m = snap(wf_runtime_current());
	wf_join(b, NULL);
	atomic_store(&r->stop, 1);
	for (int i = 0; i < 20; i++)
		wf_join(tk[i], NULL);
	return NULL;
}

TEST(handed_off_poll_counts_in_its_tasks_metrics)
{
	struct wf_runtime_opts o = { .workers = 1, .stall_compensation = WF_STALL_ON,
				     .stall_source = WF_STALL_SOURCE_PROC };
	struct orphan_run r = { .id = 0 };
	const struct wf_task_metrics *t = NULL;
	struct wf_metrics *m;
	wf_runtime *rt;
	void *res;

	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	/* The blocker's handle keeps its control block, and its figures, until the join. */
	ASSERT_EQ(0, wf_block_on(rt, orphan_root, &r, &res));
	ASSERT_NULL(res);
	m = r.m;
	ASSERT_NOT_NULL(m);
	EXPECT_GE(handoffs(m), 1u);
	for (size_t i = 0; i < m->ntasks; i++)
		if (m->tasks[i].id == r.id)
			t = &m->tasks[i];
#ifdef CONFIG_WEFT_METRICS
	ASSERT_NOT_NULL(t);
	TH_LOG("blocker: %llu polls, %llu slow, longest %.1f ms, busy %.1f ms; %llu hand-offs",
	       (unsigned long long)t->polls, (unsigned long long)t->slow_polls,
	       t->poll.max_ns / 1e6, t->busy_ns / 1e6, (unsigned long long)handoffs(m));
	/* Three polls block 30 ms each; at least the handed-off ones are counted. */
	EXPECT_GE(t->slow_polls, 3u);
	EXPECT_GE(t->poll.max_ns, 25 * MS);
	EXPECT_GE(t->busy_ns, 75 * MS);
	EXPECT_EQ(t->polls, t->poll.count);
#endif
	wf_metrics_free(m);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

TEST(without_compensation_the_other_tasks_wait)
{
	uint64_t n, p99 = lat_p99(_metadata, WF_STALL_OFF, &n);

	/* The usleep holds the only worker for 200 ms: every ticker waits. */
	EXPECT_GT(p99, 150 * MS);
	EXPECT_EQ(0u, n);
}

/* --- the monitor when the runtime is idle --------------------------------------- */

/* Voluntary context switches of the thread named "weft-monitor" (-1: none). */
static long monitor_switches(void)
{
	char path[300], line[256];
	struct dirent *d;
	long n = -1;
	DIR *dir = opendir("/proc/self/task");

	if (!dir)
		return -1;
	while (n < 0 && (d = readdir(dir))) {
		FILE *f;
		int mine = 0;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", d->d_name);
		if ((f = fopen(path, "r"))) {
			mine = fgets(line, sizeof(line), f) && !strncmp(line, "weft-monitor", 12);
			fclose(f);
		}
		if (!mine)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", d->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
				break;
		fclose(f);
	}
	closedir(dir);
	return n;
}

/*
 * With every worker parked the monitor sleeps without a deadline (an idle
 * runtime costs nothing), and the first worker to leave park() wakes it:
 * a stall after a long idle spell is still compensated.
 */
TEST(idle_monitor_sleeps_and_wakes_for_a_stall)
{
	struct wf_runtime_opts o = { .workers = 1, .stall_compensation = WF_STALL_ON };
	struct lat_run *r = calloc(1, sizeof(*r));
	uint64_t v[NTICK];
	struct wf_metrics *m;
	long s0, s1;
	wf_runtime *rt;
	void *res;

	ASSERT_NOT_NULL(r);
	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	usleep(300 * 1000);	/* a few looks, then asleep */
	s0 = monitor_switches();
	ASSERT_GE(s0, 0L);
	usleep(500 * 1000);
	s1 = monitor_switches();
	TH_LOG("idle monitor: %ld wake-ups in 500 ms", s1 - s0);
	/* Backing off to 10 ms would be 50; asleep is 0 (1 for a stray wake-up). */
	EXPECT_LE(s1 - s0, 1L);

	ASSERT_EQ(0, wf_block_on(rt, lat_root, r, &res));
	ASSERT_NULL(res);
	m = snap(rt);
	ASSERT_NOT_NULL(m);
	EXPECT_GE(handoffs(m), 1u);
	wf_metrics_free(m);
	EXPECT_EQ(0, wf_runtime_free(rt));
	for (int i = 0; i < NTICK; i++)
		v[i] = atomic_load(&r->max_late[i]);
	qsort(v, NTICK, sizeof(v[0]), cmp_u64);
	EXPECT_LT(v[NTICK * 99 / 100 - 1], 50 * MS);
	free(r);
}

/* --- classification ----------------------------------------------------------- */

static int pipe_fds[2];

static void *pipe_writer(void *arg)
{
	usleep(100000);
	return (void *)(intptr_t)write(pipe_fds[1], "x", 1);
}

static void *pipe_reader(void *arg)
{
	char c;

	return (void *)(intptr_t)read(pipe_fds[0], &c, 1);
}

static void *spinner(void *arg)
{
	spin_ns(60 * MS);
	return NULL;
}


static void run_cls(struct __test_metadata *_metadata, wf_task_fn fn, void *arg,
		    struct wf_metrics **mp)
{
	struct wf_runtime_opts o = { .workers = 1, .stall_compensation = WF_STALL_ON,
				     .stall_source = WF_STALL_SOURCE_PROC };
	struct cls_case c = { fn, arg };
	wf_runtime *rt;
	void *res;

	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	ASSERT_EQ(0, wf_block_on(rt, cls_root, &c, &res));
	*mp = snap(rt);
	ASSERT_NOT_NULL(*mp);
	EXPECT_STREQ("proc", (*mp)->stall_source);
	EXPECT_EQ(0, (*mp)->stall_bpf_error);
	EXPECT_EQ(0, wf_runtime_free(rt));
	EXPECT_EQ(1, (long)(intptr_t)res);
}

TEST(read_on_a_pipe_is_classified_blocked)
{
	struct wf_metrics *m;
	pthread_t w;

	ASSERT_EQ(0, pipe(pipe_fds));
	ASSERT_EQ(0, pthread_create(&w, NULL, pipe_writer, NULL));
	run_cls(_metadata, pipe_reader, NULL, &m);
	pthread_join(w, NULL);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	TH_LOG("blocked %llu, cpu %llu", (unsigned long long)m->stall_handoffs_blocked,
	       (unsigned long long)m->stall_handoffs_cpu);
	EXPECT_EQ(1u, m->stall_handoffs_blocked);
	EXPECT_EQ(0u, m->stall_handoffs_cpu);
	EXPECT_EQ(1u, m->workers[0].handoffs);
	wf_metrics_free(m);
}

static void *usleeper_one(void *arg)
{
	usleep(100000);
	return (void *)1L;
}

TEST(usleep_is_classified_blocked)
{
	struct wf_metrics *m;

	run_cls(_metadata, usleeper_one, NULL, &m);
	EXPECT_EQ(1u, m->stall_handoffs_blocked);
	EXPECT_EQ(0u, m->stall_handoffs_cpu);
	wf_metrics_free(m);
}

static void *spinner_one(void *arg)
{
	spinner(arg);
	return (void *)1L;
}

TEST(spinning_poll_is_classified_on_cpu)
{
	struct wf_metrics *m;

	run_cls(_metadata, spinner_one, NULL, &m);
	TH_LOG("blocked %llu, cpu %llu", (unsigned long long)m->stall_handoffs_blocked,
	       (unsigned long long)m->stall_handoffs_cpu);
	EXPECT_EQ(0u, m->stall_handoffs_blocked);
	EXPECT_EQ(1u, m->stall_handoffs_cpu);
	wf_metrics_free(m);
}

/* A blocked poll with nothing else runnable on its core is left alone. */
static void *lonely_root(void *arg)
{
	usleep(30000);
	return (void *)1L;
}

/*
 * A poll whose thread is runnable but gets no CPU (an overloaded machine)
 * is not handed off, however long: a spare would wait for a CPU too. The
 * machine is overloaded on purpose: a SCHED_FIFO thread pinned with the
 * worker to one CPU waits on a semaphore; the victim's poll posts it and
 * then "computes" until released, so it is preempted within microseconds
 * of its start and stays runnable, not running, for 40 ms.
 */
static struct {
	_Atomic pid_t tid;	/* the worker thread */
	_Atomic int cpu;
	_Atomic int ready, release, hog_err;
	sem_t go;
} starve;

static void *starved_one(void *arg)
{
	sem_post(&starve.go);
	/* Stays in this poll until the hog is done: one long poll. */
	while (!atomic_load(&starve.release))
		;
	return (void *)1L;
}

static void *starve_root(void *arg)
{
	wf_task *bg, *t;
	void *res = NULL;

	atomic_store(&bg_stop, 0);
	if (wf_spawn(&bg, bg_ticker, NULL))
		return (void *)10L;
	atomic_store(&starve.cpu, sched_getcpu());
	atomic_store(&starve.tid, (pid_t)syscall(SYS_gettid));
	while (!atomic_load(&starve.ready) && !atomic_load(&starve.hog_err))
		wf_sleep_ns(1 * MS);
	if (!atomic_load(&starve.hog_err)) {
		if (wf_spawn_named(&t, "stuck", starved_one, NULL))
			return (void *)11L;
		wf_join(t, &res);
	}
	wf_sleep_ns(5 * MS);
	atomic_store(&bg_stop, 1);
	wf_join(bg, NULL);
	return res;
}

static void *hog(void *arg)
{
	struct sched_param sp = { .sched_priority = 1 };
	cpu_set_t set;
	uint64_t end;
	pid_t tid;

	while (!(tid = atomic_load(&starve.tid)))
		usleep(100);
	CPU_ZERO(&set);
	CPU_SET(atomic_load(&starve.cpu), &set);
	if (sched_setaffinity(tid, sizeof(set), &set) || sched_setaffinity(0, sizeof(set), &set) ||
	    pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp)) {
		atomic_store(&starve.hog_err, errno ? errno : EPERM);
		return NULL;
	}
	atomic_store(&starve.ready, 1);
	while (sem_wait(&starve.go) && errno == EINTR)
		;
	/* 40 ms of the worker's CPU: four times the on-CPU threshold. */
	end = wf_now_ns() + 40 * MS;
	while (wf_now_ns() < end)
		;
	atomic_store(&starve.release, 1);
	sp.sched_priority = 0;
	pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp);
	return NULL;
}

TEST(poll_starved_of_cpu_is_not_handed_off)
{
	struct wf_runtime_opts o = { .workers = 1, .stall_compensation = WF_STALL_ON };
	struct wf_metrics *m;
	wf_runtime *rt;
	pthread_t h;
	void *res;

	memset(&starve, 0, sizeof(starve));
	ASSERT_EQ(0, sem_init(&starve.go, 0, 0));
	ASSERT_EQ(0, pthread_create(&h, NULL, hog, NULL));
	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	ASSERT_EQ(0, wf_block_on(rt, starve_root, NULL, &res));
	pthread_join(h, NULL);
	m = snap(rt);
	ASSERT_NOT_NULL(m);
	EXPECT_EQ(0, wf_runtime_free(rt));
	sem_destroy(&starve.go);
	if (atomic_load(&starve.hog_err)) {
		wf_metrics_free(m);
		SKIP("cannot make a SCHED_FIFO hog (errno %d): needs CAP_SYS_NICE",
		     atomic_load(&starve.hog_err));
	}
	EXPECT_EQ(1, (long)(intptr_t)res);
	TH_LOG("blocked %llu, cpu %llu", (unsigned long long)m->stall_handoffs_blocked,
	       (unsigned long long)m->stall_handoffs_cpu);
	EXPECT_EQ(0u, handoffs(m));
	wf_metrics_free(m);
}

/*
 * A task whose poll was handed off goes on in that poll on its old
 * thread; a timed wait it starts there must still fire, although the
 * core's new driver may be parked with no deadline by then (it ran the
 * only other task and went idle).
 */
static void *sleeps_after_handoff(void *arg)
{
	usleep(30000);			/* blocked: the core is handed off */
	if (wf_sleep_ns(5 * MS))	/* armed from the orphaned poll */
		return (void *)2L;
	return (void *)1L;
}

static void *quick(void *arg)
{
	return NULL;
}

static void *orphan_timer_root(void *arg)
{
	uint64_t t0 = wf_now_ns();
	wf_task *b, *q;
	void *res = NULL;
	int r;

	if (wf_spawn_named(&b, "sleeper", sleeps_after_handoff, NULL) ||
	    wf_spawn_named(&q, "quick", quick, NULL))
		return (void *)10L;
	r = wf_join_until(b, &res, t0 + 10000 * MS);
	wf_join(q, NULL);
	if (r)
		return (void *)(intptr_t)(100 - r);	/* -ETIMEDOUT: the timer was lost */
	/*
	 * 35 ms of work: a timer the parked driver did not know about fires
	 * only when something else wakes it (here the join's own deadline).
	 */
	*(uint64_t *)arg = wf_now_ns() - t0;
	return res;
}

TEST(timer_armed_by_a_handed_off_poll_fires)
{
	struct wf_runtime_opts o = { .workers = 1, .stall_compensation = WF_STALL_ON };
	struct wf_metrics *m;
	uint64_t took = 0;
	wf_runtime *rt;
	void *res;

	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	ASSERT_EQ(0, wf_block_on(rt, orphan_timer_root, &took, &res));
	m = snap(rt);
	ASSERT_NOT_NULL(m);
	TH_LOG("hand-offs %llu, %.1f ms", (unsigned long long)handoffs(m), took / 1e6);
	EXPECT_LT(took, 2000 * MS);
	EXPECT_EQ(1u, handoffs(m));
	wf_metrics_free(m);
	EXPECT_EQ(0, wf_runtime_free(rt));
	EXPECT_EQ(1L, (long)(intptr_t)res);
}

TEST(no_handoff_without_runnable_work)
{
	struct wf_runtime_opts o = { .workers = 1, .stall_compensation = WF_STALL_ON };
	struct wf_metrics *m;
	wf_runtime *rt;
	void *res;

	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	ASSERT_EQ(0, wf_block_on(rt, lonely_root, NULL, &res));
	m = snap(rt);
	ASSERT_NOT_NULL(m);
	EXPECT_EQ(0u, handoffs(m));
	wf_metrics_free(m);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

/* --- many hand-offs: nothing lost, nothing run twice ------------------------------ */

#define NWORK 64
#define ROUNDS 12

struct counted {
	_Atomic int inside;	/* 1 while one of its polls runs */
	_Atomic int twice;	/* seen inside twice at once */
	_Atomic int rounds;
	wf_notify *n;		/* poked by the pokers */
};

static _Atomic int poke_stop;

static void *counted_task(void *arg)
{
	struct counted *c = arg;

	for (int i = 0; i < ROUNDS; i++) {
		if (atomic_exchange(&c->inside, 1))
			atomic_store(&c->twice, 1);
		if (i % 3 == 0)
			usleep(3000);	/* blocks its worker: a hand-off */
		else
			spin_ns(20000);
		atomic_store(&c->inside, 0);
		atomic_fetch_add(&c->rounds, 1);
		if (i & 1) {
			/* Woken by a poker, maybe while an earlier poll was orphaned. */
			if (wf_notify_wait(c->n))
				return (void *)1L;
		} else {
			wf_yield();
		}
	}
	return NULL;
}

static void *poker(void *arg)
{
	struct counted *cs = arg;

	while (!atomic_load(&poke_stop)) {
		for (int i = 0; i < NWORK; i++)
			wf_notify_one(cs[i].n);
		if (wf_sleep_ns(500000))
			break;
	}
	return NULL;
}

static void *many_root(void *arg)
{
	struct counted *cs = arg;
	wf_task *t[NWORK], *p[2];
	long bad = 0;

	atomic_store(&poke_stop, 0);
	for (int i = 0; i < 2; i++)
		if (wf_spawn_named(&p[i], "poker", poker, cs))
			return (void *)100L;
	for (int i = 0; i < NWORK; i++)
		if (wf_spawn_named(&t[i], "counted", counted_task, &cs[i]))
			return (void *)101L;
	for (int i = 0; i < NWORK; i++) {
		void *r;

		wf_join(t[i], &r);
		bad += r != NULL;
	}
	atomic_store(&poke_stop, 1);
	for (int i = 0; i < 2; i++)
		wf_join(p[i], NULL);
	return (void *)bad;
}

TEST_TIMEOUT(no_task_lost_or_polled_twice_across_handoffs, 60)
{
	struct wf_runtime_opts o = { .workers = 2, .stall_compensation = WF_STALL_ON };
	struct counted *cs = calloc(NWORK, sizeof(*cs));
	struct wf_metrics *m;
	wf_runtime *rt;
	void *res;

	ASSERT_NOT_NULL(cs);
	for (int i = 0; i < NWORK; i++)
		ASSERT_EQ(0, wf_notify_new(&cs[i].n));
	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	ASSERT_EQ(0, wf_block_on(rt, many_root, cs, &res));
	EXPECT_NULL(res);
	m = snap(rt);
	ASSERT_NOT_NULL(m);
	TH_LOG("%llu hand-offs (%llu blocked, %llu cpu), %llu capped",
	       (unsigned long long)handoffs(m), (unsigned long long)m->stall_handoffs_blocked,
	       (unsigned long long)m->stall_handoffs_cpu, (unsigned long long)m->stall_capped);
	/* 64 tasks x 4 usleeps of 3 ms on two workers: hand-offs by the dozen. */
	EXPECT_GE(handoffs(m), 10u);
	EXPECT_EQ(handoffs(m), m->stall_handoffs_blocked + m->stall_handoffs_cpu);
	wf_metrics_free(m);
	EXPECT_EQ(0, wf_runtime_free(rt));
	for (int i = 0; i < NWORK; i++) {
		EXPECT_EQ(ROUNDS, atomic_load(&cs[i].rounds));
		EXPECT_EQ(0, atomic_load(&cs[i].twice));
		wf_notify_free(cs[i].n);
	}
	free(cs);
}

/* --- block_in_place and the monitor hand over the same cores ------------------------ */

#define BIP_TASKS 16
#define BIP_ROUNDS 10

static _Atomic int bip_inside[BIP_TASKS], bip_twice, bip_rounds;

static void *usleep_3ms(void *arg)
{
	usleep(3000);
	return arg;
}

static void *bip_task(void *arg)
{
	int id = (int)(intptr_t)arg;

	for (int i = 0; i < BIP_ROUNDS; i++) {
		void *r = NULL;

		if (atomic_exchange(&bip_inside[id], 1))
			atomic_store(&bip_twice, 1);
		if ((i + id) & 1) {
			if (wf_block_in_place(usleep_3ms, arg, &r) || r != arg)
				return (void *)1L;
		} else {
			usleep(3000);	/* the monitor's to hand over */
		}
		atomic_store(&bip_inside[id], 0);
		atomic_fetch_add(&bip_rounds, 1);
		if (wf_yield())
			return (void *)2L;
	}
	return NULL;
}

static void *bip_root(void *arg)
{
	wf_task *t[BIP_TASKS];
	long bad = 0;

	for (int i = 0; i < BIP_TASKS; i++)
		if (wf_spawn_named(&t[i], "bip", bip_task, (void *)(intptr_t)i))
			return (void *)100L;
	for (int i = 0; i < BIP_TASKS; i++) {
		void *r;

		wf_join(t[i], &r);
		bad += r != NULL;
	}
	return (void *)bad;
}

TEST_TIMEOUT(block_in_place_and_monitor_share_cores_safely, 60)
{
	struct wf_runtime_opts o = { .workers = 2, .stall_compensation = WF_STALL_ON };
	struct wf_blocking_stats bs;
	struct wf_metrics *m;
	wf_runtime *rt;
	void *res;

	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	ASSERT_EQ(0, wf_block_on(rt, bip_root, NULL, &res));
	EXPECT_NULL(res);
	ASSERT_EQ(0, wf_blocking_stats(rt, &bs));
	m = snap(rt);
	ASSERT_NOT_NULL(m);
	TH_LOG("block_in_place: %llu calls, %llu hand-offs; monitor: %llu hand-offs",
	       (unsigned long long)bs.in_place, (unsigned long long)bs.handoffs,
	       (unsigned long long)handoffs(m));
	EXPECT_EQ((uint64_t)BIP_TASKS * BIP_ROUNDS / 2, bs.in_place);
	EXPECT_GE(bs.handoffs, 1u);
	EXPECT_GE(handoffs(m), 1u);
	wf_metrics_free(m);
	EXPECT_EQ(0, wf_runtime_free(rt));
	EXPECT_EQ(BIP_TASKS * BIP_ROUNDS, atomic_load(&bip_rounds));
	EXPECT_EQ(0, atomic_load(&bip_twice));
}

/* --- a pinned task's poll keeps its core ------------------------------------------------ */

static void *pinned_root(void *arg)
{
	struct wf_spawn_opts po = { .name = "pinned", .flags = WF_SPAWN_PINNED };
	wf_task *bg, *t;

	atomic_store(&bg_stop, 0);
	if (wf_spawn(&bg, bg_ticker, NULL))
		return (void *)1L;
	wf_sleep_ns(5 * MS);
	if (wf_spawn_opts(&t, usleeper, (void *)(uintptr_t)30000, &po))
		return (void *)2L;
	wf_join(t, NULL);
	atomic_store(&bg_stop, 1);
	wf_join(bg, NULL);
	return NULL;
}

TEST(pinned_task_poll_is_never_handed_over)
{
	struct wf_runtime_opts o = { .workers = 1, .stall_compensation = WF_STALL_ON };
	struct wf_metrics *m;
	wf_runtime *rt;
	void *res;

	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	ASSERT_EQ(0, wf_block_on(rt, pinned_root, NULL, &res));
	EXPECT_NULL(res);
	m = snap(rt);
	ASSERT_NOT_NULL(m);
	EXPECT_EQ(0u, handoffs(m));
	wf_metrics_free(m);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

/* --- shutdown while polls are stuck and hand-offs happen ---------------------------- */

static void *sleepy_loop(void *arg)
{
	for (;;) {
		usleep(2500);
		if (wf_yield())
			return NULL;	/* cancelled by the shutdown */
	}
}

TEST_TIMEOUT(shutdown_races_with_handoffs, 60)
{
	int base = base_threads();

	for (int round = 0; round < 6; round++) {
		struct wf_runtime_opts o = { .workers = 2, .stall_compensation = WF_STALL_ON };
		struct wf_spawn_opts so = { .name = "sleepy" };
		wf_runtime *rt;

		ASSERT_EQ(0, wf_runtime_new(&rt, &o));
		so.rt = rt;
		for (int i = 0; i < 16; i++)
			ASSERT_EQ(0, wf_spawn_opts(NULL, sleepy_loop, NULL, &so));
		usleep(5000 + 3000 * (unsigned)round);
		ASSERT_EQ(0, wf_runtime_free(rt));
	}
	/* Every worker, spare and monitor thread was joined. */
	EXPECT_EQ(base, thread_count());
}

/* --- the cap -------------------------------------------------------------------------- */

TEST_TIMEOUT(spare_thread_cap_is_respected, 30)
{
	struct wf_runtime_opts o = { .workers = 1, .stall_compensation = WF_STALL_ON,
				     .spare_threads = 2 };
	struct wf_spawn_opts so = { .name = "stuck" };
	int base = base_threads(), most = 0;
	struct wf_metrics *m;
	wf_task *t[8], *bg;
	wf_runtime *rt;
	uint64_t end;

	ASSERT_GT(base, 0);
	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	so.rt = rt;
	atomic_store(&bg_stop, 0);
	ASSERT_EQ(0, wf_spawn_opts(&bg, bg_ticker, NULL, &so));
	for (int i = 0; i < 8; i++)
		ASSERT_EQ(0, wf_spawn_opts(&t[i], usleeper, (void *)(uintptr_t)150000, &so));
	end = wf_now_ns() + 400 * MS;
	while (wf_now_ns() < end) {
		int n = thread_count();

		if (n > most)
			most = n;
		usleep(1000);
	}
	for (int i = 0; i < 8; i++)
		ASSERT_EQ(0, wf_join(t[i], NULL));
	atomic_store(&bg_stop, 1);
	ASSERT_EQ(0, wf_join(bg, NULL));
	m = snap(rt);
	ASSERT_NOT_NULL(m);
	TH_LOG("threads: %d before, at most %d; %llu hand-offs, %llu refused at the cap", base,
	       most, (unsigned long long)handoffs(m), (unsigned long long)m->stall_capped);
	/* One worker + two spares + the monitor. */
	EXPECT_LE(most, base + 4);
	EXPECT_GE(handoffs(m), 2u);
	EXPECT_GE(m->stall_capped, 1u);
	wf_metrics_free(m);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

/* --- off ------------------------------------------------------------------------------ */

TEST(off_means_no_handoff_and_no_extra_thread)
{
	struct wf_runtime_opts o = { .workers = 1, .stall_compensation = WF_STALL_OFF };
	struct wf_spawn_opts so = { .name = "stuck" };
	int base = base_threads(), most = 0;
	struct wf_metrics *m;
	wf_task *t, *bg;
	wf_runtime *rt;

	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	so.rt = rt;
	atomic_store(&bg_stop, 0);
	ASSERT_EQ(0, wf_spawn_opts(&bg, bg_ticker, NULL, &so));
	ASSERT_EQ(0, wf_spawn_opts(&t, usleeper, (void *)(uintptr_t)60000, &so));
	for (int i = 0; i < 50; i++) {
		int n = thread_count();

		if (n > most)
			most = n;
		usleep(1000);
	}
	ASSERT_EQ(0, wf_join(t, NULL));
	atomic_store(&bg_stop, 1);
	ASSERT_EQ(0, wf_join(bg, NULL));
	m = snap(rt);
	ASSERT_NOT_NULL(m);
	EXPECT_EQ(0, m->stall_compensation);
	EXPECT_EQ(0u, handoffs(m));
	EXPECT_EQ(0u, m->stall_handoffs_blocked + m->stall_handoffs_cpu);
	wf_metrics_free(m);
	/* The worker only: no monitor for one worker without compensation. */
	EXPECT_LE(most, base + 1);
	EXPECT_EQ(0, wf_runtime_free(rt));
}

TEST(current_thread_flavour_is_off_and_refuses_on)
{
	struct wf_runtime_opts o = { .flavor = WF_CURRENT_THREAD };
	struct wf_metrics *m;
	wf_runtime *rt;

	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	m = snap(rt);
	ASSERT_NOT_NULL(m);
	EXPECT_EQ(0, m->stall_compensation);
	wf_metrics_free(m);
	EXPECT_EQ(0, wf_runtime_free(rt));
	o.stall_compensation = WF_STALL_ON;
	EXPECT_EQ(-EINVAL, wf_runtime_new(&rt, &o));
	o = (struct wf_runtime_opts){ .stall_compensation = 3 };
	EXPECT_EQ(-EINVAL, wf_runtime_new(&rt, &o));
	o = (struct wf_runtime_opts){ .spare_threads = 5000 };
	EXPECT_EQ(-EINVAL, wf_runtime_new(&rt, &o));
}

/* --- choosing the stall source ------------------------------------------------------ */

static const char *source_of(struct __test_metadata *_metadata, struct wf_runtime_opts *o,
			     int *bpf_error)
{
	static char name[16];
	struct wf_metrics *m;
	wf_runtime *rt;

	name[0] = '\0';
	ASSERT_EQ(0, wf_runtime_new(&rt, o));
	m = snap(rt);
	ASSERT_NOT_NULL(m);
	snprintf(name, sizeof(name), "%s", m->stall_source ? m->stall_source : "(null)");
	*bpf_error = m->stall_bpf_error;
	wf_metrics_free(m);
	EXPECT_EQ(0, wf_runtime_free(rt));
	return name;
}

/*
 * WF_STALL_SOURCE_PROC and WEFT_STALL_SOURCE=proc give /proc without
 * trying BPF; the option beats the environment; off is "none"; bad
 * values are -EINVAL. Whatever the build and the privileges, auto gives
 * one of the two, and /proc says why not BPF.
 */
TEST(stall_source_choice)
{
	struct wf_runtime_opts o = { .workers = 2, .stall_compensation = WF_STALL_ON,
				     .stall_source = WF_STALL_SOURCE_PROC };
	const char *name;
	wf_runtime *rt;
	int err;

	EXPECT_STREQ("proc", source_of(_metadata, &o, &err));
	EXPECT_EQ(0, err);
	o.stall_source = WF_STALL_SOURCE_DEFAULT;
	ASSERT_EQ(0, setenv("WEFT_STALL_SOURCE", "proc", 1));
	EXPECT_STREQ("proc", source_of(_metadata, &o, &err));
	EXPECT_EQ(0, err);
	ASSERT_EQ(0, setenv("WEFT_STALL_SOURCE", "bogus", 1));
	EXPECT_EQ(-EINVAL, wf_runtime_new(&rt, &o));
	o.stall_source = WF_STALL_SOURCE_PROC;	/* the option wins over the environment */
	EXPECT_STREQ("proc", source_of(_metadata, &o, &err));
	unsetenv("WEFT_STALL_SOURCE");
	o.stall_source = WF_STALL_SOURCE_AUTO;
	name = source_of(_metadata, &o, &err);
	TH_LOG("auto: %s (BPF: %s)", name, err ? strerror(-err) : "in use");
	EXPECT_TRUE(!strcmp(name, "bpf") || !strcmp(name, "proc"));
	EXPECT_TRUE(!strcmp(name, "bpf") == (err == 0));
	o.stall_compensation = WF_STALL_OFF;
	EXPECT_STREQ("none", source_of(_metadata, &o, &err));
	o = (struct wf_runtime_opts){ .stall_source = 4 };
	EXPECT_EQ(-EINVAL, wf_runtime_new(&rt, &o));
	o = (struct wf_runtime_opts){ .reserved_int = 1 };
	EXPECT_EQ(-EINVAL, wf_runtime_new(&rt, &o));
}

TEST_HARNESS_MAIN
