/*
 * text.c -- bounded checks of untrusted text: UTF-8 and control bytes,
 * plain decimal integers, hex, and the constant-time compare of secrets.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gpush_private.h"

/*
 * Eight bytes at a time (the word tests of "Bit Twiddling Hacks", exact
 * for "is there such a byte"): the headers and bodies Google sends are
 * almost all printable ASCII, and byte-at-a-time loops over them were a
 * tenth of a request's instructions.  Words are loaded with memcpy: no
 * alignment or aliasing assumption.
 */
#define W_ONES  0x0101010101010101ULL
#define W_HIGH  0x8080808080808080ULL
#define W_HAS_ZERO(w)    (((w) - W_ONES) & ~(w) & W_HIGH)
#define W_HAS_LESS(w, n) (((w) - W_ONES * (n)) & ~(w) & W_HIGH)
#define W_HAS_BYTE(w, b) W_HAS_ZERO((w) ^ (W_ONES * (b)))

static uint64_t
word_at(const unsigned char *s)
{
	uint64_t w;

	memcpy(&w, s, sizeof(w));
	return w;
}

/* The length of u[0..len)'s longest prefix of whole words of printable
 * ASCII (0x20..0x7f) without the bytes b1 and b2. */
static size_t
ascii_words(const unsigned char *u, size_t len, unsigned char b1,
    unsigned char b2)
{
	size_t i = 0;

	while (len - i >= 8) {
		uint64_t w = word_at(u + i);
		if ((w & W_HIGH) | W_HAS_LESS(w, 0x20) | W_HAS_BYTE(w, b1) |
		    W_HAS_BYTE(w, b2))
			break;
		i += 8;
	}
	return i;
}

/*
 * The length of s[0..len)'s longest prefix of ASCII that a JSON string
 * holds as it is: no '"', no '\\', no control below 0x20 (RFC 8259,
 * section 7).  It stops at a byte over 0x7f too, which the JSON writers
 * and the minifier look at one by one (C1 controls, U+2028, U+2029).
 */
size_t
gpush__json_plain_prefix(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = ascii_words(u, len, '"', '\\');

	while (i < len && u[i] >= 0x20 && u[i] < 0x80 && u[i] != '"' &&
	    u[i] != '\\')
		i++;
	return i;
}

/*
 * Returns 1 when s[0..len) is well-formed UTF-8 (no overlongs, no
 * surrogates, nothing past U+10FFFF), else 0.
 */
int
gpush__utf8_ok(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i], need, min, cp;
		if (c < 0x80) {
			/* and the whole ASCII words after it */
			for (i++; len - i >= 8 && (word_at(s + i) & W_HIGH) == 0; )
				i += 8;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) { need = 1; min = 0x80; cp = c & 0x1f; }
		else if (c >= 0xe0 && c <= 0xef) { need = 2; min = 0x800; cp = c & 0x0f; }
		else if (c >= 0xf0 && c <= 0xf4) { need = 3; min = 0x10000; cp = c & 0x07; }
		else return 0;
		if (len - i <= need)
			return 0;
		for (unsigned k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

/* 1 when s[0..len) is UTF-8 without controls (C0, DEL, C1) and without
 * U+2028/U+2029, which many readers take for line breaks: fit for a
 * header value, an id or a token, and for one line of the log. */
int
gpush__text_ok(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	/* Printable ASCII, a word at a time: all of what Google sends; the
	 * first word that is not goes through the full checks below. */
	size_t i = ascii_words(u, len, 0x7f, 0x7f);

	u += i;
	len -= i;
	for (i = 0; i < len; i++) {
		if (u[i] < 0x20 || u[i] == 0x7f)
			return 0;
		if (u[i] == 0xc2 && i + 1 < len && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f)
			return 0;
		if (u[i] == 0xe2 && i + 2 < len && u[i + 1] == 0x80 &&
		    (u[i + 2] == 0xa8 || u[i + 2] == 0xa9))
			return 0;
	}
	return gpush__utf8_ok(u, len);
}

/* A NUL-terminated copy of s[0..len); NULL when out of memory. */
char *
gpush__strndup(const char *s, size_t len)
{
	char *p;

	if (len == SIZE_MAX || (p = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/*
 * Parses a plain decimal integer: digits only, no sign, no spaces, no
 * leading zero, at most INT64_MAX.  Returns 1 and sets *out, or 0 with
 * *out = 0.
 */
int
gpush__parse_i64(const char *s, int64_t *out)
{
	uint64_t v = 0;
	size_t i;

	*out = 0;
	/* No sign, no space, no leading zero: "01" must not alias 1. */
	if (s == NULL || s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		unsigned d = (unsigned char)s[i] - '0';
		if (d > 9 || i >= 19)
			return 0;
		v = v * 10 + d;
	}
	if (v > (uint64_t)INT64_MAX)
		return 0;
	*out = (int64_t)v;
	return 1;
}

/* Writes v in plain decimal at the start of out (no NUL); returns the
 * number of digits.  By hand, not snprintf: see gpush_format_rfc3339. */
size_t
gpush__dec(uint64_t v, char out[GPUSH__DEC_MAX])
{
	char tmp[GPUSH__DEC_MAX];
	size_t i = sizeof(tmp);

	do
		tmp[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	memcpy(out, tmp + i, sizeof(tmp) - i);
	return sizeof(tmp) - i;
}

/* Lower-case hex of s into out, truncated to fit outsz (NUL-terminated). */
void
gpush__hex(const char *s, char *out, size_t outsz)
{
	static const char hx[] = "0123456789abcdef";
	size_t o = 0;

	for (; *s != '\0' && o + 2 < outsz; s++) {
		out[o++] = hx[(unsigned char)*s >> 4];
		out[o++] = hx[(unsigned char)*s & 15];
	}
	out[o] = '\0';
}

/*
 * Compares two secrets in time that depends only on the length of b (the
 * registry's), so a sender learns nothing from how long a 401 takes.
 */
int
gpush_secret_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = (unsigned char)(la != lb);

	for (size_t i = 0; i < lb; i++)
		d |= (unsigned char)(b[i] ^ (i < la ? a[i] : (char)~b[i]));
	return d == 0;
}

/* 1 when p[0..len) is a blank line: nothing but spaces, tabs and CRs.
 * The one definition the registry's readers and its editor share. */
int
gpush__blank_line(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	return 1;
}

/*
 * Calls fn for each line of buf[0..size) that is not blank, in order:
 * line points into buf, len excludes the newline (the last line may lack
 * one), off is line's offset in buf and lineno counts every line from 1,
 * blank ones included.  A non-zero return from fn stops the walk and is
 * returned; 0 when every line was seen.
 */
int
gpush__for_each_line(const char *buf, size_t size, gpush__line_fn fn,
    void *ctx)
{
	size_t off = 0, lineno = 0;
	int rc;

	while (off < size) {
		const char *nl = memchr(buf + off, '\n', size - off);
		size_t len = nl != NULL ? (size_t)(nl - (buf + off)) : size - off;
		lineno++;
		if (!gpush__blank_line(buf + off, len) &&
		    (rc = fn(ctx, buf + off, len, off, lineno)) != 0)
			return rc;
		off += len + 1;
	}
	return 0;
}
