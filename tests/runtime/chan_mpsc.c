// SPDX-License-Identifier: MIT
/*
 * wf_chan: errors, element sizes, FIFO per sender and among blocked
 * senders (no barging), backpressure, close semantics, deadlines,
 * cancellation of blocked senders and receivers (nothing lost, nothing
 * doubled), recv_many, unbounded channels and their statistics, try_send
 * from a plain thread.
 */
#include "wtest.h"
#include "chan_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TEST(errors_outside_a_task)
{
	struct wf_chan_stats st;
	wf_chan *ch;
	long v = 7, out = 0;

	EXPECT_ERRNO(EINVAL, wf_chan_new(NULL, 8, 1));
	EXPECT_ERRNO(EINVAL, wf_chan_new(&ch, 0, 1));
	EXPECT_ERRNO(EINVAL, wf_chan_new(&ch, 8, 0));
	EXPECT_ERRNO(EINVAL, wf_chan_new(&ch, WF_CHAN_MAX_ELEM + 1, 1));
	EXPECT_ERRNO(EINVAL, wf_chan_new(&ch, 8, (size_t)WF_CHAN_MAX_CAPACITY + 1));
	/* 1 Gi slots of 1 MiB: no such memory (sanitizers abort instead). */
	if (!WTEST_ASAN && !WTEST_TSAN)
		EXPECT_ERRNO(ENOMEM, wf_chan_new(&ch, WF_CHAN_MAX_ELEM, WF_CHAN_MAX_CAPACITY));
	EXPECT_ERRNO(EINVAL, wf_chan_new_unbounded(NULL, 8));
	EXPECT_ERRNO(EINVAL, wf_chan_new_unbounded(&ch, 0));
	EXPECT_ERRNO(EINVAL, wf_chan_send(NULL, &v));
	EXPECT_ERRNO(EINVAL, wf_chan_send_until(NULL, &v, 0));
	EXPECT_ERRNO(EINVAL, wf_chan_try_send(NULL, &v));
	EXPECT_ERRNO(EINVAL, wf_chan_recv(NULL, &out));
	EXPECT_ERRNO(EINVAL, wf_chan_recv_until(NULL, &out, 0));
	EXPECT_ERRNO(EINVAL, wf_chan_try_recv(NULL, &out));
	EXPECT_ERRNO(EINVAL, wf_chan_recv_many(NULL, &out, 1));
	EXPECT_ERRNO(EINVAL, wf_chan_close(NULL));
	EXPECT_ERRNO(EINVAL, wf_chan_is_closed(NULL));
	EXPECT_ERRNO(EINVAL, wf_chan_len(NULL));
	EXPECT_ERRNO(EINVAL, wf_chan_stats(NULL, &st));
	EXPECT_ERRNO(EINVAL, wf_chan_send_ptr(NULL, NULL));
	EXPECT_ERRNO(EINVAL, wf_chan_recv_ptr(NULL, NULL));

	ASSERT_EQ(0, wf_chan_new(&ch, sizeof(long), 2));
	EXPECT_ERRNO(EINVAL, wf_chan_send(ch, NULL));
	EXPECT_ERRNO(EINVAL, wf_chan_try_send(ch, NULL));
	EXPECT_ERRNO(EINVAL, wf_chan_recv(ch, NULL));
	EXPECT_ERRNO(EINVAL, wf_chan_try_recv(ch, NULL));
	EXPECT_ERRNO(EINVAL, wf_chan_recv_many(ch, &out, 0));
	EXPECT_ERRNO(EINVAL, wf_chan_stats(ch, NULL));
	/* Suspending calls need a task; the try_* calls work anywhere. */
	EXPECT_ERRNO(EPERM, wf_chan_send(ch, &v));
	EXPECT_ERRNO(EPERM, wf_chan_send_until(ch, &v, 0));
	EXPECT_ERRNO(EPERM, wf_chan_recv(ch, &out));
	EXPECT_ERRNO(EPERM, wf_chan_recv_until(ch, &out, 0));
	EXPECT_ERRNO(EPERM, wf_chan_recv_many(ch, &out, 1));
	EXPECT_ERRNO(EAGAIN, wf_chan_try_recv(ch, &out));
	EXPECT_EQ(0, wf_chan_try_send(ch, &v));
	v = 8;
	EXPECT_EQ(0, wf_chan_try_send(ch, &v));
	EXPECT_ERRNO(EAGAIN, wf_chan_try_send(ch, &v));
	EXPECT_EQ(2L, wf_chan_len(ch));
	EXPECT_EQ(0, wf_chan_try_recv(ch, &out));
	EXPECT_EQ(7L, out);
	EXPECT_EQ(0, wf_chan_is_closed(ch));
	EXPECT_EQ(0, wf_chan_close(ch));
	EXPECT_EQ(1, wf_chan_is_closed(ch));
	EXPECT_EQ(0, wf_chan_close(ch));
	EXPECT_ERRNO(EPIPE, wf_chan_try_send(ch, &v));
	EXPECT_EQ(0, wf_chan_try_recv(ch, &out));
	EXPECT_EQ(8L, out);
	EXPECT_ERRNO(EPIPE, wf_chan_try_recv(ch, &out));
	wf_chan_free(ch);
	/* Pointer helpers check the element size. */
	ASSERT_EQ(0, wf_chan_new(&ch, 3, 2));
	EXPECT_ERRNO(EINVAL, wf_chan_send_ptr(ch, &v));
	EXPECT_ERRNO(EINVAL, wf_chan_recv_ptr(ch, (void **)&out));
	wf_chan_free(ch);
	wf_chan_free(NULL);
}

