// SPDX-License-Identifier: MIT
/*
 * fuzz_cmdline.c - weftstat's option values: -p, -d/-i, -n, --sort and the
 * --listen address. The input is split at NUL bytes into arguments.
 */
#include <sys/socket.h>

#include "fuzz.h"
#include "parse.h"
#include "ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size), err[256];

	for (char *a = s; a <= s + size; a += strlen(a) + 1) {
		struct sockaddr_storage ss;
		socklen_t len = 0;
		long long n;
		double d;
		pid_t p = ws_parse_pid(a);
		int k;

		FUZZ_CHECK(p >= 0);
		if (!ws_parse_seconds(a, 0.1, 86400, &d))
			FUZZ_CHECK(d >= 0.1 && d <= 86400);
		if (!ws_parse_count(a, 1, 1000000000, &n))
			FUZZ_CHECK(n >= 1 && n <= 1000000000);
		k = ws_sort_key(a);
		FUZZ_CHECK(k < 0 || ws_sort_name(k));
		err[0] = '\0';
		if (!ws_listen_parse(a, &ss, &len, err, sizeof(err)))
			FUZZ_CHECK(len > 0 && len <= sizeof(ss) &&
				   (ss.ss_family == AF_INET || ss.ss_family == AF_INET6));
		else
			FUZZ_CHECK(err[0] && strlen(err) < sizeof(err));
	}
	free(s);
	return 0;
}
