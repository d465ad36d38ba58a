// SPDX-License-Identifier: MIT
/*
 * weftstat_victim - a weft program for tests/tools/weftstat.sh.
 *
 *	weftstat_victim block     a task calls usleep() inside its poll
 *	weftstat_victim lock      tasks on both workers fight for a pthread mutex
 *	weftstat_victim busy      tasks compute without pause: saturation
 *	weftstat_victim healthy   tasks only wait the weft way
 *	weftstat_victim handoff   tasks block their workers in turn: threads
 *	                          move between worker slots
 *
 * Both run 2 workers and 8 "handler" tasks that wake every 2 ms to spin
 * for 20 us. In block mode one more task, "sleeper", calls
 * planted_block(), which blocks its worker in usleep(PLANT_US) inside the
 * poll, then waits 10 ms the weft way, over and over. Each usleep's
 * CLOCK_MONOTONIC start and end are recorded, so the test can compute the
 * time planted inside weftstat's trace window.
 *
 * In lock mode, 4 "locker" tasks take big_lock (a pthread mutex) in
 * contended_section() and hold it for 2 ms of spinning: the worker whose
 * task wants it meanwhile waits on its futex, inside the poll.
 *
 * In busy mode, 4 "cruncher" tasks spin 500 us per poll and yield, so
 * both workers always have work.
 *
 * In handoff mode, 2 "mover" tasks call blocked_in_place(): each hands
 * its worker's slot to a spare thread (wf_block_in_place()) and blocks
 * its own thread in usleep(MOVE_US), then waits 5 ms the weft way. The
 * thread that blocked becomes a spare, and later takes over whichever
 * slot blocks next: over a second, threads drive more than one slot.
 *
 * Once running it prints "ready PID PLANT_FILE PLANT_LINE" (the line of
 * the usleep() or of the pthread_mutex_lock()). On SIGTERM or
 * SIGINT it stops and prints "planted COUNT" then one "sleep START END"
 * line per usleep (nanoseconds), and exits 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include <weft.h>

#include "victim.h"

#define HANDLERS 8
#define LOCKERS 4
#define PLANT_US 20000
#define MAX_SLEEPS 20000
#define MOVERS 2
#define MOVE_US 20000

static _Atomic int stop;
static uint64_t sleep_start[MAX_SLEEPS], sleep_end[MAX_SLEEPS];
static _Atomic unsigned nsleeps;
static int plant_line;

/* The bug weftstat must find: a blocking call inside a poll. */
static __attribute__((noinline)) void planted_block(void)
{
	unsigned i = atomic_load(&nsleeps);
	uint64_t t0 = mono_ns();

	plant_line = __LINE__ + 1;
	usleep(PLANT_US);
	if (i < MAX_SLEEPS) {
		sleep_start[i] = t0;
		sleep_end[i] = mono_ns();
		atomic_store(&nsleeps, i + 1);
	}
}

static pthread_mutex_t big_lock = PTHREAD_MUTEX_INITIALIZER;
static int lock_line;

/* The other bug: a lock held long, taken by tasks on every worker. */
static __attribute__((noinline)) void contended_section(void)
{
	lock_line = __LINE__ + 1;
	pthread_mutex_lock(&big_lock);
	spin_us(2000);
	pthread_mutex_unlock(&big_lock);
}

static void *locker(void *arg)
{
	while (!atomic_load(&stop)) {
		contended_section();
		if (wf_sleep_ns(WF_NSEC_PER_MSEC))
			break;
	}
	return NULL;
}

static void *cruncher(void *arg)
{
	while (!atomic_load(&stop)) {
		spin_us(500);
		if (wf_yield())
			break;
	}
	return NULL;
}

static void *usleep_move(void *arg)
{
	usleep(MOVE_US);
	return arg;
}

/* Block this thread, its worker's slot handed to a spare meanwhile. */
static __attribute__((noinline)) void blocked_in_place(void)
{
	wf_block_in_place(usleep_move, NULL, NULL);
}

