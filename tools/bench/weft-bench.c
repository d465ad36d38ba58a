// SPDX-License-Identifier: MIT
/*
 * weft-bench - weft's side of the runtime benchmarks (docs/benchmarks.md).
 *
 * Usage: weft-bench [--workers N] [--iters K] [--list] [PATTERN...]
 *
 * The same workloads, parameters, flags and output as the Tokio peer in
 * tools/bench/tokio/src/main.rs: one JSON object per bench on stdout,
 *   {"bench":"yield_many","impl":"weft","ns_per_op":..,"ops":..,
 *    "workers":..,"iters":..,"stat":"median","min_ns_per_op":..}
 * ns_per_op is the median over K timed iterations after one untimed
 * warm-up. The runtime is created before timing and freed after; the clock
 * stops when the main thread (outside the runtime) sees the last
 * completion through a countdown latch (atomic counter + mutex/condvar),
 * the same mechanism on both sides.
 */
#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weft.h>

#define SPAWN_MANY 10000
#define YIELD_TASKS 200
#define YIELDS_PER_TASK 1000
#define PING_PONGS 1000
#define CHAIN_LEN 1000
#define MPSC_SENDERS 5
#define MPSC_PER_SENDER 1000
#define MPSC_CAP (MPSC_SENDERS * MPSC_PER_SENDER)
#define MPSC_FULL_CAP 100
#define CTX_SWITCHES 100000
#define IDLE_TASKS 100000
#define DEFAULT_ITERS 50

/* --- countdown latch --------------------------------------------------------- */

struct countdown {
	_Atomic long rem;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int done;
};

static void cd_init(struct countdown *c, long n)
{
	atomic_init(&c->rem, n);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cv, NULL);
	c->done = 0;
}

static void cd_hit(struct countdown *c)
{
	if (atomic_fetch_sub_explicit(&c->rem, 1, memory_order_acq_rel) == 1) {
		pthread_mutex_lock(&c->lock);
		c->done = 1;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->lock);
	}
}

static void cd_wait(struct countdown *c)
{
	pthread_mutex_lock(&c->lock);
	while (!c->done)
		pthread_cond_wait(&c->cv, &c->lock);
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cv);
}

static void die(const char *what, int err)
{
	fprintf(stderr, "weft-bench: %s: %s\n", what, strerror(-err));
	if (err == -ENOMEM)
		fprintf(stderr, "weft-bench: each task stack is 2 memory maps: raise "
				"vm.max_map_count (sysctl -w vm.max_map_count=262144)\n");
	exit(1);
}

/* Spawn a detached root task on rt from outside it. */
static void spawn_on(wf_runtime *rt, wf_task_fn fn, void *arg)
{
	struct wf_spawn_opts o = { .rt = rt };
	int r = wf_spawn_opts(NULL, fn, arg, &o);

	if (r)
		die("spawn", r);
}

/* --- workloads ---------------------------------------------------------------- */

static void *hit(void *arg)
{
	cd_hit(arg);
	return NULL;
}

static void *spawn_local_root(void *arg)
{
	for (int i = 0; i < SPAWN_MANY; i++)
		if (wf_spawn(NULL, hit, arg))
			die("spawn", -ENOMEM);
	return NULL;
}

static double spawn_many_local(wf_runtime *rt, double *extra)
{
	struct countdown cd;
	uint64_t t0;

	cd_init(&cd, SPAWN_MANY);
	t0 = wf_now_ns();
	spawn_on(rt, spawn_local_root, &cd);
	cd_wait(&cd);
	return (double)(wf_now_ns() - t0);
}

static void *nothing(void *arg)
{
	return arg;
}

static wf_task *remote_handles[SPAWN_MANY];

static void *join_all(void *arg)
{
	for (int i = 0; i < SPAWN_MANY; i++)
		wf_join(remote_handles[i], NULL);
	return NULL;
}

