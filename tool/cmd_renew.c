/*
 * cmd_renew.c -- gpush renew: replace the channels that expire soon by new
 * ones, without a gap, safe from cron at any time (issue 11).
 *
 * Google has no renewal: a replacement is a new channel with a new id,
 * and old and new overlap (google-channels.md §4, "Recommended renewal
 * practice", make-before-break).  For each channel O with a watch URL
 * (gpushWatch) that is due, renew:
 *   1. records a replacement N (new id and token, O's watch URL, address
 *      and params, O's lifetime) and the link O.gpushReplacedBy = N,
 *      N.gpushReplaces = O -- one registry edit, before the watch call
 *      (the sync may come before the answer, §1g);
 *   2. watches N (one batch per API) and merges the answer;
 *   3. waits (--sync-wait) until the handler has accepted N's sync
 *      (N's dedup state shows message 1);
 *   4. stops O (channels.stop) and removes it.  Only then: until N's sync
 *      was accepted, Google may still deliver on O, and the handler takes
 *      it.
 * Every step is one atomic registry edit written before the step, so a
 * run killed anywhere leaves a state the next run completes:
 *   - N registered but without resourceId (killed before the answer was
 *     merged, or an answer that never came): Google may or may not have
 *     made it.  It is stopped with O's resourceId (the same resource has
 *     the same resourceId, §0; a 404 means it was never made) and
 *     removed, then O gets a fresh replacement: never two live ones.
 *   - N complete, sync not accepted by gpushMade + --sync-wait: it is a
 *     dead replacement: stopped, removed, O marked (gpushRenewState
 *     "nosync") and retried by a later run with yet another channel.
 *   - O stopped but still registered: stopped again; 404 counts as done.
 * A lock (state/renew.lock, flock) keeps two runs apart: the second exits
 * 0 at once.
 */
#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "gpush_tool.h"

#define LOCK_NAME      "renew.lock"
#define HALF_GRACE_MS  INT64_C(5000)   /* a watch call may still be on its way */
#define DEFAULT_SYNC_WAIT "30s"
#define PAGE_TOKEN_MAX 1024

enum act { A_NONE, A_WATCH, A_HANDOVER, A_ABANDON };

/* A registry entry renew looks at (an old channel, the anchor). */
struct rch {
	struct gpush_channel *c;      /* a copy of the entry */
	struct gpush_api *api;        /* of its watch URL; NULL: not renewable */
	int      is_rep;              /* it is itself a replacement */
	/* its replacement, when linked */
	char    *rep_id, *rep_rid;
	int64_t  rep_made;
	int      rep_linked;
	/* this run */
	enum act act;
	int      nosync;
	struct call call;
	struct gpush_channel *fresh;  /* A_WATCH: the new replacement */
	char    *url;                 /* its watch URL */
};

struct renew {
	struct tool *t;
	struct gpush_store *s;
	struct rch *ch;
	size_t n, cap;
	struct google_opts g;
	int64_t within_ms, sync_wait_ms, now;
	const char *page_cmd;
	int dry, json, no_batch;
	size_t failed, actions;
};

/* ---- output ------------------------------------------------------------------- */

