/*
 * fuzz_rfc1123.c -- gpush_parse_rfc1123() and gpush_format_rfc3339().
 *
 * Input: the date text (up to its first NUL), e.g.
 * "Tue, 29 Oct 2013 20:32:02 GMT".  The input's first 8 bytes, read as a
 * little-endian int64, are also formatted as ms.
 *
 * Checks:
 *  - the parser agrees with a reference built on glibc's timegm/gmtime
 *    (exact form, real calendar date, weekday that agrees, second 60
 *    read as 59): same verdict, same ms; on error ms is 0;
 *  - every accepted date formats back, by gpush_format_rfc3339(), to the
 *    same year, month, day and time, and by an IMF-fixdate formatter to
 *    the same text;
 *  - gpush_format_rfc3339() always writes the 24-character form and, for
 *    ms in 0..year 9999, the fields gmtime gives, else the 1970 fallback.
 */
#include "fuzz_common.h"

#include <time.h>

static const char *const wdays[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
    "Fri", "Sat" };
static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May",
    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static int
num(const char *s, int n, int *out)
{
	*out = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		*out = *out * 10 + (s[i] - '0');
	}
	return 1;
}

static int
name_at(const char *s, const char *const *tab, int n)
{
	for (int i = 0; i < n; i++)
		if (memcmp(s, tab[i], 3) == 0)
			return i;
	return -1;
}

/* Reference: 1 and *ms when s is a real IMF-fixdate. */
static int
ref_parse(const char *s, int64_t *ms, struct tm *fields)
{
	struct tm tm, back;
	int wd, mon, day, year, hh, mi, ss;
	time_t t;

	if (strlen(s) != 29 || memcmp(s + 3, ", ", 2) != 0 || s[7] != ' ' ||
	    s[11] != ' ' || s[16] != ' ' || s[19] != ':' || s[22] != ':' ||
	    memcmp(s + 25, " GMT", 4) != 0)
		return 0;
	if ((wd = name_at(s, wdays, 7)) < 0 || (mon = name_at(s + 8, months, 12)) < 0 ||
	    !num(s + 5, 2, &day) || !num(s + 12, 4, &year) ||
	    !num(s + 17, 2, &hh) || !num(s + 20, 2, &mi) || !num(s + 23, 2, &ss))
		return 0;
	if (ss == 60)
		ss = 59; /* a leap second counts as the second before it */
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mi;
	tm.tm_sec = ss;
	t = timegm(&tm);
	if (gmtime_r(&t, &back) == NULL || back.tm_year != year - 1900 ||
	    back.tm_mon != mon || back.tm_mday != day || back.tm_hour != hh ||
	    back.tm_min != mi || back.tm_sec != ss || back.tm_wday != wd)
		return 0;
	*ms = (int64_t)t * 1000;
	*fields = back;
	return 1;
}

static void
check_format(int64_t ms)
{
	char buf[25], want[25];
	struct tm tm;
	time_t t = (time_t)(ms / 1000);

	memset(buf, 'X', sizeof(buf));
	gpush_format_rfc3339(ms, buf);
	FUZZ_CHECK(buf[24] == '\0' && fuzz_rfc3339_form(buf),
	    "format(%lld) = %.25s", (long long)ms, buf);
	if (ms < 0 || gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999) {
		FUZZ_CHECK(strcmp(buf, "1970-01-01T00:00:00.000Z") == 0,
		    "format(%lld) = %s, expected the fallback", (long long)ms, buf);
		return;
	}
	snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (int)(ms % 1000));
	FUZZ_CHECK(strcmp(buf, want) == 0, "format(%lld) = %s, expected %s",
	    (long long)ms, buf, want);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_dup0(data, size);
	int64_t ms = -42, ref_ms = 0, raw = 0;
	struct tm tm;
	enum gpush_err e;
	int ok;

	e = gpush_parse_rfc1123(s, &ms);
	ok = ref_parse(s, &ref_ms, &tm);
	FUZZ_CHECK(e == GPUSH_OK || e == GPUSH_ERR_DATE, "error %s",
	    gpush_strerror(e));
	FUZZ_CHECK((e == GPUSH_OK) == ok, "\"%s\": library says %s, reference %s",
	    s, gpush_strerror(e), ok ? "valid" : "invalid");
	if (e != GPUSH_OK)
		FUZZ_CHECK(ms == 0, "error leaves ms %lld", (long long)ms);
	if (e == GPUSH_OK) {
		char buf[25], want[25], text[40];
		FUZZ_CHECK(ms == ref_ms, "\"%s\": %lld ms, expected %lld", s,
		    (long long)ms, (long long)ref_ms);
		gpush_format_rfc3339(ms, buf);
		if (ms >= 0) {
			snprintf(want, sizeof(want),
			    "%04d-%02d-%02dT%02d:%02d:%02d.000Z", tm.tm_year + 1900,
			    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			    tm.tm_sec);
			FUZZ_CHECK(strcmp(buf, want) == 0,
			    "\"%s\" formats as %s, expected %s", s, buf, want);
		} else {
			FUZZ_CHECK(strcmp(buf, "1970-01-01T00:00:00.000Z") == 0,
			    "\"%s\" before 1970 formats as %s", s, buf);
		}
		/* And back to the same text (second 60 as 59). */
		snprintf(text, sizeof(text), "%s, %02d %s %04d %02d:%02d:%02d GMT",
		    wdays[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
		    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
		FUZZ_CHECK(strcmp(text, s) == 0 ||
		    (memcmp(s + 23, "60", 2) == 0 && memcmp(text, s, 23) == 0),
		    "\"%s\" formats back as \"%s\"", s, text);
	}
	FUZZ_CHECK(gpush_parse_rfc1123(NULL, &ms) == GPUSH_ERR_DATE && ms == 0,
	    "NULL");

	memcpy(&raw, data, size < sizeof(raw) ? size : sizeof(raw));
	check_format(raw);
	/* The same bits folded into 0 .. 9999-12-31, where fields count. */
	check_format((int64_t)((uint64_t)raw % UINT64_C(253402300800000)));
	check_format(ms);
	free(s);
	return 0;
}
