/* SPDX-License-Identifier: MIT */
/*
 * weft/registry.h - the trace registry: an ABI between libweft and tools
 * that read a running process from outside (weftstat, debuggers, BPF).
 *
 * Every structure here has a fixed layout (explicit sizes, no pointers:
 * addresses are uint64_t in the target's address space) so a reader can
 * copy it with process_vm_readv() or bpf_probe_read_user() without
 * sharing the target's compiler. docs/registry.md is the reference.
 *
 * Finding it: the root (struct wf_registry) is a global in its own ELF
 * section, "weft_registry", in whichever object libweft was linked into
 * (the executable, or libweft.so). Strip keeps section headers, so a
 * reader finds the section in the file, adds the load bias from
 * /proc/PID/maps, and checks the magic. Without section headers, the
 * magic can be searched for in the object's writable mappings.
 *
 * Consistency: each worker slot is written under a sequence count (even:
 * stable, odd: being written); a reader copies the slot, then re-reads
 * seq and retries if it changed or was odd. Lists are walked with a
 * bounded number of steps and every address is validated by the read.
 *
 * Times are CLOCK_MONOTONIC nanoseconds, directly comparable with
 * bpf_ktime_get_ns().
 */
#ifndef WEFT_REGISTRY_H
#define WEFT_REGISTRY_H

#include <stdint.h>

#define WF_REG_MAGIC "WEFTREG\x01"	/* 8 bytes, no terminator needed */
#define WF_REG_VERSION 1
#define WF_REG_SECTION "weft_registry"

/* wf_reg_worker.state */
enum wf_reg_worker_state {
	WF_REG_W_STARTING = 0,	/* thread not started (or current-thread idle) */
	WF_REG_W_POLLING = 1,	/* inside a poll of task_id since poll_start_ns */
	WF_REG_W_SCHEDULING = 2,/* between polls: finding the next task */
	WF_REG_W_SEARCHING = 3,	/* out of local work, stealing */
	WF_REG_W_PARKED = 4,	/* asleep on its futex (idle) */
	WF_REG_W_STOPPED = 5,	/* runtime shut down */
};

/* One per worker; 64 bytes (one cache line, written only by its worker). */
struct wf_reg_worker {
	uint32_t seq;		/* sequence count, odd while being written */
	uint32_t state;		/* enum wf_reg_worker_state */
	int32_t tid;		/* kernel thread id (gettid), 0 until started */
	int32_t index;		/* worker index in its runtime */
	uint64_t task_id;	/* task being polled (state POLLING), else 0 */
	uint64_t poll_start_ns;	/* start of that poll */
	uint64_t task_addr;	/* address of that task's struct wf_reg_task */
	uint64_t polls;		/* polls started by this worker */
	uint64_t park_futex_addr; /* address of the futex word it parks on */
	uint64_t reserved;
};

/* Embedded in every task's control block; 64 bytes. */
struct wf_reg_task {
	uint64_t id;		/* never reused */
	uint64_t file_addr;	/* address of the spawn site's file name (C string) */
	uint32_t line;		/* spawn site line */
	uint32_t flags;		/* bit 0: pinned; bit 1: root of block_on */
	uint64_t spawn_ns;	/* CLOCK_MONOTONIC at spawn */
	char name[32];		/* NUL-terminated, may be empty */
};

/* One per live runtime, linked from the root. */
struct wf_reg_runtime {
	uint64_t id;		/* 1, 2, ... in creation order */
	uint64_t next_addr;	/* next runtime, 0 at the end */
	uint64_t workers_addr;	/* array of nworkers struct wf_reg_worker */
	uint32_t nworkers;
	uint32_t flavor;	/* 0 multi-thread, 1 current-thread */
	uint64_t metrics_addr;	/* reserved for the metrics snapshot area, 0 */
	char thread_name[16];	/* worker thread name prefix */
};

/* The root; one per copy of libweft in the process. */
struct wf_registry {
	char magic[8];			/* WF_REG_MAGIC */
	uint32_t version;		/* WF_REG_VERSION */
	uint32_t size;			/* sizeof(struct wf_registry) */
	uint16_t worker_size;		/* sizeof(struct wf_reg_worker) */
	uint16_t task_size;		/* sizeof(struct wf_reg_task) */
	uint16_t runtime_size;		/* sizeof(struct wf_reg_runtime) */
	uint16_t task_reg_offset;	/* offset of wf_reg_task in the task block */
	uint64_t runtimes_addr;		/* first runtime, 0 if none */
	uint64_t generation;		/* bumped when a runtime comes or goes */
	uint64_t slow_poll_ns;		/* CONFIG_WEFT_SLOW_POLL_US * 1000 */
	uint64_t usdt_semaphores_addr;	/* reserved, 0 */
	char lib_version[16];		/* wf_version() */
	uint64_t reserved[4];
};

#endif /* WEFT_REGISTRY_H */
