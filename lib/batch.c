/*
 * batch.c -- Google's batch HTTP protocol (google-channels.md §3): many
 * calls of one API in one multipart/mixed request, each part an
 * application/http message with a Content-ID, answered by one
 * multipart/mixed response whose parts carry "response-" + that id and
 * an inner HTTP response.  Building the request and reading the answer;
 * no I/O (the caller sends it).
 *
 * The answer comes from the network: it is read as hostile.  Its parts
 * are matched by Content-ID, never by order (Google may run the calls in
 * any order); a part that is missing leaves its call unanswered (status
 * 0), parts that match no call or answer one twice are counted and
 * dropped, and anything malformed or over a bound fails the whole answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gpush_private.h"

/* RFC 2046 §5.1.1: boundary characters, at most 70. */
static const char bchars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    "0123456789'()+_,-./:=?";
#define BOUNDARY_MAX 70
#define LINE_MAX_ 8192          /* one header or status line */

struct gpush_batch_result {
	size_t n;
	size_t extra;             /* parts that answered no call */
	struct answer {
		int    status;        /* 0: no answer */
		char  *body;          /* NUL-terminated copy */
		size_t len;
	} *a;
};

static int
boundary_ok(const char *b, size_t n)
{
	if (n < 1 || n > BOUNDARY_MAX || b[n - 1] == ' ')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (b[i] == '\0' || (strchr(bchars, b[i]) == NULL && b[i] != ' '))
			return 0;
	return 1;
}

/* A growing buffer; errors stick, checked once at the end. */
struct buf {
	char  *p;
	size_t len, cap;
	enum gpush_err failed;    /* sticks: NOMEM or TOOBIG */
};

static void
buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (n > GPUSH_BATCH_MAX_BYTES || b->len + n + 1 > GPUSH_BATCH_MAX_BYTES) {
		b->failed = GPUSH_ERR_TOOBIG;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->failed = GPUSH_ERR_NOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* The request target of a part: a path (and query), one line of URL
 * characters.  Google's guide: "only the path portion of the URL". */
static int
target_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > GPUSH_URL_MAX || t[0] != '/')
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
			return 0;
	return 1;
}

/*
 * Builds the body of a batch request of n calls (1..GPUSH_BATCH_MAX),
 * delimited by boundary (the caller makes it random: 1..70 boundary
 * characters; no call's body may contain it).  Part i has Content-ID
 * <item-(i+1)> and carries "METHOD TARGET HTTP/1.1", a JSON
 * Content-Type and Content-Length, and the body.  Authorization is left
 * to the outer request, which applies to every part (§3).  *out (NUL-
 * terminated, the caller frees) and *len; NULL and 0 on error (ARG for a
 * bad call or boundary, TOOBIG past GPUSH_BATCH_MAX_BYTES, NOMEM).
 */
enum gpush_err
gpush_batch_build(const struct gpush_batch_call *calls, size_t n,
    const char *boundary, char **out, size_t *len)
{
	struct buf b = { NULL, 0, 0, GPUSH_OK };
	char line[96];

	*out = NULL;
	*len = 0;
	if (calls == NULL || n == 0 || n > GPUSH_BATCH_MAX || boundary == NULL ||
	    !boundary_ok(boundary, strnlen(boundary, BOUNDARY_MAX + 1)))
		return GPUSH_ERR_ARG;
	for (size_t i = 0; i < n; i++) {
		const struct gpush_batch_call *c = &calls[i];
		size_t blen = c->body != NULL ? strlen(c->body) : 0;
		if (c->method == NULL || strspn(c->method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
		    != strlen(c->method) || c->method[0] == '\0' ||
		    strlen(c->method) > 16 || c->target == NULL ||
		    !target_ok(c->target) || blen > GPUSH_BATCH_PART_MAX ||
		    (c->body != NULL && (strstr(c->body, boundary) != NULL ||
		    !gpush__text_ok(c->body, blen))))
			return GPUSH_ERR_ARG;
		buf_str(&b, "--");
		buf_str(&b, boundary);
		snprintf(line, sizeof(line), "\r\nContent-Type: application/http\r\n"
		    "Content-ID: <item-%zu>\r\n\r\n", i + 1);
		buf_str(&b, line);
		buf_str(&b, c->method);
		buf_str(&b, " ");
		buf_str(&b, c->target);
		buf_str(&b, " HTTP/1.1\r\n");
		if (c->body != NULL) {
			snprintf(line, sizeof(line), "Content-Type: application/json; "
			    "charset=UTF-8\r\nContent-Length: %zu\r\n", blen);
			buf_str(&b, line);
		}
		buf_str(&b, "\r\n");
		if (c->body != NULL)
			buf_add(&b, c->body, blen);
		buf_str(&b, "\r\n");
	}
	buf_str(&b, "--");
	buf_str(&b, boundary);
	buf_str(&b, "--\r\n");
	if (b.failed != GPUSH_OK) {
		free(b.p);
		return b.failed;
	}
	*out = b.p;
	*len = b.len;
	return GPUSH_OK;
}

/* ---- the answer ------------------------------------------------------------ */

void
gpush_batch_result_free(struct gpush_batch_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->a[i].body);
	free(r->a);
	free(r);
}

