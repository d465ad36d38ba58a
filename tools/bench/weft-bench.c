// SPDX-License-Identifier: MIT
/*
 * weft-bench - weft's side of the runtime benchmarks (docs/benchmarks.md).
 *
 * Usage: weft-bench [--workers N] [--iters K] [--wait-signal] [--list] [PATTERN...]
 *
 * The same workloads, parameters, flags and output as the Tokio peer in
 * tools/bench/tokio/src/main.rs: one JSON object per bench on stdout,
 *   {"bench":"yield_many","impl":"weft","ns_per_op":..,"ops":..,
 *    "workers":..,"iters":..,"stat":"median","min_ns_per_op":..}
 * ("impl":"weft-nometrics" when built with CONFIG_WEFT_METRICS=n).
 * ns_per_op is the median over K timed iterations after one untimed
 * warm-up. The runtime is created before timing and freed after; the clock
 * stops when the main thread (outside the runtime) sees the last
 * completion through a countdown latch (atomic counter + mutex/condvar),
 * the same mechanism on both sides. stall_compensation is a latency bench
 * with lines of its own (two: compensation off and on; see below), and so
 * is stall_detect (one per stall source).
 *
 * --wait-signal is for tools/bench/weftstat_overhead: after each bench's
 * warm-up, with its runtime and workers up, the program says so on stderr
 * ("weft-bench: BENCH warmed up, pid P: waiting for SIGUSR1") and waits
 * for SIGUSR1 before the timed iterations, so that a tracer can attach to
 * a live runtime first; after its result line it waits again ("BENCH
 * timed, ..."), so that the tracer can be read and stopped before the
 * process exits. Benches that run on their own (report) do not wait.
 */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weft.h>

/* The runtime's own switch primitive, for raw_switch (runtime/src/ctx.h). */
#include "ctx.h"

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
#define SEED_OPS 10000
#define SEED_WAIT_NS (1000ull * 1000)
#define MAP_KEYS 1024
#define MAP_SLOTS 2048		/* power of two, load factor 1/2 */
#define MAP_CALLERS 64
#define MAP_OPS_PER_CALLER 2000
#define MAP_WRITE_PCT 10
#define MAP_ACTOR_CAP 128
#define DEFAULT_ITERS 50

/*
 * "weft" with the default configuration; a build with
 * CONFIG_WEFT_METRICS=n (tools/bench/run builds one for metrics_cost)
 * names itself so that its lines can never pass for the default's.
 */
#ifdef CONFIG_WEFT_METRICS
#define IMPL "weft"
#else
#define IMPL "weft-nometrics"
#endif

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

/*
 * *arg lives on the ping side's stack, which is gone as soon as the pong
 * is received (on another worker, maybe before this task runs again):
 * take the pointers first.
 */
