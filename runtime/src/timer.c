// SPDX-License-Identifier: MIT
/*
 * timer.c - a hierarchical timing wheel per worker.
 *
 * Time is counted in ticks of 1024 ns. Level l has 64 slots of 64^l ticks
 * each; seven levels cover 2^52 ns (52 days); later deadlines wait in an
 * overflow list that is re-sorted once per top-level cycle. A timer with
 * deadline `when` is filed at the level of the highest 6-bit group in which
 * `when` differs from `elapsed` (the time processed up to), so all levels
 * above agree with elapsed and its slot lies ahead of elapsed's position in
 * that level. When elapsed reaches the start of an occupied slot, entries
 * of level 0 fire and those of higher levels are filed again, lower down.
 * One bitmap per level finds the next occupied slot without scanning, as
 * in Tokio's wheel; the earliest expiry is always at the lowest occupied
 * level, because a level's slots all lie inside the current slot of the
 * level above.
 *
 * Ownership: each worker has a shard (wheel + mutex). A task arms its
 * timer in the shard of the worker it runs on; it may be woken elsewhere
 * and disarm it from another thread, hence the mutex (rarely contended).
 * A timer fires under its shard's lock: the waker is called, then the
 * entry is marked disarmed (shard = -1), then the lock is dropped. A task
 * disarming its entry takes the lock unless it already reads -1, so the
 * entry (on the task's stack) is never touched after the task moved on.
 * Any worker about to park also runs other shards' due timers, so a
 * worker stuck in a long poll does not hold back its timers.
 */
#include "internal.h"

#include <string.h>

#define LEVEL_BITS 6
#define SLOT_MASK 63ull
#define OVERFLOW_LEVEL 0xff

static inline uint64_t ns_to_tick_ceil(uint64_t ns)
{
	return ns >= UINT64_MAX - 1023 ? UINT64_MAX >> WF_TICK_SHIFT
				       : (ns + 1023) >> WF_TICK_SHIFT;
}

static inline int level_for(uint64_t elapsed, uint64_t when)
{
	uint64_t masked = (elapsed ^ when) | SLOT_MASK;

	return (63 - __builtin_clzll(masked)) / LEVEL_BITS;
}

static void list_push(struct wf__timer **head, struct wf__timer *tm)
{
	tm->prev = NULL;
	tm->next = *head;
	if (*head)
		(*head)->prev = tm;
	*head = tm;
}

static void list_del(struct wf__timer **head, struct wf__timer *tm)
{
	if (tm->prev)
		tm->prev->next = tm->next;
	else
		*head = tm->next;
	if (tm->next)
		tm->next->prev = tm->prev;
	tm->next = tm->prev = NULL;
}

static void wheel_insert(struct wf__wheel *wh, struct wf__timer *tm)
{
	int level = level_for(wh->elapsed, tm->when);
	unsigned slot;

	if (level >= WF_WHEEL_LEVELS) {
		tm->level = OVERFLOW_LEVEL;
		list_push(&wh->overflow, tm);
		return;
	}
	slot = (unsigned)((tm->when >> (level * LEVEL_BITS)) & SLOT_MASK);
	tm->level = (uint8_t)level;
	tm->slot = (uint8_t)slot;
	list_push(&wh->slots[level][slot], tm);
	wh->occupied[level] |= 1ull << slot;
}

static void wheel_remove(struct wf__wheel *wh, struct wf__timer *tm)
{
	if (tm->level == OVERFLOW_LEVEL) {
		list_del(&wh->overflow, tm);
		return;
	}
	list_del(&wh->slots[tm->level][tm->slot], tm);
	if (!wh->slots[tm->level][tm->slot])
		wh->occupied[tm->level] &= ~(1ull << tm->slot);
}

/* Start (in ticks) of the earliest occupied slot; *level gets its level. */
static uint64_t next_expiration(const struct wf__wheel *wh, int *level, unsigned *slot)
{
	for (int l = 0; l < WF_WHEEL_LEVELS; l++) {
		unsigned shift = (unsigned)l * LEVEL_BITS;
		unsigned now_slot = (unsigned)((wh->elapsed >> shift) & SLOT_MASK);
		uint64_t mask = wh->occupied[l] & ~((1ull << now_slot) - 1);
		uint64_t start, d;
		unsigned s;

		if (!mask)
			continue;
		s = (unsigned)__builtin_ctzll(mask);
		start = wh->elapsed & ~((64ull << shift) - 1);
		d = start + ((uint64_t)s << shift);
		*level = l;
		*slot = s;
		return d < wh->elapsed ? wh->elapsed : d;
	}
	if (wh->overflow) {
		unsigned top = WF_WHEEL_LEVELS * LEVEL_BITS;

		*level = OVERFLOW_LEVEL;
		*slot = 0;
		return ((wh->elapsed >> top) + 1) << top;
	}
	return UINT64_MAX;
}

static void publish_next(struct wf__timer_shard *s)
{
	int l;
	unsigned sl;
	uint64_t d = next_expiration(&s->wheel, &l, &sl);

	atomic_store_explicit(&s->next_ns, d == UINT64_MAX ? UINT64_MAX : d << WF_TICK_SHIFT,
			      memory_order_release);
}

void wf__timers_init(struct wf__timer_shard *s)
{
	memset(&s->wheel, 0, sizeof(s->wheel));
	pthread_mutex_init(&s->lock, NULL);
	s->wheel.elapsed = wf__now() >> WF_TICK_SHIFT;
	atomic_store(&s->next_ns, UINT64_MAX);
}

void wf__timers_destroy(struct wf__timer_shard *s)
{
	pthread_mutex_destroy(&s->lock);
}

