// SPDX-License-Identifier: MIT
/*
 * clock.c - CLOCK_MONOTONIC nanoseconds, cheaply.
 *
 * The scheduler reads the clock once per poll (poll duration, scheduled
 * delay, the registry's poll start). A vDSO clock_gettime() costs 20-60 ns
 * depending on the machine (54 ns on the KVM guests weft is benchmarked
 * on); the CPU's counter costs a third of that. So where the counter is
 * invariant (x86-64 with constant_tsc and nonstop_tsc; the AArch64
 * virtual counter always is), weft converts counter ticks to
 * CLOCK_MONOTONIC nanoseconds itself:
 *
 *	ns = anchor_ns + ((ticks - anchor_ticks) * mult) >> 32
 *
 * mult comes from two (ticks, ns) samples taken as far apart as the
 * process has lived, and the anchor is refreshed (wf__clock_resync, called
 * when a worker parks) at most every 50 ms, so the error against
 * clock_gettime() stays in the microsecond range and times still compare
 * with bpf_ktime_get_ns(). Readers see (anchor_ticks, anchor_ns, mult)
 * through a sequence count. Elsewhere, and when WEFT_CLOCK=vdso is set in
 * the environment, wf__now() is clock_gettime() itself.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RESYNC_NS (50ull * 1000 * 1000)

static struct {
	_Atomic uint32_t seq;
	_Atomic uint64_t ticks, ns, mult;
	_Atomic int mode;		/* 0: not set up, 1: counter, 2: vDSO */
	uint64_t base_ticks, base_ns;	/* first sample, for mult */
	pthread_mutex_t lock;		/* resync writers */
} clk = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t vdso_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t counter(void)
{
#if defined(__x86_64__)
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
#elif defined(__aarch64__)
	uint64_t v;

	__asm__ volatile("mrs %0, cntvct_el0" : "=r"(v));
	return v;
#else
	return 0;
#endif
}

static bool counter_usable(void)
{
	const char *env = getenv("WEFT_CLOCK");

	if (env && strcmp(env, "vdso") == 0)
		return false;
#if defined(__x86_64__)
	{
		char line[4096];
		bool c = false, n = false;
		FILE *f = fopen("/proc/cpuinfo", "r");

		if (!f)
			return false;
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "flags", 5))
				continue;
			c = strstr(line, " constant_tsc") != NULL;
			n = strstr(line, " nonstop_tsc") != NULL;
			break;
		}
		fclose(f);
		return c && n;
	}
#elif defined(__aarch64__)
	return true;
#else
	return false;
#endif
}

/* A (ticks, ns) pair read as close together as we can manage. */
static void sample(uint64_t *ticks, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 3; i++) {
		uint64_t t0 = counter(), n = vdso_ns(), t1 = counter();

		if (t1 - t0 < best) {
			best = t1 - t0;
			*ticks = t0 + (t1 - t0) / 2;
			*ns = n;
		}
	}
}

static void publish(uint64_t ticks, uint64_t ns, uint64_t mult)
{
	uint32_t s = atomic_load_explicit(&clk.seq, memory_order_relaxed);

	/*
	 * Sequence count with acquire/release only (no fences, so TSan
	 * follows it): the release stores of the fields order the odd count
	 * before them; the final release orders them before the even count.
	 */
	atomic_store_explicit(&clk.seq, s + 1, memory_order_relaxed);
	atomic_store_explicit(&clk.ticks, ticks, memory_order_release);
	atomic_store_explicit(&clk.ns, ns, memory_order_release);
	atomic_store_explicit(&clk.mult, mult, memory_order_release);
	atomic_store_explicit(&clk.seq, s + 2, memory_order_release);
}

/* Called once, before the first runtime exists (wf_runtime_new). */
void wf__clock_init(void)
{
	uint64_t t1, n1;

	pthread_mutex_lock(&clk.lock);
	if (atomic_load(&clk.mode)) {
		pthread_mutex_unlock(&clk.lock);
		return;
	}
	if (!counter_usable()) {
		atomic_store(&clk.mode, 2);
		pthread_mutex_unlock(&clk.lock);
		return;
	}
	sample(&clk.base_ticks, &clk.base_ns);
	/* 1 ms apart for a first estimate; resyncs refine it. */
	do
		sample(&t1, &n1);
	while (n1 - clk.base_ns < 1000000ull);
	if (t1 <= clk.base_ticks) {
		atomic_store(&clk.mode, 2);
		pthread_mutex_unlock(&clk.lock);
		return;
	}
	publish(t1, n1, (uint64_t)(((__uint128_t)(n1 - clk.base_ns) << 32) / (t1 - clk.base_ticks)));
	atomic_store(&clk.mode, 1);
	pthread_mutex_unlock(&clk.lock);
}

/* Refresh the anchor and the rate if the last refresh is old enough. */
void wf__clock_resync(void)
{
	uint64_t t, n;

	if (atomic_load_explicit(&clk.mode, memory_order_relaxed) != 1)
		return;
	if (wf__now() - atomic_load_explicit(&clk.ns, memory_order_relaxed) < RESYNC_NS)
		return;
	if (pthread_mutex_trylock(&clk.lock))
		return;
	sample(&t, &n);
	if (t > clk.base_ticks && n > clk.base_ns)
		publish(t, n,
			(uint64_t)(((__uint128_t)(n - clk.base_ns) << 32) / (t - clk.base_ticks)));
	pthread_mutex_unlock(&clk.lock);
}

uint64_t wf__now(void)
{
	uint32_t s0, s1;
	uint64_t t, a, n, m;

	if (atomic_load_explicit(&clk.mode, memory_order_relaxed) != 1)
		return vdso_ns();
	do {
		s0 = atomic_load_explicit(&clk.seq, memory_order_acquire);
		a = atomic_load_explicit(&clk.ticks, memory_order_acquire);
		n = atomic_load_explicit(&clk.ns, memory_order_acquire);
		m = atomic_load_explicit(&clk.mult, memory_order_acquire);
		s1 = atomic_load_explicit(&clk.seq, memory_order_relaxed);
	} while (s0 != s1 || (s0 & 1));
	t = counter();
	/* A counter read a little before the anchor (another CPU) clamps. */
	if (t <= a)
		return n;
	return n + (uint64_t)(((__uint128_t)(t - a) * m) >> 32);
}
