// SPDX-License-Identifier: MIT
/*
 * The BPF stall source (docs/stall.md, runtime/src/stall_bpf.c): a poll
 * blocked in usleep() or in a read() on a pipe is classified blocked, a
 * spinning one on CPU, a preempted one (runnable, waiting for a CPU) not
 * blocked; hand-offs to spare threads, and from them, are decided by the
 * BPF source (the map follows threads, not workers); runtimes alive at the
 * same time share it and every runtime's shutdown leaves no program, map
 * or mapping behind; the raw_tp flavour works as well as tp_btf. Each
 * test skips (exit 4) where the source cannot load: not root (no CAP_BPF,
 * CAP_PERFMON), no BTF, lockdown, or a libweft built without it.
 */
#include "wtest.h"
#include "stall_util.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weft.h>



/* BPF file descriptors (programs, links, maps) and BPF map mappings of this process. */
static int bpf_objects(void)
{
	char path[300], link[128], line[512];
	struct dirent *e;
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	FILE *f;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		ssize_t len;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		n += strstr(link, "bpf") != NULL;
	}
	closedir(d);
	f = fopen("/proc/self/maps", "r");
	if (f) {
		while (fgets(line, sizeof(line), f))
			n += strstr(line, "bpf") != NULL;
		fclose(f);
	}
	return n;
}

/* A runtime of @workers that uses the BPF source, or a skip saying why it cannot. */
static wf_runtime *bpf_runtime(struct __test_metadata *_metadata, unsigned workers)
{
	struct wf_runtime_opts o = { .workers = workers, .stall_compensation = WF_STALL_ON,
				     .stall_source = WF_STALL_SOURCE_BPF };
	struct wf_metrics *m;
	wf_runtime *rt;
	int err;
	bool bpf;

	if (wf_runtime_new(&rt, &o))
		return NULL;
	m = snap(rt);
	if (!m)
		return NULL;
	bpf = m->stall_source && !strcmp(m->stall_source, "bpf");
	err = m->stall_bpf_error;
	wf_metrics_free(m);
	if (!bpf) {
		wf_runtime_free(rt);
		if (err == -EOPNOTSUPP)
			SKIP("libweft built without the BPF stall source");
		SKIP("the BPF stall source cannot load here (%s); root or CAP_BPF and "
		     "CAP_PERFMON, kernel BTF and no lockdown are needed", strerror(-err));
	}
	return rt;
}


/* --- classification ------------------------------------------------------------ */


/* Runs fn as a stuck poll next to a ticker on one worker; the metrics after. */
static struct wf_metrics *run_cls(struct __test_metadata *_metadata, wf_task_fn fn, void *arg)
{
	struct cls_case c = { fn, arg };
	wf_runtime *rt = bpf_runtime(_metadata, 1);
	struct wf_metrics *m;
	void *res;

	ASSERT_NOT_NULL(rt);
	ASSERT_EQ(0, wf_block_on(rt, cls_root, &c, &res));
	m = snap(rt);
	ASSERT_NOT_NULL(m);
	EXPECT_EQ(0, wf_runtime_free(rt));
	EXPECT_EQ(1, (long)(intptr_t)res);
	EXPECT_STREQ("bpf", m->stall_source);
	TH_LOG("blocked %llu, cpu %llu, /proc fallbacks %llu",
	       (unsigned long long)m->stall_handoffs_blocked,
	       (unsigned long long)m->stall_handoffs_cpu,
	       (unsigned long long)m->stall_bpf_fallbacks);
	/* Every look was answered by the BPF source. */
	EXPECT_EQ(0u, m->stall_bpf_fallbacks);
	return m;
}

static void *usleeper_one(void *arg)
{
	usleep(100000);
	return (void *)1L;
}

TEST(usleep_is_classified_blocked)
{
	struct wf_metrics *m = run_cls(_metadata, usleeper_one, NULL);

	EXPECT_EQ(1u, m->stall_handoffs_blocked);
	EXPECT_EQ(0u, m->stall_handoffs_cpu);
	EXPECT_EQ(1u, m->workers[0].handoffs);
	wf_metrics_free(m);
}

static int pipe_fds[2];

static void *pipe_writer(void *arg)
{
	usleep(100000);
	return (void *)(intptr_t)write(pipe_fds[1], "x", 1);
}

/* The writer starts here, inside the poll: loading the source took a while. */
static void *pipe_reader(void *arg)
{
	pthread_t *w = arg;
	char c;

	if (pthread_create(w, NULL, pipe_writer, NULL))
		return (void *)-1L;
	return (void *)(intptr_t)read(pipe_fds[0], &c, 1);
}

TEST(read_on_a_pipe_is_classified_blocked)
{
	struct wf_metrics *m;
	pthread_t w;

	ASSERT_EQ(0, pipe(pipe_fds));
	m = run_cls(_metadata, pipe_reader, &w);
	pthread_join(w, NULL);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	EXPECT_EQ(1u, m->stall_handoffs_blocked);
	EXPECT_EQ(0u, m->stall_handoffs_cpu);
	wf_metrics_free(m);
}

