// SPDX-License-Identifier: MIT
/*
 * victim_registry - a weft program for tests/runtime/registry: one task
 * ("busy-spinner") stays inside a single poll, spinning, so its worker's
 * registry slot reads POLLING; another task spawns a short task named
 * "tick" every 20 ms (USDT task_spawn events for bpftrace).
 *
 * Once the spinner runs it prints one line on stdout:
 *	ready PID SPAWN_LINE SPAWN_FILE
 * then runs until SIGTERM or SIGINT (or 120 s, or its parent's death) and
 * exits 0 after shutting the runtime down.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <weft.h>

#include "victim.h"

static _Atomic int spinning, stop;

static void *spin(void *arg)
{
	atomic_store(&spinning, 1);
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		;
	return NULL;
}

static void *tick(void *arg)
{
	return arg;
}

static void *ticker(void *arg)
{
	while (!atomic_load(&stop)) {
		if (wf_spawn_named(NULL, "tick", tick, NULL) && !atomic_load(&stop))
			return (void *)1L;
		if (wf_sleep_ns(20 * WF_NSEC_PER_MSEC))
			break;
	}
	return NULL;
}

int main(void)
{
	struct wf_spawn_opts o = { .name = "busy-spinner" }, to = { .name = "ticker" };
	wf_task *spinner, *tk;
	sigset_t set;
	int line, sig, r;
	wf_runtime *rt;

	/* Blocked before the workers start, so only sigwait() sees them. */
	victim_prepare(&set);

	r = wf_runtime_new(&rt, &(struct wf_runtime_opts){ .workers = 2 });
	if (r) {
		fprintf(stderr, "victim: wf_runtime_new: %d\n", r);
		return 1;
	}
	o.rt = rt;
	to.rt = rt;
	line = __LINE__ + 1;
	r = wf_spawn_at(&spinner, spin, NULL, &o, __FILE__, __LINE__);
	if (!r)
		r = wf_spawn_opts(&tk, ticker, NULL, &to);
	if (r) {
		fprintf(stderr, "victim: spawn: %d\n", r);
		return 1;
	}
	while (!atomic_load(&spinning))
		usleep(1000);
	printf("ready %d %d %s\n", (int)getpid(), line, __FILE__);
	fflush(stdout);

	sigwait(&set, &sig);
	atomic_store(&stop, 1);
	wf_join(spinner, NULL);
	wf_cancel(tk);
	wf_join(tk, NULL);
	r = wf_runtime_free(rt);
	return r ? 1 : 0;
}
