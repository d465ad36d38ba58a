// SPDX-License-Identifier: MIT
/*
 * Deadlines, cancellation and the budget on both drivers (io_util.h):
 * a timed-out recv is cancelled in the kernel (the data that arrives
 * later goes to the next recv, not into the old buffer); a task cancelled
 * in recv returns -ECANCELED and its buffer is never written after; the
 * same with the cancellation landing on another worker than the one that
 * submitted; shutdown wakes a pending recv; runtime shutdown cancels
 * pending I/O; a task reading a fast socket in a loop still yields.
 */
#include "io_util.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#define CANARY 0x5a

static bool all_canary(const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != CANARY)
			return false;
	return true;
}

IO_TEST(deadline_cancels_the_operation)
{
	unsigned char old[64], fresh[64];
	uint64_t t0;
	int sv[2];

	CHECK_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	memset(old, CANARY, sizeof(old));
	t0 = wf_now_ns();
	CHECK_EQ(-ETIMEDOUT, wf_recv_until(sv[0], old, sizeof(old), 0, ms_from_now(30)));
	CHECK(wf_now_ns() - t0 >= 30 * WF_NSEC_PER_MSEC);
	/* A past deadline: -ETIMEDOUT at once, nothing consumed either. */
	CHECK_EQ(-ETIMEDOUT, wf_recv_until(sv[0], old, sizeof(old), 0, 0));
	/* The old operations are gone: the data goes to the next recv. */
	CHECK_EQ(6, wf_send(sv[1], "later!", 6, 0));
	CHECK_EQ(6, wf_recv_until(sv[0], fresh, sizeof(fresh), 0, ms_from_now(5000)));
	CHECK_EQ(0, memcmp(fresh, "later!", 6));
	CHECK(all_canary(old, sizeof(old)));
	/* Accept and connect-free poll time out the same way. */
	CHECK_EQ(-ETIMEDOUT, wf_poll_fd(sv[0], POLLIN, ms_from_now(10)));
	{
		uint16_t port = 0;
		int l = io_listen(&port);

		CHECK(l >= 0);
		CHECK_EQ(-ETIMEDOUT, wf_accept_until(l, NULL, NULL, 0, ms_from_now(10)));
		wf_close(l);
	}
	wf_close(sv[0]);
	wf_close(sv[1]);
	return NULL;
}

struct blocked {
	int fd;
	unsigned char *buf;
	size_t len;
	_Atomic int started;
};

static void *blocked_recv(void *arg)
{
	struct blocked *b = arg;
	ssize_t r;

	atomic_store(&b->started, 1);
	r = wf_recv(b->fd, b->buf, b->len, 0);
	return (void *)(long)r;
}

IO_TEST(cancel_blocked_recv)
{
	unsigned char *buf = malloc(256), fresh[256];
	struct blocked b = { .buf = buf, .len = 256 };
	struct wf_io_info before, after;
	wf_runtime *rt = arg;
	wf_task *t;
	int sv[2];

	CHECK(buf != NULL);
	CHECK_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	memset(buf, CANARY, 256);
	b.fd = sv[0];
	CHECK_EQ(0, wf_io_info(rt, &before));
	CHECK_EQ(0, wf_spawn(&t, blocked_recv, &b));
	CHECK(WAIT_FOR(atomic_load(&b.started)));
	wf_sleep_ns(5 * WF_NSEC_PER_MSEC);	/* let it reach the kernel */
	CHECK_EQ(0, wf_cancel(t));
	CHECK_EQ(-ECANCELED, join_cancelled(t));
	CHECK_EQ(0, wf_io_info(rt, &after));
	CHECK(after.cancels > before.cancels);
	/* After it returned, data that arrives is not written to its buffer. */
	CHECK_EQ(4, wf_send(sv[1], "data", 4, 0));
	CHECK_EQ(4, wf_recv_until(sv[0], fresh, sizeof(fresh), 0, ms_from_now(5000)));
	CHECK(all_canary(buf, 256));
	free(buf);		/* ASan would see a late kernel write into it */
	wf_close(sv[0]);
	wf_close(sv[1]);
	return NULL;
}

/*
 * Many rounds with 4 workers: the cancelled task usually resumes on the
 * canceller's worker, not the one whose ring holds its recv, so the
 * cancel request travels to the owner (counted as remote under io_uring).
 */
