// SPDX-License-Identifier: MIT
/*
 * The trace registry read from outside: tools/weft-registry against a
 * victim program (tests/runtime/victim_registry) whose task is busy inside
 * a poll, unstripped and stripped, by ELF section and by memory scan, in
 * text and JSON; the tool's errors (no such process, not a weft process,
 * permission denied, usage). And the USDT probes: their stapsdt notes with
 * semaphores, and, as root with bpftrace installed, live events.
 *
 * Helpers are found under $WEFT_OBJDIR (set by tests/run), or next to this
 * program in the build tree.
 */
#include "wtest.h"
#include "json_valid.h"

#include <weft/registry.h>

#include <elf.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOBODY 65534

static char objdir[PATH_MAX / 2];

static const char *build_path(char *buf, size_t n, const char *rel)
{
	if (!objdir[0]) {
		const char *e = getenv("WEFT_OBJDIR");

		if (e && *e) {
			snprintf(objdir, sizeof(objdir), "%s", e);
		} else {
			/* This program is OBJDIR/tests/runtime/registry. */
			ssize_t len = readlink("/proc/self/exe", objdir, sizeof(objdir) - 1);
			char *p;

			objdir[len > 0 ? len : 0] = '\0';
			for (int i = 0; i < 3 && (p = strrchr(objdir, '/')); i++)
				*p = '\0';
		}
	}
	snprintf(buf, n, "%s/%s", objdir, rel);
	return buf;
}