static double spawn_many_remote_idle(wf_runtime *rt, double *extra)
{
	struct wf_spawn_opts o = { .rt = rt };
	uint64_t t0 = wf_now_ns();

	for (int i = 0; i < SPAWN_MANY; i++)
		if (wf_spawn_opts(&remote_handles[i], nothing, NULL, &o))
			die("spawn", -ENOMEM);
	wf_block_on(rt, join_all, NULL, NULL);
	return (double)(wf_now_ns() - t0);
}

static void *yielder(void *arg)
{
	for (int i = 0; i < YIELDS_PER_TASK; i++)
		wf_yield();
	cd_hit(arg);
	return NULL;
}

static double yield_many(wf_runtime *rt, double *extra)
{
	struct countdown cd;
	uint64_t t0;

	cd_init(&cd, YIELD_TASKS);
	t0 = wf_now_ns();
	for (int i = 0; i < YIELD_TASKS; i++)
		spawn_on(rt, yielder, &cd);
	cd_wait(&cd);
	return (double)(wf_now_ns() - t0);
}

struct pp {
	wf_oneshot *ping, *pong;
};

static void *pong_side(void *arg)
{
	struct pp *p = arg;
	char c;

	wf_oneshot_recv(p->ping, &c);
	wf_oneshot_drop_receiver(p->ping);
	wf_oneshot_send(p->pong, &c);
	wf_oneshot_drop_sender(p->pong);
	return NULL;
}

static void *ping_side(void *arg)
{
	struct pp p;
	char c = 1;

	if (wf_oneshot_new(&p.ping, 1) || wf_oneshot_new(&p.pong, 1))
		die("oneshot", -ENOMEM);
	wf_spawn(NULL, pong_side, &p);
	wf_oneshot_send(p.ping, &c);
	wf_oneshot_drop_sender(p.ping);
	wf_oneshot_recv(p.pong, &c);
	wf_oneshot_drop_receiver(p.pong);
	cd_hit(arg);
	return NULL;
}

static void *ping_pong_root(void *arg)
{
	for (int i = 0; i < PING_PONGS; i++)
		wf_spawn(NULL, ping_side, arg);
	return NULL;
}

static double ping_pong(wf_runtime *rt, double *extra)
{
	struct countdown cd;
	uint64_t t0;

	cd_init(&cd, PING_PONGS);
	t0 = wf_now_ns();
	spawn_on(rt, ping_pong_root, &cd);
	cd_wait(&cd);
	return (double)(wf_now_ns() - t0);
}

struct chain {
	struct countdown *cd;
	long n;
};

static struct chain links[CHAIN_LEN + 1];

static void *chain_link(void *arg)
{
	struct chain *c = arg;

	if (c->n == 0)
		cd_hit(c->cd);
	else
		wf_spawn(NULL, chain_link, &links[c->n - 1]);
	return NULL;
}

static double chained_spawn(wf_runtime *rt, double *extra)
{
	struct countdown cd;
	uint64_t t0;

	cd_init(&cd, 1);
	for (long i = 0; i <= CHAIN_LEN; i++)
		links[i] = (struct chain){ .cd = &cd, .n = i };
	t0 = wf_now_ns();
	spawn_on(rt, chain_link, &links[CHAIN_LEN]);
	cd_wait(&cd);
	return (double)(wf_now_ns() - t0);
}

struct mpsc_arg {
	struct countdown *cd;
	size_t cap;
};

static void *mpsc_sender(void *arg)
{
	wf_chan *ch = arg;

	for (long i = 0; i < MPSC_PER_SENDER; i++)
		wf_chan_send(ch, &i);
	return NULL;
}

static void *mpsc_root(void *arg)
{
	struct mpsc_arg *a = arg;
	wf_task *s[MPSC_SENDERS];
	wf_chan *ch;
	long v;

	if (wf_chan_new(&ch, sizeof(long), a->cap))
		die("chan", -ENOMEM);
	for (int i = 0; i < MPSC_SENDERS; i++)
		wf_spawn(&s[i], mpsc_sender, ch);
	for (int i = 0; i < MPSC_SENDERS * MPSC_PER_SENDER; i++)
		wf_chan_recv(ch, &v);
	for (int i = 0; i < MPSC_SENDERS; i++)
		wf_join(s[i], NULL);
	wf_chan_free(ch);
	cd_hit(a->cd);
	return NULL;
}

