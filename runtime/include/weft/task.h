/* SPDX-License-Identifier: MIT */
/*
 * weft/task.h - spawning, joining, cancelling tasks; task-local storage.
 *
 * A task is a stackful coroutine: straight-line C that suspends inside
 * weft calls instead of blocking its thread. A "poll" is one run of a
 * task, from the moment a worker resumes it until it suspends, yields or
 * returns; every metric is defined on polls.
 *
 * Migration: a task may resume on another worker thread after any
 * suspension. weft saves and restores errno per task. Do not keep the
 * address of a thread-local variable (yours or a library's) across a
 * suspending call; see docs/migration.md. Spawn with WF_SPAWN_PINNED for
 * code that must stay on one thread.
 */
#ifndef WEFT_TASK_H
#define WEFT_TASK_H

#include <stddef.h>
#include <stdint.h>
#include <weft/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wf_task wf_task;

enum {
	/* Never migrate: the task always runs on the worker it started on. */
	WF_SPAWN_PINNED = 1u << 0,
};

struct wf_spawn_opts {
	/* Task name shown by metrics and weftstat (copied; may be NULL). */
	const char *name;
	/* Stack size in bytes; 0 means the runtime's default. */
	size_t stack_size;
	/* WF_SPAWN_* flags. */
	unsigned flags;
	/* Runtime to spawn on; NULL means the calling task's runtime. */
	wf_runtime *rt;
};

/*
 * wf_spawn_at - start a task running @fn(@arg). Use the wf_spawn* macros,
 * which record the spawn site.
 * @tp:   where the task handle is stored; NULL spawns it detached. A
 *        handle must be given back with wf_join() or wf_detach().
 * @opts: NULL for defaults.
 * @file, @line: spawn site reported by metrics, weftstat and the stack
 *        overflow message (file must be a string literal or outlive the
 *        task).
 *
 * Callable from tasks and from any other thread (then opts->rt is
 * required). Returns 0; -EINVAL for NULL @fn, unknown flags, a stack
 * smaller than 16 KiB, or no runtime given outside a task; -ESHUTDOWN
 * when the runtime is shutting down; -ENOMEM when memory or a stack
 * mapping is not available.
 */
int wf_spawn_at(wf_task **tp, wf_task_fn fn, void *arg, const struct wf_spawn_opts *opts,
		const char *file, int line);

#define wf_spawn(tp, fn, arg) wf_spawn_at(tp, fn, arg, NULL, __FILE__, __LINE__)
#define wf_spawn_opts(tp, fn, arg, opts) wf_spawn_at(tp, fn, arg, opts, __FILE__, __LINE__)
#define wf_spawn_named(tp, task_name, fn, arg) \
	wf_spawn_at(tp, fn, arg, &(const struct wf_spawn_opts){ .name = (task_name) }, \
		    __FILE__, __LINE__)

/* wf_join() result: the task had been cancelled (it returned all the same). */
#define WF_JOIN_CANCELLED 1

/*
 * wf_join - wait for @t to finish, take its result and free the handle.
 * From a task it suspends; from another thread it blocks.
 * Returns 0 with *@result set (if non-NULL) when @t returned;
 * WF_JOIN_CANCELLED (1) when @t had been cancelled before it returned
 * (*@result is still set; the handle is freed in both cases);
 * -EINVAL for NULL or a task joining itself; -EBUSY when another task is
 * already joining @t; -ECANCELED when the *calling* task is cancelled
 * while waiting: then the handle stays valid, to be joined or detached
 * again (a cancelled task's waits end at once, so wf_detach() it, or
 * wait with a wf_group).
 */
int wf_join(wf_task *t, void **result);

/* wf_join() with an absolute CLOCK_MONOTONIC deadline: -ETIMEDOUT (handle valid). */
int wf_join_until(wf_task *t, void **result, uint64_t deadline_ns);

/*
 * wf_detach - give up the handle; the task runs on and is freed when it
 * finishes. Returns 0, -EINVAL for NULL.
 */
int wf_detach(wf_task *t);

/*
 * wf_cancel - ask @t to stop: its current suspending call (or its next
 * one) returns -ECANCELED, and so does every later one, so it can run its
 * cleanup and return. Cancelling a finished task does nothing.
 * Returns 0, -EINVAL for NULL.
 */
int wf_cancel(wf_task *t);

/* 1 if the calling task has been cancelled, 0 if not, -EPERM outside. */
int wf_cancelled(void);

/*
 * wf_yield - let other ready tasks run, then continue.
 * Returns 0; -EPERM outside a task; -ECANCELED if cancelled.
 */
int wf_yield(void);

/* The calling task, or NULL outside a task. */
wf_task *wf_current(void);

/* 64-bit id of @t, unique for the process's life (never reused); 0 for NULL. */
uint64_t wf_task_id(const wf_task *t);

/* Name given at spawn, or "" (never NULL; "" for NULL @t). */
const char *wf_task_name(const wf_task *t);

/* 1 if @t has returned, 0 if not; -EINVAL for NULL. */
int wf_task_done(const wf_task *t);

/*
 * errno of the calling task or thread, read and written through a
 * non-inlined call. After a suspending call, a plain `errno` may be read
 * through the previous thread's errno address if the compiler kept it
 * (glibc declares __errno_location() const): use these there.
 * docs/migration.md explains the hazard.
 */
int wf_errno(void);
void wf_set_errno(int e);

/*
 * Task-local storage. A key is created once per process; each task has
 * its own value for it (initially NULL). The destructor, if any, runs
 * when a task that holds a non-NULL value finishes.
 */
typedef unsigned wf_tls_key;

/* Returns 0; -EAGAIN when all 64 keys are in use; -EINVAL for NULL @key. */
int wf_tls_key_create(wf_tls_key *key, void (*dtor)(void *));
/* The calling task's value for @key; NULL outside a task or bad key. */
void *wf_tls_get(wf_tls_key key);
/* Returns 0; -EINVAL for a bad key; -EPERM outside a task. */
int wf_tls_set(wf_tls_key key, void *value);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_TASK_H */
