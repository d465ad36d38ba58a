// SPDX-License-Identifier: MIT
/*
 * parse.c - weftstat's parsers of untrusted input (parse.h): the target's
 * /proc files, code bytes and task records, symbol names, the --listen
 * request, the command line. Pure functions of their bytes, bounded by
 * their arguments, so that tests/fuzz/ can feed them anything; the tool
 * runs as root and the target (its files, its memory) may be hostile.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/registry.h>

#include "parse.h"
#include "sym.h"
#include "wfreg.h"

/* --- the target's /proc files ------------------------------------------------------ */

char ws_stat_state(const char *buf, size_t n)
{
	const char *p = NULL;

	/* The name may hold anything, ')' and NUL bytes included: the last ')' ends it. */
	for (size_t i = 0; i < n; i++)
		if (buf[i] == ')')
			p = buf + i;
	if (!p || (size_t)(p - buf) + 2 >= n || p[1] != ' ')
		return 0;
	return p[2];
}

pid_t ws_status_tgid(const char *text, pid_t def)
{
	for (const char *l = text; *l;) {
		const char *nl = strchr(l, '\n');
		int v;

		if (sscanf(l, "Tgid: %d", &v) == 1 && v > 0)
			return v;
		if (!nl)
			break;
		l = nl + 1;
	}
	return def;
}

void ws_comm(const char *raw, size_t n, char *out, size_t cap)
{
	size_t k = 0;

	if (!cap)
		return;
	while (k < n && k + 1 < cap && raw[k] && raw[k] != '\n')
		k++;
	memcpy(out, raw, k);
	out[k] = '\0';
}

/* --- the target's memory ------------------------------------------------------------ */

/* Does a call instruction end just before ret (so ret is a return address)? */
bool ws_after_call(const unsigned char b[7])
{
#if defined(__x86_64__)
	/* call rel32; call *r/m with ModRM reg=2 in its 2, 3, 6 and 7 byte forms */
	if (b[2] == 0xe8)
		return true;
	if (b[5] == 0xff && (b[6] & 0x38) == 0x10)
		return true;
	if (b[4] == 0xff && (b[5] & 0x38) == 0x10)
		return true;
	if (b[1] == 0xff && (b[2] & 0x38) == 0x10)
		return true;
	if (b[0] == 0xff && (b[1] & 0x38) == 0x10)
		return true;
	return false;
#elif defined(__aarch64__)
	{
		uint32_t insn;

		memcpy(&insn, b + 3, 4);
		/* bl imm26, blr xN */
		return (insn & 0xfc000000u) == 0x94000000u ||
		       (insn & 0xfffffc1fu) == 0xd63f0000u;
	}
#else
	return false;
#endif
}

bool ws_task_info(uint64_t addr, uint64_t id, char *name, size_t name_cap, char *file,
		  size_t file_cap, unsigned *line)
{
	struct wf_reg_task t;

	if (!addr || wfreg_remote_read(addr, &t, sizeof(t)) || t.id != id)
		return false;
	snprintf(name, name_cap, "%.*s", (int)sizeof(t.name), t.name);
	*line = t.line;
	/* Page by page: a string near the end of its mapping is still read. */
	if (wfreg_remote_str(t.file_addr, file, file_cap))
		file[0] = '\0';
	return true;
}

/* --- symbol names, labels -------------------------------------------------------------- */

/*
 * Rust's v0 symbol mangling (rustc -C symbol-mangling-version=v0; the
 * grammar is in the rustc book, "v0 Symbol Format"): "_R", a path, an
 * optional instantiating crate, an optional ".suffix". Written as
 * rustc-demangle's "{:#}" form writes it: crate disambiguators and
 * lifetimes' names dropped, closures as {closure#N}, impls as <T> and
 * <T as Trait>, generic arguments (::<...> in value paths), types and
 * integer, bool and char constants. Punycode identifiers are shown
 * undecoded as punycode{...}; anything the grammar does not allow, and
 * constants of other types, make the name be copied as it is.
 *
 * The name is untrusted: backreferences must point before themselves,
 * nesting is limited to V0_MAX_DEPTH and the work to V0_MAX_STEPS (a
 * backreference can repeat a subtree, so the work could be exponential
 * in the name's length), the output is cut at its buffer.
 */
