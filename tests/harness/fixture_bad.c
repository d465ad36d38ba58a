// SPDX-License-Identifier: MIT
/*
 * A test program whose tests fail on purpose, one way each. It is not in
 * the suite's list: harness_test runs it and checks that every failure is
 * reported as the right kind of "not ok" and that the run goes on.
 */
#include "wtest.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

TEST(passes)
{
	ASSERT_EQ(4, 2 + 2);
	ASSERT_STREQ("weft", "weft");
	ASSERT_ERRNO(EINVAL, -EINVAL);
}

TEST(fails_expect_then_assert)
{
	EXPECT_EQ(1, 2);			/* recorded, continues */
	printf("# after-expect\n");
	ASSERT_STREQ("abc", "abd");		/* stops the test */
	printf("# after-assert\n");		/* never printed */
}

TEST(fails_errno)
{
	ASSERT_ERRNO(ETIMEDOUT, -ECANCELED);
}

TEST(crashes)
{
	raise(SIGSEGV);
}

TEST_TIMEOUT(hangs, 1)
{
	for (;;)
		pause();
}

TEST(skips)
{
	SKIP("needs a unicorn");
	FAIL("never reached");
}

FIXTURE(fx)
{
	int armed;
};

FIXTURE_SETUP(fx)
{
	self->armed = 42;
}

FIXTURE_TEARDOWN(fx)
{
	printf("# teardown ran armed=%d\n", self->armed);
}

TEST_F(fx, assert_fails_teardown_runs)
{
	ASSERT_EQ(0, self->armed);
}

TEST_HARNESS_MAIN
