// SPDX-License-Identifier: MIT
/*
 * A task that overflows its stack hits the guard page; the runtime names
 * the task and its spawn site on stderr and aborts. Runs the overflow in
 * a child process and checks the message and the signal.
 */
#include "wtest.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <weft.h>

enum { SPAWN_LINE = 40 };	/* the line of the wf_spawn_opts() call in root() */
static volatile long depth_limit = 1L << 40;	/* never reached; keeps gcc quiet */

static __attribute__((noinline)) long deep(long n)
{
	volatile char buf[512];

	buf[0] = (char)n;
	buf[511] = (char)n;
	if (n > depth_limit)
		return 0;
	return n + deep(n + 1) + buf[0] + buf[511];
}

static void *overflow(void *arg)
{
	return (void *)deep(0);
}

static void *root(void *arg)
{
	struct wf_spawn_opts o = { .name = "deep-recursion", .stack_size = 64 * 1024 };
	wf_task *t;

	_Static_assert(SPAWN_LINE == __LINE__ + 1, "update SPAWN_LINE");
	wf_spawn_opts(&t, overflow, NULL, &o);
	wf_join(t, NULL);
	return NULL;
}

/* Runs the overflow in a child; returns its wait status, stderr in buf. */
static int run_child(char *buf, size_t len, int use_thread_runtime)
{
	int p[2], st;
	ssize_t n, off = 0;
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		struct wf_runtime_opts o = { .flavor = use_thread_runtime ? WF_MULTI_THREAD
									: WF_CURRENT_THREAD };
		wf_runtime *rt;

		dup2(p[1], 2);
		close(p[0]);
		if (wf_runtime_new(&rt, &o))
			_exit(3);
		wf_block_on(rt, root, NULL, NULL);
		_exit(0);
	}
	close(p[1]);
	while (off < (ssize_t)len - 1 && (n = read(p[0], buf + off, len - 1 - (size_t)off)) > 0)
		off += n;
	buf[off] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	return st;
}

static void check(struct __test_metadata *_metadata, int thread_rt)
{
	char buf[4096], want[256];
	int st = run_child(buf, sizeof(buf), thread_rt);

	ASSERT_TRUE(WIFSIGNALED(st));
	EXPECT_EQ(SIGABRT, WTERMSIG(st));
	snprintf(want, sizeof(want), "stack overflow in task deep-recursion");
	EXPECT_NOT_NULL(strstr(buf, want));
	snprintf(want, sizeof(want), "spawned at %s:%d", __FILE__, SPAWN_LINE);
	EXPECT_NOT_NULL(strstr(buf, want));
	if (_metadata->failed)
		TH_LOG("child stderr: %s", buf);
}

TEST(overflow_is_reported_with_task_and_spawn_site)
{
	if (WTEST_ASAN)
		SKIP("AddressSanitizer reports the overflow itself");
	check(_metadata, 1);
}

TEST(overflow_in_current_thread_runtime)
{
	if (WTEST_ASAN)
		SKIP("AddressSanitizer reports the overflow itself");
	check(_metadata, 0);
}

TEST_HARNESS_MAIN
