// SPDX-License-Identifier: MIT
/*
 * sym.c - symbolisation for weftstat.
 *
 * User addresses: libdw's Dwfl reports the target's modules from
 * /proc/PID/maps (load biases included, so PIE and ASLR need nothing
 * more); their files are opened inside the target's root (its mount
 * namespace) as the registry reader opens them, and their debug
 * information found in the file itself, then /usr/lib/debug by build-id
 * or by a debug link that names no path of the target's choosing. A
 * function name comes from the symbol table; the file and line from DWARF
 * when the object has it.
 *
 * The symbolizer. Those files are the target's, and libdw parses them:
 * a corrupt or hostile file can make it loop, eat memory or crash. So
 * libdw runs in a child process, forked once per session by
 * sym_user_open(), under limits (address space, CPU time, no core file,
 * no file writes, no new privileges, a seccomp filter that refuses what
 * reading files does not need), with nothing of weftstat's open but the
 * target's mapped files (opened by the parent, inside the target's root)
 * and its end of a SOCK_SEQPACKET socket pair. The parent asks one
 * address at a time (struct ws_sym_request, parse.h) and waits for the
 * fixed-size reply with a deadline: WS_SYM_FIRST_MS for a module not asked about yet (its
 * DWARF is loaded then), WS_SYM_NEXT_MS after. A reply is checked like
 * any untrusted input (ws_sym_reply_parse()). When the child is late,
 * dies, or answers nonsense, it is killed, one line on stderr says why and
 * on which module, and the rest of the run shows addresses as module and
 * offset, from /proc/PID/maps as read at the start. Answers are cached by
 * address (WS_SYM_CACHE entries; the same return addresses repeat), so a
 * report asks a few hundred questions at most, and top --listen asks the
 * same ones once.
 *
 * WEFTSTAT_SYMBOLIZER_TEST=hang|crash|garbage|memory|escape, for tests
 * only, is read by the child alone: at its first address it hangs, aborts,
 * answers with a reply that does not parse, reserves 8 GiB (and aborts
 * when it cannot: the address space limit), or tries what its seccomp
 * filter refuses (and aborts if one succeeds).
 *
 * Kernel addresses: /proc/kallsyms, sorted, binary search. Without root
 * the kernel shows zeros there, and every address reads as unknown.
 */
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "parse.h"
#include "sym.h"
#include "wfreg.h"

#define WS_SYM_FIRST_MS 2000	/* a module's first address: libdw loads its DWARF */
#define WS_SYM_NEXT_MS 1000	/* any other request */
#define WS_SYM_CACHE 4096	/* answers kept, by address (a power of 2) */
#define WS_SYM_MODULES 64	/* modules remembered as asked about */
#define WS_SYM_AS_EXTRA (1ull << 30)	/* the child's address space beyond its start */
#define WS_SYM_CPU_S 600	/* the child's CPU time, seconds */
#define WS_SYM_FILES 256	/* mapped files opened for the child before the fork */

/* --- the child: libdw ------------------------------------------------------------------ */

static Dwfl *dwfl;
static char *debuginfo_path;

/*
 * Open a file named by the target (its mappings, its debug links) without
 * trusting it: never blocking (a FIFO), regular files only. The fd, with
 * *name a copy of path, or -1.
 */
static int open_regular(const char *path, char **name)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	*name = strdup(path);
	return fd;
}

/*
 * The target's mapped files, opened by the parent before the fork the way
 * the registry reader opens them (wfreg_open_mapped(): inside the target's
 * root, its mount namespace, with openat2 RESOLVE_IN_ROOT, checked against
 * the mapping's inode, else through /proc/PID/map_files). The child
 * inherits the descriptors: it opens nothing but read-only files itself
 * (its seccomp filter refuses openat2, whose flags it cannot see).
 */
static struct {
	char *path;
	int fd;
} files[WS_SYM_FILES];
static size_t nfiles;

/*
 * A module's file: the one opened before the fork. A library mapped since
 * the registry reader read the mappings is opened by name, as libdw would,
 * but never blocking and regular files only. Anything else ([vdso]) is
 * libdw's own business.
 */
