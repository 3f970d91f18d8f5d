/*
 * gpush.fcgi -- the handler: one binary that serves FastCGI when a
 * FastCGI server starts it (mod_fcgid, lighttpd mod_fastcgi) and one
 * plain-CGI request (environment + stdin) otherwise.
 *
 * A request is a list of steps, each a small function below: method,
 * length, headers, channel, token and expiry, body, then dedup + append
 * (libgpush), and the answer.  Every step either passes or names the
 * gpush_err whose status Google should see.
 *
 * Environment read, and nothing else: REQUEST_METHOD, CONTENT_LENGTH,
 * HTTP_TRANSFER_ENCODING, HTTP_X_GOOG_* (through gpush_header_cgi),
 * GPUSH_DATABASE, GPUSH_DIR and GPUSH_SYNC.  HTTP_PROXY and the rest are
 * never looked at.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "gpush.h"

#ifndef GPUSH_DEFAULT_DIR
#define GPUSH_DEFAULT_DIR ""
#endif

/* Where a request comes from and goes to, in either mode. */
struct io {
	char       **envp;
	FCGX_Request *req;          /* NULL in plain CGI */
};

#define GOOG_MAX 32

/* The environment entries a request reads, found in one pass (gather). */
enum var {
	V_METHOD, V_PROXY, V_LENGTH, V_TE, V_DIR, V_DATABASE, V_SYNC,
	V_LOG_GROUP, NVARS
};

struct request {
	struct io   *io;
	const char  *var[NVARS];    /* values, or NULL when absent */
	char        *goog[GOOG_MAX + 1]; /* the HTTP_X_GOOG_* entries only */
	size_t       goog_len[GOOG_MAX]; /* their names' lengths past the prefix */
	enum gpush_err goog_err;    /* what step_goog answers */
	size_t       length;
	char        *body;
	struct gpush_notification *n;
	const struct gpush_channel *c;
	int          duplicate;
};

static struct gpush_store *store;
static char *store_dir;         /* the directory, or the connection string */
static int store_db;            /* store_dir is a database's */
static char store_why[512];     /* why the database did not open */
static volatile sig_atomic_t stopping, busy, armed;