static void *spinner_one(void *arg)
{
	spin_ns(60 * MS);
	return (void *)1L;
}

TEST(spinning_poll_is_classified_on_cpu)
{
	struct wf_metrics *m = run_cls(_metadata, spinner_one, NULL);

	EXPECT_EQ(0u, m->stall_handoffs_blocked);
	EXPECT_EQ(1u, m->stall_handoffs_cpu);
	wf_metrics_free(m);
}

/*
 * A poll that computes while two other threads compete for its CPU is
 * preempted again and again: off CPU most of the time, but runnable, so
 * not blocked (it is handed over at the on-CPU threshold, as computing).
 */
static _Atomic int hog_stop;

static void *hog(void *arg)
{
	cpu_set_t *cpu = arg;

	pthread_setaffinity_np(pthread_self(), sizeof(*cpu), cpu);
	while (!atomic_load_explicit(&hog_stop, memory_order_relaxed))
		;
	return NULL;
}

static void *crowded_spinner(void *arg)
{
	cpu_set_t *cpu = arg, all;

	CPU_ZERO(&all);
	sched_getaffinity(0, sizeof(all), &all);
	/* This worker thread shares CPU 0 with the hogs for the spin. */
	sched_setaffinity(0, sizeof(*cpu), cpu);
	spin_ns(60 * MS);
	sched_setaffinity(0, sizeof(all), &all);
	return (void *)1L;
}

TEST(preempted_poll_is_not_blocked)
{
	pthread_t h[2];
	struct wf_metrics *m;
	cpu_set_t cpu;

	CPU_ZERO(&cpu);
	CPU_SET(0, &cpu);
	atomic_store(&hog_stop, 0);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&h[i], NULL, hog, &cpu));
	m = run_cls(_metadata, crowded_spinner, &cpu);
	atomic_store(&hog_stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(h[i], NULL);
	EXPECT_EQ(0u, m->stall_handoffs_blocked);
	EXPECT_EQ(1u, m->stall_handoffs_cpu);
	wf_metrics_free(m);
}

/* The raw_tp flavour (where tp_btf is refused) classifies the same. */
TEST(raw_tp_flavour_classifies_too)
{
	struct wf_metrics *m;

	ASSERT_EQ(0, setenv("WEFT_STALL_BPF_RAW_TP", "1", 1));
	m = run_cls(_metadata, usleeper_one, NULL);
	unsetenv("WEFT_STALL_BPF_RAW_TP");
	EXPECT_EQ(1u, m->stall_handoffs_blocked);
	EXPECT_EQ(0u, m->stall_handoffs_cpu);
	wf_metrics_free(m);
}

/* --- hand-offs: the map follows threads -------------------------------------------- */

/*
 * Time from a blocking call inside a poll to the moment another task of
 * the same (single) worker runs again, on the spare the core went to:
 * the detection (threshold included) and the hand-off.
 */
struct lat_case {
	uint64_t blocked_at, resumed_at;
};

static void *witness(void *arg)
{
	struct lat_case *c = arg;

	c->resumed_at = wf_now_ns();
	return NULL;
}

static void *blocker(void *arg)
{
	struct lat_case *c = arg;
	wf_task *w;

	if (wf_spawn_named(&w, "witness", witness, c))
		return (void *)1L;
	c->blocked_at = wf_now_ns();
	usleep(30000);
	wf_join(w, NULL);
	return NULL;
}

#define ROUNDS 8