static double mpsc_run(wf_runtime *rt, size_t cap)
{
	struct countdown cd;
	struct mpsc_arg a = { .cd = &cd, .cap = cap };
	uint64_t t0;

	cd_init(&cd, 1);
	t0 = wf_now_ns();
	spawn_on(rt, mpsc_root, &a);
	cd_wait(&cd);
	return (double)(wf_now_ns() - t0);
}

static double mpsc_bounded(wf_runtime *rt, double *extra)
{
	return mpsc_run(rt, MPSC_CAP);
}

static double mpsc_backpressure(wf_runtime *rt, double *extra)
{
	return mpsc_run(rt, MPSC_FULL_CAP);
}

static void *switcher(void *arg)
{
	for (int i = 0; i < CTX_SWITCHES; i++)
		wf_yield();
	return NULL;
}

static double ctx_switch(wf_runtime *rt, double *extra)
{
	uint64_t t0 = wf_now_ns();

	wf_block_on(rt, switcher, NULL, NULL);
	return (double)(wf_now_ns() - t0);
}

static double rss_bytes(void)
{
	char line[256];
	double kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %lf", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024.0;
}

struct idle_arg {
	wf_sem *sem;
	struct countdown *started, *finished;
};

static void *idle_task(void *arg)
{
	struct idle_arg *a = arg;

	cd_hit(a->started);
	wf_sem_acquire(a->sem, 1);
	cd_hit(a->finished);
	return NULL;
}

static void *release_all(void *arg)
{
	wf_sem_release(arg, IDLE_TASKS);
	return NULL;
}

static double idle_task_mem(wf_runtime *rt, double *extra)
{
	struct countdown started, finished;
	wf_sem sem = WF_SEM_INIT(0);
	struct idle_arg a = { .sem = &sem, .started = &started, .finished = &finished };
	double rss0 = rss_bytes(), rss1;
	uint64_t t0, el;

	cd_init(&started, IDLE_TASKS);
	cd_init(&finished, IDLE_TASKS);
	t0 = wf_now_ns();
	for (int i = 0; i < IDLE_TASKS; i++)
		spawn_on(rt, idle_task, &a);
	cd_wait(&started);
	el = wf_now_ns() - t0;
	rss1 = rss_bytes();
	if (extra && *extra < 0 && rss0 > 0 && rss1 > 0)
		*extra = (rss1 - rss0) / IDLE_TASKS > 0 ? (rss1 - rss0) / IDLE_TASKS : 0;
	/* Permits must be released from a task (the semaphore is for tasks). */
	spawn_on(rt, release_all, &sem);
	cd_wait(&finished);
	return (double)el;
}

/* --- driver --------------------------------------------------------------------- */

struct bench {
	const char *name;
	long ops;
	int current_thread;
	double (*run)(wf_runtime *rt, double *extra);
};

static const struct bench benches[] = {
	{ "idle_task_mem", IDLE_TASKS, 0, idle_task_mem },
	{ "spawn_many_local", SPAWN_MANY, 0, spawn_many_local },
	{ "spawn_many_remote_idle", SPAWN_MANY, 0, spawn_many_remote_idle },
	{ "yield_many", YIELD_TASKS * YIELDS_PER_TASK, 0, yield_many },
	{ "ping_pong", PING_PONGS, 0, ping_pong },
	{ "chained_spawn", CHAIN_LEN, 0, chained_spawn },
	{ "mpsc_bounded", MPSC_SENDERS * MPSC_PER_SENDER, 0, mpsc_bounded },
	{ "mpsc_backpressure", MPSC_SENDERS * MPSC_PER_SENDER, 0, mpsc_backpressure },
	{ "ctx_switch", CTX_SWITCHES, 1, ctx_switch },
};

