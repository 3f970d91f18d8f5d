/*
 * json.c -- JSON as the library takes it: a strict RFC 8259 checker, the
 * minifier that makes a body one log line, and the json-c wrapper that
 * parses only what the checker passed.
 */
#include <stdlib.h>
#include <string.h>

#include "gpush_private.h"

/*
 * A strict RFC 8259 syntax check.  json-c accepts more than JSON even in
 * strict mode (single-quoted strings, NaN, Infinity), and what it accepts
 * it would write back into the log, so every text is checked here first.
 * Nesting deeper than JSON_DEPTH is refused.
 */

struct jcur {
	const char *p, *end;
};

static void
jws(struct jcur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' ||
	    *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int
jlit(struct jcur *c, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return 0;
	c->p += n;
	return 1;
}

static int
jdigits(struct jcur *c)
{
	const char *s = c->p;

	while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
		c->p++;
	return c->p > s;
}

static int
jnumber(struct jcur *c)
{
	if (c->p < c->end && *c->p == '-')
		c->p++;
	if (c->p < c->end && *c->p == '0')
		c->p++;
	else if (!(c->p < c->end && *c->p >= '1' && *c->p <= '9') || !jdigits(c))
		return 0;
	if (c->p < c->end && *c->p == '.' && (c->p++, !jdigits(c)))
		return 0;
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		if (!jdigits(c))
			return 0;
	}
	return 1;
}

/* Four hex digits at c->p as a code unit; -1 when they are not. */
static long
jhex4(struct jcur *c)
{
	long v = 0;

	for (int i = 0; i < 4; i++, c->p++) {
		/* ASCII by hand: <ctype.h> goes through the locale's tables */
		unsigned char h = c->p < c->end ? (unsigned char)*c->p : 0;
		if (h >= '0' && h <= '9')
			v = v * 16 + (h - '0');
		else if ((h | 0x20) >= 'a' && (h | 0x20) <= 'f')
			v = v * 16 + ((h | 0x20) - 'a' + 10);
		else
			return -1;
	}
	return v;
}

/* A string; \u escapes of surrogates must pair up (RFC 7493, I-JSON):
 * json-c would turn a lone one into U+FFFD and other readers fail. */
static int
jstring(struct jcur *c)
{
	if (c->p >= c->end || *c->p++ != '"')
		return 0;
	while (c->p < c->end) {
		unsigned char ch;
		long u;
		c->p += gpush__json_plain_prefix(c->p, (size_t)(c->end - c->p));
		if (c->p >= c->end)
			return 0;
		ch = (unsigned char)*c->p++;
		if (ch == '"')
			return 1;
		if (ch < 0x20)
			return 0;
		if (ch != '\\')
			continue;
		if (c->p >= c->end)
			return 0;
		ch = (unsigned char)*c->p++;
		if (ch != 'u') {
			if (strchr("\"\\/bfnrt", ch) == NULL || ch == '\0')
				return 0;
			continue;
		}
		if ((u = jhex4(c)) < 0 || (u >= 0xdc00 && u <= 0xdfff))
			return 0;
		if (u >= 0xd800 && u <= 0xdbff) {
			if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u')
				return 0;
			c->p += 2;
			if ((u = jhex4(c)) < 0xdc00 || u > 0xdfff)
				return 0;
		}
	}
	return 0;
}

static int jvalue(struct jcur *c, int depth, int max);

/* An object or an array: open, members separated by ',', close. */
static int
jcontainer(struct jcur *c, int depth, int max, char close, int object)
{
	c->p++;
	jws(c);
	if (c->p < c->end && *c->p == close) {
		c->p++;
		return 1;
	}
	for (;;) {
		jws(c);
		if (object) {
			if (!jstring(c))
				return 0;
			jws(c);
			if (c->p >= c->end || *c->p++ != ':')
				return 0;
		}
		if (!jvalue(c, depth + 1, max))
			return 0;
		jws(c);
		if (c->p >= c->end)
			return 0;
		if (*c->p == close) {
			c->p++;
			return 1;
		}
		if (*c->p++ != ',')
			return 0;
	}
}

