/*
 * fuzz_common.h -- what every libFuzzer target of libgpush shares.
 *
 * A target includes the library's sources (as the unit tests do), so it
 * reaches the private structs and static helpers, and is built with
 * clang -fsanitize=fuzzer,address,undefined (mk/fuzz.mk).  A broken
 * invariant is reported with FUZZ_CHECK, which prints what was expected
 * and aborts: libFuzzer then saves the input as a crash file.
 *
 * The helpers here are deliberately written independently of lib/ (their
 * own UTF-8 decoder, their own record checks), so that a target compares
 * the library with something other than itself.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include "../unit/lib_all.h"

#include <sys/mman.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_FN static __attribute__((unused))

#define FUZZ_CHECK(cond, ...) do {                                      \
	if (!(cond)) {                                                  \
		fprintf(stderr, "\n==FUZZ== invariant broken at %s:%d: %s\n", \
		    __FILE__, __LINE__, #cond);                         \
		fprintf(stderr, "==FUZZ== " __VA_ARGS__);               \
		fputc('\n', stderr);                                    \
		abort();                                                \
	}                                                               \
} while (0)

/*
 * A check that a known, reported library bug breaks:
 *     if (!FUZZ_KNOWN(cond, sig, "bug-name", fmt, ...)) goto out;
 * is 1 when cond holds.  When it does not, it fails like FUZZ_CHECK, so
 * that the regression inputs in tests/fuzz/regress/ keep failing until
 * the bug is fixed -- unless FUZZ_SKIP_KNOWN is set in the environment and
 * the input breaks cond in the known way (sig true): then it is 0 and the
 * caller skips the rest of its checks, so that fuzzing can go on looking
 * for new bugs (the runner fuzzes that way).
 */
#define FUZZ_KNOWN(cond, sig, bug, ...) \
	((cond) || fuzz_known_skip((sig), bug, __FILE__, __LINE__, __VA_ARGS__))

FUZZ_FN int __attribute__((format(printf, 5, 6)))
fuzz_known_skip(int sig, const char *bug, const char *file, int line,
    const char *fmt, ...)
{
	va_list ap;

	if (sig && getenv("FUZZ_SKIP_KNOWN") != NULL)
		return 0;
	fprintf(stderr, "\n==FUZZ== invariant broken at %s:%d%s%s\n==FUZZ== ",
	    file, line, sig ? ": known bug " : "", sig ? bug : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* 1 unless FUZZ_SKIP_KNOWN is set: for checks of a known bug that cannot
 * be skipped after the fact (a crash). */
FUZZ_FN int
fuzz_known_enabled(void)
{
	return getenv("FUZZ_SKIP_KNOWN") == NULL;
}

/*
 * data[0..size) copied to the very end of a readable mapping, with a
 * PROT_NONE page right after it: reading one byte past size faults.  (ASan
 * does not see such reads inside json-c, which is not instrumented.)
 */
struct fuzz_guard {
	void   *map;
	size_t  len;
};

FUZZ_FN const char *
fuzz_guard_new(struct fuzz_guard *g, const uint8_t *data, size_t size)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = (size + pg - 1) / pg;
	char *p;

	if (n == 0)
		n = 1;
	g->len = (n + 1) * pg;
	g->map = mmap(NULL, g->len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->map == MAP_FAILED ||
	    mprotect((char *)g->map + n * pg, pg, PROT_NONE) < 0)
		abort();
	p = (char *)g->map + n * pg - size;
	if (size > 0)
		memcpy(p, data, size);
	return p;
}

FUZZ_FN void
fuzz_guard_free(struct fuzz_guard *g)
{
	munmap(g->map, g->len);
}

/* How deeply o nests arrays and objects (a scalar is 0). */
FUZZ_FN int
fuzz_json_depth(struct json_object *o)
{
	int d = 0;

	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			int k = fuzz_json_depth(json_object_array_get_idx(o, i));
			if (k > d)
				d = k;
		}
		return d + 1;
	}
	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, key, v) {
			int k = fuzz_json_depth(v);
			(void)key;
			if (k > d)
				d = k;
		}
		return d + 1;
	}
	return 0;
}

