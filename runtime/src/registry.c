// SPDX-License-Identifier: MIT
/*
 * registry.c - the trace registry's root and its list of runtimes.
 * Layout and reading protocol: weft/registry.h and docs/registry.md.
 */
#include "internal.h"
#include "registry.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/*
 * The root, in its own section so a reader finds it by name even in a
 * stripped binary ("used" keeps it from being dropped, the section
 * attribute keeps it out of .data).
 */
__attribute__((section(WF_REG_SECTION), used, aligned(64))) struct wf_registry wf_registry = {
	.magic = WF_REG_MAGIC,
	.version = WF_REG_VERSION,
	.size = sizeof(struct wf_registry),
	.worker_size = sizeof(struct wf_reg_worker),
	.task_size = sizeof(struct wf_reg_task),
	.runtime_size = sizeof(struct wf_reg_runtime),
	.task_reg_offset = offsetof(struct wf_task, reg),
	.slow_poll_ns = (uint64_t)CONFIG_WEFT_SLOW_POLL_US * 1000u,
	.lib_version = "0.1.0",
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t next_rt_id = 1;

_Static_assert(sizeof(struct wf_reg_worker) == 64, "registry ABI: worker slot is 64 bytes");
_Static_assert(sizeof(struct wf_reg_task) == 64, "registry ABI: task record is 64 bytes");

/* Allocate rt's record and worker slots and link it. Returns 0 or -ENOMEM. */
int wf__reg_runtime_add(struct wf_runtime *rt)
{
	struct wf_reg_runtime *r = calloc(1, sizeof(*r));
	struct wf_reg_worker *slots = NULL;

	if (!r || posix_memalign((void **)&slots, 64, rt->nworkers * sizeof(*slots))) {
		free(r);
		return -ENOMEM;
	}
	memset(slots, 0, rt->nworkers * sizeof(*slots));
	for (unsigned i = 0; i < rt->nworkers; i++) {
		slots[i].index = (int32_t)i;
		slots[i].park_futex_addr = (uint64_t)(uintptr_t)&rt->workers[i].park;
		rt->workers[i].reg = &slots[i];
	}
	r->workers_addr = (uint64_t)(uintptr_t)slots;
	r->nworkers = rt->nworkers;
	r->flavor = (uint32_t)rt->flavor;
	memcpy(r->thread_name, rt->thread_name, sizeof(r->thread_name));
	rt->reg = r;

	pthread_mutex_lock(&reg_lock);
	r->id = next_rt_id++;
	r->next_addr = __atomic_load_n(&wf_registry.runtimes_addr, __ATOMIC_RELAXED);
	/* Release: the record is complete before a reader can reach it. */
	__atomic_store_n(&wf_registry.runtimes_addr, (uint64_t)(uintptr_t)r, __ATOMIC_RELEASE);
	__atomic_store_n(&wf_registry.generation, wf_registry.generation + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&reg_lock);
	return 0;
}

void wf__reg_runtime_del(struct wf_runtime *rt)
{
	struct wf_reg_runtime *r = rt->reg;
	uint64_t *link;

	if (!r)
		return;
	pthread_mutex_lock(&reg_lock);
	link = &wf_registry.runtimes_addr;
	while (*link && *link != (uint64_t)(uintptr_t)r)
		link = &((struct wf_reg_runtime *)(uintptr_t)*link)->next_addr;
	if (*link)
		__atomic_store_n(link, r->next_addr, __ATOMIC_RELEASE);
	__atomic_store_n(&wf_registry.generation, wf_registry.generation + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&reg_lock);
	for (unsigned i = 0; i < rt->nworkers; i++)
		rt->workers[i].reg = NULL;
	free((void *)(uintptr_t)r->workers_addr);
	free(r);
	rt->reg = NULL;
}
