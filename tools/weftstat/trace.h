/* SPDX-License-Identifier: MIT */
/*
 * trace.h - one trace's state and the functions over it, shared by
 * weftstat's files: weftstat.c (the command line), attach.c, collect.c,
 * diagnose.c, text.c, formats.c, topcmd.c. Not an interface: names are
 * short, as they were when this was all one file.
 */
#ifndef WEFT_WEFTSTAT_TRACE_H
#define WEFT_WEFTSTAT_TRACE_H

#include <regex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <linux/types.h>

#include "sym.h"
#include "weftstat.h"

struct weftstat_bpf;
struct ring_buffer;
struct bpf_link;

#define MAX_SITES 256		/* distinct blocking sites kept */
#define SITE_CANDS 8		/* scanned return addresses kept per site */
#define SITE_TASKS 32		/* other tasks counted per site */
#define MAX_FRAMES (WS_STACK_DEPTH + SITE_CANDS)

/* Diagnosis thresholds (docs/weftstat.md, "Diagnosis"). */
#define TH_BLOCK_FRAC 0.05	/* off CPU inside polls, share of worker time */
#define TH_LOCK_FRAC 0.05	/* futex waits on user locks, share of worker time */
#define TH_RUNQ_FRAC 0.10	/* waiting for a CPU, share of worker time */
#define TH_RUNQ_MEAN_NS 1000000	/* or a mean run-queue wait over 1 ms */
#define TH_BUSY_FRAC 0.90	/* on CPU or runnable, share of worker time: saturated */

struct site {
	int ustack_id, kstack_id;
	uint64_t cands[SITE_CANDS];	/* return addresses found on the stack */
	unsigned ncands;
	uint64_t total_ns, runq_ns, count, max_ns;
	int64_t sys_nr;
	uint64_t task_id;		/* the first task seen blocking here */
	uint64_t other_tasks[SITE_TASKS];	/* others, by id */
	unsigned nother;
	bool more_tasks;		/* more than SITE_TASKS others */
	char task_name[33];
	char task_file[256];
	unsigned task_line;
};

/*
 * A traced thread. With weft, threads and worker slots are not one to one:
 * a spare of stall compensation takes a stuck worker's slot over, and the
 * thread it replaced becomes a spare that may later drive another slot.
 * slot_addr is the slot the thread was first seen driving (it counts the
 * slots, nslots()); index, comm, reg_state and drive_slot follow the slot
 * it drives at the last refresh of the registry (attach.c, drive()), or
 * the last one it drove when it drives none (handed_off).
 */
struct worker {
	uint32_t tid;
	int index;		/* worker index of the slot it drives (--threads: its rank) */
	uint64_t slot_addr;
	char comm[17];		/* "PREFIX-INDEX" of that slot; --threads: the thread name */
	uint32_t reg_state;	/* registry slot state at the last refresh */
	uint64_t drive_slot;	/* the slot it drives (or last drove) */
	uint64_t polls;		/* polls it made, summed over the slots it drove */
	uint64_t polls_prev;	/* polls at the last frame (top) */
	uint64_t gen;		/* the last registry walk that found it driving a slot */
	bool handed_off;	/* it drives no slot now (a spare, or stuck in a handed-off poll) */
	uint64_t cur_slot;	/* the slot the programs follow, if not slot_addr (slot_moves) */
	struct ws_worker st;	/* read back from the map: the figures of the window */
	struct ws_worker prev;	/* cumulative at the last window's end */
};

#define TOKIO_THREADS "^tokio-runtime-w"

struct frame {
	uint64_t addr;
	struct sym s;
};

struct totals {
	uint64_t worker_ns, oncpu, sleep, runq, block, futex_user, futex_park;
	uint64_t vol, invol, wakeups, nblock, nfutex;
	double block_frac, lock_frac, runq_frac, busy_frac, runq_mean_ns;
};

enum diag { D_BLOCKING, D_LOCK, D_STARVATION, D_SATURATION, D_NR };

#define MAX_LOCKS_SHOWN 5

struct lock {
	uint64_t uaddr;
	uint64_t wait_ns, count, max_ns;
	int top_stack;		/* the call stack with the most wait on this word */
	uint64_t top_stack_ns;
	uint64_t cands[SITE_CANDS];	/* return addresses on that stack's top */
	unsigned ncands;
};

/* The totals of struct ws_worker: every __u64 from oncpu_ns to the end. */
#define WS_TOTALS_OFF offsetof(struct ws_worker, oncpu_ns)
_Static_assert((sizeof(struct ws_worker) - WS_TOTALS_OFF) % sizeof(__u64) == 0,
	       "ws_worker's totals are __u64s up to its end");

