/*
 * api.c -- the Google API a channel belongs to, read from its watch URL:
 * which API it is, the OAuth scope a watch needs, where its channels.stop
 * and its batch endpoint are, and how that API takes a requested lifetime.
 * Also the short names of the tool ("drive-file ID") and the URLs they
 * stand for.  Pure functions: no I/O, no clock (callers pass now).
 *
 * The facts are those of ../shared/google-channels.md (section numbers
 * below refer to it), from Google's push guides and discovery documents.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gpush_private.h"

#define SCOPE_BASE "https://www.googleapis.com/auth/"

struct gpush_api {
	enum gpush_api_kind kind;
	const char *name;          /* static */
	const char *resource;      /* static: "users", "files", ... */
	const char *scope;         /* static */
	char *watch_url;           /* as given */
	char *origin;              /* scheme://host[:port], no slash */
	char *target;              /* path[?query]: the batch part's line */
	char *stop_url;
	char *batch_url;
	enum gpush_ttl_how ttl_how;
	int64_t ttl_default, ttl_max; /* seconds; max 0: none published */
};

/* One documented watch path: segments, "*" for a path parameter. */
struct watch_path {
	enum gpush_api_kind kind;
	const char *resource;
	const char *pattern;
	const char *scope;          /* after SCOPE_BASE */
	int64_t ttl_default, ttl_max;
};

/*
 * §1a-§1d.  Lifetimes: Directory params.ttl default 2 h, max 2 d;
 * Reports expiration, default and max 6 h; Drive expiration, default 1 h,
 * max 1 d (files) or 1 w (changes); Calendar params.ttl default 1 w, no
 * published max.  Scopes: the read-only one that covers the watch; ACLs
 * are watchable with the full calendar scope only (§1d).
 */
static const struct watch_path paths[] = {
	{ GPUSH_API_DIRECTORY, "users", "admin/directory/v1/users/watch",
	  "admin.directory.user.readonly", 7200, 172800 },
	{ GPUSH_API_DIRECTORY, "aliases", "admin/directory/v1/users/*/aliases/watch",
	  "admin.directory.user.readonly", 7200, 172800 },
	{ GPUSH_API_REPORTS, "activities",
	  "admin/reports/v1/activity/users/*/applications/*/watch",
	  "admin.reports.audit.readonly", 21600, 21600 },
	{ GPUSH_API_DRIVE, "files", "drive/v3/files/*/watch",
	  "drive.readonly", 3600, 86400 },
	{ GPUSH_API_DRIVE, "changes", "drive/v3/changes/watch",
	  "drive.readonly", 3600, 604800 },
	{ GPUSH_API_CALENDAR, "events", "calendar/v3/calendars/*/events/watch",
	  "calendar.readonly", 604800, 0 },
	{ GPUSH_API_CALENDAR, "calendarList", "calendar/v3/users/me/calendarList/watch",
	  "calendar.readonly", 604800, 0 },
	{ GPUSH_API_CALENDAR, "acl", "calendar/v3/calendars/*/acl/watch",
	  "calendar", 604800, 0 },
	{ GPUSH_API_CALENDAR, "settings", "calendar/v3/users/me/settings/watch",
	  "calendar.readonly", 604800, 0 },
};

/* Per API: its name, stop path (§1: admin's use an underscore) and batch
 * path (§3: discovery batchPath; admin's is "batch"). */
static const struct {
	const char *name, *stop, *batch;
	enum gpush_ttl_how how;
} apis[] = {
	[GPUSH_API_DIRECTORY] = { "directory", "/admin/directory_v1/channels/stop",
	    "/batch", GPUSH_TTL_PARAM },
	[GPUSH_API_REPORTS] = { "reports", "/admin/reports_v1/channels/stop",
	    "/batch", GPUSH_TTL_EXPIRATION },
	[GPUSH_API_DRIVE] = { "drive", "/drive/v3/channels/stop",
	    "/batch/drive/v3", GPUSH_TTL_EXPIRATION },
	[GPUSH_API_CALENDAR] = { "calendar", "/calendar/v3/channels/stop",
	    "/batch/calendar/v3", GPUSH_TTL_PARAM },
};

/* §1b: the applicationName values of activities.watch. */
static const char *const report_apps[] = {
	"access_transparency", "admin", "calendar", "chat", "chrome",
	"context_aware_access", "data_studio", "drive", "gcp", "gplus",
	"groups", "groups_enterprise", "jamboard", "keep", "login", "meet",
	"mobile", "rules", "saml", "token", "user_accounts",
};

