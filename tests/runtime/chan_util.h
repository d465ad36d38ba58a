/* SPDX-License-Identifier: MIT */
/*
 * chan_util.h - helpers shared by the message-passing tests (notify,
 * chan_*, select).
 *
 * Test bodies run as tasks, where ASSERT_* (which longjmp) must not be
 * used. A task reports failure by returning non-zero: CHECK(cond) returns
 * the line number after logging the condition, so a failing
 * EXPECT_EQ(0L, run_on(...)) shows the line of the check that failed.
 */
#ifndef WEFT_TEST_CHAN_UTIL_H
#define WEFT_TEST_CHAN_UTIL_H

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

/* CHECK that an integer expression equals @exp, logging what it was. */
#define CHECK_EQ(exp, seen) \
	do { \
		long long _e = (long long)(exp), _s = (long long)(seen); \
		if (_e != _s) { \
			printf("# %s:%d: %s: expected %lld, saw %lld\n", __FILE__, __LINE__, \
			       #seen, _e, _s); \
			fflush(stdout); \
			return (void *)(long)__LINE__; \
		} \
	} while (0)

/* Run @fn(@arg) as the root task of a new runtime of @workers workers. */
static inline long run_on(unsigned workers, void *(*fn)(void *), void *arg)
{
	struct wf_runtime_opts o = { .workers = workers };
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

/* Yield until @cond holds; false after ~5 s (a failure, not a hang). */
#define WAIT_FOR(cond) \
	({ \
		uint64_t _end = wf_now_ns() + 5 * WF_NSEC_PER_SEC; \
		while (!(cond) && wf_now_ns() < _end) \
			wf_yield(); \
		(cond); \
	})

static inline uint64_t ms_from_now(uint64_t ms)
{
	return wf_now_ns() + ms * WF_NSEC_PER_MSEC;
}

/* Let other tasks run for a while (they get to block where they will). */
static inline void settle(void)
{
	for (int i = 0; i < 50; i++)
		wf_yield();
	wf_sleep_ns(2 * WF_NSEC_PER_MSEC);
}

/* Join @t and return its result as a long (-12345 if the join failed). */
static inline long join_long(wf_task *t)
{
	void *r;

	return wf_join(t, &r) ? -12345 : (long)r;
}

/* Cheap per-caller PRNG for tests. */
static inline uint32_t xorshift(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

#endif /* WEFT_TEST_CHAN_UTIL_H */
