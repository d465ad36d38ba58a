// SPDX-License-Identifier: MIT
/*
 * top.c - weftstat top's output: one frame (struct ws_frame, built by
 * weftstat.c from the BPF maps each interval) as plain text, as one JSON
 * line, or drawn on a terminal in raw mode.
 *
 * The terminal is driven with termios and ANSI escapes only: the
 * alternate screen (so the shell's screen comes back intact), the cursor
 * hidden, each frame drawn from the top-left corner and cut to the
 * window's size. ws_tty_leave() undoes exactly what ws_tty_enter() did; it
 * runs on every way out (quit, SIGINT, SIGTERM, the target exiting, an
 * error: weftstat.c calls it, and it is registered with atexit too).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "json.h"
#include "ws.h"

static const char *const sort_names[] = { "busy", "polls", "delay", "offcpu", "name" };

int ws_sort_key(const char *name)
{
	for (int i = 0; i < (int)(sizeof(sort_names) / sizeof(sort_names[0])); i++)
		if (!strcmp(name, sort_names[i]) || (name[0] == sort_names[i][0] && !name[1]))
			return i;
	if (!strcmp(name, "off-cpu"))
		return WS_SORT_OFFCPU;
	return -1;
}

const char *ws_sort_name(int key)
{
	return key >= 0 && key <= WS_SORT_NAME ? sort_names[key] : "?";
}

static int sort_key;

static int cmp_d(double a, double b)
{
	return a < b ? 1 : a > b ? -1 : 0;
}

static int cmp_u(uint64_t a, uint64_t b)
{
	return a < b ? 1 : a > b ? -1 : 0;
}

/* Workers: the same keys read as their own figures (delay: run-queue wait). */
static int wrow_cmp(const void *x, const void *y)
{
	const struct ws_wrow *a = x, *b = y;
	int r = 0;

	switch (sort_key) {
	case WS_SORT_POLLS:
		r = cmp_d(a->polls_s, b->polls_s);
		break;
	case WS_SORT_DELAY:
		r = cmp_u(a->runq_ns, b->runq_ns);
		break;
	case WS_SORT_OFFCPU:
		r = cmp_u(a->offcpu_ns, b->offcpu_ns);
		break;
	case WS_SORT_NAME:
		r = strcmp(a->name, b->name);
		break;
	default:
		r = cmp_d(a->busy_pct, b->busy_pct);
		break;
	}
	return r ? r : a->index - b->index;
}

static int trow_cmp(const void *x, const void *y)
{
	const struct ws_trow *a = x, *b = y;
	int r = 0;

	switch (sort_key) {
	case WS_SORT_POLLS:
		r = cmp_d(a->polls_s, b->polls_s);
		break;
	case WS_SORT_DELAY:
		r = cmp_d(a->delay_mean_us, b->delay_mean_us);
		break;
	case WS_SORT_OFFCPU:
		r = cmp_u(a->offcpu_ns, b->offcpu_ns);
		break;
	case WS_SORT_NAME:
		r = strcmp(a->name, b->name);
		break;
	default:
		r = cmp_d(a->busy_pct, b->busy_pct);
		break;
	}
	return r ? r : a->id < b->id ? -1 : a->id > b->id;
}

void ws_frame_sort(struct ws_frame *f, int key)
{
	sort_key = key;
	if (f->nw)
		qsort(f->w, f->nw, sizeof(*f->w), wrow_cmp);
	if (f->nt)
		qsort(f->t, f->nt, sizeof(*f->t), trow_cmp);
}

/* Untrusted text, printable ASCII only, padded or cut to width. */
static void put_cell(FILE *out, const char *s, int width)
{
	int n = 0;

	for (; s[n] && n < width; n++)
		fputc((unsigned char)s[n] >= 0x20 && (unsigned char)s[n] < 0x7f ? s[n] : '?', out);
	for (; n < width; n++)
		fputc(' ', out);
}

/* The tail of a long path: the end says more than the start. */
static const char *tail(const char *s, size_t width)
{
	size_t n = strlen(s);

	return n > width ? s + n - width : s;
}

