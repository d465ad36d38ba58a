// SPDX-License-Identifier: MIT
/*
 * fuzz_registry.c - the trace registry as read from the target's memory
 * (docs/registry.md): the root, the runtime list (cycles, lengths, the
 * list changing under the reader), worker slots under their sequence
 * counts, task records and their spawn-site strings, and the code bytes
 * weftstat checks for a call instruction. The input is a memory image at
 * FUZZ_BASE: the root at its start, every address in it relative to
 * nothing (absolute), reads outside the image fail as they would on an
 * unmapped page.
 */
#include <errno.h>

#include <weft/registry.h>

#include "fuzz.h"
#include "parse.h"
#include "wfreg.h"

#define FUZZ_BASE 0x10000ull

static const uint8_t *img;
static size_t img_len;
static unsigned long reads;

static int img_read(uint64_t addr, void *buf, size_t len)
{
	reads++;
	if (addr < FUZZ_BASE || addr - FUZZ_BASE > img_len || len > img_len - (addr - FUZZ_BASE))
		return -EFAULT;
	memcpy(buf, img + (addr - FUZZ_BASE), len);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wfreg_runtime_view *rv = calloc(WFREG_MAX_RUNTIMES, sizeof(*rv));
	struct wfreg_found f = { .addr = FUZZ_BASE };
	static char big[WFREG_MAX_STR + 1];
	char name[33], file[256];
	size_t names = 0;
	unsigned line;
	int n;

	if (!rv)
		abort();
	img = data;
	img_len = size;
	reads = 0;
	wfreg_read_hook = img_read;
	wfreg_soft_gone = true;
	if (size >= sizeof(f.root)) {
		memcpy(&f.root, data, sizeof(f.root));
		if (!wfreg_root_valid(&f.root))
			FUZZ_CHECK(strnlen(f.root.lib_version, sizeof(f.root.lib_version)) <
				   sizeof(f.root.lib_version));
	}
	/* The refresh's walk (slots only), then weft-registry's (tasks, names). */
	n = wfreg_read_runtimes(&f, rv, 0);
	FUZZ_CHECK(n >= -1 && n <= WFREG_MAX_RUNTIMES);
	/* Bounded work, whatever the image says (each read costs a syscall). */
	FUZZ_CHECK(reads <= 200000);
	for (int i = 0; i < n; i++)
		for (uint32_t k = 0; k < rv[i].r.nworkers; k++)
			FUZZ_CHECK(!rv[i].w[k].have_task);
	if (n > 0)
		wfreg_free_runtimes(rv, (size_t)n);
	reads = 0;
	n = wfreg_read_runtimes(&f, rv, WFREG_READ_TASKS);
	FUZZ_CHECK(n >= -1 && n <= WFREG_MAX_RUNTIMES);
	FUZZ_CHECK(reads <= 200000);
	for (int i = 0; i < n; i++) {
		FUZZ_CHECK(strnlen(rv[i].r.thread_name, 16) < 16);
		for (uint32_t k = 0; k < rv[i].r.nworkers; k++) {
			const struct wfreg_worker_view *w = &rv[i].w[k];
			int r = wfreg_task_file(w, big, sizeof(big));

			FUZZ_CHECK(strnlen(big, sizeof(big)) < WFREG_MAX_STR);
			FUZZ_CHECK(!r || !big[0]);
			/* Names read per walk stay within the budget, and use it up. */
			if (!r)
				names += strlen(big) + 1;
			FUZZ_CHECK(names <= WFREG_NAME_BUDGET);
			FUZZ_CHECK(r != -ENOSPC || names + 1 >= WFREG_NAME_BUDGET);
			if (w->have_task)
				FUZZ_CHECK(strnlen(w->task.name, 32) < 32);
			if (w->stable && ws_task_info(w->s.task_addr, w->s.task_id, name,
						      sizeof(name), file, sizeof(file), &line))
				FUZZ_CHECK(strlen(name) < 33 && strlen(file) < sizeof(file));
		}
	}
	if (n > 0)
		wfreg_free_runtimes(rv, (size_t)n);
	/* Strings and code bytes anywhere in the image. */
	for (size_t off = 0; off + 8 <= size && off < 4096; off += 64) {
		uint64_t a;
		unsigned char code[7];

		memcpy(&a, data + off, sizeof(a));
		if (!wfreg_remote_str(a, file, sizeof(file)))
			FUZZ_CHECK(strlen(file) < sizeof(file));
		if (!wfreg_remote_str(a, name, 1))
			FUZZ_CHECK(!name[0]);
		if (a >= 7 && !wfreg_remote_read(a - 7, code, sizeof(code)))
			(void)ws_after_call(code);
	}
	free(rv);
	wfreg_read_hook = NULL;
	return 0;
}
