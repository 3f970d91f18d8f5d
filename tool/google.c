/*
 * google.c -- what every command that talks to Google shares: the
 * credentials / token / HTTP options, and opening the library's
 * credentials, HTTP client and token source from them.  The environment
 * is read here, not in lib/ (lib/gpush.h: the library reads none).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpush_tool.h"

int
google_opts_check(const struct tool *t, struct google_opts *o)
{
	int64_t n;

	if (o->timeout != NULL) {
		/* Seconds at most a day: libcurl takes long ms. */
		if (!parse_duration(o->timeout, &n) || n > 86400)
			return usage_error(t, "--timeout: a duration like 30s or 2m");
		o->timeout_ms = (long)n * 1000;
	}
	if (o->retries != NULL) {
		if (!gpush__parse_i64(o->retries, &n) || n < 1 || n > 20)
			return usage_error(t, "--retries must be a number from 1 to 20");
		o->retries_n = (int)n;
	}
	return 0;
}

/* A non-empty environment variable, or NULL. */
static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

int
google_open(const struct google_opts *o, const char *scope, const char *dir,
    struct google *g)
{
	char why[GPUSH_WHY_MAX];
	const char *subject = o->subject != NULL ? o->subject : env("GPUSH_SUBJECT");
	const char *cacert = o->cacert != NULL ? o->cacert : env("GPUSH_CACERT");
	enum gpush_err e;

	memset(g, 0, sizeof(*g));
	why[0] = '\0';
	/* libcurl with OpenSSL writes TLS secrets to $SSLKEYLOGFILE: with
	 * them the bearer tokens and the JWT could be read off the wire.
	 * Gone before the first HTTP client (and curl_global_init). */
	(void)unsetenv("SSLKEYLOGFILE");
	if (o->scope != NULL)
		scope = o->scope;
	if (scope == NULL || scope[0] == '\0')
		return fail("no OAuth scope: give --scope");
	if (o->token_command != NULL && o->credentials != NULL)
		return fail("--token-command and --credentials exclude each other");
	if (o->token_command != NULL)
		e = gpush_credentials_command(o->token_command, &g->creds);
	else
		e = gpush_credentials_find(o->credentials, getenv, &g->creds,
		    why, sizeof(why));
	if (e != GPUSH_OK)
		return fail("credentials: %s", why[0] ? why : gpush_strerror(e));
	if (subject != NULL &&
	    gpush_credentials_kind(g->creds) != GPUSH_CREDENTIALS_SERVICE_ACCOUNT) {
		int rc = fail("--subject (or GPUSH_SUBJECT) needs service account "
		    "credentials, not the %s", gpush_credentials_describe(g->creds));
		google_close(g);
		return rc;
	}
	if ((g->http = gpush_http_new()) == NULL) {
		google_close(g);
		return fail("cannot set up HTTP (libcurl)");
	}
	if (cacert != NULL &&
	    (e = gpush_http_set_cacert(g->http, cacert)) != GPUSH_OK) {
		google_close(g);
		return fail("--cacert %s: cannot be read", cacert);
	}
	if (o->proxy != NULL &&
	    (e = gpush_http_set_proxy(g->http, o->proxy)) != GPUSH_OK) {
		google_close(g);
		return fail("--proxy: %s", gpush_strerror(e));
	}
	if (o->timeout_ms > 0) {
		/* The retries share the budget of a few whole calls. */
		gpush_http_set_timeouts(g->http, o->timeout_ms < 10000 ?
		    o->timeout_ms : 10000, o->timeout_ms);
		gpush_http_set_retry(g->http, o->retries_n > 0 ? o->retries_n : 5,
		    2 * o->timeout_ms, 500);
	} else if (o->retries_n > 0)
		gpush_http_set_retry(g->http, o->retries_n, 120000, 500);
	if ((e = gpush_auth_new(g->creds, g->http, dir, subject, scope,
	    &g->auth)) != GPUSH_OK) {
		google_close(g);
		return fail("%s", gpush_strerror(e));
	}
	return 0;
}

void
google_close(struct google *g)
{
	gpush_auth_free(g->auth);
	gpush_http_free(g->http);
	gpush_credentials_free(g->creds);
	memset(g, 0, sizeof(*g));
}
