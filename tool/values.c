/*
 * values.c -- the values the tool reads and writes: durations, relative
 * times, random ids and tokens, base64url, paths in the data directory.
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gpush_tool.h"

/* Seconds in one unit letter; 0 for a letter that is not a unit. */
static int64_t
unit_seconds(char u)
{
	switch (u) {
	case 's': return 1;
	case 'm': return 60;
	case 'h': return 3600;
	case 'd': return 86400;
	default:  return 0;
	}
}

/*
 * A duration: one or more NUMBER[UNIT] parts ("1h30m"), a bare number
 * being seconds (only as the last part).  The total must be positive and
 * small enough to add to a time in ms without overflow (< 100 years).
 */
int
parse_duration(const char *s, int64_t *secs)
{
	const int64_t max = (int64_t)100 * 366 * 86400;
	int64_t total = 0;

	*secs = 0;
	if (s == NULL || *s == '\0')
		return 0;
	while (*s != '\0') {
		int64_t n = 0, mul;
		const char *start = s;
		for (; *s >= '0' && *s <= '9'; s++) {
			n = n * 10 + (*s - '0');
			if (n > max)
				return 0;
		}
		if (s == start)
			return 0;
		if (*s == '\0')
			mul = 1;
		else if ((mul = unit_seconds(*s++)) == 0)
			return 0;
		total += n * mul;
		if (total > max)
			return 0;
	}
	if (total <= 0)
		return 0;
	*secs = total;
	return 1;
}

/* The two largest units of a positive number of seconds: "3d4h",
 * "2h13m", "5m30s", "42s". */
static void
two_units(int64_t s, char *buf, size_t sz)
{
	static const struct { int64_t secs; char u; } units[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' },
	};
	size_t i;

	for (i = 0; i + 1 < sizeof(units) / sizeof(units[0]) &&
	    s < units[i].secs; i++)
		;
	int64_t big = s / units[i].secs, rest = s % units[i].secs;
	if (i + 1 < sizeof(units) / sizeof(units[0]) &&
	    rest / units[i + 1].secs > 0)
		snprintf(buf, sz, "%lld%c%lld%c", (long long)big, units[i].u,
		    (long long)(rest / units[i + 1].secs), units[i + 1].u);
	else
		snprintf(buf, sz, "%lld%c", (long long)big, units[i].u);
}

const char *
format_relative(int64_t ms, int64_t now_ms, char *buf, size_t sz)
{
	char d[48];

	/* The handler refuses a notification at now >= expiration. */
	if (ms <= now_ms) {
		snprintf(buf, sz, "expired");
		return buf;
	}
	/* Round up: "in 0s" for a channel that still has 400 ms to live
	 * would read as expired. */
	two_units((ms - now_ms + 999) / 1000, d, sizeof(d));
	snprintf(buf, sz, "in %s", d);
	return buf;
}

int
random_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* RFC 4122 section 4.4: 122 random bits, version 4, variant 10. */
int
uuid_v4(char out[37])
{
	unsigned char b[16];

	if (random_bytes(b, sizeof(b)) < 0)
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	    b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

/* RFC 4648 section 5, without the '=' padding: a token that is safe in a
 * header and in a URL query as it is. */
void
base64url(const unsigned char *in, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_";
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 |
		    in[i + 2];
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		out[o++] = a[(v >> 6) & 63];
		out[o++] = a[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)in[i] << 16;
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
	} else if (n - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		out[o++] = a[(v >> 6) & 63];
	}
	out[o] = '\0';
}

char *
path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* Google's channel ids: "[A-Za-z0-9\-_\+/=]+" is what its APIs accept,
 * and a header and a file name can carry them unchanged. */
int
channel_id_ok(const char *id)
{
	size_t n = strlen(id);

	return n >= 1 && n <= GPUSH_ID_MAX &&
	    strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_+/=") == n;
}

/* "https://" and a host: Google delivers only to HTTPS.  No white space
 * (a URL has none; a pasted one with a trailing blank is a mistake). */
int
address_ok(const char *a)
{
	return strncasecmp(a, "https://", 8) == 0 && a[8] != '\0' &&
	    a[8] != '/' && strpbrk(a, " \t\r\n") == NULL;
}