static void *pong_side(void *arg)
{
	const struct pp *p = arg;
	wf_oneshot *ping = p->ping, *pong = p->pong;
	char c;

	wf_oneshot_recv(ping, &c);
	wf_oneshot_drop_receiver(ping);
	wf_oneshot_send(pong, &c);
	wf_oneshot_drop_sender(pong);
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

/*
 * raw_switch: the context switch primitive alone (wf__ctx_switch, the
 * assembly every task switch goes through), with no scheduler around it:
 * main and one coroutine on a stack of its own switch to each other
 * CTX_SWITCHES / 2 times each. ns_per_op is per one-way switch. ctx_switch
 * above is the same count of switches through the whole scheduler (a
 * yield: queue, clock read, metrics, registry).
 */
static void *raw_main_sp, *raw_co_sp;

static void raw_co(void *arg)
{
	(void)arg;
	for (;;)
		wf__ctx_switch(&raw_co_sp, raw_main_sp);
}

static double raw_switch(wf_runtime *rt, double *extra)
{
	static char stack[64 * 1024] __attribute__((aligned(64)));
	uint64_t t0;

	(void)rt;
	(void)extra;
	raw_co_sp = wf__ctx_init(stack + sizeof(stack), raw_co, NULL);
	t0 = wf_now_ns();
	for (int i = 0; i < CTX_SWITCHES / 2; i++)
		wf__ctx_switch(&raw_main_sp, raw_co_sp);
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

/*
 * seed_spawn_each: a root task spawns SEED_OPS tasks; each sleeps 1 ms
 * (its own runtime timer), then counts down. ns per operation, the 1 ms
 * wait included (the seed's "one spawned task per item").
 */
static void *seed_sleeper(void *arg)
{
	wf_sleep_ns(SEED_WAIT_NS);
	cd_hit(arg);
	return NULL;
}

static void *seed_spawn_root(void *arg)
{
	for (int i = 0; i < SEED_OPS; i++)
		if (wf_spawn(NULL, seed_sleeper, arg))
			die("spawn", -ENOMEM);
	return NULL;
}

static double seed_spawn_each(wf_runtime *rt, double *extra)
{
	struct countdown cd;
	uint64_t t0;

	cd_init(&cd, SEED_OPS);
	t0 = wf_now_ns();
	spawn_on(rt, seed_spawn_root, &cd);
	cd_wait(&cd);
	return (double)(wf_now_ns() - t0);
}

/*
 * seed_one_task: ONE task drives SEED_OPS concurrent 1 ms waits without a
 * spawn per item. Each operation starts with its own deadline (clock read
 * + 1 ms) in a queue the task owns; the task then sleeps until the
 * earliest pending deadline and completes every operation that is due,
 * until none is left: a delay queue, one runtime timer at a time. The
 * deadlines are taken in order from a monotonic clock, so the queue is a
 * FIFO. weft has no call yet by which one task keeps many runtime waits in
 * flight (wf_select arms one timer, for its earliest case); the I/O issue
 * brings a batch API. The Tokio peer runs the same code.
 */
static uint64_t seed_deadline[SEED_OPS];
static uint64_t seed_done[SEED_OPS];

static void *seed_one_root(void *arg)
{
	int head = 0;

	for (int i = 0; i < SEED_OPS; i++)
		seed_deadline[i] = wf_now_ns() + SEED_WAIT_NS;
	while (head < SEED_OPS) {
		uint64_t now = wf_now_ns();

		while (head < SEED_OPS && seed_deadline[head] <= now) {
			seed_done[head] = now;
			head++;
		}
		if (head < SEED_OPS)
			wf_sleep_until(seed_deadline[head]);
	}
	cd_hit(arg);
	return NULL;
}

static double seed_one_task(wf_runtime *rt, double *extra)
{
	struct countdown cd;
	uint64_t t0;

	cd_init(&cd, 1);
	t0 = wf_now_ns();
	spawn_on(rt, seed_one_root, &cd);
	cd_wait(&cd);
	return (double)(wf_now_ns() - t0);
}

/*
 * The map benches: a u64 -> u64 open-addressing hash map (linear probing,
 * MAP_SLOTS slots, MAP_KEYS keys, all present), the same code as the Tokio
 * peer's, shared by MAP_CALLERS tasks doing MAP_OPS_PER_CALLER operations
 * each: a xorshift64* stream seeded by the caller's index picks the key
 * and, MAP_WRITE_PCT times in 100, a write instead of a read.
 */
struct map {
	uint64_t key[MAP_SLOTS];	/* key + 1; 0: empty */
	uint64_t val[MAP_SLOTS];
};

static unsigned map_slot(uint64_t k)
{
	return (unsigned)((k * 0x9E3779B97F4A7C15ull) >> 53) & (MAP_SLOTS - 1);
}

static int map_get(const struct map *m, uint64_t k, uint64_t *v)
{
	for (unsigned i = map_slot(k);; i = (i + 1) & (MAP_SLOTS - 1)) {
		if (m->key[i] == k + 1) {
			*v = m->val[i];
			return 1;
		}
		if (!m->key[i])
			return 0;
	}
}

static void map_put(struct map *m, uint64_t k, uint64_t v)
{
	for (unsigned i = map_slot(k);; i = (i + 1) & (MAP_SLOTS - 1)) {
		if (m->key[i] == k + 1 || !m->key[i]) {
			m->key[i] = k + 1;
			m->val[i] = v;
			return;
		}
	}
}

static void map_fill(struct map *m)
{
	memset(m, 0, sizeof(*m));
	for (uint64_t k = 0; k < MAP_KEYS; k++)
		map_put(m, k, k);
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static uint64_t rng_seed(long caller)
{
	return ((uint64_t)caller + 1) * 0x9E3779B97F4A7C15ull;
}

static int rng_is_write(uint64_t r)
{
	return (r >> 32) % 100 < MAP_WRITE_PCT;
}

/* Sum of the values read, kept so that no read can be optimised away. */
static _Atomic uint64_t map_sink;

enum map_kind { MAP_ACTOR, MAP_TASK_MUTEX, MAP_OS_MUTEX };

struct map_req {
	uint64_t key, val;
	wf_oneshot *reply;	/* NULL: a write, no reply */
};

struct map_shared {
	enum map_kind kind;
	struct map map;
	wf_chan *ch;		/* MAP_ACTOR */
	wf_mutex mu;		/* MAP_TASK_MUTEX */
	pthread_mutex_t os_mu;	/* MAP_OS_MUTEX */
	struct countdown *cd;
};

struct map_caller {
	struct map_shared *sh;
	long index;
};

static struct map_caller map_callers[MAP_CALLERS];

/* The actor owns the map: the only task that touches it. */
static void *map_actor_task(void *arg)
{
	struct map_shared *sh = arg;
	struct map_req req;

	while (wf_chan_recv(sh->ch, &req) == 0) {
		if (!req.reply) {
			map_put(&sh->map, req.key, req.val);
		} else {
			uint64_t v;

			if (!map_get(&sh->map, req.key, &v))
				v = UINT64_MAX;
			wf_oneshot_send(req.reply, &v);
			wf_oneshot_drop_sender(req.reply);
		}
	}
	return NULL;
}

static void *map_caller_task(void *arg)
{
	struct map_caller *c = arg;
	struct map_shared *sh = c->sh;
	uint64_t s = rng_seed(c->index), sum = 0, v = 0;

	for (int i = 0; i < MAP_OPS_PER_CALLER; i++) {
		uint64_t r = rng_next(&s), k = r % MAP_KEYS;
		int w = rng_is_write(r);

		switch (sh->kind) {
		case MAP_ACTOR:
			if (w) {
				struct map_req req = { .key = k, .val = (uint64_t)i };

				if (wf_chan_send(sh->ch, &req))
					die("map_actor send", -EPIPE);
			} else {
				struct map_req req = { .key = k };

				if (wf_oneshot_new(&req.reply, sizeof(uint64_t)))
					die("oneshot", -ENOMEM);
				if (wf_chan_send(sh->ch, &req))
					die("map_actor send", -EPIPE);
				if (wf_oneshot_recv(req.reply, &v))
					die("map_actor reply", -EPIPE);
				wf_oneshot_drop_receiver(req.reply);
				sum += v;
			}
			break;
		case MAP_TASK_MUTEX:
			wf_mutex_lock(&sh->mu);
			if (w)
				map_put(&sh->map, k, (uint64_t)i);
			else if (map_get(&sh->map, k, &v))
				sum += v;
			wf_mutex_unlock(&sh->mu);
			break;
		case MAP_OS_MUTEX:
			pthread_mutex_lock(&sh->os_mu);
			if (w)
				map_put(&sh->map, k, (uint64_t)i);
			else if (map_get(&sh->map, k, &v))
				sum += v;
			pthread_mutex_unlock(&sh->os_mu);
			break;
		}
	}
	atomic_fetch_add_explicit(&map_sink, sum, memory_order_relaxed);
	return NULL;
}

static void *map_root(void *arg)
{
	struct map_shared *sh = arg;
	wf_task *callers[MAP_CALLERS], *actor = NULL;

	if (sh->kind == MAP_ACTOR) {
		if (wf_chan_new(&sh->ch, sizeof(struct map_req), MAP_ACTOR_CAP))
			die("chan", -ENOMEM);
		if (wf_spawn(&actor, map_actor_task, sh))
			die("spawn", -ENOMEM);
	}
	for (long i = 0; i < MAP_CALLERS; i++) {
		map_callers[i] = (struct map_caller){ .sh = sh, .index = i };
		if (wf_spawn(&callers[i], map_caller_task, &map_callers[i]))
			die("spawn", -ENOMEM);
	}
	for (int i = 0; i < MAP_CALLERS; i++)
		wf_join(callers[i], NULL);
	if (actor) {
		/* The actor drains what is queued (writes), then sees -EPIPE. */
		wf_chan_close(sh->ch);
		wf_join(actor, NULL);
		wf_chan_free(sh->ch);
	}
	cd_hit(sh->cd);
	return NULL;
}

static struct map_shared map_sh;

static double map_run(wf_runtime *rt, enum map_kind kind)
{
	struct countdown cd;
	pthread_mutexattr_t ma;
	uint64_t t0;

	map_sh.kind = kind;
	map_sh.cd = &cd;
	map_fill(&map_sh.map);
	wf_mutex_init(&map_sh.mu);
	/*
	 * Adaptive: spin a little before sleeping in the kernel, as Rust's
	 * std::sync::Mutex (the Tokio peer's) does; glibc's default kind
	 * sleeps at once.
	 */
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(&map_sh.os_mu, &ma);
	pthread_mutexattr_destroy(&ma);
	cd_init(&cd, 1);
	t0 = wf_now_ns();
	spawn_on(rt, map_root, &map_sh);
	cd_wait(&cd);
	t0 = wf_now_ns() - t0;
	pthread_mutex_destroy(&map_sh.os_mu);
	wf_mutex_destroy(&map_sh.mu);
	return (double)t0;
}

static double map_actor(wf_runtime *rt, double *extra)
{
	return map_run(rt, MAP_ACTOR);
}

static double map_task_mutex(wf_runtime *rt, double *extra)
{
	return map_run(rt, MAP_TASK_MUTEX);
}

static double map_os_mutex(wf_runtime *rt, double *extra)
{
	return map_run(rt, MAP_OS_MUTEX);
}

/*
 * stall_compensation: STALL_TASKS tasks each due every 1 ms (a fixed
 * schedule: the k-th wake-up is due at start + k ms) and one task that
 * calls usleep(STALL_BLOCK_US) inside its poll once a second, at 0.4 s
 * and 1.4 s of a STALL_RUN_MS run. Every due time of every ticker is one
 * sample of scheduled delay: when a ticker wakes at t, each of its due
 * times <= t counts t - due (the wake-ups a stall swallowed count too,
 * with the delay they really had: no coordinated omission). Run twice
 * in the same process, with stall compensation off and on; the Tokio
 * peer runs the same workload with std::thread::sleep. Reports
 * p50/p99/max; ns_per_op is the p99 (docs/benchmarks.md).
 */
#define STALL_TASKS 1000
#define STALL_RUN_MS 2400
#define STALL_BLOCK_US 200000
#define LAT_BUCKET_NS 10000ull		/* 10 us buckets */
#define LAT_BUCKETS 100000		/* up to 1 s; the last takes the rest */

struct stall_run {
	_Atomic int stop;
	uint64_t t0;
	_Atomic uint64_t max_ns, samples, stalls;
	_Atomic uint64_t hist[LAT_BUCKETS];
	struct countdown cd;
};

static void stall_record(struct stall_run *s, uint64_t d)
{
	uint64_t b = d / LAT_BUCKET_NS, m = atomic_load_explicit(&s->max_ns, memory_order_relaxed);

	atomic_fetch_add_explicit(&s->hist[b < LAT_BUCKETS ? b : LAT_BUCKETS - 1], 1,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&s->samples, 1, memory_order_relaxed);
	while (d > m && !atomic_compare_exchange_weak_explicit(&s->max_ns, &m, d,
							       memory_order_relaxed,
							       memory_order_relaxed))
		;
}

static void *stall_ticker(void *arg)
{
	struct stall_run *s = arg;
	uint64_t due = s->t0 + WF_NSEC_PER_MSEC;

	while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
		uint64_t now;

		wf_sleep_until(due);
		now = wf_now_ns();
		while (due <= now) {
			stall_record(s, now - due);
			due += WF_NSEC_PER_MSEC;
		}
	}
	cd_hit(&s->cd);
	return NULL;
}

static void *stall_blocker(void *arg)
{
	struct stall_run *s = arg;

	for (uint64_t at = 400; at + STALL_BLOCK_US / 1000 < STALL_RUN_MS; at += 1000) {
		wf_sleep_until(s->t0 + at * WF_NSEC_PER_MSEC);
		usleep(STALL_BLOCK_US);		/* blocks its worker on purpose */
		atomic_fetch_add(&s->stalls, 1);
	}
	cd_hit(&s->cd);
	return NULL;
}

static uint64_t stall_pct(struct stall_run *s, double q)
{
	uint64_t n = atomic_load(&s->samples), want = (uint64_t)(q * (double)n), seen = 0;

	for (unsigned b = 0; b < LAT_BUCKETS; b++) {
		seen += atomic_load(&s->hist[b]);
		if (seen > want)
			return (b + 1) * LAT_BUCKET_NS;	/* upper bound of the bucket */
	}
	return atomic_load(&s->max_ns);
}

static void stall_compensation(long workers, long iters)
{
	static const struct {
		int mode;
		const char *impl;
	} modes[] = { { WF_STALL_OFF, "weft-stall-off" }, { WF_STALL_ON, "weft" } };

	(void)iters;	/* one run per mode: a latency distribution, not a median */
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct wf_runtime_opts o = { .workers = (unsigned)workers,
					     .stall_compensation = modes[i].mode };
		struct stall_run *s = calloc(1, sizeof(*s));
		struct wf_spawn_opts so = { .name = "blocker" };
		struct wf_metrics *m = NULL;
		uint64_t handoffs = 0;
		char source[8] = "none";
		wf_runtime *rt;
		int r;

		if (!s)
			die("stall", -ENOMEM);
		r = wf_runtime_new(&rt, &o);
		if (r)
			die("runtime", r);
		cd_init(&s->cd, STALL_TASKS + 1);
		s->t0 = wf_now_ns();
		for (int k = 0; k < STALL_TASKS; k++)
			spawn_on(rt, stall_ticker, s);
		so.rt = rt;
		r = wf_spawn_opts(NULL, stall_blocker, s, &so);
		if (r)
			die("spawn", r);
		usleep(STALL_RUN_MS * 1000);
		atomic_store(&s->stop, 1);
		cd_wait(&s->cd);
		if (wf_metrics_snapshot(rt, &m) == 0) {
			for (unsigned w = 0; w < m->nworkers; w++)
				handoffs += m->workers[w].handoffs;
			snprintf(source, sizeof(source), "%s", m->stall_source);
			wf_metrics_free(m);
		}
		wf_runtime_free(rt);
		printf("{\"bench\":\"stall_compensation\",\"impl\":\"%s\",\"ns_per_op\":%llu,"
		       "\"ops\":%d,\"workers\":%ld,\"iters\":1,\"stat\":\"p99 scheduled delay\","
		       "\"stall_compensation\":\"%s\",\"p50_ns\":%llu,\"p99_ns\":%llu,"
		       "\"max_ns\":%llu,\"samples\":%llu,\"stalls\":%llu,\"handoffs\":%llu,"
		       "\"stall_source\":\"%s\"}\n",
		       modes[i].impl, (unsigned long long)stall_pct(s, 0.99), STALL_TASKS, workers,
		       modes[i].mode == WF_STALL_ON ? "on" : "off",
		       (unsigned long long)stall_pct(s, 0.50), (unsigned long long)stall_pct(s, 0.99),
		       (unsigned long long)atomic_load(&s->max_ns),
		       (unsigned long long)atomic_load(&s->samples),
		       (unsigned long long)atomic_load(&s->stalls), (unsigned long long)handoffs,
		       source);
		fflush(stdout);
		free(s);
	}
}

/*
 * monitor_overhead: the CPU time of the runtime's monitor thread (stall
 * compensation's watcher, monitor.c) when nothing is stuck, over
 * MONITOR_RUN_MS of wall time: idle (no task at all) and busy (STALL_TASKS
 * tasks due every 1 ms, short polls, the cadence the monitor runs fastest
 * at without a long poll). Read from /proc/self/task/TID/schedstat of the
 * thread named "weft-monitor". ns_per_op: monitor CPU ns per second of wall
 * time (10,000,000 = 1% of a core); the target is under 0.1%.
 */
#define MONITOR_RUN_MS 2000

static pid_t monitor_tid(void)
{
	char path[300], comm[32];
	struct dirent *d;
	pid_t tid = 0;
	DIR *dir = opendir("/proc/self/task");

	if (!dir)
		return 0;
	while (!tid && (d = readdir(dir))) {
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strncmp(comm, "weft-monitor", 12))
			tid = (pid_t)atoi(d->d_name);
		fclose(f);
	}
	closedir(dir);
	return tid;
}

