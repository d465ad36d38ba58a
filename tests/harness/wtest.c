// SPDX-License-Identifier: MIT
/*
 * wtest.c - the runner half of wtest.h: registration, selection, one forked
 * process per test with a timeout, TAP output.
 *
 * The parent never runs test code. For each selected test it forks a child
 * in a new process group, waits on a pidfd with the test's timeout, and
 * reads the child's verdict from a pipe ("skip:REASON" or nothing). On a
 * timeout it kills the whole group so that threads and grandchildren the
 * test left behind cannot keep the run waiting.
 */
#include "wtest.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct __test_metadata *tests_head, **tests_tail = &tests_head;
struct __test_metadata *wtest_current;
static int verdict_fd = -1;	/* child: write end of the verdict pipe */

void wtest_register(struct __test_metadata *t)
{
	*tests_tail = t;
	tests_tail = &t->next;
}

static const struct {
	int e;
	const char *name;
} errnames[] = {
#define E(x) { x, #x }
	E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(ENXIO), E(E2BIG),
	E(ENOEXEC), E(EBADF), E(ECHILD), E(EAGAIN), E(ENOMEM), E(EACCES),
	E(EFAULT), E(EBUSY), E(EEXIST), E(EXDEV), E(ENODEV), E(ENOTDIR),
	E(EISDIR), E(EINVAL), E(ENFILE), E(EMFILE), E(ENOTTY), E(EFBIG),
	E(ENOSPC), E(ESPIPE), E(EROFS), E(EMLINK), E(EPIPE), E(EDOM),
	E(ERANGE), E(EDEADLK), E(ENAMETOOLONG), E(ENOSYS), E(ENOTEMPTY),
	E(ELOOP), E(ENOMSG), E(EOVERFLOW), E(ENOTSOCK), E(EMSGSIZE),
	E(EPROTONOSUPPORT), E(EOPNOTSUPP), E(EADDRINUSE), E(EADDRNOTAVAIL),
	E(ENETDOWN), E(ENETUNREACH), E(ECONNABORTED), E(ECONNRESET),
	E(ENOBUFS), E(EISCONN), E(ENOTCONN), E(ESHUTDOWN), E(ETIMEDOUT),
	E(ECONNREFUSED), E(EHOSTUNREACH), E(EALREADY), E(EINPROGRESS),
	E(ECANCELED), E(EOWNERDEAD), E(ENOTRECOVERABLE),
#undef E
};

