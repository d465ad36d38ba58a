// SPDX-License-Identifier: MIT
/*
 * Floating-point control state across task switches (CONFIG_WEFT_TASK_FPENV).
 *
 * Two tasks on one worker (current-thread runtime) take turns: the first
 * sets the rounding mode to upward and yields, the second runs and looks
 * at the mode it finds. With CONFIG_WEFT_TASK_FPENV=y every task has its
 * own control state: the second sees round-to-nearest (the state it was
 * spawned with), sets downward, yields, and the first finds upward again.
 * Without it tasks share their thread's state, as documented: the second
 * sees upward. Either way the test checks the documented behaviour of the
 * build it is part of (tests/build/build_system.sh builds it both ways).
 */
#include "wtest.h"

#include <fenv.h>
#include <weft.h>

struct turn {
	int seen_by_b;		/* rounding mode task b found at its start */
	int seen_by_a;		/* rounding mode task a found after its yield */
	int b_ran;
};

static void *task_a(void *arg)
{
	struct turn *tr = arg;

	fesetround(FE_UPWARD);
	while (!tr->b_ran)
		wf_yield();
	tr->seen_by_a = fegetround();
	fesetround(FE_TONEAREST);
	return NULL;
}

static void *task_b(void *arg)
{
	struct turn *tr = arg;

	tr->seen_by_b = fegetround();
	fesetround(FE_DOWNWARD);
	tr->b_ran = 1;
	wf_yield();
	fesetround(FE_TONEAREST);
	return NULL;
}

static void *pair(void *arg)
{
	wf_task *a, *b;

	if (wf_spawn(&a, task_a, arg) || wf_spawn(&b, task_b, arg))
		return (void *)-1L;
	if (wf_join(a, NULL) || wf_join(b, NULL))
		return (void *)-2L;
	return NULL;
}

TEST(rounding_mode_across_yields)
{
	struct wf_runtime_opts o = { .flavor = WF_CURRENT_THREAD };
	struct turn tr = { .seen_by_b = -1, .seen_by_a = -1 };
	wf_runtime *rt;
	void *res = (void *)1;

	ASSERT_EQ(FE_TONEAREST, fegetround());
	ASSERT_EQ(0, wf_runtime_new(&rt, &o));
	ASSERT_EQ(0, wf_block_on(rt, pair, &tr, &res));
	ASSERT_EQ(NULL, res);
	ASSERT_EQ(0, wf_runtime_free(rt));
	ASSERT_EQ(1, tr.b_ran);
#ifdef CONFIG_WEFT_TASK_FPENV
	TH_LOG("CONFIG_WEFT_TASK_FPENV=y: each task keeps its own rounding mode");
	EXPECT_EQ(FE_TONEAREST, tr.seen_by_b);
	EXPECT_EQ(FE_UPWARD, tr.seen_by_a);
#else
	TH_LOG("CONFIG_WEFT_TASK_FPENV=n: tasks share their thread's rounding mode");
	EXPECT_EQ(FE_UPWARD, tr.seen_by_b);
	EXPECT_EQ(FE_DOWNWARD, tr.seen_by_a);
#endif
}

TEST_HARNESS_MAIN