static const char unreserved[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "abcdefghijklmnopqrstuvwxyz0123456789-._~";

static int
hexdig(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* RFC 3986 pchar run of [s, s+n): unreserved, %XX, sub-delims, ':' '@';
 * extra also allowed (the query adds '/' '?').  1 or 0. */
static int
chars_ok(const char *s, size_t n, const char *extra)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '%') {
			if (i + 2 >= n || !hexdig(s[i + 1]) || !hexdig(s[i + 2]))
				return 0;
			i += 2;
			continue;
		}
		if (ch == '\0' || (!strchr(unreserved, ch) &&
		    !strchr("!$&'()*+,;=:@", ch) && !strchr(extra, ch)))
			return 0;
	}
	return 1;
}

/* The host[:port] of an https URL: a DNS name or IPv4 of [A-Za-z0-9.-],
 * or a bracketed IPv6 literal; a port of 1-5 digits.  No user info. */
static int
authority_ok(const char *s, size_t n)
{
	size_t h = n;
	const char *colon;

	if (n == 0)
		return 0;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (close == NULL || close == s + 1)
			return 0;
		for (const char *p = s + 1; p < close; p++)
			if (!strchr("0123456789abcdefABCDEF:.", *p))
				return 0;
		h = (size_t)(close - s) + 1;
	} else {
		colon = memchr(s, ':', n);
		h = colon != NULL ? (size_t)(colon - s) : n;
		if (h == 0)
			return 0;
		for (size_t i = 0; i < h; i++)
			if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789.-", s[i]) || s[i] == '\0')
				return 0;
	}
	if (h == n)
		return 1;
	if (s[h] != ':' || n - h - 1 < 1 || n - h - 1 > 5)
		return 0;
	long port = 0;
	for (size_t i = h + 1; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		port = port * 10 + (s[i] - '0');
	}
	return port >= 1 && port <= 65535;
}

/* Does path (without its leading '/', length n) match pattern?  "*"
 * matches one non-empty segment.  *app gets the segment that follows
 * "applications/" (Reports), for the caller to check. */
static int
path_match(const char *path, size_t n, const char *pattern,
    const char **app, size_t *applen)
{
	const char *p = path, *end = path + n, *q = pattern;

	*app = NULL;
	*applen = 0;
	while (*q != '\0') {
		const char *qs = strchr(q, '/'), *ps = memchr(p, '/', (size_t)(end - p));
		size_t ql = qs != NULL ? (size_t)(qs - q) : strlen(q);
		size_t pl = ps != NULL ? (size_t)(ps - p) : (size_t)(end - p);
		if (pl == 0)
			return 0;
		if (ql == 1 && q[0] == '*') {
			if (q - pattern >= 13 && strncmp(q - 13, "applications/", 13) == 0) {
				*app = p;
				*applen = pl;
			}
		} else if (pl != ql || memcmp(p, q, ql) != 0)
			return 0;
		q += ql;
		p += pl;
		if (*q == '/') {
			if (p == end)
				return 0;
			q++;
			p++;
		} else if (p != end)
			return 0;
	}
	return p == end;
}

/* Has the query (without '?') the parameter name with a non-empty value? */
static int
query_has(const char *q, size_t n, const char *name)
{
	size_t nl = strlen(name);
	const char *p = q, *end = q + n;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		size_t l = amp != NULL ? (size_t)(amp - p) : (size_t)(end - p);
		if (l > nl + 1 && strncmp(p, name, nl) == 0 && p[nl] == '=')
			return 1;
		p += l + 1;
	}
	return 0;
}

void
gpush_api_free(struct gpush_api *a)
{
	if (a == NULL)
		return;
	free(a->watch_url);
	free(a->origin);
	free(a->target);
	free(a->stop_url);
	free(a->batch_url);
	free(a);
}

/* a->origin followed by suffix, malloc'ed; NULL when out of memory. */
static char *
origin_plus(const struct gpush_api *a, const char *suffix)
{
	size_t n = strlen(a->origin) + strlen(suffix) + 1;
	char *s = malloc(n);

	if (s != NULL)
		snprintf(s, n, "%s%s", a->origin, suffix);
	return s;
}