/* A NUL-terminated heap copy of data[0..size) in a block of exactly
 * size + 1 bytes, so that ASan sees any read past the terminator. */
FUZZ_FN char *
fuzz_dup0(const uint8_t *data, size_t size)
{
	char *p = malloc(size + 1);

	if (p == NULL)
		abort();
	if (size > 0)
		memcpy(p, data, size);
	p[size] = '\0';
	return p;
}

FUZZ_FN int
fuzz_streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

FUZZ_FN const char *
fuzz_str(const char *s)
{
	return s != NULL ? s : "(null)";
}

/*
 * Reference UTF-8 check (RFC 3629): decodes every sequence by its length
 * class and checks the code point's range.  Returns 1 for valid UTF-8.
 */
FUZZ_FN int
fuzz_utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned long cp;
		size_t n;
		unsigned char b = s[i];

		if (b <= 0x7f) {
			i++;
			continue;
		} else if ((b & 0xe0) == 0xc0) {
			n = 2; cp = b & 0x1f;
		} else if ((b & 0xf0) == 0xe0) {
			n = 3; cp = b & 0x0f;
		} else if ((b & 0xf8) == 0xf0) {
			n = 4; cp = b & 0x07;
		} else {
			return 0;
		}
		if (i + n > len)
			return 0;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
		    (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n;
	}
	return 1;
}

/* A header value, id or token: UTF-8 with no control (C0, DEL, C1) and
 * no U+2028/U+2029; decoded here code point by code point. */
FUZZ_FN int
fuzz_text_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	if (!fuzz_utf8_valid(u, len))
		return 0;
	for (size_t i = 0; i < len;) {
		unsigned long cp = u[i];
		size_t n = cp < 0x80 ? 1 : cp < 0xe0 ? 2 : cp < 0xf0 ? 3 : 4;
		if (n > 1) {
			cp &= 0x7f >> n;
			for (size_t k = 1; k < n; k++)
				cp = (cp << 6) | (u[i + k] & 0x3f);
		}
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 ||
		    cp == 0x2029)
			return 0;
		i += n;
	}
	return 1;
}

/* Parses text with json-c the way the library means JSON: strict, deep
 * enough for JSON_DEPTH.  *ok is 1 when json-c takes it as one value
 * followed by white space only; the value is returned (NULL for JSON
 * null, and when *ok is 0).  text must be NUL-terminated at len. */
FUZZ_FN struct json_object *
fuzz_jsonc_parse(const char *text, size_t len, int *ok)
{
	struct json_tokener *tok = json_tokener_new_ex(JSON_DEPTH + 2);
	struct json_object *o;
	size_t end;

	if (tok == NULL)
		abort();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, text, (int)len + 1);
	end = json_tokener_get_parse_end(tok);
	*ok = json_tokener_get_error(tok) == json_tokener_success;
	for (; *ok && end < len; end++)
		if (strchr(" \t\r\n", text[end]) == NULL)
			*ok = 0;
	if (!*ok)
		o = (json_object_put(o), NULL);
	json_tokener_free(tok);
	return o;
}