static double timeout_scale(void)
{
	const char *s = getenv("WTEST_TIMEOUT_SCALE");
	double v = s ? atof(s) : 1.0;

	return v >= 1.0 ? v : 1.0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- running programs ---------------------------------------------------------------- */

struct result {
	int status;	/* exit code, 128 + signal, or -1 (could not run / timed out) */
	char out[65536];
	char err[16384];
};

static void append(char *buf, size_t cap, size_t *len, int fd, bool *open)
{
	ssize_t n;

	if (*len + 1 >= cap) {
		char sink[4096];

		n = read(fd, sink, sizeof(sink));
	} else {
		n = read(fd, buf + *len, cap - 1 - *len);
		if (n > 0) {
			*len += (size_t)n;
			buf[*len] = '\0';
		}
	}
	if (n <= 0)
		*open = false;
}

/*
 * Run argv (execv, absolute path) and collect its output; as uid/gid
 * (if uid >= 0); killed after timeout_s (scaled). r->status as above.
 */
static void run(struct result *r, char *const argv[], int uid, int timeout_s)
{
	int po[2], pe[2];
	size_t lo = 0, le = 0;
	bool oo = true, eo = true;
	uint64_t deadline = now_ms() + (uint64_t)(timeout_s * timeout_scale() * 1000);
	pid_t c;
	int st;

	r->status = -1;
	r->out[0] = r->err[0] = '\0';
	if (pipe2(po, O_CLOEXEC) || pipe2(pe, O_CLOEXEC))
		return;
	c = fork();
	if (c < 0)
		return;
	if (c == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		if (uid >= 0 && (setgroups(0, NULL) || setgid((gid_t)uid) || setuid((uid_t)uid)))
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	while ((oo || eo) && now_ms() < deadline) {
		struct pollfd p[2] = {{oo ? po[0] : -1, POLLIN, 0}, {eo ? pe[0] : -1, POLLIN, 0}};

		if (poll(p, 2, 100) < 0)
			break;
		if (p[0].revents)
			append(r->out, sizeof(r->out), &lo, po[0], &oo);
		if (p[1].revents)
			append(r->err, sizeof(r->err), &le, pe[0], &eo);
	}
	if (oo || eo)
		kill(c, SIGKILL);
	close(po[0]);
	close(pe[0]);
	if (waitpid(c, &st, 0) != c || oo || eo)
		return;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A shell command line, for the few steps that want one (strip, readelf). */
static int sh(struct result *r, const char *cmd)
{
	char *argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };

	run(r, argv, -1, 60);
	return r->status;
}

static bool have(const char *prog)
{
	char cmd[256];
	struct result *r = malloc(sizeof(*r));
	bool ok;

	if (!r)
		return false;
	snprintf(cmd, sizeof(cmd), "command -v %s", prog);
	ok = sh(r, cmd) == 0;
	free(r);
	return ok;
}

/* --- the victim ------------------------------------------------------------------------ */

struct victim {
	pid_t pid;
	int line;
	char file[PATH_MAX];
	char path[PATH_MAX];
};

static int victim_start(struct victim *v, const char *path)
{
	char buf[PATH_MAX + 64];
	size_t len = 0;
	uint64_t deadline = now_ms() + (uint64_t)(30 * timeout_scale() * 1000);
	int p[2];
	int pid;

	memset(v, 0, sizeof(*v));
	snprintf(v->path, sizeof(v->path), "%s", path);
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	v->pid = fork();
	if (v->pid < 0)
		return -errno;
	if (v->pid == 0) {
		dup2(p[1], 1);
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while (len + 1 < sizeof(buf) && now_ms() < deadline) {
		struct pollfd pf = { p[0], POLLIN, 0 };
		ssize_t n;

		if (poll(&pf, 1, 100) <= 0)
			continue;
		n = read(p[0], buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strchr(buf, '\n'))
			break;
	}
	close(p[0]);
	buf[len] = '\0';
	if (sscanf(buf, "ready %d %d %4095s", &pid, &v->line, v->file) != 3 || pid != v->pid) {
		kill(v->pid, SIGKILL);
		waitpid(v->pid, NULL, 0);
		v->pid = 0;
		return -EPROTO;
	}
	return 0;
}

/* SIGTERM, then the victim's exit status (SIGKILL after 20 s: -1). */
static int victim_stop(struct victim *v)
{
	uint64_t deadline = now_ms() + (uint64_t)(20 * timeout_scale() * 1000);
	int st;

	if (v->pid <= 0)
		return -1;
	kill(v->pid, SIGTERM);
	while (now_ms() < deadline) {
		pid_t w = waitpid(v->pid, &st, WNOHANG);

		if (w == v->pid) {
			v->pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		usleep(10000);
	}
	kill(v->pid, SIGKILL);
	waitpid(v->pid, NULL, 0);
	v->pid = 0;
	return -1;
}

/* Run weft-registry -p PID [extra...]. */
static void registry_tool(struct result *r, pid_t pid, const char *extra, const char *tool,
			  int uid)
{
	char path[PATH_MAX], pids[16];
	char *argv[5] = { NULL };
	int n = 0;

	if (!tool)
		tool = build_path(path, sizeof(path), "tools/weft-registry/weft-registry");
	snprintf(pids, sizeof(pids), "%d", (int)pid);
	argv[n++] = (char *)tool;
	argv[n++] = "-p";
	argv[n++] = pids;
	if (extra)
		argv[n++] = (char *)extra;
	run(r, argv, uid, 60);
}

/* The tool's text names the spinner's worker as polling it, with its spawn site. */
static void check_text(struct __test_metadata *_metadata, const struct result *r,
		       const struct victim *v)
{
	char want[PATH_MAX + 64];

	if (r->status != 0)
		TH_LOG("weft-registry exited %d; stderr:\n%s", r->status, r->err);
	ASSERT_EQ(0, r->status);
	EXPECT_NOT_NULL(strstr(r->out, "weft registry at 0x"));
	EXPECT_NOT_NULL(strstr(r->out, "multi-thread, 2 workers"));
	EXPECT_NOT_NULL(strstr(r->out, " polling "));
	snprintf(want, sizeof(want), "\"busy-spinner\" spawned at %s:%d, poll running for ",
		 v->file, v->line);
	if (!strstr(r->out, want))
		TH_LOG("wanted '%s' in:\n%s", want, r->out);
	EXPECT_NOT_NULL(strstr(r->out, want));
}

static void check_json(struct __test_metadata *_metadata, const struct result *r,
		       const struct victim *v)
{
	char want[PATH_MAX + 64];
	size_t where;

	ASSERT_EQ(0, r->status);
	if (!json_valid(r->out, &where)) {
		TH_LOG("invalid JSON at %zu: %s", where, r->out);
		FAIL("weft-registry --json wrote invalid JSON");
	}
	EXPECT_NOT_NULL(strstr(r->out, "\"state\":\"polling\""));
	snprintf(want, sizeof(want), "\"name\":\"busy-spinner\",\"file\":\"%s\",\"line\":%d,",
		 v->file, v->line);
	if (!strstr(r->out, want))
		TH_LOG("wanted '%s' in:\n%s", want, r->out);
	EXPECT_NOT_NULL(strstr(r->out, want));
}

#ifdef CONFIG_WEFT_TRACE_REGISTRY
#define NEED_REGISTRY() do { } while (0)
#else
#define NEED_REGISTRY() SKIP("built without the trace registry (CONFIG_WEFT_TRACE_REGISTRY=n)")
#endif

static const char *victim_path(char *buf, size_t n)
{
	return build_path(buf, n, "tests/runtime/victim_registry");
}

TEST_TIMEOUT(reads_unstripped_victim, 120)
{
	struct result *r = malloc(sizeof(*r));
	struct victim v;
	char path[PATH_MAX];

	ASSERT_NOT_NULL(r);
	NEED_REGISTRY();
	ASSERT_EQ(0, victim_start(&v, victim_path(path, sizeof(path))));
	registry_tool(r, v.pid, NULL, NULL, -1);
	check_text(_metadata, r, &v);
	EXPECT_NOT_NULL(strstr(r->out, "(section in "));
	registry_tool(r, v.pid, "--json", NULL, -1);
	check_json(_metadata, r, &v);
	EXPECT_NOT_NULL(strstr(r->out, "\"found_by\":\"section\""));
	EXPECT_EQ(0, victim_stop(&v));
	free(r);
}

TEST_TIMEOUT(reads_victim_linked_with_shared_libweft, 120)
{
	struct result *r = malloc(sizeof(*r));
	struct victim v;
	char path[PATH_MAX];

	ASSERT_NOT_NULL(r);
	NEED_REGISTRY();
	build_path(path, sizeof(path), "tests/runtime/victim_registry_so");
	ASSERT_EQ(0, victim_start(&v, path));
	registry_tool(r, v.pid, NULL, NULL, -1);
	check_text(_metadata, r, &v);
	EXPECT_NOT_NULL(strstr(r->out, "(section in "));
	EXPECT_NOT_NULL(strstr(r->out, "/libweft.so."));
	registry_tool(r, v.pid, "--scan", NULL, -1);
	check_text(_metadata, r, &v);
	EXPECT_EQ(0, victim_stop(&v));
	free(r);
}

/* A stripped copy of the victim in a fresh directory; returns the directory. */
static int make_stripped(struct __test_metadata *_metadata, char *dir, char *path, size_t n)
{
	struct result *r = malloc(sizeof(*r));
	char src[PATH_MAX], cmd[3 * PATH_MAX];

	if (!r)
		return -ENOMEM;
	if (!have("strip") || !have("readelf")) {
		free(r);
		return -ENOENT;
	}
	strcpy(dir, "/tmp/weft-registry-test.XXXXXX");
	if (!mkdtemp(dir)) {
		free(r);
		return -errno;
	}
	chmod(dir, 0755);
	snprintf(path, n, "%s/victim_registry", dir);
	snprintf(cmd, sizeof(cmd), "strip --strip-all -o '%s' '%s'", path,
		 victim_path(src, sizeof(src)));
	EXPECT_EQ(0, sh(r, cmd));
	/* No symbols left, the registry's section still there. */
	snprintf(cmd, sizeof(cmd), "readelf -S --wide '%s'", path);
	EXPECT_EQ(0, sh(r, cmd));
	EXPECT_NULL(strstr(r->out, ".symtab"));
	EXPECT_NULL(strstr(r->out, ".debug_info"));
	EXPECT_NOT_NULL(strstr(r->out, " weft_registry "));
	free(r);
	return 0;
}

static void remove_stripped(const char *dir, const char *path)
{
	unlink(path);
	rmdir(dir);
}

TEST_TIMEOUT(reads_stripped_victim, 120)
{
	struct result *r = malloc(sizeof(*r));
	char dir[64], path[PATH_MAX];
	struct victim v;
	int e;

	ASSERT_NOT_NULL(r);
	NEED_REGISTRY();
	e = make_stripped(_metadata, dir, path, sizeof(path));
	if (e == -ENOENT)
		SKIP("strip or readelf (binutils) is not installed");
	ASSERT_EQ(0, e);
	ASSERT_EQ(0, victim_start(&v, path));
	registry_tool(r, v.pid, NULL, NULL, -1);
	check_text(_metadata, r, &v);
	EXPECT_NOT_NULL(strstr(r->out, path));
	registry_tool(r, v.pid, "--json", NULL, -1);
	check_json(_metadata, r, &v);

	/* Without ELF sections: the magic found by scanning writable memory. */
	registry_tool(r, v.pid, "--scan", NULL, -1);
	check_text(_metadata, r, &v);
	EXPECT_NOT_NULL(strstr(r->out, "(scan in "));
	registry_tool(r, v.pid, "--json", NULL, -1);
	check_json(_metadata, r, &v);

	EXPECT_EQ(0, victim_stop(&v));
	remove_stripped(dir, path);
	free(r);
}

/* --- the tool's errors ------------------------------------------------------------------ */

TEST(error_no_such_process)
{
	struct result *r = malloc(sizeof(*r));
	pid_t c;

	ASSERT_NOT_NULL(r);
	c = fork();
	if (c == 0)
		_exit(0);
	ASSERT_GT(c, 0);
	waitpid(c, NULL, 0);
	registry_tool(r, c, NULL, NULL, -1);
	EXPECT_EQ(2, r->status);
	EXPECT_NOT_NULL(strstr(r->err, "no such process"));
	free(r);
}

TEST(error_not_a_weft_process)
{
	struct result *r = malloc(sizeof(*r));
	int p[2];
	pid_t c;
	char ch;

	ASSERT_NOT_NULL(r);
	if (access("/bin/sleep", X_OK))
		SKIP("no /bin/sleep");
	/* This program has a registry: wait until the child is really sleep(1). */
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	c = fork();
	if (c == 0) {
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	ASSERT_GT(c, 0);
	close(p[1]);
	EXPECT_EQ(0, (int)read(p[0], &ch, 1));	/* EOF: closed by the exec */
	close(p[0]);
	registry_tool(r, c, NULL, NULL, -1);
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	EXPECT_EQ(1, r->status);
	EXPECT_NOT_NULL(strstr(r->err, "no weft registry in process"));
	free(r);
}

TEST(error_usage)
{
	struct result *r = malloc(sizeof(*r));
	char tool[PATH_MAX];
	char *none[] = { tool, NULL };
	char *bad[] = { tool, "-p", "12x", NULL };
	char *help[] = { tool, "--help", NULL };

	ASSERT_NOT_NULL(r);
	build_path(tool, sizeof(tool), "tools/weft-registry/weft-registry");
	run(r, none, -1, 30);
	EXPECT_EQ(2, r->status);
	EXPECT_NOT_NULL(strstr(r->err, "usage: weft-registry -p PID"));
	run(r, bad, -1, 30);
	EXPECT_EQ(2, r->status);
	EXPECT_NOT_NULL(strstr(r->err, "wants a process id"));
	run(r, help, -1, 30);
	EXPECT_EQ(0, r->status);
	EXPECT_NOT_NULL(strstr(r->out, "Exit status"));
	free(r);
}

TEST_TIMEOUT(error_permission_denied, 120)
{
	struct result *r = malloc(sizeof(*r));
	char dir[] = "/tmp/weft-registry-perm.XXXXXX", tool[PATH_MAX], copy[PATH_MAX + 32];
	char path[PATH_MAX], cmd[4 * PATH_MAX + 64];
	struct victim v;

	ASSERT_NOT_NULL(r);
	if (geteuid() != 0)
		SKIP("needs root, to run the tool as another user (nobody) than the victim's");
	ASSERT_NOT_NULL(mkdtemp(dir));
	chmod(dir, 0755);
	build_path(tool, sizeof(tool), "tools/weft-registry/weft-registry");
	snprintf(copy, sizeof(copy), "%s/weft-registry", dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 755 '%s'", tool, copy, copy);
	ASSERT_EQ(0, sh(r, cmd));
	ASSERT_EQ(0, victim_start(&v, victim_path(path, sizeof(path))));
	registry_tool(r, v.pid, NULL, copy, NOBODY);
	EXPECT_EQ(0, victim_stop(&v));
	unlink(copy);
	rmdir(dir);
	if (r->status == 126)
		SKIP("cannot switch to uid %d here", NOBODY);
	EXPECT_EQ(2, r->status);
	if (r->status != 2)
		TH_LOG("stdout: %s\nstderr: %s", r->out, r->err);
	EXPECT_NOT_NULL(strstr(r->err, "permission denied"));
	EXPECT_NOT_NULL(strstr(r->err, "Run as root"));
	free(r);
}

/* --- untrusted ELF files ----------------------------------------------------------------- */

static uint32_t lcg(uint32_t *x)
{
	*x = *x * 1664525u + 1013904223u;
	return *x >> 8;
}

static int write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, buf, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

#define MUTANTS 48

/* Naming the root links libweft's registry into this program too. */
extern struct wf_registry wf_registry;

/*
 * Mutants of the victim's ELF file: header fields set to hostile values,
 * then random bytes of the section and program header tables changed.
 */
static int make_mutants(const char *dir, char paths[][PATH_MAX])
{
	char src[PATH_MAX];
	unsigned char *orig, *buf;
	struct stat st;
	uint32_t seed = 12345;
	Elf64_Ehdr eh;
	int fd, r = 0;

	fd = open(victim_path(src, sizeof(src)), O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st))
		return -errno;
	orig = malloc((size_t)st.st_size);
	buf = malloc((size_t)st.st_size);
	if (!orig || !buf || read(fd, orig, (size_t)st.st_size) != st.st_size) {
		close(fd);
		free(orig);
		free(buf);
		return -EIO;
	}
	close(fd);
	memcpy(&eh, orig, sizeof(eh));
	for (int i = 0; i < MUTANTS && !r; i++) {
		size_t len = (size_t)st.st_size;
		Elf64_Ehdr *h = (Elf64_Ehdr *)buf;

		memcpy(buf, orig, len);
		switch (i) {
		case 0: len = 100; break;				/* tables past EOF */
		case 1: h->e_shoff = ~0ull - 10; break;
		case 2: h->e_shnum = 0xffff; break;
		case 3: h->e_shstrndx = 0xfffe; break;
		case 4: h->e_shentsize = 1; break;
		case 5: h->e_phnum = 0xffff; break;			/* PN_XNUM */
		case 6: h->e_shnum = 0; h->e_shstrndx = SHN_XINDEX; break;
		case 7: h->e_phoff = ~0ull - 100; break;
		case 8: h->e_ident[EI_CLASS] = ELFCLASS32; break;	/* wrong class */
		case 9: h->e_type = ET_CORE; break;
		default: {
			/* Corrupt section headers (names, offsets, sizes) or program headers. */
			size_t base = i & 1 ? eh.e_shoff : eh.e_phoff;
			size_t span = i & 1 ? (size_t)eh.e_shnum * sizeof(Elf64_Shdr)
					    : (size_t)eh.e_phnum * sizeof(Elf64_Phdr);

			for (int k = 0; k < 1 + i % 7 && base + span <= len; k++) {
				size_t at = base + lcg(&seed) % span;

				buf[at] = (unsigned char)(k & 1 ? 0xff : lcg(&seed));
			}
		}
		}
		snprintf(paths[i], PATH_MAX, "%s/mutant-%02d", dir, i);
		r = write_file(paths[i], buf, len);
	}
	free(orig);
	free(buf);
	return r;
}

TEST_TIMEOUT(survives_hostile_elf_files, 120)
{
	static char paths[MUTANTS][PATH_MAX];
	struct result *r = malloc(sizeof(*r));
	char dir[] = "/tmp/weft-registry-elf.XXXXXX";
	int ready[2], n = 0;
	const char *p;
	pid_t c;
	char ch;

	ASSERT_NOT_NULL(r);
	ASSERT_NOT_NULL(mkdtemp(dir));
	ASSERT_EQ(0, make_mutants(dir, paths));
	ASSERT_EQ(0, pipe(ready));
	/* A process with a registry (this program's, see below) and every mutant mapped. */
	c = fork();
	if (c == 0) {
		for (int i = 0; i < MUTANTS; i++) {
			int fd = open(paths[i], O_RDONLY);
			struct stat st;

			if (fd >= 0 && !fstat(fd, &st) && st.st_size)
				mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
			if (fd >= 0)
				close(fd);
		}
		if (memcmp(wf_registry.magic, WF_REG_MAGIC, 8) || write(ready[1], "r", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	ASSERT_GT(c, 0);
	close(ready[1]);
	EXPECT_EQ(1, (int)read(ready[0], &ch, 1));
	close(ready[0]);
	registry_tool(r, c, "-v", NULL, -1);
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	for (int i = 0; i < MUTANTS; i++)
		unlink(paths[i]);
	rmdir(dir);
	if (r->status != 0)
		TH_LOG("exit %d\nstdout: %s\nstderr: %s", r->status, r->out, r->err);
	/* It found this program's own registry, and only that one. */
	EXPECT_EQ(0, r->status);
	for (p = r->out; (p = strstr(p, "weft registry at ")); p++)
		n++;
	EXPECT_EQ(1, n);
	EXPECT_NOT_NULL(strstr(r->out, "no runtime"));
	free(r);
}

/* --- USDT ------------------------------------------------------------------------------- */

/* Parse `readelf -n`: is weft:NAME there, with a non-zero semaphore? */
static bool probe_with_semaphore(const char *notes, const char *name)
{
	const char *p = notes;
	char want[64];

	snprintf(want, sizeof(want), "Provider: weft\n    Name: %s\n", name);
	while ((p = strstr(p, want))) {
		const char *sem = strstr(p, "Semaphore: ");
		unsigned long long v;

		if (sem && sscanf(sem, "Semaphore: %llx", &v) == 1 && v)
			return true;
		p += strlen(want);
	}
	return false;
}

TEST(usdt_notes_have_semaphores)
{
	static const char *const probes[] = {
		"task_spawn", "task_exit", "poll_start", "poll_end", "slow_poll", "park", "unpark",
		"stall_handoff",
	};
	struct result *r = malloc(sizeof(*r));
	char path[PATH_MAX], cmd[PATH_MAX + 64];

	ASSERT_NOT_NULL(r);
#ifndef CONFIG_WEFT_USDT
	SKIP("built without USDT probes (CONFIG_WEFT_USDT=n)");
#endif
	if (!have("readelf"))
		SKIP("readelf (binutils) is not installed");
	snprintf(cmd, sizeof(cmd), "readelf -n --wide '%s'", victim_path(path, sizeof(path)));
	ASSERT_EQ(0, sh(r, cmd));
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		if (!probe_with_semaphore(r->out, probes[i]))
			TH_LOG("no stapsdt note weft:%s with a semaphore", probes[i]);
		EXPECT_TRUE(probe_with_semaphore(r->out, probes[i]));
	}
	free(r);
}

TEST_TIMEOUT(usdt_bpftrace_sees_spawns, 180)
{
	struct result *r = malloc(sizeof(*r));
	char path[PATH_MAX], prog[PATH_MAX + 128], bpftrace[PATH_MAX], pids[16];
	char *probe_argv[] = { bpftrace, "-e", "BEGIN { exit(); }", NULL };
	char *argv[] = { bpftrace, "-p", pids, "-e", prog, NULL };
	struct victim v;
	FILE *f;

	ASSERT_NOT_NULL(r);
#ifndef CONFIG_WEFT_USDT
	SKIP("built without USDT probes (CONFIG_WEFT_USDT=n)");
#endif
	if (geteuid() != 0)
		SKIP("needs root to attach uprobes");
	f = popen("command -v bpftrace", "r");
	if (!f || !fgets(bpftrace, sizeof(bpftrace), f)) {
		if (f)
			pclose(f);
		SKIP("bpftrace is not installed (optional: apt-get install bpftrace)");
	}
	pclose(f);
	bpftrace[strcspn(bpftrace, "\n")] = '\0';
	run(r, probe_argv, -1, 60);
	if (r->status != 0)
		SKIP("bpftrace cannot run BPF programs here (exit %d): %.200s", r->status, r->err);

	ASSERT_EQ(0, victim_start(&v, victim_path(path, sizeof(path))));
	snprintf(pids, sizeof(pids), "%d", (int)v.pid);
	snprintf(prog, sizeof(prog),
		 "usdt:%s:weft:task_spawn { printf(\"spawn %%s id %%d\\n\", str(arg1), arg0); "
		 "exit(); }",
		 path);
	run(r, argv, -1, 90);
	EXPECT_EQ(0, victim_stop(&v));
	if (r->status != 0 || !strstr(r->out, "spawn tick id "))
		TH_LOG("bpftrace exited %d\nstdout: %s\nstderr: %s", r->status, r->out, r->err);
	EXPECT_EQ(0, r->status);
	EXPECT_NOT_NULL(strstr(r->out, "spawn tick id "));
	free(r);
}

TEST_HARNESS_MAIN
