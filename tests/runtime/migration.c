// SPDX-License-Identifier: MIT
/*
 * Migration safety: tasks hop between worker threads thousands of times;
 * after every resume errno must be the task's own and every view of "which
 * thread am I on" must agree with the kernel's. Built twice: at -O2
 * (migration) and with -flto over the library too (migration_lto), where
 * cached TLS addresses would show up first.
 */
#include "wtest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <weft.h>

#define WORKERS 4
#define TASKS 6
/* Slow targets (qemu-user) lower it with WEFT_MIGRATION_TARGET. */
static long target(void)
{
	const char *e = getenv("WEFT_MIGRATION_TARGET");

	return e && atol(e) > 0 ? atol(e) : WTEST_TSAN ? 300L : 5000L;
}
#define TARGET target()
#define MIN_ROUNDS 1000
#ifndef SPINNERS
#define SPINNERS 0
#endif

static _Atomic pid_t tid_of_worker[WORKERS];
static _Atomic long migrations, resumes, bad_errno, bad_tid, bad_tls, bad_self;

static __thread pid_t tls_tid;

/* The documented rule for user TLS across suspensions: a non-inlined accessor. */
static __attribute__((noinline)) pid_t *my_tls_tid(void)
{
	pid_t *p = &tls_tid;

	__asm__ volatile("" : "+r"(p) : : "memory");
	return p;
}

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void check_thread(void)
{
	int w = wf_worker_index();
	pid_t tid = gettid_(), exp = 0;
	pid_t *tl = my_tls_tid();

	if (w < 0 || w >= WORKERS) {
		atomic_fetch_add(&bad_tid, 1);
		return;
	}
	/* First task to run on worker w records its thread. */
	atomic_compare_exchange_strong(&tid_of_worker[w], &exp, tid);
	if (atomic_load(&tid_of_worker[w]) != tid)
		atomic_fetch_add(&bad_tid, 1);
	if (*tl == 0)
		*tl = tid;
	else if (*tl != tid)
		atomic_fetch_add(&bad_tls, 1);
}

static wf_notify *pokes[TASKS];
static _Atomic int poker_stop;

/* A foreign thread that keeps poking every hopper's notify. */
static void *poker(void *arg)
{
	while (!atomic_load(&poker_stop))
		for (int i = 0; i < TASKS; i++) {
			wf_notify_one(pokes[i]);
			usleep(10);
		}
	return NULL;
}

static void *child(void *arg)
{
	wf_yield();
	return NULL;
}

static void *hopper(void *arg)
{
	long id = (long)arg;
	uint64_t stop_at = wf_now_ns() + 40 * WF_NSEC_PER_SEC;
	int last = wf_worker_index();
	wf_task *self = wf_current();

	/* Hop until the run as a whole has migrated TARGET times (or 40 s). */
	for (long i = 0; atomic_load(&migrations) < TARGET || i < MIN_ROUNDS; i++) {
		if (i % 1024 == 0 && wf_now_ns() > stop_at)
			break;
		int mine = (int)(id * 100000 + i);
		int now;

		wf_set_errno(mine);
		/* Four ways to suspend, each resumed from a different place. */
		switch (i % 4) {
		case 3:
			/* Woken by a thread outside the runtime: any worker resumes us. */
			wf_notify_wait(pokes[id]);
			break;
		case 0:
			wf_sleep_ns(1000);
			break;
		case 1:
			wf_yield();
			break;
		default: {
			wf_task *c;

			/* The child may be stolen; its exit wakes us over there. */
			if (wf_spawn(&c, child, NULL) == 0)
				wf_join(c, NULL);
		}
		}
		atomic_fetch_add(&resumes, 1);
		if (wf_errno() != mine)
			atomic_fetch_add(&bad_errno, 1);
		if (wf_current() != self)
			atomic_fetch_add(&bad_self, 1);
		check_thread();
		now = wf_worker_index();
		if (now != last)
			atomic_fetch_add(&migrations, 1);
		last = now;
	}
	return NULL;
}

static void *spin_a_bit(void *arg)
{
	/* Keep workers busy so idle ones steal the hoppers. */
	for (int i = 0; i < 2000; i++) {
		volatile int x = 0;

		for (int j = 0; j < 2000; j++)
			x += j;
		(void)x;
		wf_yield();
	}
	return NULL;
}

static void *root(void *arg)
{
	wf_task *t[TASKS + SPINNERS + 1];

	for (long i = 0; i < TASKS; i++)
		wf_spawn(&t[i], hopper, (void *)i);
	for (long i = 0; i < SPINNERS; i++)
		wf_spawn(&t[TASKS + i], spin_a_bit, NULL);
	for (int i = 0; i < TASKS + SPINNERS; i++)
		wf_join(t[i], NULL);
	return NULL;
}

TEST_TIMEOUT(errno_and_thread_identity_survive_migration, 120)
{
	/*
	 * check_thread() takes worker index N to mean one thread for the whole
	 * run; stall compensation hands a core to another thread when a poll
	 * looks stuck (under TSan, on a loaded machine, a poll waiting on the
	 * sanitizer's own locks can), which would count as a bad tid here.
	 */
	struct wf_runtime_opts o = { .workers = WORKERS, .stall_compensation = WF_STALL_OFF };
	wf_runtime *rt;
	pthread_t pk;

	for (int i = 0; i < TASKS; i++)
		ASSERT_EQ(0, wf_notify_new(&pokes[i]));
	ASSERT_EQ(0, pthread_create(&pk, NULL, poker, NULL));
	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	ASSERT_EQ(0, wf_block_on(rt, root, NULL, NULL));
	/* The poker may still be inside a wake-up: stop it before the free. */
	atomic_store(&poker_stop, 1);
	pthread_join(pk, NULL);
	ASSERT_EQ(0, wf_runtime_free(rt));
	for (int i = 0; i < TASKS; i++)
		wf_notify_free(pokes[i]);
	TH_LOG("%ld resumes, %ld migrations", atomic_load(&resumes), atomic_load(&migrations));
	EXPECT_EQ(0L, atomic_load(&bad_errno));
	EXPECT_EQ(0L, atomic_load(&bad_tid));
	EXPECT_EQ(0L, atomic_load(&bad_tls));
	EXPECT_EQ(0L, atomic_load(&bad_self));
	/* The point is to migrate: thousands of times. */
	EXPECT_LE(TARGET, atomic_load(&migrations));
}

TEST_HARNESS_MAIN