static void
logmsg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("gpush.fcgi: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void
warn_cb(void *ctx, const char *msg)
{
	(void)ctx;
	logmsg("%s", msg);
}

#define VAR(name) { name, sizeof(name) - 1 }
static const struct {
	const char *name;
	size_t      len;
} var_names[NVARS] = {
	[V_METHOD] = VAR("REQUEST_METHOD"), [V_PROXY] = VAR("HTTP_PROXY"),
	[V_LENGTH] = VAR("CONTENT_LENGTH"), [V_TE] = VAR("HTTP_TRANSFER_ENCODING"),
	[V_DIR] = VAR("GPUSH_DIR"), [V_DATABASE] = VAR("GPUSH_DATABASE"),
	[V_SYNC] = VAR("GPUSH_SYNC"), [V_LOG_GROUP] = VAR("GPUSH_LOG_GROUP"),
};

/* The process's own value of variable v (FcgidInitialEnv, lighttpd's
 * bin-environment), looked up once: nothing changes a running process's
 * environment, and a getenv per request was a scan of it. */
static const char *
proc_env(enum var v)
{
	static const char *val[NVARS];
	static int looked[NVARS];

	if (!looked[v]) {
		val[v] = getenv(var_names[v].name);
		looked[v] = 1;
	}
	return val[v];
}

/*
 * One pass over the request's environment (libfcgi replaces it on every
 * accept, so nothing is kept across requests): the variables of enum var,
 * the first of each name as env() would find it, and the HTTP_X_GOOG_*
 * entries.  Eight lookups of their own scanned the whole environment
 * eight times, a tenth of a request's instructions.
 *
 * The same X-Goog parameter twice can only come from two spellings of
 * one header name (servers merge true repeats into "a, b", and map '-',
 * '_' and other punctuation alike): which one is real is unknowable, so
 * neither is used.  More X-Goog headers than Google sends is refused too.
 * Both are step_goog's answer, in the steps' order.
 */
static void
gather(struct request *r)
{
	static const char pre[] = "HTTP_X_GOOG_";
	size_t n = 0;

	for (char **e = r->io->envp; e != NULL && *e != NULL; e++) {
		const char *s = *e;
		if (strncmp(s, pre, sizeof(pre) - 1) == 0) {
			const char *eq = strchr(s, '=');
			if (eq == NULL || n == GOOG_MAX) {
				r->goog_err = GPUSH_ERR_HEADER;
				continue;
			}
			for (size_t j = 0; j < n; j++)
				if (strncmp(r->goog[j], s, (size_t)(eq - s) + 1) == 0)
					r->goog_err = GPUSH_ERR_HEADER;
			r->goog_len[n] = (size_t)(eq - s) - (sizeof(pre) - 1);
			r->goog[n++] = *e;
			continue;
		}
		for (size_t v = 0; v < NVARS; v++) {
			size_t len = var_names[v].len;
			if (s[0] != var_names[v].name[0] || r->var[v] != NULL)
				continue;
			if (strncmp(s, var_names[v].name, len) == 0 && s[len] == '=') {
				r->var[v] = s + len + 1;
				break;
			}
		}
	}
	r->goog[n] = NULL;
}

/*
 * gpush_header_cgi over the gathered HTTP_X_GOOG_* entries, compared past
 * the prefix they share and only where the lengths agree
 * ("X-Goog-Channel-ID" matches HTTP_X_GOOG_CHANNEL_ID: '-' as '_',
 * letters in upper case, RFC 3875 4.1.18).  Any other name goes to
 * gpush_header_cgi over the same entries.
 */
static const char *
goog_header(void *ctx, const char *name)
{
	const struct request *r = ctx;
	size_t len;

	if (strncasecmp(name, "X-Goog-", 7) != 0)
		return gpush_header_cgi((void *)r->goog, name);
	name += 7;
	len = strlen(name);
	for (size_t i = 0; r->goog[i] != NULL; i++) {
		const char *e = r->goog[i] + 12;
		size_t k;
		if (r->goog_len[i] != len)
			continue;
		for (k = 0; k < len; k++) {
			char want = name[k] == '-' ? '_' : (name[k] >= 'a' &&
			    name[k] <= 'z') ? (char)(name[k] - 'a' + 'A') : name[k];
			if (e[k] != want)
				break;
		}
		if (k == len)
			return e + len + 1;
	}
	return NULL;
}

static enum gpush_err
step_method(struct request *r)
{
	const char *m = r->var[V_METHOD];

	return m != NULL && strcmp(m, "POST") == 0 ? GPUSH_OK : GPUSH_ERR_METHOD;
}

/* Google never sends "Proxy:", and a CGI program that passes HTTP_PROXY
 * on as a proxy setting is the httpoxy hole: such a request is refused
 * outright rather than quietly served. */
static enum gpush_err
step_proxy(struct request *r)
{
	return r->var[V_PROXY] != NULL ? GPUSH_ERR_PROXY : GPUSH_OK;
}

/* The X-Goog headers' number and uniqueness, as gather() found them. */
static enum gpush_err
step_goog(struct request *r)
{
	return r->goog_err;
}

/*
 * CONTENT_LENGTH is checked before anything is read: digits only (no
 * sign, no spaces), and over 64 KiB is refused from the header alone.
 * A chunked body without a length is refused rather than read unbounded.
 */
static enum gpush_err
step_length(struct request *r)
{
	const char *cl = r->var[V_LENGTH];
	size_t v = 0, i;

	r->length = 0;
	/* Any transfer coding (de-chunked or not by the server in front):
	 * Google sends a Content-Length, so a body without one is refused. */
	if (r->var[V_TE] != NULL)
		return GPUSH_ERR_NOLENGTH;
	if (cl == NULL || cl[0] == '\0')
		return GPUSH_OK;
	for (i = 0; cl[i] != '\0'; i++) {
		if (cl[i] < '0' || cl[i] > '9')
			return GPUSH_ERR_LENGTH;
		if (v > GPUSH_BODY_MAX)
			return GPUSH_ERR_TOOBIG;
		v = v * 10 + (size_t)(cl[i] - '0');
	}
	if (v > GPUSH_BODY_MAX)
		return GPUSH_ERR_TOOBIG;
	r->length = v;
	return GPUSH_OK;
}

static enum gpush_err
step_headers(struct request *r)
{
	return gpush_notification_parse(goog_header, r, &r->n);
}

static enum gpush_err
step_channel(struct request *r)
{
	return gpush_store_channel(store, gpush_notification_channel_id(r->n),
	    &r->c);
}

static enum gpush_err
step_verify(struct request *r)
{
	return gpush_notification_verify(r->n, r->c, gpush_now_ms());
}

/* Reads exactly r->length bytes; fewer is a 400 (the client lied). */
static enum gpush_err
step_body(struct request *r)
{
	size_t got = 0;

	if ((r->body = malloc(r->length + 1)) == NULL)
		return GPUSH_ERR_NOMEM;
	while (got < r->length) {
		ssize_t n;
		if (r->io->req != NULL)
			n = FCGX_GetStr(r->body + got, (int)(r->length - got),
			    r->io->req->in);
		else
			n = read(STDIN_FILENO, r->body + got, r->length - got);
		if (n < 0 && errno == EINTR && r->io->req == NULL)
			continue;
		if (n <= 0)
			return GPUSH_ERR_LENGTH;
		got += (size_t)n;
	}
	r->body[got] = '\0';
	return gpush_notification_set_body(r->n, r->body, r->length);
}

static enum gpush_err
step_store(struct request *r)
{
	return gpush_store_accept(store, r->n, gpush_now_ms(), &r->duplicate);
}

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 411: return "Length Required";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Payload Too Large";
	case 503: return "Service Unavailable";
	default:  return "Internal Server Error";
	}
}