size_t gpush_batch_count(const struct gpush_batch_result *r) { return r->n; }
size_t gpush_batch_extra(const struct gpush_batch_result *r) { return r->extra; }

int
gpush_batch_status(const struct gpush_batch_result *r, size_t i)
{
	return r != NULL && i < r->n ? r->a[i].status : 0;
}

const char *
gpush_batch_body(const struct gpush_batch_result *r, size_t i, size_t *len)
{
	if (r == NULL || i >= r->n || r->a[i].status == 0) {
		if (len != NULL)
			*len = 0;
		return NULL;
	}
	if (len != NULL)
		*len = r->a[i].len;
	return r->a[i].body;
}

/*
 * The boundary parameter of a multipart/mixed Content-Type, plain or
 * quoted, into out (BOUNDARY_MAX + 1 bytes).  1 or 0.
 */
static int
content_boundary(const char *ct, char out[BOUNDARY_MAX + 1])
{
	const char *p;
	size_t n;

	if (ct == NULL || strnlen(ct, LINE_MAX_ + 1) > LINE_MAX_ ||
	    strncasecmp(ct, "multipart/mixed", 15) != 0 ||
	    (ct[15] != ';' && ct[15] != ' ' && ct[15] != '\t'))
		return 0;
	for (p = ct + 15; (p = strchr(p, ';')) != NULL; ) {
		p++;
		p += strspn(p, " \t");
		if (strncasecmp(p, "boundary=", 9) != 0)
			continue;
		p += 9;
		if (*p == '"') {
			const char *q = strchr(++p, '"');
			if (q == NULL)
				return 0;
			n = (size_t)(q - p);
		} else
			n = strcspn(p, "; \t");
		if (!boundary_ok(p, n))
			return 0;
		memcpy(out, p, n);
		out[n] = '\0';
		return 1;
	}
	return 0;
}

/* The end of the line at p (its '\n', or end); *next after it. */
static const char *
line_end(const char *p, const char *end, const char **next)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	if (nl == NULL) {
		*next = end;
		return end;
	}
	*next = nl + 1;
	return nl > p && nl[-1] == '\r' ? nl - 1 : nl;
}

/*
 * Reads header lines from *p up to the blank line; for each, when name
 * (case-insensitive) is one of want[], stores its trimmed value in
 * val[] (at most LINE_MAX_ bytes, a bounded copy).  Leaves *p after the
 * blank line.  0, or -1 when malformed (no blank line -- unless end_ok,
 * then the end of the part ends them too --, a line too long, a control
 * byte, too many lines).
 */
