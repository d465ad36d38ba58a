// SPDX-License-Identifier: MIT
/*
 * fuzz_symbols.c - names from the target's symbol tables and registry on
 * their way out: Rust demangling (sym.c), Prometheus label values, JSON
 * strings (runtime/src/json.h), text for a terminal (wfreg_put_safe).
 */
#include "fuzz.h"
#include "json.h"
#include "parse.h"
#include "wfreg.h"

static FILE *sink(char **buf, size_t *len)
{
	FILE *f = open_memstream(buf, len);

	if (!f)
		abort();
	return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t lens[] = { 1, 2, 3, 4, 20, 128 };
	char *s = fuzz_str(data, size), out[128], *buf = NULL;
	size_t blen = 0;
	FILE *f;

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memset(out, 'Z', sizeof(out));
		ws_demangle_rust(s, out, lens[i]);
		FUZZ_CHECK(strnlen(out, lens[i]) < lens[i]);
	}
	if (ws_debuglink_safe(s)) {
		FUZZ_CHECK(s[0] && !strstr(s, "/../") && strcmp(s, "..") && strcmp(s, "."));
		FUZZ_CHECK(!strchr(s, '/') || !strncmp(s, WS_DEBUG_DIR "/", 15));
		FUZZ_CHECK(strlen(s) < 256);
	}
	for (size_t cap = 1; cap < 200; cap += 37) {
		char path[200];

		memset(path, 'Z', sizeof(path));
		if (!ws_buildid_path(data, size, path, cap)) {
			FUZZ_CHECK(size >= 2 && size <= 64);
			FUZZ_CHECK(strlen(path) == strlen(WS_DEBUG_DIR) + 12 + 2 * size + 6);
			FUZZ_CHECK(strlen(path) < cap);
		}
	}
	f = sink(&buf, &blen);
	ws_folded_name(f, s);
	fclose(f);
	FUZZ_CHECK(!memchr(buf, ';', blen) && !memchr(buf, ' ', blen) && !memchr(buf, '\n', blen));
	free(buf);
	buf = NULL;
	f = sink(&buf, &blen);
	ws_prom_label(f, s, 200);
	fclose(f);
	for (size_t i = 0; i < blen; i++)
		FUZZ_CHECK((unsigned char)buf[i] >= 0x20 && buf[i] != 0x7f);
	for (size_t i = 0; i < blen; i++)
		if (buf[i] == '"')
			FUZZ_CHECK(i > 0 && buf[i - 1] == '\\');
	free(buf);
	buf = NULL;
	f = sink(&buf, &blen);
	wf__json_str(f, s, size + 1);
	fclose(f);
	FUZZ_CHECK(blen >= 2 && buf[0] == '"' && buf[blen - 1] == '"');
	for (size_t i = 0; i < blen; i++)
		FUZZ_CHECK((unsigned char)buf[i] >= 0x20 && buf[i] != 0x7f);
	free(buf);
	buf = NULL;
	f = sink(&buf, &blen);
	wfreg_put_safe(f, s);
	fclose(f);
	for (size_t i = 0; i < blen; i++)
		FUZZ_CHECK((unsigned char)buf[i] >= 0x20 && (unsigned char)buf[i] < 0x7f);
	free(buf);
	free(s);
	return 0;
}
