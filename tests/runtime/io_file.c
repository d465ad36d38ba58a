// SPDX-License-Identifier: MIT
/*
 * Files and pipes on both drivers (io_util.h): write and read at offsets,
 * readv/writev, fsync, statx, openat errors, pipes at the current
 * position, end of file, EPIPE on a pipe without reader, a file copied by
 * several tasks in parallel.
 */
#include "io_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

static int tmpdir(char *buf, size_t len)
{
	const char *base = getenv("TMPDIR");

	snprintf(buf, len, "%s/weft-io-XXXXXX", base && *base ? base : "/tmp");
	return mkdtemp(buf) ? 0 : -errno;
}

IO_TEST(file_offsets)
{
	unsigned char a[8192], b[8192];
	char dir[256], path[300];
	struct statx st;
	int fd;

	CHECK_EQ(0, tmpdir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/f", dir);
	fd = wf_openat(AT_FDCWD, path, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	io_pattern(a, sizeof(a), 1, 0);
	/* Two blocks written out of order, at offsets. */
	CHECK_EQ(4096, wf_write(fd, a + 4096, 4096, 4096));
	CHECK_EQ(4096, wf_write(fd, a, 4096, 0));
	CHECK_EQ(0, wf_fsync(fd, 0));
	CHECK_EQ(0, wf_fsync(fd, WF_FSYNC_DATASYNC));
	CHECK_EQ(-EINVAL, wf_fsync(fd, 0x80));
	memset(b, 0, sizeof(b));
	CHECK_EQ(8192, wf_read(fd, b, sizeof(b), 0));
	CHECK(io_check_pattern(b, sizeof(b), 1, 0));
	/* A read past the end: 0; across it: short. */
	CHECK_EQ(0, wf_read(fd, b, sizeof(b), 8192));
	CHECK_EQ(192, wf_read(fd, b, sizeof(b), 8000));
	CHECK(io_check_pattern(b, 192, 1, 8000));
	/* statx sees the size. */
	CHECK_EQ(0, wf_statx(AT_FDCWD, path, 0, STATX_SIZE, &st));
	CHECK(st.stx_mask & STATX_SIZE);
	CHECK_EQ(8192, st.stx_size);
	CHECK_EQ(0, wf_statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &st));
	CHECK_EQ(8192, st.stx_size);
	CHECK_EQ(-EINVAL, wf_statx(AT_FDCWD, path, 0, STATX_SIZE, NULL));
	CHECK_EQ(-EINVAL, wf_statx(AT_FDCWD, NULL, 0, STATX_SIZE, &st));

	/* Vectored: three pieces out, two back. */
	{
		struct iovec o[3] = { { a, 100 }, { a + 100, 1000 }, { a + 1100, 900 } };
		struct iovec i[2] = { { b, 1500 }, { b + 1500, 500 } };

		memset(b, 0, sizeof(b));
		CHECK_EQ(2000, wf_writev(fd, o, 3, 10000));
		CHECK_EQ(2000, wf_readv(fd, i, 2, 10000));
		CHECK(io_check_pattern(b, 2000, 1, 0));
	}
	/* The current position (-1) starts at 0 for a new descriptor. */
	CHECK_EQ(16, wf_read(fd, b, 16, -1));
	CHECK(io_check_pattern(b, 16, 1, 0));
	CHECK_EQ(0, wf_close(fd));

	CHECK_EQ(-ENOTDIR, wf_openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY, 0));
	CHECK_EQ(-EEXIST, wf_openat(AT_FDCWD, path, O_RDWR | O_CREAT | O_EXCL, 0600));
	CHECK_EQ(-EINVAL, wf_openat(AT_FDCWD, NULL, O_RDONLY, 0));
	snprintf(path, sizeof(path), "%s/missing", dir);
	CHECK_EQ(-ENOENT, wf_openat(AT_FDCWD, path, O_RDONLY, 0));
	CHECK_EQ(-ENOENT, wf_statx(AT_FDCWD, path, 0, STATX_SIZE, &st));
	/* Reading a directory. */
	fd = wf_openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY, 0);
	CHECK(fd >= 0);
	CHECK_EQ(-EISDIR, wf_read(fd, b, 16, 0));
	wf_close(fd);
	snprintf(path, sizeof(path), "%s/f", dir);
	unlink(path);
	rmdir(dir);
	return NULL;
}

