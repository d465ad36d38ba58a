/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h - what the fuzz targets share. Each tests/fuzz/fuzz_NAME.c
 * defines LLVMFuzzerTestOneInput() for one family of parsers of
 * untrusted input (docs/weftstat.md, "Untrusted input"); it is linked
 * either with libFuzzer (`make fuzz`) or with replay.c (the corpus replay
 * and deterministic mutations `make check` runs under ASan and UBSan).
 */
#ifndef WEFT_FUZZ_H
#define WEFT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A wrong answer is a crash: the fuzzers must stop on it. */
#define FUZZ_CHECK(c)                                                                    \
	do {                                                                             \
		if (!(c)) {                                                              \
			fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed\n", __FILE__,     \
				__LINE__, #c);                                           \
			abort();                                                         \
		}                                                                        \
	} while (0)

/* The input as a NUL-terminated string (embedded NULs kept); free() it. */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif /* WEFT_FUZZ_H */