/* "EINVAL" for 22 (or for -22); "E?" for a value with no name. */
const char *wtest_errno_name(int e)
{
	if (e < 0)
		e = -e;
	for (size_t i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (errnames[i].e == e)
			return errnames[i].name;
	return "E?";
}

static void fmt_int(char *buf, size_t len, intmax_t v, int is_errno)
{
	if (is_errno && v < 0 && v > -4096)
		snprintf(buf, len, "%jd (-%s)", v, wtest_errno_name((int)-v));
	else if (v > 4096 || v < -4096)
		snprintf(buf, len, "%jd (0x%jx)", v, (uintmax_t)v);
	else
		snprintf(buf, len, "%jd", v);
}

void wtest_fail_int(struct __test_metadata *m, const char *file, int line,
		    const char *exp_s, const char *seen_s, const char *op,
		    intmax_t exp, intmax_t seen, int is_errno)
{
	char e[64], s[64];

	fmt_int(e, sizeof(e), exp, is_errno);
	fmt_int(s, sizeof(s), seen, is_errno);
	printf("# %s:%d: expected %s %s %s\n", file, line, exp_s, op, seen_s);
	printf("#   expected: %s\n#   seen:     %s\n", e, s);
	fflush(stdout);
	m->failed = 1;
}

void wtest_fail_str(struct __test_metadata *m, const char *file, int line,
		    const char *exp_s, const char *seen_s, const char *op,
		    const char *exp, const char *seen)
{
	printf("# %s:%d: expected %s %s %s\n", file, line, exp_s, op, seen_s);
	printf("#   expected: %s%s%s\n", exp ? "\"" : "", exp ? exp : "NULL", exp ? "\"" : "");
	printf("#   seen:     %s%s%s\n", seen ? "\"" : "", seen ? seen : "NULL",
	       seen ? "\"" : "");
	fflush(stdout);
	m->failed = 1;
}

void wtest_fail_msg(struct __test_metadata *m, const char *file, int line,
		    const char *fmt, ...)
{
	va_list ap;

	printf("# %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	m->failed = 1;
}

void wtest_abort(struct __test_metadata *m)
{
	if (m->env_set)
		longjmp(m->env, 1);
	/* Outside any jump target (e.g. in teardown): finish the test now. */
	fflush(stdout);
	_exit(KSFT_FAIL);
}

void wtest_skip(struct __test_metadata *m, const char *file, int line,
		const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (verdict_fd >= 0) {
		ssize_t __attribute__((unused)) n;

		n = write(verdict_fd, reason, strnlen(reason, sizeof(reason)));
	}
	m->skipped = 1;
	(void)file;
	(void)line;
	if (m->env_set)
		longjmp(m->env, 1);
	fflush(stdout);
	_exit(KSFT_SKIP);
}

static __attribute__((noreturn)) void run_child(struct __test_metadata *t)
{
	wtest_current = t;
	t->failed = 0;
	t->skipped = 0;
	t->env_set = 1;
	if (setjmp(t->env) == 0)
		t->fn(t);
	fflush(stdout);
	fflush(stderr);
	_exit(t->failed ? KSFT_FAIL : t->skipped ? KSFT_SKIP : KSFT_PASS);
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

enum { R_PASS, R_FAIL, R_SKIP };

/* Runs one test in a child; prints its TAP line; returns R_*. */
/*
 * A test that timed out is usually a hang: before it is killed, say where
 * each of its threads sleeps (TAP comments), so a hang seen once in CI can
 * be read afterwards. With gdb installed, the user stacks too.
 */
static void dump_threads(pid_t pid)
{
	char path[64], line[512];
	struct dirent *d;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return;
	while ((d = readdir(dir))) {
		char comm[64] = "", wchan[64] = "", state = '?';
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(line, sizeof(line), "/proc/%d/task/%s/comm", (int)pid, d->d_name);
		if ((f = fopen(line, "r"))) {
			if (fgets(comm, sizeof(comm), f))
				comm[strcspn(comm, "\n")] = '\0';
			fclose(f);
		}
		snprintf(line, sizeof(line), "/proc/%d/task/%s/wchan", (int)pid, d->d_name);
		if ((f = fopen(line, "r"))) {
			if (!fgets(wchan, sizeof(wchan), f))
				wchan[0] = '\0';
			fclose(f);
		}
		snprintf(line, sizeof(line), "/proc/%d/task/%s/stat", (int)pid, d->d_name);
		if ((f = fopen(line, "r"))) {
			char buf[512], *rp;

			if (fgets(buf, sizeof(buf), f) && (rp = strrchr(buf, ')')) && rp[1] == ' ')
				state = rp[2];
			fclose(f);
		}
		printf("# hung thread %s \"%s\" state %c in %s\n", d->d_name, comm, state,
		       wchan[0] ? wchan : "?");
	}
	closedir(dir);
	fflush(stdout);
	if (!access("/usr/bin/gdb", X_OK)) {
		snprintf(line, sizeof(line),
			 "timeout 30 gdb -p %d -batch -ex 'thread apply all bt' 2>&1 | "
			 "grep -E '^(Thread|#)' | sed 's/^/# /'", (int)pid);
		if (system(line) == -1)
			return;
	}
}

static int run_one(struct __test_metadata *t, int num, double scale)
{
	char name[256], reason[512] = "";
	int p[2], status = 0, timed_out = 0, pidfd;
	double start = now_s(), limit = t->timeout * scale;
	ssize_t n;
	pid_t pid;

	if (t->fixture)
		snprintf(name, sizeof(name), "%s.%s", t->fixture, t->name);
	else
		snprintf(name, sizeof(name), "%s", t->name);

	fflush(stdout);
	if (pipe2(p, O_CLOEXEC) < 0) {
		printf("not ok %d %s # HARNESS pipe: %s\n", num, name, strerror(errno));
		return R_FAIL;
	}
	pid = fork();
	if (pid < 0) {
		printf("not ok %d %s # HARNESS fork: %s\n", num, name, strerror(errno));
		close(p[0]);
		close(p[1]);
		return R_FAIL;
	}
	if (pid == 0) {
		setpgid(0, 0);
		close(p[0]);
		verdict_fd = p[1];
		run_child(t);
	}
	setpgid(pid, pid);
	close(p[1]);

	pidfd = pidfd_open_(pid);
	for (;;) {
		int left_ms = (int)((start + limit - now_s()) * 1000);
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

		if (pidfd < 0) {
			/* No pidfd (old kernel): poll waitpid. */
			if (waitpid(pid, &status, WNOHANG) == pid)
				break;
			if (left_ms <= 0) {
				timed_out = 1;
				break;
			}
			usleep(10000);
			continue;
		}
		if (left_ms <= 0) {
			timed_out = 1;
			break;
		}
		if (poll(&pfd, 1, left_ms) > 0)
			break;
	}
	if (timed_out) {
		dump_threads(pid);
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	/* Leftovers of the test's process group go too. */
	kill(-pid, SIGKILL);
	if (pidfd >= 0)
		close(pidfd);

	n = read(p[0], reason, sizeof(reason) - 1);
	reason[n > 0 ? n : 0] = '\0';
	close(p[0]);

	if (timed_out) {
		printf("not ok %d %s # TIMEOUT after %.0f s\n", num, name, limit);
		return R_FAIL;
	}
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);

		printf("not ok %d %s # CRASH signal %d (%s)\n", num, name, sig, strsignal(sig));
		return R_FAIL;
	}
	switch (WEXITSTATUS(status)) {
	case KSFT_PASS:
		printf("ok %d %s\n", num, name);
		return R_PASS;
	case KSFT_SKIP:
		printf("ok %d %s # SKIP %s\n", num, name, reason[0] ? reason : "(no reason)");
		return R_SKIP;
	case KSFT_FAIL:
		printf("not ok %d %s # FAIL\n", num, name);
		return R_FAIL;
	default:
		printf("not ok %d %s # FAIL exit status %d\n", num, name, WEXITSTATUS(status));
		return R_FAIL;
	}
}

static const char *prog_name(const char *argv0)
{
	const char *s = strrchr(argv0, '/');

	return s ? s + 1 : argv0;
}

static int selected(struct __test_metadata *t, const char *prog, char **globs, int nglobs)
{
	char full[4][512];

	if (nglobs == 0)
		return 1;
	snprintf(full[0], sizeof(full[0]), "%s", t->name);
	if (t->fixture) {
		snprintf(full[1], sizeof(full[1]), "%s.%s", t->fixture, t->name);
		snprintf(full[2], sizeof(full[2]), "%s.%s.%s", prog, t->fixture, t->name);
	} else {
		snprintf(full[1], sizeof(full[1]), "%s", t->name);
		snprintf(full[2], sizeof(full[2]), "%s.%s", prog, t->name);
	}
	snprintf(full[3], sizeof(full[3]), "%s", prog);
	for (int g = 0; g < nglobs; g++)
		for (int i = 0; i < 4; i++)
			if (fnmatch(globs[g], full[i], 0) == 0)
				return 1;
	return 0;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-l] [-t GLOB]... [-s SCALE]\n"
		"  -l        list the tests and exit\n"
		"  -t GLOB   run the tests matching GLOB (name, FIXTURE.name,\n"
		"            PROG.name or PROG.FIXTURE.name)\n"
		"  -s SCALE  multiply every timeout by SCALE (> 0)\n",
		prog);
}