static void *sizes_body(void *arg)
{
	static const size_t sizes[] = { 1, 3, 4, 8, 13, 16, 24, 100, 4096 };
	unsigned char in[4096], out[4096];

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t sz = sizes[k];
		wf_chan *ch;

		CHECK_EQ(0, wf_chan_new(&ch, sz, 5));
		for (int m = 0; m < 12; m++) {
			memset(in, 0x40 + m, sz);
			in[0] = (unsigned char)m;
			CHECK_EQ(0, wf_chan_send(ch, in));
			memset(out, 0, sz);
			CHECK_EQ(0, wf_chan_recv(ch, out));
			CHECK(memcmp(in, out, sz) == 0);
		}
		wf_chan_free(ch);
	}
	return NULL;
}

TEST(element_sizes_round_trip)
{
	EXPECT_EQ(0L, run_on(2, sizes_body, NULL));
}

static void *fifo_body(void *arg)
{
	struct wf_chan_stats st;
	wf_chan *ch;
	long v;

	CHECK_EQ(0, wf_chan_new(&ch, sizeof(long), 3));
	/* Capacity is exact, not the ring's power of two. */
	for (v = 0; v < 3; v++)
		CHECK_EQ(0, wf_chan_try_send(ch, &v));
	CHECK_EQ(-EAGAIN, wf_chan_try_send(ch, &v));
	CHECK_EQ(-ETIMEDOUT, wf_chan_send_until(ch, &v, ms_from_now(2)));
	CHECK_EQ(-ETIMEDOUT, wf_chan_send_until(ch, &v, 0));
	CHECK_EQ(3, wf_chan_len(ch));
	for (long i = 0; i < 3; i++) {
		CHECK_EQ(0, wf_chan_recv(ch, &v));
		CHECK_EQ(i, v);
	}
	CHECK_EQ(-ETIMEDOUT, wf_chan_recv_until(ch, &v, ms_from_now(2)));
	CHECK_EQ(-ETIMEDOUT, wf_chan_recv_until(ch, &v, 0));
	/* Wrap around the ring many times. */
	for (long i = 0; i < 999; i++) {
		CHECK_EQ(0, wf_chan_send(ch, &i));
		if (i % 3 == 2)
			for (long j = i - 2; j <= i; j++) {
				CHECK_EQ(0, wf_chan_try_recv(ch, &v));
				CHECK_EQ(j, v);
			}
	}
	CHECK_EQ(0, wf_chan_stats(ch, &st));
	CHECK_EQ(0, st.depth);
	CHECK_EQ(3, st.high_water);
	CHECK_EQ(3, st.capacity);
	CHECK_EQ(1002, st.sends);
	CHECK_EQ(1002, st.recvs);
	CHECK_EQ(0, st.closed);
	CHECK_EQ(0, st.unbounded);
	wf_chan_free(ch);
	return NULL;
}

