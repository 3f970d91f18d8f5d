/* Unit tests: text checks, numbers, RFC 1123 / RFC 3339, secrets, JSON. */
#include "lib_all.h"
#include "tap.h"

static void
test_rfc1123(void)
{
	static const struct { const char *s; int64_t ms; } good[] = {
		{ "Tue, 29 Oct 2013 20:32:02 GMT", 1383078722000LL },
		{ "Mon, 09 Dec 2013 22:24:23 GMT", 1386627863000LL },
		{ "Thu, 01 Jan 1970 00:00:00 GMT", 0 },
		{ "Tue, 29 Feb 2028 12:00:00 GMT", 1835438400000LL },
		{ "Fri, 31 Dec 9999 23:59:59 GMT", 253402300799000LL },
	};
	static const char *const bad[] = {
		"", "Tue, 29 Oct 2013 20:32:02", "Tue, 29 Oct 2013 20:32:02 UTC",
		"Wed, 29 Oct 2013 20:32:02 GMT", "Tue, 32 Oct 2013 20:32:02 GMT",
		"Tue, 29 Foo 2013 20:32:02 GMT", "Tue, 29 Oct 2013 24:00:00 GMT",
		"Tue, 29 Oct 2013 20:32:02 GMT ", "Tue,29 Oct 2013 20:32:02 GMT",
		"Sun, 29 Feb 2026 12:00:00 GMT", "Tue, 2x Oct 2013 20:32:02 GMT",
		"Tuesday, 29-Oct-13 20:32:02 GMT", "2013-10-29T20:32:02Z",
	};
	int64_t ms;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ms = -12345;
		ok(gpush_parse_rfc1123(good[i].s, &ms) == GPUSH_OK &&
		    ms == good[i].ms, "rfc1123 parses '%s' (%lld)", good[i].s,
		    (long long)ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = -12345; /* junk: the error path must clear it */
		ok(gpush_parse_rfc1123(bad[i], &ms) == GPUSH_ERR_DATE && ms == 0,
		    "rfc1123 rejects '%s' and clears *ms", bad[i]);
	}
	ms = 7;
	ok(gpush_parse_rfc1123(NULL, &ms) == GPUSH_ERR_DATE && ms == 0,
	    "rfc1123 rejects NULL");
}

static void
test_rfc3339(void)
{
	char buf[25];

	gpush_format_rfc3339(1763787600123LL, buf);
	is_str(buf, "2025-11-22T05:00:00.123Z", "rfc3339 with milliseconds");
	gpush_format_rfc3339(0, buf);
	is_str(buf, "1970-01-01T00:00:00.000Z", "rfc3339 epoch");
	gpush_format_rfc3339(1383078722007LL, buf);
	is_str(buf, "2013-10-29T20:32:02.007Z", "rfc3339 pads milliseconds");
}

static void
test_numbers(void)
{
	static const char *const bad[] = { "", "-1", "+1", " 1", "1 ", "1,2",
	    "104, 105", "0x10", "1e3", "9223372036854775808",
	    "99999999999999999999", "١", "01", "007" };
	int64_t v;

	v = 99;
	ok(gpush__parse_i64("9223372036854775807", &v) && v == INT64_MAX,
	    "parse_i64 takes 2^63-1");
	ok(gpush__parse_i64("0", &v) && v == 0, "parse_i64 takes 0");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 99;
		ok(!gpush__parse_i64(bad[i], &v) && v == 0,
		    "parse_i64 rejects '%s' and clears", bad[i]);
	}
}

static void
test_text(void)
{
	ok(gpush__utf8_ok((const unsigned char *)"h\xc3\xa9llo \xf0\x9f\x8e\x89", 11),
	    "utf8: valid 2- and 4-byte sequences");
	ok(!gpush__utf8_ok((const unsigned char *)"\xc0\xaf", 2), "utf8: overlong");
	ok(!gpush__utf8_ok((const unsigned char *)"\xed\xa0\x80", 3), "utf8: surrogate");
	ok(!gpush__utf8_ok((const unsigned char *)"\xf4\x90\x80\x80", 4), "utf8: > U+10FFFF");
	ok(!gpush__utf8_ok((const unsigned char *)"\xe2\x82", 2), "utf8: truncated");
	ok(!gpush__utf8_ok((const unsigned char *)"\xff", 1), "utf8: 0xff");
	ok(!gpush__text_ok("a\x01" "b", 3), "text: control byte");
	ok(!gpush__text_ok("a\x7f", 2), "text: DEL");
	ok(!gpush__text_ok("a\tb", 3), "text: tab");
	ok(gpush__text_ok("target=myApp-myFilesChannelDest", 31), "text: token");
	ok(!gpush__text_ok("a\xc2\x85" "b", 4), "text: C1 control (NEL)");
	ok(!gpush__text_ok("a\xe2\x80\xa8", 4), "text: U+2028");
	ok(gpush__text_ok("caf\xc3\xa9 \xe2\x82\xac", 9), "text: other non-ASCII is fine");
}

