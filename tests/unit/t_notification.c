/* Unit tests: header parsing, verification and the log record. */
#include "lib_all.h"
#include "tap.h"

/* Headers as a NULL-terminated list of name, value pairs. */
static const char *
get(void *ctx, const char *name)
{
	const char **h = ctx;

	for (; h[0] != NULL; h += 2)
		if (strcasecmp(h[0], name) == 0)
			return h[1];
	return NULL;
}

#define BASE(state, num) \
	"x-goog-channel-id", "ch1", "X-GOOG-CHANNEL-TOKEN", "tok", \
	"X-Goog-Resource-Id", "r1", "X-Goog-Resource-Uri", "https://x/y", \
	"X-Goog-Resource-State", state, "X-Goog-Message-Number", num

static enum gpush_err
parse(const char **h, struct gpush_notification **n)
{
	*n = (struct gpush_notification *)0x1; /* junk, must be cleared */
	return gpush_notification_parse(get, h, n);
}

static void
test_parse(void)
{
	struct gpush_notification *n;
	const char *h1[] = { BASE("sync", "1"), "X-Goog-Channel-Expiration",
	    "Tue, 29 Oct 2013 20:32:02 GMT", NULL };
	const char *h2[] = { BASE("update", "236440"), "X-Goog-Changed",
	    " content, ,properties ", NULL };

	ok(parse(h1, &n) == GPUSH_OK && n != NULL, "sync parses");
	is_str(gpush_notification_channel_id(n), "ch1", "channel id");
	is_str(gpush_notification_token(n), "tok", "token");
	is_str(gpush_notification_state(n), "sync", "state");
	is_int(gpush_notification_number(n), 1, "number");
	is_int(gpush_notification_expiration(n), 1383078722000LL, "expiration");
	gpush_notification_free(n);
	ok(parse(h2, &n) == GPUSH_OK, "update with X-Goog-Changed parses");
	is_int(gpush_notification_expiration(n), -1, "no expiration header: -1");
	is_str(json_object_to_json_string_ext(n->changed, JSON_C_TO_STRING_PLAIN),
	    "[\"content\",\"properties\"]", "changed split and trimmed");
	gpush_notification_free(n);
	gpush_notification_free(NULL);
	ok(1, "gpush_notification_free(NULL) is a no-op");
}

static void
test_parse_errors(void)
{
	static const struct { const char *name, *value; enum gpush_err e; } bad[] = {
		{ "X-Goog-Message-Number", "104, 105", GPUSH_ERR_NUMBER },
		{ "X-Goog-Message-Number", "0", GPUSH_ERR_NUMBER },
		{ "X-Goog-Message-Number", "", GPUSH_ERR_NUMBER },
		{ "X-Goog-Message-Number", "9223372036854775808", GPUSH_ERR_NUMBER },
		{ "X-Goog-Resource-State", "", GPUSH_ERR_HEADER },
		{ "X-Goog-Resource-Id", "a\nb", GPUSH_ERR_HEADER },
		{ "X-Goog-Resource-Uri", "\xff", GPUSH_ERR_HEADER },
		{ "X-Goog-Channel-Id", "0123456789012345678901234567890123456789012345678901234567890123x", GPUSH_ERR_HEADER },
		{ "X-Goog-Channel-Expiration", "tomorrow", GPUSH_ERR_DATE },
		{ "X-Goog-Channel-Token", "a\x01", GPUSH_ERR_HEADER },
	};
	struct gpush_notification *n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* The bad header first: get() returns the first match. */
		const char *h[] = { bad[i].name, bad[i].value, BASE("update", "5"), NULL };
		enum gpush_err e = parse(h, &n);
		ok(e == bad[i].e && n == NULL, "bad header %zu (%s) -> %s", i,
		    bad[i].name, gpush_strerror(e));
	}
	const char *sync2[] = { BASE("sync", "2"), NULL };
	ok(parse(sync2, &n) == GPUSH_ERR_SYNC && n == NULL, "sync with 2");
	const char *none[] = { NULL };
	ok(parse(none, &n) == GPUSH_ERR_HEADER && n == NULL, "no headers");
}

static void
test_cgi_getter(void)
{
	char *envp[] = { "HTTP_X_GOOG_CHANNEL_ID=abc", "HTTP_X_GOOG_CHANNEL_IDX=no",
	    "X_GOOG_CHANNEL_TOKEN=no", "HTTP_X_GOOG_MESSAGE_NUMBER=7", NULL };

	is_str(gpush_header_cgi(envp, "X-Goog-Channel-ID"), "abc", "cgi getter maps names");
	is_str(gpush_header_cgi(envp, "X-Goog-Channel-Token"), NULL,
	    "cgi getter reads only HTTP_*");
	is_str(gpush_header_cgi(envp, "X-Goog-Message-Number"), "7", "cgi getter number");
}

