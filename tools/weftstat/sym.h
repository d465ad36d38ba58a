/* SPDX-License-Identifier: MIT */
/*
 * sym.h - addresses to names for weftstat: user addresses of a live
 * process to function, file and line (elfutils libdw: the mappings of
 * /proc/PID/maps, so PIE, ASLR and shared libraries work), kernel
 * addresses to functions (/proc/kallsyms).
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
	uint64_t offset;	/* address - function start */
};

/* Report the modules of process pid: 0, or -errno (the process is gone...). */
int sym_user_open(pid_t pid);
/* Report the modules again (libraries loaded since): 0 or -errno; keeps the old on error. */
int sym_user_refresh(pid_t pid);
void sym_user_close(void);
/* Symbolise a user address; returns false if no module covers it. */
bool sym_user(uint64_t addr, struct sym *out);
/* Is addr in the C library, the dynamic loader or the vDSO (not the culprit)? */
bool sym_is_system(const struct sym *s);

/* Kernel symbols from /proc/kallsyms: 0 or -errno (addresses may read 0 without root). */
int sym_kernel_open(void);
void sym_kernel_close(void);
/* The kernel function holding addr, or NULL. */
const char *sym_kernel(uint64_t addr);

#endif /* WEFT_WEFTSTAT_SYM_H */
