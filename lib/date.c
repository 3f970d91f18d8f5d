/*
 * date.c -- the clock, RFC 1123 dates (X-Goog-Channel-Expiration) in and
 * RFC 3339 timestamps (the log's received_at) out.
 */
#include <string.h>
#include <time.h>

#include "gpush_private.h"

int64_t
gpush_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int
name_index(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strncmp(s, names[i], 3) == 0)
			return i;
	return -1;
}

static int
digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 1;
}

/*
 * RFC 1123 (RFC 7231 IMF-fixdate), the form Google sends in
 * X-Goog-Channel-Expiration: "Tue, 29 Oct 2013 20:32:02 GMT", exactly 29
 * bytes.  The weekday must be a weekday name and agree with the date.
 */
enum gpush_err
gpush_parse_rfc1123(const char *s, int64_t *ms)
{
	static const char *const wd[] = { "Thu", "Fri", "Sat", "Sun", "Mon",
	    "Tue", "Wed" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	static const unsigned char mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31,
	    30, 31, 30, 31 };
	int day, year, hh, mm, ss, w, m;
	int64_t days;

	*ms = 0;
	if (s == NULL || strlen(s) != 29 || s[3] != ',' || s[4] != ' ' ||
	    s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[19] != ':' ||
	    s[22] != ':' || s[25] != ' ' || strcmp(s + 26, "GMT") != 0)
		return GPUSH_ERR_DATE;
	if ((w = name_index(s, wd, 7)) < 0 ||
	    (m = name_index(s + 8, mon, 12)) < 0 ||
	    !digits(s + 5, 2, &day) || !digits(s + 12, 4, &year) ||
	    !digits(s + 17, 2, &hh) || !digits(s + 20, 2, &mm) ||
	    !digits(s + 23, 2, &ss))
		return GPUSH_ERR_DATE;
	if (day < 1 || day > mdays[m] || hh > 23 || mm > 59 || ss > 60)
		return GPUSH_ERR_DATE;
	if (m == 1 && day == 29 &&
	    !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
		return GPUSH_ERR_DATE;
	days = days_from_civil(year, (unsigned)m + 1, (unsigned)day);
	if (((days % 7) + 7) % 7 != w)
		return GPUSH_ERR_DATE;
	*ms = ((days * 86400) + hh * 3600 + mm * 60 + (ss == 60 ? 59 : ss)) *
	    (int64_t)1000;
	return GPUSH_OK;
}

/* y-m-d of day z since 1970-01-01, the inverse of days_from_civil (the
 * same era arithmetic, proleptic Gregorian). */
static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Writes v as n decimal digits, zero-padded, at p. */
static void
put_digits(char *p, unsigned v, int n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

/*
 * Formats ms since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) in buf;
 * a time before 1970 or after 9999 is written as the epoch.  By hand, not
 * gmtime_r + strftime: those load the time zone (tzset reads
 * /etc/localtime through stdio on first use) and strftime's locale
 * tables, which every handler process then keeps mapped -- a tenth of
 * its resident size -- for a date that is always UTC.
 */
void
gpush_format_rfc3339(int64_t ms, char buf[25])
{
	/* year 9999's last millisecond */
	const int64_t max_ms = 253402300799999LL;
	int64_t y, days, secs;
	unsigned mo, d, sod;

	if (ms < 0 || ms > max_ms) {
		memcpy(buf, "1970-01-01T00:00:00.000Z", 25);
		return;
	}
	secs = ms / 1000;
	days = secs / 86400;
	sod = (unsigned)(secs % 86400);
	civil_from_days(days, &y, &mo, &d);
	memcpy(buf, "0000-00-00T00:00:00.000Z", 25);
	put_digits(buf, (unsigned)y, 4);
	put_digits(buf + 5, mo, 2);
	put_digits(buf + 8, d, 2);
	put_digits(buf + 11, sod / 3600, 2);
	put_digits(buf + 14, sod / 60 % 60, 2);
	put_digits(buf + 17, sod % 60, 2);
	put_digits(buf + 20, (unsigned)(ms % 1000), 3);
}