static void
test_verify_and_record(void)
{
	const char *h[] = { BASE("update", "9"), NULL };
	struct gpush_notification *n;
	struct gpush_channel *c;
	char *line;
	size_t len;
	const char *reg = "{\"id\":\"ch1\",\"token\":\"tok\",\"expiration\":\"2000\"}";

	parse(h, &n);
	ok(gpush_channel_parse(reg, strlen(reg), &c) == GPUSH_OK, "registry line");
	is_int(gpush_notification_verify(n, c, 1999), GPUSH_OK, "before expiry");
	is_int(gpush_notification_verify(n, c, 2000), GPUSH_ERR_EXPIRED, "at expiry");
	gpush_channel_set(c, "token", "tok2");
	is_int(gpush_notification_verify(n, c, 0), GPUSH_ERR_TOKEN, "wrong token");
	gpush_channel_set(c, "token", NULL);
	is_int(gpush_notification_verify(n, c, 0), GPUSH_OK, "no registry token");
	gpush_channel_free(c);

	ok(gpush_notification_set_body(n, "{\"k\":\"\\u0000\\\"</\\u2028\"}", 24)
	    == GPUSH_OK, "hostile body parses");
	line = (char *)0x1;
	ok(gpush_notification_record(n, 1763787600123LL, &line, &len) == GPUSH_OK,
	    "record builds");
	is_str(line, "{\"received_at\":\"2025-11-22T05:00:00.123Z\",\"channel_id\":"
	    "\"ch1\",\"message_number\":9,\"resource_state\":\"update\","
	    "\"resource_id\":\"r1\",\"resource_uri\":\"https://x/y\",\"body\":"
	    "{\"k\":\"\\u0000\\\"</\\u2028\"}}\n", "record is one line, body as it came");
	ok(strstr(line, "tok") == NULL, "record never holds the token");
	ok(len == strlen(line), "record length");
	free(line);
	ok(gpush_notification_set_body(n, "{\"a\":1", 6) == GPUSH_ERR_BODY &&
	    n->body == NULL, "bad body leaves none");
	{
		static const struct { const char *in, *want; } bodies[] = {
			{ "{\n  \"a\" : [1, 2],\r\n\t\"s\": \"x  y\\\" z\"\n}\n",
			  "{\"a\":[1,2],\"s\":\"x  y\\\" z\"}" },
			{ "null", "null" },
			{ "\"a\xe2\x80\xa8" "b\xc2\x85" "c\xe2\x80\xa9\"", "\"a\\u2028b\\u0085c\\u2029\"" },
			{ "18446744073709551616", "18446744073709551616" },
			{ "\"\\ud83c\\udf89\"", "\"\\ud83c\\udf89\"" },
		};
		for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
			ok(gpush_notification_set_body(n, bodies[i].in, strlen(bodies[i].in))
			    == GPUSH_OK && strcmp(n->body, bodies[i].want) == 0,
			    "body %zu kept, minified: %s", i, n->body ? n->body : "(none)");
		}
		ok(gpush_notification_set_body(n, "\"\\ud800\"", 8) == GPUSH_ERR_BODY,
		    "a lone surrogate escape is refused");
		ok(gpush_notification_set_body(n, "\"\\udc00\\ud800\"", 14) == GPUSH_ERR_BODY,
		    "a reversed pair is refused");
		char deep[129];
		memset(deep, '[', 64);
		memset(deep + 64, ']', 64);
		deep[128] = '\0';
		ok(gpush_notification_set_body(n, deep, 128) == GPUSH_OK,
		    "a body nested 64 deep is taken");
		ok(gpush_notification_record(n, 0, &line, &len) == GPUSH_OK &&
		    gpush__json_parse(line, len, &(struct json_object *){0}) == GPUSH_OK,
		    "and its record (65 deep) parses back, so it can be adopted");
		free(line);
		ok(gpush_notification_set_body(n, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", 130)
		    == GPUSH_ERR_BODY, "65 deep is refused");
	}
	char big[GPUSH_BODY_MAX + 2];
	memset(big, ' ', sizeof(big));
	ok(gpush_notification_set_body(n, big, sizeof(big)) == GPUSH_ERR_TOOBIG,
	    "body over 64 KiB");
	gpush_notification_free(n);
}

/* Header values with what a JSON string must escape, and non-ASCII, at
 * every offset of a word (the record's run copying, issue 12): the record
 * parses back to the values as they came. */
static void
test_record_escapes(void)
{
	static const char *const odd[] = { "\"", "\\", "\xc3\xa9", "\xe2\x82\xac" };
	size_t bad = 0, cases = 0;

	for (size_t k = 0; k < sizeof(odd) / sizeof(odd[0]); k++)
		for (size_t at = 0; at < 20; at++) {
			char uri[64];
			const char *h[] = { "X-Goog-Channel-ID", "ch1",
			    "X-Goog-Resource-Id", "r1", "X-Goog-Resource-Uri", uri,
			    "X-Goog-Resource-State", "update",
			    "X-Goog-Message-Number", "2", "X-Goog-Changed", uri, NULL };
			struct gpush_notification *n;
			struct json_object *o = NULL, *v, *a;
			char *line = NULL;
			size_t len;

			snprintf(uri, sizeof(uri), "%.*s%s%s", (int)at,
			    "https://example.com/abcdefgh", odd[k], "/tail-of-it");
			cases++;
			if (parse(h, &n) != GPUSH_OK ||
			    gpush_notification_record(n, 0, &line, &len) != GPUSH_OK ||
			    (o = json_tokener_parse(line)) == NULL ||
			    !json_object_object_get_ex(o, "resource_uri", &v) ||
			    strcmp(json_object_get_string(v), uri) != 0 ||
			    !json_object_object_get_ex(o, "changed", &a) ||
			    strcmp(json_object_get_string(json_object_array_get_idx(a, 0)),
			    uri) != 0 || len != strlen(line))
				bad++;
			json_object_put(o);
			free(line);
			gpush_notification_free(n);
		}
	ok(bad == 0, "record: escapes and non-ASCII at every offset parse back (%zu of %zu "
	    "differ)", bad, cases);
}

int
main(void)
{
	test_parse();
	test_parse_errors();
	test_cgi_getter();
	test_verify_and_record();
	test_record_escapes();
	return tap_done();
}
