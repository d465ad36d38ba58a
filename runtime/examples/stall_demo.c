// SPDX-License-Identifier: MIT
/*
 * stall_demo - the "5% CPU" stall, and how weft shows it.
 *
 * A small service: 100 request handlers, each waking every millisecond to
 * do 2 microseconds of work, on one worker (a 1-CPU container; with more
 * workers, work stealing hides part of the stall, not all of it). One more task, "thumbnail",
 * calls usleep() (a blocking call) inside its poll once in a while, as code
 * that calls a synchronous library would. The CPU is mostly idle, yet the
 * handlers queued behind the blocked worker wait.
 *
 * Phase 1 runs it as written; phase 2 moves the blocking call to the
 * blocking pool (wf_run_blocking). For each phase the program reads the
 * runtime's own metrics (wf_metrics_snapshot) and says what it sees:
 * which task had slow polls, where it was spawned, and what the other
 * tasks paid in scheduled delay (time runnable but not running).
 *
 * Usage: stall_demo [SECONDS per phase, default 2]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weft.h>

#define HANDLERS 100

static volatile int stop;
static int use_pool;

static void spin_us(unsigned us)
{
	uint64_t end = wf_now_ns() + us * 1000ull;

	while (wf_now_ns() < end)
		;
}

/* A well-behaved handler: short polls, then waits for the next tick. */
static void *handler(void *arg)
{
	struct wf_interval iv;

	wf_interval_init(&iv, WF_NSEC_PER_MSEC);
	while (!stop && wf_interval_tick(&iv) >= 0)
		spin_us(2);
	return NULL;
}

static void *blocking_call(void *arg)
{
	usleep(30 * 1000);	/* a synchronous library call: 30 ms */
	return NULL;
}

/* The culprit: a blocking call every 100 ms, inside its poll. */
static void *thumbnail(void *arg)
{
	while (!stop) {
		if (use_pool)
			wf_run_blocking(blocking_call, NULL, NULL);
		else
			blocking_call(NULL);
		if (wf_sleep_ns(100 * WF_NSEC_PER_MSEC))
			break;
	}
	return NULL;
}

static void *service(void *arg)
{
	long secs = (long)arg;
	wf_task *h[HANDLERS], *t;

	stop = 0;
	for (int i = 0; i < HANDLERS; i++)
		wf_spawn_named(&h[i], "handler", handler, NULL);
	wf_spawn_named(&t, "thumbnail", thumbnail, NULL);
	wf_sleep_ns((uint64_t)secs * WF_NSEC_PER_SEC);
	return NULL;
}

/* On-CPU and run-queue-wait nanoseconds of a thread (/proc schedstat). */
static int schedstat(int tid, uint64_t *oncpu, uint64_t *runq)
{
	char path[64];
	unsigned long long a, b;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", tid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fscanf(f, "%llu %llu", &a, &b);
	fclose(f);
	if (n != 2)
		return -1;
	*oncpu = a;
	*runq = b;
	return 0;
}