static int find_elf_in_root(Dwfl_Module *mod, void **userdata, const char *modname,
			    Dwarf_Addr base, char **file_name, Elf **elfp)
{
	if (modname && modname[0] == '/') {
		for (size_t i = 0; i < nfiles; i++) {
			int fd;

			if (strcmp(files[i].path, modname))
				continue;
			/* Dwfl closes what it is given; the next report needs it again. */
			fd = fcntl(files[i].fd, F_DUPFD_CLOEXEC, 0);
			if (fd < 0)
				break;
			*file_name = strdup(modname);
			return fd;
		}
		return open_regular(modname, file_name);
	}
	return dwfl_linux_proc_find_elf(mod, userdata, modname, base, file_name, elfp);
}

/*
 * Separate debug information, in place of dwfl_standard_find_debuginfo,
 * which opens (and reads to the end, for its CRC) whatever path the
 * target's .gnu_debuglink names, relative to the module's directory: a
 * FIFO there hangs us, /dev/zero never ends. Here: by build-id under
 * /usr/lib/debug, then the debug link if it is a plain name (or a path
 * below /usr/lib/debug), under /usr/lib/debug and the module's directory;
 * regular files only, opened without blocking.
 */
static int find_debuginfo_safe(Dwfl_Module *mod, void **userdata, const char *modname,
			       Dwarf_Addr base, const char *file_name,
			       const char *debuglink_file, GElf_Word debuglink_crc,
			       char **debuginfo_file_name)
{
	const unsigned char *id;
	char path[PATH_MAX];
	GElf_Addr vaddr;
	const char *slash;
	int n, fd;

	n = dwfl_module_build_id(mod, &id, &vaddr);
	if (n > 0 && !ws_buildid_path(id, (size_t)n, path, sizeof(path))) {
		fd = open_regular(path, debuginfo_file_name);
		if (fd >= 0)
			return fd;
	}
	if (!debuglink_file || !ws_debuglink_safe(debuglink_file))
		return -1;
	if (debuglink_file[0] == '/')
		return open_regular(debuglink_file, debuginfo_file_name);
	slash = file_name && file_name[0] == '/' ? strrchr(file_name, '/') : NULL;
	if (!slash)
		return -1;
	n = snprintf(path, sizeof(path), WS_DEBUG_DIR "%.*s/%s", (int)(slash - file_name),
		     file_name, debuglink_file);
	if (n < 0 || (size_t)n >= sizeof(path) || !ws_debuglink_safe(path))
		return -1;
	return open_regular(path, debuginfo_file_name);
}

static const Dwfl_Callbacks proc_callbacks = {
	.find_elf = find_elf_in_root,
	.find_debuginfo = find_debuginfo_safe,
	.debuginfo_path = &debuginfo_path,
};

static int report(Dwfl *d, pid_t pid)
{
	int r;

	dwfl_report_begin(d);
	r = dwfl_linux_proc_report(d, pid);
	if (dwfl_report_end(d, NULL, NULL))
		return -EINVAL;
	/* > 0 is an errno from reading /proc/PID/maps. */
	return r > 0 ? -r : r < 0 ? -EINVAL : 0;
}


/* Symbolise addr into r (r->status 1: a module covers it). */
static void lookup(uint64_t addr, struct ws_sym_reply *r)
{
	const char *name, *modname, *src, *base;
	Dwfl_Module *mod;
	GElf_Off off = 0;
	Dwfl_Line *ln;
	GElf_Sym s;
	int line = 0;

	snprintf(r->func, sizeof(r->func), "?");
	mod = dwfl ? dwfl_addrmodule(dwfl, addr) : NULL;
	if (!mod)
		return;
	r->status = 1;
	modname = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
	if (modname) {
		base = strrchr(modname, '/');
		snprintf(r->module, sizeof(r->module), "%s", base ? base + 1 : modname);
	}
	name = dwfl_module_addrinfo(mod, addr, &off, &s, NULL, NULL, NULL);
	if (name) {
		ws_demangle_rust(name, r->func, sizeof(r->func));
		r->offset = off;
	}
	ln = dwfl_module_getsrc(mod, addr);
	if (ln) {
		src = dwfl_lineinfo(ln, NULL, &line, NULL, NULL, NULL);
		if (src) {
			snprintf(r->file, sizeof(r->file), "%s", src);
			r->line = line > 0 ? line : 0;
		}
	}
}

