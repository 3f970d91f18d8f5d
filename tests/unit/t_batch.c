/* Unit tests: batch requests and answers (lib/batch.c).  The answers are
 * data: tests/unit/data/batch/NN-name.txt, each a few "key: value" lines (n,
 * expect, status, extra, bodyN, content-type), a blank line, then the
 * body, whose line ends become CRLF as on the wire. */
#include <dirent.h>

#include "lib_all.h"
#include "tap.h"

struct spec {
	size_t n, extra;
	int expect_ok, raw;
	int status[8];
	char *body[8];
	char ctype[8192];
	char *wire;
	size_t wire_len;
};

/* Reads one data file into *s; 0 or -1. */
static int
load(const char *path, struct spec *s)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	size_t cap = 1 << 16;
	int in_body = 0;

	memset(s, 0, sizeof(*s));
	if (f == NULL || (s->wire = malloc(cap)) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t l = strcspn(line, "\n");
		if (in_body && s->raw) {
			/* byte for byte, line ends as they are */
			l = strlen(line);
			if (s->wire_len + l + 1 > cap)
				return -1;
			memcpy(s->wire + s->wire_len, line, l);
			s->wire_len += l;
			continue;
		}
		line[l] = '\0';
		if (in_body) {
			if (s->wire_len + l + 3 > cap)
				return -1;
			memcpy(s->wire + s->wire_len, line, l);
			s->wire_len += l;
			memcpy(s->wire + s->wire_len, "\r\n", 2);
			s->wire_len += 2;
			continue;
		}
		if (line[0] == '#')
			continue;
		if (line[0] == '\0') {
			in_body = 1;
			continue;
		}
		if (strncmp(line, "n: ", 3) == 0)
			s->n = (size_t)atoi(line + 3);
		else if (strncmp(line, "expect: ", 8) == 0)
			s->expect_ok = strcmp(line + 8, "ok") == 0;
		else if (strncmp(line, "raw: ", 5) == 0)
			s->raw = atoi(line + 5);
		else if (strncmp(line, "extra: ", 7) == 0)
			s->extra = (size_t)atoi(line + 7);
		else if (strncmp(line, "status:", 7) == 0) {
			char *p = line + 7, *e;
			for (size_t i = 0; i < 8; i++, p = e) {
				s->status[i] = (int)strtol(p, &e, 10);
				if (e == p)
					break;
			}
		} else if (strncmp(line, "body", 4) == 0 && line[5] == ':') {
			int i = line[4] - '1';
			if (i >= 0 && i < 8)
				s->body[i] = strdup(line[6] == ' ' ? line + 7 : line + 6);
		} else if (strncmp(line, "content-type: ", 14) == 0)
			snprintf(s->ctype, sizeof(s->ctype), "%s", line + 14);
	}
	fclose(f);
	if (s->wire_len < cap)
		s->wire[s->wire_len] = '\0';
	return 0;
}

static void
check_file(const char *path)
{
	struct spec s;
	struct gpush_batch_result *r = (struct gpush_batch_result *)0x1;
	enum gpush_err e;

	if (!ok(load(path, &s) == 0, "load %s", path))
		return;
	e = gpush_batch_parse(s.ctype, s.wire, s.wire_len, s.n, &r);
	if (!s.expect_ok) {
		ok(e == GPUSH_ERR_PARSE && r == NULL, "%s: refused (%s)", path,
		    gpush_strerror(e));
	} else if (ok(e == GPUSH_OK && r != NULL, "%s: read (%s)", path,
	    gpush_strerror(e))) {
		is_int(gpush_batch_count(r), s.n, "  the number of calls");
		for (size_t i = 0; i < s.n && i < 8; i++) {
			size_t len;
			const char *b = gpush_batch_body(r, i, &len);
			is_int(gpush_batch_status(r, i), s.status[i], "  a call's status");
			if (s.body[i] != NULL)
				ok(b != NULL && len == strlen(s.body[i]) &&
				    strcmp(b, s.body[i]) == 0, "  call %zu body: %s", i + 1,
				    b != NULL ? b : "(none)");
			if (s.status[i] == 0)
				ok(b == NULL && len == 0, "  call %zu has no body", i + 1);
		}
		is_int(gpush_batch_extra(r), s.extra, "  parts that answer no call");
		ok(gpush_batch_status(r, s.n) == 0, "  past n: none");
	}
	gpush_batch_result_free(r == (struct gpush_batch_result *)0x1 ? NULL : r);
	for (size_t i = 0; i < 8; i++)
		free(s.body[i]);
	free(s.wire);
}

static int
by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void
test_files(const char *dir)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, by_name), files = 0;
	char path[1024];

	for (int i = 0; i < n; i++) {
		if (strstr(ents[i]->d_name, ".txt") != NULL) {
			snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
			check_file(path);
			files++;
		}
		free(ents[i]);
	}
	free(ents);
	ok(files >= 12, "%d data files in %s", files, dir);
}

