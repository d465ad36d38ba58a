/* SPDX-License-Identifier: MIT */
/*
 * parse.h - weftstat's parsers of untrusted input, as pure functions of
 * their bytes: the target's /proc files, its memory (code bytes, task
 * records), its symbol names, the --listen HTTP request and the command
 * line. Each is bounded by its arguments and fed by a fuzzer
 * (tests/fuzz/, docs/weftstat.md "Untrusted input"). The parsers of the
 * registry, /proc/PID/maps and the target's ELF files are tools/lib/wfreg.h's.
 */
#ifndef WEFT_WEFTSTAT_PARSE_H
#define WEFT_WEFTSTAT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* --- the target's /proc files ------------------------------------------------------ */

/*
 * The state letter of a /proc/PID/stat line of n bytes ('R', 'S', ...;
 * after the last ')', as the name may hold anything), or 0 when the line
 * does not parse.
 */
char ws_stat_state(const char *buf, size_t n);
/* The Tgid: field of a /proc/PID/status text, or def when there is none. */
pid_t ws_status_tgid(const char *text, pid_t def);
/*
 * A thread name (/proc/PID/task/TID/comm, n bytes read) into out (cap
 * bytes): up to the first newline or NUL, always terminated.
 */
void ws_comm(const char *raw, size_t n, char *out, size_t cap);

/* --- the target's memory ------------------------------------------------------------ */

/* Do the 7 bytes before a return address end with a call instruction? */
bool ws_after_call(const unsigned char b[7]);
/*
 * A task's name and spawn site from its registry record at addr, if the
 * record still holds task id (tasks are freed and reused): true with name,
 * file ("" when unreadable) and *line set. Reads through wfreg_remote_read.
 */
bool ws_task_info(uint64_t addr, uint64_t id, char *name, size_t name_cap, char *file,
		  size_t file_cap, unsigned *line);

/* --- symbol names, labels -------------------------------------------------------------- */

/*
 * A Rust name, legacy-mangled ("_ZN...17h<hash>E") or v0 ("_R..."), as
 * "a::b::c" (v0: with impls, closures and generic arguments, as
 * rustc-demangle's alternate form); others, and names that do not parse,
 * copied. out is always NUL-terminated (len > 0), cut to len.
 */
void ws_demangle_rust(const char *in, char *out, size_t len);
/* A Prometheus label value (at most max bytes of v): \\, " and newlines escaped. */
void ws_prom_label(FILE *f, const char *v, size_t max);

/*
 * A frame name (a function or a module, from the target's files) in a
 * --folded line: ';' (the frame separator) becomes ',', ' ' (before the
 * count) '_', control bytes '?': one name never makes two frames or lines.
 */
void ws_folded_name(FILE *f, const char *s);

#define WS_DEBUG_DIR "/usr/lib/debug"
/*
 * May a debug link from the target's file (.gnu_debuglink, a plain name;
 * .gnu_debugaltlink, a path) be opened? Plain names, or paths below
 * WS_DEBUG_DIR without "..": never a path of the target's choosing.
 */
bool ws_debuglink_safe(const char *name);
/* WS_DEBUG_DIR/.build-id/xx/yyyy.debug for a build-id of n bytes (2 to 64): 0, or -1. */
int ws_buildid_path(const unsigned char *id, size_t n, char *out, size_t cap);

/* --- the symbolizer's replies (sym.c) ------------------------------------------------- */

/*
 * weftstat's user symbols come from a child process that parses the
 * target's ELF and DWARF files (libdw): one fixed-size request, one
 * fixed-size reply, over a SOCK_SEQPACKET socket pair. The child may be
 * wrong in any way a corrupt file can make it: its replies are parsed
 * like any other untrusted input.
 */
#define WS_SYM_MAGIC 0x77737931u	/* "wsy1" */

enum ws_sym_op {
	WS_SYM_OPEN = 1,	/* report the target's modules: status 0 or -errno */
	WS_SYM_REFRESH = 2,	/* report them again: status 0 or -errno */
	WS_SYM_ADDR = 3,	/* symbolise addr: status 1 (a module covers it) or 0 */
};

struct ws_sym_request {
	uint32_t magic;
	uint32_t op;		/* enum ws_sym_op */
	uint32_t seq;		/* echoed by the reply */
	uint32_t reserved;
	uint64_t addr;
};

struct ws_sym_reply {
	uint32_t magic;
	uint32_t seq;
	int32_t status;
	int32_t line;		/* 0 when unknown */
	uint64_t offset;	/* address - function start */
	char func[128];		/* each NUL-terminated inside its field */
	char file[256];
	char module[128];
};

/*
 * Check a reply of n bytes to request seq of kind op: the size, the magic,
 * the sequence number, a status in range (op WS_SYM_ADDR: 0 or 1; else 0
 * or -1 to -4095), a line from 0, every string terminated inside its
 * field. Returns 0 with *status set and, for an address, *out filled
 * (func "?" when empty); -EPROTO when the reply is malformed (out is then
 * "?" and empty strings).
 */
struct sym;
int ws_sym_reply_parse(const void *buf, size_t n, uint32_t op, uint32_t seq, int *status,
		       struct sym *out);

/* --- --listen: the HTTP request ------------------------------------------------------- */

/* Has the request head (n bytes) ended: an empty line, CRLF or LF? */
bool ws_http_head_done(const char *req, size_t n);
/*
 * Route a request head of n bytes: 200 (GET or HEAD /metrics, with or
 * without a query), 400 (no request line, or a NUL in it), 404 (another
 * path), 405 (another method). *head: a HEAD request.
 */
int ws_http_route(const char *req, size_t n, bool *head);

/* --- the command line ------------------------------------------------------------------- */

/* -p: a process id from 1 to INT_MAX, or 0. */
pid_t ws_parse_pid(const char *arg);
/* Seconds from lo to hi, finite: 0 with *out set, or -1. */
int ws_parse_seconds(const char *arg, double lo, double hi, double *out);
/* A count from lo to hi: 0 with *out set, or -1. */
int ws_parse_count(const char *arg, long long lo, long long hi, long long *out);

#endif /* WEFT_WEFTSTAT_PARSE_H */
