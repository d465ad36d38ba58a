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

/*
 * Known answers, checked once per process (every replay and fuzz run):
 * Rust v0 names (as rustc-demangle's "{:#}" writes them) and legacy ones;
 * names that do not parse come out as they went in.
 */
static void known_answers(void)
{
	static const struct {
		const char *in, *want;
		size_t len;
	} t[] = {
		{ "_RNvCs1234_7mycrate3foo", "mycrate::foo", 128 },
		{ "_RNvNtCs1234_7mycrate3net4read", "mycrate::net::read", 128 },
		{ "_RNCNvCs1234_7mycrate3foo0", "mycrate::foo::{closure#0}", 128 },
		{ "_RNCNvCs1234_7mycrate3foos_0", "mycrate::foo::{closure#1}", 128 },
		{ "_RINvCs1234_7mycrate3foomE", "mycrate::foo::<u32>", 128 },
		{ "_RNvMCs1234_7mycrateNtB2_3Foo3new", "<mycrate::Foo>::new", 128 },
		{ "_RNvXCs1234_7mycrateNtB2_3FooNtNtCs5678_4core3fmt5Debug3fmt",
		  "<mycrate::Foo as core::fmt::Debug>::fmt", 128 },
		{ "_RINvCs1234_7mycrate3fooRShE", "mycrate::foo::<&[u8]>", 128 },
		{ "_RINvCs1234_7mycrate3fooTmbEE", "mycrate::foo::<(u32, bool)>", 128 },
		{ "_RINvCs1234_7mycrate3fooTmEE", "mycrate::foo::<(u32,)>", 128 },
		{ "_RINvCs1234_7mycrate3fooKj10_E", "mycrate::foo::<16>", 128 },
		{ "_RINvCs1234_7mycrate3fooKanf_E", "mycrate::foo::<-15>", 128 },
		{ "_RINvCs1234_7mycrate3fooFmEuE", "mycrate::foo::<fn(u32)>", 128 },
		{ "_RINvCs1234_7mycrate3fooDNtNtCs5678_4core3fmt5DebugEL_E",
		  "mycrate::foo::<dyn core::fmt::Debug>", 128 },
		{ "_RNvCs1234_7mycrate3foo.llvm.4242", "mycrate::foo", 128 },
		{ "_RINvCs1234_7mycrate3foomECs5678_3app", "mycrate::foo::<u32>", 128 },
		{ "_RNvCs1234_7mycrate3foo", "mycrate::f", 11 },
		/* the seeds: backreferences, impls, every kind of argument */
		{ "_RNvXs0_Cs1234_7mycrateINtB5_3FooRShENtNtCs5678_4core3fmt5Debug3fmt",
		  "<mycrate::Foo<&[u8]> as core::fmt::Debug>::fmt", 128 },
		{ "_RINvCs1234_7mycrate3fooTmbEAhj4_FKCmEuDNtB2_3BarEL_Kanf_Kb1_Kc41_pE"
		  "Cs5678_3app.llvm.1",
		  "mycrate::foo::<(u32, bool), [u8; 4], extern \"C\" fn(u32), dyn mycrate::Bar, "
		  "-15, true, 'A', _>", 128 },
		{ "_RNCNCNvMs_NtCs1234_7mycrate3netNtB8_4Conn4read00Ba_",
		  "<mycrate::net::Conn>::read::{closure#0}::{closure#0}", 128 },
		{ "_RNvCsaBc_u7gdkd8ad3foo", "punycode{gdkd8ad}::foo", 128 },
		/* a backreference to one that points back at it: bounded, copied */
		{ "_RINvC1a1bB_E", "_RINvC1a1bB_E", 128 },
		/* not v0: copied */
		{ "_RNvCs1234_7mycrate9foo", "_RNvCs1234_7mycrate9foo", 128 },
		{ "_RB_", "_RB_", 128 },
		{ "_R0NvC3foo3bar", "_R0NvC3foo3bar", 128 },
		{ "_RNvCs1234_7mycrate3fooX", "_RNvCs1234_7mycrate3fooX", 128 },
		{ "_RINvC1a3fooKdp_E", "_RINvC1a3fooKdp_E", 128 },
		/* legacy */
		{ "_ZN4core3fmt5write17h0123456789abcdefE", "core::fmt::write", 128 },
		{ "wf_sleep", "wf_sleep", 128 },
	};
	static bool done;
	char out[128];

	if (done)
		return;
	done = true;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ws_demangle_rust(t[i].in, out, t[i].len);
		if (strcmp(out, t[i].want)) {
			fprintf(stderr, "ws_demangle_rust(\"%s\", %zu): \"%s\", want \"%s\"\n",
				t[i].in, t[i].len, out, t[i].want);
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t lens[] = { 1, 2, 3, 4, 20, 128 };
	char *s = fuzz_str(data, size), out[128], *buf = NULL;
	size_t blen = 0;
	FILE *f;

	known_answers();
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