static int
jvalue(struct jcur *c, int depth, int max)
{
	if (depth > max)
		return 0;
	jws(c);
	if (c->p >= c->end)
		return 0;
	switch (*c->p) {
	case '{': return jcontainer(c, depth, max, '}', 1);
	case '[': return jcontainer(c, depth, max, ']', 0);
	case '"': return jstring(c);
	case 't': return jlit(c, "true");
	case 'f': return jlit(c, "false");
	case 'n': return jlit(c, "null");
	default:  return jnumber(c);
	}
}

/* 1 when s[0..len) is exactly one JSON value, nested at most depth
 * deep, with white space around it. */
int
gpush__json_valid_depth(const char *s, size_t len, int depth)
{
	struct jcur c = { s, s + len };

	if (!jvalue(&c, 1, depth))
		return 0;
	jws(&c);
	return c.p == c.end;
}

int
gpush__json_valid(const char *s, size_t len)
{
	return gpush__json_valid_depth(s, len, JSON_DEPTH);
}

/*
 * Copies valid JSON s[0..len) into out without the white space between
 * tokens, so that a body of several lines becomes part of one log line.
 * Inside strings, C1 controls and U+2028/U+2029 -- line breaks to many
 * readers -- are written as \u escapes: the same JSON, one line for all.
 * out must hold 3 * len bytes; returns the length written.
 */
size_t
gpush__json_minify(const char *s, size_t len, char *out)
{
	static const char hx[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t o = 0;
	int in_str = 0, esc = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned cp = 0;
		if (in_str && !esc) {
			/* a run that needs no look, copied whole */
			size_t n = gpush__json_plain_prefix(s + i, len - i);
			memcpy(out + o, s + i, n);
			o += n;
			if ((i += n) >= len)
				break;
		}
		if (in_str && !esc && u[i] == 0xc2 && i + 1 < len &&
		    u[i + 1] >= 0x80 && u[i + 1] <= 0x9f)
			cp = u[i + 1];
		else if (in_str && !esc && u[i] == 0xe2 && i + 2 < len &&
		    u[i + 1] == 0x80 && (u[i + 2] == 0xa8 || u[i + 2] == 0xa9))
			cp = 0x2000;
		if (cp != 0) {
			if (cp >= 0x2000)
				cp = u[i + 2] == 0xa8 ? 0x2028 : 0x2029;
			out[o++] = '\\';
			out[o++] = 'u';
			out[o++] = hx[cp >> 12];
			out[o++] = hx[(cp >> 8) & 15];
			out[o++] = hx[(cp >> 4) & 15];
			out[o++] = hx[cp & 15];
			i += cp >= 0x2000 ? 2 : 1;
			continue;
		}
		char ch = s[i];
		if (in_str) {
			out[o++] = ch;
			if (esc)
				esc = 0;
			else if (ch == '\\')
				esc = 1;
			else if (ch == '"')
				in_str = 0;
		} else if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
			out[o++] = ch;
			in_str = ch == '"';
		}
	}
	return o;
}

/*
 * Parses s[0..len) as exactly one strict JSON value in UTF-8, white space
 * around it allowed, nested at most JSON_DEPTH + 1 deep (a log record is
 * one level deeper than the body it holds).  Reads nothing past len.
 * *out is the caller's reference; NULL with BODY on any error -- and
 * also for the text "null", which json-c represents as NULL.
 */
enum gpush_err
gpush__json_parse(const char *s, size_t len, struct json_object **out)
{
	struct json_tokener *tok;
	struct json_object *o;

	*out = NULL;
	if (len >= INT32_MAX || memchr(s, '\0', len) != NULL ||
	    !gpush__utf8_ok((const unsigned char *)s, len) ||
	    !gpush__json_valid_depth(s, len, JSON_DEPTH + 1))
		return GPUSH_ERR_BODY;
	if ((tok = json_tokener_new_ex(JSON_DEPTH + 2)) == NULL)
		return GPUSH_ERR_NOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, s, (int)len);
	/* A bare number or literal at the very end is complete only once
	 * something follows it: a space ends it without reading past s. */
	if (o == NULL && json_tokener_get_error(tok) == json_tokener_continue)
		o = json_tokener_parse_ex(tok, " ", 1);
	if (o != NULL && json_tokener_get_error(tok) != json_tokener_success)
		o = (json_object_put(o), NULL);
	json_tokener_free(tok);
	if (o == NULL)
		return GPUSH_ERR_BODY;
	*out = o;
	return GPUSH_OK;
}
