/* SPDX-License-Identifier: MIT */
/*
 * wfreg.h - find and read a running process's trace registry from outside
 * (docs/registry.md): the reader weft-registry and weftstat share.
 *
 * One target per process: wfreg_open() reads /proc/PID/maps, wfreg_find()
 * locates the roots, wfreg_read_runtimes() copies the runtime list and the
 * worker slots. A target that disappears, or that we may not read, ends the
 * program with a message and exit status 2 (wfreg_die_gone/_perm); the
 * messages start with wfreg_prog.
 */
#ifndef WEFT_TOOLS_WFREG_H
#define WEFT_TOOLS_WFREG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <weft/registry.h>

#define WFREG_MAX_RUNTIMES 64		/* runtimes walked per registry */
#define WFREG_MAX_STR 4096		/* longest remote string read */

enum { WFREG_EXIT_FOUND = 0, WFREG_EXIT_NOWEFT = 1, WFREG_EXIT_USAGE = 2 };

extern const char *wfreg_prog;		/* prefix of every message */
extern bool wfreg_verbose;		/* say how the registry is searched for */
/* A target that exits makes reads fail (-ESRCH) instead of ending the program. */
extern bool wfreg_soft_gone;

struct wfreg_map {
	uint64_t start, end, off, inode;
	char perms[5];
	char *path;	/* NULL for anonymous mappings */
};

struct wfreg_found {
	uint64_t addr;
	const char *object;	/* file it was found in, or NULL (scan) */
	const char *how;	/* "section" or "scan" */
	struct wf_registry root;
};

/*
 * Spawn-site file names read per walk, all workers together: a hostile
 * registry can point every one of 4096 slots at a 4 KiB string, but the
 * names are read only on demand (wfreg_task_file(), for the tasks shown)
 * and at most this many bytes of them after each wfreg_read_runtimes().
 */
#define WFREG_NAME_BUDGET (256 * 1024)

/* Flags of wfreg_read_runtimes(). */
#define WFREG_READ_TASKS 1u	/* also the task record of each polling worker */

/* One worker slot as read (about 140 bytes: no strings in it). */
struct wfreg_worker_view {
	struct wf_reg_worker s;
	bool stable;
	bool have_task;		/* task: the record of s.task_id (WFREG_READ_TASKS) */
	struct wf_reg_task task;
};

struct wfreg_runtime_view {
	uint64_t addr;
	struct wf_reg_runtime r;
	struct wfreg_worker_view *w;	/* r.nworkers entries */
};

extern struct wfreg_map *wfreg_maps;	/* the target's mappings, after wfreg_open() */
extern size_t wfreg_nmaps;

void wfreg_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
void wfreg_die_perm(const char *what) __attribute__((noreturn));
void wfreg_die_gone(void) __attribute__((noreturn));

/* Start reading process target: checks it exists, reads its mappings. */
void wfreg_open(pid_t target);
/* Frees what wfreg_open() and wfreg_find() allocated. */
void wfreg_close(void);
/* Find the registry roots (sections first unless scan, then memory); *out is ours. */
size_t wfreg_find(bool scan, const struct wfreg_found **out);
/*
 * Walk fd's runtime list into rv (WFREG_MAX_RUNTIMES entries): the number
 * of runtimes, or -1 if the list could not be read consistently. flags:
 * WFREG_READ_TASKS also reads each polling worker's task record (weftstat's
 * refresh, every 0.1 s, needs only the slots). Resets the name budget.
 */
int wfreg_read_runtimes(const struct wfreg_found *fd, struct wfreg_runtime_view *rv,
			unsigned flags);
/*
 * The spawn-site file name of w's task (w->have_task) into out (cap bytes,
 * NUL-terminated, at most WFREG_MAX_STR): 0; -EFAULT when unreadable,
 * -ENOSPC when the walk's WFREG_NAME_BUDGET is spent (out is "" then).
 */
int wfreg_task_file(const struct wfreg_worker_view *w, char *out, size_t cap);
void wfreg_free_runtimes(struct wfreg_runtime_view *rv, size_t n);

/* Read len bytes at the target's addr: 0, -EFAULT (unmapped), -ESRCH (gone, with
 * wfreg_soft_gone), or dies. */
int wfreg_remote_read(uint64_t addr, void *buf, size_t len);
/* A NUL-terminated string at addr (at most cap - 1 bytes): 0 or -EFAULT. */
int wfreg_remote_str(uint64_t addr, char *out, size_t cap);
/* The mapping holding [addr, addr + len), or NULL. */
const struct wfreg_map *wfreg_map_of(uint64_t addr, uint64_t len);
/* Open a mapped file inside the target's root: an fd, or -1 with errno. */
int wfreg_open_mapped(const struct wfreg_map *m);

/* CLOCK_MONOTONIC offset of p's time namespace (0: ourselves). */
int64_t wfreg_timens_offset(pid_t p);
/* CLOCK_MONOTONIC now, as the target sees it. */
uint64_t wfreg_target_now(void);
const char *wfreg_state_name(uint32_t s);
const char *wfreg_flavor_name(uint32_t f);
/* Untrusted text for a terminal: non-printable bytes become '?'. */
void wfreg_put_safe(FILE *f, const char *s);

/*
 * The parsers of target-controlled input, pure functions of their bytes:
 * what the fuzzers (tests/fuzz/) feed. wfreg_read_hook, when set, replaces
 * process_vm_readv for every read of the target's memory (the fuzzers'
 * memory image).
 */
extern int (*wfreg_read_hook)(uint64_t addr, void *buf, size_t len);
/* One /proc/PID/maps line into m (m->path malloc'd or NULL): 0, -EINVAL, -ENOMEM. */
int wfreg_parse_maps_line(const char *line, struct wfreg_map *m);
/* A root as read: 0, -ENOENT (no magic), -EPROTO (unsupported); terminates lib_version. */
int wfreg_root_valid(struct wf_registry *r);
/* The monotonic offset of a timens_offsets text, in ns (0: none or out of range). */
int64_t wfreg_parse_timens(const char *text);
/*
 * An ELF file in memory as find_in_files() checks a mapped one: the
 * registry section's link-time address and size, and the page-aligned
 * p_vaddr of the PT_LOAD at file offset map_off. 0, -ENOEXEC, -ENOENT, -ENOMEM.
 */
int wfreg_elf_probe(const void *buf, size_t len, uint64_t map_off, uint64_t *addr,
		    uint64_t *size, uint64_t *vaddr);

#endif /* WEFT_TOOLS_WFREG_H */
