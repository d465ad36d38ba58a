// SPDX-License-Identifier: MIT
/*
 * monitor.c - a watcher thread per multi-thread runtime (Go's sysmon is
 * the model), so no task is stranded behind a worker stuck in a long poll.
 *
 * Work that a worker made runnable stays in its local queue and next slot.
 * Idle workers take it only if they are awake: a worker that queues work
 * while it runs a task wakes a parked one only for its local queue, not for
 * the next slot (waking a thread per message would ruin ping-pong), and a
 * worker that then blocks inside its poll wakes nobody. The monitor looks
 * at every worker each period: one that has been inside the same poll for
 * longer than WF_MONITOR_STRAND_NS while holding runnable work gets a
 * parked worker woken, which steals that work (the next slot included:
 * sched.c lets stealers take it from a poll older than 20 us).
 *
 * Cost: the monitor sleeps 1 ms between looks while any worker is inside
 * a poll and 10 ms otherwise; a look reads a few words per worker. It is
 * where stall compensation (handing a blocked worker's queues to a spare
 * thread) will live.
 */
#include "internal.h"

#include <stdlib.h>

#define WF_MONITOR_STRAND_NS (1000ull * 1000)
#define WF_MONITOR_BUSY_NS (1000ull * 1000)
#define WF_MONITOR_IDLE_NS (10ull * 1000 * 1000)

static void *monitor_main(void *arg)
{
	struct wf_runtime *rt = arg;

	pthread_setname_np(pthread_self(), "weft-monitor");
	while (!atomic_load(&rt->monitor_stop)) {
		uint64_t now = wf__now(), sleep = WF_MONITOR_IDLE_NS;
		bool stranded = false;

		for (unsigned i = 0; i < rt->nworkers; i++) {
			struct wf__worker *w = &rt->workers[i];

			if (!atomic_load_explicit(&w->in_poll, memory_order_acquire))
				continue;
			sleep = WF_MONITOR_BUSY_NS;
			if (now - atomic_load_explicit(&w->poll_start_pub, memory_order_relaxed) <
			    WF_MONITOR_STRAND_NS)
				continue;
			if (wf__worker_has_work(w))
				stranded = true;
		}
		if (stranded) {
			atomic_fetch_add_explicit(&rt->monitor_unstrands, 1, memory_order_relaxed);
			wf__notify_parked(rt);
		}
		wf__futex_wait(&rt->monitor_stop, 0, wf__now() + sleep);
	}
	return NULL;
}

/* Start the monitor of a multi-thread runtime. Returns 0 or -EAGAIN. */
int wf__monitor_start(struct wf_runtime *rt)
{
	if (rt->flavor != WF_MULTI_THREAD || rt->nworkers < 2)
		return 0;
	if (pthread_create(&rt->monitor, NULL, monitor_main, rt) != 0)
		return -EAGAIN;
	rt->monitor_running = true;
	return 0;
}

void wf__monitor_stop(struct wf_runtime *rt)
{
	if (!rt->monitor_running)
		return;
	atomic_store(&rt->monitor_stop, 1);
	wf__futex_wake(&rt->monitor_stop, 1);
	pthread_join(rt->monitor, NULL);
	rt->monitor_running = false;
}
