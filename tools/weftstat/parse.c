// SPDX-License-Identifier: MIT
/*
 * parse.c - weftstat's parsers of untrusted input (parse.h): the target's
 * /proc files, code bytes and task records, symbol names, the --listen
 * request, the command line. Pure functions of their bytes, bounded by
 * their arguments, so that tests/fuzz/ can feed them anything; the tool
 * runs as root and the target (its files, its memory) may be hostile.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/registry.h>

#include "parse.h"
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
 * Rust's legacy symbol mangling, "_ZN" then length-prefixed path segments,
 * the last "h" and 16 hex digits (a hash), then "E": written out as
 * "a::b::c" with the hash dropped and the "$..$" escapes decoded. Anything
 * else (C, C++, Rust v0 "_R" names) is copied as it is. The name is
 * untrusted: every length is checked against the string and the output.
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
