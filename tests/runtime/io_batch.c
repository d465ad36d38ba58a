// SPDX-License-Identifier: MIT
/*
 * The batch API on both drivers (io_util.h): one task keeps many
 * operations in flight and takes completions as they arrive: a file copy
 * with 16 reads or writes outstanding, receives on many socket pairs
 * completing out of order, accept, the limits (-EAGAIN when full,
 * -ETIMEDOUT, 0 with nothing in flight, -EPERM from another task), and
 * freeing a batch with operations pending (cancelled in the kernel, the
 * buffers untouched afterwards, the data still there for the next reader).
 */
#include "io_util.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#define BLK 8192u
#define NBLK 64u
#define DEPTH 16u

static int tmpfile_in(char *dir, size_t dlen, char *path, size_t plen, const char *name)
{
	const char *base = getenv("TMPDIR");

	snprintf(dir, dlen, "%s/weft-batch-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(dir))
		return -errno;
	snprintf(path, plen, "%s/%s", dir, name);
	return wf_openat(AT_FDCWD, path, O_RDWR | O_CREAT | O_TRUNC, 0600);
}

IO_TEST(batch_file_copy)
{
	unsigned char *src = malloc(NBLK * BLK), *dst = malloc(NBLK * BLK);
	char dir[256], path[300], path2[300];
	struct wf_io_done done[DEPTH];
	wf_io_batch *b;
	unsigned next = 0, got = 0;
	int in, out, n;

	CHECK(src && dst);
	in = tmpfile_in(dir, sizeof(dir), path, sizeof(path), "in");
	CHECK(in >= 0);
	snprintf(path2, sizeof(path2), "%s/out", dir);
	out = wf_openat(AT_FDCWD, path2, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(out >= 0);
	io_pattern(src, NBLK * BLK, 21, 0);
	CHECK_EQ(0, wf_io_batch_new(&b, DEPTH));
	/* Write the source file, DEPTH blocks in flight. */
	while (got < NBLK) {
		while (next < NBLK && wf_io_batch_inflight(b) < DEPTH) {
			CHECK_EQ(0, wf_io_batch_write(b, in, src + next * BLK, BLK,
						      (off_t)next * BLK, next));
			next++;
		}
		n = wf_io_batch_wait(b, done, DEPTH, WF_FOREVER);
		CHECK(n > 0);
		for (int i = 0; i < n; i++)
			CHECK_EQ(BLK, done[i].res);
		got += (unsigned)n;
	}
	CHECK_EQ(0, wf_io_batch_wait(b, done, DEPTH, WF_FOREVER));	/* nothing in flight */
	/* Copy: reads in flight; each completed read becomes a write. */
	next = got = 0;
	while (got < 2 * NBLK) {
		while (next < NBLK && wf_io_batch_inflight(b) < DEPTH) {
			CHECK_EQ(0, wf_io_batch_read(b, in, dst + next * BLK, BLK,
						     (off_t)next * BLK, next));
			next++;
		}
		n = wf_io_batch_wait(b, done, DEPTH, WF_FOREVER);
		CHECK(n > 0);
		for (int i = 0; i < n; i++) {
			uint64_t tag = done[i].tag;

			CHECK_EQ(BLK, done[i].res);
			got++;
			if (tag < NBLK)		/* a read: write it out */
				CHECK_EQ(0, wf_io_batch_write(b, out, dst + tag * BLK, BLK,
							      (off_t)tag * BLK, NBLK + tag));
		}
	}
	CHECK_EQ(0, wf_io_batch_free(b));
	memset(dst, 0, NBLK * BLK);
	CHECK_EQ(NBLK * BLK, wf_read(out, dst, NBLK * BLK, 0));
	CHECK(io_check_pattern(dst, NBLK * BLK, 21, 0));
	wf_close(in);
	wf_close(out);
	unlink(path);
	unlink(path2);
	rmdir(dir);
	free(src);
	free(dst);
	return NULL;
}

#define NPAIRS 8

IO_TEST(batch_sockets_out_of_order)
{
	int sv[NPAIRS][2];
	char buf[NPAIRS][16];
	struct wf_io_done done[NPAIRS];
	bool seen[NPAIRS] = { false };
	wf_io_batch *b;
	int got = 0;

	CHECK_EQ(0, wf_io_batch_new(&b, NPAIRS));
	for (int i = 0; i < NPAIRS; i++) {
		CHECK_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[i]));
		CHECK_EQ(0, wf_io_batch_recv(b, sv[i][0], buf[i], sizeof(buf[i]), 0, (uint64_t)i));
	}
	CHECK_EQ(NPAIRS, wf_io_batch_inflight(b));
	/* Nothing sent yet. */
	CHECK_EQ(-ETIMEDOUT, wf_io_batch_wait(b, done, NPAIRS, ms_from_now(20)));
	/* Answer in reverse order, one at a time. */
	for (int i = NPAIRS - 1; i >= 0; i--) {
		char msg[16];
		int n;

		snprintf(msg, sizeof(msg), "pair %d", i);
		CHECK_EQ((ssize_t)strlen(msg), wf_send(sv[i][1], msg, strlen(msg), 0));
		n = wf_io_batch_wait(b, done, NPAIRS, ms_from_now(5000));
		CHECK_EQ(1, n);
		CHECK_EQ((uint64_t)i, done[0].tag);
		CHECK_EQ((ssize_t)strlen(msg), done[0].res);
		CHECK_EQ(0, memcmp(buf[i], msg, strlen(msg)));
		seen[i] = true;
		got++;
	}
	CHECK_EQ(NPAIRS, got);
	CHECK_EQ(0, wf_io_batch_inflight(b));
	/* All at once: several completions per wait, tags all there. */
	for (int i = 0; i < NPAIRS; i++) {
		seen[i] = false;
		CHECK_EQ(0, wf_io_batch_recv(b, sv[i][0], buf[i], sizeof(buf[i]), 0, (uint64_t)i));
		CHECK_EQ(1, wf_send(sv[i][1], "x", 1, 0));
	}
	for (got = 0; got < NPAIRS;) {
		int n = wf_io_batch_wait(b, done, 3, ms_from_now(5000));

		CHECK(n >= 1 && n <= 3);
		for (int i = 0; i < n; i++) {
			CHECK(done[i].tag < NPAIRS && !seen[done[i].tag]);
			CHECK_EQ(1, done[i].res);
			seen[done[i].tag] = true;
		}
		got += n;
	}
	CHECK_EQ(0, wf_io_batch_free(b));
	for (int i = 0; i < NPAIRS; i++) {
		wf_close(sv[i][0]);
		wf_close(sv[i][1]);
	}
	return NULL;
}

