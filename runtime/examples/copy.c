// SPDX-License-Identifier: MIT
/*
 * copy - copy a file with many reads and writes in flight from one task,
 * through a wf_io_batch (docs/io.md, "Batches").
 *
 *	copy [--depth N] [--block BYTES] [--fsync] SRC DST
 *
 * Keeps up to N operations (default 32) of BYTES each (default 128 KiB)
 * in flight: every completed read becomes a write of the same block, and
 * every completed write frees a buffer for the next read. WEFT_IO picks the
 * I/O driver (under epoll, file operations run on the blocking pool).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <weft.h>

static unsigned depth = 32;
static size_t block = 128 * 1024;
static int do_fsync;
static const char *src, *dst;

/* Tags: the buffer index, with the top bit set for writes. */
#define WRITE_TAG (1ull << 63)

struct slot {
	unsigned char *buf;
	off_t off;
	size_t want;		/* bytes of the file this slot covers */
	size_t len;		/* bytes read into buf so far */
	size_t done;		/* bytes of it written so far */
};

static int copy_file(int in, int out, off_t size)
{
	struct slot *s = calloc(depth, sizeof(*s));
	struct wf_io_done *done = calloc(depth, sizeof(*done));
	unsigned *free_slots = calloc(depth, sizeof(*free_slots)), nfree = depth;
	wf_io_batch *b = NULL;
	off_t next = 0;
	int r = -ENOMEM;

	if (!s || !done || !free_slots)
		goto out;
	for (unsigned i = 0; i < depth; i++) {
		s[i].buf = malloc(block);
		if (!s[i].buf)
			goto out;
		free_slots[i] = i;
	}
	r = wf_io_batch_new(&b, depth);
	if (r)
		goto out;
	for (;;) {
		int n;

		/* A read into every free buffer, while the file lasts. */
		while (nfree && next < size) {
			unsigned i = free_slots[--nfree];

			s[i].off = next;
			s[i].want = size - next < (off_t)block ? (size_t)(size - next) : block;
			s[i].len = s[i].done = 0;
			r = wf_io_batch_read(b, in, s[i].buf, s[i].want, next, i);
			if (r)
				goto out;
			next += (off_t)s[i].want;
		}
		n = wf_io_batch_wait(b, done, depth, WF_FOREVER);
		if (n == 0)
			break;		/* nothing in flight: all copied */
		if (n < 0) {
			r = n;
			goto out;
		}
		for (int k = 0; k < n; k++) {
			unsigned i = (unsigned)(done[k].tag & ~WRITE_TAG);
			ssize_t res = done[k].res;

			if (res < 0) {
				r = (int)res;
				goto out;
			}
			if (!(done[k].tag & WRITE_TAG)) {
				s[i].len += (size_t)res;
				if (res > 0 && s[i].len < s[i].want) {
					/* A short read: read the rest of the block first. */
					r = wf_io_batch_read(b, in, s[i].buf + s[i].len,
							     s[i].want - s[i].len,
							     s[i].off + (off_t)s[i].len, i);
					if (r)
						goto out;
					continue;
				}
				/* res == 0: the file shrank; write what came. */
			} else {
				s[i].done += (size_t)res;
			}
			if (s[i].done < s[i].len) {
				r = wf_io_batch_write(b, out, s[i].buf + s[i].done,
						      s[i].len - s[i].done,
						      s[i].off + (off_t)s[i].done, i | WRITE_TAG);
				if (r)
					goto out;
			} else {
				free_slots[nfree++] = i;
			}
		}
	}
	r = do_fsync ? wf_fsync(out, 0) : 0;
out:
	wf_io_batch_free(b);	/* cancels and waits for what is left on error */
	if (s)
		for (unsigned i = 0; i < depth; i++)
			free(s[i].buf);
	free(s);
	free(done);
	free(free_slots);
	return r;
}

static void *run(void *arg)
{
	struct statx st;
	int in, out, r;

	(void)arg;
	in = wf_openat(AT_FDCWD, src, O_RDONLY, 0);
	if (in < 0) {
		fprintf(stderr, "copy: %s: %s\n", src, strerror(-in));
		return (void *)1L;
	}
	r = wf_statx(in, "", AT_EMPTY_PATH, STATX_SIZE | STATX_MODE, &st);
	if (r) {
		fprintf(stderr, "copy: %s: %s\n", src, strerror(-r));
		wf_close(in);
		return (void *)1L;
	}
	out = wf_openat(AT_FDCWD, dst, O_WRONLY | O_CREAT | O_TRUNC, st.stx_mode & 07777);
	if (out < 0) {
		fprintf(stderr, "copy: %s: %s\n", dst, strerror(-out));
		wf_close(in);
		return (void *)1L;
	}
	r = copy_file(in, out, (off_t)st.stx_size);
	if (r)
		fprintf(stderr, "copy: %s -> %s: %s\n", src, dst, strerror(-r));
	wf_close(in);
	if (wf_close(out) && !r)
		r = -EIO;
	return (void *)(long)(r ? 1 : 0);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: copy [--depth N] [--block BYTES] [--fsync] SRC DST\n"
		   "  --depth N      operations in flight (default 32, at most 4096)\n"
		   "  --block BYTES  size of each read and write (default 131072)\n"
		   "  --fsync        fsync DST before closing it\n"
		   "WEFT_IO=uring|epoll|auto chooses the I/O driver.\n");
}

static unsigned long number(const char *opt, const char *v, unsigned long lo,
			    unsigned long hi)
{
	char *end;
	unsigned long x;

	if (!v) {
		fprintf(stderr, "copy: %s needs a value\n", opt);
		exit(2);
	}
	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno || *end || end == v || x < lo || x > hi) {
		fprintf(stderr, "copy: %s: bad value '%s' (%lu..%lu)\n", opt, v, lo, hi);
		exit(2);
	}
	return x;
}

int main(int argc, char **argv)
{
	void *res = NULL;
	int i, r;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--fsync")) {
			do_fsync = 1;
		} else if (!strcmp(a, "--depth")) {
			depth = (unsigned)number(a, argv[++i], 1, 4096);
		} else if (!strcmp(a, "--block")) {
			block = number(a, argv[++i], 512, 64ul << 20);
		} else if (!strcmp(a, "--")) {
			i++;
			break;
		} else {
			fprintf(stderr, "copy: unknown option '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (argc - i != 2) {
		usage(stderr);
		return 2;
	}
	src = argv[i];
	dst = argv[i + 1];
	r = wf_main(run, NULL, &res);
	return r || res ? 1 : 0;
}