/*
 * Reads a watch URL.  It must be https://HOST[:PORT]/PATH[?QUERY], at
 * most GPUSH_URL_MAX bytes of URL characters, without user info or a
 * fragment, and PATH one of the documented watch paths (any host: the
 * tests use 127.0.0.1).  Drive changes.watch needs pageToken (§1c), and
 * a Reports application must be one of §1b's.  *out is the caller's to
 * gpush_api_free; NULL on error (ARG: not such a URL; NOMEM).
 */
enum gpush_err
gpush_api_from_url(const char *url, struct gpush_api **out)
{
	const char *auth, *path, *query, *app;
	size_t n, an, pn, qn = 0, applen;
	const struct watch_path *wp = NULL;
	struct gpush_api *a;

	*out = NULL;
	if (url == NULL || (n = strnlen(url, GPUSH_URL_MAX + 1)) > GPUSH_URL_MAX ||
	    strncmp(url, "https://", 8) != 0)
		/* Lower case only: gpush_http_request takes nothing else, and
		 * a URL accepted here must be one that can be sent. */
		return GPUSH_ERR_ARG;
	auth = url + 8;
	path = strchr(auth, '/');
	if (path == NULL)
		return GPUSH_ERR_ARG;
	an = (size_t)(path - auth);
	if (!authority_ok(auth, an))
		return GPUSH_ERR_ARG;
	query = strchr(path, '?');
	pn = query != NULL ? (size_t)(query - path) : strlen(path);
	if (query != NULL) {
		query++;
		qn = strlen(query);
		if (!chars_ok(query, qn, "/?"))
			return GPUSH_ERR_ARG;
	}
	if (!chars_ok(path, pn, "/"))
		return GPUSH_ERR_ARG;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]) && wp == NULL; i++)
		if (path_match(path + 1, pn - 1, paths[i].pattern, &app, &applen))
			wp = &paths[i];
	if (wp == NULL)
		return GPUSH_ERR_ARG;
	if (wp->kind == GPUSH_API_REPORTS) {
		size_t i, napps = sizeof(report_apps) / sizeof(report_apps[0]);
		for (i = 0; i < napps; i++)
			if (strlen(report_apps[i]) == applen &&
			    memcmp(report_apps[i], app, applen) == 0)
				break;
		if (i == napps)
			return GPUSH_ERR_ARG;
	}
	if (strcmp(wp->resource, "changes") == 0 &&
	    (query == NULL || !query_has(query, qn, "pageToken")))
		return GPUSH_ERR_ARG;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return GPUSH_ERR_NOMEM;
	a->kind = wp->kind;
	a->name = apis[wp->kind].name;
	a->resource = wp->resource;
	a->scope = wp->scope;
	a->ttl_how = apis[wp->kind].how;
	a->ttl_default = wp->ttl_default;
	a->ttl_max = wp->ttl_max;
	if ((a->watch_url = strdup(url)) == NULL ||
	    (a->origin = gpush__strndup(url, 8 + an)) == NULL ||
	    (a->target = strdup(path)) == NULL ||
	    (a->stop_url = origin_plus(a, apis[wp->kind].stop)) == NULL ||
	    (a->batch_url = origin_plus(a, apis[wp->kind].batch)) == NULL) {
		gpush_api_free(a);
		return GPUSH_ERR_NOMEM;
	}
	*out = a;
	return GPUSH_OK;
}

enum gpush_api_kind gpush_api_kind(const struct gpush_api *a) { return a->kind; }
const char *gpush_api_name(const struct gpush_api *a) { return a->name; }
const char *gpush_api_resource(const struct gpush_api *a) { return a->resource; }
const char *gpush_api_watch_url(const struct gpush_api *a) { return a->watch_url; }
const char *gpush_api_target(const struct gpush_api *a) { return a->target; }
const char *gpush_api_stop_url(const struct gpush_api *a) { return a->stop_url; }
const char *gpush_api_batch_url(const struct gpush_api *a) { return a->batch_url; }
const char *gpush_api_origin(const struct gpush_api *a) { return a->origin; }
enum gpush_ttl_how gpush_api_ttl_how(const struct gpush_api *a) { return a->ttl_how; }
int64_t gpush_api_ttl_default(const struct gpush_api *a) { return a->ttl_default; }
int64_t gpush_api_ttl_max(const struct gpush_api *a) { return a->ttl_max; }

/* The scope as Google names it: "https://www.googleapis.com/auth/" and
 * the short name; static storage. */
