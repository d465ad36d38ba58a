// SPDX-License-Identifier: MIT
/*
 * fuzz_proc.c - the target's /proc files weftstat parses itself:
 * /proc/PID/stat (state after the name, which may hold anything),
 * /proc/PID/status (Tgid), /proc/PID/task/TID/comm (thread names, matched
 * against --threads and Tokio's pattern) and /proc/PID/timens_offsets.
 */
#include "fuzz.h"
#include "parse.h"
#include "wfreg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size), comm[17], tiny[1] = { 'x' };
	char c = ws_stat_state((const char *)data, size);
	pid_t t = ws_status_tgid(s, -7);
	int64_t off = wfreg_parse_timens(s);

	/* The state is a byte of the input that follows ") ". */
	FUZZ_CHECK(!c || (size >= 3 && memmem(data, size, ") ", 2)));
	FUZZ_CHECK(t == -7 || t > 0);
	FUZZ_CHECK(off >= -(INT64_MAX / 2) && off <= INT64_MAX / 2);
	ws_comm((const char *)data, size, comm, sizeof(comm));
	FUZZ_CHECK(strlen(comm) < sizeof(comm) && !strchr(comm, '\n'));
	ws_comm((const char *)data, size, tiny, 0);
	FUZZ_CHECK(tiny[0] == 'x');
	free(s);
	return 0;
}
