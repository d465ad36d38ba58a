// SPDX-License-Identifier: MIT
/*
 * fuzz_http.c - weftstat report --listen: the end of the request head and
 * the request line (method, path), as http.c sees what a client sent.
 */
#include <stdbool.h>

#include "fuzz.h"
#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *req = (const char *)data;
	bool head = true;
	int code;

	(void)ws_http_head_done(req, size);
	code = ws_http_route(req, size, &head);
	FUZZ_CHECK(code == 200 || code == 400 || code == 404 || code == 405);
	FUZZ_CHECK(!head || (size >= 5 && !memcmp(req, "HEAD ", 5)));
	if (code == 200)
		FUZZ_CHECK(size >= 12 && (!memcmp(req, "GET /metrics", 12) ||
					  !memcmp(req, "HEAD /metrics", 13)));
	return 0;
}
