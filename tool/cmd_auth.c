/*
 * cmd_auth.c -- gpush auth: gets an access token with the credentials the
 * Google commands would use, and says whose it is and for how long,
 * never the token: a check of the credentials, delegation and network
 * without making a channel.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpush_tool.h"

/* The read-only scope each API's watch needs (google-channels.md §2). */
static const struct { const char *api, *scope; } api_scopes[] = {
	{ "directory", "https://www.googleapis.com/auth/admin.directory.user.readonly" },
	{ "reports", "https://www.googleapis.com/auth/admin.reports.audit.readonly" },
	{ "drive", "https://www.googleapis.com/auth/drive.readonly" },
	{ "calendar", "https://www.googleapis.com/auth/calendar.readonly" },
};

/* The scope of api (a name above, or one starting with it and "-", like
 * directory-users), or NULL. */
static const char *
api_scope(const char *api)
{
	for (size_t i = 0; i < sizeof(api_scopes) / sizeof(api_scopes[0]); i++) {
		size_t n = strlen(api_scopes[i].api);
		if (strncmp(api, api_scopes[i].api, n) == 0 &&
		    (api[n] == '\0' || api[n] == '-'))
			return api_scopes[i].scope;
	}
	return NULL;
}

/* The data directory when there is one (for the token cache); no message
 * when there is none: gpush auth works without. */
static const char *
cache_dir(const struct tool *t)
{
	const char *d = t->dir_opt;

	if (d == NULL || d[0] == '\0')
		d = getenv("GPUSH_DIR");
	if (d == NULL || d[0] == '\0')
		d = GPUSH_DEFAULT_DIR;
	return d[0] != '\0' ? d : NULL;
}

/* gpush auth [--api NAME] [Google options]: the exit code. */
int
cmd_auth(struct tool *t, int argc, char **argv)
{
	struct google_opts o;
	struct google g;
	char why[GPUSH_WHY_MAX];
	const char *scope = NULL, *api = NULL, *tok;
	int64_t exp;
	enum gpush_err e;
	int rc = 0, first;

	memset(&o, 0, sizeof(o));
	{
		const struct tool_opt opts[] = {
			{ "api", 0, NULL, &api, NULL, NULL },
			GOOGLE_TOOL_OPTS(o), TOOL_OPT_END,
		};
		if ((rc = tool_options(t, argc, argv, opts, 0, 0, &first)) != 0)
			return rc < 0 ? 0 : rc;
	}
	if ((rc = google_opts_check(t, &o)) != 0)
		return rc;
	if (api != NULL && (scope = api_scope(api)) == NULL)
		return usage_error(t, "--api: one of directory, reports, drive, "
		    "calendar");
	if (scope == NULL && o.scope == NULL)
		return usage_error(t, "give --scope SCOPE or --api NAME");
	if ((rc = google_open(&o, scope, cache_dir(t), &g)) != 0)
		return rc;
	why[0] = '\0';
	e = gpush_auth_token(g.auth, &tok, &exp, why, sizeof(why));
	if (e != GPUSH_OK)
		rc = fail("%s: %s", gpush_credentials_describe(g.creds),
		    why[0] ? why : gpush_strerror(e));
	else if (exp == 0)
		printf("ok: %s, token obtained (expiry unknown)\n",
		    gpush_credentials_describe(g.creds));
	else {
		int64_t left = exp - gpush_now_ms() / 1000;
		printf("ok: %s, token valid for %lld min\n",
		    gpush_credentials_describe(g.creds),
		    (long long)(left > 0 ? left / 60 : 0));
	}
	google_close(&g);
	return rc;
}
