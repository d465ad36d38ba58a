// SPDX-License-Identifier: MIT
/*
 * wf_rwlock: errors, shared readers, writer preference, FIFO batches of
 * readers, timeouts and cancellation of waiters, stress.
 */
#include "wtest.h"
#include "sync_util.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

TEST(errors_outside_a_task)
{
	wf_rwlock l = WF_RWLOCK_INIT;

	EXPECT_ERRNO(EINVAL, wf_rwlock_init(NULL));
	EXPECT_ERRNO(EINVAL, wf_rwlock_destroy(NULL));
	EXPECT_ERRNO(EINVAL, wf_rwlock_read_lock(NULL));
	EXPECT_ERRNO(EINVAL, wf_rwlock_read_lock_until(NULL, 0));
	EXPECT_ERRNO(EINVAL, wf_rwlock_try_read_lock(NULL));
	EXPECT_ERRNO(EINVAL, wf_rwlock_write_lock(NULL));
	EXPECT_ERRNO(EINVAL, wf_rwlock_write_lock_until(NULL, 0));
	EXPECT_ERRNO(EINVAL, wf_rwlock_try_write_lock(NULL));
	EXPECT_ERRNO(EINVAL, wf_rwlock_read_unlock(NULL));
	EXPECT_ERRNO(EINVAL, wf_rwlock_write_unlock(NULL));
	EXPECT_ERRNO(EINVAL, wf_rwlock_waiters(NULL));
	EXPECT_ERRNO(EPERM, wf_rwlock_read_lock(&l));
	EXPECT_ERRNO(EPERM, wf_rwlock_read_lock_until(&l, WF_FOREVER));
	EXPECT_ERRNO(EPERM, wf_rwlock_try_read_lock(&l));
	EXPECT_ERRNO(EPERM, wf_rwlock_write_lock(&l));
	EXPECT_ERRNO(EPERM, wf_rwlock_write_lock_until(&l, WF_FOREVER));
	EXPECT_ERRNO(EPERM, wf_rwlock_try_write_lock(&l));
	EXPECT_ERRNO(EPERM, wf_rwlock_read_unlock(&l));
	EXPECT_ERRNO(EPERM, wf_rwlock_write_unlock(&l));
	EXPECT_EQ(0, wf_rwlock_waiters(&l));
	EXPECT_EQ(0, wf_rwlock_init(&l));
	EXPECT_EQ(0, wf_rwlock_destroy(&l));
}

static void *write_unlock_other(void *arg)
{
	return (void *)(long)wf_rwlock_write_unlock(arg);
}

static void *basic_body(void *arg)
{
	wf_rwlock l;
	wf_task *t;
	void *r;

	CHECK_EQ(0, wf_rwlock_init(&l));
	CHECK_EQ(0, wf_rwlock_read_lock(&l));
	CHECK_EQ(0, wf_rwlock_read_lock(&l));	/* shared: the same task twice */
	CHECK_EQ(0, wf_rwlock_try_read_lock(&l));
	CHECK_EQ(-EBUSY, wf_rwlock_try_write_lock(&l));
	CHECK_EQ(-ETIMEDOUT, wf_rwlock_write_lock_until(&l, 0));
	CHECK_EQ(-EBUSY, wf_rwlock_destroy(&l));
	CHECK_EQ(-EPERM, wf_rwlock_write_unlock(&l));
	for (int i = 0; i < 3; i++)
		CHECK_EQ(0, wf_rwlock_read_unlock(&l));
	CHECK_EQ(-EPERM, wf_rwlock_read_unlock(&l));

	CHECK_EQ(0, wf_rwlock_write_lock(&l));
	CHECK_EQ(-EDEADLK, wf_rwlock_write_lock(&l));
	CHECK_EQ(-EDEADLK, wf_rwlock_read_lock(&l));
	CHECK_EQ(-EBUSY, wf_rwlock_try_read_lock(&l));
	CHECK_EQ(-EBUSY, wf_rwlock_try_write_lock(&l));
	CHECK_EQ(-EPERM, wf_rwlock_read_unlock(&l));
	CHECK_EQ(-EBUSY, wf_rwlock_destroy(&l));
	CHECK_EQ(0, wf_spawn(&t, write_unlock_other, &l));
	CHECK_EQ(0, wf_join(t, &r));
	CHECK_EQ(-EPERM, (long)r);
	CHECK_EQ(0, wf_rwlock_write_unlock(&l));
	CHECK_EQ(-EPERM, wf_rwlock_write_unlock(&l));
	CHECK_EQ(0, wf_rwlock_try_write_lock(&l));
	CHECK_EQ(0, wf_rwlock_write_unlock(&l));
	CHECK_EQ(0, wf_rwlock_destroy(&l));
	return NULL;
}