/* Report the modules of pid into a new Dwfl, replacing the old: 0 or -errno. */
static int child_report(pid_t pid)
{
	Dwfl *d = dwfl_begin(&proc_callbacks);
	int r;

	if (!d)
		return -ENOMEM;
	r = report(d, pid);
	if (r) {
		dwfl_end(d);
		return r;
	}
	if (dwfl)
		dwfl_end(dwfl);
	dwfl = d;
	return 0;
}

/* Virtual memory the process has now, in bytes (0 when unknown). */
static uint64_t vm_size(void)
{
	unsigned long long pages = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f) {
		if (fscanf(f, "%llu", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	return (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Close every descriptor above stderr but sock and files[]. */
static void keep_fds(int sock)
{
	int top = sock;

	for (size_t i = 0; i < nfiles; i++)
		if (files[i].fd > top)
			top = files[i].fd;
	for (int d = STDERR_FILENO + 1; d < top; d++) {
		bool keep = d == sock;

		for (size_t i = 0; i < nfiles && !keep; i++)
			keep = files[i].fd == d;
		if (!keep)
			close(d);
	}
	if (close_range((unsigned)top + 1, ~0u, 0))
		for (int d = top + 1; d < 1024; d++)
			close(d);
}

/*
 * The system calls the child is refused (EPERM): running programs, new
 * processes, other processes (tracing, their memory, signals), sockets,
 * namespaces and mounts, modules, BPF and perf, changing files or
 * identities. A denylist, not an allowlist: libdw and the C library need
 * many calls, and their set changes with their versions; what matters is
 * that code run through a libdw bug cannot leave the child's business of
 * reading files and answering on its socket.
 */
static const int denied[] = {
	SYS_execve, SYS_execveat, SYS_clone, SYS_clone3, SYS_ptrace, SYS_process_vm_readv,
	SYS_process_vm_writev, SYS_process_madvise, SYS_kill, SYS_tkill, SYS_pidfd_open,
	SYS_pidfd_send_signal, SYS_pidfd_getfd, SYS_socket, SYS_socketpair, SYS_connect,
	SYS_bind, SYS_listen, SYS_accept, SYS_accept4, SYS_sendmsg, SYS_recvmsg, SYS_openat2,
	SYS_open_by_handle_at, SYS_name_to_handle_at, SYS_mount, SYS_umount2, SYS_pivot_root,
	SYS_chroot, SYS_setns, SYS_unshare, SYS_mount_setattr, SYS_move_mount, SYS_open_tree,
	SYS_fsopen, SYS_fsconfig, SYS_fsmount, SYS_fspick, SYS_init_module, SYS_finit_module,
	SYS_delete_module, SYS_kexec_load, SYS_kexec_file_load, SYS_reboot, SYS_bpf,
	SYS_perf_event_open, SYS_io_uring_setup, SYS_userfaultfd, SYS_keyctl, SYS_add_key,
	SYS_request_key, SYS_setuid, SYS_setgid, SYS_setreuid, SYS_setregid, SYS_setresuid,
	SYS_setresgid, SYS_setgroups, SYS_setfsuid, SYS_setfsgid, SYS_capset, SYS_unlinkat,
	SYS_renameat, SYS_renameat2, SYS_mkdirat, SYS_linkat, SYS_symlinkat, SYS_mknodat,
	SYS_fchmod, SYS_fchmodat, SYS_fchown, SYS_fchownat, SYS_truncate, SYS_ftruncate,
	SYS_quotactl, SYS_swapon, SYS_swapoff, SYS_sethostname, SYS_setdomainname,
	SYS_settimeofday, SYS_clock_settime, SYS_adjtimex, SYS_clock_adjtime, SYS_acct,
#ifdef __x86_64__
	SYS_fork, SYS_vfork, SYS_creat, SYS_unlink, SYS_rename, SYS_mkdir, SYS_rmdir, SYS_link,
	SYS_symlink, SYS_mknod, SYS_chmod, SYS_chown, SYS_lchown, SYS_iopl, SYS_ioperm,
#endif
};

#if defined(__x86_64__)
#define WS_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define WS_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef WS_AUDIT_ARCH
/*
 * The seccomp filter: another architecture's calls kill the child; the
 * denied ones, an open for writing (or creating, truncating, appending)
 * and a signal to another process fail with EPERM; the rest pass. 0, or
 * -1 (no filter: the kernel has no seccomp).
 */
static int child_seccomp(void)
{
	enum { MAX = sizeof(denied) / sizeof(denied[0]) + 24 };
	const uint32_t wflags = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND;
	struct sock_filter f[MAX];
	size_t n = 0, deny;
	struct sock_fprog prog;

#define LD(off) (f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off)))
#define RET(v) (f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (v)))
#define JMP(op, k, t, e)                                                                   \
	(f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | (op) | BPF_K, (k), (t), (e)))
#define ARG(i) (offsetof(struct seccomp_data, args) + (i) * sizeof(uint64_t))	/* low half */
	LD(offsetof(struct seccomp_data, arch));
	JMP(BPF_JEQ, WS_AUDIT_ARCH, 1, 0);
	RET(SECCOMP_RET_KILL_PROCESS);
	LD(offsetof(struct seccomp_data, nr));
#ifdef __x86_64__
	JMP(BPF_JGE, 0x40000000, 0xff, 0);	/* x32 calls (jump patched below) */
#endif
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
		JMP(BPF_JEQ, (uint32_t)denied[i], 0xff, 0);
	/* openat(dirfd, path, flags), open(path, flags): read-only only. */
	JMP(BPF_JEQ, SYS_openat, 0, 3);
	LD(ARG(2));
	JMP(BPF_JSET, wflags, 0xff, 0);
	RET(SECCOMP_RET_ALLOW);
#ifdef __x86_64__
	JMP(BPF_JEQ, SYS_open, 0, 3);
	LD(ARG(1));
	JMP(BPF_JSET, wflags, 0xff, 0);
	RET(SECCOMP_RET_ALLOW);
#endif
	/* tgkill(tgid, ...): raise() and abort() signal this process only. */
	JMP(BPF_JEQ, SYS_tgkill, 0, 3);
	LD(ARG(0));
	JMP(BPF_JEQ, (uint32_t)getpid(), 0, 0xff);
	RET(SECCOMP_RET_ALLOW);
	RET(SECCOMP_RET_ALLOW);
	deny = n;
	RET(SECCOMP_RET_ERRNO | EPERM);
#undef LD
#undef RET
#undef JMP
#undef ARG
	/* Every 0xff is "to deny": relative to the next instruction, 255 at most. */
	_Static_assert(MAX < 256, "every jump to deny fits in 8 bits");
	for (size_t i = 0; i < deny; i++) {
		if (BPF_CLASS(f[i].code) != BPF_JMP)
			continue;
		if (f[i].jt == 0xff)
			f[i].jt = (uint8_t)(deny - i - 1);
		if (f[i].jf == 0xff)
			f[i].jf = (uint8_t)(deny - i - 1);
	}
	prog.len = (unsigned short)n;
	prog.filter = f;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) ? -1 : 0;
}
#else
static int child_seccomp(void)
{
	return -1;
}
#endif

/*
 * What the child may do: its socket and the target's files opened before
 * the fork, and nothing else of weftstat's open (BPF objects, the
 * listening socket); stdin and stdout on /dev/null (stderr too unless
 * WEFTSTAT_DEBUG); the terminal's signals ignored (^C stops weftstat,
 * which then still needs its symbols); dead with its parent;
 * WS_SYM_AS_EXTRA more address space than it starts with, a CPU time
 * limit, no core file, no file writes, no new privileges, and the seccomp
 * filter above.
 */
static void child_confine(int fd, pid_t parent)
{
	static const int sigs[] = { SIGINT, SIGQUIT, SIGHUP, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE };
	uint64_t vm = vm_size();
	struct rlimit rl;
	int null;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_IGN);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		if (!getenv("WEFTSTAT_DEBUG"))
			dup2(null, STDERR_FILENO);
	}
	keep_fds(fd);
	if (vm) {
		rl.rlim_cur = rl.rlim_max = vm + WS_SYM_AS_EXTRA;
		setrlimit(RLIMIT_AS, &rl);
	}
	rl.rlim_cur = rl.rlim_max = WS_SYM_CPU_S;
	setrlimit(RLIMIT_CPU, &rl);
	rl.rlim_cur = rl.rlim_max = 0;
	setrlimit(RLIMIT_CORE, &rl);
	setrlimit(RLIMIT_FSIZE, &rl);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (child_seccomp() && getenv("WEFTSTAT_DEBUG"))
		fprintf(stderr, "weftstat: symbolizer: no seccomp filter: %s\n", strerror(errno));
}