static void *other_task(void *arg)
{
	wf_io_batch *b = arg;
	struct wf_io_done d;

	CHECK_EQ(-EPERM, wf_io_batch_wait(b, &d, 1, 0));
	CHECK_EQ(-EPERM, wf_io_batch_free(b));
	return NULL;
}

IO_TEST(batch_limits)
{
	struct wf_io_done d[2];
	wf_io_batch *b;
	wf_task *t;
	char x[4], y[4];
	int sv[2];

	CHECK_EQ(-EINVAL, wf_io_batch_new(&b, 0));
	CHECK_EQ(-EINVAL, wf_io_batch_new(NULL, 4));
	CHECK_EQ(0, wf_io_batch_new(&b, 2));
	CHECK_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	CHECK_EQ(0, wf_io_batch_wait(b, d, 2, WF_FOREVER));	/* nothing in flight */
	CHECK_EQ(-EBADF, wf_io_batch_recv(b, -1, x, sizeof(x), 0, 0));
	CHECK_EQ(-EINVAL, wf_io_batch_recv(b, sv[0], NULL, 4, 0, 0));
	CHECK_EQ(-EINVAL, wf_io_batch_wait(b, NULL, 2, WF_FOREVER));
	CHECK_EQ(0, wf_io_batch_recv(b, sv[0], x, sizeof(x), 0, 1));
	CHECK_EQ(0, wf_io_batch_poll(b, sv[1], POLLOUT, 2));	/* ready at once */
	CHECK_EQ(-EAGAIN, wf_io_batch_recv(b, sv[0], y, sizeof(y), 0, 3));
	CHECK_EQ(2, wf_io_batch_inflight(b));
	CHECK_EQ(0, wf_spawn(&t, other_task, b));
	CHECK_EQ(0L, join_long(t));
	CHECK_EQ(4, wf_send(sv[1], "abcd", 4, 0));
	{
		int seen = 0;

		while (seen != 3) {
			int n = wf_io_batch_wait(b, d, 2, ms_from_now(5000));

			CHECK(n > 0);
			for (int i = 0; i < n; i++) {
				if (d[i].tag == 1) {
					CHECK_EQ(4, d[i].res);
					CHECK_EQ(0, memcmp(x, "abcd", 4));
				} else {
					CHECK_EQ(2u, d[i].tag);
					CHECK(d[i].res & POLLOUT);
				}
				seen |= (int)d[i].tag;
			}
		}
	}
	CHECK_EQ(0, wf_io_batch_free(b));
	wf_close(sv[0]);
	wf_close(sv[1]);
	return NULL;
}