static void *rounds_root(void *arg)
{
	struct lat_case *c = arg;

	for (int i = 0; i < ROUNDS; i++) {
		wf_task *t;
		void *r;

		if (wf_spawn_named(&t, "blocker", blocker, &c[i]))
			return (void *)1L;
		wf_join(t, &r);
		if (r)
			return r;
		wf_sleep_ns(2 * MS);
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Runs ROUNDS blocked polls; returns the median latency, fills *m. */
static uint64_t handoff_rounds(struct __test_metadata *_metadata, wf_runtime *rt,
			       struct wf_metrics **m)
{
	struct lat_case c[ROUNDS] = { { 0 } };
	uint64_t v[ROUNDS];
	void *res;

	ASSERT_EQ(0, wf_block_on(rt, rounds_root, c, &res));
	EXPECT_NULL(res);
	*m = snap(rt);
	ASSERT_NOT_NULL(*m);
	for (int i = 0; i < ROUNDS; i++)
		v[i] = c[i].resumed_at > c[i].blocked_at ? c[i].resumed_at - c[i].blocked_at : 0;
	qsort(v, ROUNDS, sizeof(v[0]), cmp_u64);
	return v[ROUNDS / 2];
}

/*
 * Each round's blocked poll is handed over, so the core moves from thread
 * to thread: the worker, fresh spares, and stuck threads that became
 * spares. Every one of those looks must be answered from the thread's own
 * BPF slot (no /proc fallback), and every hand-off classified blocked.
 * The median latency against /proc's on the same machine is logged.
 */
TEST(handoffs_follow_threads_across_spares)
{
	struct wf_runtime_opts po = { .workers = 1, .stall_compensation = WF_STALL_ON,
				      .stall_source = WF_STALL_SOURCE_PROC };
	wf_runtime *rt = bpf_runtime(_metadata, 1);
	struct wf_metrics *m;
	uint64_t bpf_ns, proc_ns;

	ASSERT_NOT_NULL(rt);
	bpf_ns = handoff_rounds(_metadata, rt, &m);
	EXPECT_EQ(0, wf_runtime_free(rt));
	TH_LOG("bpf: %llu hand-offs (%llu blocked), %llu /proc fallbacks",
	       (unsigned long long)handoffs(m), (unsigned long long)m->stall_handoffs_blocked,
	       (unsigned long long)m->stall_bpf_fallbacks);
	/*
	 * Every round is handed over unless the machine is so busy that the
	 * spare cannot start within the 30 ms block; half is plenty to have
	 * moved the core through several threads.
	 */
	EXPECT_GE(handoffs(m), (uint64_t)ROUNDS / 2);
	EXPECT_EQ(handoffs(m), m->stall_handoffs_blocked);
	EXPECT_EQ(0u, m->stall_bpf_fallbacks);
	wf_metrics_free(m);

	ASSERT_EQ(0, wf_runtime_new(&rt, &po));
	proc_ns = handoff_rounds(_metadata, rt, &m);
	EXPECT_EQ(0, wf_runtime_free(rt));
	EXPECT_STREQ("proc", m->stall_source);
	EXPECT_GE(m->stall_handoffs_blocked, (uint64_t)ROUNDS / 2);
	wf_metrics_free(m);
	TH_LOG("block to hand-off, median of %d: bpf %.3f ms, proc %.3f ms (threshold %.3f ms)",
	       ROUNDS, bpf_ns / 1e6, proc_ns / 1e6, WF_NSEC_PER_MSEC * 2 / 1e6);
	/* Both must hand over long before the blocking call returns (30 ms). */
	EXPECT_LT(bpf_ns, 20 * MS);
	EXPECT_LT(proc_ns, 20 * MS);
}

/* --- several runtimes, and shutdown ------------------------------------------------- */

static void *one_block(void *arg)
{
	struct lat_case c = { 0 };
	wf_task *t;

	if (wf_spawn_named(&t, "blocker", blocker, &c))
		return (void *)1L;
	return wf_join(t, NULL) ? (void *)2L : NULL;
}

struct rt_thread {
	wf_runtime *rt;
	void *res;
	int r;
};

static void *drive(void *arg)
{
	struct rt_thread *a = arg;

	a->r = wf_block_on(a->rt, one_block, NULL, &a->res);
	return NULL;
}

/*
 * Two runtimes at once share the process's BPF source; the first freed
 * leaves it working for the second; the last one freed detaches and
 * unmaps it, and so does every runtime after: no BPF descriptor or
 * mapping is left.
 */
TEST(runtimes_share_the_source_and_free_it)
{
	int before = bpf_objects(), during, after;
	struct rt_thread a[2];
	struct wf_metrics *m;
	pthread_t th[2];

	ASSERT_GE(before, 0);
	for (int i = 0; i < 2; i++) {
		a[i] = (struct rt_thread){ .rt = bpf_runtime(_metadata, 1) };
		ASSERT_NOT_NULL(a[i].rt);
	}
	during = bpf_objects();
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, drive, &a[i]));
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		EXPECT_EQ(0, a[i].r);
		EXPECT_NULL(a[i].res);
	}
	EXPECT_EQ(0, wf_runtime_free(a[0].rt));
	/* The second still has it. */
	ASSERT_EQ(0, wf_block_on(a[1].rt, one_block, NULL, &a[1].res));
	m = snap(a[1].rt);
	ASSERT_NOT_NULL(m);
	EXPECT_EQ(2u, m->stall_handoffs_blocked);
	EXPECT_EQ(0u, m->stall_bpf_fallbacks);
	wf_metrics_free(m);
	EXPECT_EQ(0, wf_runtime_free(a[1].rt));
	after = bpf_objects();
	TH_LOG("BPF descriptors and mappings: %d before, %d with two runtimes, %d after",
	       before, during, after);
	EXPECT_GT(during, before);
	EXPECT_EQ(before, after);

	/* And again: load, use, free. */
	for (int round = 0; round < 3; round++) {
		wf_runtime *rt = bpf_runtime(_metadata, 1);

		ASSERT_NOT_NULL(rt);
		ASSERT_EQ(0, wf_block_on(rt, one_block, NULL, NULL));
		EXPECT_EQ(0, wf_runtime_free(rt));
	}
	EXPECT_EQ(before, bpf_objects());
}

TEST_HARNESS_MAIN
