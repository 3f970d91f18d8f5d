/* Unit tests: RFC 1123 dates in, RFC 3339 timestamps out (lib/date.c). */
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
	gpush_format_rfc3339(253402300799999LL, buf);
	is_str(buf, "9999-12-31T23:59:59.999Z", "rfc3339 last millisecond of 9999");
	gpush_format_rfc3339(253402300800000LL, buf);
	is_str(buf, "1970-01-01T00:00:00.000Z", "rfc3339 after 9999: the epoch");
	gpush_format_rfc3339(-1, buf);
	is_str(buf, "1970-01-01T00:00:00.000Z", "rfc3339 before 1970: the epoch");
}

/* The formatter is hand-written calendar arithmetic: compare it with
 * gmtime_r + strftime on every day from 1970 to 9999, at a second of the
 * day and a millisecond that move from day to day, and at the day's first
 * or last second. */
static void
test_rfc3339_vs_libc(void)
{
	long bad = 0, n = 0;
	char got[25], want[40];
	uint64_t x = 88172645463325252ULL;

	for (int64_t day = 0; day <= 2932896; day++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		int64_t secs[2] = { day * 86400 + (int64_t)(x % 86400),
		    day * 86400 + (day % 2 ? 86399 : 0) };
		for (int k = 0; k < 2; k++) {
			int64_t ms = secs[k] * 1000 + (int64_t)(x >> 32) % 1000;
			time_t t = (time_t)secs[k];
			struct tm tm;
			if (gmtime_r(&t, &tm) == NULL)
				continue;
			size_t w = strftime(want, sizeof(want),
			    "%Y-%m-%dT%H:%M:%S", &tm);
			snprintf(want + w, sizeof(want) - w, ".%03dZ",
			    (int)(ms % 1000));
			gpush_format_rfc3339(ms, got);
			n++;
			if (strcmp(got, want) != 0 && bad++ < 5)
				printf("# %lld: got %s, gmtime_r says %s\n",
				    (long long)ms, got, want);
		}
	}
	ok(bad == 0 && n == 2 * 2932897L,
	    "rfc3339 agrees with gmtime_r + strftime on every day 1970-9999 (%ld of %ld differ)",
	    bad, n);
}

int
main(void)
{
	test_rfc1123();
	test_rfc3339();
	test_rfc3339_vs_libc();
	return tap_done();
}
