/* SPDX-License-Identifier: MIT */
/*
 * registry.h - the scheduler's writes into the trace registry (see
 * weft/registry.h for the ABI and the reader's side of the protocol).
 * Each worker writes only its own slot: a sequence count around plain
 * stores, so a poll costs two counter bumps and a handful of stores to a
 * cache line no other thread writes.
 */
#ifndef WEFT_REGISTRY_INTERNAL_H
#define WEFT_REGISTRY_INTERNAL_H

#include "internal.h"

#ifdef CONFIG_WEFT_TRACE_REGISTRY

/*
 * Writer-side ordering: the odd count must be visible before the fields,
 * the fields before the even count. Readers run in other processes (or in
 * BPF), so only the hardware order matters: release fences. TSan does not
 * model fences and has no reader to check here: compiler barriers there.
 */
#if defined(__SANITIZE_THREAD__)
#define WF_REG_WMB() __asm__ volatile("" ::: "memory")
#else
#define WF_REG_WMB() __atomic_thread_fence(__ATOMIC_RELEASE)
#endif

#define WF_REG_STORE(f, v) __atomic_store_n(&(f), (v), __ATOMIC_RELAXED)

static inline void wf__reg_begin(struct wf_reg_worker *s)
{
	WF_REG_STORE(s->seq, s->seq + 1);
	WF_REG_WMB();
}

static inline void wf__reg_end(struct wf_reg_worker *s)
{
	WF_REG_WMB();
	WF_REG_STORE(s->seq, s->seq + 1);
}

static inline void wf__reg_poll_begin(struct wf__worker *w, struct wf_task *t, uint64_t now)
{
	struct wf_reg_worker *s = w->reg;

	wf__reg_begin(s);
	WF_REG_STORE(s->state, (uint32_t)WF_REG_W_POLLING);
	WF_REG_STORE(s->task_id, t->reg.id);
	WF_REG_STORE(s->poll_start_ns, now);
	WF_REG_STORE(s->task_addr, (uint64_t)(uintptr_t)&t->reg);
	WF_REG_STORE(s->polls, s->polls + 1);
	wf__reg_end(s);
}

static inline void wf__reg_state(struct wf__worker *w, uint32_t state)
{
	struct wf_reg_worker *s = w->reg;

	if (s->state == state)
		return;
	wf__reg_begin(s);
	WF_REG_STORE(s->state, state);
	WF_REG_STORE(s->task_id, 0);
	WF_REG_STORE(s->task_addr, 0);
	wf__reg_end(s);
}

static inline void wf__reg_thread(struct wf__worker *w, int32_t tid)
{
	struct wf_reg_worker *s = w->reg;

	wf__reg_begin(s);
	WF_REG_STORE(s->tid, tid);
	WF_REG_STORE(s->state, (uint32_t)(tid ? WF_REG_W_SCHEDULING : WF_REG_W_STARTING));
	wf__reg_end(s);
}

#else

static inline void wf__reg_poll_begin(struct wf__worker *w, struct wf_task *t, uint64_t now)
{
}
static inline void wf__reg_state(struct wf__worker *w, uint32_t state)
{
}
static inline void wf__reg_thread(struct wf__worker *w, int32_t tid)
{
}

#endif /* CONFIG_WEFT_TRACE_REGISTRY */

#endif /* WEFT_REGISTRY_INTERNAL_H */