/* "2026-11-22T05:00:00.123Z" */
FUZZ_FN int
fuzz_rfc3339_form(const char *s)
{
	static const char form[] = "dddd-dd-ddTdd:dd:dd.dddZ";

	if (s == NULL || strlen(s) != sizeof(form) - 1)
		return 0;
	for (size_t i = 0; form[i] != '\0'; i++)
		if (form[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != form[i])
			return 0;
	return 1;
}

FUZZ_FN const char *
fuzz_get_string(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/*
 * The invariants of a log record for n at now_ms (the brief's list):
 * gpush_notification_record() succeeds, or fails with BODY only when the
 * caller says the body may be refused; the record is one line of valid
 * UTF-8 ending in '\n' that passes the strict JSON check and parses back
 * to n's fields; it never depends on the token (the record of n with the
 * token removed or replaced is the same bytes), so it cannot hold it.
 */
FUZZ_FN void
fuzz_check_record(const struct gpush_notification *n, int64_t now_ms,
    int body_may_fail)
{
	struct gpush_notification alt;
	struct json_object *o, *v;
	char *rec, *rec2;
	size_t len, len2;
	enum gpush_err e;
	int keys, ok;

	e = gpush_notification_record(n, now_ms, &rec, &len);
	if (e == GPUSH_ERR_BODY && body_may_fail) {
		FUZZ_CHECK(rec == NULL && len == 0, "error leaves no record");
		return;
	}
	FUZZ_CHECK(e == GPUSH_OK, "record failed: %s", gpush_strerror(e));
	FUZZ_CHECK(rec != NULL && len > 0 && strlen(rec) == len,
	    "record length %zu, strlen %zu", len, rec ? strlen(rec) : 0);
	FUZZ_CHECK(rec[len - 1] == '\n', "record does not end in a newline");
	FUZZ_CHECK(memchr(rec, '\n', len - 1) == NULL,
	    "record is more than one line: %s", rec);
	FUZZ_CHECK(fuzz_utf8_valid((const unsigned char *)rec, len),
	    "record is not UTF-8: %s", rec);
	/* One level deeper than its body, and still within what the library
	 * parses back (logfile.c's adopt_line()). */
	FUZZ_CHECK(gpush__json_valid_depth(rec, len - 1, JSON_DEPTH + 1),
	    "record fails the strict JSON check: %s", rec);

	/* The record does not depend on the token at all. */
	static const char *const other[] = { NULL, "", "another-token" };
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		alt = *n;
		alt.token = (char *)other[i];
		e = gpush_notification_record(&alt, now_ms, &rec2, &len2);
		FUZZ_CHECK(e == GPUSH_OK && len2 == len &&
		    memcmp(rec, rec2, len) == 0,
		    "record depends on the token: %s vs %s", rec, fuzz_str(rec2));
		free(rec2);
	}

	/* It parses back to what n holds. */
	o = fuzz_jsonc_parse(rec, len, &ok);
	FUZZ_CHECK(ok && json_object_is_type(o, json_type_object),
	    "json-c cannot parse the record: %s", rec);
	FUZZ_CHECK(fuzz_rfc3339_form(fuzz_get_string(o, "received_at")),
	    "received_at: %s", rec);
	FUZZ_CHECK(fuzz_streq(fuzz_get_string(o, "channel_id"), n->channel_id),
	    "channel_id: %s", rec);
	FUZZ_CHECK(fuzz_streq(fuzz_get_string(o, "resource_state"), n->state),
	    "resource_state: %s", rec);
	FUZZ_CHECK(fuzz_streq(fuzz_get_string(o, "resource_id"), n->resource_id),
	    "resource_id: %s", rec);
	FUZZ_CHECK(fuzz_streq(fuzz_get_string(o, "resource_uri"),
	    n->resource_uri), "resource_uri: %s", rec);
	FUZZ_CHECK(json_object_object_get_ex(o, "message_number", &v) &&
	    json_object_is_type(v, json_type_int) &&
	    json_object_get_int64(v) == n->number, "message_number: %s", rec);
	keys = 6;
	if (n->expiration >= 0) {
		FUZZ_CHECK(json_object_object_get_ex(o, "channel_expiration", &v) &&
		    json_object_is_type(v, json_type_int) &&
		    json_object_get_int64(v) == n->expiration,
		    "channel_expiration: %s", rec);
		keys++;
	}
	if (n->changed != NULL) {
		FUZZ_CHECK(json_object_object_get_ex(o, "changed", &v) &&
		    json_object_equal(v, n->changed), "changed: %s", rec);
		keys++;
	}
	if (n->body != NULL) {
		int bok;
		struct json_object *b = fuzz_jsonc_parse(n->body, n->body_len, &bok);
		FUZZ_CHECK(bok && json_object_object_get_ex(o, "body", &v) &&
		    json_object_equal(v, b), "body: %s", rec);
		json_object_put(b);
		keys++;
	}
	FUZZ_CHECK(json_object_object_length(o) == keys,
	    "record has %d keys, expected %d: %s",
	    json_object_object_length(o), keys, rec);
	FUZZ_CHECK(!json_object_object_get_ex(o, "token", NULL),
	    "record has a token key: %s", rec);
	json_object_put(o);
	free(rec);
}

#endif /* FUZZ_COMMON_H */
