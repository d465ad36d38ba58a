// SPDX-License-Identifier: MIT
/*
 * The harness tests itself: run fixture_bad (deliberately failing,
 * crashing, hanging and skipping tests) and check that each is reported as
 * it should be, with its reason, and that the program's exit status and
 * the selection flags behave.
 */
#include "wtest.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static char out[65536];

/* Runs fixture_bad with ARGS; returns its exit status, output in out[]. */
static int run_fixture(struct __test_metadata *_metadata, const char *args)
{
	const char *objdir = getenv("WEFT_OBJDIR");
	char cmd[4096];
	size_t n;
	FILE *f;
	int st;

	if (!objdir)
		SKIP("WEFT_OBJDIR not set (run through tests/run)");
	/*
	 * The fixture must behave the same in every build: no timeout
	 * scaling from the outer run, and a sanitizer must not turn its
	 * planted SIGSEGV into an exit status.
	 */
	snprintf(cmd, sizeof(cmd),
		 "env -u WTEST_TIMEOUT_SCALE ASAN_OPTIONS=handle_segv=0 "
		 "TSAN_OPTIONS=handle_segv=0 %s/tests/harness/fixture_bad %s 2>&1",
		 objdir, args);
	f = popen(cmd, "r");
	ASSERT_NOT_NULL(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	st = pclose(f);
	ASSERT_TRUE(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static int has(const char *needle)
{
	return strstr(out, needle) != NULL;
}

TEST(reports_each_failure_kind)
{
	int rc = run_fixture(_metadata, "");

	EXPECT_EQ(KSFT_FAIL, rc);
	EXPECT_TRUE(has("TAP version 13\n1..7\n"));
	EXPECT_TRUE(has("ok 1 passes\n"));
	EXPECT_TRUE(has("not ok 2 fails_expect_then_assert # FAIL\n"));
	EXPECT_TRUE(has("not ok 3 fails_errno # FAIL\n"));
	EXPECT_TRUE(has("not ok 4 crashes # CRASH signal 11"));
	EXPECT_TRUE(has("not ok 5 hangs # TIMEOUT after 1 s\n"));
	EXPECT_TRUE(has("ok 6 skips # SKIP needs a unicorn\n"));
	EXPECT_TRUE(has("not ok 7 fx.assert_fails_teardown_runs # FAIL\n"));
	EXPECT_TRUE(has("# fixture_bad: 1 passed, 5 failed, 1 skipped"));
	if (_metadata->failed)
		TH_LOG("output was:\n%s", out);
}

TEST(failure_messages_name_file_line_and_values)
{
	run_fixture(_metadata, "-t fails_*");
	/* EXPECT records and continues, ASSERT stops. */
	EXPECT_TRUE(has("fixture_bad.c:22: expected 1 == 2"));
	EXPECT_TRUE(has("#   expected: 1\n#   seen:     2"));
	EXPECT_TRUE(has("# after-expect"));
	EXPECT_TRUE(has("#   expected: \"abc\"\n#   seen:     \"abd\""));
	EXPECT_FALSE(has("after-assert"));
	/* errno values are named. */
	EXPECT_TRUE(has("(-ETIMEDOUT)"));
	EXPECT_TRUE(has("(-ECANCELED)"));
	if (_metadata->failed)
		TH_LOG("output was:\n%s", out);
}

TEST(teardown_runs_after_failed_assert)
{
	run_fixture(_metadata, "-t fx.*");
	EXPECT_TRUE(has("# teardown ran armed=42"));
	EXPECT_TRUE(has("1..1\n"));
}

TEST(selection_and_exit_codes)
{
	EXPECT_EQ(KSFT_PASS, run_fixture(_metadata, "-t passes"));
	EXPECT_TRUE(has("1..1\nok 1 passes\n"));
	EXPECT_EQ(KSFT_SKIP, run_fixture(_metadata, "-t skips"));
	EXPECT_EQ(KSFT_PASS, run_fixture(_metadata, "-t fixture_bad.passes"));
	EXPECT_EQ(KSFT_PASS, run_fixture(_metadata, "-l"));
	EXPECT_TRUE(has("passes\n"));
	EXPECT_TRUE(has("fx.assert_fails_teardown_runs\n"));
	EXPECT_EQ(2, run_fixture(_metadata, "-s nope"));
}

TEST(timeout_scale_stretches_limits)
{
	/* 1 s limit times 2.5: the hang is reported after 2.5 s, not 1. */
	run_fixture(_metadata, "-t hangs -s 2.5");
	EXPECT_TRUE(has("# TIMEOUT after 2 s") || has("# TIMEOUT after 3 s"));
}

TEST(runner_counts_and_totals)
{
	const char *src = getenv("WEFT_SRCDIR"), *obj = getenv("WEFT_OBJDIR");
	char cmd[4096];
	size_t n;
	FILE *f;
	int st;

	if (!src || !obj)
		SKIP("WEFT_SRCDIR/WEFT_OBJDIR not set (run through tests/run)");
	snprintf(cmd, sizeof(cmd),
		 "env -u WTEST_TIMEOUT_SCALE ASAN_OPTIONS=handle_segv=0 "
		 "TSAN_OPTIONS=handle_segv=0 %s/tests/run -o %s %s/tests/harness/fixture_bad 2>&1",
		 src, obj, obj);
	f = popen(cmd, "r");
	ASSERT_NOT_NULL(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	st = pclose(f);
	EXPECT_EQ(1, WEXITSTATUS(st));
	EXPECT_TRUE(has("\n1 passed, 5 failed, 1 skipped\n"));
	EXPECT_TRUE(has("# not ok 4 crashes # CRASH"));
	if (_metadata->failed)
		TH_LOG("output was:\n%s", out);
}

TEST_HARNESS_MAIN