const char *
gpush_api_scope(const struct gpush_api *a)
{
	/* One static string per table row: the table is small and fixed. */
	static char buf[sizeof(paths) / sizeof(paths[0])][96];

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (paths[i].scope == a->scope) {
			if (buf[i][0] == '\0')
				snprintf(buf[i], sizeof(buf[i]), "%s%s", SCOPE_BASE,
				    paths[i].scope);
			return buf[i];
		}
	return NULL;
}

/* Do two channels' APIs share one stop and one batch endpoint? */
int
gpush_api_same(const struct gpush_api *a, const struct gpush_api *b)
{
	return a->kind == b->kind && strcasecmp(a->origin, b->origin) == 0;
}

/*
 * Asks for a lifetime of secs seconds the way a's API takes it: Drive and
 * Reports an "expiration" of now_ms + secs in ms, Directory and Calendar
 * params.ttl in seconds (§1).  Over the API's published maximum it asks
 * for the maximum (Google would cap it anyway, §0), and *capped says so.
 * ARG for secs <= 0; c unchanged on error.
 */
enum gpush_err
gpush_api_set_ttl(const struct gpush_api *a, struct gpush_channel *c,
    int64_t secs, int64_t now_ms, int *capped)
{
	char num[24];

	*capped = 0;
	if (a == NULL || c == NULL || secs <= 0 || secs > INT64_C(3153600000) ||
	    now_ms < 0 || now_ms > INT64_C(253402300799999))
		return GPUSH_ERR_ARG;
	if (a->ttl_max > 0 && secs > a->ttl_max) {
		secs = a->ttl_max;
		*capped = 1;
	}
	if (a->ttl_how == GPUSH_TTL_EXPIRATION)
		return gpush_channel_set_expiration(c, now_ms + secs * 1000);
	snprintf(num, sizeof(num), "%lld", (long long)secs);
	return gpush_channel_set_param(c, "ttl", num);
}

/* ---- short names ---------------------------------------------------------- */

/* Appends the percent-encoding of v (all but unreserved) to buf at *o;
 * 0, or -1 when it does not fit. */
static int
put_enc(char *buf, size_t sz, size_t *o, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *v != '\0'; v++) {
		unsigned char ch = (unsigned char)*v;
		if (strchr(unreserved, ch) != NULL) {
			if (*o + 1 >= sz)
				return -1;
			buf[(*o)++] = (char)ch;
		} else {
			if (*o + 3 >= sz)
				return -1;
			buf[(*o)++] = '%';
			buf[(*o)++] = hex[ch >> 4];
			buf[(*o)++] = hex[ch & 15];
		}
	}
	buf[*o] = '\0';
	return 0;
}

/* Appends s as it is. */
static int
put(char *buf, size_t sz, size_t *o, const char *s)
{
	size_t n = strlen(s);

	if (*o + n >= sz)
		return -1;
	memcpy(buf + *o, s, n + 1);
	*o += n;
	return 0;
}

/* Appends "?name=value" or "&name=value" when value is set. */
static int
put_query(char *buf, size_t sz, size_t *o, int *first, const char *name,
    const char *value)
{
	if (value == NULL)
		return 0;
	if (put(buf, sz, o, *first ? "?" : "&") < 0 || put(buf, sz, o, name) < 0 ||
	    put(buf, sz, o, "=") < 0 || put_enc(buf, sz, o, value) < 0)
		return -1;
	*first = 0;
	return 0;
}

static const char *const short_names[] = {
	"directory-users", "directory-aliases", "reports-activity",
	"drive-changes", "drive-file", "calendar-events", "calendar-list",
	"calendar-acl", "calendar-settings", NULL,
};

int
gpush_api_is_short(const char *name)
{
	for (size_t i = 0; short_names[i] != NULL; i++)
		if (strcmp(name, short_names[i]) == 0)
			return 1;
	return 0;
}

/* A path segment value: non-empty and bounded; encoded by put_enc. */
static int
seg_ok(const char *v)
{
	return v != NULL && v[0] != '\0' && strlen(v) <= 1024 &&
	    gpush__text_ok(v, strlen(v));
}

/*
 * Expands a short name into its watch URL on Google's hosts (§1e):
 *   directory-users     (domain or customer; event)   .../users/watch
 *   directory-aliases   arg = userKey (event)         .../users/K/aliases/watch
 *   reports-activity    arg = application (user, default "all")
 *   drive-changes       page_token (required)         .../changes/watch
 *   drive-file          arg = file id                 .../files/ID/watch
 *   calendar-events     arg = calendar (default "primary")
 *   calendar-list, calendar-settings, calendar-acl (arg, default primary)
 * Values are percent-encoded.  *url is the caller's; NULL on error (ARG
 * names a missing or unknown part, NOMEM).  The result always passes
 * gpush_api_from_url.
 */
