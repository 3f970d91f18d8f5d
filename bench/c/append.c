/*
 * append.fcgi -- variants (b) and (b'): the naive ceilings.
 *
 * A libfcgi responder that builds the same log line gpush writes (same
 * keys, same order, the body copied in as it came) from the X-Goog-*
 * parameters and appends it to $BENCH_LOG with one write() on an O_APPEND
 * descriptor, then answers 200 with gpush's headers and body.  With
 * BENCH_SYNC=1 it also calls fdatasync() once per request before the
 * answer (b'): durability without group commit.
 *
 * What it does NOT do, on purpose: no registry, no token, no validation,
 * no JSON parsing or escaping, no dedup, no lock, no crash repair.  It is
 * the least any handler that writes the line must do, so gpush's cost
 * over it is the cost of gpush's checks and bookkeeping.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#define BODY_MAX (64 * 1024)

static char body[BODY_MAX + 1];
static char line[BODY_MAX + 4096];

static const char *
param(FCGX_Request *r, const char *name)
{
	const char *v = FCGX_GetParam(name, r->envp);

	return v != NULL ? v : "";
}

/* "Tue, 29 Oct 2013 20:32:02 GMT" -> ms since the epoch; -1 if absent. */
static long long
expiration_ms(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (s[0] == '\0' || strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm) == NULL)
		return -1;
	return (long long)timegm(&tm) * 1000;
}

static void
answer(FCGX_Request *r, int ok)
{
	if (ok)
		FCGX_PutS("Status: 200 OK\r\nContent-Type: text/plain; "
		    "charset=utf-8\r\nCache-Control: no-store\r\n\r\nok\n", r->out);
	else
		FCGX_PutS("Status: 503 Service Unavailable\r\nContent-Type: "
		    "text/plain; charset=utf-8\r\n\r\nstorage failed\n", r->out);
}

static void
handle(FCGX_Request *r, int fd, int sync)
{
	const char *cl = param(r, "CONTENT_LENGTH");
	long want = strtol(cl, NULL, 10);
	int got = 0, n, len;
	struct timespec ts;
	struct tm tm;
	char at[40], exp[64];
	long long e;

	if (want < 0 || want > BODY_MAX)
		want = 0;
	while (got < want && (n = FCGX_GetStr(body + got, (int)want - got,
	    r->in)) > 0)
		got += n;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%S", &tm);
	e = expiration_ms(param(r, "HTTP_X_GOOG_CHANNEL_EXPIRATION"));
	exp[0] = '\0';
	if (e >= 0)
		snprintf(exp, sizeof(exp), ",\"channel_expiration\":%lld", e);
	len = snprintf(line, sizeof(line),
	    "{\"received_at\":\"%s.%03ldZ\",\"channel_id\":\"%s\","
	    "\"message_number\":%s,\"resource_state\":\"%s\","
	    "\"resource_id\":\"%s\",\"resource_uri\":\"%s\"%s%s%.*s}\n",
	    at, ts.tv_nsec / 1000000, param(r, "HTTP_X_GOOG_CHANNEL_ID"),
	    param(r, "HTTP_X_GOOG_MESSAGE_NUMBER"),
	    param(r, "HTTP_X_GOOG_RESOURCE_STATE"),
	    param(r, "HTTP_X_GOOG_RESOURCE_ID"),
	    param(r, "HTTP_X_GOOG_RESOURCE_URI"), exp,
	    got > 0 ? ",\"body\":" : "", got, body);
	if (len < 0 || (size_t)len >= sizeof(line)) {
		answer(r, 0);
		return;
	}
	answer(r, write(fd, line, (size_t)len) == len &&
	    (!sync || fdatasync(fd) == 0));
}

int
main(void)
{
	const char *log = getenv("BENCH_LOG"), *s = getenv("BENCH_SYNC");
	int sync = s != NULL && strcmp(s, "1") == 0, fd;
	FCGX_Request req;

	if (log == NULL || log[0] == '\0') {
		fputs("append.fcgi: BENCH_LOG is not set\n", stderr);
		return 1;
	}
	fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "append.fcgi: %s: %s\n", log, strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&req) >= 0) {
		handle(&req, fd, sync);
		FCGX_Finish_r(&req);
	}
	return 0;
}
