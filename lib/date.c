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

void
gpush_format_rfc3339(int64_t ms, char buf[25])
{
	/* The seconds part, kept per thread: a busy handler stamps many
	 * records a second, and gmtime_r + strftime were most of a record's
	 * formatting. */
	static _Thread_local time_t last = -1;
	static _Thread_local char secs[20];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms < 0) {
		memcpy(buf, "1970-01-01T00:00:00.000Z", 25);
		return;
	}
	if (t != last) {
		if (gmtime_r(&t, &tm) == NULL || tm.tm_year > 8099) {
			memcpy(buf, "1970-01-01T00:00:00.000Z", 25);
			return;
		}
		strftime(secs, sizeof(secs), "%Y-%m-%dT%H:%M:%S", &tm);
		last = t;
	}
	memcpy(buf, secs, 19);
	buf[19] = '.';
	buf[20] = (char)('0' + (ms % 1000) / 100);
	buf[21] = (char)('0' + (ms % 100) / 10);
	buf[22] = (char)('0' + ms % 10);
	buf[23] = 'Z';
	buf[24] = '\0';
}