void ws_frame_text(FILE *out, const struct ws_frame *f, int key, size_t max_tasks)
{
	double iv = (double)f->interval_ns / 1e9;

	fprintf(out, "weftstat top: pid %d, %s; frame %u, %.2f s, sorted by %s%s\n", f->pid,
		f->what, f->seq, iv, ws_sort_name(key),
		f->exited ? "; the target exited" : "");
	fprintf(out, "%s\n", f->diagnosis);
	if (f->threads)
		fprintf(out, "\n%8s %-16s %-10s %6s %10s %10s %10s %9s %10s %7s\n", "TID", "THREAD",
			"STATE", "BUSY%", "BLOCKED", "RUNQ", "RUNQ-MEAN", "FUTEX", "FUTEX-N", "");
	else
		fprintf(out, "\n%8s %-16s %-10s %9s %6s %10s %10s %10s %9s %10s %7s\n", "TID",
			"WORKER", "STATE", "POLLS/S", "BUSY%", "OFFCPU-POLL", "PARKED", "RUNQ",
			"RUNQ-MEAN", "FUTEX", "FUTEX-N");
	for (size_t i = 0; i < f->nw; i++) {
		const struct ws_wrow *w = &f->w[i];

		fprintf(out, "%8u ", w->tid);
		put_cell(out, w->name, 16);
		fputc(' ', out);
		put_cell(out, w->state, 10);
		if (f->threads)
			fprintf(out, " %6.1f %8.1fms %8.1fms %7.0fus %8.1fms %7" PRIu64 "\n",
				w->busy_pct, (double)w->offcpu_ns / 1e6, (double)w->runq_ns / 1e6,
				w->runq_mean_us, (double)w->futex_ns / 1e6, w->futex_waits);
		else
			fprintf(out,
				" %9.0f %6.1f %9.1fms %8.1fms %8.1fms %7.0fus %8.1fms %7" PRIu64
				"\n",
				w->polls_s, w->busy_pct, (double)w->offcpu_ns / 1e6,
				(double)w->parked_ns / 1e6, (double)w->runq_ns / 1e6,
				w->runq_mean_us, (double)w->futex_ns / 1e6, w->futex_waits);
	}
	if (f->tasks_note[0]) {
		fprintf(out, "\nTasks: %s\n", f->tasks_note);
		return;
	}
	fprintf(out, "\nTasks (%zu seen; DELAY: scheduled delay per poll; MAX-DELAY and SLOW "
		"since the start):\n", f->nt);
	fprintf(out, "%8s %-20s %-28s %9s %6s %10s %10s %6s %10s\n", "ID", "NAME", "SPAWNED AT",
		"POLLS/S", "BUSY%", "DELAY", "MAX-DELAY", "SLOW", "OFFCPU");
	for (size_t i = 0; i < f->nt && i < max_tasks; i++) {
		const struct ws_trow *t = &f->t[i];

		fprintf(out, "%8" PRIu64 " ", t->id);
		put_cell(out, t->name[0] ? t->name : "-", 20);
		fputc(' ', out);
		put_cell(out, t->site[0] ? tail(t->site, 28) : "?", 28);
		fprintf(out, " %9.0f %6.1f %8.0fus %8.1fms %6" PRIu64 " %8.1fms\n", t->polls_s,
			t->busy_pct, t->delay_mean_us, (double)t->delay_max_ns / 1e6,
			t->slow_polls, (double)t->offcpu_ns / 1e6);
	}
	if (f->nt > max_tasks)
		fprintf(out, "(%zu more tasks)\n", f->nt - max_tasks);
}

static void json_s(FILE *out, const char *s, size_t max)
{
	wf__json_str(out, s, max);
}