static void *pipe_writer(void *arg)
{
	int fd = (int)(long)arg;
	unsigned char buf[3000];
	size_t off = 0;

	while (off < 300000) {
		ssize_t n;

		io_pattern(buf, sizeof(buf), 5, off);
		n = wf_write(fd, buf, sizeof(buf), -1);
		CHECK(n > 0);
		/* A short write: the rest goes again (pattern keyed by offset). */
		off += (size_t)n;
	}
	CHECK_EQ(0, wf_close(fd));
	return NULL;
}

IO_TEST(pipes)
{
	unsigned char buf[4096];
	size_t total = 0;
	wf_task *w;
	ssize_t n;
	int p[2];

	CHECK_EQ(0, pipe2(p, O_CLOEXEC));
	CHECK_EQ(0, wf_spawn(&w, pipe_writer, (void *)(long)p[1]));
	while ((n = wf_read(p[0], buf, sizeof(buf), -1)) > 0) {
		CHECK(io_check_pattern(buf, (size_t)n, 5, total));
		total += (size_t)n;
	}
	CHECK_EQ(0, n);			/* writer closed: end of file */
	CHECK(total >= 300000);
	CHECK_EQ(0L, join_long(w));
	CHECK_EQ(0, wf_close(p[0]));

	/* No reader left: EPIPE (SIGPIPE ignored, as a server would). */
	CHECK_EQ(0, pipe2(p, O_CLOEXEC));
	CHECK_EQ(0, wf_close(p[0]));
	signal(SIGPIPE, SIG_IGN);
	CHECK_EQ(-EPIPE, wf_write(p[1], "x", 1, -1));
	CHECK_EQ(0, wf_close(p[1]));
	return NULL;
}

/* Several tasks copy one file in blocks, in parallel. */
struct copy {
	int in, out;
	_Atomic unsigned next;
	unsigned blocks;
};

#define CBLK 16384u

static void *copier(void *arg)
{
	struct copy *c = arg;
	unsigned char *buf = malloc(CBLK);
	unsigned b;

	CHECK(buf != NULL);
	while ((b = atomic_fetch_add(&c->next, 1)) < c->blocks) {
		off_t off = (off_t)b * CBLK;

		CHECK_EQ(CBLK, wf_read(c->in, buf, CBLK, off));
		CHECK_EQ(CBLK, wf_write(c->out, buf, CBLK, off));
	}
	free(buf);
	return NULL;
}

IO_TEST(parallel_copy)
{
	struct copy c = { .blocks = 64 };
	unsigned char *buf = malloc(CBLK);
	char dir[256], a[300], b[300];
	wf_task *t[8];

	CHECK(buf != NULL);
	CHECK_EQ(0, tmpdir(dir, sizeof(dir)));
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	c.in = wf_openat(AT_FDCWD, a, O_RDWR | O_CREAT, 0600);
	c.out = wf_openat(AT_FDCWD, b, O_RDWR | O_CREAT, 0600);
	CHECK(c.in >= 0 && c.out >= 0);
	for (unsigned i = 0; i < c.blocks; i++) {
		io_pattern(buf, CBLK, 11, (size_t)i * CBLK);
		CHECK_EQ(CBLK, wf_write(c.in, buf, CBLK, (off_t)i * CBLK));
	}
	for (int i = 0; i < 8; i++)
		CHECK_EQ(0, wf_spawn(&t[i], copier, &c));
	for (int i = 0; i < 8; i++)
		CHECK_EQ(0L, join_long(t[i]));
	CHECK_EQ(0, wf_fsync(c.out, 0));
	for (unsigned i = 0; i < c.blocks; i++) {
		CHECK_EQ(CBLK, wf_read(c.out, buf, CBLK, (off_t)i * CBLK));
		CHECK(io_check_pattern(buf, CBLK, 11, (size_t)i * CBLK));
	}
	wf_close(c.in);
	wf_close(c.out);
	unlink(a);
	unlink(b);
	rmdir(dir);
	free(buf);
	return NULL;
}

TEST_HARNESS_MAIN