/* CPU time of a thread (ns) and, in *runs, how many times it got a CPU. */
static uint64_t thread_cpu_ns(pid_t tid, uint64_t *runs)
{
	char path[64];
	unsigned long long ns = 0, wait, n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", (int)tid);
	*runs = 0;
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu %llu", &ns, &wait, &n) != 3)
		ns = n = 0;
	fclose(f);
	*runs = n;
	return ns;
}

static void monitor_overhead(long workers, long iters)
{
	(void)iters;
	for (int busy = 0; busy < 2; busy++) {
		struct wf_runtime_opts o = { .workers = (unsigned)workers,
					     .stall_compensation = WF_STALL_ON };
		struct stall_run *s = calloc(1, sizeof(*s));
		uint64_t c0, c1, t0, t1, n0, n1;
		wf_runtime *rt;
		pid_t tid;
		int r;

		if (!s)
			die("monitor", -ENOMEM);
		r = wf_runtime_new(&rt, &o);
		if (r)
			die("runtime", r);
		cd_init(&s->cd, STALL_TASKS);
		s->t0 = wf_now_ns();
		for (int k = 0; busy && k < STALL_TASKS; k++)
			spawn_on(rt, stall_ticker, s);
		usleep(100 * 1000);	/* let it settle: tasks started, monitor cadence */
		tid = monitor_tid();
		if (!tid) {
			fprintf(stderr, "weft-bench: monitor_overhead: no weft-monitor thread "
					"(one worker, or stall compensation off)\n");
			atomic_store(&s->stop, 1);
			if (busy)
				cd_wait(&s->cd);
			wf_runtime_free(rt);
			free(s);
			return;
		}
		c0 = thread_cpu_ns(tid, &n0);
		t0 = wf_now_ns();
		usleep(MONITOR_RUN_MS * 1000);
		c1 = thread_cpu_ns(tid, &n1);
		t1 = wf_now_ns();
		atomic_store(&s->stop, 1);
		if (busy)
			cd_wait(&s->cd);
		wf_runtime_free(rt);
		printf("{\"bench\":\"monitor_overhead\",\"impl\":\"%s\",\"ns_per_op\":%.0f,"
		       "\"ops\":1,\"workers\":%ld,\"iters\":1,"
		       "\"stat\":\"monitor CPU ns per wall second\",\"cpu_pct\":%.4f,"
		       "\"tasks\":%d,\"wakeups_per_s\":%.1f,\"ns_per_wakeup\":%.0f}\n",
		       busy ? "weft" : "weft-idle",
		       (double)(c1 - c0) * 1e9 / (double)(t1 - t0), workers,
		       (double)(c1 - c0) * 100.0 / (double)(t1 - t0), busy ? STALL_TASKS : 0,
		       (double)(n1 - n0) * 1e9 / (double)(t1 - t0),
		       n1 > n0 ? (double)(c1 - c0) / (double)(n1 - n0) : 0.0);
		fflush(stdout);
		free(s);
	}
}