static int
read_headers(const char **p, const char *end, const char *const want[],
    size_t nwant, char *val[], int end_ok)
{
	int lines = 0;

	for (;;) {
		const char *next, *e, *colon;
		size_t ln;
		if (*p >= end)
			return end_ok ? 0 : -1; /* ran out before the blank line */
		e = line_end(*p, end, &next);
		ln = (size_t)(e - *p);
		if (ln == 0) {
			*p = next;
			return 0;
		}
		if (ln > LINE_MAX_ || ++lines > 100)
			return -1;
		for (size_t i = 0; i < ln; i++)
			if (((unsigned char)(*p)[i] < 0x20 && (*p)[i] != '\t') ||
			    (*p)[i] == 0x7f)
				return -1;
		if ((colon = memchr(*p, ':', ln)) == NULL || colon == *p)
			return -1;
		for (size_t w = 0; w < nwant; w++) {
			size_t nl = strlen(want[w]);
			if ((size_t)(colon - *p) == nl &&
			    strncasecmp(*p, want[w], nl) == 0) {
				const char *v = colon + 1;
				while (v < e && (*v == ' ' || *v == '\t'))
					v++;
				const char *ve = e;
				while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
					ve--;
				free(val[w]);
				if ((val[w] = gpush__strndup(v, (size_t)(ve - v))) == NULL)
					return -1;
			}
		}
		*p = next;
	}
}

/*
 * The call a Content-ID answers: "response-item-N" with optional angle
 * brackets around the whole or around the original ("<response-item-N>",
 * "response-<item-N>").  Returns N-1, or -1 when it is none of n calls.
 */
static long
answer_index(const char *cid, size_t n)
{
	char buf[64];
	size_t l = strlen(cid);
	char *p = buf, *endp;
	unsigned long v;

	if (l < 2 || l >= sizeof(buf))
		return -1;
	memcpy(buf, cid, l + 1);
	if (p[0] == '<' && p[l - 1] == '>') {
		p[l - 1] = '\0';
		p++;
	}
	if (strncmp(p, "response-", 9) != 0)
		return -1;
	p += 9;
	l = strlen(p);
	if (l >= 2 && p[0] == '<' && p[l - 1] == '>') {
		p[l - 1] = '\0';
		p++;
	}
	if (strncmp(p, "item-", 5) != 0 || p[5] < '1' || p[5] > '9')
		return -1;
	v = strtoul(p + 5, &endp, 10);
	if (*endp != '\0' || v == 0 || v > n)
		return -1;
	return (long)v - 1;
}