/* One action: a line on stdout, or with --json one object. */
static void
say(struct renew *r, const char *action, const struct rch *o,
    const char *rep, const char *result, const char *detail)
{
	r->actions++;
	if (r->json) {
		struct json_object *j = json_object_new_object();
		if (j == NULL)
			die_nomem();
		json_object_object_add(j, "action", json_object_new_string(action));
		json_object_object_add(j, "channel",
		    json_object_new_string(gpush_channel_id(o->c)));
		json_object_object_add(j, "replacement", rep != NULL ?
		    json_object_new_string(rep) : NULL);
		json_object_object_add(j, "api", o->api != NULL ?
		    json_object_new_string(gpush_api_name(o->api)) : NULL);
		json_object_object_add(j, "resource", o->api != NULL ?
		    json_object_new_string(gpush_api_resource(o->api)) : NULL);
		json_object_object_add(j, "result", json_object_new_string(result));
		json_object_object_add(j, "detail", detail != NULL ?
		    json_object_new_string(detail) : NULL);
		printf("%s\n", json_object_to_json_string_ext(j,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(j);
	} else
		printf("%s %s%s%s: %s%s%s\n", action, gpush_channel_id(o->c),
		    rep != NULL ? " -> " : "", rep != NULL ? rep : "", result,
		    detail != NULL ? ": " : "", detail != NULL ? detail : "");
	fflush(stdout);
}

/* ---- the registry as renew sees it ------------------------------------------------ */


/* gpush_registry_foreach callback: a copy of each channel, with the API
 * of its watch URL.  Lines that do not parse are check's business. */
static int
load_one(void *ctx, size_t lineno, const char *line,
    const struct gpush_channel *c, enum gpush_err e)
{
	struct renew *r = ctx;
	struct rch *x;
	const char *url;

	(void)lineno;
	(void)e;
	if (c == NULL)
		return 0;               /* check reports it */
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		struct rch *p = realloc(r->ch, cap * sizeof(*p));
		if (p == NULL)
			die_nomem();
		r->ch = p;
		r->cap = cap;
	}
	x = &r->ch[r->n];
	memset(x, 0, sizeof(*x));
	if (gpush_channel_parse(line, strlen(line), &x->c) != GPUSH_OK)
		return 0;
	r->n++;
	x->is_rep = gpush_channel_extra(c, REPLACES_KEY) != NULL;
	if ((url = gpush_channel_extra(c, WATCH_KEY)) != NULL)
		(void)gpush_api_from_url(url, &x->api);
	return 0;
}

/* The loaded channel id, or NULL. */
static struct rch *
find(struct renew *r, const char *id)
{
	for (size_t i = 0; id != NULL && i < r->n; i++)
		if (strcmp(gpush_channel_id(r->ch[i].c), id) == 0)
			return &r->ch[i];
	return NULL;
}

/* Reads the registry and links each channel to its replacement; a link
 * to an entry that is gone (a run killed between edits of an older
 * gpush, or a hand edit) is cleared. */
static int
load(struct renew *r)
{
	int stopped;
	struct reg_op ops[2];

	/* The store's walk: the registry file, or a database's channels. */
	if (gpush_store_foreach(r->s, load_one, r, &stopped) != GPUSH_OK)
		return gpush_store_is_database(r->s) ?
		    fail("channels: %s", gpush_store_error(r->s)) :
		    fail("%s: %s", GPUSH_REGISTRY_FILE, strerror(errno));
	for (size_t i = 0; i < r->n; i++) {
		struct rch *o = &r->ch[i], *n;
		const char *nid = gpush_channel_extra(o->c, REPLACED_BY_KEY);
		const char *oid = gpush_channel_extra(o->c, REPLACES_KEY);
		size_t k = 0;
		memset(ops, 0, sizeof(ops));
		if (nid != NULL && (n = find(r, nid)) != NULL) {
			o->rep_linked = 1;
			o->rep_id = xstrdup(nid);
			o->rep_made = extra_ms(n->c, MADE_KEY);
			if (has_rid(n->c))
				o->rep_rid = xstrdup(gpush_channel_resource_id(n->c));
			continue;
		}
		if (nid != NULL && !r->dry)
			ops[k++] = (struct reg_op){ gpush_channel_id(o->c), 0,
			    REPLACED_BY_KEY, NULL, NULL, 1 };
		if (oid != NULL && find(r, oid) == NULL && !r->dry) {
			ops[k++] = (struct reg_op){ gpush_channel_id(o->c), 0,
			    REPLACES_KEY, NULL, NULL, 1 };
			o->is_rep = 0;
		}
		if (k > 0 && registry_patch(r->s, ops, k) == GPUSH_OK)
			msg("note: channel %s: a link to a channel no longer in the "
			    "registry was cleared", gpush_channel_id(o->c));
	}
	return 0;
}

/* Records what went wrong on O (health shows it); best effort. */
static void
mark(struct renew *r, const struct rch *o, const char *state, const char *why)
{
	char at[24], buf[1024];
	struct reg_op ops[3];

	snprintf(at, sizeof(at), "%lld", (long long)gpush_now_ms());
	snprintf(buf, sizeof(buf), "%s", why);
	ops[0] = (struct reg_op){ gpush_channel_id(o->c), 0, RENEW_STATE_KEY,
	    state, NULL, 0 };
	ops[1] = (struct reg_op){ gpush_channel_id(o->c), 0, RENEW_ERROR_KEY,
	    state != NULL ? buf : NULL, NULL, 0 };
	ops[2] = (struct reg_op){ gpush_channel_id(o->c), 0, RENEW_AT_KEY,
	    state != NULL ? at : NULL, NULL, 0 };
	(void)registry_patch(r->s, ops, 3);
}

/* ---- the calls, one group per API ------------------------------------------------- */

/* The channel whose call c is. */
static struct rch *
rch_of(struct renew *r, struct call *c)
{
	for (size_t i = 0; i < r->n; i++)
		if (&r->ch[i].call == c)
			return &r->ch[i];
	return NULL;
}

/* Sends the calls of every channel whose act is act, grouped by API;
 * settle is called once per call.  A group whose credentials cannot be
 * opened settles with GPUSH_ERR_CREDENTIALS (nothing was sent). */
static void
send_group(struct renew *r, enum act act,
    void (*settle)(void *ctx, struct call *c))
{
	struct call **group = calloc(r->n + 1, sizeof(*group));
	char *done = calloc(r->n + 1, 1);

	if (group == NULL || done == NULL)
		die_nomem();
	for (size_t i = 0; i < r->n; i++) {
		size_t k = 0;
		struct google g;
		if (done[i] || r->ch[i].act != act)
			continue;
		for (size_t j = i; j < r->n; j++)
			if (!done[j] && r->ch[j].act == act &&
			    gpush_api_same(r->ch[i].api, r->ch[j].api)) {
				group[k++] = &r->ch[j].call;
				done[j] = 1;
			}
		if (google_open(&r->g, gpush_api_scope(r->ch[i].api),
		    gpush_store_dir(r->s), &g) != 0) {
			for (size_t j = 0; j < k; j++) {
				call_clear(group[j]);
				group[j]->err = GPUSH_ERR_CREDENTIALS;
				snprintf(group[j]->why, sizeof(group[j]->why),
				    "no access token (see above)");
				settle(r, group[j]);
			}
			continue;
		}
		calls_send(&g, gpush_api_batch_url(r->ch[i].api), group, k,
		    !r->no_batch, settle, r);
		google_close(&g);
	}
	free(group);
	free(done);
}

/* Sets up o->call as a channels.stop of (id, rid) at o's API. */
static void
stop_call(struct rch *o, const char *id, const char *rid)
{
	call_clear(&o->call);
	free(o->call.body);
	o->call.id = id;
	o->call.api = o->api;
	if ((o->call.body = stop_body(id, rid)) == NULL)
		die_nomem();
	o->call.url = gpush_api_stop_url(o->api);
	o->call.target = o->call.url + strlen(gpush_api_origin(o->api));
}

static int
stopped_ok(const struct call *c)
{
	/* 404: Google does not know it (never made, expired, stopped
	 * already) -- as good as stopped (§4 point 5). */
	return c->err == GPUSH_OK && ((c->status >= 200 && c->status <= 299) ||
	    c->status == 404);
}

/* ---- abandon: stop and remove a replacement that will not do --------------------- */

/* A replacement's stop answered: 2xx or 404 drops it and O's link (and
 * marks O when its sync never came); else it stays for the next run. */
static void
settle_abandon(void *ctx, struct call *c)
{
	struct renew *r = ctx;
	struct rch *o = rch_of(r, c);
	char why[GPUSH_WHY_MAX + 600], at[24];
	struct reg_op ops[5];
	size_t k = 0;

	c->done = 1;
	if (!stopped_ok(c)) {
		call_failure(c, NULL, why, sizeof(why));
		msg("channel %s: stopping its unusable replacement %s failed "
		    "(tried again next run): %s", gpush_channel_id(o->c), o->rep_id, why);
		say(r, "abandon", o, o->rep_id, "failed", why);
		r->failed++;
		return;
	}
	ops[k++] = (struct reg_op){ o->rep_id, 1, NULL, NULL, NULL, 1 };
	ops[k++] = (struct reg_op){ gpush_channel_id(o->c), 0, REPLACED_BY_KEY,
	    NULL, NULL, 0 };
	if (o->nosync) {
		/* at[] lives as long as ops[], up to the edit. */
		snprintf(at, sizeof(at), "%lld", (long long)gpush_now_ms());
		ops[k++] = (struct reg_op){ gpush_channel_id(o->c), 0,
		    RENEW_STATE_KEY, "nosync", NULL, 0 };
		ops[k++] = (struct reg_op){ gpush_channel_id(o->c), 0,
		    RENEW_ERROR_KEY, "the replacement's sync message never reached "
		    "the handler: is the address reachable from Google, and does "
		    "the handler accept it?", NULL, 0 };
		ops[k++] = (struct reg_op){ gpush_channel_id(o->c), 0,
		    RENEW_AT_KEY, at, NULL, 0 };
	}
	enum gpush_err e = registry_patch(r->s, ops, k);
	if (e != GPUSH_OK) {
		msg("channel %s: its replacement %s was stopped, but the registry "
		    "could not record it (%s): the next run does", gpush_channel_id(o->c),
		    o->rep_id, gpush_strerror(e));
		r->failed++;
		return;
	}
	if (o->nosync) {
		msg("channel %s: the sync of its replacement %s never reached the "
		    "handler within %llds: replacement stopped and removed, the old "
		    "channel kept (it expires %s); a later run tries again.  Is %s "
		    "reachable from Google, and does 'gpush check' pass?",
		    gpush_channel_id(o->c), o->rep_id,
		    (long long)(r->sync_wait_ms / 1000),
		    gpush_channel_expiration(o->c) > r->now ? "later" : "now",
		    gpush_channel_address(o->c));
		say(r, "abandon", o, o->rep_id, "failed", "the replacement's sync "
		    "never arrived; stopped and removed");
		r->failed++;
	} else
		say(r, "abandon", o, o->rep_id, "ok", "a half-made replacement "
		    "(left by an interrupted run) stopped and removed");
	free(o->rep_id);
	free(o->rep_rid);
	o->rep_id = o->rep_rid = NULL;
	o->rep_linked = 0;
}

/* Stops and removes the half-made replacements (no resourceId): left by
 * a run killed before the answer was recorded, or whose answer never
 * came.  Waits until each is HALF_GRACE_MS old: its watch call may still
 * be on its way to Google. */
static void
abandon_half_made(struct renew *r)
{
	int any = 0;

	for (size_t i = 0; i < r->n; i++) {
		struct rch *o = &r->ch[i];
		if (!o->rep_linked || o->rep_rid != NULL || o->api == NULL ||
		    !has_rid(o->c))
			continue;
		if (r->dry) {
			say(r, "abandon", o, o->rep_id, "planned", "a half-made "
			    "replacement would be stopped and removed");
			continue;
		}
		int64_t wait = o->rep_made + HALF_GRACE_MS - gpush_now_ms();
		if (wait > HALF_GRACE_MS)
			wait = HALF_GRACE_MS;
		if (wait > 0) {
			struct timespec ts = { (time_t)(wait / 1000),
			    (long)(wait % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
		/* The same resource has the same resourceId (§0). */
		stop_call(o, o->rep_id, gpush_channel_resource_id(o->c));
		o->act = A_ABANDON;
		any = 1;
	}
	if (any)
		send_group(r, A_ABANDON, settle_abandon);
	for (size_t i = 0; i < r->n; i++)
		if (r->ch[i].act == A_ABANDON)
			r->ch[i].act = A_NONE;
}

/* ---- watch the replacements ------------------------------------------------------------- */

/* --page-token-command: a current pageToken for a Drive changes channel,
 * put into its watch URL.  Returns a new URL (the caller frees) or NULL
 * after the message. */
static char *
page_token_url(struct renew *r, const struct rch *o, const char *url)
{
	char tok[PAGE_TOKEN_MAX + 2], *out;
	const char *q, *end;
	FILE *p;
	size_t n;
	int st;

	if (setenv("GPUSH_CHANNEL_ID", gpush_channel_id(o->c), 1) != 0 ||
	    setenv("GPUSH_WATCH_URL", url, 1) != 0 ||
	    (p = popen(r->page_cmd, "r")) == NULL) {
		msg("--page-token-command: cannot run it: %s", strerror(errno));
		return NULL;
	}
	n = fread(tok, 1, sizeof(tok) - 1, p);
	tok[n] = '\0';
	while (fgetc(p) != EOF)
		;
	st = pclose(p);
	while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r'))
		tok[--n] = '\0';
	if (st != 0 || n == 0 || n > PAGE_TOKEN_MAX ||
	    strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-._~") != n) {
		msg("channel %s: --page-token-command %s (a page token is one line "
		    "of A-Z a-z 0-9 - . _ ~)", gpush_channel_id(o->c), st != 0 ?
		    "failed" : "printed no usable page token");
		return NULL;
	}
	if ((q = strstr(url, "?pageToken=")) == NULL)
		q = strstr(url, "&pageToken=");
	if (q == NULL) {
		msg("channel %s: its watch URL has no pageToken", gpush_channel_id(o->c));
		return NULL;
	}
	q += strlen("?pageToken=");
	end = q + strcspn(q, "&#");
	n = (size_t)(q - url) + strlen(tok) + strlen(end) + 1;
	if ((out = malloc(n)) == NULL)
		die_nomem();
	snprintf(out, n, "%.*s%s%s", (int)(q - url), url, tok, end);
	return out;
}

/* Drive changes.watch (the watch needing a pageToken). */
static int
is_drive_changes(const struct gpush_api *a)
{
	return gpush_api_kind(a) == GPUSH_API_DRIVE &&
	    strcmp(gpush_api_resource(a), "changes") == 0;
}

/*
 * Makes O's replacement: O's address, type and params (a copy of O's
 * entry without id, token, the answer's keys and gpush's own keys), a
 * new id and token, the same lifetime as O's, its watch URL and the link
 * to O.  0, or -1 after the message.
 */
static int
make_replacement(struct renew *r, struct rch *o)
{
	char *line = NULL, id[37], tok[FRESH_TOKEN_SIZE], made[24];
	const char *url = gpush_channel_extra(o->c, WATCH_KEY);
	struct json_object *j;
	int64_t life = channel_lifetime_ms(o->c, o->api);
	int capped;

	if (gpush_channel_json(o->c, GPUSH_CHANNEL_RECORD, &line) != GPUSH_OK)
		die_nomem();
	j = json_tokener_parse(line);
	free(line);
	if (j == NULL || !json_object_is_type(j, json_type_object)) {
		json_object_put(j);
		return fail("channel %s: its entry cannot be copied",
		    gpush_channel_id(o->c));
	}
	{
		static const char *const drop[] = { "id", "token", "resourceId",
		    "resourceUri", "expiration", "kind" };
		char *gk[64];
		size_t ng = 0;
		for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
			json_object_object_del(j, drop[i]);
		json_object_object_foreach(j, k, v) {
			(void)v;
			if (strncmp(k, "gpush", 5) == 0 && ng < 64)
				gk[ng++] = xstrdup(k);
		}
		for (size_t i = 0; i < ng; i++) {
			json_object_object_del(j, gk[i]);
			free(gk[i]);
		}
	}
	if (fresh_id_token(id, tok) < 0) {
		json_object_put(j);
		return fail("getrandom: %s", strerror(errno));
	}
	json_object_object_add(j, "id", json_object_new_string(id));
	json_object_object_add(j, "token", json_object_new_string(tok));
	{
		const char *s = json_object_to_json_string_ext(j,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		enum gpush_err e = s != NULL ? gpush_channel_parse(s, strlen(s),
		    &o->fresh) : GPUSH_ERR_NOMEM;
		json_object_put(j);
		if (e != GPUSH_OK)
			return fail("channel %s: its entry cannot be copied: %s",
			    gpush_channel_id(o->c), gpush_strerror(e));
	}
	o->url = NULL;
	if (r->page_cmd != NULL && is_drive_changes(o->api)) {
		if ((o->url = page_token_url(r, o, url)) == NULL)
			return -1;
		struct gpush_api *na;
		if (gpush_api_from_url(o->url, &na) != GPUSH_OK)
			return fail("channel %s: the watch URL with the new page token "
			    "is not one gpush knows", gpush_channel_id(o->c));
		gpush_api_free(o->api);
		o->api = na;
	} else
		o->url = xstrdup(url);
	snprintf(made, sizeof(made), "%lld", (long long)r->now);
	/* Rounded to the nearest second: a lifetime must not creep up by a
	 * second a generation. */
	if (life > 0 && gpush_api_set_ttl(o->api, o->fresh, (life + 500) / 1000,
	    r->now, &capped) != GPUSH_OK)
		die_nomem();
	if (gpush_channel_set_extra(o->fresh, WATCH_KEY, o->url) != GPUSH_OK ||
	    gpush_channel_set_extra(o->fresh, MADE_KEY, made) != GPUSH_OK ||
	    gpush_channel_set_extra(o->fresh, REPLACES_KEY,
	    gpush_channel_id(o->c)) != GPUSH_OK)
		die_nomem();
	call_clear(&o->call);
	free(o->call.body);         /* an earlier stop's, this run */
	o->call.body = NULL;
	if (gpush_channel_json(o->fresh, GPUSH_CHANNEL_BODY, &o->call.body) !=
	    GPUSH_OK)
		die_nomem();
	o->call.id = gpush_channel_id(o->fresh);
	o->call.api = o->api;
	o->call.url = gpush_api_watch_url(o->api);
	o->call.target = gpush_api_target(o->api);
	return 0;
}

/* How a failed watch is taken: Google surely did not make the channel
 * and a later run may retry (429), Google may have made it (5xx, no or a
 * bad answer: kept as half made, and the next run stops it), or it is
 * permanent (credentials, Google's refusal: the fix is the user's). */
enum wfail { WF_RETRY, WF_MAYBE, WF_PERMANENT };

static enum wfail
watch_failure(const struct call *c)
{
	if (c->err == GPUSH_ERR_CREDENTIALS || c->err == GPUSH_ERR_AUTH)
		return WF_PERMANENT;
	if (c->err != GPUSH_OK || c->status == 0 || c->status >= 500 ||
	    (c->status >= 200 && c->status <= 299))
		return WF_MAYBE;
	if (c->status == 429)
		return WF_RETRY;
	return WF_PERMANENT;
}

/* A replacement Google surely did not make: its entry dropped and the old
 * channel's link to it cleared, in one edit (a failed edit leaves both,
 * and the next run clears them as a half-made replacement). */
static void
unlink_replacement(struct renew *r, const struct rch *o, const char *nid)
{
	struct reg_op ops[2] = {
		{ nid, 1, NULL, NULL, NULL, 1 },
		{ gpush_channel_id(o->c), 0, REPLACED_BY_KEY, NULL, NULL, 0 },
	};

	(void)registry_patch(r->s, ops, 2);
}

/* What to do about a permanent failure, for the message. */
static const char *
watch_fix(const struct rch *o, const struct call *c)
{
	static char buf[400];

	if (c->err == GPUSH_ERR_CREDENTIALS || c->err == GPUSH_ERR_AUTH ||
	    c->status == 401 || c->status == 403) {
		snprintf(buf, sizeof(buf), "fix: check the credentials with 'gpush "
		    "auth --api %s' (for Directory and Reports: domain-wide "
		    "delegation of the scope and --subject)", gpush_api_name(o->api));
		return buf;
	}
	if (c->status == 404)
		return "fix: the watched resource is gone (deleted, or no longer "
		    "shared): stop the old channel with 'gpush stop ID' and watch "
		    "what replaces the resource";
	if (strcmp(c->gerr.reason, "push.webhookUrlUnauthorized") == 0)
		return "fix: verify the address's domain for the project (see the "
		    "reason above)";
	return "fix: see Google's reason above";
}

/* A replacement's watch answered: merged (O's failure mark cleared), or
 * the failure taken as watch_failure() says and recorded on O. */
static void
settle_watch(void *ctx, struct call *c)
{
	struct renew *r = ctx;
	struct rch *o = rch_of(r, c);
	const char *nid = gpush_channel_id(o->fresh), *prob = NULL;
	char why[GPUSH_WHY_MAX + 600], line[GPUSH_WHY_MAX + 1200];
	enum gpush_err e;

	c->done = 1;
	if (c->err == GPUSH_OK && c->status >= 200 && c->status <= 299 &&
	    (prob = watch_answer_problem(o->fresh, c)) == NULL) {
		if ((e = registry_merge(r->s, nid, c->resp, c->resp_len)) != GPUSH_OK) {
			/* Kept half made: the next run stops it at Google. */
			msg("channel %s: replacement %s made at Google, but the "
			    "registry could not take the answer (%s); the next run "
			    "stops it", gpush_channel_id(o->c), nid, gpush_strerror(e));
			r->failed++;
			return;
		}
		if (gpush_channel_extra(o->c, RENEW_STATE_KEY) != NULL)
			mark(r, o, NULL, NULL);
		{
			const struct gpush_channel *n;
			o->rep_linked = 1;
			o->rep_id = xstrdup(nid);
			o->rep_made = r->now;
			if (tool_lookup(r->s, nid, &n) == GPUSH_OK && has_rid(n))
				o->rep_rid = xstrdup(gpush_channel_resource_id(n));
		}
		say(r, "watch", o, nid, "ok", NULL);
		return;
	}
	if (prob != NULL)
		snprintf(why, sizeof(why), "%s", prob);
	else
		call_failure(c, gpush_channel_address(o->c), why, sizeof(why));
	r->failed++;
	switch (watch_failure(c)) {
	case WF_MAYBE:
		/* Google may have it: kept, linked and half made, so that the
		 * next run stops it before it makes another. */
		msg("channel %s: watching its replacement %s failed (%s); a "
		    "transient error: tried again next run", gpush_channel_id(o->c),
		    nid, why);
		snprintf(line, sizeof(line), "transient: %s", why);
		mark(r, o, "transient", line);
		say(r, "watch", o, nid, "failed", line);
		return;
	case WF_RETRY: {
		unlink_replacement(r, o, nid);
		msg("channel %s: watching a replacement failed (%s); a transient "
		    "error: tried again next run", gpush_channel_id(o->c), why);
		snprintf(line, sizeof(line), "transient: %s", why);
		mark(r, o, "transient", line);
		say(r, "watch", o, nid, "failed", line);
		return;
	}
	case WF_PERMANENT: {
		unlink_replacement(r, o, nid);
		const char *fix = watch_fix(o, c);
		msg("channel %s: renewal failed: %s; %s", gpush_channel_id(o->c),
		    why, fix);
		snprintf(line, sizeof(line), "%s; %s", why, fix);
		mark(r, o, "permanent", line);
		say(r, "watch", o, nid, "failed", line);
		return;
	}
	}
}

/* Watches a replacement for every due channel without one. */
static void
watch_due(struct renew *r)
{
	struct reg_op *ops = calloc(2 * r->n + 1, sizeof(*ops));
	size_t k = 0, nw = 0;
	enum gpush_err e;

	if (ops == NULL)
		die_nomem();
	for (size_t i = 0; i < r->n; i++) {
		struct rch *o = &r->ch[i];
		char rel[64], d[128];
		int64_t left;
		if (o->is_rep || o->rep_linked || o->api == NULL || !has_rid(o->c) ||
		    !channel_due(o->c, o->api, r->within_ms, r->now, &left))
			continue;
		if (r->dry) {
			snprintf(d, sizeof(d), "expires %s; a replacement would be "
			    "watched", format_relative(gpush_channel_expiration(o->c),
			    r->now, rel, sizeof(rel)));
			say(r, "watch", o, NULL, "planned", d);
			continue;
		}
		if (make_replacement(r, o) != 0) {
			gpush_channel_free(o->fresh);
			o->fresh = NULL;
			r->failed++;
			continue;
		}
		o->act = A_WATCH;
		ops[k++] = (struct reg_op){ NULL, 0, NULL, NULL, o->fresh, 0 };
		ops[k++] = (struct reg_op){ gpush_channel_id(o->c), 0,
		    REPLACED_BY_KEY, gpush_channel_id(o->fresh), NULL, 0 };
		nw++;
	}
	if (nw > 0) {
		/* Before any call: the replacements and the links, at once. */
		if ((e = registry_patch(r->s, ops, k)) != GPUSH_OK) {
			msg("%s: %s; no replacement was watched", GPUSH_REGISTRY_FILE,
			    gpush_strerror(e));
			r->failed += nw;
		} else {
			send_group(r, A_WATCH, settle_watch);
		}
	}
	for (size_t i = 0; i < r->n; i++)
		r->ch[i].act = A_NONE;
	free(ops);
}

/* ---- the handover --------------------------------------------------------------------- */

/* 1 when the handler has accepted channel id's sync (its dedup state,
 * read-only). */
static int
synced(struct renew *r, const char *id)
{
	struct gpush_channel_stats st;

	return gpush_store_stats(r->s, id, &st) == GPUSH_OK &&
	    (st.last_number >= 1 || st.accepted >= 1);
}

/* An old channel's stop answered: 2xx or 404 (or a failure once it has
 * expired) drops it and the replacement's back link; else both stay. */
static void
settle_handover(void *ctx, struct call *c)
{
	struct renew *r = ctx;
	struct rch *o = rch_of(r, c);
	char why[GPUSH_WHY_MAX + 600];
	int expired = gpush_channel_expiration(o->c) <= gpush_now_ms();
	struct reg_op ops[2] = {
		{ gpush_channel_id(o->c), 1, NULL, NULL, NULL, 0 },
		{ o->rep_id, 0, REPLACES_KEY, NULL, NULL, 0 },
	};
	enum gpush_err e;

	c->done = 1;
	if (!stopped_ok(c)) {
		call_failure(c, NULL, why, sizeof(why));
		if (!expired) {
			msg("channel %s: replaced by %s, but stopping it failed (tried "
			    "again next run; both deliver meanwhile): %s",
			    gpush_channel_id(o->c), o->rep_id, why);
			say(r, "stop", o, o->rep_id, "failed", why);
			r->failed++;
			return;
		}
		msg("channel %s: note: stopping it failed (%s), but it has expired: "
		    "removed", gpush_channel_id(o->c), why);
	}
	if ((e = registry_patch(r->s, ops, 2)) != GPUSH_OK) {
		msg("channel %s: stopped, but the registry could not drop it (%s): "
		    "the next run does", gpush_channel_id(o->c), gpush_strerror(e));
		r->failed++;
		return;
	}
	say(r, "replace", o, o->rep_id, "ok", "the old channel stopped and removed");
}

/* Waits for the replacements' syncs (each until gpushMade + --sync-wait),
 * then stops and removes the old channels whose replacement works, and
 * the replacements that never got their sync. */
static void
handover(struct renew *r)
{
	size_t waiting;
	int any = 0;

	if (r->dry) {
		for (size_t i = 0; i < r->n; i++) {
			struct rch *o = &r->ch[i];
			if (!o->rep_linked || o->rep_rid == NULL)
				continue;
			say(r, "replace", o, o->rep_id, "planned",
			    synced(r, o->rep_id) ? "its sync was accepted: the old "
			    "channel would be stopped and removed" : "its sync has not "
			    "been accepted yet: renew would wait for it");
		}
		return;
	}
	for (int round = 0; round < 100000; round++) {
		int64_t now = gpush_now_ms();
		waiting = 0;
		for (size_t i = 0; i < r->n; i++) {
			struct rch *o = &r->ch[i];
			if (!o->rep_linked || o->rep_rid == NULL || o->api == NULL ||
			    !has_rid(o->c) || o->act != A_NONE)
				continue;
			if (synced(r, o->rep_id)) {
				stop_call(o, gpush_channel_id(o->c),
				    gpush_channel_resource_id(o->c));
				o->act = A_HANDOVER;
			} else if (now >= o->rep_made + r->sync_wait_ms) {
				stop_call(o, o->rep_id, o->rep_rid);
				o->act = A_ABANDON;
				o->nosync = 1;
			} else
				waiting++;
		}
		if (waiting == 0)
			break;
		struct timespec ts = { 0, 100 * 1000000L };
		nanosleep(&ts, NULL);
	}
	for (size_t i = 0; i < r->n; i++)
		any |= r->ch[i].act != A_NONE;
	if (!any)
		return;
	send_group(r, A_HANDOVER, settle_handover);
	send_group(r, A_ABANDON, settle_abandon);
}

/* ---- the command ---------------------------------------------------------------------- */

/* On a database store the lock is PostgreSQL's: a session advisory lock
 * that every host's cron sees, held until the store's connection closes.
 * LOCK_DB for the run, -2 when another run holds it, -1 on error. */
#define LOCK_DB INT_MAX
static int
take_db_lock(struct renew *r)
{
	PGconn *c = (PGconn *)gpush_store_pg(r->s);
	PGresult *res = c != NULL ? pq->PQexec(c,
	    "SELECT pg_try_advisory_lock(hashtext('gpush renew'))") : NULL;
	int rc = -1;

	if (res != NULL && pq->PQresultStatus(res) == PGRES_TUPLES_OK &&
	    pq->PQntuples(res) == 1)
		rc = strcmp(pq->PQgetvalue(res, 0, 0), "t") == 0 ? LOCK_DB : -2;
	else
		msg("renew: the database's advisory lock: %s",
		    c != NULL ? pq->PQerrorMessage(c) : "no connection");
	pq->PQclear(res);
	return rc;
}

/* state/renew.lock, flock'ed without waiting (or the database's lock):
 * the fd (kept open for the run), -2 when another run holds it, -1 on
 * error (after the message). */
static int
take_lock(struct renew *r)
{
	char *p;
	int fd;

	if (gpush_store_is_database(r->s))
		return take_db_lock(r);
	p = path_join(gpush_store_dir(r->s), GPUSH_STATE_DIR "/" LOCK_NAME);

	if (p == NULL)
		die_nomem();
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		msg("%s: %s", p, strerror(errno));
		free(p);
		return -1;
	}
	free(p);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int busy = errno == EWOULDBLOCK;
		if (!busy)
			msg("%s/%s: %s", GPUSH_STATE_DIR, LOCK_NAME, strerror(errno));
		close(fd);
		return busy ? -2 : -1;
	}
	return fd;
}

/* gpush renew: see the file's comment.  Exit 0 when everything due was
 * renewed or is under way (or another run holds the lock), 1 when
 * something failed, 2 on a usage error. */
int
cmd_renew(struct tool *t, int argc, char **argv)
{
	struct renew r;
	const char *within = NULL, *sync_wait = DEFAULT_SYNC_WAIT;
	int rc, first, lock = -1;
	int64_t secs;

	memset(&r, 0, sizeof(r));
	r.t = t;
	{
		const struct tool_opt opts[] = {
			{ "within", 0, NULL, &within, NULL, NULL },
			{ "sync-wait", 0, NULL, &sync_wait, NULL, NULL },
			{ "page-token-command", 0, NULL, &r.page_cmd, NULL, NULL },
			{ "dry-run", 'n', &r.dry, NULL, NULL, NULL },
			{ "json", 0, &r.json, NULL, NULL, NULL },
			{ "no-batch", 0, &r.no_batch, NULL, NULL, NULL },
			GOOGLE_TOOL_OPTS(r.g), TOOL_OPT_END,
		};
		if ((rc = tool_options(t, argc, argv, opts, 0, 0, &first)) != 0)
			return rc < 0 ? 0 : rc;
	}
	if ((rc = google_opts_check(t, &r.g)) != 0)
		return rc;
	if (within != NULL) {
		if (!parse_duration(within, &secs))
			return usage_error(t, "--within: a duration like 30m, 2h, 1d");
		r.within_ms = secs * 1000;
	}
	if (!parse_duration(sync_wait, &secs) || secs > 3600)
		return usage_error(t, "--sync-wait: a duration like 10s or 2m (at "
		    "most 1h)");
	r.sync_wait_ms = secs * 1000;
	if (r.page_cmd != NULL && r.page_cmd[0] == '\0')
		return usage_error(t, "--page-token-command: an empty command");
	if ((rc = tool_store(t, &r.s)) != 0)
		return rc;
	if (!r.dry) {
		if ((lock = take_lock(&r)) == -2) {
			msg("renew: another 'gpush renew' is running (%s/%s is "
			    "locked); leaving the work to it", GPUSH_STATE_DIR, LOCK_NAME);
			gpush_store_free(r.s);
			return 0;
		}
		if (lock < 0) {
			gpush_store_free(r.s);
			return EXIT_FAIL;
		}
	}
	r.now = gpush_now_ms();
	if ((rc = load(&r)) == 0) {
		abandon_half_made(&r);
		r.now = gpush_now_ms();
		watch_due(&r);
		handover(&r);
		/* On stdout: from cron, stderr means something went wrong. */
		if (r.actions == 0 && !r.json)
			printf("nothing is due\n");
		rc = r.failed > 0 ? EXIT_FAIL : 0;
	}
	for (size_t i = 0; i < r.n; i++) {
		struct rch *o = &r.ch[i];
		gpush_channel_free(o->c);
		gpush_channel_free(o->fresh);
		gpush_api_free(o->api);
		free(o->rep_id);
		free(o->rep_rid);
		free(o->url);
		free(o->call.body);
		free(o->call.resp);
	}
	free(r.ch);
	if (lock >= 0 && lock != LOCK_DB)
		close(lock);
	gpush_store_free(r.s);
	return rc;
}
