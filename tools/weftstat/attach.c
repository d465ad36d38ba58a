// SPDX-License-Identifier: MIT
/*
 * attach.c - weftstat attach: the target and the BPF programs. Loading the programs
 * (tp_btf, else raw_tp), finding the threads to trace (the weft
 * registry's workers, --threads, Tokio's workers) and keeping the workers
 * map up to date as they come, the target's liveness, the ring buffer,
 * the attach and the USDT probes of top's task view.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/types.h>
#include <math.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "json.h"
#include "parse.h"
#include "sym.h"
#include "trace.h"
#include "weftstat.h"
#include "weftstat.skel.h"
#include "wfreg.h"
#include "ws.h"

/* --- the BPF side ------------------------------------------------------------- */

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN && getenv("WEFTSTAT_DEBUG"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

/*
 * Does the kernel's sched_switch tracepoint pass prev_state (a fourth
 * argument after the context: btf_trace_sched_switch has five)?
 */
static bool sched_switch_has_prev_state(void)
{
	struct btf *vm = btf__load_vmlinux_btf();
	const struct btf_type *t;
	bool has = false;
	int id;

	if (!vm)
		return false;
	id = btf__find_by_name_kind(vm, "btf_trace_sched_switch", BTF_KIND_TYPEDEF);
	t = id > 0 ? btf__type_by_id(vm, (__u32)id) : NULL;
	if (t)
		t = btf__type_by_id(vm, t->type);	/* pointer */
	if (t && btf_is_ptr(t))
		t = btf__type_by_id(vm, t->type);	/* function prototype */
	if (t && btf_is_func_proto(t))
		has = btf_vlen(t) >= 5;
	btf__free(vm);
	return has;
}

/* Has struct @type of the kernel's BTF @vm a member @member? */
static bool btf_has_member(const struct btf *vm, const char *type, const char *member)
{
	int id = btf__find_by_name_kind(vm, type, BTF_KIND_STRUCT);
	const struct btf_type *t = id > 0 ? btf__type_by_id(vm, (__u32)id) : NULL;

	for (int i = 0; t && i < btf_vlen(t); i++)
		if (!strcmp(btf__name_by_offset(vm, btf_members(t)[i].name_off), member))
			return true;
	return false;
}

/*
 * Can run-queue waits come from the scheduler's accounting: per task
 * (CONFIG_SCHED_INFO: task_struct.sched_info, always kept since 5.14) and
 * a task's run queue clock (CONFIG_FAIR_GROUP_SCHED: se.cfs_rq->rq)?
 */
static bool kernel_has_sched_info(void)
{
	struct btf *vm = btf__load_vmlinux_btf();
	bool has;

	if (!vm)
		return false;
	has = btf_has_member(vm, "task_struct", "sched_info") &&
	      btf_has_member(vm, "sched_entity", "cfs_rq") && btf_has_member(vm, "cfs_rq", "rq");
	btf__free(vm);
	return has;
}

/*
 * btf: the tp_btf scheduler programs, else the raw_tp ones. sys_tp: the raw
 * syscall tracepoints too (a program run per syscall of every thread on
 * the machine); without them (tp_btf only) the syscall a thread sleeps in
 * and its futex waits are read from its registers at the switch-out.
 * wakeup_tp: the sched_wakeup programs; without them (tp_btf with
 * sched_info) run-queue waits come from the scheduler's accounting.
 */
static void set_flavour(struct weftstat_bpf *s, bool btf, bool sys_tp, bool wakeup_tp)
{
	bpf_program__set_autoload(s->progs.ws_switch_btf, btf);
	bpf_program__set_autoload(s->progs.ws_wakeup_btf, btf && wakeup_tp);
	bpf_program__set_autoload(s->progs.ws_wakeup_new_btf, btf && wakeup_tp);
	bpf_program__set_autoload(s->progs.ws_switch_raw, !btf);
	bpf_program__set_autoload(s->progs.ws_wakeup_raw, !btf);
	bpf_program__set_autoload(s->progs.ws_wakeup_new_raw, !btf);
	bpf_program__set_autoload(s->progs.ws_sys_enter, sys_tp);
	bpf_program__set_autoload(s->progs.ws_sys_exit, sys_tp);
	s->rodata->sys_from_regs = !sys_tp;
	s->rodata->runq_from_sched_info = btf && !wakeup_tp;
}

int ws_load(struct weftstat_bpf **skel, pid_t tgid, bool usdt, const char **flavour,
	    char *err, size_t errlen)
{
	int r = -EINVAL;

	libbpf_set_print(libbpf_quiet);
	/*
	 * tp_btf first (cheaper, typed, no program on syscalls); raw_tp with
	 * the syscall tracepoints when the kernel refuses it. WEFTSTAT_RAW_TP=1
	 * skips tp_btf (to test the fallback); WEFTSTAT_SYS_TP=1 keeps tp_btf
	 * but adds the syscall tracepoints, WEFTSTAT_WAKEUP_TP=1 the wakeup
	 * programs (to compare: "+sys_tp", "+wakeup_tp" in the flavour).
	 */
	for (int btf = getenv("WEFTSTAT_RAW_TP") ? 0 : 1; btf >= 0; btf--) {
		struct weftstat_bpf *s = weftstat_bpf__open();
		bool sys_tp, wakeup_tp;

		if (!s) {
			r = -errno;
			snprintf(err, errlen, "cannot open the BPF object: %s", strerror(errno));
			return r;
		}
		s->rodata->targ_tgid = (__u32)tgid;
		s->rodata->has_prev_state = btf && sched_switch_has_prev_state();
		sys_tp = !btf || getenv("WEFTSTAT_SYS_TP");
		wakeup_tp = !btf || getenv("WEFTSTAT_WAKEUP_TP") || !kernel_has_sched_info();
		set_flavour(s, btf, sys_tp, wakeup_tp);
		bpf_program__set_autoload(s->progs.ws_poll_start, usdt);
		bpf_program__set_autoload(s->progs.ws_poll_end, usdt);
		r = weftstat_bpf__load(s);
		if (!r) {
			*skel = s;
			static char name[32];

			snprintf(name, sizeof(name), "%s%s%s", btf ? "tp_btf" : "raw_tp",
				 btf && sys_tp ? "+sys_tp" : "", btf && wakeup_tp ? "+wakeup_tp" : "");
			*flavour = name;
			return 0;
		}
		snprintf(err, errlen, "the kernel refused the BPF programs (%s): %s",
			 btf ? "tp_btf" : "raw_tp", strerror(-r));
		weftstat_bpf__destroy(s);
	}
	return r;
}

/*
 * Put the target's workers in the map; again later for new runtimes and
 * late threads (the roots found the first time are kept: they never move).
 */
const struct wfreg_found *found;
static size_t nfound;
uint64_t workers_untraced;	/* no room in the workers map, most in one pass */

/*
 * Room for one more traced thread, workers[nworkers], zeroed (nworkers is
 * the caller's to count): the entry; NULL when the table is full (counted
 * in *untraced) or, with *oom set, when memory ran out.
 */
static struct worker *worker_slot(uint64_t *untraced, bool *oom)
{
	struct worker *nw;

	if (nworkers >= WS_MAX_WORKERS) {
		(*untraced)++;
		return NULL;
	}
	nw = realloc(workers, (nworkers + 1) * sizeof(*workers));
	if (!nw) {
		*oom = true;
		return NULL;
	}
	workers = nw;
	nw = &workers[nworkers];
	memset(nw, 0, sizeof(*nw));
	return nw;
}

/*
 * Thread w drives the slot at slot_addr now. When the programs follow it
 * under another slot (a spare of stall compensation that drove one slot,
 * gave it back and took another, or a thread back on its own slot after
 * driving another), tell them through slot_moves: they switch the thread's
 * entry at its next sleep whose slot is not its own.
 */
static void follow(struct weftstat_bpf *s, struct worker *w, uint64_t slot_addr, uint64_t park)
{
	struct ws_slot_move m = { .slot_addr = slot_addr, .park_futex_addr = park };
	uint64_t now = w->cur_slot ? w->cur_slot : w->slot_addr;

	if (now == slot_addr)
		return;
	if (!bpf_map_update_elem(bpf_map__fd(s->maps.slot_moves), &w->tid, &m, BPF_ANY))
		w->cur_slot = slot_addr;
}

/* Each slot's poll counter at the last walk that read it. */
static struct slot_seen {
	uint64_t addr, polls;
} *slots_seen;
static size_t nslots_seen, cap_slots_seen;

/*
 * How far the counter of the slot at addr advanced since the last walk
 * that read it (0 the first time, or if it went back).
 */
static uint64_t slot_advance(uint64_t addr, uint64_t polls)
{
	uint64_t d;

	for (size_t i = 0; i < nslots_seen; i++) {
		if (slots_seen[i].addr != addr)
			continue;
		d = polls >= slots_seen[i].polls ? polls - slots_seen[i].polls : 0;
		slots_seen[i].polls = polls;
		return d;
	}
	if (nslots_seen == cap_slots_seen) {
		size_t cap = cap_slots_seen ? 2 * cap_slots_seen : 16;
		struct slot_seen *a = realloc(slots_seen, cap * sizeof(*a));

		if (!a)
			return 0;
		slots_seen = a;
		cap_slots_seen = cap;
	}
	slots_seen[nslots_seen++] = (struct slot_seen){ addr, polls };
	return 0;
}

/*
 * Thread w was found driving slot k (at slot_addr) of runtime rt: its name,
 * index and state become that slot's. The slot's polls since the last walk
 * (0.1 s ago) are credited to it: with stall compensation a slot changes
 * threads, each thread is credited for the walks that found it driving,
 * and the threads' counts add up to the slots'. (Crediting only a thread
 * found on the same slot at two walks in a row lost most polls when
 * hand-offs came every 100 ms: 10,000 of 96,000 a second.)
 */
static void drive(struct worker *w, const struct wf_reg_runtime *rt, uint32_t k,
		  uint64_t slot_addr, const struct wf_reg_worker *slot, uint64_t gen)
{
	w->polls += slot_advance(slot_addr, slot->polls);
	w->drive_slot = slot_addr;
	w->index = (int)k;
	/* (wfreg_read_runtimes() terminates the target's thread_name.) */
	if (snprintf(w->comm, sizeof(w->comm), "%s-%u", rt->thread_name, k) >=
	    (int)sizeof(w->comm))
		w->comm[sizeof(w->comm) - 2] = '+';	/* cut: say so */
	w->reg_state = slot->state;
	w->handed_off = false;
	w->gen = gen;
}

/*
 * The slot at slot_addr could not be read steadily (being written on each
 * try): whoever drove it at the last walk is taken to drive it still.
 */
static void keep_slot(uint64_t slot_addr, uint64_t gen)
{
	for (size_t j = 0; j < nworkers; j++)
		if (workers[j].drive_slot == slot_addr && !workers[j].handed_off)
			workers[j].gen = gen;
}

/*
 * Walk the registry: each slot's thread is traced (added to the map when
 * new) and takes the slot's name, index and state (drive()); a traced
 * thread that drives no slot is handed off. Returns the threads added, or
 * -errno.
 */
int refresh_workers(struct weftstat_bpf *s, bool first)
{
	static uint64_t gen;
	struct wfreg_runtime_view *rv;
	uint64_t untraced = 0;
	bool complete = true;
	int added = 0;

	if (first) {
		nfound = wfreg_find(false, &found);
		if (!nfound)
			return -ENOENT;
		/* From now on a target that exits is reported, not fatal. */
		wfreg_soft_gone = true;
	}
	rv = calloc(WFREG_MAX_RUNTIMES, sizeof(*rv));
	if (!rv)
		return -ENOMEM;
	gen++;
	for (size_t f = 0; f < nfound; f++) {
		int n = wfreg_read_runtimes(&found[f], rv, 0);

		complete &= n >= 0;
		for (int i = 0; i < n; i++) {
			if (!thread_prefix[0])
				snprintf(thread_prefix, sizeof(thread_prefix), "%s",
					 rv[i].r.thread_name);
			for (uint32_t k = 0; k < rv[i].r.nworkers; k++) {
				const struct wfreg_worker_view *w = &rv[i].w[k];
				uint64_t addr = rv[i].r.workers_addr +
						(uint64_t)k * found[f].root.worker_size;
				struct ws_worker init = { 0 };
				struct worker *nw = NULL;
				bool oom = false;
				__u32 tid;

				if (!w->stable) {
					keep_slot(addr, gen);
					continue;
				}
				if (w->s.tid <= 0)
					continue;
				tid = (__u32)w->s.tid;
				for (size_t j = 0; j < nworkers && !nw; j++)
					if (workers[j].tid == tid)
						nw = &workers[j];
				if (nw) {
					follow(s, nw, addr, w->s.park_futex_addr);
					drive(nw, &rv[i].r, k, addr, &w->s, gen);
					continue;
				}
				nw = worker_slot(&untraced, &oom);
				if (oom)
					break;
				if (!nw)
					continue;
				nw->tid = tid;
				nw->slot_addr = addr;
				drive(nw, &rv[i].r, k, addr, &w->s, gen);
				init.slot_addr = addr;
				init.park_futex_addr = w->s.park_futex_addr;
				init.sys_nr = -1;
				init.off_sys_nr = -1;
				if (bpf_map_update_elem(bpf_map__fd(s->maps.workers), &tid, &init,
							BPF_NOEXIST)) {
					untraced++;
					continue;
				}
				nworkers++;
				added++;
			}
		}
		if (n > 0)
			wfreg_free_runtimes(rv, (size_t)n);
	}
	free(rv);
	/* A walk that failed says nothing of who drives what: keep the last. */
	for (size_t j = 0; j < nworkers && complete; j++)
		if (workers[j].gen != gen)
			workers[j].handed_off = true;
	if (untraced > workers_untraced)
		workers_untraced = untraced;
	return added;
}

/* A thread's name (comm): 0, or -1 when the thread is gone. */
static int thread_comm(pid_t tid, char *buf, size_t len)
{
	char fn[64], raw[64];
	size_t n;
	FILE *f;

	snprintf(fn, sizeof(fn), "/proc/%d/task/%d/comm", (int)pid, (int)tid);
	f = fopen(fn, "re");
	if (!f)
		return -1;
	n = fread(raw, 1, sizeof(raw), f);
	fclose(f);
	ws_comm(raw, n, buf, len);
	return 0;
}

/*
 * --threads: put the target's threads whose name matches thread_re in the
 * map (again later for new threads). Returns how many were added, -ENOENT
 * when the first pass finds none, or -errno.
 */
static int refresh_threads(struct weftstat_bpf *s, bool first)
{
	char fn[64], comm[17];
	struct dirent *de;
	int added = 0, n = 0;
	DIR *d;

	snprintf(fn, sizeof(fn), "/proc/%d/task", (int)pid);
	d = opendir(fn);
	if (!d)
		return -errno;
	while ((de = readdir(d)) && n < 65536) {
		struct ws_worker init = { 0 };
		struct worker *nw;
		bool oom = false;
		char *e;
		long tid = strtol(de->d_name, &e, 10);
		bool seen = false;

		n++;
		if (*e || tid <= 0 || tid > INT_MAX || thread_comm((pid_t)tid, comm, sizeof(comm)))
			continue;
		if (regexec(&thread_re, comm, 0, NULL, 0))
			continue;
		for (size_t j = 0; j < nworkers && !seen; j++)
			seen = workers[j].tid == (uint32_t)tid;
		if (seen)
			continue;
		nw = worker_slot(&workers_untraced, &oom);
		if (oom)
			break;
		if (!nw)
			continue;
		nw->tid = (uint32_t)tid;
		nw->index = (int)nworkers;
		snprintf(nw->comm, sizeof(nw->comm), "%s", comm);
		init.foreign = 1;
		init.sys_nr = -1;
		init.off_sys_nr = -1;
		if (bpf_map_update_elem(bpf_map__fd(s->maps.workers), &nw->tid, &init,
					BPF_NOEXIST))
			continue;
		nworkers++;
		added++;
	}
	closedir(d);
	return first && !added ? -ENOENT : added;
}

/*
 * How often the set of traced threads is refreshed. A thread that starts
 * driving a weft worker (a stall-compensation spare taking a stuck
 * worker's slot) is invisible until then, so the registry, a few reads, is
 * read every 0.1 s; --threads lists /proc/PID/task, so every 0.5 s.
 */
uint64_t refresh_ns(void)
{
	return thread_mode ? 500000000ull : 100000000ull;
}

int refresh(struct weftstat_bpf *s, bool first)
{
	return thread_mode ? refresh_threads(s, first) : refresh_workers(s, first);
}

/*
 * Validate and compile a --threads pattern (POSIX extended regex, matched
 * against thread names): 0, or -1 with the message said.
 */
int set_thread_pattern(const char *re)
{
	char msg[256];
	int r;

	if (!*re) {
		say("--threads wants a regular expression, not an empty string");
		return -1;
	}
	if (strlen(re) >= sizeof(thread_pat)) {
		say("--threads: the pattern is longer than %zu bytes", sizeof(thread_pat) - 1);
		return -1;
	}
	r = regcomp(&thread_re, re, REG_EXTENDED | REG_NOSUB);
	if (r) {
		regerror(r, &thread_re, msg, sizeof(msg));
		say("--threads: bad regular expression '%s': %s", re, msg);
		return -1;
	}
	snprintf(thread_pat, sizeof(thread_pat), "%s", re);
	thread_mode = true;
	return 0;
}

static void on_signal(int sig)
{
	stop_sig = sig;
}

/* Gone, or a zombie waiting for its parent: either way, done. */
bool target_alive(void)
{
	char fn[64], buf[512], c;
	FILE *f;
	size_t n;

	if (kill(pid, 0) && errno == ESRCH)
		return false;
	snprintf(fn, sizeof(fn), "/proc/%d/stat", (int)pid);
	f = fopen(fn, "re");
	if (!f)
		return errno != ENOENT;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	c = ws_stat_state(buf, n);
	return c != 'Z' && c != 'X';
}

/* The process a thread id belongs to (the id itself when unknown). */
static pid_t tgid_of(pid_t tid)
{
	char fn[64], text[4096];
	size_t n;
	FILE *f;

	snprintf(fn, sizeof(fn), "/proc/%d/status", (int)tid);
	f = fopen(fn, "re");
	if (!f)
		return tid;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return ws_status_tgid(text, tid);
}

/* Options and target shared by report and top. */
const char *tokio_note;

/*
 * Find the threads to trace and put them in the map: the weft registry's
 * workers; --threads; or, without a registry, Tokio's workers. 0, or an
 * exit status with the message said.
 */
int find_threads(struct weftstat_bpf *s)
{
	int r;

	if (thread_mode) {
		r = refresh_threads(s, true);
		if (r == -ENOENT) {
			say("process %d has no thread whose name matches /%s/ (see "
			    "/proc/%d/task/*/comm)", (int)pid, thread_pat, (int)pid);
			return WS_EXIT_USAGE;
		}
		if (r < 0) {
			say("cannot list the threads of process %d: %s", (int)pid, strerror(-r));
			return WS_EXIT_USAGE;
		}
		return 0;
	}
	r = refresh_workers(s, true);
	if (r == -ENOENT) {
		/* No weft registry: a Tokio program's workers, by their default name. */
		set_thread_pattern(TOKIO_THREADS);
		r = refresh_threads(s, true);
		if (r > 0) {
			tokio_note = "no weft registry; tracing Tokio's worker threads by name";
			return 0;
		}
		say("process %d is not a weft process (no weft registry in its memory: it does "
		    "not use libweft, or libweft was built without CONFIG_WEFT_TRACE_REGISTRY) "
		    "and has no Tokio worker threads (tokio-runtime-w): name its worker threads "
		    "with --threads REGEX",
		    (int)pid);
		return WS_EXIT_USAGE;
	}
	if (r < 0 || !nworkers) {
		say("process %d has a weft registry but no running worker threads yet",
		    (int)pid);
		return WS_EXIT_USAGE;
	}
	return 0;
}

/* The target process of -p P: P's process; says so when P is a thread. */
void set_target(pid_t p)
{
	pid = tgid_of(p);
	if (pid != p)
		say("%d is a thread of process %d: tracing process %d", (int)p, (int)pid,
		    (int)pid);
}

/*
 * Common to report and top once the programs are loaded: the target's
 * symbols (a failure only costs names), the ring buffer, the attach, and
 * SIGINT/SIGTERM (and SIGHUP with @hup) as a clean stop. Returns 0, or -1
 * after saying why (*rbp is then NULL or to be freed by the caller).
 */
int start_tracing(struct weftstat_bpf *s, bool kernel_syms, bool hup,
			 struct ring_buffer **rbp)
{
	struct sigaction sa;
	int r = sym_user_open(pid);

	if (r)
		say("cannot read the symbols of process %d (%s): stacks will show addresses",
		    (int)pid, strerror(-r));
	if (kernel_syms)
		sym_kernel_open();
	*rbp = ring_buffer__new(bpf_map__fd(s->maps.events), on_event, NULL, NULL);
	if (!*rbp) {
		say("cannot create the ring buffer: %s", strerror(errno));
		return -1;
	}
	r = weftstat_bpf__attach(s);
	if (r) {
		say("cannot attach the BPF programs: %s", strerror(-r));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (hup)
		sigaction(SIGHUP, &sa, NULL);
	return 0;
}

/* Attach the task programs to the weft:poll_start/poll_end probes of each libweft. */
int attach_usdt(struct weftstat_bpf *s, struct bpf_link **links, size_t *nlinks,
		       char *note, size_t notelen)
{
	int err = 0;

	for (size_t f = 0; f < nfound && *nlinks + 2 <= MAX_USDT_LINKS; f++) {
		char path[PATH_MAX];
		struct bpf_link *a, *b;

		if (!found[f].object || found[f].object[0] != '/') {
			err = -ENOENT;
			continue;
		}
		/* The target's own file, as its mount namespace names it. */
		snprintf(path, sizeof(path), "/proc/%d/root%s", (int)pid, found[f].object);
		a = bpf_program__attach_usdt(s->progs.ws_poll_start, pid, path, "weft",
					     "poll_start", NULL);
		if (!a) {
			err = -errno;
			continue;
		}
		b = bpf_program__attach_usdt(s->progs.ws_poll_end, pid, path, "weft", "poll_end",
					     NULL);
		if (!b) {
			err = -errno;
			bpf_link__destroy(a);
			continue;
		}
		links[(*nlinks)++] = a;
		links[(*nlinks)++] = b;
		if (!s->bss->slow_poll_ns)
			s->bss->slow_poll_ns = found[f].root.slow_poll_ns;
	}
	if (*nlinks)
		return 0;
	snprintf(note, notelen,
		 "no task view: cannot attach to the weft:poll_start and poll_end probes (%s; "
		 "a libweft built with CONFIG_WEFT_USDT=n has none)",
		 strerror(err ? -err : ENOENT));
	return err ? err : -ENOENT;
}
