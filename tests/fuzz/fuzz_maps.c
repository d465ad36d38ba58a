// SPDX-License-Identifier: MIT
/*
 * fuzz_maps.c - /proc/PID/maps lines (wfreg_parse_maps_line) and the
 * lookups done on the result (wfreg_map_of). The paths in those lines are
 * the target's file names.
 */
#include "fuzz.h"
#include "wfreg.h"

#define MAPS_MAX 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wfreg_map maps[MAPS_MAX];
	char *text = fuzz_str(data, size), *line = text;
	size_t n = 0;

	while (line && n < MAPS_MAX) {
		char *nl = strchr(line, '\n');
		struct wfreg_map *m = &maps[n];

		if (nl)
			*nl = '\0';
		if (!wfreg_parse_maps_line(line, m)) {
			FUZZ_CHECK(m->start < m->end);
			FUZZ_CHECK(strlen(m->perms) <= 4);
			FUZZ_CHECK(!m->path || (m->path[0] && !strchr(m->path, '\n')));
			/* A path is what follows the inode, never the line itself. */
			FUZZ_CHECK(!m->path || strcmp(m->path, line));
			n++;
		}
		line = nl ? nl + 1 : NULL;
	}
	wfreg_maps = maps;
	wfreg_nmaps = n;
	for (size_t i = 0; i < n; i++) {
		const struct wfreg_map *m = wfreg_map_of(maps[i].start, 1), *e;

		FUZZ_CHECK(m && maps[i].start >= m->start && maps[i].start < m->end);
		e = wfreg_map_of(maps[i].end - 1, 2);
		FUZZ_CHECK(!e || (e->end - (maps[i].end - 1) >= 2));
	}
	wfreg_maps = NULL;
	wfreg_nmaps = 0;
	for (size_t i = 0; i < n; i++)
		free(maps[i].path);
	free(text);
	return 0;
}
