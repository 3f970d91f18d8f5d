/*
 * cmd_health.c -- gpush health: the problems a monitoring system should
 * hear of, one line each, with the plugin exit codes of Nagios/Icinga
 * (0 OK, 1 warning, 2 critical, 3 unknown) -- issue 11.
 *
 * It reads the registry (renew's marks: gpushRenewState, gpushReplacedBy,
 * gpushReplaces, gpushMade) and the handler's dedup state, read-only, and
 * checks the handler's files as 'gpush check' does.  It prints ids,
 * addresses, API names and Google's messages; never a token or anything
 * from a credentials file but its path.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "gpush_tool.h"

#define H_OK       0
#define H_WARNING  1
#define H_CRITICAL 2
#define H_UNKNOWN  3
/* A channel made this long ago without its sync: the sync never came
 * (Google sends it right after the watch call; renew waits 30 s). */
#define SYNC_GRACE_DEFAULT "2m"

struct hch {
	struct gpush_channel *c;
	struct gpush_api *api;
};

struct health {
	struct gpush_store *s;
	struct hch *ch;
	size_t n, cap;
	int json, worst;
	size_t problems;
	int64_t now, within_ms, silence_ms, sync_grace_ms;
};

static void problem(struct health *h, int sev, const char *what,
    const char *id, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* One problem: "CRITICAL: ..." / "WARNING: ...", or a JSON object. */
static void
problem(struct health *h, int sev, const char *what, const char *id,
    const char *fmt, ...)
{
	char text[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (sev > h->worst)
		h->worst = sev;
	h->problems++;
	if (h->json) {
		struct json_object *j = json_object_new_object();
		if (j == NULL)
			die_nomem();
		json_object_object_add(j, "severity", json_object_new_string(
		    sev == H_CRITICAL ? "critical" : "warning"));
		json_object_object_add(j, "problem", json_object_new_string(what));
		json_object_object_add(j, "channel", id != NULL ?
		    json_object_new_string(id) : NULL);
		json_object_object_add(j, "message", json_object_new_string(text));
		printf("%s\n", json_object_to_json_string_ext(j,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(j);
	} else
		printf("%s: %s\n", sev == H_CRITICAL ? "CRITICAL" : "WARNING", text);
}

/* check_handler_files()'s problems are critical: the handler fails. */
static void
file_problem(void *ctx, const char *line)
{
	problem(ctx, H_CRITICAL, "files", NULL, "the handler's files: %s", line);
}

/* gpush_registry_foreach callback: a copy of each channel and its API. */
static int
load_one(void *ctx, size_t lineno, const char *line,
    const struct gpush_channel *c, enum gpush_err e)
{
	struct health *h = ctx;
	struct hch *x;
	const char *url;

	if (c == NULL) {
		problem(h, H_WARNING, "registry", NULL, "%s:%zu: not a channel (%s): "
		    "see 'gpush check'", GPUSH_REGISTRY_FILE, lineno, gpush_strerror(e));
		return 0;
	}
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 16;
		struct hch *p = realloc(h->ch, cap * sizeof(*p));
		if (p == NULL)
			die_nomem();
		h->ch = p;
		h->cap = cap;
	}
	x = &h->ch[h->n];
	memset(x, 0, sizeof(*x));
	if (gpush_channel_parse(line, strlen(line), &x->c) != GPUSH_OK)
		return 0;
	h->n++;
	if ((url = gpush_channel_extra(c, WATCH_KEY)) != NULL)
		(void)gpush_api_from_url(url, &x->api);
	return 0;
}

/* The loaded channel id, or NULL. */
static const struct hch *
find(const struct health *h, const char *id)
{
	for (size_t i = 0; id != NULL && i < h->n; i++)
		if (strcmp(gpush_channel_id(h->ch[i].c), id) == 0)
			return &h->ch[i];
	return NULL;
}

/* "directory users" or "channel" (made without watch). */
static const char *
kind(const struct hch *x, char *buf, size_t sz)
{
	if (x->api == NULL)
		snprintf(buf, sz, "channel");
	else
		snprintf(buf, sz, "%s %s", gpush_api_name(x->api),
		    gpush_api_resource(x->api));
	return buf;
}

/* 1 when the handler accepted a message (the sync first) on id; *st is
 * its dedup state, zero when none. */
static int
got_sync(struct health *h, const char *id, struct gpush_channel_stats *st)
{
	memset(st, 0, sizeof(*st));
	return gpush_store_stats(h->s, id, st) == GPUSH_OK &&
	    (st->last_number >= 1 || st->accepted >= 1);
}

/* A replacement under way (it has gpushReplaces, and its old channel is
 * there): only whether it is stuck. */
static void
check_replacement(struct health *h, const struct hch *x, const char *old)
{
	const char *id = gpush_channel_id(x->c);
	int64_t made = extra_ms(x->c, MADE_KEY);
	struct gpush_channel_stats st;

	if (!has_rid(x->c)) {
		if (made + h->sync_grace_ms < h->now)
			problem(h, H_WARNING, "half-made", id, "channel %s, the "
			    "replacement of %s, is half made (a renew was "
			    "interrupted): the next 'gpush renew' clears it", id, old);
		return;
	}
	if (!got_sync(h, id, &st) && made + h->sync_grace_ms < h->now)
		problem(h, H_CRITICAL, "no-sync", id, "channel %s, the replacement "
		    "of %s, never got its sync message: the next 'gpush renew' "
		    "stops it and tries again; is %s reachable from Google?", id,
		    old, gpush_channel_address(x->c));
}

/* The problems of one channel, most serious first: expired, a failed
 * renewal, due without renewal, half made, sync never came, silence. */
static void
check_channel(struct health *h, const struct hch *x)
{
	const char *id = gpush_channel_id(x->c);
	const char *rep = gpush_channel_extra(x->c, REPLACED_BY_KEY);
	const char *old = gpush_channel_extra(x->c, REPLACES_KEY);
	const char *state = gpush_channel_extra(x->c, RENEW_STATE_KEY);
	const char *err = gpush_channel_extra(x->c, RENEW_ERROR_KEY);
	const struct hch *nx = find(h, rep);
	int64_t x_ms = gpush_channel_expiration(x->c), left, made;
	struct gpush_channel_stats st;
	char k[64], rel[64], at[25];
	int synced, working_rep = 0;

	if (old != NULL && find(h, old) != NULL) {
		check_replacement(h, x, old);
		return;
	}
	if (nx != NULL && has_rid(nx->c) && got_sync(h, rep, &st))
		working_rep = 1;
	kind(x, k, sizeof(k));
	if (x_ms > 0 && x_ms <= h->now) {
		gpush_format_rfc3339(x_ms, at);
		if (working_rep)
			problem(h, H_WARNING, "expired", id, "%s %s expired at %s; its "
			    "replacement %s works: the next 'gpush renew' removes it",
			    k, id, at, rep);
		else
			problem(h, H_CRITICAL, "expired", id, "%s %s expired at %s "
			    "without a working replacement: Google sends nothing for "
			    "it; run 'gpush renew' (or watch it again)", k, id, at);
		return;
	}
	if (state != NULL) {
		int sev = strcmp(state, "transient") == 0 ? H_WARNING : H_CRITICAL;
		gpush_format_rfc3339(extra_ms(x->c, RENEW_AT_KEY), at);
		problem(h, sev, "renew-failed", id, "%s %s: its renewal failed "
		    "last time (%s, %s): %s; it expires %s", k, id, state, at,
		    err != NULL ? err : "no detail recorded",
		    format_relative(x_ms, h->now, rel, sizeof(rel)));
	} else if (rep == NULL && channel_due(x->c, x->api, h->within_ms, h->now,
	    &left)) {
		if (x->api != NULL)
			problem(h, H_WARNING, "due", id, "%s %s expires %s and no "
			    "replacement is under way: is 'gpush renew' scheduled?",
			    k, id, format_relative(x_ms, h->now, rel, sizeof(rel)));
		else
			problem(h, H_WARNING, "due", id, "%s %s expires %s; it was not "
			    "made by 'gpush watch', so renew cannot replace it: watch "
			    "it again by hand", k, id,
			    format_relative(x_ms, h->now, rel, sizeof(rel)));
	}
	if (half_made(x->c)) {
		problem(h, H_WARNING, "half-made", id, "channel %s is half made "
		    "(watch never recorded Google's answer): see 'gpush check'", id);
		return;
	}
	synced = got_sync(h, id, &st);
	made = extra_ms(x->c, MADE_KEY);
	if (!synced && has_rid(x->c) && made > 0 && made + h->sync_grace_ms < h->now)
		problem(h, H_CRITICAL, "no-sync", id, "%s %s: not even its sync "
		    "message ever reached the handler: is %s reachable from Google, "
		    "and does 'gpush check' pass?", k, id, gpush_channel_address(x->c));
	else if (h->silence_ms > 0) {
		int64_t last = st.last_at_ms > 0 ? st.last_at_ms : made;
		if (last > 0 && h->now - last > h->silence_ms)
			problem(h, H_WARNING, "silence", id, "%s %s: no notification "
			    "for %lld s (--max-silence)", k, id,
			    (long long)((h->now - last) / 1000));
	}
}

/* The credentials file named by --credentials or
 * GOOGLE_APPLICATION_CREDENTIALS: readable, private, parsable. */
static void
check_credentials(struct health *h, const char *path)
{
	struct gpush_credentials *c = NULL;
	char why[GPUSH_WHY_MAX];
	enum gpush_err e;

	if (path == NULL) {
		const char *v = getenv("GOOGLE_APPLICATION_CREDENTIALS");
		path = v != NULL && v[0] != '\0' ? v : NULL;
	}
	if (path == NULL)
		return;
	why[0] = '\0';
	if ((e = gpush_credentials_load(path, &c, why, sizeof(why))) != GPUSH_OK)
		problem(h, H_CRITICAL, "credentials", NULL, "the credentials file "
		    "cannot be used, so renewal will fail: %s", why[0] != '\0' ? why :
		    gpush_strerror(e));
	gpush_credentials_free(c);
}

/* gpush health: see the file's comment; the exit code is the worst
 * severity found. */
int
cmd_health(struct tool *t, int argc, char **argv)
{
	struct health h;
	const char *silence = NULL, *within = NULL, *creds = NULL;
	const char *grace = SYNC_GRACE_DEFAULT;
	int rc, first, stopped;
	int64_t secs;

	memset(&h, 0, sizeof(h));
	{
		const struct tool_opt opts[] = {
			{ "max-silence", 0, NULL, &silence, NULL, NULL },
			{ "within", 0, NULL, &within, NULL, NULL },
			{ "credentials", 0, NULL, &creds, NULL, NULL },
			{ "sync-wait", 0, NULL, &grace, NULL, NULL },
			{ "json", 0, &h.json, NULL, NULL, NULL },
			TOOL_OPT_END,
		};
		if ((rc = tool_options(t, argc, argv, opts, 0, 0, &first)) != 0)
			return rc < 0 ? 0 : rc;
	}
	if (silence != NULL) {
		if (!parse_duration(silence, &secs))
			return usage_error(t, "--max-silence: a duration like 6h, 1d");
		h.silence_ms = secs * 1000;
	}
	if (!parse_duration(grace, &secs))
		return usage_error(t, "--sync-wait: a duration like 2m");
	h.sync_grace_ms = secs * 1000;
	if (within != NULL) {
		if (!parse_duration(within, &secs))
			return usage_error(t, "--within: a duration like 30m, 2h");
		h.within_ms = secs * 1000;
	}
	if (tool_store(t, &h.s) != 0) {
		printf("UNKNOWN: the data directory cannot be opened (see stderr)\n");
		return H_UNKNOWN;
	}
	h.now = gpush_now_ms();
	/* A database store has no handler files; its reachability was
	 * checked by opening it. */
	if (!gpush_store_is_database(h.s))
		(void)check_handler_files(gpush_store_dir(h.s), h.s,
		    file_problem, &h);
	check_credentials(&h, creds);
	if (gpush_store_foreach(h.s, load_one, &h, &stopped) != GPUSH_OK)
		problem(&h, H_CRITICAL, "registry", NULL, "%s cannot be read: %s",
		    gpush_store_is_database(h.s) ? "the channels table" :
		    GPUSH_REGISTRY_FILE, gpush_store_is_database(h.s) ?
		    gpush_store_error(h.s) : strerror(errno));
	for (size_t i = 0; i < h.n; i++)
		check_channel(&h, &h.ch[i]);
	if (h.problems == 0) {
		if (h.json)
			printf("{\"severity\":\"ok\",\"channels\":%zu}\n", h.n);
		else
			printf("OK: %zu channel(s), no problem\n", h.n);
	}
	for (size_t i = 0; i < h.n; i++) {
		gpush_channel_free(h.ch[i].c);
		gpush_api_free(h.ch[i].api);
	}
	free(h.ch);
	gpush_store_free(h.s);
	return h.worst;
}
