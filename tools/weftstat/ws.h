/* SPDX-License-Identifier: MIT */
/*
 * ws.h - what weftstat's files share: exit codes, the BPF loader.
 */
#ifndef WEFT_WEFTSTAT_WS_H
#define WEFT_WEFTSTAT_WS_H

#include <stdbool.h>
#include <sys/types.h>

enum { WS_EXIT_OK = 0, WS_EXIT_FAIL = 1, WS_EXIT_USAGE = 2 };

struct weftstat_bpf;

/*
 * Open and load the BPF programs for process tgid: the tp_btf set, else
 * the raw_tp set. Returns 0 with *skel loaded and *flavour "tp_btf" or
 * "raw_tp", or -errno with a message in err (size errlen).
 */
int ws_load(struct weftstat_bpf **skel, pid_t tgid, const char **flavour, char *err,
	    size_t errlen);

/* weftstat doctor ARGS: exit status. */
int ws_doctor(int argc, char **argv);

#endif /* WEFT_WEFTSTAT_WS_H */