/*
 * stall_detect: how soon a poll that blocks is noticed and handed over,
 * per stall source (docs/stall.md). One worker; a task spawns a witness
 * (queued behind it on the same worker), notes the time and calls
 * usleep(DETECT_BLOCK_US) inside its poll. The witness runs only once the
 * monitor has seen the block and handed the worker's core to a spare:
 * the latency is from the usleep() to the witness's first instruction,
 * and holds the off-CPU threshold (CONFIG_WEFT_STALL_BLOCKED_US) plus the
 * detection and the hand-off. DETECT_ROUNDS rounds per source, 5 ms
 * apart; ns_per_op is the median, p90 and max are extra fields. The BPF
 * row is left out, with a note on stderr, where the source is not built
 * in or cannot load (stall_bpf_error says why).
 */
#define DETECT_ROUNDS 20
#define DETECT_BLOCK_US 20000

struct detect_round {
	uint64_t blocked_at, resumed_at;
};

static void *detect_witness(void *arg)
{
	struct detect_round *d = arg;

	d->resumed_at = wf_now_ns();
	return NULL;
}

static void *detect_blocker(void *arg)
{
	struct detect_round *d = arg;
	wf_task *w;

	if (wf_spawn_named(&w, "witness", detect_witness, d))
		return (void *)1L;
	d->blocked_at = wf_now_ns();
	usleep(DETECT_BLOCK_US);	/* blocks its worker on purpose */
	wf_join(w, NULL);
	return NULL;
}