#define ROUNDS (WTEST_TSAN ? 30 : 200)

static void *blocked_then_spin(void *arg)
{
	struct blocked *b = arg;
	ssize_t r;

	atomic_store(&b->started, 1);
	r = wf_recv(b->fd, b->buf, b->len, 0);
	return (void *)(long)r;
}

IO_TEST_W(cancel_across_workers, 4, 60)
{
	unsigned char buf[64], fresh[64];
	struct wf_io_info info;
	wf_runtime *rt = arg;
	int sv[2];

	CHECK_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	for (int i = 0; i < ROUNDS; i++) {
		struct blocked b = { .fd = sv[0], .buf = buf, .len = sizeof(buf) };
		wf_task *t;
		long r;

		memset(buf, CANARY, sizeof(buf));
		CHECK_EQ(0, wf_spawn(&t, blocked_then_spin, &b));
		CHECK(WAIT_FOR(atomic_load(&b.started)));
		if (i & 1)
			wf_yield();
		else
			wf_sleep_ns(200 * WF_NSEC_PER_USEC);
		CHECK_EQ(0, wf_cancel(t));
		r = join_cancelled(t);
		CHECK_EQ(-ECANCELED, r);
		CHECK(all_canary(buf, sizeof(buf)));
	}
	/* Nothing was consumed by the cancelled receives. */
	CHECK_EQ(3, wf_send(sv[1], "end", 3, 0));
	CHECK_EQ(3, wf_recv_until(sv[0], fresh, sizeof(fresh), 0, ms_from_now(5000)));
	CHECK(all_canary(buf, sizeof(buf)));
	CHECK_EQ(0, wf_io_info(rt, &info));
	TH_LOG("%s: %llu cancels, %llu handed to another worker", info.name,
	       (unsigned long long)info.cancels, (unsigned long long)info.remote_cancels);
	wf_close(sv[0]);
	wf_close(sv[1]);
	return NULL;
}

/*
 * Deadlines racing completions: a reader with deadlines of 0-20 us while a
 * writer trickles data in. A receive whose deadline fires as its data
 * arrives must return the data (or leave it for the next receive): every
 * byte arrives exactly once and in order. 4 workers, so the reader often
 * resumes away from the ring that holds its receive.
 */
#define RACE_BYTES (WTEST_TSAN ? 20000 : 200000)

static void *trickle_writer(void *arg)
{
	int fd = (int)(long)arg;
	unsigned char buf[700];
	size_t off = 0;
	uint32_t rnd = 12345;

	while (off < RACE_BYTES) {
		size_t n = 1 + xorshift(&rnd) % sizeof(buf);

		if (n > RACE_BYTES - off)
			n = RACE_BYTES - off;
		io_pattern(buf, n, 77, off);
		CHECK_EQ((ssize_t)n, wf_send_all(fd, buf, n, 0));
		off += n;
		if (xorshift(&rnd) % 2 == 0)
			wf_sleep_ns(xorshift(&rnd) % 50 * WF_NSEC_PER_USEC);
		else
			wf_yield();
	}
	return NULL;
}

IO_TEST_W(deadline_races_keep_every_byte, 4, 60)
{
	unsigned char buf[512];
	size_t total = 0;
	long timeouts = 0;
	uint32_t rnd = 777;
	wf_task *w;
	int sv[2];

	CHECK_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	CHECK_EQ(0, wf_spawn(&w, trickle_writer, (void *)(long)sv[1]));
	while (total < RACE_BYTES) {
		uint64_t dl = wf_now_ns() + xorshift(&rnd) % 20 * WF_NSEC_PER_USEC;
		ssize_t r = wf_recv_until(sv[0], buf, sizeof(buf), 0, dl);

		if (r == -ETIMEDOUT) {
			timeouts++;
			continue;
		}
		CHECK(r > 0);
		CHECK(io_check_pattern(buf, (size_t)r, 77, total));
		total += (size_t)r;
	}
	CHECK_EQ(0L, join_long(w));
	CHECK_EQ(RACE_BYTES, total);
	TH_LOG("%ld receives timed out on the way", timeouts);
	wf_close(sv[0]);
	wf_close(sv[1]);
	return NULL;
}