static void
test_secret(void)
{
	ok(gpush_secret_equal("abc", "abc"), "secret: equal");
	ok(!gpush_secret_equal("abd", "abc"), "secret: last byte differs");
	ok(!gpush_secret_equal("ab", "abc"), "secret: prefix");
	ok(!gpush_secret_equal("abcd", "abc"), "secret: longer");
	ok(!gpush_secret_equal("", "abc"), "secret: empty");
	ok(gpush_secret_equal("", ""), "secret: both empty");
}

static void
test_json(void)
{
	static const char *const bad[] = { "", " ", "{", "{\"a\":1} x",
	    "{\"a\":1}{}", "tru", "{'a':1}", "[1,]", "{\"a\":01}", "NaN", "Infinity", "-", "1.", ".5", "1e", "\"\\x\"",
	    "\"a\tb\"", "{\"a\" 1}", "{1:2}", "[1 2]", "\"\\u12g4\"", "{\"a\":1,}" };
	struct json_object *o;

	o = (struct json_object *)0x1;
	ok(gpush__json_parse("{\"a\":[1,2]} \n", 13, &o) == GPUSH_OK && o != NULL,
	    "json: object with trailing white space");
	json_object_put(o);
	ok(gpush__json_parse("42", 2, &o) == GPUSH_OK &&
	    json_object_is_type(o, json_type_int), "json: bare number");
	json_object_put(o);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = (struct json_object *)0x1;
		ok(gpush__json_parse(bad[i], strlen(bad[i]), &o) == GPUSH_ERR_BODY &&
		    o == NULL, "json: rejects '%s' and clears *out", bad[i]);
	}
	{
		char deep[2 * 70 + 1];
		memset(deep, '[', 70);
		memset(deep + 70, ']', 70);
		deep[140] = '\0';
		ok(!gpush__json_valid(deep, 140), "json: nesting of 70 refused");
		ok(gpush__json_valid(deep + 10, 120), "json: nesting of 60 taken");
	}
	ok(gpush__json_valid("-0.5e+10", 8), "json: number forms");
	ok(gpush__json_valid("{ \"a\" : [ 1 , { } ] , \"b\" :null }", 33),
	    "json: white space everywhere");
	ok(gpush__json_valid("\"\\u00e9\\n\\/\"", 12), "json: escapes");
	o = (struct json_object *)0x1;
	ok(gpush__json_parse("\"a\0b\"", 5, &o) == GPUSH_ERR_BODY && o == NULL,
	    "json: rejects a raw NUL");
}

static void
test_errors(void)
{
	for (int e = 0; e < GPUSH_ERR__MAX; e++)
		if (strcmp(gpush_strerror((enum gpush_err)e), "unknown error") == 0)
			ok(0, "strerror %d has text", e);
	ok(strcmp(gpush_strerror(GPUSH_ERR__MAX), "unknown error") == 0,
	    "strerror out of range");
	is_int(gpush_http_status(GPUSH_OK), 200, "status accepted");
	is_int(gpush_http_status(GPUSH_ERR_METHOD), 405, "status method");
	is_int(gpush_http_status(GPUSH_ERR_NUMBER), 400, "status number");
	is_int(gpush_http_status(GPUSH_ERR_TOKEN), 401, "status token");
	is_int(gpush_http_status(GPUSH_ERR_CHANNEL), 404, "status channel");
	is_int(gpush_http_status(GPUSH_ERR_REPLAY), 409, "status replay");
	is_int(gpush_http_status(GPUSH_ERR_EXPIRED), 410, "status expired");
	is_int(gpush_http_status(GPUSH_ERR_TOOBIG), 413, "status too big");
	is_int(gpush_http_status(GPUSH_ERR_IO), 503, "status io (Google retries)");
	is_int(gpush_http_status(GPUSH_ERR_LOCK), 503, "status lock timeout");
	is_int(gpush_http_status(GPUSH_ERR_INTERNAL), 500, "status internal");
	/* On the request path ARG can only be a bug of gpush's: Google never
	 * retries a 400, so it must be a 500 (retried), not a lost message. */
	is_int(gpush_http_status(GPUSH_ERR_ARG), 500, "status arg (a bug: retried)");
}

int
main(void)
{
	test_rfc1123();
	test_rfc3339();
	test_numbers();
	test_text();
	test_secret();
	test_json();
	test_errors();
	return tap_done();
}