TEST(fifo_capacity_and_deadlines)
{
	EXPECT_EQ(0L, run_on(2, fifo_body, NULL));
}

struct snd {
	wf_chan *ch;
	long v;
	_Atomic int started, done;
	long res;
	uint64_t deadline;
};

static void *sender(void *arg)
{
	struct snd *s = arg;

	atomic_store(&s->started, 1);
	s->res = wf_chan_send_until(s->ch, &s->v, s->deadline ? s->deadline : WF_FOREVER);
	atomic_store(&s->done, 1);
	return (void *)s->res;
}

static long blocked_sends(wf_chan *ch)
{
	struct wf_chan_stats st;

	wf_chan_stats(ch, &st);
	return (long)st.blocked_sends;
}

static void *backpressure_body(void *arg)
{
	struct snd s[4] = { 0 };
	wf_task *t[4];
	wf_chan *ch;
	long v;

	CHECK_EQ(0, wf_chan_new(&ch, sizeof(long), 1));
	v = 100;
	CHECK_EQ(0, wf_chan_send(ch, &v));
	/* Three senders block, in a known order. */
	for (int i = 0; i < 3; i++) {
		s[i] = (struct snd){ .ch = ch, .v = i };
		CHECK_EQ(0, wf_spawn(&t[i], sender, &s[i]));
		CHECK(WAIT_FOR(blocked_sends(ch) == i + 1));
	}
	settle();
	for (int i = 0; i < 3; i++)
		CHECK_EQ(0, atomic_load(&s[i].done));
	/* A newcomer never overtakes them, even when a slot frees up. */
	CHECK_EQ(0, wf_chan_recv(ch, &v));
	CHECK_EQ(100, v);
	v = 99;
	CHECK_EQ(-EAGAIN, wf_chan_try_send(ch, &v));
	CHECK(WAIT_FOR(atomic_load(&s[0].done)));
	CHECK_EQ(0, atomic_load(&s[1].done));
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(0, wf_chan_recv(ch, &v));
		CHECK_EQ(i, v);
		CHECK_EQ(0, join_long(t[i]));
	}
	CHECK_EQ(-EAGAIN, wf_chan_try_recv(ch, &v));
	CHECK_EQ(3, blocked_sends(ch));
	wf_chan_free(ch);
	return NULL;
}

TEST(backpressure_and_fifo_among_blocked_senders)
{
	EXPECT_EQ(0L, run_on(4, backpressure_body, NULL));
}

static void *leave_body(void *arg)
{
	struct snd a = { 0 }, b = { 0 }, c = { 0 };
	wf_task *ta, *tb, *tc;
	wf_chan *ch;
	long v;
	void *r;

	CHECK_EQ(0, wf_chan_new(&ch, sizeof(long), 1));
	v = 100;
	CHECK_EQ(0, wf_chan_send(ch, &v));
	/* a: cancelled; b: times out; c: still waiting. */
	a = (struct snd){ .ch = ch, .v = 1 };
	b = (struct snd){ .ch = ch, .v = 2, .deadline = ms_from_now(20) };
	c = (struct snd){ .ch = ch, .v = 3 };
	CHECK_EQ(0, wf_spawn(&ta, sender, &a));
	CHECK(WAIT_FOR(blocked_sends(ch) == 1));
	CHECK_EQ(0, wf_spawn(&tb, sender, &b));
	CHECK(WAIT_FOR(blocked_sends(ch) == 2));
	CHECK_EQ(0, wf_spawn(&tc, sender, &c));
	CHECK(WAIT_FOR(blocked_sends(ch) == 3));
	CHECK_EQ(0, wf_cancel(ta));
	CHECK_EQ(WF_JOIN_CANCELLED, wf_join(ta, &r));
	CHECK_EQ(-ECANCELED, (long)r);
	CHECK_EQ(-ETIMEDOUT, join_long(tb));
	/* Their messages were never queued; the slot goes to c. */
	CHECK_EQ(0, wf_chan_recv(ch, &v));
	CHECK_EQ(100, v);
	CHECK_EQ(0, join_long(tc));
	CHECK_EQ(0, wf_chan_recv(ch, &v));
	CHECK_EQ(3, v);
	CHECK_EQ(-EAGAIN, wf_chan_try_recv(ch, &v));
	/* The channel is not wedged: the permits are all back. */
	for (v = 0; v < 1; v++)
		CHECK_EQ(0, wf_chan_try_send(ch, &v));
	CHECK_EQ(0, wf_chan_try_recv(ch, &v));
	wf_chan_free(ch);
	return NULL;
}