IO_TEST(shutdown_wakes_recv)
{
	unsigned char buf[16];
	struct blocked b = { .buf = buf, .len = sizeof(buf) };
	wf_task *t;
	int sv[2];

	CHECK_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	b.fd = sv[0];
	CHECK_EQ(0, wf_spawn(&t, blocked_recv, &b));
	CHECK(WAIT_FOR(atomic_load(&b.started)));
	wf_sleep_ns(2 * WF_NSEC_PER_MSEC);
	CHECK_EQ(0, wf_shutdown(sv[0], SHUT_RDWR));
	CHECK_EQ(0L, join_long(t));
	wf_close(sv[0]);
	wf_close(sv[1]);
	return NULL;
}

/* Runtime shutdown cancels a task blocked in I/O, which then returns. */
static int sd_pair[2];

static void *sd_root(void *arg)
{
	static struct blocked b;
	static unsigned char buf[32];
	wf_task *t;

	(void)arg;
	b.fd = sd_pair[0];
	b.buf = buf;
	b.len = sizeof(buf);
	CHECK_EQ(0, wf_spawn(&t, blocked_recv, &b));
	CHECK(WAIT_FOR(atomic_load(&b.started)));
	wf_detach(t);
	return NULL;
}

static void shutdown_case(struct __test_metadata *_metadata, const char *drv)
{
	struct wf_runtime_opts o = { .workers = 2 };
	wf_runtime *rt;
	void *res;
	int r;

	setenv("WEFT_IO", drv, 1);
	r = wf_runtime_new(&rt, &o);
	if (r == -EOPNOTSUPP)
		SKIP("the %s driver is configured out (CONFIG_WEFT_IO_*)", drv);
	if (!strcmp(drv, "uring") && (r == -ENOSYS || r == -EPERM))
		SKIP("io_uring unavailable here: %s", wtest_errno_name(-r));
	ASSERT_EQ(0, r);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sd_pair));
	ASSERT_EQ(0, wf_block_on(rt, sd_root, NULL, &res));
	EXPECT_EQ(NULL, res);
	EXPECT_EQ(0, wf_runtime_shutdown(rt, 5 * WF_NSEC_PER_SEC));
	EXPECT_EQ(0, wf_runtime_free(rt));
	close(sd_pair[0]);
	close(sd_pair[1]);
}

TEST(runtime_shutdown_cancels_io_uring)
{
	shutdown_case(_metadata, "uring");
}

TEST(runtime_shutdown_cancels_io_epoll)
{
	shutdown_case(_metadata, "epoll");
}

/*
 * The budget: one worker, a reader looping on a socket that always has
 * data (it never has to wait under epoll) and a second task that only
 * counts; the counter must move while the reader loops.
 */
#define FAST_BYTES 8192

static _Atomic long ticks;
static _Atomic int reader_done;

static void *counter(void *arg)
{
	(void)arg;
	while (!atomic_load(&reader_done)) {
		atomic_fetch_add(&ticks, 1);
		wf_yield();
	}
	return NULL;
}

IO_TEST_W(budget_yields_on_fast_socket, 1, 30)
{
	unsigned char *fill = malloc(FAST_BYTES);
	int sv[2], big = 1 << 20;
	long seen_start, seen_end;
	wf_task *c;
	char ch;

	CHECK(fill != NULL);
	CHECK_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	CHECK_EQ(0, setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big)));
	CHECK_EQ(0, setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big)));
	memset(fill, 1, FAST_BYTES);
	CHECK_EQ(FAST_BYTES, wf_send_all(sv[0], fill, FAST_BYTES, 0));
	atomic_store(&reader_done, 0);
	CHECK_EQ(0, wf_spawn(&c, counter, NULL));
	wf_yield();
	seen_start = atomic_load(&ticks);
	for (int i = 0; i < FAST_BYTES; i++)
		CHECK_EQ(1, wf_recv(sv[1], &ch, 1, 0));
	seen_end = atomic_load(&ticks);
	atomic_store(&reader_done, 1);
	CHECK_EQ(0L, join_long(c));
	/* 8192 operations with a budget of 128: at least ~64 forced yields. */
	TH_LOG("counter moved by %ld while reading", seen_end - seen_start);
	CHECK(seen_end - seen_start >= 32);
	free(fill);
	wf_close(sv[0]);
	wf_close(sv[1]);
	return NULL;
}

TEST_HARNESS_MAIN