struct utask {
	uint64_t id;
	struct ws_task cur, prev;	/* cumulative now and at the last frame */
	uint64_t off_ns;		/* its polls blocked in the kernel, this frame */
	bool named;			/* the record was read (or could not be) */
	char name[33];
	char site[288];
};

#define MAX_USDT_LINKS 8

/* --- state (collect.c, attach.c) ----------------------------------------------- */

extern pid_t pid;
extern volatile sig_atomic_t stop_sig;
extern struct site sites[MAX_SITES];
extern size_t nsites;
extern uint64_t sites_dropped;
extern struct worker *workers;
extern size_t nworkers;
extern char thread_prefix[17];
extern bool thread_mode;
extern regex_t thread_re;
extern char thread_pat[256];
extern struct lock *locks;
extern size_t nlocks;
extern struct utask *utasks;
extern size_t nutasks;
extern const struct wfreg_found *found;
extern uint64_t workers_untraced;
extern const char *tokio_note;

/* collect.c: shared helpers, aggregation, windows, tasks */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t now_ns(void);
int on_event(void *ctx, void *data, size_t len);
size_t nslots(void);
void sum_up(struct totals *t, uint64_t window);
void read_locks(struct weftstat_bpf *s, bool drain);
void lost_counts(struct weftstat_bpf *s, uint64_t *lost);
void collect(struct weftstat_bpf *s, uint64_t now, bool commit);
void window_reset(void);
void read_tasks(struct weftstat_bpf *s);

/* attach.c: the target, the programs, the threads traced */
int refresh_workers(struct weftstat_bpf *s, bool first);
uint64_t refresh_ns(void);
int refresh(struct weftstat_bpf *s, bool first);
int set_thread_pattern(const char *re);
bool target_alive(void);
int find_threads(struct weftstat_bpf *s);
void set_target(pid_t p);
int start_tracing(struct weftstat_bpf *s, bool kernel_syms, bool hup,
		struct ring_buffer **rbp);
int attach_usdt(struct weftstat_bpf *s, struct bpf_link **links, size_t *nlinks,
		char *note, size_t notelen);

/* diagnose.c: the rules and their sentences */
const char *diag_name(int d);
const char *diag_title_of(int d);
int diagnose(const struct totals *t, enum diag *out);
void thread_sentence(struct weftstat_bpf *s, const struct totals *t, uint64_t window);
void diag_line(char *buf, size_t len, const struct totals *t);

/* text.c: the text report and the symbolised sites */
const char *syscall_name(int64_t nr);
size_t site_frames(struct weftstat_bpf *s, const struct site *st, struct frame *f);
const struct frame *culprit_of(const struct frame *f, size_t n);
const char *kernel_top(struct weftstat_bpf *s, int kstack_id);
int site_cmp(const void *a, const void *b);
double sec(uint64_t ns);
void put_frame(FILE *f, const struct frame *fr);
bool lock_culprit(struct weftstat_bpf *s, const struct lock *l, struct frame *out);
void lock_name(uint64_t uaddr, char *buf, size_t len);
void print_text(struct weftstat_bpf *s, const struct totals *t, uint64_t window,
		const char *flavour, const uint64_t *lost, bool exited);

/* formats.c: --json, --folded, --prometheus */
void print_json(struct weftstat_bpf *s, const struct totals *t, uint64_t start,
		uint64_t end, const char *flavour, const uint64_t *lost, bool exited);
void print_folded(struct weftstat_bpf *s);
void print_prometheus(FILE *f, struct weftstat_bpf *s, const struct totals *t,
		uint64_t window, const uint64_t *lost, bool exited);
/* print_prometheus() into a heap string (*len bytes), or NULL. */
char *ws_prom_render(struct weftstat_bpf *s, const struct totals *t, uint64_t window,
		     const uint64_t *lost, bool exited, size_t *len);
/*
 * The Prometheus page of the window that ended at now (collected here;
 * commit: the window is done, as collect()), a heap string, or NULL.
 */
char *ws_prom_page(struct weftstat_bpf *s, uint64_t now, uint64_t window, bool commit,
		   bool exited, size_t *len);

/* topcmd.c: weftstat top */
int cmd_top(int argc, char **argv);

/* weftstat.c: the command line */
pid_t parse_pid(const char *arg);
bool parse_seconds(const char *opt, const char *arg, double lo, double hi, double *out);
bool parse_listen(const char *arg, struct sockaddr_storage *ss, socklen_t *len);
bool no_operands(int argc, char **argv, void (*usage_fn)(FILE *f));
int open_target(pid_t p, const char *listen_spec, const struct sockaddr_storage *laddr,
		socklen_t laddr_len, char *bound, size_t blen);
void usage(FILE *f);

#endif /* WEFT_WEFTSTAT_TRACE_H */
