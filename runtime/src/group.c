// SPDX-License-Identifier: MIT
/*
 * group.c - task groups: spawn into a group, wait for all, cancel all.
 *
 * Each member runs member_main(), which calls the user's function and
 * then reports to the group. The group keeps one record per running
 * member (struct wf__group_member, heap-allocated at spawn) in a list
 * under g->spin, with the member's task handle; g->running counts the
 * records (plus the spawn calls in progress, see below). Waiters queue
 * on g->q and are all woken when running drops to zero.
 *
 * A record's life:
 *   1. wf_group_spawn_at() links it and counts it *before* spawning, so a
 *      concurrent wf_group_wait() cannot miss the member. It counts
 *      itself too (running += 2), until its last touch of the group, so
 *      that no waiter returns (and frees the group) while a spawn call is
 *      still using it;
 *   2. it spawns the task, then records the handle in it under the lock,
 *      cancelling the task right away if the group was cancelled
 *      meanwhile, and counts itself out;
 *   3. member_main(), after the user's function returns, unlinks it and
 *      counts the member out under the lock. Whoever comes second of
 *      (2) and (3) detaches the handle and frees the record: the member
 *      itself if the handle was already recorded, else the spawner (the
 *      member then marks the record finished).
 * wf_group_cancel() walks the list under the lock and cancels every task
 * whose handle is recorded. Those tasks are alive: a record stays linked
 * until its member's function has returned, and the handle is only
 * detached after the record is unlinked.
 *
 * After its report a member touches nothing of the group (rule 2 of
 * sync_internal.h applies to the waiters it woke), so a group may be
 * destroyed and freed as soon as wf_group_wait() returns 0.
 *
 * A cancelled waiter cancels the members and waits for them all the
 * same: a "shielded" wait, as Trio's nursery does when its parent is
 * cancelled. It uses wait.c's nocancel wait, which wf_cancel() neither
 * prevents nor ends; the deadline, if any, still applies.
 */
#include "sync_internal.h"

#include <stdlib.h>

struct wf__group_member {
	struct wf__group_member *next, *prev;
	wf_group *g;
	wf_task_fn fn;
	void *arg;
	wf_task *task;		/* handle, once the spawner recorded it */
	bool finished;		/* member_main() reported before that */
};

int wf_group_init(wf_group *g)
{
	if (!g)
		return -EINVAL;
	*g = (wf_group)WF_GROUP_INIT;
	return 0;
}

int wf_group_destroy(wf_group *g)
{
	int r = 0;

	if (!g)
		return -EINVAL;
	sync_lock(&g->spin);
	if (g->running || g->q.head)
		r = -EBUSY;
	sync_unlock(&g->spin);
	return r;
}

static void link_member(wf_group *g, struct wf__group_member *e)
{
	e->prev = NULL;
	e->next = g->members;
	if (e->next)
		e->next->prev = e;
	g->members = e;
}

static void unlink_member(wf_group *g, struct wf__group_member *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		g->members = e->next;
	if (e->next)
		e->next->prev = e->prev;
}

/* One member fewer; wake every waiter when none is left. Under spin. */
static void count_out(wf_group *g)
{
	struct wf__waiter *w;

	st_relaxed(&g->running, g->running - 1);
	if (g->running)
		return;
	while ((w = wf__waitq_pop(sync_q(&g->q)))) {
		st_relaxed(&g->nwait, g->nwait - 1);
		wf__wake(w->task, w->gen, WF_WOKEN_OK);
	}
}

static void *member_main(void *arg)
{
	struct wf__group_member *e = arg;
	wf_group *g = e->g;
	void *res = e->fn(e->arg);
	bool cancelled = wf_cancelled() == 1, mine;

	sync_lock(&g->spin);
	unlink_member(g, e);
	add_relaxed(&g->finished, 1);
	if (cancelled)
		add_relaxed(&g->ncancelled, 1);
	mine = e->task != NULL;
	if (!mine)
		e->finished = true;	/* the spawner frees it */
	count_out(g);
	sync_unlock(&g->spin);
	/* From here on, g may be gone. */
	if (mine) {
		wf_detach(e->task);
		free(e);
	}
	return res;
}

int wf_group_spawn_at(wf_group *g, wf_task_fn fn, void *arg, const struct wf_spawn_opts *opts,
		      const char *file, int line)
{
	struct wf__group_member *e;
	wf_task *t;
	int r;

	if (!g || !fn)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->g = g;
	e->fn = fn;
	e->arg = arg;
	sync_lock(&g->spin);
	if (ld_relaxed(&g->cancelled)) {
		sync_unlock(&g->spin);
		free(e);
		return -ECANCELED;
	}
	if (g->running >= UINT32_MAX - 1) {
		sync_unlock(&g->spin);
		free(e);
		return -EAGAIN;
	}
	/* One count for the member, one for this call until it is done with g. */
	link_member(g, e);
	st_relaxed(&g->running, g->running + 2);
	add_relaxed(&g->spawned, 1);
	sync_unlock(&g->spin);

	r = wf_spawn_at(&t, member_main, e, opts, file, line);

	sync_lock(&g->spin);
	if (r) {
		unlink_member(g, e);
		st_relaxed(&g->spawned, g->spawned - 1);
		count_out(g);
	} else if (!e->finished) {
		e->task = t;
		if (ld_relaxed(&g->cancelled))
			wf_cancel(t);
		e = NULL;
	}
	count_out(g);
	sync_unlock(&g->spin);
	/* From here on, g may be gone. */
	if (e) {
		if (!r)
			wf_detach(t);	/* the member finished before we recorded it */
		free(e);
	}
	return r;
}

