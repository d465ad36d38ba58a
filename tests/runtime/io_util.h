/* SPDX-License-Identifier: MIT */
/*
 * io_util.h - helpers of the I/O tests (io_*.c).
 *
 * IO_TEST(name) { body } defines the body once, as a task, and two test
 * cases that run it: name_uring under WEFT_IO=uring and name_epoll under
 * WEFT_IO=epoll, each in a fresh runtime of IO_WORKERS workers (or the
 * number given by IO_TEST_W). So `make check` runs the whole I/O suite
 * against both drivers. Where io_uring is unavailable (ENOSYS, EPERM:
 * kernel.io_uring_disabled, seccomp) the _uring cases skip with the
 * reason. Sockets use 127.0.0.1 and Unix socket pairs only.
 */
#ifndef WEFT_TEST_IO_UTIL_H
#define WEFT_TEST_IO_UTIL_H

#include "wtest.h"
#include "chan_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define IO_WORKERS 2

/* workers 0: a current-thread runtime (the test's thread drives it). */
static inline void io_run_test(struct __test_metadata *_metadata, const char *drv,
			       unsigned workers, void *(*body)(void *))
{
	struct wf_runtime_opts o = { .workers = workers,
				     .flavor = workers ? WF_MULTI_THREAD : WF_CURRENT_THREAD };
	struct wf_io_info info;
	wf_runtime *rt;
	void *res = (void *)-999L;
	int r;

	setenv("WEFT_IO", drv, 1);
	r = wf_runtime_new(&rt, &o);
	if (r == -EOPNOTSUPP)
		SKIP("the %s driver is configured out (CONFIG_WEFT_IO_*)", drv);
	if (!strcmp(drv, "uring") && (r == -ENOSYS || r == -EPERM))
		SKIP("io_uring unavailable here: %s", wtest_errno_name(-r));
	ASSERT_EQ(0, r);
	ASSERT_EQ(0, wf_io_info(rt, &info));
	EXPECT_EQ(!strcmp(drv, "uring") ? WF_IO_URING : WF_IO_EPOLL, info.kind);
	r = wf_block_on(rt, body, rt, &res);
	EXPECT_EQ(0, r);
	EXPECT_EQ(0, wf_runtime_free(rt));
	EXPECT_EQ(0L, (long)res);
}

#define IO_TEST_W(name, workers, secs) \
	static void *name##_body(void *arg); \
	TEST_TIMEOUT(name##_uring, secs) \
	{ \
		io_run_test(_metadata, "uring", workers, name##_body); \
	} \
	TEST_TIMEOUT(name##_epoll, secs) \
	{ \
		io_run_test(_metadata, "epoll", workers, name##_body); \
	} \
	static void *name##_body(void __attribute__((unused)) *arg)

#define IO_TEST(name) IO_TEST_W(name, IO_WORKERS, 30)

/*
 * A task that sleeps 1 ms at a time until *arg (an _Atomic int) is set:
 * runnable work behind a poll, so that stall compensation hands it over.
 */
static inline void *io_ticker(void *arg)
{
	_Atomic int *stop = arg;

	while (!atomic_load(stop))
		wf_sleep_ns(WF_NSEC_PER_MSEC);
	return NULL;
}

/* A TCP listener on 127.0.0.1, any port; its port in *port. */
static inline int io_listen(uint16_t *port)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	int fd = wf_listen_tcp("127.0.0.1", 0, 128);

	if (fd < 0)
		return fd;
	if (getsockname(fd, (struct sockaddr *)&a, &l))
		return -errno;
	*port = ntohs(a.sin_port);
	return fd;
}

static inline struct sockaddr_in io_loopback(uint16_t port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* A connected TCP client socket to 127.0.0.1:port, or -errno. */
static inline int io_dial(uint16_t port)
{
	struct sockaddr_in a = io_loopback(port);
	int fd = wf_socket(AF_INET, SOCK_STREAM, 0), r;

	if (fd < 0)
		return fd;
	r = wf_connect(fd, (struct sockaddr *)&a, sizeof(a));
	if (r) {
		wf_close(fd);
		return r;
	}
	return fd;
}

/* Fill buf with a pattern that depends on the position (seed, offset). */
static inline void io_pattern(unsigned char *buf, size_t len, unsigned seed, size_t off)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)((off + i) * 31u + seed);
}

static inline bool io_check_pattern(const unsigned char *buf, size_t len, unsigned seed,
				    size_t off)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != (unsigned char)((off + i) * 31u + seed))
			return false;
	return true;
}

/* Join a task that was cancelled: its result, or -12345. */
static inline long join_cancelled(wf_task *t)
{
	void *r;

	return wf_join(t, &r) == WF_JOIN_CANCELLED ? (long)r : -12345;
}

/* Receive exactly len bytes (0 on success, or the failing result). */
static inline long io_recv_all(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = wf_recv(fd, (char *)buf + got, len - got, 0);

		if (r <= 0)
			return r == 0 ? -EPIPE : r;
		got += (size_t)r;
	}
	return 0;
}

#endif /* WEFT_TEST_IO_UTIL_H */
