/*
 * fuzz_body.c -- the body-to-log path: gpush_notification_set_body() and
 * gpush_notification_record(), with the strict JSON check
 * gpush__json_valid() and the UTF-8 checks under them.
 *
 * Input: the request body.  The notification around it comes from fixed
 * headers (with a token, an expiration and X-Goog-Changed).
 *
 * Checks:
 *  - gpush__utf8_ok() and gpush__text_ok() agree with a reference
 *    decoder, and gpush__json_valid() reads nothing past its length (they
 *    get libFuzzer's buffer itself, of exactly the input's size);
 *  - json-c (strict, the library's depth) parses everything that
 *    gpush__json_valid() accepts, to one value followed by white space;
 *  - set_body accepts exactly the empty body and UTF-8 strict JSON
 *    without NUL bytes, refuses a body over GPUSH_BODY_MAX from its length
 *    alone, and keeps no body after an error;
 *  - the record passes fuzz_check_record(): one '\n'-terminated line of
 *    UTF-8 that passes the strict JSON check, parses back to the
 *    notification's fields and body, and does not depend on the token.
 *    The record may be refused (BODY) only for a body with a surrogate
 *    escape, which json-c could turn into bytes that are not UTF-8.
 */
#include "fuzz_common.h"

#define NOW_MS INT64_C(1764614400123)

static const char *
fixed_header(void *ctx, const char *name)
{
	static const char *const h[][2] = {
		{ "X-Goog-Channel-ID", "dir-users" },
		{ "X-Goog-Channel-Token", "398348u3tu83ut8uu38" },
		{ "X-Goog-Message-Number", "3" },
		{ "X-Goog-Resource-State", "update" },
		{ "X-Goog-Resource-ID", "ret08u3rv24htgh289g" },
		{ "X-Goog-Resource-URI", "https://admin.googleapis.com/admin/"
		    "directory/v1/users?domain=mydomain.com&event=add" },
		{ "X-Goog-Channel-Expiration", "Tue, 29 Oct 2013 20:32:02 GMT" },
		{ "X-Goog-Changed", "content, properties" },
	};

	(void)ctx;
	for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++)
		if (strcmp(name, h[i][0]) == 0)
			return h[i][1];
	return NULL;
}

/* A \uD800..\uDFFF escape anywhere in s? */
static int
has_surrogate_escape(const char *s, size_t len)
{
	for (size_t i = 0; i + 3 < len; i++)
		if (s[i] == '\\' && s[i + 1] == 'u' && (s[i + 2] | 0x20) == 'd' &&
		    strchr("89abcdefABCDEF", s[i + 3]) != NULL && s[i + 3] != '\0')
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *raw = (const char *)data;
	struct gpush_notification *n;
	struct json_object *jc;
	char *body;
	enum gpush_err e, want;
	int valid, utf8, nul, jc_ok;

	utf8 = fuzz_utf8_valid(data, size);
	FUZZ_CHECK(gpush__utf8_ok(data, size) == utf8,
	    "gpush__utf8_ok says %d, the reference %d", !utf8, utf8);
	FUZZ_CHECK(gpush__text_ok(raw, size) == fuzz_text_valid(raw, size),
	    "gpush__text_ok disagrees with the reference");
	valid = gpush__json_valid(raw, size);
	nul = memchr(data, '\0', size) != NULL;
	FUZZ_CHECK(!(valid && nul), "gpush__json_valid accepts a NUL byte");

	body = fuzz_dup0(data, size);
	jc = fuzz_jsonc_parse(body, size, &jc_ok);
	FUZZ_CHECK(!valid || jc_ok,
	    "gpush__json_valid accepts what json-c refuses: %s", body);

	e = gpush_notification_parse(fixed_header, NULL, &n);
	FUZZ_CHECK(e == GPUSH_OK, "fixed headers: %s", gpush_strerror(e));
	FUZZ_CHECK(gpush_notification_set_body(n, body, GPUSH_BODY_MAX + 1) ==
	    GPUSH_ERR_TOOBIG && n->body == NULL, "body over the limit");

	e = gpush_notification_set_body(n, body, size);
	if (size == 0)
		want = GPUSH_OK;
	else if (size > GPUSH_BODY_MAX)
		want = GPUSH_ERR_TOOBIG;
	else
		want = !nul && utf8 && valid ? GPUSH_OK : GPUSH_ERR_BODY;
	/* The body "null" is a body too (once a 400: json-c says NULL). */
	FUZZ_CHECK(e == want, "set_body: %s, expected %s: %s",
	    gpush_strerror(e), gpush_strerror(want), body);
	if (e == GPUSH_OK && size > 0) {
		int kept_ok;
		FUZZ_CHECK(n->body != NULL && n->body_len <= 3 * size &&
		    strlen(n->body) == n->body_len, "no body kept");
		struct json_object *kept = fuzz_jsonc_parse(n->body, n->body_len,
		    &kept_ok);
		FUZZ_CHECK(kept_ok && json_object_equal(kept, jc),
		    "the kept body is not the same JSON: %s -> %s", body, n->body);
		json_object_put(kept);
	} else {
		FUZZ_CHECK(n->body == NULL, "a body is kept");
	}

	fuzz_check_record(n, NOW_MS, has_surrogate_escape(body, size));

	/* An empty body afterwards drops it. */
	FUZZ_CHECK(gpush_notification_set_body(n, NULL, 0) == GPUSH_OK &&
	    n->body == NULL, "empty body");
	FUZZ_CHECK(gpush_notification_set_body(n, NULL, 1) == GPUSH_ERR_ARG,
	    "NULL body");
	/*
	 * read-past-len (fixed): set_body has a length and nothing says the
	 * body ends in NUL, so it must read nothing past it; a guard page
	 * right after the bytes proves it.
	 */
	if (size > 0 && size <= GPUSH_BODY_MAX) {
		struct fuzz_guard g;
		const char *p = fuzz_guard_new(&g, data, size);
		enum gpush_err e2 = gpush_notification_set_body(n, p, size);
		FUZZ_CHECK(e2 == e, "a body with no NUL after it: %s, with one %s",
		    gpush_strerror(e2), gpush_strerror(e));
		fuzz_guard_free(&g);
	}
	gpush_notification_free(n);
	json_object_put(jc);
	free(body);
	return 0;
}
