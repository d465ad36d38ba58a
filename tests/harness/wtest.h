/* SPDX-License-Identifier: MIT */
/*
 * wtest.h - weft's test harness, in the conventions of the kernel's
 * kselftest_harness.h (our own implementation).
 *
 *	#include "wtest.h"
 *
 *	TEST(adds) { ASSERT_EQ(4, 2 + 2); }
 *
 *	FIXTURE(buf) { char *p; };
 *	FIXTURE_SETUP(buf) { self->p = malloc(16); ASSERT_NE(NULL, self->p); }
 *	FIXTURE_TEARDOWN(buf) { free(self->p); }
 *	TEST_F(buf, zeroed) { memset(self->p, 0, 16); EXPECT_EQ(0, self->p[3]); }
 *
 *	TEST_TIMEOUT(slow_thing, 120) { ... }	(seconds; default 30)
 *	TEST_HARNESS_MAIN
 *
 * Every test runs in its own forked process (its own process group) with
 * its own timeout. A failed ASSERT_* stops the test (teardown still runs);
 * a failed EXPECT_* records the failure and the test goes on. A crash or a
 * hang is reported as that test's failure and the run continues; before a
 * test that timed out is killed, every thread's state and kernel wait
 * channel (and, with gdb installed, its stack) is printed as TAP comments.
 *
 * Comparisons take (expected, seen), as kselftest's do. On failure they
 * print file:line, both expressions and both values.
 *
 * Output is TAP version 13. The program exits 0 when every selected test
 * passed (or skipped while others passed), 1 when one failed, 4 (KSFT_SKIP)
 * when all were skipped.
 *
 * Command line of a test program:
 *	-t GLOB   run only tests whose name, FIXTURE.name, PROG.name or
 *	          PROG.FIXTURE.name matches GLOB (may be repeated)
 *	-l        list test names and exit
 *	-s SCALE  multiply every timeout by SCALE (sanitizers, qemu)
 * WTEST_TIMEOUT_SCALE in the environment does the same as -s.
 */
#ifndef WEFT_WTEST_H
#define WEFT_WTEST_H

#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/*
 * WTEST_TSAN / WTEST_ASAN: 1 in builds under that sanitizer. Stress tests
 * use them to shrink sizes that a sanitizer's shadow memory cannot hold
 * (ThreadSanitizer keeps ~1 MiB per live fiber).
 */
#if defined(__SANITIZE_THREAD__)
#define WTEST_TSAN 1
#endif
#if defined(__SANITIZE_ADDRESS__)
#define WTEST_ASAN 1
#endif
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WTEST_TSAN 1
#endif
#if __has_feature(address_sanitizer)
#define WTEST_ASAN 1
#endif
#endif
#ifndef WTEST_TSAN
#define WTEST_TSAN 0
#endif
#ifndef WTEST_ASAN
#define WTEST_ASAN 0
#endif

#define KSFT_PASS 0
#define KSFT_FAIL 1
#define KSFT_SKIP 4

#define WTEST_DEFAULT_TIMEOUT 30

struct __test_metadata {
	const char *name;	/* test name */
	const char *fixture;	/* fixture name or NULL */
	void (*fn)(struct __test_metadata *);
	int timeout;		/* seconds */
	/* State of the running test, valid in the child only. */
	int failed;
	int skipped;
	jmp_buf env;
	int env_set;
	struct __test_metadata *next;
};

void wtest_register(struct __test_metadata *t);
int wtest_main(int argc, char **argv);

/* Failure reporting, used by the macros. */
void wtest_fail_int(struct __test_metadata *m, const char *file, int line,
		    const char *exp_s, const char *seen_s, const char *op,
		    intmax_t exp, intmax_t seen, int is_errno);
void wtest_fail_str(struct __test_metadata *m, const char *file, int line,
		    const char *exp_s, const char *seen_s, const char *op,
		    const char *exp, const char *seen);
