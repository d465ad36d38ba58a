// SPDX-License-Identifier: MIT
/*
 * fuzz_elf.c - the target's mapped ELF files as the registry finder reads
 * them (tools/lib/wfreg.c): header and table extents, extended numbering,
 * the section name table, the weft_registry section, PT_LOAD segments.
 */
#include <errno.h>

#include "fuzz.h"
#include "wfreg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t offs[] = { 0, 0x1000, 0x2000 };
	uint64_t addr, len, vaddr;

	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		int r = wfreg_elf_probe(data, size, offs[i], &addr, &len, &vaddr);

		FUZZ_CHECK(r == 0 || r == -ENOEXEC || r == -ENOENT || r == -ENOMEM);
		if (!r)
			FUZZ_CHECK((vaddr & 0xfff) == 0);
	}
	return 0;
}