TEST(shared_and_exclusive)
{
	EXPECT_EQ(0L, run_on(2, WF_MULTI_THREAD, basic_body, NULL));
}

/* --- ordering --- */

struct ord {
	wf_rwlock l;
	_Atomic int next;
	int order[16];
	_Atomic int readers_in, writers_in;
	_Atomic int bad;
};

struct who {
	struct ord *o;
	int id;
	bool write;
	uint64_t deadline;
};

/* Take the lock as told, record the order, hold it across a few yields. */
static void *taker(void *arg)
{
	struct who *w = arg;
	struct ord *o = w->o;
	int r;

	if (w->write)
		r = wf_rwlock_write_lock_until(&o->l, w->deadline ? w->deadline : WF_FOREVER);
	else
		r = wf_rwlock_read_lock_until(&o->l, w->deadline ? w->deadline : WF_FOREVER);
	if (r)
		return (void *)(long)r;
	o->order[atomic_fetch_add(&o->next, 1)] = w->id;
	if (w->write) {
		if (atomic_fetch_add(&o->writers_in, 1) || atomic_load(&o->readers_in))
			atomic_store(&o->bad, 1);
	} else {
		atomic_fetch_add(&o->readers_in, 1);
		if (atomic_load(&o->writers_in))
			atomic_store(&o->bad, 1);
	}
	for (int i = 0; i < 5; i++)
		wf_yield();
	if (w->write) {
		atomic_fetch_sub(&o->writers_in, 1);
		return (void *)(long)wf_rwlock_write_unlock(&o->l);
	}
	atomic_fetch_sub(&o->readers_in, 1);
	return (void *)(long)wf_rwlock_read_unlock(&o->l);
}

/*
 * Writer preference: a reader holds the lock, a writer queues, then a
 * reader arrives: it must queue behind the writer (try fails), and get
 * the lock only after the writer.
 */
static void *writer_pref_body(void *arg)
{
	struct ord *o = calloc(1, sizeof(*o));
	struct who w = { o, 1, true }, r2 = { o, 2, false };
	wf_task *tw, *tr;
	void *res;

	wf_rwlock_init(&o->l);
	CHECK_EQ(0, wf_rwlock_read_lock(&o->l));
	CHECK_EQ(0, wf_spawn(&tw, taker, &w));
	CHECK(WAIT_FOR(wf_rwlock_waiters(&o->l) == 1));
	CHECK_EQ(-EBUSY, wf_rwlock_try_read_lock(&o->l));
	CHECK_EQ(0, wf_spawn(&tr, taker, &r2));
	CHECK(WAIT_FOR(wf_rwlock_waiters(&o->l) == 2));
	CHECK_EQ(0, wf_rwlock_read_unlock(&o->l));
	CHECK_EQ(0, wf_join(tw, &res));
	CHECK_EQ(0, (long)res);
	CHECK_EQ(0, wf_join(tr, &res));
	CHECK_EQ(0, (long)res);
	CHECK_EQ(1, o->order[0]);
	CHECK_EQ(2, o->order[1]);
	CHECK_EQ(0, atomic_load(&o->bad));
	CHECK_EQ(0, wf_rwlock_destroy(&o->l));
	free(o);
	return NULL;
}

TEST(waiting_writer_blocks_new_readers)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, writer_pref_body, NULL));
}

/*
 * FIFO batches: a writer holds; queue R1 R2 R3 W4 R5. On release, R1-R3
 * go in together, then W4 alone, then R5.
 */