#define V0_MAX_DEPTH 64
#define V0_MAX_STEPS 4096

struct v0 {
	const char *s;		/* the name after "_R" (backreferences count from here) */
	size_t n, pos;
	char *out;
	size_t len, o;
	unsigned depth, steps, quiet;
	bool err, full;		/* full: the output is cut */
};

static void v0_put(struct v0 *d, const char *p, size_t n)
{
	if (d->quiet)
		return;
	for (size_t i = 0; i < n; i++) {
		if (d->o + 1 >= d->len) {
			d->full = true;
			return;
		}
		d->out[d->o++] = p[i];
	}
}

static void v0_puts(struct v0 *d, const char *p)
{
	v0_put(d, p, strlen(p));
}

static void v0_putu(struct v0 *d, uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%" PRIu64, v);
	v0_puts(d, b);
}

static int v0_peek(const struct v0 *d)
{
	return d->pos < d->n ? (unsigned char)d->s[d->pos] : 0;
}

static bool v0_eat(struct v0 *d, char c)
{
	if (v0_peek(d) != (unsigned char)c)
		return false;
	d->pos++;
	return true;
}

/*
 * Into a production: false when the name is bad or the limits are reached.
 * A full output does not stop the parse: a name is shown cut only when it
 * is valid to its end.
 */
static bool v0_enter(struct v0 *d)
{
	if (d->err)
		return false;
	if (d->depth >= V0_MAX_DEPTH || ++d->steps > V0_MAX_STEPS) {
		d->err = true;
		return false;
	}
	d->depth++;
	return true;
}

/* Out of it: ok, unless the name was found bad. */
static bool v0_leave(struct v0 *d, bool ok)
{
	d->depth--;
	if (!ok)
		d->err = true;
	return ok && !d->err;
}

/*
 * Enter a production that starts with a tag: its tag (the byte at pos),
 * taken; 0 when the depth or work bound is hit or the input ended (left
 * again, d->err set).
 */
static int v0_open(struct v0 *d)
{
	int tag;

	if (!v0_enter(d))
		return 0;
	tag = v0_peek(d);
	if (!tag) {
		v0_leave(d, false);
		return 0;
	}
	d->pos++;
	return tag;
}

/* <base-62-number>: "_" is 0; digits 0-9a-zA-Z then "_" are their value + 1. */
static bool v0_b62(struct v0 *d, uint64_t *v)
{
	uint64_t x = 0;

	if (v0_eat(d, '_')) {
		*v = 0;
		return true;
	}
	for (;;) {
		int c = v0_peek(d), k;

		if (c == '_')
			break;
		if (c >= '0' && c <= '9')
			k = c - '0';
		else if (c >= 'a' && c <= 'z')
			k = c - 'a' + 10;
		else if (c >= 'A' && c <= 'Z')
			k = c - 'A' + 36;
		else
			return false;
		if (x > (UINT64_MAX - 1 - (uint64_t)k) / 62)
			return false;
		x = x * 62 + (uint64_t)k;
		d->pos++;
	}
	d->pos++;
	*v = x + 1;
	return true;
}

/* An optional TAG <base-62-number> (disambiguator, binder): 0 when absent, else the number + 1. */
static bool v0_opt_b62(struct v0 *d, char tag, uint64_t *v)
{
	*v = 0;
	if (!v0_eat(d, tag))
		return true;
	if (!v0_b62(d, v) || *v == UINT64_MAX)
		return false;
	(*v)++;
	return true;
}

static bool v0_dec(struct v0 *d, size_t *v)
{
	size_t x = 0;
	int c = v0_peek(d);

	if (c == '0') {
		d->pos++;
		*v = 0;
		return true;
	}
	if (c < '1' || c > '9')
		return false;
	while ((c = v0_peek(d)) >= '0' && c <= '9') {
		if (x > (SIZE_MAX - 9) / 10)
			return false;
		x = x * 10 + (size_t)(c - '0');
		d->pos++;
	}
	*v = x;
	return true;
}

