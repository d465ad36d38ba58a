// SPDX-License-Identifier: MIT
/*
 * wf_chan under load: 5 senders x 100,000 messages on 4 workers with an
 * exact sum (bounded, unbounded, recv_many), and cancel storms: senders
 * and receivers cancelled or timed out at random while blocked, after
 * which the set of messages received must equal the set whose send
 * returned 0 (nothing lost, nothing doubled). Sizes shrink under
 * ThreadSanitizer.
 */
#include "wtest.h"
#include "chan_util.h"

#include <stdatomic.h>
#include <stdlib.h>

#define SENDERS 5
#define PER_SENDER (WTEST_TSAN ? 10000L : 100000L)

struct load {
	wf_chan *ch;
	long per;
	int batch;	/* receiver: 0 = recv, else recv_many of that size */
};

static void *load_sender(void *arg)
{
	struct load *l = arg;

	for (long i = 1; i <= l->per; i++)
		if (wf_chan_send(l->ch, &i))
			return (void *)1L;
	return NULL;
}

static void *load_body(void *arg)
{
	struct load *l = arg;
	long want = SENDERS * l->per * (l->per + 1) / 2, sum = 0, got = 0;
	struct wf_chan_stats st;
	wf_task *t[SENDERS];
	long buf[64];

	for (int i = 0; i < SENDERS; i++)
		CHECK_EQ(0, wf_spawn(&t[i], load_sender, l));
	while (got < SENDERS * l->per) {
		if (l->batch) {
			int n = wf_chan_recv_many(l->ch, buf, (size_t)l->batch);

			CHECK(n > 0);
			for (int k = 0; k < n; k++)
				sum += buf[k];
			got += n;
		} else {
			CHECK_EQ(0, wf_chan_recv(l->ch, buf));
			sum += buf[0];
			got++;
		}
	}
	for (int i = 0; i < SENDERS; i++)
		CHECK_EQ(0, join_long(t[i]));
	CHECK_EQ(want, sum);
	CHECK_EQ(-EAGAIN, wf_chan_try_recv(l->ch, buf));
	CHECK_EQ(0, wf_chan_stats(l->ch, &st));
	CHECK_EQ(SENDERS * l->per, st.sends);
	CHECK_EQ(SENDERS * l->per, st.recvs);
	CHECK_EQ(0, st.depth);
	return NULL;
}

static long run_load(wf_chan *ch, int batch)
{
	struct load l = { ch, PER_SENDER, batch };
	long r = run_on(4, load_body, &l);

	wf_chan_free(ch);
	return r;
}

TEST_TIMEOUT(five_senders_bounded_exact_sum, 300)
{
	wf_chan *ch;

	ASSERT_EQ(0, wf_chan_new(&ch, sizeof(long), 128));
	EXPECT_EQ(0L, run_load(ch, 0));
}

TEST_TIMEOUT(five_senders_small_capacity, 300)
{
	wf_chan *ch;

	/* Capacity 2: nearly every send goes through the hand-off path. */
	ASSERT_EQ(0, wf_chan_new(&ch, sizeof(long), 2));
	EXPECT_EQ(0L, run_load(ch, 0));
}

TEST_TIMEOUT(five_senders_unbounded_exact_sum, 300)
{
	wf_chan *ch;

	ASSERT_EQ(0, wf_chan_new_unbounded(&ch, sizeof(long)));
	EXPECT_EQ(0L, run_load(ch, 0));
}

TEST_TIMEOUT(five_senders_recv_many_exact_sum, 300)
{
	wf_chan *ch;

	ASSERT_EQ(0, wf_chan_new(&ch, sizeof(long), 64));
	EXPECT_EQ(0L, run_load(ch, 32));
}

/* --- cancel storm on senders ------------------------------------------------ */

#define STORM_N (WTEST_TSAN ? 3200L : 32000L)	/* a multiple of STORM_BATCH */
#define STORM_BATCH 32

struct storm {
	wf_chan *ch;
	_Atomic int *result;	/* per message: what its send returned */
	_Atomic int *received;	/* per message: how many times received */
	long n;
	_Atomic int gate;	/* the receiver receives only while open */
};

struct storm_arg {
	struct storm *s;
	long id;
	uint64_t deadline;
};

static void *storm_sender(void *arg)
{
	struct storm_arg *a = arg;
	long id = a->id;

	atomic_store(&a->s->result[id], wf_chan_send_until(a->s->ch, &id, a->deadline));
	return NULL;
}

static void *storm_receiver(void *arg)
{
	struct storm *s = arg;
	uint32_t seed = 12345;
	long id;
	int r;

	for (;;) {
		while (!atomic_load(&s->gate))
			wf_sleep_ns(20 * WF_NSEC_PER_USEC);
		r = wf_chan_recv(s->ch, &id);
		if (r)
			break;
		if (id < 0 || id >= s->n)
			return (void *)1L;
		atomic_fetch_add(&s->received[id], 1);
		/* Stay slow enough that senders keep blocking. */
		if (xorshift(&seed) % 4 == 0)
			wf_yield();
	}
	return r == -EPIPE ? NULL : (void *)2L;
}

static long blocked_sends(wf_chan *ch)
{
	struct wf_chan_stats st;

	wf_chan_stats(ch, &st);
	return (long)st.blocked_sends;
}