static void *mover(void *arg)
{
	while (!atomic_load(&stop)) {
		blocked_in_place();
		if (wf_sleep_ns(5 * WF_NSEC_PER_MSEC))
			break;
	}
	return NULL;
}

static void *sleeper(void *arg)
{
	while (!atomic_load(&stop)) {
		planted_block();
		if (wf_sleep_ns(10 * WF_NSEC_PER_MSEC))
			break;
	}
	return NULL;
}

static void *handler(void *arg)
{
	while (!atomic_load(&stop)) {
		spin_us(20);
		if (wf_sleep_ns(2 * WF_NSEC_PER_MSEC))
			break;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct wf_spawn_opts ho = { .name = "handler" }, so = { .name = "sleeper" },
			     lo = { .name = "locker" }, mo = { .name = "mover" };
	wf_task *h[HANDLERS], *sl = NULL, *lk[LOCKERS], *mv[MOVERS];
	wf_runtime *rt;
	sigset_t set;
	int block, lock, busy, move, sig, r;

	if (argc != 2 || (strcmp(argv[1], "block") && strcmp(argv[1], "lock") &&
			  strcmp(argv[1], "busy") && strcmp(argv[1], "healthy") &&
			  strcmp(argv[1], "handoff"))) {
		fprintf(stderr, "usage: weftstat_victim block|lock|busy|healthy|handoff\n");
		return 2;
	}
	block = !strcmp(argv[1], "block");
	lock = !strcmp(argv[1], "lock");
	busy = !strcmp(argv[1], "busy");
	move = !strcmp(argv[1], "handoff");
	lo.name = busy ? "cruncher" : "locker";
	victim_prepare(&set);

	r = wf_runtime_new(&rt, &(struct wf_runtime_opts){
		.workers = 2, .stall_compensation = move ? WF_STALL_ON : WF_STALL_DEFAULT });
	if (r) {
		fprintf(stderr, "victim: wf_runtime_new: %d\n", r);
		return 1;
	}
	ho.rt = rt;
	so.rt = rt;
	lo.rt = rt;
	mo.rt = rt;
	for (int i = 0; i < HANDLERS; i++) {
		r = wf_spawn_opts(&h[i], handler, NULL, &ho);
		if (r) {
			fprintf(stderr, "victim: spawn: %d\n", r);
			return 1;
		}
	}
	if (block) {
		r = wf_spawn_opts(&sl, sleeper, NULL, &so);
		if (r) {
			fprintf(stderr, "victim: spawn: %d\n", r);
			return 1;
		}
		while (!atomic_load(&nsleeps))
			usleep(1000);
	}
	for (int i = 0; (lock || busy) && i < LOCKERS; i++) {
		r = wf_spawn_opts(&lk[i], busy ? cruncher : locker, NULL, &lo);
		if (r) {
			fprintf(stderr, "victim: spawn: %d\n", r);
			return 1;
		}
	}
	for (int i = 0; move && i < MOVERS; i++) {
		r = wf_spawn_opts(&mv[i], mover, NULL, &mo);
		if (r) {
			fprintf(stderr, "victim: spawn: %d\n", r);
			return 1;
		}
	}
	while (lock && !lock_line)
		usleep(1000);
	/* The planted functions set their line on their first run. */
	printf("ready %d %s %d\n", (int)getpid(), __FILE__,
	       block ? plant_line : lock ? lock_line : 0);
	fflush(stdout);

	sigwait(&set, &sig);
	atomic_store(&stop, 1);
	for (int i = 0; i < HANDLERS; i++)
		wf_join(h[i], NULL);
	if (sl)
		wf_join(sl, NULL);
	for (int i = 0; (lock || busy) && i < LOCKERS; i++)
		wf_join(lk[i], NULL);
	for (int i = 0; move && i < MOVERS; i++)
		wf_join(mv[i], NULL);
	r = wf_runtime_free(rt);
	printf("planted %u\n", atomic_load(&nsleeps));
	for (unsigned i = 0; i < atomic_load(&nsleeps); i++)
		printf("sleep %llu %llu\n", (unsigned long long)sleep_start[i],
		       (unsigned long long)sleep_end[i]);
	return r ? 1 : 0;
}
