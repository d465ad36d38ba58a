// SPDX-License-Identifier: MIT
/*
 * weftstat_threads_victim - a pthread pool, no weft, for the thread-name
 * mode of tests/tools/weftstat.sh (weftstat --threads, and the automatic
 * Tokio detection).
 *
 *	weftstat_threads_victim tokio   4 threads named "tokio-runtime-w"
 *	                                (Tokio's worker name, cut to 15 bytes);
 *	                                the first sleeps in usleep() in a loop
 *	weftstat_threads_victim pool    4 threads named "pool-worker-N"; the
 *	                                first blocks in read() on a pipe that a
 *	                                "feeder" thread writes every 20 ms; one
 *	                                more thread, "other-sleeper", sleeps
 *	                                in usleep() and is not a pool thread
 *
 * The other pool threads are healthy: they compute 200 us, then wait for
 * 2 ms on a condition variable (a futex wait: how pools idle). The planted
 * thread blocks PLANT_US (tokio: usleep; pool: until the feeder writes),
 * then waits 10 ms on the condition variable, over and over; each blocking
 * call's CLOCK_MONOTONIC start and end are recorded.
 *
 * Once running it prints "ready PID PLANT_FILE PLANT_LINE PLANT_TID". On
 * SIGTERM or SIGINT it prints one "sleep START END" line per blocking call
 * (nanoseconds) and exits 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "victim.h"

#define POOL 4
#define PLANT_US 20000
#define MAX_SLEEPS 20000

static _Atomic int stop;
static uint64_t sleep_start[MAX_SLEEPS], sleep_end[MAX_SLEEPS];
static _Atomic unsigned nsleeps;
static _Atomic int plant_line, plant_tid;
static int pipefd[2];
static int pool_mode;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

/* Idle the way pools do: a timed wait on a condition variable (futex). */
static void idle_ms(unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)ms * 1000000;
	ts.tv_sec += ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	pthread_mutex_lock(&mu);
	pthread_cond_timedwait(&cv, &mu, &ts);
	pthread_mutex_unlock(&mu);
}

static void record(uint64_t t0)
{
	unsigned i = atomic_load(&nsleeps);

	if (i < MAX_SLEEPS) {
		sleep_start[i] = t0;
		sleep_end[i] = mono_ns();
		atomic_store(&nsleeps, i + 1);
	}
}

/* The bug weftstat must find: a worker thread that sleeps. */
static __attribute__((noinline)) void planted_sleep(void)
{
	uint64_t t0 = mono_ns();

	atomic_store(&plant_line, __LINE__ + 1);
	usleep(PLANT_US);
	record(t0);
}

/* Or one that reads a pipe nobody has written yet. */
static __attribute__((noinline)) void planted_read(void)
{
	uint64_t t0 = mono_ns();
	char c;

	atomic_store(&plant_line, __LINE__ + 1);
	if (read(pipefd[0], &c, 1) != 1)
		spin_us(100);
	record(t0);
}

static void *worker(void *arg)
{
	long i = (long)arg;
	char name[16];

	if (pool_mode)
		snprintf(name, sizeof(name), "pool-worker-%ld", i);
	else
		snprintf(name, sizeof(name), "tokio-runtime-w");
	prctl(PR_SET_NAME, name);
	if (i == 0)
		atomic_store(&plant_tid, (int)syscall(SYS_gettid));
	while (!atomic_load(&stop)) {
		if (i == 0) {
			if (pool_mode)
				planted_read();
			else
				planted_sleep();
			idle_ms(10);
		} else {
			spin_us(200);
			idle_ms(2);
		}
	}
	return NULL;
}

static void *feeder(void *arg)
{
	prctl(PR_SET_NAME, "feeder");
	while (!atomic_load(&stop)) {
		usleep(PLANT_US);
		if (write(pipefd[1], "x", 1) != 1)
			break;
	}
	return arg;
}

static void *other(void *arg)
{
	prctl(PR_SET_NAME, "other-sleeper");
	while (!atomic_load(&stop))
		usleep(5000);
	return arg;
}

int main(int argc, char **argv)
{
	pthread_t th[POOL], fe, ot;
	sigset_t set;
	int sig;

	if (argc != 2 || (strcmp(argv[1], "tokio") && strcmp(argv[1], "pool"))) {
		fprintf(stderr, "usage: weftstat_threads_victim tokio|pool\n");
		return 2;
	}
	pool_mode = !strcmp(argv[1], "pool");
	victim_prepare(&set);
	if (pipe(pipefd)) {
		perror("pipe");
		return 1;
	}
	for (long i = 0; i < POOL; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i)) {
			fprintf(stderr, "victim: pthread_create failed\n");
			return 1;
		}
	if (pool_mode && (pthread_create(&fe, NULL, feeder, NULL) ||
			  pthread_create(&ot, NULL, other, NULL))) {
		fprintf(stderr, "victim: pthread_create failed\n");
		return 1;
	}
	while (!atomic_load(&nsleeps))
		usleep(1000);
	printf("ready %d %s %d %d\n", (int)getpid(), __FILE__, atomic_load(&plant_line),
	       atomic_load(&plant_tid));
	fflush(stdout);

	sigwait(&set, &sig);
	atomic_store(&stop, 1);
	/* The feeder goes first and the planted reader gets a last byte. */
	if (pool_mode) {
		pthread_join(fe, NULL);
		if (write(pipefd[1], "x", 1) != 1)
			return 1;
		pthread_join(ot, NULL);
	}
	for (int i = 0; i < POOL; i++)
		pthread_join(th[i], NULL);
	for (unsigned i = 0; i < atomic_load(&nsleeps); i++)
		printf("sleep %llu %llu\n", (unsigned long long)sleep_start[i],
		       (unsigned long long)sleep_end[i]);
	return 0;
}
