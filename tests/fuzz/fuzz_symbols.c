// SPDX-License-Identifier: MIT
/*
 * fuzz_symbols.c - names from the target's symbol tables and registry on
 * their way out: Rust demangling (sym.c), Prometheus label values, JSON
 * strings (runtime/src/json.h), text for a terminal (wfreg_put_safe); and
 * the symbolizer's replies (ws_sym_reply_parse: the child that parses the
 * target's DWARF is as untrusted as the DWARF).
 */
#include <errno.h>

#include "fuzz.h"
#include "json.h"
#include "parse.h"
#include "sym.h"
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
	struct ws_sym_reply rep = { .magic = WS_SYM_MAGIC, .seq = 3, .status = 1, .line = 69,
				    .offset = 0x1c, .func = "planted_block",
				    .file = "weftstat_victim.c", .module = "weftstat_victim" };
	struct sym sy;
	char out[128];
	int st = -1;

	if (done)
		return;
	done = true;
	if (ws_sym_reply_parse(&rep, sizeof(rep), WS_SYM_ADDR, 3, &st, &sy) || st != 1 ||
	    strcmp(sy.func, "planted_block") || strcmp(sy.file, "weftstat_victim.c") ||
	    sy.line != 69 || strcmp(sy.module, "weftstat_victim") || sy.offset != 0x1c) {
		fprintf(stderr, "ws_sym_reply_parse: a good reply is not read back\n");
		abort();
	}
	memset(rep.module, 'x', sizeof(rep.module));
	if (ws_sym_reply_parse(&rep, sizeof(rep), WS_SYM_ADDR, 3, &st, &sy) != -EPROTO) {
		fprintf(stderr, "ws_sym_reply_parse: an unterminated module name is taken\n");
		abort();
	}
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ws_demangle_rust(t[i].in, out, t[i].len);
		if (strcmp(out, t[i].want)) {
			fprintf(stderr, "ws_demangle_rust(\"%s\", %zu): \"%s\", want \"%s\"\n",
				t[i].in, t[i].len, out, t[i].want);
			abort();
		}
	}
}

/* What a parsed reply may hold, whatever the child sent. */
static void check_reply(int r, uint32_t op, int status, const struct sym *s)
{
	FUZZ_CHECK(r == 0 || r == -EPROTO);
	FUZZ_CHECK(memchr(s->func, '\0', sizeof(s->func)) && s->func[0]);
	FUZZ_CHECK(memchr(s->file, '\0', sizeof(s->file)));
	FUZZ_CHECK(memchr(s->module, '\0', sizeof(s->module)));
	FUZZ_CHECK(s->line >= 0);
	if (r) {
		FUZZ_CHECK(!strcmp(s->func, "?") && !s->file[0] && !s->module[0]);
		return;
	}
	if (op == WS_SYM_ADDR)
		FUZZ_CHECK(status == 0 || status == 1);
	else
		FUZZ_CHECK(status <= 0 && status >= -4095);
	if (!s->file[0])
		FUZZ_CHECK(s->line == 0);
}

/*
 * The input as a reply: as it is, then laid over a reply with the right
 * size, magic and sequence number (so that the fields behind are reached).
 */
static void fuzz_reply(const uint8_t *data, size_t size)
{
	uint32_t op = size % 3 + 1;	/* a whole reply (536 bytes): an address */
	struct ws_sym_reply r;
	struct sym s;
	int status = 0;

	memset(&s, 'Z', sizeof(s));
	check_reply(ws_sym_reply_parse(data, size, op, 7, &status, &s), op, status, &s);
	memset(&r, 0, sizeof(r));
	memcpy(&r, data, size < sizeof(r) ? size : sizeof(r));
	r.magic = WS_SYM_MAGIC;
	r.seq = 7;
	memset(&s, 'Z', sizeof(s));
	status = 0;
	check_reply(ws_sym_reply_parse(&r, sizeof(r), op, 7, &status, &s), op, status, &s);
	/* Another request's reply, one byte more or less: never taken. */
	FUZZ_CHECK(ws_sym_reply_parse(&r, sizeof(r), op, 8, &status, &s) == -EPROTO);
	FUZZ_CHECK(ws_sym_reply_parse(&r, sizeof(r) - 1, op, 7, &status, &s) == -EPROTO);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t lens[] = { 1, 2, 3, 4, 20, 128 };
	char *s = fuzz_str(data, size), out[128], *buf = NULL;
	size_t blen = 0;
	FILE *f;

	known_answers();
	fuzz_reply(data, size);
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
