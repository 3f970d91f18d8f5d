/*
 * util.c -- bounded text checks, dates, constant-time compare and the
 * careful file primitives (write everything, fsync the directory, locks
 * with a deadline) that the rest of the library is built from.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gpush_private.h"

/*
 * Returns 1 when s[0..len) is well-formed UTF-8 (no overlongs, no
 * surrogates, nothing past U+10FFFF), else 0.
 */
int
gpush__utf8_ok(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i], need, min, cp;
		if (c < 0x80) { i++; continue; }
		if (c >= 0xc2 && c <= 0xdf) { need = 1; min = 0x80; cp = c & 0x1f; }
		else if (c >= 0xe0 && c <= 0xef) { need = 2; min = 0x800; cp = c & 0x0f; }
		else if (c >= 0xf0 && c <= 0xf4) { need = 3; min = 0x10000; cp = c & 0x07; }
		else return 0;
		if (len - i <= need)
			return 0;
		for (unsigned k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

/* 1 when s[0..len) is UTF-8 without controls (C0, DEL, C1) and without
 * U+2028/U+2029, which many readers take for line breaks: fit for a
 * header value, an id or a token, and for one line of the log. */
int
gpush__text_ok(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < len; i++) {
		if (u[i] < 0x20 || u[i] == 0x7f)
			return 0;
		if (u[i] == 0xc2 && i + 1 < len && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f)
			return 0;
		if (u[i] == 0xe2 && i + 2 < len && u[i + 1] == 0x80 &&
		    (u[i + 2] == 0xa8 || u[i + 2] == 0xa9))
			return 0;
	}
	return gpush__utf8_ok(u, len);
}