IO_TEST(batch_accept)
{
	struct wf_io_done d[4];
	uint16_t port = 0;
	wf_io_batch *b;
	int l, c[2], got = 0;

	l = io_listen(&port);
	CHECK(l >= 0);
	CHECK_EQ(0, wf_io_batch_new(&b, 4));
	CHECK_EQ(0, wf_io_batch_accept(b, l, 100));
	CHECK_EQ(0, wf_io_batch_accept(b, l, 101));
	c[0] = io_dial(port);
	c[1] = io_dial(port);
	CHECK(c[0] >= 0 && c[1] >= 0);
	while (got < 2) {
		int n = wf_io_batch_wait(b, d, 4, ms_from_now(5000));

		CHECK(n > 0);
		for (int i = 0; i < n; i++) {
			CHECK(d[i].tag == 100 || d[i].tag == 101);
			CHECK(d[i].res >= 0);
			wf_close((int)d[i].res);
		}
		got += n;
	}
	CHECK_EQ(0, wf_io_batch_free(b));
	wf_close(c[0]);
	wf_close(c[1]);
	wf_close(l);
	return NULL;
}

/* Free with receives pending: cancelled, buffers untouched, data kept. */
IO_TEST_W(batch_free_cancels, 4, 30)
{
	int sv[NPAIRS][2];
	unsigned char *buf = malloc(NPAIRS * 32);
	wf_io_batch *b;
	wf_runtime *rt = arg;
	struct wf_io_info before, after;

	CHECK(buf != NULL);
	memset(buf, 0x5a, NPAIRS * 32);
	CHECK_EQ(0, wf_io_info(rt, &before));
	CHECK_EQ(0, wf_io_batch_new(&b, NPAIRS));
	for (int i = 0; i < NPAIRS; i++) {
		CHECK_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[i]));
		CHECK_EQ(0, wf_io_batch_recv(b, sv[i][0], buf + i * 32, 32, 0, (uint64_t)i));
	}
	/* Let them reach the kernel; maybe move to another worker. */
	wf_sleep_ns(2 * WF_NSEC_PER_MSEC);
	wf_yield();
	CHECK_EQ(0, wf_io_batch_free(b));
	CHECK_EQ(0, wf_io_info(rt, &after));
	if (after.kind == WF_IO_URING)
		CHECK(after.cancels >= before.cancels + NPAIRS);
	for (int i = 0; i < NPAIRS; i++) {
		char got[8];

		CHECK_EQ(3, wf_send(sv[i][1], "abc", 3, 0));
		CHECK_EQ(3, wf_recv_until(sv[i][0], got, sizeof(got), 0, ms_from_now(5000)));
		CHECK_EQ(0, memcmp(got, "abc", 3));
		wf_close(sv[i][0]);
		wf_close(sv[i][1]);
	}
	for (int i = 0; i < NPAIRS * 32; i++)
		CHECK_EQ(0x5a, buf[i]);
	free(buf);
	return NULL;
}

TEST_HARNESS_MAIN