static void *storm_body(void *arg)
{
	struct storm s = { .n = STORM_N };
	struct storm_arg a[STORM_BATCH];
	wf_task *t[STORM_BATCH], *rx;
	long ok = 0, cancelled = 0, timedout = 0;
	uint32_t seed = 777;

	s.result = calloc((size_t)s.n, sizeof(*s.result));
	s.received = calloc((size_t)s.n, sizeof(*s.received));
	CHECK(s.result && s.received);
	CHECK_EQ(0, wf_chan_new(&s.ch, sizeof(long), 4));
	CHECK_EQ(0, wf_spawn(&rx, storm_receiver, &s));
	for (long base = 0; base < s.n; base += STORM_BATCH) {
		long blocked = blocked_sends(s.ch);

		/* Hold the receiver until most of the batch is blocked. */
		atomic_store(&s.gate, 0);
		for (int j = 0; j < STORM_BATCH; j++) {
			uint32_t x = xorshift(&seed);

			a[j] = (struct storm_arg){ &s, base + j, WF_FOREVER };
			atomic_store(&s.result[base + j], 1);
			if (x % 5 == 0)
				a[j].deadline = wf_now_ns() + x % 200000;
			CHECK_EQ(0, wf_spawn(&t[j], storm_sender, &a[j]));
		}
		WAIT_FOR(blocked_sends(s.ch) >= blocked + STORM_BATCH / 2);
		/* Release the receiver and cancel a random third as it goes. */
		atomic_store(&s.gate, 1);
		for (int j = 0; j < STORM_BATCH; j++) {
			if (xorshift(&seed) % 3)
				continue;
			if (xorshift(&seed) % 2)
				wf_yield();
			wf_cancel(t[j]);
		}
		/* A lost wake-up would hang here: fail instead. */
		for (int j = 0; j < STORM_BATCH; j++)
			CHECK(wf_join_until(t[j], NULL, ms_from_now(10000)) != -ETIMEDOUT);
	}
	atomic_store(&s.gate, 1);
	CHECK_EQ(0, wf_chan_close(s.ch));
	CHECK_EQ(0, join_long(rx));
	for (long id = 0; id < s.n; id++) {
		int r = atomic_load(&s.result[id]), got = atomic_load(&s.received[id]);

		if (r == 0)
			ok++;
		else if (r == -ECANCELED)
			cancelled++;
		else if (r == -ETIMEDOUT)
			timedout++;
		else
			CHECK_EQ(0, r);
		/* Received exactly once iff its send returned 0. */
		if (got != (r == 0)) {
			printf("# message %ld: send returned %d, received %d times\n", id, r, got);
			CHECK(0);
		}
	}
	printf("# %ld sent, %ld cancelled, %ld timed out\n", ok, cancelled, timedout);
	CHECK(cancelled > 0 && ok > 0);
	wf_chan_free(s.ch);
	free(s.result);
	free(s.received);
	return NULL;
}

TEST_TIMEOUT(cancel_storm_on_blocked_senders, 300)
{
	EXPECT_EQ(0L, run_on(4, storm_body, NULL));
}

/* --- cancel storm on receivers ------------------------------------------------ */

#define RX 6

struct rstorm {
	wf_chan *ch;
	_Atomic int *received;
	long n;
	_Atomic long done;
};

static void *rstorm_receiver(void *arg)
{
	struct rstorm *s = arg;
	long id;
	int r;

	for (;;) {
		r = wf_chan_recv(s->ch, &id);
		if (r)
			return (void *)(long)r;
		atomic_fetch_add(&s->received[id], 1);
		atomic_fetch_add(&s->done, 1);
	}
}

static void *rstorm_body(void *arg)
{
	struct rstorm s = { .n = STORM_N };
	wf_task *t[RX];
	uint32_t seed = 4242;
	long id, drained = 0;

	s.received = calloc((size_t)s.n, sizeof(*s.received));
	CHECK(s.received);
	CHECK_EQ(0, wf_chan_new(&s.ch, sizeof(long), 8));
	for (int i = 0; i < RX; i++)
		CHECK_EQ(0, wf_spawn(&t[i], rstorm_receiver, &s));
	for (id = 0; id < s.n; id++) {
		CHECK_EQ(0, wf_chan_send(s.ch, &id));
		/* Replace a random receiver now and then: cancel and respawn. */
		if (xorshift(&seed) % 64 == 0) {
			int k = (int)(xorshift(&seed) % RX);
			void *r;

			wf_cancel(t[k]);
			wf_join(t[k], &r);
			CHECK((long)r == -ECANCELED);
			CHECK_EQ(0, wf_spawn(&t[k], rstorm_receiver, &s));
		}
	}
	CHECK_EQ(0, wf_chan_close(s.ch));
	for (int i = 0; i < RX; i++)
		CHECK_EQ(-EPIPE, join_long(t[i]));
	while (wf_chan_try_recv(s.ch, &id) == 0) {
		atomic_fetch_add(&s.received[id], 1);
		drained++;
	}
	for (id = 0; id < s.n; id++)
		if (atomic_load(&s.received[id]) != 1) {
			printf("# message %ld received %d times\n", id,
			       atomic_load(&s.received[id]));
			CHECK(0);
		}
	CHECK_EQ(s.n, atomic_load(&s.done) + drained);
	wf_chan_free(s.ch);
	free(s.received);
	return NULL;
}

TEST_TIMEOUT(cancel_storm_on_receivers, 300)
{
	EXPECT_EQ(0L, run_on(4, rstorm_body, NULL));
}

TEST_HARNESS_MAIN
