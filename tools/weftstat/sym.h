/* SPDX-License-Identifier: MIT */
/*
 * sym.h - addresses to names for weftstat: user addresses of a live
 * process to function, file and line (elfutils libdw: the mappings of
 * /proc/PID/maps, so PIE, ASLR and shared libraries work), kernel
 * addresses to functions (/proc/kallsyms). libdw parses the target's
 * files in a child process, the symbolizer (sym.c): when it hangs, dies
 * or answers nonsense, one line on stderr says so and user addresses
 * show as module and offset for the rest of the run.
 */
#ifndef WEFT_WEFTSTAT_SYM_H
#define WEFT_WEFTSTAT_SYM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct sym {
	char func[128];		/* "?" when unknown */
	char file[256];		/* source file, "" when unknown */
	int line;		/* 0 when unknown */
	char module[128];	/* object's base name ("libc.so.6"), "" when unknown */
	uint64_t offset;	/* address - function start; func "?": the offset in the
				   module's file when symbols are unavailable, else 0 */
};

/*
 * Start the symbolizer for process pid (once the registry reader has read
 * its mappings: wfreg_open()) and report its modules: 0, or -errno (the
 * process is gone...). 0 too when the symbolizer failed: that was said on
 * stderr, and addresses show as module and offset.
 */
int sym_user_open(pid_t pid);
/* Report the modules again (libraries loaded since): 0 or -errno; keeps the old on error. */
int sym_user_refresh(pid_t pid);
/* Stop the symbolizer (the registry reader's mappings are still needed until then). */
void sym_user_close(void);
/*
 * Symbolise a user address (answers are cached); returns false if no
 * module covers it. Waits for the symbolizer 2 s at most (a module's first
 * address), else 1 s.
 */
bool sym_user(uint64_t addr, struct sym *out);
/* Is addr in the C library, the dynamic loader or the vDSO (not the culprit)? */
bool sym_is_system(const struct sym *s);

/* Kernel symbols from /proc/kallsyms: 0 or -errno (addresses may read 0 without root). */
int sym_kernel_open(void);
void sym_kernel_close(void);
/* The kernel function holding addr, or NULL. */
const char *sym_kernel(uint64_t addr);

#endif /* WEFT_WEFTSTAT_SYM_H */