void ws_frame_json(FILE *out, const struct ws_frame *f, int key)
{
	fprintf(out,
		"{\"pid\":%d,\"frame\":%u,\"time_ns\":%" PRIu64 ",\"interval_ns\":%" PRIu64
		",\"mode\":\"%s\",\"target_exited\":%s,\"sort\":\"%s\",\"what\":",
		f->pid, f->seq, f->time_ns, f->interval_ns, f->threads ? "threads" : "weft",
		f->exited ? "true" : "false", ws_sort_name(key));
	json_s(out, f->what, sizeof(f->what));
	fputs(",\"diagnosis\":", out);
	json_s(out, f->diagnosis, sizeof(f->diagnosis));
	fprintf(out, ",\"lost\":%" PRIu64 ",\"workers\":[", f->lost);
	for (size_t i = 0; i < f->nw; i++) {
		const struct ws_wrow *w = &f->w[i];

		fprintf(out, "%s{\"tid\":%u,\"index\":%d,\"name\":", i ? "," : "", w->tid,
			w->index);
		json_s(out, w->name, sizeof(w->name));
		fputs(",\"state\":", out);
		json_s(out, w->state, sizeof(w->state));
		if (w->polls_s >= 0)
			fprintf(out, ",\"polls_per_s\":%.1f", w->polls_s);
		else
			fputs(",\"polls_per_s\":null", out);
		fprintf(out,
			",\"busy_pct\":%.2f,\"%s_ns\":%" PRIu64 ",\"parked_ns\":%" PRIu64
			",\"runq_ns\":%" PRIu64 ",\"runq_mean_us\":%.1f,\"futex_ns\":%" PRIu64
			",\"futex_waits\":%" PRIu64 "}",
			w->busy_pct, f->threads ? "blocked" : "offcpu_in_poll", w->offcpu_ns,
			w->parked_ns, w->runq_ns, w->runq_mean_us, w->futex_ns, w->futex_waits);
	}
	fputs("],\"tasks\":", out);
	if (f->tasks_note[0]) {
		fputs("null,\"tasks_note\":", out);
		json_s(out, f->tasks_note, sizeof(f->tasks_note));
		fputs("}\n", out);
		return;
	}
	fputc('[', out);
	for (size_t i = 0; i < f->nt; i++) {
		const struct ws_trow *t = &f->t[i];

		fprintf(out, "%s{\"id\":%" PRIu64 ",\"name\":", i ? "," : "", t->id);
		json_s(out, t->name, sizeof(t->name));
		fputs(",\"spawned_at\":", out);
		json_s(out, t->site, sizeof(t->site));
		fprintf(out,
			",\"polls_per_s\":%.1f,\"busy_pct\":%.2f,\"delay_mean_us\":%.1f"
			",\"delay_max_ns\":%" PRIu64 ",\"slow_polls\":%" PRIu64 ",\"polls\":%" PRIu64
			",\"offcpu_ns\":%" PRIu64 "}",
			t->polls_s, t->busy_pct, t->delay_mean_us, t->delay_max_ns, t->slow_polls,
			t->polls, t->offcpu_ns);
	}
	fputs("]}\n", out);
}

/* --- the terminal ---------------------------------------------------------------- */

static struct termios saved;
static bool entered;

int ws_tty_enter(void)
{
	struct termios raw;

	if (tcgetattr(STDIN_FILENO, &saved))
		return -errno;
	raw = saved;
	/* No echo, no line editing, no signals from ^C? Keep ISIG: ^C is SIGINT. */
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	raw.c_cc[VMIN] = 0;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw))
		return -errno;
	entered = true;
	/* Alternate screen, cursor hidden, cleared. */
	fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout);
	fflush(stdout);
	return 0;
}

void ws_tty_leave(void)
{
	if (!entered)
		return;
	entered = false;
	fputs("\033[0m\033[?25h\033[?1049l", stdout);
	fflush(stdout);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
}

int ws_tty_key(void)
{
	unsigned char c;

	if (!entered || poll(&(struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN }, 1, 0) <= 0)
		return -1;
	return read(STDIN_FILENO, &c, 1) == 1 ? c : -1;
}

void ws_tty_draw(const struct ws_frame *f, int key, const char *status)
{
	struct winsize ws = { 0 };
	char *buf = NULL, *line, *nl;
	size_t len = 0;
	int rows = 24, cols = 80, row = 0;
	FILE *m;

	if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_row && ws.ws_col) {
		rows = ws.ws_row;
		cols = ws.ws_col;
	}
	m = open_memstream(&buf, &len);
	if (!m)
		return;
	/* The task rows fill the screen below the workers and the headers. */
	ws_frame_text(m, f, key,
		      rows > (int)f->nw + 9 ? (size_t)(rows - (int)f->nw - 9) : 0);
	fclose(m);
	fputs("\033[H", stdout);
	for (line = buf; line && *line && row < rows - 1; line = nl, row++) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		/* The first line in reverse video: a title bar. */
		fprintf(stdout, "%s%.*s\033[0m\033[K\r\n", row ? "" : "\033[7m", cols, line);
	}
	fprintf(stdout, "\033[J\033[%d;1H\033[7m%.*s\033[0m\033[K", rows, cols, status);
	fflush(stdout);
	free(buf);
}