int wf_group_cancel(wf_group *g)
{
	if (!g)
		return -EINVAL;
	sync_lock(&g->spin);
	st_relaxed(&g->cancelled, 1);
	for (struct wf__group_member *e = g->members; e; e = e->next)
		if (e->task)
			wf_cancel(e->task);
	sync_unlock(&g->spin);
	return 0;
}

/*
 * Wait until running reaches zero, the deadline passes or (unless
 * @shielded) the caller is cancelled. Returns the WF_WOKEN_* reason;
 * WF_WOKEN_OK also when the group emptied while we were giving up.
 *
 * Shielded, the wait is prepared with wf__wait_prepare_nocancel(), which
 * wf_cancel() cannot end, and its deadline is a timer armed here as
 * wf__wait() would arm it (the timer ends the wait with
 * WF_WOKEN_TIMEOUT).
 */
static int wait_empty(wf_group *g, struct wf_task *t, uint64_t deadline_ns, bool shielded)
{
	struct wf__waiter w = { .task = t };
	bool linked;
	int reason;

	sync_lock(&g->spin);
	if (!g->running) {
		sync_unlock(&g->spin);
		return WF_WOKEN_OK;
	}
	if (shielded && deadline_ns != WF_FOREVER && wf__now() >= deadline_ns) {
		sync_unlock(&g->spin);
		return WF_WOKEN_TIMEOUT;
	}
	w.gen = shielded ? wf__wait_prepare_nocancel(t) : wf__wait_prepare(t);
	wf__waitq_push(sync_q(&g->q), &w);
	st_relaxed(&g->nwait, g->nwait + 1);
	sync_unlock(&g->spin);

	if (!shielded) {
		reason = wf__wait(t, w.gen, deadline_ns);
	} else if (deadline_ns == WF_FOREVER) {
		wf__wait_nocancel(t);
		reason = (int)(uint32_t)atomic_load(&t->wait);
	} else {
		struct wf__timer tm;

		if (wf__timer_arm_task(t, &tm, deadline_ns, w.gen) == 0) {
			wf__wait_nocancel(t);
			wf__timer_disarm(t->rt, &tm);
		} else {
			/* The deadline passed since we looked: end the wait ourselves. */
			wf__wake(t, w.gen, WF_WOKEN_TIMEOUT);
		}
		reason = (int)(uint32_t)atomic_load(&t->wait);
	}
	if (reason == WF_WOKEN_OK) {
		sync_settle(&g->spin);
		return reason;
	}
	sync_lock(&g->spin);
	linked = w.linked;
	if (linked) {
		wf__waitq_remove(sync_q(&g->q), &w);
		st_relaxed(&g->nwait, g->nwait - 1);
	}
	sync_unlock(&g->spin);
	/* Not linked: a member's report popped us, the group is empty. */
	return linked ? reason : WF_WOKEN_OK;
}

/*
 * The caller is cancelled: cancel the members and wait for them all the
 * same, so that a cancelled task leaves no running children behind.
 */
static int wait_shielded(wf_group *g, struct wf_task *t, uint64_t deadline_ns)
{
	wf_group_cancel(g);
	return wait_empty(g, t, deadline_ns, true) == WF_WOKEN_OK ? -ECANCELED : -ETIMEDOUT;
}

int wf_group_wait_until(wf_group *g, uint64_t deadline_ns)
{
	struct wf_task *t;
	int r, reason;

	if (!g)
		return -EINVAL;
	r = wf__coop();
	if (r == -EPERM)
		return r;
	t = sync_self();
	if (t->fn == member_main && ((struct wf__group_member *)t->arg)->g == g)
		return -EDEADLK;
	if (r == -ECANCELED)
		return wait_shielded(g, t, deadline_ns);
	reason = wait_empty(g, t, deadline_ns, false);
	if (reason == WF_WOKEN_CANCEL)
		return wait_shielded(g, t, deadline_ns);
	return wf__wait_errno(reason);
}

int wf_group_wait(wf_group *g)
{
	return wf_group_wait_until(g, WF_FOREVER);
}

int wf_group_stats(const wf_group *g, struct wf_group_stats *st)
{
	if (!g || !st)
		return -EINVAL;
	st->spawned = ld_relaxed(&g->spawned);
	st->finished = ld_relaxed(&g->finished);
	st->cancelled = ld_relaxed(&g->ncancelled);
	st->running = ld_relaxed(&g->running);
	st->waiters = ld_relaxed(&g->nwait);
	st->group_cancelled = ld_relaxed(&g->cancelled);
	return 0;
}