TEST(cancelled_or_timed_out_sender_sends_nothing)
{
	EXPECT_EQ(0L, run_on(4, leave_body, NULL));
}

struct rcv {
	wf_chan *ch;
	long v;
	_Atomic int started;
};

static void *receiver(void *arg)
{
	struct rcv *r = arg;

	atomic_store(&r->started, 1);
	return (void *)(long)wf_chan_recv(r->ch, &r->v);
}

static void *recv_cancel_body(void *arg)
{
	struct rcv a = { 0 }, b = { 0 };
	wf_task *ta, *tb;
	wf_chan *ch;
	long v;
	void *r;

	CHECK_EQ(0, wf_chan_new(&ch, sizeof(long), 4));
	a.ch = b.ch = ch;
	CHECK_EQ(0, wf_spawn(&ta, receiver, &a));
	CHECK(WAIT_FOR(atomic_load(&a.started)));
	settle();
	CHECK_EQ(0, wf_cancel(ta));
	CHECK_EQ(WF_JOIN_CANCELLED, wf_join(ta, &r));
	CHECK_EQ(-ECANCELED, (long)r);
	/* The message sent after is still there for the next receiver. */
	v = 42;
	CHECK_EQ(0, wf_chan_send(ch, &v));
	CHECK_EQ(0, wf_spawn(&tb, receiver, &b));
	CHECK_EQ(0, join_long(tb));
	CHECK_EQ(42, b.v);
	/* Cancelled before the call: -ECANCELED even with a message queued. */
	CHECK_EQ(0, wf_chan_send(ch, &v));
	wf_cancel(wf_current());
	CHECK_EQ(-ECANCELED, wf_chan_recv(ch, &v));
	CHECK_EQ(-ECANCELED, wf_chan_send(ch, &v));
	CHECK_EQ(1, wf_chan_len(ch));
	wf_chan_free(ch);
	return NULL;
}

static void *spawn_and_join(void *fn)
{
	wf_task *t;
	void *r = (void *)-1L;

	if (wf_spawn(&t, (wf_task_fn)fn, NULL))
		return (void *)-2L;
	wf_join(t, &r);
	return r;
}

TEST(cancelled_receiver_consumes_nothing)
{
	EXPECT_EQ(0L, run_on(2, spawn_and_join, (void *)recv_cancel_body));
}

static void *close_body(void *arg)
{
	struct snd s = { 0 };
	struct rcv r = { 0 };
	wf_task *ts, *tr;
	wf_chan *ch;
	long v;

	/* Blocked sender: -EPIPE on close; queued messages still drain. */
	CHECK_EQ(0, wf_chan_new(&ch, sizeof(long), 2));
	for (v = 1; v <= 2; v++)
		CHECK_EQ(0, wf_chan_send(ch, &v));
	s = (struct snd){ .ch = ch, .v = 3 };
	CHECK_EQ(0, wf_spawn(&ts, sender, &s));
	CHECK(WAIT_FOR(blocked_sends(ch) == 1));
	CHECK_EQ(0, wf_chan_close(ch));
	CHECK_EQ(-EPIPE, join_long(ts));
	CHECK_EQ(-EPIPE, wf_chan_send(ch, &v));
	CHECK_EQ(-EPIPE, wf_chan_try_send(ch, &v));
	CHECK_EQ(2, wf_chan_len(ch));
	CHECK_EQ(0, wf_chan_recv(ch, &v));
	CHECK_EQ(1, v);
	CHECK_EQ(0, wf_chan_recv(ch, &v));
	CHECK_EQ(2, v);
	CHECK_EQ(-EPIPE, wf_chan_recv(ch, &v));
	CHECK_EQ(-EPIPE, wf_chan_recv_until(ch, &v, 0));
	CHECK_EQ(-EPIPE, wf_chan_recv_many(ch, &v, 1));
	wf_chan_free(ch);

	/* Blocked receiver: woken by the close with -EPIPE. */
	CHECK_EQ(0, wf_chan_new(&ch, sizeof(long), 2));
	r.ch = ch;
	CHECK_EQ(0, wf_spawn(&tr, receiver, &r));
	CHECK(WAIT_FOR(atomic_load(&r.started)));
	settle();
	CHECK_EQ(0, wf_chan_close(ch));
	CHECK_EQ(-EPIPE, join_long(tr));
	wf_chan_free(ch);
	return NULL;
}