struct v0_ident {
	const char *p;
	size_t n;
	uint64_t dis;
	bool puny;
};

/* [disambiguator] ["u"] <decimal-number> ["_"] <bytes> */
static bool v0_ident(struct v0 *d, struct v0_ident *id, bool disambiguated)
{
	id->dis = 0;
	if (disambiguated && !v0_opt_b62(d, 's', &id->dis))
		return false;
	id->puny = v0_eat(d, 'u');
	if (!v0_dec(d, &id->n))
		return false;
	v0_eat(d, '_');
	if (id->n > d->n - d->pos)
		return false;
	id->p = d->s + d->pos;
	d->pos += id->n;
	return true;
}

static void v0_put_ident(struct v0 *d, const struct v0_ident *id)
{
	if (id->puny)
		v0_puts(d, "punycode{");
	v0_put(d, id->p, id->n);
	if (id->puny)
		v0_puts(d, "}");
}

static bool v0_path(struct v0 *d, bool in_value);
static bool v0_type(struct v0 *d);
static bool v0_const(struct v0 *d);

/* "B" <base-62-number>, the "B" eaten: parse again at an earlier position. */
static bool v0_backref(struct v0 *d, int what, bool in_value)
{
	size_t at = d->pos - 1, back;
	uint64_t i;
	bool ok;

	if (!v0_b62(d, &i) || i >= at)
		return false;
	back = d->pos;
	d->pos = (size_t)i;
	ok = what == 'p' ? v0_path(d, in_value) : what == 't' ? v0_type(d) : v0_const(d);
	d->pos = back;
	return ok;
}

static bool v0_lifetime_arg(struct v0 *d)
{
	uint64_t i;

	if (!v0_b62(d, &i))
		return false;
	v0_puts(d, "'_");
	return true;
}

static bool v0_generic_args(struct v0 *d)
{
	for (unsigned k = 0; !v0_eat(d, 'E'); k++) {
		bool ok;

		if (!v0_peek(d))
			return false;
		if (k)
			v0_puts(d, ", ");
		if (v0_eat(d, 'L'))
			ok = v0_lifetime_arg(d);
		else if (v0_eat(d, 'K'))
			ok = v0_const(d);
		else
			ok = v0_type(d);
		if (!ok)
			return false;
	}
	return true;
}

static bool v0_path(struct v0 *d, bool in_value)
{
	struct v0_ident id;
	uint64_t dis;
	bool ok = false;
	int tag;

	tag = v0_open(d);
	if (!tag)
		return false;
	switch (tag) {
	case 'C':	/* crate root */
		ok = v0_ident(d, &id, true);
		if (ok)
			v0_put_ident(d, &id);
		break;
	case 'N': {	/* nested: namespace, parent, name */
		int ns = v0_peek(d);

		if (!((ns >= 'a' && ns <= 'z') || (ns >= 'A' && ns <= 'Z')))
			break;
		d->pos++;
		if (!v0_path(d, in_value) || !v0_ident(d, &id, true))
			break;
		ok = true;
		if (ns >= 'A' && ns <= 'Z') {
			char c[2] = { (char)ns, 0 };

			v0_puts(d, "::{");
			v0_puts(d, ns == 'C' ? "closure" : ns == 'S' ? "shim" : c);
			if (id.n) {
				v0_puts(d, ":");
				v0_put_ident(d, &id);
			}
			v0_puts(d, "#");
			v0_putu(d, id.dis);
			v0_puts(d, "}");
		} else if (id.n) {
			v0_puts(d, "::");
			v0_put_ident(d, &id);
		}
		break;
	}
	case 'M':	/* inherent impl: <T> (the impl's own path is not shown) */
	case 'X':	/* trait impl: <T as Trait> */
		if (!v0_opt_b62(d, 's', &dis))
			break;
		d->quiet++;
		ok = v0_path(d, false);
		d->quiet--;
		if (!ok)
			break;
		/* fall through */
	case 'Y':	/* trait definition: <T as Trait> */
		v0_puts(d, "<");
		ok = v0_type(d);
		if (ok && tag != 'M') {
			v0_puts(d, " as ");
			ok = v0_path(d, false);
		}
		v0_puts(d, ">");
		break;
	case 'I':	/* generic arguments */
		if (!v0_path(d, in_value))
			break;
		v0_puts(d, in_value ? "::<" : "<");
		ok = v0_generic_args(d);
		v0_puts(d, ">");
		break;
	case 'B':
		ok = v0_backref(d, 'p', in_value);
		break;
	}
	return v0_leave(d, ok);
}