static void *batches_body(void *arg)
{
	struct ord *o = calloc(1, sizeof(*o));
	static const bool is_w[] = { false, false, false, true, false };
	struct who w[5];
	wf_task *t[5];
	void *res;

	wf_rwlock_init(&o->l);
	CHECK_EQ(0, wf_rwlock_write_lock(&o->l));
	for (int i = 0; i < 5; i++) {
		w[i] = (struct who){ o, i + 1, is_w[i] };
		CHECK_EQ(0, wf_spawn(&t[i], taker, &w[i]));
		CHECK(WAIT_FOR(wf_rwlock_waiters(&o->l) == i + 1));
	}
	CHECK_EQ(0, wf_rwlock_write_unlock(&o->l));
	for (int i = 0; i < 5; i++) {
		CHECK_EQ(0, wf_join(t[i], &res));
		CHECK_EQ(0, (long)res);
	}
	CHECK_EQ(0, atomic_load(&o->bad));
	/* Readers 1-3 in any order, then 4, then 5. */
	CHECK_EQ(1 + 2 + 3, o->order[0] + o->order[1] + o->order[2]);
	CHECK_EQ(4, o->order[3]);
	CHECK_EQ(5, o->order[4]);
	CHECK_EQ(0, wf_rwlock_destroy(&o->l));
	free(o);
	return NULL;
}

TEST(fifo_reader_batches_and_writers)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, batches_body, NULL));
}

/*
 * A queued writer that gives up (timeout or cancel) lets the readers that
 * queued behind it in at once, while the first reader still holds.
 */
static void *leave_body(void *arg)
{
	bool cancel = arg != NULL;
	struct ord *o = calloc(1, sizeof(*o));
	struct who w = { o, 1, true, cancel ? 0 : ms_from_now(30) }, r2 = { o, 2, false };
	wf_task *tw, *tr;
	void *res;

	wf_rwlock_init(&o->l);
	CHECK_EQ(0, wf_rwlock_read_lock(&o->l));
	CHECK_EQ(0, wf_spawn(&tw, taker, &w));
	CHECK(WAIT_FOR(wf_rwlock_waiters(&o->l) == 1));
	CHECK_EQ(0, wf_spawn(&tr, taker, &r2));
	CHECK(WAIT_FOR(wf_rwlock_waiters(&o->l) == 2));
	if (cancel) {
		CHECK_EQ(0, wf_cancel(tw));
		CHECK_EQ(WF_JOIN_CANCELLED, wf_join(tw, &res));
		CHECK_EQ(-ECANCELED, (long)res);
	} else {
		CHECK_EQ(0, wf_join(tw, &res));
		CHECK_EQ(-ETIMEDOUT, (long)res);
	}
	/* We still hold our read lock; the second reader got in anyway. */
	CHECK_EQ(0, wf_join(tr, &res));
	CHECK_EQ(0, (long)res);
	CHECK_EQ(2, o->order[0]);
	CHECK_EQ(0, wf_rwlock_waiters(&o->l));
	CHECK_EQ(0, wf_rwlock_read_unlock(&o->l));
	CHECK_EQ(0, wf_rwlock_destroy(&o->l));
	free(o);
	return NULL;
}

TEST(timed_out_writer_lets_readers_in)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, leave_body, NULL));
}

TEST(cancelled_writer_lets_readers_in)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, leave_body, (void *)1L));
}

/*
 * Race the cancel of a queued writer against the release that admits it;
 * the writer queued behind it must always get the lock.
 */
struct cw {
	wf_rwlock *l;
	_Atomic int got;
};

static void *cancel_writer(void *arg)
{
	struct cw *c = arg;
	int r = wf_rwlock_write_lock(c->l);

	if (r == 0) {
		atomic_store(&c->got, 1);
		r = wf_rwlock_write_unlock(c->l);
	}
	return (void *)(long)r;
}

static void *canceller(void *arg)
{
	wf_cancel(arg);
	return NULL;
}