TEST(close_semantics)
{
	EXPECT_EQ(0L, run_on(4, close_body, NULL));
}

static void *many_body(void *arg)
{
	long buf[8], v;
	struct snd s = { 0 };
	wf_chan *ch;
	wf_task *t;

	CHECK_EQ(0, wf_chan_new(&ch, sizeof(long), 16));
	for (v = 0; v < 10; v++)
		CHECK_EQ(0, wf_chan_send(ch, &v));
	CHECK_EQ(8, wf_chan_recv_many(ch, buf, 8));
	for (int i = 0; i < 8; i++)
		CHECK_EQ(i, buf[i]);
	CHECK_EQ(2, wf_chan_recv_many(ch, buf, 8));
	CHECK_EQ(8, buf[0]);
	CHECK_EQ(9, buf[1]);
	CHECK_EQ(-ETIMEDOUT, wf_chan_recv_many_until(ch, buf, 8, ms_from_now(2)));
	/* Waits for the first message. */
	s = (struct snd){ .ch = ch, .v = 77 };
	CHECK_EQ(0, wf_spawn(&t, sender, &s));
	CHECK_EQ(1, wf_chan_recv_many(ch, buf, 8));
	CHECK_EQ(77, buf[0]);
	CHECK_EQ(0, join_long(t));
	v = 5;
	CHECK_EQ(0, wf_chan_send(ch, &v));
	CHECK_EQ(0, wf_chan_close(ch));
	CHECK_EQ(1, wf_chan_recv_many(ch, buf, 8));
	CHECK_EQ(-EPIPE, wf_chan_recv_many(ch, buf, 8));
	wf_chan_free(ch);
	return NULL;
}

TEST(recv_many)
{
	EXPECT_EQ(0L, run_on(2, many_body, NULL));
}

static void *ptr_body(void *arg)
{
	wf_chan *ch;
	void *p;
	int x;

	CHECK_EQ(0, wf_chan_new(&ch, sizeof(void *), 2));
	CHECK_EQ(0, wf_chan_send_ptr(ch, &x));
	CHECK_EQ(0, wf_chan_send_ptr(ch, NULL));
	CHECK_EQ(0, wf_chan_recv_ptr(ch, &p));
	CHECK(p == &x);
	CHECK_EQ(0, wf_chan_recv_ptr(ch, &p));
	CHECK(p == NULL);
	wf_chan_free(ch);
	return NULL;
}

TEST(pointer_messages)
{
	EXPECT_EQ(0L, run_on(2, ptr_body, NULL));
}

static void *unbounded_body(void *arg)
{
	long n = (long)arg, v;
	struct wf_chan_stats st;
	wf_chan *ch;

	CHECK_EQ(0, wf_chan_new_unbounded(&ch, sizeof(long)));
	for (v = 0; v < n; v++)
		CHECK_EQ(0, wf_chan_send(ch, &v));
	v = n;
	CHECK_EQ(0, wf_chan_try_send(ch, &v));
	CHECK_EQ(0, wf_chan_stats(ch, &st));
	CHECK_EQ(n + 1, st.depth);
	CHECK_EQ(n + 1, st.high_water);
	CHECK_EQ(n + 1, st.sends);
	CHECK_EQ(0, st.recvs);
	CHECK_EQ(0, st.capacity);
	CHECK_EQ(1, st.unbounded);
	CHECK(st.blocked_sends > 0);	/* spilled past the ring */
	CHECK_EQ(n + 1, wf_chan_len(ch));
	/* Half now, in order; the rest after a close. */
	for (long i = 0; i < n / 2; i++) {
		CHECK_EQ(0, wf_chan_recv(ch, &v));
		CHECK_EQ(i, v);
	}
	v = -1;
	CHECK_EQ(0, wf_chan_send(ch, &v));
	CHECK_EQ(0, wf_chan_close(ch));
	CHECK_EQ(-EPIPE, wf_chan_send(ch, &v));
	for (long i = n / 2; i <= n; i++) {
		CHECK_EQ(0, wf_chan_recv(ch, &v));
		CHECK_EQ(i, v);
	}
	CHECK_EQ(0, wf_chan_recv(ch, &v));
	CHECK_EQ(-1, v);
	CHECK_EQ(-EPIPE, wf_chan_recv(ch, &v));
	CHECK_EQ(0, wf_chan_stats(ch, &st));
	CHECK_EQ(0, st.depth);
	CHECK_EQ(n + 2, st.recvs);
	CHECK_EQ(n + 1, st.high_water);
	wf_chan_free(ch);

	/* Freed with parked messages still queued: no leak (ASan checks). */
	CHECK_EQ(0, wf_chan_new_unbounded(&ch, sizeof(long)));
	for (v = 0; v < 1000; v++)
		CHECK_EQ(0, wf_chan_send(ch, &v));
	wf_chan_free(ch);
	return NULL;
}