int wtest_main(int argc, char **argv)
{
	const char *prog = prog_name(argv[0]);
	const char *env = getenv("WTEST_TIMEOUT_SCALE");
	int nglobs = 0, list = 0, ntests = 0, num = 0;
	int pass = 0, fail = 0, skip = 0, opt;
	double scale = 1.0;
	char **globs;

	if (env && *env) {
		char *end;

		scale = strtod(env, &end);
		if (*end || scale <= 0) {
			fprintf(stderr, "%s: bad WTEST_TIMEOUT_SCALE '%s'\n", prog, env);
			return 2;
		}
	}
	/* Checked before anything is allocated, so error exits leak nothing. */
	while ((opt = getopt(argc, argv, "lt:s:h")) != -1) {
		switch (opt) {
		case 'l':
			list = 1;
			break;
		case 't':
			nglobs++;
			break;
		case 's': {
			char *end;

			scale = strtod(optarg, &end);
			if (*end || scale <= 0) {
				fprintf(stderr, "%s: -s wants a positive number, not '%s'\n",
					prog, optarg);
				return 2;
			}
			break;
		}
		case 'h':
			usage(prog);
			return 0;
		default:
			usage(prog);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
		usage(prog);
		return 2;
	}
	globs = calloc((size_t)nglobs + 1, sizeof(*globs));
	if (!globs)
		return KSFT_FAIL;
	nglobs = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
			globs[nglobs++] = argv[++i];
		else if (strncmp(argv[i], "-t", 2) == 0 && argv[i][2])
			globs[nglobs++] = argv[i] + 2;
		else if (strcmp(argv[i], "-s") == 0)
			i++;
	}

	for (struct __test_metadata *t = tests_head; t; t = t->next) {
		if (!selected(t, prog, globs, nglobs))
			continue;
		if (list) {
			if (t->fixture)
				printf("%s.%s\n", t->fixture, t->name);
			else
				printf("%s\n", t->name);
		}
		ntests++;
	}
	if (list) {
		free(globs);
		return 0;
	}

	/* Children must not inherit unflushed output, nor die on a closed pipe. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	printf("TAP version 13\n1..%d\n", ntests);
	for (struct __test_metadata *t = tests_head; t; t = t->next) {
		if (!selected(t, prog, globs, nglobs))
			continue;
		switch (run_one(t, ++num, scale)) {
		case R_PASS:
			pass++;
			break;
		case R_FAIL:
			fail++;
			break;
		default:
			skip++;
		}
	}
	printf("# %s: %d passed, %d failed, %d skipped\n", prog, pass, fail, skip);
	free(globs);
	if (fail)
		return KSFT_FAIL;
	if (ntests > 0 && skip == ntests)
		return KSFT_SKIP;
	return KSFT_PASS;
}