static const char *v0_basic(int c)
{
	switch (c) {
	case 'a': return "i8";
	case 'b': return "bool";
	case 'c': return "char";
	case 'd': return "f64";
	case 'e': return "str";
	case 'f': return "f32";
	case 'h': return "u8";
	case 'i': return "isize";
	case 'j': return "usize";
	case 'l': return "i32";
	case 'm': return "u32";
	case 'n': return "i128";
	case 'o': return "u128";
	case 'p': return "_";
	case 's': return "i16";
	case 't': return "u16";
	case 'u': return "()";
	case 'v': return "...";
	case 'x': return "i64";
	case 'y': return "u64";
	case 'z': return "!";
	}
	return NULL;
}

/* fn-sig: [binder] ["U"] ["K" abi] {type} "E" type */
static bool v0_fn_sig(struct v0 *d)
{
	struct v0_ident abi;
	uint64_t b;

	if (!v0_opt_b62(d, 'G', &b))
		return false;
	if (v0_eat(d, 'U'))
		v0_puts(d, "unsafe ");
	if (v0_eat(d, 'K')) {
		v0_puts(d, "extern \"");
		if (v0_eat(d, 'C')) {
			v0_puts(d, "C");
		} else {
			if (!v0_ident(d, &abi, false) || abi.puny)
				return false;
			for (size_t i = 0; i < abi.n; i++)
				v0_put(d, abi.p[i] == '_' ? "-" : &abi.p[i], 1);
		}
		v0_puts(d, "\" ");
	}
	v0_puts(d, "fn(");
	for (unsigned k = 0; !v0_eat(d, 'E'); k++) {
		if (!v0_peek(d))
			return false;
		if (k)
			v0_puts(d, ", ");
		if (!v0_type(d))
			return false;
	}
	v0_puts(d, ")");
	if (v0_eat(d, 'u'))
		return true;
	v0_puts(d, " -> ");
	return v0_type(d);
}

/* dyn-bounds: [binder] {path {"p" name type}} "E", then a lifetime */
static bool v0_dyn(struct v0 *d)
{
	uint64_t b;

	if (!v0_opt_b62(d, 'G', &b))
		return false;
	v0_puts(d, "dyn ");
	for (unsigned k = 0; !v0_eat(d, 'E'); k++) {
		unsigned nb = 0;

		if (!v0_peek(d))
			return false;
		if (k)
			v0_puts(d, " + ");
		if (!v0_path(d, false))
			return false;
		while (v0_eat(d, 'p')) {
			struct v0_ident name;

			if (!v0_ident(d, &name, false))
				return false;
			v0_puts(d, nb++ ? ", " : "<");
			v0_put_ident(d, &name);
			v0_puts(d, " = ");
			if (!v0_type(d))
				return false;
		}
		if (nb)
			v0_puts(d, ">");
	}
	return v0_eat(d, 'L') && v0_b62(d, &b);
}