/* A NUL-terminated copy of s[0..len); NULL when out of memory. */
char *
gpush__strndup(const char *s, size_t len)
{
	char *p;

	if (len == SIZE_MAX || (p = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/*
 * Parses a plain decimal integer: digits only, no sign, no spaces, no
 * leading zero, at most INT64_MAX.  Returns 1 and sets *out, or 0 with
 * *out = 0.
 */
int
gpush__parse_i64(const char *s, int64_t *out)
{
	uint64_t v = 0;
	size_t i;

	*out = 0;
	/* No sign, no space, no leading zero: "01" must not alias 1. */
	if (s == NULL || s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		unsigned d = (unsigned char)s[i] - '0';
		if (d > 9 || i >= 19)
			return 0;
		v = v * 10 + d;
	}
	if (v > (uint64_t)INT64_MAX)
		return 0;
	*out = (int64_t)v;
	return 1;
}

/* Storage errors a retry may cure are IO (503); the rest are internal. */
enum gpush_err
gpush__errno(int e)
{
	switch (e) {
	case ENOMEM:
		return GPUSH_ERR_NOMEM;
	case EINVAL:
	case EBADF:
	case EFAULT:
		return GPUSH_ERR_INTERNAL;
	default:
		return GPUSH_ERR_IO;
	}
}

/* Lower-case hex of s into out, truncated to fit outsz (NUL-terminated). */
void
gpush__hex(const char *s, char *out, size_t outsz)
{
	static const char hx[] = "0123456789abcdef";
	size_t o = 0;

	for (; *s != '\0' && o + 2 < outsz; s++) {
		out[o++] = hx[(unsigned char)*s >> 4];
		out[o++] = hx[(unsigned char)*s & 15];
	}
	out[o] = '\0';
}

/* Writes all of buf; returns 0, or -1 with errno set (ENOSPC for a write
 * that made no progress). */
int
gpush__write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = ENOSPC;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/*
 * Reads fd from its current offset to EOF, at most max bytes.  Returns 0
 * with *out (malloc'ed, NUL-terminated, the caller's) and *len; -1 with
 * errno (EFBIG past max) and *out NULL.
 */
int
gpush__read_file(int fd, size_t max, char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap), *nb;

	*out = NULL;
	*len = 0;
	if (buf == NULL)
		return -1;
	for (;;) {
		ssize_t r;
		if (n + 1 >= cap) {
			if (cap > max) {
				free(buf);
				errno = EFBIG;
				return -1;
			}
			cap *= 2;
			if ((nb = realloc(buf, cap)) == NULL) {
				free(buf);
				return -1;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* fsync a directory so that a rename in it is durable (as s6 does). */
int
gpush__fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	if (close(fd) < 0)
		rc = -1;
	return rc;
}

/*
 * Replaces path with data, atomically: a temporary file beside it is
 * written, fsync'ed and renamed over it, then the directory is fsync'ed.
 * Mode 0600.  Returns 0, or -1 with errno and path unchanged.
 */
int
gpush__write_atomic(const char *path, const char *data, size_t len)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, rc = -1, saved;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
	    (long)getpid()) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 :
		    (int)(slash - path), path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	rc = gpush__write_all(fd, data, len);
	if (rc == 0)
		rc = fsync(fd);
	if (close(fd) < 0)
		rc = -1;
	if (rc == 0)
		rc = rename(tmp, path);
	if (rc == 0)
		rc = gpush__fsync_dir(dir);
	saved = errno;
	if (rc != 0)
		(void)unlink(tmp);
	errno = saved;
	return rc;
}

/*
 * flock() with a deadline: tries without blocking, then sleeps in short
 * growing steps, so that a stuck peer costs a 503 and not a hung server.
 * Returns 0, or -1 with errno (ETIMEDOUT when the deadline passed).
 */
int
gpush__lock(int fd, int exclusive, int timeout_ms)
{
	int op = (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
	long slept_us = 0;

	/* log.lock is held for a few writes into the page cache: yield a
	 * little first, then sleep in short steps, never long ones. */
	for (int spin = 0;; spin++) {
		if (flock(fd, op) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (slept_us / 1000 >= timeout_ms) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (spin < 16) {
			sched_yield();
			continue;
		}
		struct timespec ts = { 0, 50 * 1000 };
		nanosleep(&ts, NULL);
		slept_us += 50;
	}
}

void
gpush__unlock(int fd)
{
	(void)flock(fd, LOCK_UN);
}

int64_t
gpush_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Compares two secrets in time that depends only on the length of b (the
 * registry's), so a sender learns nothing from how long a 401 takes.
 */
int
gpush_secret_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = (unsigned char)(la != lb);

	for (size_t i = 0; i < lb; i++)
		d |= (unsigned char)(b[i] ^ (i < la ? a[i] : (char)~b[i]));
	return d == 0;
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
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms < 0 || gmtime_r(&t, &tm) == NULL || tm.tm_year > 8099) {
		memcpy(buf, "1970-01-01T00:00:00.000Z", 25);
		return;
	}
	strftime(buf, 20, "%Y-%m-%dT%H:%M:%S", &tm);
	buf[19] = '.';
	buf[20] = (char)('0' + (ms % 1000) / 100);
	buf[21] = (char)('0' + (ms % 100) / 10);
	buf[22] = (char)('0' + ms % 10);
	buf[23] = 'Z';
	buf[24] = '\0';
}

/*
 * A strict RFC 8259 syntax check.  json-c accepts more than JSON even in
 * strict mode (single-quoted strings, NaN, Infinity), and what it accepts
 * it would write back into the log, so every text is checked here first.
 * Nesting deeper than JSON_DEPTH is refused.
 */

struct jcur {
	const char *p, *end;
};

static void
jws(struct jcur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' ||
	    *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int
jlit(struct jcur *c, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return 0;
	c->p += n;
	return 1;
}

static int
jdigits(struct jcur *c)
{
	const char *s = c->p;

	while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
		c->p++;
	return c->p > s;
}

static int
jnumber(struct jcur *c)
{
	if (c->p < c->end && *c->p == '-')
		c->p++;
	if (c->p < c->end && *c->p == '0')
		c->p++;
	else if (!(c->p < c->end && *c->p >= '1' && *c->p <= '9') || !jdigits(c))
		return 0;
	if (c->p < c->end && *c->p == '.' && (c->p++, !jdigits(c)))
		return 0;
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		if (!jdigits(c))
			return 0;
	}
	return 1;
}

/* Four hex digits at c->p as a code unit; -1 when they are not. */
static long
jhex4(struct jcur *c)
{
	long v = 0;

	for (int i = 0; i < 4; i++, c->p++) {
		if (c->p >= c->end || !isxdigit((unsigned char)*c->p))
			return -1;
		v = v * 16 + (isdigit((unsigned char)*c->p) ? *c->p - '0' :
		    (tolower((unsigned char)*c->p) - 'a' + 10));
	}
	return v;
}

/* A string; \u escapes of surrogates must pair up (RFC 7493, I-JSON):
 * json-c would turn a lone one into U+FFFD and other readers fail. */
static int
jstring(struct jcur *c)
{
	if (c->p >= c->end || *c->p++ != '"')
		return 0;
	while (c->p < c->end) {
		unsigned char ch = (unsigned char)*c->p++;
		long u;
		if (ch == '"')
			return 1;
		if (ch < 0x20)
			return 0;
		if (ch != '\\')
			continue;
		if (c->p >= c->end)
			return 0;
		ch = (unsigned char)*c->p++;
		if (ch != 'u') {
			if (strchr("\"\\/bfnrt", ch) == NULL || ch == '\0')
				return 0;
			continue;
		}
		if ((u = jhex4(c)) < 0 || (u >= 0xdc00 && u <= 0xdfff))
			return 0;
		if (u >= 0xd800 && u <= 0xdbff) {
			if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u')
				return 0;
			c->p += 2;
			if ((u = jhex4(c)) < 0xdc00 || u > 0xdfff)
				return 0;
		}
	}
	return 0;
}

static int jvalue(struct jcur *c, int depth, int max);

/* An object or an array: open, members separated by ',', close. */
static int
jcontainer(struct jcur *c, int depth, int max, char close, int object)
{
	c->p++;
	jws(c);
	if (c->p < c->end && *c->p == close) {
		c->p++;
		return 1;
	}
	for (;;) {
		jws(c);
		if (object) {
			if (!jstring(c))
				return 0;
			jws(c);
			if (c->p >= c->end || *c->p++ != ':')
				return 0;
		}
		if (!jvalue(c, depth + 1, max))
			return 0;
		jws(c);
		if (c->p >= c->end)
			return 0;
		if (*c->p == close) {
			c->p++;
			return 1;
		}
		if (*c->p++ != ',')
			return 0;
	}
}

static int
jvalue(struct jcur *c, int depth, int max)
{
	if (depth > max)
		return 0;
	jws(c);
	if (c->p >= c->end)
		return 0;
	switch (*c->p) {
	case '{': return jcontainer(c, depth, max, '}', 1);
	case '[': return jcontainer(c, depth, max, ']', 0);
	case '"': return jstring(c);
	case 't': return jlit(c, "true");
	case 'f': return jlit(c, "false");
	case 'n': return jlit(c, "null");
	default:  return jnumber(c);
	}
}

/* 1 when s[0..len) is exactly one JSON value, nested at most depth
 * deep, with white space around it. */
int
gpush__json_valid_depth(const char *s, size_t len, int depth)
{
	struct jcur c = { s, s + len };

	if (!jvalue(&c, 1, depth))
		return 0;
	jws(&c);
	return c.p == c.end;
}

int
gpush__json_valid(const char *s, size_t len)
{
	return gpush__json_valid_depth(s, len, JSON_DEPTH);
}

/*
 * Copies valid JSON s[0..len) into out without the white space between
 * tokens, so that a body of several lines becomes part of one log line.
 * Inside strings, C1 controls and U+2028/U+2029 -- line breaks to many
 * readers -- are written as \u escapes: the same JSON, one line for all.
 * out must hold 3 * len bytes; returns the length written.
 */
size_t
gpush__json_minify(const char *s, size_t len, char *out)
{
	static const char hx[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t o = 0;
	int in_str = 0, esc = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned cp = 0;
		if (in_str && !esc && u[i] == 0xc2 && i + 1 < len &&
		    u[i + 1] >= 0x80 && u[i + 1] <= 0x9f)
			cp = u[i + 1];
		else if (in_str && !esc && u[i] == 0xe2 && i + 2 < len &&
		    u[i + 1] == 0x80 && (u[i + 2] == 0xa8 || u[i + 2] == 0xa9))
			cp = 0x2000;
		if (cp != 0) {
			if (cp >= 0x2000)
				cp = u[i + 2] == 0xa8 ? 0x2028 : 0x2029;
			out[o++] = '\\';
			out[o++] = 'u';
			out[o++] = hx[cp >> 12];
			out[o++] = hx[(cp >> 8) & 15];
			out[o++] = hx[(cp >> 4) & 15];
			out[o++] = hx[cp & 15];
			i += cp >= 0x2000 ? 2 : 1;
			continue;
		}
		char ch = s[i];
		if (in_str) {
			out[o++] = ch;
			if (esc)
				esc = 0;
			else if (ch == '\\')
				esc = 1;
			else if (ch == '"')
				in_str = 0;
		} else if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
			out[o++] = ch;
			in_str = ch == '"';
		}
	}
	return o;
}

/*
 * Parses s[0..len) as exactly one strict JSON value in UTF-8, white space
 * around it allowed, nested at most JSON_DEPTH + 1 deep (a log record is
 * one level deeper than the body it holds).  Reads nothing past len.
 * *out is the caller's reference; NULL with BODY on any error -- and
 * also for the text "null", which json-c represents as NULL.
 */
enum gpush_err
gpush__json_parse(const char *s, size_t len, struct json_object **out)
{
	struct json_tokener *tok;
	struct json_object *o;

	*out = NULL;
	if (len >= INT32_MAX || memchr(s, '\0', len) != NULL ||
	    !gpush__utf8_ok((const unsigned char *)s, len) ||
	    !gpush__json_valid_depth(s, len, JSON_DEPTH + 1))
		return GPUSH_ERR_BODY;
	if ((tok = json_tokener_new_ex(JSON_DEPTH + 2)) == NULL)
		return GPUSH_ERR_NOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, s, (int)len);
	/* A bare number or literal at the very end is complete only once
	 * something follows it: a space ends it without reading past s. */
	if (o == NULL && json_tokener_get_error(tok) == json_tokener_continue)
		o = json_tokener_parse_ex(tok, " ", 1);
	if (o != NULL && json_tokener_get_error(tok) != json_tokener_success)
		o = (json_object_put(o), NULL);
	json_tokener_free(tok);
	if (o == NULL)
		return GPUSH_ERR_BODY;
	*out = o;
	return GPUSH_OK;
}