static void report(wf_runtime *rt, const char *phase, uint64_t start_ns)
{
	const struct wf_task_metrics *culprit = NULL;
	uint64_t busy = 0, oncpu = 0, runq = 0, span, blocked;
	struct wf_hist others = { 0 };
	struct wf_metrics *m;

	if (wf_metrics_snapshot(rt, &m)) {
		fprintf(stderr, "stall_demo: metrics snapshot failed\n");
		exit(1);
	}
	for (size_t i = 0; i < m->ntasks; i++) {
		const struct wf_task_metrics *t = &m->tasks[i];

		if (t->slow_polls && (!culprit || t->poll.total_ns > culprit->poll.total_ns))
			culprit = t;
		if (strcmp(t->name, "handler") == 0) {
			others.count += t->sched.count;
			others.total_ns += t->sched.total_ns;
			if (t->sched.max_ns > others.max_ns)
				others.max_ns = t->sched.max_ns;
			for (int b = 0; b < WF_METRICS_HIST_BUCKETS; b++)
				others.buckets[b] += t->sched.buckets[b];
		}
	}
	/* The runtime's view (time in polls) against the kernel's (on CPU). */
	for (unsigned w = 0; w < m->nworkers; w++) {
		uint64_t c = 0, q = 0;

		busy += m->workers[w].busy_ns;
		if (m->workers[w].tid > 0 && schedstat(m->workers[w].tid, &c, &q) == 0) {
			oncpu += c;
			runq += q;
		}
	}
	span = (m->now_ns - start_ns) * m->nworkers;
	blocked = busy > oncpu + runq ? busy - oncpu - runq : 0;

	printf("\n== %s ==\n", phase);
	printf("worker inside polls %.0f%% of the time, on a CPU %.0f%%, waiting for a CPU "
	       "%.0f%%:\n  inside a poll but off CPU (blocked) about %.0f%% of the time\n",
	       100.0 * busy / span, 100.0 * oncpu / span, 100.0 * runq / span,
	       100.0 * blocked / span);
	if (culprit && blocked > busy / 5)
		printf("DIAGNOSIS: blocking inside polls. Task \"%s\" (id %llu, spawned at %s:%d)\n"
		       "  had %llu polls over %llu us, the longest %.1f ms, while its worker was\n"
		       "  mostly off CPU. Move the blocking call to wf_run_blocking() or\n"
		       "  wf_block_in_place().\n",
		       culprit->name, (unsigned long long)culprit->id, culprit->file,
		       culprit->line, (unsigned long long)culprit->slow_polls,
		       (unsigned long long)(m->slow_poll_ns / 1000), culprit->poll.max_ns / 1e6);
	else if (culprit)
		printf("DIAGNOSIS: no blocking inside polls. %llu slow poll(s) of \"%s\" "
		       "(longest %.1f ms)\n  happened while its worker was on a CPU or "
		       "waiting for one (a busy machine).\n",
		       (unsigned long long)culprit->slow_polls, culprit->name,
		       culprit->poll.max_ns / 1e6);
	else
		printf("DIAGNOSIS: healthy: no poll longer than %llu us.\n",
		       (unsigned long long)(m->slow_poll_ns / 1000));
	if (others.count)
		printf("the %d handlers waited to run (scheduled delay): p50 %.3f ms, "
		       "p99 %.3f ms, max %.3f ms over %llu polls\n",
		       HANDLERS, wf_hist_percentile(&others, 0.50) / 1e6,
		       wf_hist_percentile(&others, 0.99) / 1e6, others.max_ns / 1e6,
		       (unsigned long long)others.count);
	wf_metrics_free(m);
}

static int phase(long secs, int pool, const char *title)
{
	struct wf_runtime_opts o = { .workers = 1 };
	wf_runtime *rt;
	uint64_t start;
	int r;

	use_pool = pool;
	r = wf_runtime_new(&rt, &o);
	if (r) {
		fprintf(stderr, "stall_demo: wf_runtime_new: %s\n", strerror(-r));
		return 1;
	}
	start = wf_now_ns();
	wf_block_on(rt, service, (void *)secs, NULL);
	report(rt, title, start);
	stop = 1;
	wf_runtime_free(rt);
	return 0;
}

int main(int argc, char **argv)
{
	long secs = 2;

	if (argc > 2 || (argc == 2 && (secs = strtol(argv[1], NULL, 10)) <= 0)) {
		fprintf(stderr, "usage: stall_demo [SECONDS per phase, default 2]\n");
		return 2;
	}
	printf("weft %s: %d handlers ticking every 1 ms on 1 worker, plus one task that\n"
	       "makes a 30 ms blocking call every 100 ms. %ld s per phase.\n",
	       wf_version(), HANDLERS, secs);
	if (phase(secs, 0, "phase 1: usleep() inside the poll"))
		return 1;
	if (phase(secs, 1, "phase 2: the same call through wf_run_blocking()"))
		return 1;
	return 0;
}