static int selected(const char *name, char **pats, int npats)
{
	if (npats == 0)
		return 1;
	for (int i = 0; i < npats; i++) {
		if (strpbrk(pats[i], "*?")) {
			if (fnmatch(pats[i], name, 0) == 0)
				return 1;
		} else if (strstr(name, pats[i])) {
			return 1;
		}
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: weft-bench [--workers N] [--iters K] [--list] [PATTERN...]\n"
		   "  --workers N  worker threads of the multi-thread runtime (default: CPUs)\n"
		   "  --iters K    timed iterations per bench, median reported (default 50)\n"
		   "  --list       print the bench names and exit\n"
		   "  PATTERN      substring, or glob with * and ?, of the benches to run\n");
}

static long parse_count(const char *flag, const char *v)
{
	char *end;
	long n;

	if (!v) {
		fprintf(stderr, "weft-bench: %s needs a value\n", flag);
		exit(2);
	}
	n = strtol(v, &end, 10);
	if (*v == '\0' || *end || n <= 0 || n > 1000000) {
		fprintf(stderr, "weft-bench: %s needs a positive integer, got '%s'\n", flag, v);
		exit(2);
	}
	return n;
}

int main(int argc, char **argv)
{
	long workers = sysconf(_SC_NPROCESSORS_ONLN), iters = DEFAULT_ITERS;
	char **pats = calloc((size_t)argc, sizeof(*pats));
	int npats = 0, list = 0;

	if (!pats)
		return 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strncmp(a, "--workers=", 10))
			workers = parse_count("--workers", a + 10);
		else if (!strncmp(a, "--iters=", 8))
			iters = parse_count("--iters", a + 8);
		else if (!strcmp(a, "--workers"))
			workers = parse_count("--workers", i + 1 < argc ? argv[++i] : NULL);
		else if (!strcmp(a, "--iters"))
			iters = parse_count("--iters", i + 1 < argc ? argv[++i] : NULL);
		else if (!strcmp(a, "--list"))
			list = 1;
		else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (a[0] == '-') {
			fprintf(stderr, "weft-bench: unknown option '%s'\n", a);
			usage(stderr);
			return 2;
		} else
			pats[npats++] = argv[i];
	}

	for (size_t b = 0; b < sizeof(benches) / sizeof(benches[0]); b++) {
		const struct bench *bn = &benches[b];
		struct wf_runtime_opts o = { .workers = (unsigned)workers };
		double *per_op, extra = -1, min;
		wf_runtime *rt;
		int r;

		if (!selected(bn->name, pats, npats))
			continue;
		if (list) {
			printf("%s\n", bn->name);
			continue;
		}
		if (bn->current_thread)
			o = (struct wf_runtime_opts){ .flavor = WF_CURRENT_THREAD };
		r = wf_runtime_new(&rt, &o);
		if (r)
			die("runtime", r);
		per_op = calloc((size_t)iters, sizeof(*per_op));
		bn->run(rt, &extra);	/* warm-up, untimed; takes the memory figure */
		for (long i = 0; i < iters; i++)
			per_op[i] = bn->run(rt, NULL) / (double)bn->ops;
		wf_runtime_free(rt);
		qsort(per_op, (size_t)iters, sizeof(*per_op), cmp_double);
		min = per_op[0];
		printf("{\"bench\":\"%s\",\"impl\":\"weft\",\"ns_per_op\":%.1f,\"ops\":%ld,"
		       "\"workers\":%ld,\"iters\":%ld,\"stat\":\"median\",\"min_ns_per_op\":%.1f",
		       bn->name,
		       iters % 2 ? per_op[iters / 2] : (per_op[iters / 2 - 1] + per_op[iters / 2]) / 2,
		       bn->ops, bn->current_thread ? 1 : workers, iters, min);
		if (extra >= 0)
			printf(",\"bytes_per_task\":%.0f", extra);
		printf("}\n");
		fflush(stdout);
		free(per_op);
	}
	free(pats);
	return 0;
}