static void *detect_root(void *arg)
{
	struct detect_round *d = arg;

	for (int i = 0; i < DETECT_ROUNDS; i++) {
		wf_task *t;
		void *r;

		if (wf_spawn_named(&t, "blocker", detect_blocker, &d[i]))
			return (void *)1L;
		wf_join(t, &r);
		if (r)
			return r;
		wf_sleep_ns(5 * WF_NSEC_PER_MSEC);
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void stall_detect(long workers, long iters)
{
	static const struct {
		int source;
		const char *impl, *name;
	} srcs[] = { { WF_STALL_SOURCE_BPF, "weft-bpf", "bpf" },
		     { WF_STALL_SOURCE_PROC, "weft-proc", "proc" } };

	(void)workers;	/* one worker: the witness must wait for the hand-off */
	(void)iters;
	for (size_t i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++) {
		struct wf_runtime_opts o = { .workers = 1, .stall_compensation = WF_STALL_ON,
					     .stall_source = srcs[i].source };
		struct detect_round d[DETECT_ROUNDS] = { { 0 } };
		uint64_t v[DETECT_ROUNDS], handoffs = 0;
		struct wf_metrics *m = NULL;
		wf_runtime *rt;
		void *res;
		int r, err;

		r = wf_runtime_new(&rt, &o);
		if (r)
			die("runtime", r);
		if (wf_metrics_snapshot(rt, &m))
			die("metrics", -ENOMEM);
		err = strcmp(m->stall_source, srcs[i].name) ? m->stall_bpf_error : 0;
		wf_metrics_free(m);
		if (err) {
			fprintf(stderr, "weft-bench: stall_detect: no %s row: the BPF stall source "
					"is %s\n", srcs[i].impl,
				err == -EOPNOTSUPP ? "not built in (CONFIG_WEFT_STALL_BPF)"
						   : strerror(-err));
			wf_runtime_free(rt);
			continue;
		}
		r = wf_block_on(rt, detect_root, d, &res);
		if (r || res)
			die("stall_detect", r ? r : -EIO);
		if (wf_metrics_snapshot(rt, &m) == 0) {
			for (unsigned w = 0; w < m->nworkers; w++)
				handoffs += m->workers[w].handoffs;
			wf_metrics_free(m);
		}
		wf_runtime_free(rt);
		for (int k = 0; k < DETECT_ROUNDS; k++)
			v[k] = d[k].resumed_at > d[k].blocked_at ? d[k].resumed_at - d[k].blocked_at
								 : 0;
		qsort(v, DETECT_ROUNDS, sizeof(v[0]), cmp_u64);
		printf("{\"bench\":\"stall_detect\",\"impl\":\"%s\",\"ns_per_op\":%llu,"
		       "\"ops\":%d,\"workers\":1,\"iters\":1,"
		       "\"stat\":\"median block-to-hand-off\",\"stall_source\":\"%s\","
		       "\"p90_ns\":%llu,\"max_ns\":%llu,\"handoffs\":%llu}\n",
		       srcs[i].impl, (unsigned long long)v[DETECT_ROUNDS / 2], DETECT_ROUNDS,
		       srcs[i].name, (unsigned long long)v[DETECT_ROUNDS * 9 / 10],
		       (unsigned long long)v[DETECT_ROUNDS - 1], (unsigned long long)handoffs);
		fflush(stdout);
	}
}

/* --- driver --------------------------------------------------------------------- */

struct bench {
	const char *name;
	long ops;
	int current_thread;
	double (*run)(wf_runtime *rt, double *extra);
	/* A bench that runs and prints on its own (not ns per op). */
	void (*report)(long workers, long iters);
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
	{ "raw_switch", CTX_SWITCHES, 1, raw_switch },
	{ "seed_spawn_each", SEED_OPS, 0, seed_spawn_each },
	{ "seed_one_task", SEED_OPS, 0, seed_one_task },
	{ "map_actor", MAP_CALLERS * MAP_OPS_PER_CALLER, 0, map_actor },
	{ "map_task_mutex", MAP_CALLERS * MAP_OPS_PER_CALLER, 0, map_task_mutex },
	{ "map_os_mutex", MAP_CALLERS * MAP_OPS_PER_CALLER, 0, map_os_mutex },
	{ "stall_compensation", STALL_TASKS, 0, NULL, stall_compensation },
	{ "monitor_overhead", 1, 0, NULL, monitor_overhead },
	{ "stall_detect", DETECT_ROUNDS, 0, NULL, stall_detect },
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

/*
 * --wait-signal: SIGUSR1 is blocked in main before any runtime exists, so
 * every worker inherits the mask and the signal can only be taken here.
 */
static void wait_for_signal(const char *name, const char *what)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	fprintf(stderr, "weft-bench: %s %s, pid %d: waiting for SIGUSR1\n", name, what,
		(int)getpid());
	while (sigwait(&set, &sig) != 0 || sig != SIGUSR1)
		;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: weft-bench [--workers N] [--iters K] [--wait-signal] [--list] "
		   "[PATTERN...]\n"
		   "  --workers N  worker threads of the multi-thread runtime (default: CPUs)\n"
		   "  --iters K    timed iterations per bench, median reported (default 50)\n"
		   "  --wait-signal  after each warm-up, wait for SIGUSR1 before timing\n"
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
	int npats = 0, list = 0, hold = 0;

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
		else if (!strcmp(a, "--wait-signal"))
			hold = 1;
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

	if (hold) {
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
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
		if (bn->report) {
			bn->report(workers, iters);
			continue;
		}
		if (bn->current_thread)
			o = (struct wf_runtime_opts){ .flavor = WF_CURRENT_THREAD };
		r = wf_runtime_new(&rt, &o);
		if (r)
			die("runtime", r);
		per_op = calloc((size_t)iters, sizeof(*per_op));
		bn->run(rt, &extra);	/* warm-up, untimed; takes the memory figure */
		if (hold)
			wait_for_signal(bn->name, "warmed up");
		for (long i = 0; i < iters; i++)
			per_op[i] = bn->run(rt, NULL) / (double)bn->ops;
		wf_runtime_free(rt);
		qsort(per_op, (size_t)iters, sizeof(*per_op), cmp_double);
		min = per_op[0];
		printf("{\"bench\":\"%s\",\"impl\":\"" IMPL "\",\"ns_per_op\":%.1f,\"ops\":%ld,"
		       "\"workers\":%ld,\"iters\":%ld,\"stat\":\"median\",\"min_ns_per_op\":%.1f",
		       bn->name,
		       iters % 2 ? per_op[iters / 2] : (per_op[iters / 2 - 1] + per_op[iters / 2]) / 2,
		       bn->ops, bn->current_thread ? 1 : workers, iters, min);
		if (extra >= 0)
			printf(",\"bytes_per_task\":%.0f", extra);
		printf("}\n");
		fflush(stdout);
		free(per_op);
		if (hold)
			wait_for_signal(bn->name, "timed");
	}
	free(pats);
	return 0;
}