static bool v0_type(struct v0 *d)
{
	const char *basic;
	uint64_t lt;
	bool ok = false;
	int tag;

	tag = v0_open(d);
	if (!tag)
		return false;
	basic = v0_basic(tag);
	if (basic) {
		v0_puts(d, basic);
		return v0_leave(d, true);
	}
	switch (tag) {
	case 'R':
	case 'Q':
		v0_puts(d, tag == 'R' ? "&" : "&mut ");
		ok = (!v0_eat(d, 'L') || v0_b62(d, &lt)) && v0_type(d);
		break;
	case 'P':
	case 'O':
		v0_puts(d, tag == 'P' ? "*const " : "*mut ");
		ok = v0_type(d);
		break;
	case 'A':
	case 'S':
		v0_puts(d, "[");
		ok = v0_type(d);
		if (ok && tag == 'A') {
			v0_puts(d, "; ");
			ok = v0_const(d);
		}
		v0_puts(d, "]");
		break;
	case 'T': {
		unsigned k = 0;

		v0_puts(d, "(");
		for (ok = true; ok && !v0_eat(d, 'E'); k++) {
			if (!v0_peek(d)) {
				ok = false;
				break;
			}
			if (k)
				v0_puts(d, ", ");
			ok = v0_type(d);
		}
		v0_puts(d, k == 1 ? ",)" : ")");
		break;
	}
	case 'F':
		ok = v0_fn_sig(d);
		break;
	case 'D':
		ok = v0_dyn(d);
		break;
	case 'B':
		ok = v0_backref(d, 't', false);
		break;
	default:	/* a path names a type too */
		d->pos--;
		ok = v0_path(d, false);
		break;
	}
	return v0_leave(d, ok);
}

/* const: "p" (a placeholder), a backreference, or an integer, bool or char type and its value. */
static bool v0_const(struct v0 *d)
{
	uint64_t v = 0;
	size_t digits = 0;
	bool ok = false, neg;
	int tag;

	tag = v0_open(d);
	if (!tag)
		return false;
	if (tag == 'p') {
		v0_puts(d, "_");
		return v0_leave(d, true);
	}
	if (tag == 'B')
		return v0_leave(d, v0_backref(d, 'c', false));
	if (!strchr("abchijlmnostxy", tag))
		return v0_leave(d, false);
	neg = v0_eat(d, 'n');
	for (int c; (c = v0_peek(d)) != '_'; d->pos++, digits++) {
		int k = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (k < 0 || digits >= 16)	/* 128-bit values beyond 64 bits: not shown */
			return v0_leave(d, false);
		v = v << 4 | (uint64_t)k;
	}
	d->pos++;
	if (tag == 'b') {
		ok = !neg && v <= 1;
		v0_puts(d, v ? "true" : "false");
	} else if (tag == 'c') {
		char c[8];

		ok = !neg && v <= 0x10ffff;
		if (v >= 0x20 && v < 0x7f && v != '\'' && v != '\\')
			snprintf(c, sizeof(c), "'%c'", (char)v);
		else
			snprintf(c, sizeof(c), "'?'");
		v0_puts(d, c);
	} else {
		ok = !neg || strchr("alnsx", tag);	/* only signed types are negative */
		if (neg)
			v0_puts(d, "-");
		v0_putu(d, v);
	}
	return v0_leave(d, ok);
}

/* A "_R" name demangled into out: true, else false (out is then garbage). */
static bool demangle_v0(const char *in, char *out, size_t len)
{
	struct v0 d = { .s = in + 2, .n = strlen(in + 2), .out = out, .len = len };
	int c;

	/* An encoding version (a decimal number) would come first: only none is known. */
	if (v0_peek(&d) >= '0' && v0_peek(&d) <= '9')
		return false;
	if (!v0_path(&d, true))
		return false;
	if ((c = v0_peek(&d)) && c != '.' && c != '$') {
		/* The instantiating crate, not shown; then only a suffix. */
		d.quiet++;
		if (!v0_path(&d, false))
			return false;
		c = v0_peek(&d);
		if (c && c != '.' && c != '$')
			return false;
	}
	out[d.o] = '\0';
	return true;
}

/*
 * Rust's legacy symbol mangling, "_ZN" then length-prefixed path segments,
 * the last "h" and 16 hex digits (a hash), then "E": written out as
 * "a::b::c" with the hash dropped and the "$..$" escapes decoded; v0
 * names ("_R...") by demangle_v0() above. Anything else (C, C++) is
 * copied as it is. The name is untrusted: every length is checked against
 * the string and the output.
 */
