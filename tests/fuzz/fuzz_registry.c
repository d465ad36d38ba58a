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
	char name[33], file[256];
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
	n = wfreg_read_runtimes(&f, rv);
	FUZZ_CHECK(n >= -1 && n <= WFREG_MAX_RUNTIMES);
	/* Bounded work, whatever the image says (each read costs a syscall). */
	FUZZ_CHECK(reads <= 200000);
	for (int i = 0; i < n; i++) {
		FUZZ_CHECK(strnlen(rv[i].r.thread_name, 16) < 16);
		for (uint32_t k = 0; k < rv[i].r.nworkers; k++) {
			const struct wfreg_worker_view *w = &rv[i].w[k];

			FUZZ_CHECK(strnlen(w->file, sizeof(w->file)) < sizeof(w->file));
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
