/* SPDX-License-Identifier: MIT */
/*
 * ctx.h - machine contexts of tasks: the assembly switch in arch/ and the
 * code that lays out a new task's first frame for it.
 */
#ifndef WEFT_CTX_H
#define WEFT_CTX_H

#include <stdint.h>
#include <string.h>

/* Save the callee-saved state on this stack into *save_sp, resume load_sp. */
void wf__ctx_switch(void **save_sp, void *load_sp);
/* Entry trampoline of a new context (arch/switch_*.S). */
void wf__ctx_start(void);

/*
 * wf__ctx_init - prepare a stack so that the first wf__ctx_switch() to the
 * returned stack pointer calls entry(arg) on it. @top is the highest
 * address of the stack (exclusive). entry must never return.
 */
static inline void *wf__ctx_init(void *top, void (*entry)(void *), void *arg)
{
	uintptr_t t = (uintptr_t)top & ~(uintptr_t)15;
#if defined(__x86_64__)
	uint64_t *f = (uint64_t *)(t - 64);

	memset(f, 0, 64);
#ifdef CONFIG_WEFT_TASK_FPENV
	{
		uint32_t mxcsr;
		uint16_t fpucw;

		/* New tasks start with the creating thread's FP control state. */
		__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
		__asm__ volatile("fnstcw %0" : "=m"(fpucw));
		f[0] = (uint64_t)mxcsr | ((uint64_t)fpucw << 32);
	}
#endif
	f[3] = (uint64_t)(uintptr_t)arg;	/* r13 */
	f[4] = (uint64_t)(uintptr_t)entry;	/* r12 */
	f[7] = (uint64_t)(uintptr_t)wf__ctx_start;
	return f;
#elif defined(__aarch64__)
	uint64_t *f = (uint64_t *)(t - 176);

	memset(f, 0, 176);
	f[0] = (uint64_t)(uintptr_t)entry;	/* x19 */
	f[1] = (uint64_t)(uintptr_t)arg;	/* x20 */
	f[11] = (uint64_t)(uintptr_t)wf__ctx_start; /* x30 */
#ifdef CONFIG_WEFT_TASK_FPENV
	{
		uint64_t fpcr;

		/* New tasks start with the creating thread's FP control state. */
		__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
		f[20] = fpcr;
	}
#endif
	return f;
#else
#error "weft: no context switch for this architecture (x86-64 and aarch64 only)"
#endif
}

#endif /* WEFT_CTX_H */