/* The answers to accepted notifications, made at compile time: a
 * snprintf per request was more than its share of the handler's CPU. */
#define ANSWER_200(text) "Status: 200 OK\r\nContent-Type: text/plain; " \
	"charset=utf-8\r\nCache-Control: no-store\r\n\r\n" text "\n"
static const char answer_ok[] = ANSWER_200("ok");
static const char answer_dup[] = ANSWER_200("duplicate");

/* Writes the status and a one-line text body; -1 when the client is gone. */
static int
answer(struct io *io, enum gpush_err e, int duplicate)
{
	char buf[512];
	const char *out = buf;
	int status = gpush_http_status(e), len;

	if (e == GPUSH_OK && duplicate) {
		out = answer_dup;
		len = (int)sizeof(answer_dup) - 1;
	} else if (e == GPUSH_OK) {
		out = answer_ok;
		len = (int)sizeof(answer_ok) - 1;
	} else {
		len = snprintf(buf, sizeof(buf), "Status: %d %s\r\n%sContent-Type: "
		    "text/plain; charset=utf-8\r\nCache-Control: no-store\r\n\r\n"
		    "%s\n", status, reason(status),
		    e == GPUSH_ERR_METHOD ? "Allow: POST\r\n" : "", gpush_strerror(e));
	}
	if (io->req != NULL)
		return FCGX_PutStr(out, len, io->req->out) == len ? 0 : -1;
	if (fwrite(out, 1, (size_t)len, stdout) != (size_t)len ||
	    fflush(stdout) != 0)
		return -1;
	return 0;
}

/* The data directory: the request's GPUSH_DIR (SetEnv under mod_fcgid),
 * else the process's (FcgidInitialEnv, bin-environment), else the one
 * compiled in.  Opens or reopens the store when it changes. */
static enum gpush_err
open_store(const struct request *r)
{
	const char *dir = r->var[V_DIR];
	const char *db = r->var[V_DATABASE];
	enum gpush_err e;

	/* GPUSH_DATABASE (a libpq connection string), looked for like
	 * GPUSH_DIR, selects the PostgreSQL store; it is never logged as is
	 * (it may hold a password): messages use gpush_conninfo_redact(). */
	if (db == NULL || db[0] == '\0')
		db = proc_env(V_DATABASE);
	if (db != NULL && db[0] != '\0') {
		if (store != NULL && store_db && strcmp(store_dir, db) == 0)
			return GPUSH_OK;
		gpush_store_free(store);
		free(store_dir);
		store = NULL;
		store_db = 1;
		if ((store_dir = strdup(db)) == NULL)
			return GPUSH_ERR_NOMEM;
		e = gpush_store_open_database(db, &store, store_why,
		    sizeof(store_why));
		if (e == GPUSH_OK)
			gpush_store_set_warn(store, warn_cb, NULL);
		return e;
	}
	if (dir == NULL || dir[0] == '\0')
		dir = proc_env(V_DIR);
	if (dir == NULL || dir[0] == '\0')
		dir = GPUSH_DEFAULT_DIR;
	if (dir[0] == '\0')
		return GPUSH_ERR_CONFIG;
	if (store != NULL && !store_db && strcmp(store_dir, dir) == 0)
		return GPUSH_OK;
	gpush_store_free(store);
	free(store_dir);
	store = NULL;
	store_db = 0;
	if ((store_dir = strdup(dir)) == NULL)
		return GPUSH_ERR_NOMEM;
	if ((e = gpush_store_open(dir, &store)) != GPUSH_OK)
		return e;
	gpush_store_set_warn(store, warn_cb, NULL);
	return GPUSH_OK;
}

/* Durability, read on every request like GPUSH_DIR: the request's
 * GPUSH_SYNC, else the process's; only "0" turns the fdatasync off.  A
 * per-request SetEnv (mod_fcgid) thus holds for every request a process
 * serves, not only for the one that opened the store. */
static void
set_sync(const struct request *r)
{
	const char *sync = r->var[V_SYNC];

	if (sync == NULL)
		sync = proc_env(V_SYNC);
	gpush_store_set_sync(store, !(sync != NULL && strcmp(sync, "0") == 0));
}