void ws_demangle_rust(const char *in, char *out, size_t len)
{
	static const struct {
		const char *esc, *to;
	} esc[] = {
		{ "$LT$", "<" }, { "$GT$", ">" }, { "$LP$", "(" }, { "$RP$", ")" },
		{ "$C$", "," }, { "$RF$", "&" }, { "$BP$", "*" }, { "$SP$", "@" },
		{ "$u7b$", "{" }, { "$u7d$", "}" }, { "$u20$", " " }, { "$u27$", "'" },
		{ "$u5b$", "[" }, { "$u5d$", "]" }, { "$u7e$", "~" }, { "$u3b$", ";" },
		{ "$u2b$", "+" }, { "$u22$", "\"" },
	};
	const char *p = in + 3, *hash = NULL;
	size_t o = 0, n;

	if (!len)
		return;
	if (!strncmp(in, "_R", 2) && len >= 2 && demangle_v0(in, out, len))
		return;
	snprintf(out, len, "%s", in);
	if (strncmp(in, "_ZN", 3) || len < 2)
		return;
	/* Find the last segment: it must be the hash, then "E" and nothing. */
	for (const char *q = p; *q != 'E';) {
		char *e;

		if (*q < '1' || *q > '9')
			return;
		n = strtoul(q, &e, 10);
		if (n > strlen(e))
			return;
		if (n == 17 && e[0] == 'h' && strspn(e + 1, "0123456789abcdef") >= 16)
			hash = q;
		q = e + n;
	}
	/* "E", or "E.llvm.123" and the like (a suffix LLVM adds): dropped. */
	if (!hash || hash[2 + 17] != 'E' || (hash[2 + 17 + 1] && hash[2 + 17 + 1] != '.'))
		return;
	while (p < hash && o + 1 < len) {
		char *e;

		n = strtoul(p, &e, 10);
		if (o && o + 3 < len)
			o += (size_t)snprintf(out + o, len - o, "::");
		/* A segment starting with an escape is written "_$...": no "_". */
		if (n >= 2 && e[0] == '_' && e[1] == '$') {
			e++;
			n--;
			p++;
		}
		for (size_t i = 0; i < n && o + 1 < len;) {
			size_t k;

			if (e[i] == '.' && i + 1 < n && e[i + 1] == '.') {
				if (o + 3 >= len)
					break;
				o += (size_t)snprintf(out + o, len - o, "::");
				i += 2;
				continue;
			}
			for (k = 0; k < sizeof(esc) / sizeof(esc[0]); k++) {
				size_t el = strlen(esc[k].esc);

				if (i + el <= n && !strncmp(e + i, esc[k].esc, el))
					break;
			}
			if (k < sizeof(esc) / sizeof(esc[0])) {
				out[o++] = esc[k].to[0];
				i += strlen(esc[k].esc);
			} else {
				out[o++] = e[i++];
			}
		}
		p = e + n;
	}
	out[o] = '\0';
}

/* A Prometheus label value: \\, " and newlines escaped, other controls dropped. */
void ws_prom_label(FILE *f, const char *v, size_t max)
{
	for (size_t i = 0; i < max && v[i]; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == '\\' || c == '"')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c >= 0x20 && c != 0x7f)
			fputc(c, f);
	}
}


void ws_folded_name(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		putc(c == ';' ? ',' : c == ' ' ? '_' : c < 0x20 || c == 0x7f ? '?' : c, f);
	}
}