/*
 * wf__timer_arm - file tm to wake (t, gen) with WF_WOKEN_TIMEOUT at
 * deadline_ns, in w's shard. Returns 0, or -ETIME when the deadline has
 * already passed (nothing armed).
 */
int wf__timer_arm(struct wf__worker *w, struct wf__timer *tm, uint64_t deadline_ns,
		  struct wf_task *t, uint32_t gen)
{
	struct wf__timer_shard *s = &w->timers;

	if (deadline_ns <= wf__now())
		return -ETIME;
	tm->task = t;
	tm->gen = gen;
	tm->when = ns_to_tick_ceil(deadline_ns);
	pthread_mutex_lock(&s->lock);
	if (tm->when <= s->wheel.elapsed)
		tm->when = s->wheel.elapsed + 1;
	wheel_insert(&s->wheel, tm);
	s->wheel.count++;
	atomic_store_explicit(&tm->shard, w->index, memory_order_relaxed);
	if ((tm->when << WF_TICK_SHIFT) < atomic_load_explicit(&s->next_ns, memory_order_relaxed))
		publish_next(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/*
 * wf__timer_arm_task - arm tm for task t (the caller) on the core it runs
 * on. Inside a core section the core is surely ours, and our own scheduler
 * takes the timer into account when it next parks. A task whose thread
 * lost its core (stall compensation, block_in_place) files the timer on
 * worker 0's shard instead, whose driver may be parked with a later
 * deadline or none: it wakes a parked worker, which parks again with the
 * new earliest deadline ([publish next_ns; fence; read idle_state] in
 * wf__notify_parked against the parker's [idle_state RMW; read next_ns]).
 * Returns 0 or -ETIME (deadline already past).
 */
int wf__timer_arm_task(struct wf_task *t, struct wf__timer *tm, uint64_t deadline_ns,
		       uint32_t gen)
{
	struct wf__thread *th = wf__thread_cur();
	struct wf__worker *core = wf__core_enter(th);
	struct wf__worker *w = core && core->rt == t->rt ? core : &t->rt->workers[0];
	int r = wf__timer_arm(w, tm, deadline_ns, t, gen);

	wf__core_exit(th, core);
	if (r == 0 && w != core)
		wf__notify_parked(t->rt);
	return r;
}

void wf__timer_disarm(struct wf_runtime *rt, struct wf__timer *tm)
{
	int idx = atomic_load_explicit(&tm->shard, memory_order_acquire);
	struct wf__timer_shard *s;

	if (idx < 0)
		return;
	s = &rt->workers[idx].timers;
	pthread_mutex_lock(&s->lock);
	if (atomic_load_explicit(&tm->shard, memory_order_relaxed) >= 0) {
		wheel_remove(&s->wheel, tm);
		s->wheel.count--;
		atomic_store_explicit(&tm->shard, -1, memory_order_relaxed);
		publish_next(s);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Advance s to now; fire what is due. Caller holds s->lock. */
static unsigned shard_advance(struct wf__timer_shard *s, uint64_t now_ns)
{
	struct wf__wheel *wh = &s->wheel;
	uint64_t now = now_ns >> WF_TICK_SHIFT;
	unsigned fired = 0;

	for (;;) {
		struct wf__timer *list;
		unsigned slot;
		int level;
		uint64_t d = next_expiration(wh, &level, &slot);

		if (d > now)
			break;
		wh->elapsed = d;
		if (level == OVERFLOW_LEVEL) {
			list = wh->overflow;
			wh->overflow = NULL;
		} else {
			list = wh->slots[level][slot];
			wh->slots[level][slot] = NULL;
			wh->occupied[level] &= ~(1ull << slot);
		}
		while (list) {
			struct wf__timer *tm = list;

			list = tm->next;
			tm->next = tm->prev = NULL;
			if (tm->when <= wh->elapsed) {
				wh->count--;
				/* Wake first, then disarm: see the comment on top. */
				wf__wake_at(tm->task, tm->gen, WF_WOKEN_TIMEOUT,
					    tm->when << WF_TICK_SHIFT);
				atomic_store_explicit(&tm->shard, -1, memory_order_release);
				fired++;
			} else {
				wheel_insert(wh, tm);
			}
		}
	}
	if (now > wh->elapsed)
		wh->elapsed = now;
	publish_next(s);
	return fired;
}

unsigned wf__timers_run(struct wf__worker *w, uint64_t now_ns)
{
	unsigned n;

	pthread_mutex_lock(&w->timers.lock);
	n = shard_advance(&w->timers, now_ns);
	pthread_mutex_unlock(&w->timers.lock);
	return n;
}

/* Own shard, and any other shard that is due and not busy. */
void wf__timers_run_all(struct wf__worker *self, uint64_t now_ns)
{
	struct wf_runtime *rt = self->rt;

	for (unsigned i = 0; i < rt->nworkers; i++) {
		struct wf__timer_shard *s = &rt->workers[i].timers;

		if (atomic_load_explicit(&s->next_ns, memory_order_acquire) > now_ns)
			continue;
		if (&rt->workers[i] == self) {
			pthread_mutex_lock(&s->lock);
		} else if (pthread_mutex_trylock(&s->lock) != 0) {
			continue;
		}
		shard_advance(s, now_ns);
		pthread_mutex_unlock(&s->lock);
	}
}

/* Earliest deadline over every shard (ns), UINT64_MAX if none. */
uint64_t wf__timers_next(struct wf_runtime *rt)
{
	uint64_t d = UINT64_MAX;

	for (unsigned i = 0; i < rt->nworkers; i++) {
		uint64_t n = atomic_load_explicit(&rt->workers[i].timers.next_ns,
						  memory_order_acquire);

		if (n < d)
			d = n;
	}
	return d;
}
