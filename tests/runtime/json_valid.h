/* SPDX-License-Identifier: MIT */
/*
 * json_valid.h - a strict RFC 8259 validator for tests that check a JSON
 * output without needing python3: json_valid(text) is 1 when text is one
 * JSON value (surrounded by optional whitespace), with well-formed
 * strings (escapes, no raw control characters, valid UTF-8) and numbers.
 * On failure *where (if given) is the offset of the first bad byte.
 */
#ifndef WEFT_TESTS_JSON_VALID_H
#define WEFT_TESTS_JSON_VALID_H

#include <stddef.h>
#include <string.h>

struct jv {
	const unsigned char *p, *start;
	int depth;
};

static int jv_value(struct jv *j);

static void jv_ws(struct jv *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static int jv_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int jv_utf8(struct jv *j)
{
	const unsigned char *s = j->p;
	unsigned len, cp;

	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (unsigned i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	j->p += len;
	return 1;
}

static int jv_string(struct jv *j)
{
	if (*j->p != '"')
		return 0;
	j->p++;
	for (;;) {
		unsigned char c = *j->p;

		if (c == '"') {
			j->p++;
			return 1;
		}
		if (c < 0x20)
			return 0;	/* includes the terminating NUL */
		if (c == '\\') {
			j->p++;
			c = *j->p;
			if (c == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!jv_hex(j->p[i]))
						return 0;
				j->p += 5;
			} else if (c && strchr("\"\\/bfnrt", c)) {
				j->p++;
			} else {
				return 0;
			}
		} else if (c < 0x80) {
			j->p++;
		} else if (!jv_utf8(j)) {
			return 0;
		}
	}
}

static int jv_digits(struct jv *j)
{
	const unsigned char *s = j->p;

	while (*j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s;
}

static int jv_number(struct jv *j)
{
	if (*j->p == '-')
		j->p++;
	if (*j->p == '0')
		j->p++;
	else if (!jv_digits(j))
		return 0;
	if (*j->p == '.') {
		j->p++;
		if (!jv_digits(j))
			return 0;
	}
	if (*j->p == 'e' || *j->p == 'E') {
		j->p++;
		if (*j->p == '+' || *j->p == '-')
			j->p++;
		if (!jv_digits(j))
			return 0;
	}
	return 1;
}

static int jv_lit(struct jv *j, const char *w)
{
	size_t n = strlen(w);

	if (strncmp((const char *)j->p, w, n))
		return 0;
	j->p += n;
	return 1;
}

static int jv_seq(struct jv *j, char close, int object)
{
	j->p++;
	jv_ws(j);
	if (*j->p == (unsigned char)close) {
		j->p++;
		return 1;
	}
	for (;;) {
		jv_ws(j);
		if (object) {
			if (!jv_string(j))
				return 0;
			jv_ws(j);
			if (*j->p != ':')
				return 0;
			j->p++;
		}
		if (!jv_value(j))
			return 0;
		jv_ws(j);
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p != (unsigned char)close)
			return 0;
		j->p++;
		return 1;
	}
}

static int jv_value(struct jv *j)
{
	int ok;

	jv_ws(j);
	if (++j->depth > 256)
		return 0;
	switch (*j->p) {
	case '{':
		ok = jv_seq(j, '}', 1);
		break;
	case '[':
		ok = jv_seq(j, ']', 0);
		break;
	case '"':
		ok = jv_string(j);
		break;
	case 't':
		ok = jv_lit(j, "true");
		break;
	case 'f':
		ok = jv_lit(j, "false");
		break;
	case 'n':
		ok = jv_lit(j, "null");
		break;
	default:
		ok = jv_number(j);
	}
	j->depth--;
	return ok;
}

static inline int json_valid(const char *text, size_t *where)
{
	struct jv j = { (const unsigned char *)text, (const unsigned char *)text, 0 };
	int ok = jv_value(&j);

	if (ok) {
		jv_ws(&j);
		ok = *j.p == '\0';
	}
	if (where)
		*where = (size_t)(j.p - j.start);
	return ok;
}

#endif /* WEFT_TESTS_JSON_VALID_H */