bool ws_debuglink_safe(const char *name)
{
	size_t n = strnlen(name, 256);

	if (!n || n > 255 || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return false;
	if (!strchr(name, '/'))
		return true;
	/* A path (.gnu_debugaltlink's): only below /usr/lib/debug, no "..". */
	if (strncmp(name, WS_DEBUG_DIR "/", sizeof(WS_DEBUG_DIR)))
		return false;
	for (const char *p = name; (p = strstr(p, "..")); p += 2)
		if (p[-1] == '/' && (p[2] == '/' || !p[2]))
			return false;
	return true;
}

int ws_buildid_path(const unsigned char *id, size_t n, char *out, size_t cap)
{
	size_t o;
	int w;

	if (n < 2 || n > 64)
		return -1;
	w = snprintf(out, cap, WS_DEBUG_DIR "/.build-id/%02x/", id[0]);
	if (w < 0 || (size_t)w >= cap)
		return -1;
	o = (size_t)w;
	for (size_t i = 1; i < n; i++, o += 2)
		if (o + 3 > cap)
			return -1;
		else
			snprintf(out + o, cap - o, "%02x", id[i]);
	if (o + sizeof(".debug") > cap)
		return -1;
	memcpy(out + o, ".debug", sizeof(".debug"));
	return 0;
}

/* --- the symbolizer's replies ----------------------------------------------------------- */

_Static_assert(sizeof(((struct ws_sym_reply *)0)->func) == sizeof(((struct sym *)0)->func) &&
		       sizeof(((struct ws_sym_reply *)0)->file) ==
			       sizeof(((struct sym *)0)->file) &&
		       sizeof(((struct ws_sym_reply *)0)->module) ==
			       sizeof(((struct sym *)0)->module),
	       "a reply's strings fit struct sym's");

int ws_sym_reply_parse(const void *buf, size_t n, uint32_t op, uint32_t seq, int *status,
		       struct sym *out)
{
	struct ws_sym_reply r;

	memset(out, 0, sizeof(*out));
	snprintf(out->func, sizeof(out->func), "?");
	if (n != sizeof(r))
		return -EPROTO;
	memcpy(&r, buf, sizeof(r));	/* buf may be unaligned */
	if (r.magic != WS_SYM_MAGIC || r.seq != seq)
		return -EPROTO;
	if (op == WS_SYM_ADDR ? r.status != 0 && r.status != 1 : r.status > 0 || r.status < -4095)
		return -EPROTO;
	if (r.line < 0 || !memchr(r.func, '\0', sizeof(r.func)) ||
	    !memchr(r.file, '\0', sizeof(r.file)) || !memchr(r.module, '\0', sizeof(r.module)))
		return -EPROTO;
	*status = r.status;
	if (op != WS_SYM_ADDR || !r.status)
		return 0;
	if (r.func[0])
		memcpy(out->func, r.func, sizeof(out->func));
	memcpy(out->file, r.file, sizeof(out->file));
	memcpy(out->module, r.module, sizeof(out->module));
	out->line = r.file[0] ? r.line : 0;
	out->offset = r.offset;
	return 0;
}

/* --- --listen: the HTTP request ------------------------------------------------------- */

bool ws_http_head_done(const char *req, size_t n)
{
	/* memmem, not strstr: a NUL byte must not hide the end of the head. */
	return memmem(req, n, "\r\n\r\n", 4) || memmem(req, n, "\n\n", 2);
}

int ws_http_route(const char *req, size_t n, bool *head)
{
	const char *eol = req, *sp, *path, *pend;
	size_t mlen, plen;

	*head = false;
	while ((size_t)(eol - req) < n && *eol != '\r' && *eol != '\n' && *eol)
		eol++;
	/* A NUL in the request line: not a request line. */
	if ((size_t)(eol - req) < n && *eol == '\0')
		return 400;
	sp = memchr(req, ' ', (size_t)(eol - req));
	if (!sp)
		return 400;
	mlen = (size_t)(sp - req);
	path = sp + 1;
	pend = memchr(path, ' ', (size_t)(eol - path));
	plen = (size_t)((pend ? pend : eol) - path);
	*head = mlen == 4 && !memcmp(req, "HEAD", 4);
	if (!*head && !(mlen == 3 && !memcmp(req, "GET", 3)))
		return 405;
	if ((plen == 8 && !memcmp(path, "/metrics", 8)) ||
	    (plen >= 9 && !memcmp(path, "/metrics?", 9)))
		return 200;
	return 404;
}

/* --- the command line ------------------------------------------------------------------- */

pid_t ws_parse_pid(const char *arg)
{
	long long p;
	char *e;

	errno = 0;
	p = strtoll(arg, &e, 10);
	if (errno || *e || e == arg || p <= 0 || p > INT_MAX)
		return 0;
	return (pid_t)p;
}

int ws_parse_seconds(const char *arg, double lo, double hi, double *out)
{
	char *e;
	double v;

	errno = 0;
	v = strtod(arg, &e);
	if (errno || *e || e == arg || !isfinite(v) || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int ws_parse_count(const char *arg, long long lo, long long hi, long long *out)
{
	long long v;
	char *e;

	errno = 0;
	v = strtoll(arg, &e, 10);
	if (errno || *e || e == arg || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}
