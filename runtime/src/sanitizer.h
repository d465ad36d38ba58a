/* SPDX-License-Identifier: MIT */
/*
 * sanitizer.h - tell AddressSanitizer and ThreadSanitizer about stack
 * switches. Both track the current stack per thread; a switch they do not
 * know about looks to them like stack corruption or a data race. Without
 * sanitizers every helper here compiles to nothing.
 */
#ifndef WEFT_SANITIZER_H
#define WEFT_SANITIZER_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define WF_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define WF_TSAN_FIBERS 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WF_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define WF_TSAN_FIBERS 1
#endif
#endif

#ifdef WF_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
				     size_t *size_old);
#endif
#ifdef WF_TSAN_FIBERS
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

/* Before switching to a stack [bottom, bottom + size). save NULL: dying. */
static inline void wf__san_start_switch(void **save, const void *bottom, size_t size,
					void *tsan_fiber)
{
#ifdef WF_ASAN
	__sanitizer_start_switch_fiber(save, bottom, size);
#else
	(void)save, (void)bottom, (void)size;
#endif
#ifdef WF_TSAN_FIBERS
	__tsan_switch_to_fiber(tsan_fiber, 0);
#else
	(void)tsan_fiber;
#endif
}

/* First thing after arriving on a stack. */
static inline void wf__san_finish_switch(void *save)
{
#ifdef WF_ASAN
	__sanitizer_finish_switch_fiber(save, NULL, NULL);
#else
	(void)save;
#endif
}

static inline void *wf__san_fiber_create(void)
{
#ifdef WF_TSAN_FIBERS
	return __tsan_create_fiber(0);
#else
	return NULL;
#endif
}

static inline void *wf__san_fiber_current(void)
{
#ifdef WF_TSAN_FIBERS
	return __tsan_get_current_fiber();
#else
	return NULL;
#endif
}

static inline void wf__san_fiber_destroy(void *f)
{
#ifdef WF_TSAN_FIBERS
	if (f)
		__tsan_destroy_fiber(f);
#else
	(void)f;
#endif
}

#endif /* WEFT_SANITIZER_H */
