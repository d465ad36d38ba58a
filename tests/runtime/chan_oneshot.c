// SPDX-License-Identifier: MIT
/*
 * wf_oneshot: errors, send before and after the receiver waits, one send
 * only (-EALREADY), one receive only (-EALREADY), a sender that drops its
 * end without sending (-EPIPE), a dropped receiver (-EPIPE for the
 * sender), deadlines, cancellation, a send from a plain thread.
 */
#include "wtest.h"
#include "chan_util.h"

#include <pthread.h>
#include <unistd.h>

TEST(errors_outside_a_task)
{
	wf_oneshot *os;
	long v = 5, out = 0;

	EXPECT_ERRNO(EINVAL, wf_oneshot_new(NULL, 8));
	EXPECT_ERRNO(EINVAL, wf_oneshot_new(&os, 0));
	EXPECT_ERRNO(EINVAL, wf_oneshot_new(&os, WF_CHAN_MAX_ELEM + 1));
	EXPECT_ERRNO(EINVAL, wf_oneshot_send(NULL, &v));
	EXPECT_ERRNO(EINVAL, wf_oneshot_recv(NULL, &out));
	EXPECT_ERRNO(EINVAL, wf_oneshot_recv_until(NULL, &out, 0));
	EXPECT_ERRNO(EINVAL, wf_oneshot_try_recv(NULL, &out));
	ASSERT_EQ(0, wf_oneshot_new(&os, sizeof(long)));
	EXPECT_ERRNO(EINVAL, wf_oneshot_send(os, NULL));
	EXPECT_ERRNO(EINVAL, wf_oneshot_try_recv(os, NULL));
	EXPECT_ERRNO(EPERM, wf_oneshot_recv(os, &out));
	EXPECT_ERRNO(EPERM, wf_oneshot_recv_until(os, &out, 0));
	EXPECT_ERRNO(EAGAIN, wf_oneshot_try_recv(os, &out));
	/* Sending and try_recv work from any thread. */
	EXPECT_EQ(0, wf_oneshot_send(os, &v));
	v = 6;
	EXPECT_ERRNO(EALREADY, wf_oneshot_send(os, &v));
	EXPECT_EQ(0, wf_oneshot_try_recv(os, &out));
	EXPECT_EQ(5L, out);
	EXPECT_ERRNO(EALREADY, wf_oneshot_try_recv(os, &out));
	wf_oneshot_drop_sender(os);
	wf_oneshot_drop_receiver(os);
	wf_oneshot_drop_sender(NULL);
	wf_oneshot_drop_receiver(NULL);
}

static void *late_sender(void *arg)
{
	long v = 99;

	wf_sleep_ns(3 * WF_NSEC_PER_MSEC);
	if (wf_oneshot_send(arg, &v))
		return (void *)1L;
	wf_oneshot_drop_sender(arg);
	return NULL;
}

static void *dropper(void *arg)
{
	wf_sleep_ns(3 * WF_NSEC_PER_MSEC);
	wf_oneshot_drop_sender(arg);
	return NULL;
}

static void *basic_body(void *arg)
{
	wf_oneshot *os;
	wf_task *t;
	long v = 0;

	/* Receiver waits, then the value comes. */
	CHECK_EQ(0, wf_oneshot_new(&os, sizeof(long)));
	CHECK_EQ(0, wf_spawn(&t, late_sender, os));
	CHECK_EQ(0, wf_oneshot_recv(os, &v));
	CHECK_EQ(99, v);
	CHECK_EQ(-EALREADY, wf_oneshot_recv(os, &v));
	CHECK_EQ(0, join_long(t));
	wf_oneshot_drop_receiver(os);

	/* Sent (and sender gone) before the receive: still delivered. */
	CHECK_EQ(0, wf_oneshot_new(&os, sizeof(long)));
	v = 7;
	CHECK_EQ(0, wf_oneshot_send(os, &v));
	wf_oneshot_drop_sender(os);
	CHECK_EQ(0, wf_oneshot_recv(os, &v));
	CHECK_EQ(7, v);
	wf_oneshot_drop_receiver(os);

	/* Sender drops its end without sending: the waiting receiver wakes. */
	CHECK_EQ(0, wf_oneshot_new(&os, sizeof(long)));
	CHECK_EQ(0, wf_spawn(&t, dropper, os));
	CHECK_EQ(-EPIPE, wf_oneshot_recv(os, &v));
	CHECK_EQ(-EPIPE, wf_oneshot_try_recv(os, &v));
	CHECK_EQ(0, join_long(t));
	wf_oneshot_drop_receiver(os);

	/* Receiver gone: the send fails. */
	CHECK_EQ(0, wf_oneshot_new(&os, sizeof(long)));
	wf_oneshot_drop_receiver(os);
	CHECK_EQ(-EPIPE, wf_oneshot_send(os, &v));
	wf_oneshot_drop_sender(os);
	return NULL;
}

TEST(send_recv_and_closed_ends)
{
	EXPECT_EQ(0L, run_on(2, basic_body, NULL));
}

static void *recv_task(void *arg)
{
	long v;

	return (void *)(long)wf_oneshot_recv(arg, &v);
}

static void *leave_body(void *arg)
{
	wf_oneshot *os;
	wf_task *t;
	long v = 0;
	void *r;

	CHECK_EQ(0, wf_oneshot_new(&os, sizeof(long)));
	CHECK_EQ(-ETIMEDOUT, wf_oneshot_recv_until(os, &v, ms_from_now(2)));
	CHECK_EQ(-ETIMEDOUT, wf_oneshot_recv_until(os, &v, 0));
	CHECK_EQ(0, wf_spawn(&t, recv_task, os));
	settle();
	CHECK_EQ(0, wf_cancel(t));
	CHECK_EQ(WF_JOIN_CANCELLED, wf_join(t, &r));
	CHECK_EQ(-ECANCELED, (long)r);
	/* The value sent afterwards is still there. */
	v = 31;
	CHECK_EQ(0, wf_oneshot_send(os, &v));
	v = 0;
	CHECK_EQ(0, wf_oneshot_recv_until(os, &v, 0));
	CHECK_EQ(31, v);
	wf_oneshot_drop_sender(os);
	wf_oneshot_drop_receiver(os);
	return NULL;
}

TEST(timeout_and_cancel)
{
	EXPECT_EQ(0L, run_on(2, leave_body, NULL));
}

static void *thread_send(void *arg)
{
	long v = 1234;

	usleep(5000);
	wf_oneshot_send(arg, &v);
	wf_oneshot_drop_sender(arg);
	return NULL;
}

static void *thread_body(void *arg)
{
	wf_oneshot *os;
	pthread_t th;
	long v = 0;

	CHECK_EQ(0, wf_oneshot_new(&os, sizeof(long)));
	CHECK_EQ(0, pthread_create(&th, NULL, thread_send, os));
	CHECK_EQ(0, wf_oneshot_recv_until(os, &v, ms_from_now(5000)));
	CHECK_EQ(1234, v);
	pthread_join(th, NULL);
	wf_oneshot_drop_receiver(os);
	return NULL;
}

TEST(send_from_a_plain_thread)
{
	EXPECT_EQ(0L, run_on(2, thread_body, NULL));
}

TEST_HARNESS_MAIN