void wtest_fail_msg(struct __test_metadata *m, const char *file, int line,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void wtest_abort(struct __test_metadata *m) __attribute__((noreturn));
void wtest_skip(struct __test_metadata *m, const char *file, int line,
		const char *fmt, ...) __attribute__((format(printf, 4, 5), noreturn));
const char *wtest_errno_name(int e);

/* The metadata of the test running in this process (for helper code). */
extern struct __test_metadata *wtest_current;

/* Skip the running test with a reason ("needs root", ...); never returns. */
#define SKIP(...) wtest_skip(_metadata, __FILE__, __LINE__, __VA_ARGS__)

/* Log a diagnostic line (TAP "# ") from a test. */
#define TH_LOG(fmt, ...) \
	do { \
		printf("# %s:%d: " fmt "\n", __FILE__, __LINE__, ##__VA_ARGS__); \
		fflush(stdout); \
	} while (0)

/* --- test definitions -------------------------------------------------- */

#define __WTEST_REG(id, fname, tname, tmo, runner) \
	static struct __test_metadata _meta_##id = { \
		.name = tname, .fixture = fname, .fn = runner, .timeout = tmo, \
	}; \
	__attribute__((constructor)) static void _reg_##id(void) \
	{ \
		wtest_register(&_meta_##id); \
	}

#define TEST(name) TEST_TIMEOUT(name, WTEST_DEFAULT_TIMEOUT)
#define TEST_TIMEOUT(name, secs) \
	static void name(struct __test_metadata *_metadata); \
	__WTEST_REG(name, NULL, #name, secs, name) \
	static void name(struct __test_metadata __attribute__((unused)) *_metadata)

#define FIXTURE(fx) \
	struct _fixture_##fx##_data; \
	static void _fixture_##fx##_setup(struct __test_metadata *_metadata, \
					  struct _fixture_##fx##_data *self); \
	static void _fixture_##fx##_teardown(struct __test_metadata *_metadata, \
					     struct _fixture_##fx##_data *self); \
	struct _fixture_##fx##_data

#define FIXTURE_SETUP(fx) \
	static void _fixture_##fx##_setup( \
		struct __test_metadata __attribute__((unused)) *_metadata, \
		struct _fixture_##fx##_data __attribute__((unused)) *self)

#define FIXTURE_TEARDOWN(fx) \
	static void _fixture_##fx##_teardown( \
		struct __test_metadata __attribute__((unused)) *_metadata, \
		struct _fixture_##fx##_data __attribute__((unused)) *self)

#define TEST_F(fx, name) TEST_F_TIMEOUT(fx, name, WTEST_DEFAULT_TIMEOUT)
/*
 * Setup runs first; if it fails or skips, the test body does not run.
 * Teardown runs whenever setup completed, even after a failed ASSERT.
 */
#define TEST_F_TIMEOUT(fx, name, secs) \
	static void fx##_##name(struct __test_metadata *_metadata, \
				struct _fixture_##fx##_data *self); \
	static void _run_##fx##_##name(struct __test_metadata *_metadata) \
	{ \
		struct _fixture_##fx##_data self; \
		memset(&self, 0, sizeof(self)); \
		_metadata->env_set = 1; \
		if (setjmp(_metadata->env) == 0) { \
			_fixture_##fx##_setup(_metadata, &self); \
			if (_metadata->failed || _metadata->skipped) \
				return; \
			if (setjmp(_metadata->env) == 0) \
				fx##_##name(_metadata, &self); \
			_metadata->env_set = 0; \
			_fixture_##fx##_teardown(_metadata, &self); \
		} \
	} \
	__WTEST_REG(fx##_##name, #fx, #name, secs, _run_##fx##_##name) \
	static void fx##_##name( \
		struct __test_metadata __attribute__((unused)) *_metadata, \
		struct _fixture_##fx##_data __attribute__((unused)) *self)

#define TEST_HARNESS_MAIN \
	int main(int argc, char **argv) \
	{ \
		return wtest_main(argc, argv); \
	}

/* --- comparisons --------------------------------------------------------- */

#define __WTEST_CMP(exp, seen, op, is_assert, is_errno) \
	do { \
		__typeof__(exp) _e = (exp); \
		__typeof__(seen) _s = (seen); \
		if (!(_e op _s)) { \
			wtest_fail_int(_metadata, __FILE__, __LINE__, #exp, #seen, #op, \
				       (intmax_t)_e, (intmax_t)_s, is_errno); \
			if (is_assert) \
				wtest_abort(_metadata); \
		} \
	} while (0)

#define __WTEST_STR(exp, seen, eq, is_assert) \
	do { \
		const char *_e = (exp), *_s = (seen); \
		int _same = _e && _s ? strcmp(_e, _s) == 0 : _e == _s; \
		if (_same != (eq)) { \
			wtest_fail_str(_metadata, __FILE__, __LINE__, #exp, #seen, \
				       (eq) ? "==" : "!=", _e, _s); \
			if (is_assert) \
				wtest_abort(_metadata); \
		} \
	} while (0)

#define ASSERT_EQ(exp, seen) __WTEST_CMP(exp, seen, ==, 1, 0)
#define ASSERT_NE(exp, seen) __WTEST_CMP(exp, seen, !=, 1, 0)
#define ASSERT_LT(exp, seen) __WTEST_CMP(exp, seen, <, 1, 0)
#define ASSERT_LE(exp, seen) __WTEST_CMP(exp, seen, <=, 1, 0)
#define ASSERT_GT(exp, seen) __WTEST_CMP(exp, seen, >, 1, 0)
#define ASSERT_GE(exp, seen) __WTEST_CMP(exp, seen, >=, 1, 0)
#define ASSERT_TRUE(seen) __WTEST_CMP(0, !!(seen), !=, 1, 0)
#define ASSERT_FALSE(seen) __WTEST_CMP(0, !!(seen), ==, 1, 0)
#define ASSERT_NULL(seen) __WTEST_CMP((void *)NULL, (void *)(seen), ==, 1, 0)
#define ASSERT_NOT_NULL(seen) __WTEST_CMP((void *)NULL, (void *)(seen), !=, 1, 0)
#define ASSERT_STREQ(exp, seen) __WTEST_STR(exp, seen, 1, 1)
#define ASSERT_STRNE(exp, seen) __WTEST_STR(exp, seen, 0, 1)
/* A -errno return: ASSERT_ERRNO(EINVAL, ret) checks ret == -EINVAL. */
#define ASSERT_ERRNO(err, ret) __WTEST_CMP(-(long)(err), (long)(ret), ==, 1, 1)
/* Success of a -errno style call: 0 or more. */
#define ASSERT_OK(ret) __WTEST_CMP(0L, (long)(ret), <=, 1, 1)

#define EXPECT_EQ(exp, seen) __WTEST_CMP(exp, seen, ==, 0, 0)
#define EXPECT_NE(exp, seen) __WTEST_CMP(exp, seen, !=, 0, 0)
#define EXPECT_LT(exp, seen) __WTEST_CMP(exp, seen, <, 0, 0)
#define EXPECT_LE(exp, seen) __WTEST_CMP(exp, seen, <=, 0, 0)
#define EXPECT_GT(exp, seen) __WTEST_CMP(exp, seen, >, 0, 0)
#define EXPECT_GE(exp, seen) __WTEST_CMP(exp, seen, >=, 0, 0)
#define EXPECT_TRUE(seen) __WTEST_CMP(0, !!(seen), !=, 0, 0)
#define EXPECT_FALSE(seen) __WTEST_CMP(0, !!(seen), ==, 0, 0)
#define EXPECT_NULL(seen) __WTEST_CMP((void *)NULL, (void *)(seen), ==, 0, 0)
#define EXPECT_NOT_NULL(seen) __WTEST_CMP((void *)NULL, (void *)(seen), !=, 0, 0)
#define EXPECT_STREQ(exp, seen) __WTEST_STR(exp, seen, 1, 0)
#define EXPECT_STRNE(exp, seen) __WTEST_STR(exp, seen, 0, 0)
#define EXPECT_ERRNO(err, ret) __WTEST_CMP(-(long)(err), (long)(ret), ==, 0, 1)
#define EXPECT_OK(ret) __WTEST_CMP(0L, (long)(ret), <=, 0, 1)

/* Fail unconditionally with a message. */
#define FAIL(...) \
	do { \
		wtest_fail_msg(_metadata, __FILE__, __LINE__, __VA_ARGS__); \
		wtest_abort(_metadata); \
	} while (0)

#endif /* WEFT_WTEST_H */