enum gpush_err
gpush_api_short_url(const struct gpush_api_short *s, char **url)
{
	char buf[GPUSH_URL_MAX + 1];
	size_t o = 0;
	int first = 1, r = 0;
	const char *n;
	struct gpush_api *check;

	*url = NULL;
	if (s == NULL || (n = s->name) == NULL || !gpush_api_is_short(n))
		return GPUSH_ERR_ARG;
	buf[0] = '\0';
	if (strcmp(n, "directory-users") == 0) {
		if ((s->domain == NULL) == (s->customer == NULL))
			return GPUSH_ERR_ARG; /* one of them, as the guide does */
		r = put(buf, sizeof(buf), &o, "https://admin.googleapis.com/admin/"
		    "directory/v1/users/watch") ||
		    put_query(buf, sizeof(buf), &o, &first, "customer", s->customer) ||
		    put_query(buf, sizeof(buf), &o, &first, "domain", s->domain) ||
		    put_query(buf, sizeof(buf), &o, &first, "event", s->event);
	} else if (strcmp(n, "directory-aliases") == 0) {
		if (!seg_ok(s->arg))
			return GPUSH_ERR_ARG;
		r = put(buf, sizeof(buf), &o, "https://admin.googleapis.com/admin/"
		    "directory/v1/users/") || put_enc(buf, sizeof(buf), &o, s->arg) ||
		    put(buf, sizeof(buf), &o, "/aliases/watch") ||
		    put_query(buf, sizeof(buf), &o, &first, "event", s->event);
	} else if (strcmp(n, "reports-activity") == 0) {
		const char *user = s->user != NULL ? s->user : "all";
		if (!seg_ok(s->arg) || !seg_ok(user))
			return GPUSH_ERR_ARG;
		r = put(buf, sizeof(buf), &o, "https://admin.googleapis.com/admin/"
		    "reports/v1/activity/users/") || put_enc(buf, sizeof(buf), &o, user) ||
		    put(buf, sizeof(buf), &o, "/applications/") ||
		    put_enc(buf, sizeof(buf), &o, s->arg) ||
		    put(buf, sizeof(buf), &o, "/watch");
	} else if (strcmp(n, "drive-changes") == 0) {
		if (!seg_ok(s->page_token))
			return GPUSH_ERR_ARG;
		r = put(buf, sizeof(buf), &o, "https://www.googleapis.com/drive/v3/"
		    "changes/watch") ||
		    put_query(buf, sizeof(buf), &o, &first, "pageToken", s->page_token);
	} else if (strcmp(n, "drive-file") == 0) {
		if (!seg_ok(s->arg))
			return GPUSH_ERR_ARG;
		r = put(buf, sizeof(buf), &o, "https://www.googleapis.com/drive/v3/"
		    "files/") || put_enc(buf, sizeof(buf), &o, s->arg) ||
		    put(buf, sizeof(buf), &o, "/watch");
	} else if (strcmp(n, "calendar-events") == 0 ||
	    strcmp(n, "calendar-acl") == 0) {
		const char *cal = s->arg != NULL ? s->arg : "primary";
		if (!seg_ok(cal))
			return GPUSH_ERR_ARG;
		r = put(buf, sizeof(buf), &o, "https://www.googleapis.com/calendar/v3/"
		    "calendars/") || put_enc(buf, sizeof(buf), &o, cal) ||
		    put(buf, sizeof(buf), &o, strcmp(n, "calendar-acl") == 0 ?
		    "/acl/watch" : "/events/watch");
	} else if (strcmp(n, "calendar-list") == 0) {
		r = put(buf, sizeof(buf), &o, "https://www.googleapis.com/calendar/v3/"
		    "users/me/calendarList/watch");
	} else {
		r = put(buf, sizeof(buf), &o, "https://www.googleapis.com/calendar/v3/"
		    "users/me/settings/watch");
	}
	if (r != 0)
		return GPUSH_ERR_ARG;
	/* What we build must be what we accept. */
	if (gpush_api_from_url(buf, &check) != GPUSH_OK)
		return GPUSH_ERR_ARG;
	gpush_api_free(check);
	return (*url = strdup(buf)) != NULL ? GPUSH_OK : GPUSH_ERR_NOMEM;
}
