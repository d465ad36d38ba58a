/* SPDX-License-Identifier: MIT */
/*
 * victim.h - what the victim programs that tracer tests attach to share
 * (tests/runtime/victim_registry.c, tests/tools/weftstat*_victim.c): a
 * clock, a CPU spin, and the start-up that makes a victim die with its
 * test and leave SIGINT/SIGTERM to its own sigwait().
 */
#ifndef WEFT_TESTS_VICTIM_H
#define WEFT_TESTS_VICTIM_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void spin_us(unsigned us)
{
	uint64_t end = mono_ns() + us * 1000ull;

	while (mono_ns() < end)
		;
}

/*
 * Killed with the test that started it, gone after two minutes whatever
 * happens, and SIGINT/SIGTERM blocked in every thread (call it before any
 * thread starts) so that only the main thread's sigwait(@set) sees them.
 */
static inline void victim_prepare(sigset_t *set)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(120);
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

#endif /* WEFT_TESTS_VICTIM_H */
