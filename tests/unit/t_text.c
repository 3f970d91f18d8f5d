/* Unit tests: text checks, plain integers, constant-time compare of secrets (lib/text.c). */
#include "lib_all.h"
#include "tap.h"

/* gpush__dec against snprintf's %llu on each side of every power of ten
 * and at the ends. */
static void
dec_one(uint64_t v, int *n, int *bad)
{
	char got[GPUSH__DEC_MAX + 1], want[32];

	memset(got, 'x', sizeof(got));
	got[gpush__dec(v, got)] = '\0';
	snprintf(want, sizeof(want), "%llu", (unsigned long long)v);
	(*n)++;
	if (strcmp(got, want) != 0 && (*bad)++ < 3)
		printf("# %s: got %s\n", want, got);
}

static void
test_dec(void)
{
	int n = 0, bad = 0;
	uint64_t p = 1;

	dec_one(0, &n, &bad);
	dec_one(UINT64_MAX, &n, &bad);
	dec_one((uint64_t)INT64_MAX + 1, &n, &bad);
	for (int k = 0; k < 20; k++, p *= 10) {
		dec_one(p - 1, &n, &bad);
		dec_one(p, &n, &bad);
		dec_one(p + 1, &n, &bad);
	}
	ok(bad == 0 && n == 63, "gpush__dec agrees with %%llu on %d values", n);
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

struct seen_lines {
	char   got[256];
	size_t n;
	int    stop_at;
};

static int
collect(void *ctx, const char *line, size_t len, size_t off, size_t lineno)
{
	struct seen_lines *w = ctx;
	size_t used = strlen(w->got);

	snprintf(w->got + used, sizeof(w->got) - used, "%zu@%zu:%.*s|", lineno,
	    off, (int)len, line);
	return ++w->n == (size_t)w->stop_at ? 7 : 0;
}

static void
test_lines(void)
{
	static const char buf[] = "a\n \t\r\n\nbc\r\nlast";
	struct seen_lines w;

	ok(gpush__blank_line("", 0) && gpush__blank_line(" \t\r", 3) &&
	    !gpush__blank_line(" x", 2) && !gpush__blank_line("\v", 1),
	    "blank: only spaces, tabs, CRs");
	memset(&w, 0, sizeof(w));
	is_int(gpush__for_each_line(buf, sizeof(buf) - 1, collect, &w), 0,
	    "for_each_line: 0 when every line was seen");
	is_str(w.got, "1@0:a|4@7:bc\r|5@11:last|",
	    "for_each_line: blank lines skipped but counted, last line without newline");
	memset(&w, 0, sizeof(w));
	w.stop_at = 2;
	is_int(gpush__for_each_line(buf, sizeof(buf) - 1, collect, &w), 7,
	    "for_each_line: fn's non-zero stops the walk and is returned");
	is_int(w.n, 2, "for_each_line: nothing after the stop");
	memset(&w, 0, sizeof(w));
	is_int(gpush__for_each_line("x\n", 2, collect, &w), 0, "final newline");
	is_str(w.got, "1@0:x|", "no empty line after a final newline");
}

/* Byte-at-a-time references for the word-at-a-time checks (issue 12). */
static int
ref_text_ok(const unsigned char *u, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (u[i] < 0x20 || u[i] == 0x7f)
			return 0;
		if (u[i] == 0xc2 && i + 1 < len && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f)
			return 0;
		if (u[i] == 0xe2 && i + 2 < len && u[i + 1] == 0x80 &&
		    (u[i + 2] == 0xa8 || u[i + 2] == 0xa9))
			return 0;
	}
	return 1;
}

static size_t
ref_plain(const unsigned char *u, size_t len)
{
	size_t i = 0;

	while (i < len && u[i] >= 0x20 && u[i] < 0x80 && u[i] != '"' && u[i] != '\\')
		i++;
	return i;
}

/*
 * Every byte value at every offset of a printable run of every length up
 * to 40 (so in each lane of the first words, and in the tail), plus two-
 * and three-byte sequences across a word's edge: the fast paths must
 * agree with the references everywhere.
 */
static void
test_words(void)
{
	static const unsigned char seq[][3] = { { 0xc3, 0xa9, 0 }, { 0xc2, 0x85, 0 },
	    { 0xe2, 0x80, 0xa8 }, { 0xe2, 0x82, 0xac }, { 0xc0, 0xaf, 0 },
	    { 0xed, 0xa0, 0x80 }, { 0xe2, 0x82, 0 } };
	unsigned char buf[48];
	size_t bad_text = 0, bad_utf8 = 0, bad_plain = 0, cases = 0;

	for (size_t len = 1; len <= 40; len++)
		for (size_t at = 0; at < len; at++) {
			for (unsigned b = 0; b < 256; b++) {
				memset(buf, 'a', len);
				buf[at] = (unsigned char)b;
				int want_utf8 = b < 0x80;
				cases++;
				bad_text += gpush__text_ok((const char *)buf, len) !=
				    (ref_text_ok(buf, len) && want_utf8);
				bad_utf8 += gpush__utf8_ok(buf, len) != want_utf8;
				bad_plain += gpush__json_plain_prefix((const char *)buf, len) !=
				    ref_plain(buf, len);
			}
			for (size_t k = 0; k < sizeof(seq) / sizeof(seq[0]); k++) {
				size_t n = seq[k][2] ? 3 : 2;
				if (at + n > len)
					continue;
				memset(buf, 'a', len);
				memcpy(buf + at, seq[k], n);
				int want_utf8 = k < 4;
				cases++;
				bad_text += gpush__text_ok((const char *)buf, len) !=
				    (ref_text_ok(buf, len) && want_utf8);
				bad_utf8 += gpush__utf8_ok(buf, len) != want_utf8;
			}
		}
	ok(bad_text == 0, "text_ok agrees with the byte-at-a-time check (%zu of %zu differ)",
	    bad_text, cases);
	ok(bad_utf8 == 0, "utf8_ok: one byte or sequence anywhere (%zu of %zu differ)",
	    bad_utf8, cases);
	ok(bad_plain == 0, "json_plain_prefix stops at the first '\"', '\\\\', control or "
	    "non-ASCII byte (%zu of %zu differ)", bad_plain, cases);
	memset(buf, 'a', sizeof(buf));
	ok(gpush__json_plain_prefix((const char *)buf, 0) == 0 &&
	    gpush__json_plain_prefix((const char *)buf, 17) == 17,
	    "json_plain_prefix: empty, and a whole run");
}

int
main(void)
{
	test_lines();
	test_numbers();
	test_dec();
	test_text();
	test_secret();
	test_words();
	return tap_done();
}