static void *cancel_race_body(void *arg)
{
	long rounds = (long)arg;
	wf_rwlock l = WF_RWLOCK_INIT;

	for (long i = 0; i < rounds; i++) {
		struct cw a = { &l }, b = { &l };
		wf_task *ta, *tb, *tc;
		void *ra, *rb;

		if (i & 2)
			CHECK_EQ(0, wf_rwlock_read_lock(&l));
		else
			CHECK_EQ(0, wf_rwlock_write_lock(&l));
		CHECK_EQ(0, wf_spawn(&ta, cancel_writer, &a));
		CHECK(WAIT_FOR(wf_rwlock_waiters(&l) == 1));
		CHECK_EQ(0, wf_spawn(&tb, cancel_writer, &b));
		CHECK(WAIT_FOR(wf_rwlock_waiters(&l) == 2));
		CHECK_EQ(0, wf_spawn(&tc, canceller, ta));
		if (i & 1)
			wf_yield();
		if (i & 2)
			CHECK_EQ(0, wf_rwlock_read_unlock(&l));
		else
			CHECK_EQ(0, wf_rwlock_write_unlock(&l));
		wf_join(ta, &ra);
		CHECK_EQ(0, wf_join(tb, &rb));
		CHECK_EQ(0, wf_join(tc, NULL));
		CHECK_EQ(0, (long)rb);
		CHECK_EQ(1, atomic_load(&b.got));
		CHECK_EQ(atomic_load(&a.got) ? 0 : -ECANCELED, (long)ra);
		CHECK_EQ(0, wf_rwlock_try_write_lock(&l));
		CHECK_EQ(0, wf_rwlock_write_unlock(&l));
	}
	CHECK_EQ(0, wf_rwlock_destroy(&l));
	return NULL;
}

TEST(cancel_races_admission)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, cancel_race_body,
			     (void *)(long)(WTEST_TSAN ? 200 : 2000)));
}

/* --- stress --- */

struct stress {
	wf_rwlock l;
	long a, b;		/* a == b whenever the lock is free; not atomic */
	long iters;
	_Atomic long errors, writes;
};

static void *stress_worker(void *arg)
{
	struct stress *s = arg;

	for (long i = 0; i < s->iters; i++) {
		if (i % 4 == 0) {
			int r = (i % 8) ? wf_rwlock_write_lock(&s->l)
					: wf_rwlock_write_lock_until(&s->l, ms_from_now(60000));

			if (r) {
				atomic_fetch_add(&s->errors, 1);
				continue;
			}
			s->a++;
			if (i % 16 == 0)
				wf_yield();
			s->b++;
			atomic_fetch_add(&s->writes, 1);
			if (wf_rwlock_write_unlock(&s->l))
				atomic_fetch_add(&s->errors, 1);
		} else {
			if (wf_rwlock_read_lock(&s->l)) {
				atomic_fetch_add(&s->errors, 1);
				continue;
			}
			long a = s->a;

			if (i % 8 == 1)
				wf_yield();
			if (s->b != a)
				atomic_fetch_add(&s->errors, 1);
			if (wf_rwlock_read_unlock(&s->l))
				atomic_fetch_add(&s->errors, 1);
		}
	}
	return NULL;
}

static void *stress_body(void *arg)
{
	long ntasks = WTEST_TSAN ? 16 : 64;
	struct stress s = { .iters = WTEST_TSAN ? 2000 : 24000 };
	wf_task **t = calloc((size_t)ntasks, sizeof(*t));

	wf_rwlock_init(&s.l);
	for (long i = 0; i < ntasks; i++)
		CHECK_EQ(0, wf_spawn(&t[i], stress_worker, &s));
	for (long i = 0; i < ntasks; i++)
		CHECK_EQ(0, wf_join(t[i], NULL));
	free(t);
	CHECK_EQ(0, atomic_load(&s.errors));
	CHECK_EQ(atomic_load(&s.writes), s.a);
	CHECK_EQ(s.a, s.b);
	CHECK_EQ(ntasks * (s.iters / 4), s.a);
	CHECK_EQ(0, wf_rwlock_destroy(&s.l));
	return NULL;
}

TEST_TIMEOUT(stress_readers_and_writers_4_workers, 60)
{
	EXPECT_EQ(0L, run_on(4, WF_MULTI_THREAD, stress_body, NULL));
}

TEST_HARNESS_MAIN