/* The request: parts in order with their ids, request lines, bodies. */
static void
test_build(void)
{
	struct gpush_batch_call calls[2] = {
		{ "POST", "/drive/v3/files/F/watch", "{\"id\":\"a\"}" },
		{ "POST", "/drive/v3/changes/watch?pageToken=1", "{\"id\":\"b\"}" },
	};
	const char *want =
	    "--BB\r\nContent-Type: application/http\r\nContent-ID: <item-1>\r\n\r\n"
	    "POST /drive/v3/files/F/watch HTTP/1.1\r\n"
	    "Content-Type: application/json; charset=UTF-8\r\nContent-Length: 10\r\n"
	    "\r\n{\"id\":\"a\"}\r\n"
	    "--BB\r\nContent-Type: application/http\r\nContent-ID: <item-2>\r\n\r\n"
	    "POST /drive/v3/changes/watch?pageToken=1 HTTP/1.1\r\n"
	    "Content-Type: application/json; charset=UTF-8\r\nContent-Length: 10\r\n"
	    "\r\n{\"id\":\"b\"}\r\n--BB--\r\n";
	struct gpush_batch_call many[GPUSH_BATCH_MAX + 1];
	char *out = (char *)0x1;
	size_t len = 7;

	ok(gpush_batch_build(calls, 2, "BB", &out, &len) == GPUSH_OK, "build");
	is_str(out, want, "  the multipart/mixed body");
	is_int(len, strlen(want), "  its length");
	free(out);
	ok(gpush_batch_build(calls, 2, "a\"b", &out, &len) == GPUSH_ERR_ARG &&
	    out == NULL && len == 0, "bad boundary refused");
	ok(gpush_batch_build(calls, 2, "id", &out, &len) == GPUSH_ERR_ARG,
	    "a boundary inside a body is refused");
	ok(gpush_batch_build(calls, 0, "B", &out, &len) == GPUSH_ERR_ARG, "0 calls");
	for (size_t i = 0; i <= GPUSH_BATCH_MAX; i++)
		many[i] = calls[0];
	ok(gpush_batch_build(many, GPUSH_BATCH_MAX, "B", &out, &len) == GPUSH_OK,
	    "%d calls", GPUSH_BATCH_MAX);
	free(out);
	ok(gpush_batch_build(many, GPUSH_BATCH_MAX + 1, "B", &out, &len) ==
	    GPUSH_ERR_ARG, "%d calls refused", GPUSH_BATCH_MAX + 1);
	calls[0].target = "/a b";
	ok(gpush_batch_build(calls, 1, "B", &out, &len) == GPUSH_ERR_ARG,
	    "a space in the target refused");
	calls[0].target = "/x";
	calls[0].method = "post";
	ok(gpush_batch_build(calls, 1, "B", &out, &len) == GPUSH_ERR_ARG,
	    "a lower-case method refused");
}

/* What we build, answered part for part, reads back (a loop through the
 * parser with our own ids). */
static void
test_round(void)
{
	char *wire = malloc(1 << 20), *p = wire;
	struct gpush_batch_result *r;

	for (int i = GPUSH_BATCH_MAX; i >= 1; i--)
		p += sprintf(p, "--z\r\nContent-Type: application/http\r\n"
		    "Content-ID: <response-item-%d>\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"
		    "{\"id\":\"%d\"}\r\n", i, i);
	p += sprintf(p, "--z--\r\n");
	ok(gpush_batch_parse("multipart/mixed; boundary=z", wire,
	    (size_t)(p - wire), GPUSH_BATCH_MAX, &r) == GPUSH_OK,
	    "%d parts, reversed", GPUSH_BATCH_MAX);
	int good = 1;
	for (int i = 0; i < GPUSH_BATCH_MAX; i++) {
		char want[32];
		snprintf(want, sizeof(want), "{\"id\":\"%d\"}", i + 1);
		good &= gpush_batch_status(r, (size_t)i) == 200 &&
		    strcmp(gpush_batch_body(r, (size_t)i, NULL), want) == 0;
	}
	ok(good, "  each matched by its Content-ID");
	gpush_batch_result_free(r);
	free(wire);
}

/* Bounds: a part over GPUSH_BATCH_PART_MAX, an answer over
 * GPUSH_BATCH_MAX_BYTES, NUL bytes, no content type. */
static void
test_hostile(void)
{
	size_t big = GPUSH_BATCH_PART_MAX + 100, o;
	char *wire = malloc(big + 512);
	struct gpush_batch_result *r;
	const char head[] = "--B\r\nContent-Type: application/http\r\n"
	    "Content-ID: <response-item-1>\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";

	o = (size_t)sprintf(wire, "%s", head);
	memset(wire + o, 'x', big);
	o += big;
	o += (size_t)sprintf(wire + o, "\r\n--B--\r\n");
	ok(gpush_batch_parse("multipart/mixed; boundary=B", wire, o, 1, &r) ==
	    GPUSH_ERR_PARSE && r == NULL, "a part over 1 MiB is refused");
	ok(gpush_batch_parse("multipart/mixed; boundary=B", wire,
	    GPUSH_BATCH_MAX_BYTES + 1, 1, &r) == GPUSH_ERR_TOOBIG && r == NULL,
	    "an answer over 8 MiB is refused before reading");
	ok(gpush_batch_parse(NULL, wire, o, 1, &r) == GPUSH_ERR_PARSE,
	    "no Content-Type");
	o = (size_t)sprintf(wire, "%s", head);
	wire[5] = '\0';
	o += (size_t)sprintf(wire + o, "{}\r\n--B--\r\n");
	ok(gpush_batch_parse("multipart/mixed; boundary=B", wire, o, 1, &r) ==
	    GPUSH_ERR_PARSE, "a NUL in the part headers");
	ok(gpush_batch_parse("multipart/mixed; boundary=B", "", 0, 1, &r) ==
	    GPUSH_ERR_PARSE, "empty");
	free(wire);
	gpush_batch_result_free(NULL);
}

int
main(int argc, char **argv)
{
	test_files(argc > 1 ? argv[1] : "tests/unit/data/batch");
	test_build();
	test_round();
	test_hostile();
	printf("1..%d\n", tap_n);
	return tap_failed != 0;
}