/*
 * WEFTSTAT_SYMBOLIZER_TEST=memory: reserve 8 GiB, 64 MiB at a time, never
 * touched (no memory is used, only address space), as a runaway parse
 * would; RLIMIT_AS stops it at 1 GiB, and the child aborts as libdw's
 * caller would on the failed allocation. Without the limit it gives all
 * back and answers.
 */
static void grab_memory(void)
{
	enum { CHUNK = 64 << 20, NCHUNKS = 128 };
	static void *p[NCHUNKS];

	for (int i = 0; i < NCHUNKS; i++) {
		p[i] = malloc(CHUNK);
		if (!p[i])
			abort();
	}
	for (int i = 0; i < NCHUNKS; i++)
		free(p[i]);
}

/*
 * WEFTSTAT_SYMBOLIZER_TEST=escape: what code run through a libdw bug might
 * try: create a file (in the working directory), signal the parent, open
 * a network socket, run a program. The filter refuses each, and the child
 * answers as usual; without it the child aborts, or becomes /bin/true.
 */
static void try_escape(void)
{
	char *const argv[] = { "true", NULL }, *const envp[] = { NULL };
	int fd = open("weftstat-symbolizer-escape", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	if (fd >= 0 || !kill(getppid(), 0) || socket(AF_INET, SOCK_STREAM, 0) >= 0)
		abort();
	execve("/bin/true", argv, envp);
}

/* The child: answer requests on fd until the parent goes. */
static __attribute__((noreturn)) void child_main(int fd, pid_t pid, pid_t parent)
{
	const char *test;
	struct ws_sym_request q;
	bool first = true;

	child_confine(fd, parent);
	test = getenv("WEFTSTAT_SYMBOLIZER_TEST");
	for (;;) {
		struct ws_sym_reply r;
		ssize_t n = recv(fd, &q, sizeof(q), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(q) || q.magic != WS_SYM_MAGIC)
			_exit(0);
		memset(&r, 0, sizeof(r));
		r.magic = WS_SYM_MAGIC;
		r.seq = q.seq;
		if (q.op == WS_SYM_OPEN || q.op == WS_SYM_REFRESH) {
			r.status = child_report(pid);
		} else if (q.op == WS_SYM_ADDR) {
			if (first && test && !strcmp(test, "hang"))
				for (;;)
					pause();
			if (first && test && !strcmp(test, "crash"))
				abort();
			if (first && test && !strcmp(test, "memory"))
				grab_memory();
			if (first && test && !strcmp(test, "escape"))
				try_escape();
			lookup(q.addr, &r);
			if (first && test && !strcmp(test, "garbage"))
				r.line = -1;
			first = false;
		} else {
			_exit(0);
		}
		if (send(fd, &r, sizeof(r), MSG_NOSIGNAL) != (ssize_t)sizeof(r))
			_exit(0);
	}
}

/* --- the parent: requests, deadlines, the cache ------------------------------------------ */

struct cached {
	uint64_t addr;
	bool used, found;
	struct sym s;
};

static struct {
	pid_t child;		/* 0: none (not started, or gone) */
	int fd;
	pid_t target;
	uint32_t seq;
	bool failed;		/* symbols unavailable for the rest of the run */
	struct cached *cache;	/* WS_SYM_CACHE entries */
	char *modules[WS_SYM_MODULES];	/* asked about already */
	size_t nmodules;
	uint64_t asked, hits, wait_ns;	/* for WEFTSTAT_DEBUG */
} sz = { .fd = -1 };

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/* Kill and reap the child (if any), close the socket. Returns its wait status, or -1. */
static int child_stop(void)
{
	int st = -1;

	if (sz.fd >= 0)
		close(sz.fd);
	sz.fd = -1;
	if (sz.child > 0) {
		/* Dead already (its own crash)? Else killed, never waited on alive. */
		if (waitpid(sz.child, &st, WNOHANG) != sz.child) {
			kill(sz.child, SIGKILL);
			while (waitpid(sz.child, &st, 0) < 0 && errno == EINTR)
				;
		}
	}
	sz.child = 0;
	return st;
}

/* path (the target's, may hold anything) for one line of text. */
static void printable(const char *path, char *out, size_t cap)
{
	size_t i = 0;

	for (; path && path[i] && i + 1 < cap; i++)
		out[i] = (unsigned char)path[i] >= 0x20 && (unsigned char)path[i] < 0x7f ? path[i]
										: '?';
	out[i] = '\0';
}

/*
 * The child failed (why: "killed after 2 s", "died of signal 11", ...)
 * on what (a module's file, or NULL: the list of modules): stop it, say so
 * once, and show addresses from now on.
 */
static void child_failed(const char *why, const char *what)
{
	char p[PATH_MAX];

	child_stop();
	sz.failed = true;
	if (!what) {
		fprintf(stderr,
			"weftstat: symbolizer: %s reading the modules of process %d; showing "
			"addresses\n",
			why, (int)sz.target);
		return;
	}
	printable(what, p, sizeof(p));
	fprintf(stderr,
		"weftstat: symbolizer: %s on %s: its debug information may be corrupt; "
		"showing addresses\n",
		why, p);
}

/* Why the child that left status st (from child_stop()) ended. */
static void death_reason(int st, char *buf, size_t len)
{
	if (st >= 0 && WIFSIGNALED(st))
		snprintf(buf, len, "died of signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else if (st >= 0 && WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else
		snprintf(buf, len, "closed its socket");
}

/*
 * One request and its reply within timeout_ms: 0 with *status (and, for
 * an address, *out) set; -1 when the child failed (said, and stopped).
 */
static int ask(uint32_t op, uint64_t addr, int timeout_ms, const char *what, int *status,
	       struct sym *out)
{
	struct ws_sym_request q = { .magic = WS_SYM_MAGIC, .op = op, .seq = ++sz.seq,
				    .addr = addr };
	/* One byte more than a reply: a longer one is seen, not cut to size. */
	unsigned char buf[sizeof(struct ws_sym_reply) + 1];
	uint64_t start = mono_ns(), deadline = start + (uint64_t)timeout_ms * 1000000;
	char why[96];
	ssize_t n;
	int st;

	if (send(sz.fd, &q, sizeof(q), MSG_NOSIGNAL) != (ssize_t)sizeof(q)) {
		death_reason(child_stop(), why, sizeof(why));
		child_failed(why, what);
		return -1;
	}
	for (;;) {
		struct pollfd pf = { .fd = sz.fd, .events = POLLIN };
		uint64_t now = mono_ns();
		int r;

		if (now >= deadline) {
			snprintf(why, sizeof(why), "killed after %.3g s", timeout_ms / 1000.0);
			child_failed(why, what);
			return -1;
		}
		r = poll(&pf, 1, (int)((deadline - now + 999999) / 1000000));
		if (r < 0 && errno != EINTR) {
			snprintf(why, sizeof(why), "lost (poll: %s)", strerror(errno));
			child_failed(why, what);
			return -1;
		}
		if (r > 0)
			break;
	}
	do
		n = recv(sz.fd, buf, sizeof(buf), MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		st = child_stop();
		death_reason(st, why, sizeof(why));
		child_failed(why, what);
		return -1;
	}
	sz.asked++;
	sz.wait_ns += mono_ns() - start;
	if (ws_sym_reply_parse(buf, (size_t)n, op, q.seq, status, out)) {
		child_failed("sent a malformed reply", what);
		return -1;
	}
	return 0;
}

/* Open the target's mapped files for the child (files[]), once each. */
static void files_open(void)
{
	for (size_t i = 0; i < wfreg_nmaps && nfiles < WS_SYM_FILES; i++) {
		const struct wfreg_map *m = &wfreg_maps[i];
		bool seen = false;
		int fd;

		/* The files the registry reader opened too (find_in_files()). */
		if (!m->path || m->path[0] != '/' || !m->inode)
			continue;
		for (size_t j = 0; j < nfiles && !seen; j++)
			seen = !strcmp(files[j].path, m->path);
		if (seen)
			continue;
		fd = wfreg_open_mapped(m);
		if (fd < 0)
			continue;
		files[nfiles].path = strdup(m->path);
		if (!files[nfiles].path) {
			close(fd);
			break;
		}
		files[nfiles++].fd = fd;
	}
}

/* The parent's copies of files[]: the child has its own. */
static void files_close(void)
{
	for (size_t i = 0; i < nfiles; i++) {
		close(files[i].fd);
		free(files[i].path);
	}
	nfiles = 0;
}

/* Start the symbolizer for pid and have it report the modules: 0 or -errno. */
static int child_start(pid_t pid)
{
	int sv[2], status = 0;
	pid_t c, parent = getpid();
	struct sym dummy;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	files_open();
	fflush(NULL);		/* nothing buffered is written twice */
	c = fork();
	if (c < 0) {
		int e = errno;

		files_close();
		close(sv[0]);
		close(sv[1]);
		return -e;
	}
	if (!c) {
		close(sv[0]);
		child_main(sv[1], pid, parent);
	}
	files_close();
	close(sv[1]);
	sz.child = c;
	sz.fd = sv[0];
	sz.target = pid;
	/* A failure was said: addresses show as module and offset. */
	if (ask(WS_SYM_OPEN, 0, WS_SYM_FIRST_MS, NULL, &status, &dummy))
		return 0;
	if (status)
		child_stop();
	return status;
}

int sym_user_open(pid_t pid)
{
	sym_user_close();
	sz.cache = calloc(WS_SYM_CACHE, sizeof(*sz.cache));
	if (!sz.cache)
		return -ENOMEM;
	return child_start(pid);
}

int sym_user_refresh(pid_t pid)
{
	struct sym dummy;
	int status;

	if (sz.failed || !sz.child || pid != sz.target)
		return sz.failed ? -EIO : -ESRCH;
	if (ask(WS_SYM_REFRESH, 0, WS_SYM_FIRST_MS, NULL, &status, &dummy))
		return -EIO;
	/* Addresses no module covered may be in a library loaded since. */
	for (size_t i = 0; !status && sz.cache && i < WS_SYM_CACHE; i++)
		if (!sz.cache[i].found)
			sz.cache[i].used = false;
	return status;
}

void sym_user_close(void)
{
	if (sz.asked && getenv("WEFTSTAT_DEBUG"))
		fprintf(stderr,
			"weftstat: symbolizer: %" PRIu64 " requests, %.1f ms (%.1f us each); "
			"%" PRIu64 " answers from the cache\n",
			sz.asked, sz.wait_ns / 1e6, sz.wait_ns / 1e3 / (double)sz.asked, sz.hits);
	child_stop();
	free(sz.cache);
	for (size_t i = 0; i < sz.nmodules; i++)
		free(sz.modules[i]);
	memset(&sz, 0, sizeof(sz));
	sz.fd = -1;
}

/* Has the module at path been asked about (its DWARF loaded)? Remembers it. */
static bool module_known(const char *path)
{
	for (size_t i = 0; path && i < sz.nmodules; i++)
		if (!strcmp(sz.modules[i], path))
			return true;
	if (path && sz.nmodules < WS_SYM_MODULES) {
		sz.modules[sz.nmodules] = strdup(path);
		if (sz.modules[sz.nmodules])
			sz.nmodules++;
	}
	return false;
}

/* Without the symbolizer: the module and offset from the mappings read at the start. */
static bool sym_fallback(uint64_t addr, struct sym *out)
{
	const struct wfreg_map *m = wfreg_map_of(addr, 1);
	const char *base;

	if (!m || !m->path)
		return false;
	base = strrchr(m->path, '/');
	snprintf(out->module, sizeof(out->module), "%s", base ? base + 1 : m->path);
	out->offset = addr - m->start + m->off;
	return true;
}

bool sym_user(uint64_t addr, struct sym *out)
{
	const uint64_t h = (addr * 0x9e3779b97f4a7c15ull) >> (64 - 12);
	struct cached *c = sz.cache ? &sz.cache[h & (WS_SYM_CACHE - 1)] : NULL;
	const struct wfreg_map *m;
	int status = 0;

	_Static_assert(WS_SYM_CACHE == 1 << 12, "the hash gives 12 bits");
	if (c && c->used && c->addr == addr) {
		sz.hits++;
		*out = c->s;
		return c->found;
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->func, sizeof(out->func), "?");
	if (sz.failed || !sz.child)
		return sym_fallback(addr, out);
	m = wfreg_map_of(addr, 1);
	if (ask(WS_SYM_ADDR, addr, module_known(m ? m->path : NULL) ? WS_SYM_NEXT_MS
								     : WS_SYM_FIRST_MS,
		m && m->path ? m->path : "an address outside the mapped files", &status, out)) {
		memset(out, 0, sizeof(*out));
		snprintf(out->func, sizeof(out->func), "?");
		return sym_fallback(addr, out);
	}
	if (c) {
		c->addr = addr;
		c->used = true;
		c->found = status == 1;
		c->s = *out;
	}
	return status == 1;
}

bool sym_is_system(const struct sym *s)
{
	/* The sanitizers' runtimes too: their interceptors are never the culprit. */
	static const char *const sys[] = { "libc.so", "libc-", "ld-linux", "ld64.so",
					   "libpthread", "[vdso]", "linux-vdso", "libm.so",
					   "libasan.so", "libtsan.so", "libubsan.so", "liblsan.so",
					   "libhwasan.so" };

	for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
		if (!strncmp(s->module, sys[i], strlen(sys[i])))
			return true;
	return false;
}

/* --- kernel ----------------------------------------------------------------- */

struct ksym {
	uint64_t addr;
	char *name;
};

static struct ksym *ksyms;
static size_t nksyms;

static int ksym_cmp(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

int sym_kernel_open(void)
{
	FILE *f = fopen("/proc/kallsyms", "re");
	size_t cap = 0;
	char line[512];

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a;
		char type, name[256];

		if (sscanf(line, "%llx %c %255s", &a, &type, name) != 3 || !a)
			continue;
		if (type != 't' && type != 'T')
			continue;
		if (nksyms == cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			struct ksym *n = realloc(ksyms, ncap * sizeof(*n));

			if (!n)
				break;
			ksyms = n;
			cap = ncap;
		}
		ksyms[nksyms].addr = a;
		ksyms[nksyms].name = strdup(name);
		if (!ksyms[nksyms].name)
			break;
		nksyms++;
	}
	fclose(f);
	qsort(ksyms, nksyms, sizeof(*ksyms), ksym_cmp);
	return nksyms ? 0 : -EPERM;
}

void sym_kernel_close(void)
{
	for (size_t i = 0; i < nksyms; i++)
		free(ksyms[i].name);
	free(ksyms);
	ksyms = NULL;
	nksyms = 0;
}

const char *sym_kernel(uint64_t addr)
{
	size_t lo = 0, hi = nksyms;

	if (!nksyms || addr < ksyms[0].addr)
		return NULL;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (ksyms[mid].addr <= addr)
			lo = mid;
		else
			hi = mid;
	}
	return ksyms[lo].name;
}