TEST(unbounded_keeps_order_and_reports_depth)
{
	EXPECT_EQ(0L, run_on(2, unbounded_body, (void *)20000L));
}

struct thr {
	wf_chan *ch;
	long n;
};

static void *plain_thread_sender(void *arg)
{
	struct thr *t = arg;

	for (long v = 0; v < t->n;) {
		int r = wf_chan_try_send(t->ch, &v);

		if (r == 0)
			v++;
		else if (r == -EAGAIN)
			usleep(v % 64 ? 0 : 100);
		else
			return (void *)1L;
	}
	wf_chan_close(t->ch);
	return NULL;
}

static void *thread_body(void *arg)
{
	struct thr t = { .n = WTEST_TSAN ? 2000 : 20000 };
	pthread_t th;
	long v, next = 0;
	void *tr;
	int r;

	CHECK_EQ(0, wf_chan_new(&t.ch, sizeof(long), 8));
	CHECK_EQ(0, pthread_create(&th, NULL, plain_thread_sender, &t));
	/* The receiver sleeps in recv; a plain thread's try_send wakes it. */
	while ((r = wf_chan_recv_until(t.ch, &v, ms_from_now(5000))) == 0) {
		CHECK_EQ(next, v);
		next++;
	}
	CHECK_EQ(-EPIPE, r);
	CHECK_EQ(t.n, next);
	pthread_join(th, &tr);
	CHECK(tr == NULL);
	wf_chan_free(t.ch);
	return NULL;
}

TEST(try_send_from_a_plain_thread_wakes_the_receiver)
{
	EXPECT_EQ(0L, run_on(2, thread_body, NULL));
}

/* --- many senders: FIFO per sender -------------------------------------- */

struct multi {
	wf_chan *ch;
	long per;
	int id;
};

static void *multi_sender(void *arg)
{
	struct multi *m = arg;

	for (long i = 0; i < m->per; i++) {
		long v = (long)m->id << 32 | i;

		if (wf_chan_send(m->ch, &v))
			return (void *)1L;
	}
	return NULL;
}

static void *per_sender_fifo_body(void *arg)
{
	enum { S = 4 };
	long per = WTEST_TSAN ? 2000 : 20000, next[S] = { 0 };
	struct multi m[S];
	wf_task *t[S];
	wf_chan *ch;

	CHECK_EQ(0, wf_chan_new(&ch, sizeof(long), 4));
	for (int i = 0; i < S; i++) {
		m[i] = (struct multi){ ch, per, i };
		CHECK_EQ(0, wf_spawn(&t[i], multi_sender, &m[i]));
	}
	for (long k = 0; k < S * per; k++) {
		long v;
		int id;

		CHECK_EQ(0, wf_chan_recv(ch, &v));
		id = (int)(v >> 32);
		CHECK(id >= 0 && id < S);
		CHECK_EQ(next[id], v & 0xffffffff);
		next[id]++;
	}
	for (int i = 0; i < S; i++)
		CHECK_EQ(0, join_long(t[i]));
	CHECK_EQ(-EAGAIN, wf_chan_try_recv(ch, &(long){ 0 }));
	wf_chan_free(ch);
	return NULL;
}

TEST_TIMEOUT(fifo_per_sender, 120)
{
	EXPECT_EQ(0L, run_on(4, per_sender_fifo_body, NULL));
}

TEST_HARNESS_MAIN
