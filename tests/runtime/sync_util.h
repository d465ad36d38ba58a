/* SPDX-License-Identifier: MIT */
/*
 * sync_util.h - helpers shared by the sync_* tests.
 *
 * Test bodies run as tasks. A task reports failure by returning a
 * non-zero value: CHECK(cond) returns the line number, so a failing
 * EXPECT_EQ(0L, run_on(...)) shows "seen: <line>" for the check that
 * failed, and logs the condition.
 */
#ifndef WEFT_TEST_SYNC_UTIL_H
#define WEFT_TEST_SYNC_UTIL_H

#include <stdio.h>
#include <weft.h>

#define CHECK(cond) \
	do { \
		if (!(cond)) { \
			printf("# %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			fflush(stdout); \
			return (void *)(long)__LINE__; \
		} \
	} while (0)

/* CHECK that an int expression equals @exp, logging what it was. */
#define CHECK_EQ(exp, seen) \
	do { \
		long _e = (long)(exp), _s = (long)(seen); \
		if (_e != _s) { \
			printf("# %s:%d: %s: expected %ld, saw %ld\n", __FILE__, __LINE__, #seen, \
			       _e, _s); \
			fflush(stdout); \
			return (void *)(long)__LINE__; \
		} \
	} while (0)

/* Run @fn(@arg) as the root task of a new @workers-worker runtime. */
static inline long run_on(unsigned workers, int flavor, void *(*fn)(void *), void *arg)
{
	struct wf_runtime_opts o = { .workers = workers, .flavor = flavor };
	wf_runtime *rt;
	void *res = (void *)-999L;
	int r;

	if (wf_runtime_new(&rt, &o))
		return -1000;
	r = wf_block_on(rt, fn, arg, &res);
	if (wf_runtime_free(rt))
		return -1001;
	return r ? r : (long)res;
}

/*
 * Yield until @cond holds; false after ~10 s (tests then fail rather than
 * hang). @cond is re-evaluated after every yield.
 */
#define WAIT_FOR(cond) \
	({ \
		uint64_t _end = wf_now_ns() + 10 * WF_NSEC_PER_SEC; \
		while (!(cond) && wf_now_ns() < _end) \
			wf_yield(); \
		(cond); \
	})

static inline uint64_t ms_from_now(uint64_t ms)
{
	return wf_now_ns() + ms * WF_NSEC_PER_MSEC;
}

#endif /* WEFT_TEST_SYNC_UTIL_H */