/* "HTTP/1.1 200 OK" -> 200; 0 when it is not a status line. */
static int
status_of(const char *s, size_t n)
{
	if (n < 12 || strncmp(s, "HTTP/1.", 7) != 0 || (s[7] != '0' && s[7] != '1') ||
	    s[8] != ' ' || s[9] < '1' || s[9] > '5' || s[10] < '0' || s[10] > '9' ||
	    s[11] < '0' || s[11] > '9' || (n > 12 && s[12] != ' '))
		return 0;
	return (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
}

/* One part [p, end): its MIME headers, the inner status line, inner
 * headers and body, into r's answer for its Content-ID.  0, or -1 when
 * malformed (the whole answer is refused). */
static int
read_part(struct gpush_batch_result *r, const char *p, const char *end)
{
	static const char *const outer[] = { "Content-Type", "Content-ID" };
	static const char *const inner[] = { "Content-Length" };
	char *ov[2] = { NULL, NULL }, *iv[1] = { NULL };
	const char *next, *e;
	size_t blen;
	long idx;
	int status, rc = -1;

	if (read_headers(&p, end, outer, 2, ov, 0) < 0)
		goto out;
	/* application/http is what Google sends; refuse anything else, it is
	 * not an answer we can read. */
	if (ov[0] == NULL || strncasecmp(ov[0], "application/http", 16) != 0)
		goto out;
	e = line_end(p, end, &next);
	if ((status = status_of(p, (size_t)(e - p))) == 0)
		goto out;
	p = next;
	/* "HTTP/1.1 204 No Content" and nothing else: the blank line went
	 * with the delimiter's CRLF. */
	if (read_headers(&p, end, inner, 1, iv, 1) < 0)
		goto out;
	if ((size_t)(end - p) > GPUSH_BATCH_PART_MAX)
		goto out;
	rc = 0;
	idx = ov[1] != NULL ? answer_index(ov[1], r->n) : -1;
	if (idx < 0 || r->a[idx].status != 0) {
		r->extra++;
		goto out;
	}
	/* Content-Length, when given, bounds the body (a trailing CRLF before
	 * the delimiter is not part of it); never past the part. */
	blen = (size_t)(end - p);
	if (iv[0] != NULL) {
		int64_t cl;
		if (!gpush__parse_i64(iv[0], &cl) || (uint64_t)cl > blen) {
			rc = -1;
			goto out;
		}
		blen = (size_t)cl;
	}
	if ((r->a[idx].body = gpush__strndup(p, blen)) == NULL) {
		rc = -1;
		goto out;
	}
	r->a[idx].len = blen;
	r->a[idx].status = status;
out:
	free(ov[0]);
	free(ov[1]);
	free(iv[0]);
	return rc;
}

/* Where the next delimiter line "--boundary" starts at or after p, at
 * the start of a line; NULL when none. */
static const char *
next_delim(const char *start, const char *p, const char *end, const char *b,
    size_t bn)
{
	while (p < end && (size_t)(end - p) >= bn + 2) {
		const char *q = memmem(p, (size_t)(end - p), "--", 2);
		if (q == NULL || (size_t)(end - q) < bn + 2)
			return NULL;
		if ((q == start || q[-1] == '\n') && memcmp(q + 2, b, bn) == 0)
			return q;
		p = q + 1;
	}
	return NULL;
}

/*
 * Reads the answer to a batch of n calls: content_type is the response's
 * Content-Type (multipart/mixed with its boundary), body[0..len) its
 * body (at most GPUSH_BATCH_MAX_BYTES).  On success *out holds, for each
 * call i < n, its inner status (0 when no part answered it) and body;
 * the caller frees it.  On error *out is NULL: PARSE for anything that is
 * not such an answer (bad boundary, no closing delimiter, a malformed
 * part, a part over GPUSH_BATCH_PART_MAX), TOOBIG, ARG, NOMEM.
 */
enum gpush_err
gpush_batch_parse(const char *content_type, const char *body, size_t len,
    size_t n, struct gpush_batch_result **out)
{
	char b[BOUNDARY_MAX + 1];
	size_t bn;
	const char *p, *end = body + len, *d;
	struct gpush_batch_result *r;
	int closed = 0, parts = 0;

	*out = NULL;
	if (body == NULL || n == 0 || n > GPUSH_BATCH_MAX)
		return GPUSH_ERR_ARG;
	if (len > GPUSH_BATCH_MAX_BYTES)
		return GPUSH_ERR_TOOBIG;
	if (!content_boundary(content_type, b))
		return GPUSH_ERR_PARSE;
	bn = strlen(b);
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->a = calloc(n, sizeof(*r->a))) == NULL) {
		free(r);
		return GPUSH_ERR_NOMEM;
	}
	r->n = n;
	/* The preamble before the first delimiter is ignored (RFC 2046). */
	d = next_delim(body, body, end, b, bn);
	while (d != NULL) {
		const char *next, *start, *nd;
		p = d + 2 + bn;
		if ((size_t)(end - p) >= 2 && p[0] == '-' && p[1] == '-') {
			closed = 1;
			break;
		}
		/* Transport padding, then the line break. */
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (line_end(p, end, &next) != p || next == p)
			break; /* garbage after the delimiter */
		start = next;
		if ((nd = next_delim(body, start, end, b, bn)) == NULL)
			break;
		/* The CRLF before a delimiter belongs to it. */
		const char *pe = nd;
		if (pe > start && pe[-1] == '\n')
			pe--;
		if (pe > start && pe[-1] == '\r')
			pe--;
		if (++parts > (int)(2 * GPUSH_BATCH_MAX) ||
		    read_part(r, start, pe) < 0)
			break;
		d = nd;
	}
	if (!closed) {
		gpush_batch_result_free(r);
		return GPUSH_ERR_PARSE;
	}
	*out = r;
	return GPUSH_OK;
}