/* GPUSH_LOG_GROUP=1, read like GPUSH_SYNC: the log 0640 for a consumer in
 * the data directory's group (README, "Consuming the log"). */
static void
set_log_group(const struct request *r)
{
	const char *v = r->var[V_LOG_GROUP];

	if (v == NULL)
		v = proc_env(V_LOG_GROUP);
	gpush_store_set_log_group(store, v != NULL && strcmp(v, "1") == 0);
}

/* Runs the steps in order; the first failure decides the answer. */
static void
handle(struct io *io, int cache)
{
	static enum gpush_err (*const steps[])(struct request *) = {
		step_method, step_proxy, step_length, step_goog, step_headers,
		step_channel,
		step_verify, step_body, step_store,
	};
	struct request r;
	enum gpush_err e;

	memset(&r, 0, sizeof(r));
	r.io = io;
	gather(&r);
	if ((e = open_store(&r)) != GPUSH_OK) {
		int saved = errno;
		if (store_db)
			logmsg("database: %s", store_why);
		else if (e == GPUSH_ERR_CONFIG)
			logmsg("%s", gpush_strerror(e));
		else
			logmsg("data directory %s: %s (%s; running as uid %ld)",
			    store_dir ? store_dir : "(none)", gpush_strerror(e),
			    strerror(saved), (long)geteuid());
		if (e == GPUSH_ERR_CONFIG)
			e = GPUSH_ERR_INTERNAL;
	} else {
		gpush_store_set_cache(store, cache); /* a no-op once set */
		set_sync(&r);
		set_log_group(&r);
		for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
			if ((e = steps[i](&r)) != GPUSH_OK)
				break;
	}
	if (gpush_http_status(e) >= 500 && r.n != NULL)
		logmsg("channel %s: %s%s%s", gpush_notification_channel_id(r.n),
		    gpush_strerror(e), store_db && store != NULL &&
		    gpush_store_error(store)[0] != '\0' ? ": " : "",
		    store_db && store != NULL ? gpush_store_error(store) : "");
	(void)answer(io, e, r.duplicate);
	gpush_notification_free(r.n);
	free(r.body);
}

static void
on_term(int sig)
{
	(void)sig;
	/* Not FCGX_ShutdownPending(): it would make libfcgi refuse the
	 * queued connections that serve_fcgi() still answers.  The alarm
	 * closes the gap between the loop's test of the flag and accept():
	 * a SIGTERM landing there would otherwise wait for a connection. */
	stopping = 1;
	if (!busy) {
		armed = 1;
		alarm(1);
	}
}

static void
on_alarm(int sig)
{
	(void)sig;
}

/* Accepts one more request if one is already waiting on the listening
 * socket; the alarm bounds the wait should another process take it. */
static int
accept_queued(FCGX_Request *req)
{
	struct pollfd p = { 0, POLLIN, 0 };
	int rc;

	if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN))
		return -1;
	alarm(1);
	rc = FCGX_Accept_r(req);
	alarm(0);
	return rc;
}

/* One request, never cut short by the stop alarm. */
static void
serve_one(FCGX_Request *req)
{
	struct io io = { req->envp, req };

	busy = 1;
	/* Only a SIGTERM before busy was set can have armed the alarm: no
	 * alarm(2) per request otherwise. */
	if (armed) {
		armed = 0;
		alarm(0);
	}
	handle(&io, 1);
	FCGX_Finish_r(req);
	busy = 0;
}

/*
 * FastCGI loop.  SIGTERM (a server restart) only sets a flag: the request
 * in hand finishes, its write is never cut.  Connections the server has
 * already queued on our socket are served too (mod_fcgid and lighttpd
 * give each process a socket of its own), so a restart drops nothing
 * that was sent; then the process exits.
 */
static int
serve_fcgi(void)
{
	FCGX_Request req;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0,
	    FCGI_FAIL_ACCEPT_ON_INTR) != 0)
		return 1;
	while (!stopping && FCGX_Accept_r(&req) >= 0)
		serve_one(&req);
	for (int k = 0; k < 256 && accept_queued(&req) >= 0; k++)
		serve_one(&req);
	gpush_store_free(store);
	free(store_dir);
	return 0;
}

extern char **environ;

int
main(void)
{
	struct io io = { environ, NULL };

	/* Past a file-size limit (ulimit -f) write() must fail with EFBIG, to
	 * be cut back and answered 503, rather than kill us mid-line. */
	signal(SIGXFSZ, SIG_IGN);
	if (!FCGX_IsCGI())
		return serve_fcgi();
	signal(SIGPIPE, SIG_IGN);
	handle(&io, 0);
	gpush_store_free(store);
	free(store_dir);
	return 0;
}
