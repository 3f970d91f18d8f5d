/*
 * cmd_watch.c -- gpush watch: open channels at Google.
 *
 * For each watch URL (or short name): a channel is made (id, token,
 * address, params, lifetime) and written to the registry, with the watch
 * URL under "gpushWatch", BEFORE the call -- Google may deliver the sync
 * message before the watch call returns (google-channels.md §1g).  Then
 * Channel.body() is sent, and the answer merged as Channel.update() does
 * (resourceId, resourceUri, expiration).  A channel whose call failed is
 * removed again, and the message says why.  Channels of one API go as one
 * batch (google_calls.c).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "gpush_tool.h"

#define WATCH_MAX   10000           /* channels in one run */

/* What the command line asked for. */
struct watch_args {
	const char *address, *id, *token, *ttl, *expiration, *from;
	const char *domain, *customer, *event, *page_token, *user;
	char      **params;
	size_t      nparams;
	int         no_batch;
	int         first;            /* argv index of the first operand */
	struct google_opts g;
};

/* One channel of the run. */
struct wchan {
	struct gpush_channel *c;
	struct call call;
	char  *url;
};

struct watch_run {
	struct wchan *ch;
	size_t n, cap;
	size_t done, ok;
	struct gpush_store *s;
	int out_errno;              /* first failed write to stdout, or 0 */
};

int
half_made(const struct gpush_channel *c)
{
	const char *r = gpush_channel_resource_id(c);

	return gpush_channel_extra(c, WATCH_KEY) != NULL &&
	    (r == NULL || r[0] == '\0');
}

/* ---- the registry ----------------------------------------------------------- */

struct add_edit {
	struct watch_run *w;
	size_t next;
	const char *dup;
};

/* Keeps every line; one with an id of ours aborts the edit. */
static enum gpush_err
add_keep(void *ctx, const char *line, const struct gpush_channel *c,
    char **keep)
{
	struct add_edit *ae = ctx;

	*keep = NULL;
	for (size_t i = 0; c != NULL && i < ae->w->n; i++)
		if (strcmp(gpush_channel_id(c), gpush_channel_id(ae->w->ch[i].c)) == 0) {
			ae->dup = gpush_channel_id(ae->w->ch[i].c);
			return GPUSH_ERR_EXISTS;
		}
	*keep = xstrdup(line);
	return GPUSH_OK;
}

/* Appends our channels, one line each. */
static enum gpush_err
add_more(void *ctx, char **line)
{
	struct add_edit *ae = ctx;
	enum gpush_err e;

	*line = NULL;
	if (ae->next >= ae->w->n)
		return GPUSH_OK;
	e = gpush_channel_json(ae->w->ch[ae->next++].c, GPUSH_CHANNEL_RECORD, line);
	if (e == GPUSH_ERR_NOMEM)
		die_nomem();
	return e;
}

/* All channels of the run into the registry, in one atomic edit. */
static int
register_all(struct watch_run *w)
{
	struct add_edit ae = { w, 0, NULL };
	enum gpush_err e;

	/* A state left by an earlier channel of such an id would take the
	 * first messages for duplicates (as gpush new). */
	for (size_t i = 0; i < w->n; i++) {
		const struct gpush_channel *old;
		const char *id = gpush_channel_id(w->ch[i].c);
		if (tool_lookup(w->s, id, &old) == GPUSH_ERR_CHANNEL)
			(void)gpush_store_forget(w->s, id);
	}
	e = gpush_store_edit(w->s, add_keep, add_more, &ae);
	if (ae.dup != NULL)
		return fail("channel %s exists already; nothing was sent", ae.dup);
	if (e != GPUSH_OK)
		return fail("%s: %s; nothing was sent", GPUSH_REGISTRY_FILE,
		    gpush_strerror(e));
	return 0;
}

struct drop_edit {
	const char *const *ids;
	size_t n;
};

static enum gpush_err
drop_line(void *ctx, const char *line, const struct gpush_channel *c,
    char **keep)
{
	struct drop_edit *de = ctx;

	*keep = NULL;
	for (size_t i = 0; c != NULL && i < de->n; i++)
		if (strcmp(gpush_channel_id(c), de->ids[i]) == 0)
			return GPUSH_OK;
	*keep = xstrdup(line);
	return GPUSH_OK;
}

int
registry_drop(struct gpush_store *s, const char *const *ids, size_t n)
{
	struct drop_edit de = { ids, n };
	enum gpush_err e;
	int rc = 0;

	if (n == 0)
		return 0;
	if ((e = gpush_store_edit(s, drop_line, NULL, &de)) != GPUSH_OK)
		return fail("%s: %s", tool_registry_name(s), tool_store_why(s, e));
	/* Their dedup state too, as remove does: an id made again starts
	 * afresh. */
	for (size_t i = 0; i < n; i++)
		if ((e = gpush_store_forget(s, ids[i])) != GPUSH_OK)
			rc = fail("removed %s, but not its state: %s", ids[i],
			    gpush_strerror(e));
	return rc;
}

/* ---- the answer --------------------------------------------------------------- */

/* Called once per settled call: record it (merge or drop), say so. */
static void
settle(void *ctx, struct call *call)
{
	struct watch_run *w = ctx;
	struct wchan *wc = (struct wchan *)((char *)call - offsetof(struct wchan, call));
	const char *id = gpush_channel_id(wc->c), *prob = NULL;
	char why[GPUSH_WHY_MAX + 600], at[25];
	enum gpush_err e;

	w->done++;
	call->done = 1;
	if (call->err == GPUSH_OK && call->status >= 200 && call->status <= 299 &&
	    (prob = watch_answer_problem(wc->c, call)) == NULL) {
		if ((e = registry_merge(w->s, id, call->resp, call->resp_len)) ==
		    GPUSH_OK) {
			const struct gpush_channel *c;
			int64_t x = 0;
			if (tool_lookup(w->s, id, &c) == GPUSH_OK)
				x = gpush_channel_expiration(c);
			gpush_format_rfc3339(x, at);
			/* Recorded above; a reader gone (SIGPIPE is ignored) is
			 * reported at the end, the other channels still get
			 * recorded. */
			errno = 0;
			if ((printf("watching %s (%s %s) until %s\n", id,
			    gpush_api_name(call->api), gpush_api_resource(call->api),
			    x > 0 ? at : "(no expiration given)") < 0 ||
			    fflush(stdout) == EOF) && w->out_errno == 0)
				w->out_errno = errno != 0 ? errno : EIO;
			msg("watch %zu/%zu: %s: ok", w->done, w->n, id);
			w->ok++;
			return;
		}
		/* Google has the channel; the registry could not take its
		 * resourceId.  Keep the entry: check names it, stop clears it. */
		msg("watch %zu/%zu: %s: made at Google, but recording its answer "
		    "failed (%s): run 'gpush stop %s' once the registry is writable",
		    w->done, w->n, id, gpush_strerror(e), id);
		return;
	}
	/*
	 * Google may have made the channel although no usable answer says
	 * so: a 2xx whose answer is refused or unreadable; an attempt sent
	 * without an answer (timeout, lost connection, 5xx, an unsettled
	 * batch); or channelIdNotUnique after such an attempt -- the id is
	 * random or the user's, so "not unique" then most likely means our
	 * own earlier attempt made it.  The entry stays, half made (no
	 * resourceId): the handler accepts its notifications (id and token
	 * are registered), check lists it, stop clears it.  Only a channel
	 * Google certainly did not make is removed.
	 */
	int ok2xx = call->err == GPUSH_OK && call->status >= 200 &&
	    call->status <= 299;
	int not_unique = call->err == GPUSH_OK &&
	    (strcmp(call->gerr.reason, "channelIdNotUnique") == 0 ||
	    strcmp(call->gerr.reason, "push.channelIdNotUnique") == 0);
	if (ok2xx)
		snprintf(why, sizeof(why), "Google answered HTTP %ld, but the answer "
		    "is refused: %s", call->status, prob);
	else
		(void)call_failure(call, gpush_channel_address(wc->c), why, sizeof(why));
	if (not_unique && call->maybe > 0) {
		msg("watch %zu/%zu: %s: Google may already have channel %s (an "
		    "earlier attempt may have reached it): kept; it ends at its "
		    "expiration; 'gpush check' lists it", w->done, w->n, id, id);
		return;
	}
	if (ok2xx || (call->maybe > 0 && !not_unique && (call->err != GPUSH_OK ||
	    call->status >= 500))) {
		msg("watch %zu/%zu: %s: failed: %s", w->done, w->n, id, why);
		msg("watch %zu/%zu: %s: Google may already have channel %s (%s): "
		    "kept, half made (no resourceId); it ends at its expiration; "
		    "'gpush check' lists it, 'gpush stop %s' clears it", w->done,
		    w->n, id, id, ok2xx ? "it answered success" : call->skipped ?
		    "the batch it was in got no usable answer" :
		    "a request was sent without a usable answer", id);
		return;
	}
	msg("watch %zu/%zu: %s: failed: %s", w->done, w->n, id, why);
	if (registry_drop(w->s, &id, 1) == 0)
		msg("channel %s removed from the registry", id);
}

/* ---- the command line --------------------------------------------------------- */

static int
parse_args(struct tool *t, int argc, char **argv, struct watch_args *a,
    int *helped)
{
	int rc, first;

	memset(a, 0, sizeof(*a));
	*helped = 0;
	if ((a->params = calloc((size_t)argc + 1, sizeof(char *))) == NULL)
		return fail("out of memory");
	{
		const struct tool_opt opts[] = {
			{ "address", 0, NULL, &a->address, NULL, NULL },
			{ "id", 0, NULL, &a->id, NULL, NULL },
			{ "token", 0, NULL, &a->token, NULL, NULL },
			{ "ttl", 0, NULL, &a->ttl, NULL, NULL },
			{ "expiration", 0, NULL, &a->expiration, NULL, NULL },
			{ "param", 0, NULL, NULL, a->params, &a->nparams },
			{ "from", 0, NULL, &a->from, NULL, NULL },
			{ "no-batch", 0, &a->no_batch, NULL, NULL, NULL },
			{ "domain", 0, NULL, &a->domain, NULL, NULL },
			{ "customer", 0, NULL, &a->customer, NULL, NULL },
			{ "event", 0, NULL, &a->event, NULL, NULL },
			{ "page-token", 0, NULL, &a->page_token, NULL, NULL },
			{ "user", 0, NULL, &a->user, NULL, NULL },
			GOOGLE_TOOL_OPTS(a->g), TOOL_OPT_END,
		};
		/* Permuting: options may follow a short name ("drive-file ID
		 * --id X"). */
		rc = tool_options(t, argc, argv, opts, 0, -1, &first);
	}
	if (rc == TOOL_DONE) {
		*helped = 1;
		return 0;
	}
	if (rc != 0)
		return rc;
	a->first = first;
	if ((rc = google_opts_check(t, &a->g)) != 0)
		return rc;
	if (a->address == NULL)
		return usage_error(t, "--address is required");
	if (a->ttl != NULL && a->expiration != NULL)
		return usage_error(t, "--ttl and --expiration exclude each other");
	if (a->first >= argc && a->from == NULL)
		return usage_error(t, "no watch URL given");
	return 0;
}

/* Adds one watch URL to the run.  0 or an exit code. */
static int
add_url(struct tool *t, struct watch_run *w, const char *url)
{
	struct gpush_api *api;
	enum gpush_err e;

	if ((e = gpush_api_from_url(url, &api)) != GPUSH_OK)
		return e == GPUSH_ERR_NOMEM ? fail("out of memory") :
		    usage_error(t, "not a watch URL gpush knows: %.200s (https, "
		    "and one of the documented watch paths of Directory users, "
		    "Reports activities, Drive files and changes (with pageToken), "
		    "Calendar events, calendarList, acl, settings)", url);
	if (w->n >= WATCH_MAX) {
		gpush_api_free(api);
		return usage_error(t, "more than %d channels in one run", WATCH_MAX);
	}
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 8;
		struct wchan *p = realloc(w->ch, cap * sizeof(*p));
		if (p == NULL) {
			gpush_api_free(api);
			return fail("out of memory");
		}
		w->ch = p;
		w->cap = cap;
	}
	memset(&w->ch[w->n], 0, sizeof(w->ch[w->n]));
	w->ch[w->n].call.api = api;
	if ((w->ch[w->n].url = strdup(url)) == NULL) {
		gpush_api_free(api);
		return fail("out of memory");
	}
	w->n++;
	return 0;
}

/* The operands: URLs and short names (with their operand). */
static int
collect_operands(struct tool *t, struct watch_run *w, const struct watch_args *a,
    int argc, char **argv)
{
	int rc;

	for (int i = a->first; i < argc; i++) {
		const char *word = argv[i];
		if (strncasecmp(word, "https://", 8) == 0 ||
		    strncasecmp(word, "http://", 7) == 0) {
			if ((rc = add_url(t, w, word)) != 0)
				return rc;
			continue;
		}
		if (!gpush_api_is_short(word))
			return usage_error(t, "'%s' is neither a watch URL nor a short "
			    "name (see gpush watch --help)", word);
		struct gpush_api_short s = { word, NULL, a->domain, a->customer,
		    a->event, a->page_token, a->user };
		int takes = strcmp(word, "drive-file") == 0 ||
		    strcmp(word, "reports-activity") == 0 ||
		    strcmp(word, "directory-aliases") == 0;
		int may = strcmp(word, "calendar-events") == 0 ||
		    strcmp(word, "calendar-acl") == 0;
		if ((takes || may) && i + 1 < argc &&
		    strncasecmp(argv[i + 1], "https://", 8) != 0 &&
		    !gpush_api_is_short(argv[i + 1]))
			s.arg = argv[++i];
		char *url;
		enum gpush_err e = gpush_api_short_url(&s, &url);
		if (e != GPUSH_OK)
			return e == GPUSH_ERR_NOMEM ? fail("out of memory") :
			    usage_error(t, "%s: %s", word,
			    strcmp(word, "directory-users") == 0 ?
			    "needs one of --domain or --customer" :
			    strcmp(word, "drive-changes") == 0 ? "needs --page-token "
			    "(Drive's changes.getStartPageToken gives one)" :
			    takes ? "needs its operand (and a known application "
			    "for reports-activity)" : "bad operand");
		rc = add_url(t, w, url);
		free(url);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* --from FILE: one watch URL a line; blank lines and # comments skipped. */
static int
collect_from(struct tool *t, struct watch_run *w, const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char line[GPUSH_URL_MAX + 3];
	int rc = 0;
	size_t lineno = 0;

	if (f == NULL)
		return fail("%s: %s", path, strerror(errno));
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		size_t l = strlen(line);
		lineno++;
		if (l > 0 && line[l - 1] != '\n' && !feof(f)) {
			rc = usage_error(t, "%s:%zu: line too long", path, lineno);
			break;
		}
		while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r' ||
		    line[l - 1] == ' ' || line[l - 1] == '\t'))
			line[--l] = '\0';
		char *p = line + strspn(line, " \t");
		if (*p == '\0' || *p == '#')
			continue;
		rc = add_url(t, w, p);
	}
	if (rc == 0 && ferror(f))
		rc = fail("%s: %s", path, strerror(errno));
	if (f != stdin)
		fclose(f);
	return rc;
}

/* Makes channel i of the run from the options.  0 or an exit code. */
static int
make_channel(struct tool *t, struct wchan *wc, const struct watch_args *a,
    int64_t ttl, int64_t exp_ms, int64_t now_ms)
{
	char uuid[37], tok[FRESH_TOKEN_SIZE], made[24];
	const char *id = a->id, *token = a->token;
	int capped;
	enum gpush_err e;

	if ((wc->c = gpush_channel_new()) == NULL)
		return fail("out of memory");
	if (fresh_id_token(uuid, tok) < 0)
		return fail("getrandom: %s", strerror(errno));
	if (id == NULL)
		id = uuid;
	if (token == NULL)
		token = tok;
	if (gpush_channel_set(wc->c, "id", id) != GPUSH_OK ||
	    gpush_channel_set(wc->c, "token", token) != GPUSH_OK)
		return usage_error(t, "--token must be UTF-8 text without control "
		    "characters");
	if (gpush_channel_set(wc->c, "type", "web_hook") != GPUSH_OK ||
	    gpush_channel_set(wc->c, "address", a->address) != GPUSH_OK)
		return usage_error(t, "--address: UTF-8 text without control "
		    "characters, at most %d bytes", GPUSH_HEADER_MAX);
	for (size_t i = 0; i < a->nparams; i++) {
		char *kv = a->params[i], *eq = strchr(kv, '=');
		if (eq == NULL || eq == kv)
			return usage_error(t, "--param needs KEY=VALUE");
		if (a->ttl != NULL && eq - kv == 3 && strncmp(kv, "ttl", 3) == 0)
			return usage_error(t, "--ttl and --param ttl=... exclude "
			    "each other");
		*eq = '\0';
		e = gpush_channel_set_param(wc->c, kv, eq + 1);
		*eq = '=';
		if (e != GPUSH_OK)
			return usage_error(t, "--param: KEY and VALUE must be UTF-8 "
			    "text without control characters");
	}
	if (ttl > 0) {
		if (gpush_api_set_ttl(wc->call.api, wc->c, ttl, now_ms, &capped) !=
		    GPUSH_OK)
			return fail("out of memory");
		if (capped)
			msg("note: %s allows at most %llds; asking for that",
			    gpush_api_name(wc->call.api),
			    (long long)gpush_api_ttl_max(wc->call.api));
	} else if (exp_ms > 0 && gpush_channel_set_expiration(wc->c, exp_ms) !=
	    GPUSH_OK)
		return fail("out of memory");
	/* When it was made: renew takes its lifetime from it (issue 11). */
	snprintf(made, sizeof(made), "%lld", (long long)now_ms);
	if (gpush_channel_set_extra(wc->c, WATCH_KEY, wc->url) != GPUSH_OK ||
	    gpush_channel_set_extra(wc->c, MADE_KEY, made) != GPUSH_OK)
		return fail("out of memory");
	/* The body Google gets: Channel.body(), without gpush's own keys. */
	if (gpush_channel_json(wc->c, GPUSH_CHANNEL_BODY, &wc->call.body) !=
	    GPUSH_OK)
		return fail("out of memory");
	wc->call.id = gpush_channel_id(wc->c);
	wc->call.url = gpush_api_watch_url(wc->call.api);
	wc->call.target = gpush_api_target(wc->call.api);
	return 0;
}

/* Checks the options against each other and makes every channel. */
static int
make_channels(struct tool *t, struct watch_run *w, const struct watch_args *a)
{
	int64_t ttl = 0, exp_ms = 0, now = gpush_now_ms();
	int rc;

	if (!address_ok(a->address))
		return usage_error(t, "--address must be an https:// URL (Google "
		    "delivers only to HTTPS)");
	if (a->id != NULL && (!channel_id_ok(a->id) || w->n > 1))
		return usage_error(t, w->n > 1 ? "--id names one channel; several "
		    "watch URLs get random ids" : "--id must be 1..%d characters "
		    "of A-Z a-z 0-9 - _ + / =", GPUSH_ID_MAX);
	if (a->token != NULL && (a->token[0] == '\0' ||
	    strlen(a->token) > GPUSH_TOKEN_MAX))
		return usage_error(t, "--token must be 1..%d characters",
		    GPUSH_TOKEN_MAX);
	if (a->ttl != NULL && !parse_duration(a->ttl, &ttl))
		return usage_error(t, "--ttl must be a duration like 3600, 30m, "
		    "2h, 1d");
	if (a->expiration != NULL && (!gpush__parse_i64(a->expiration, &exp_ms) ||
	    exp_ms <= now || exp_ms > MAX_EXPIRATION))
		return usage_error(t, "--expiration must be a future time in ms "
		    "since the epoch");
	for (size_t i = 0; i < w->n; i++)
		if ((rc = make_channel(t, &w->ch[i], a, ttl, exp_ms, now)) != 0)
			return rc;
	return 0;
}

static void
run_free(struct watch_run *w)
{
	for (size_t i = 0; i < w->n; i++) {
		gpush_channel_free(w->ch[i].c);
		gpush_api_free(w->ch[i].call.api);
		free(w->ch[i].call.body);
		free(w->ch[i].call.resp);
		free(w->ch[i].url);
	}
	free(w->ch);
	gpush_store_free(w->s);
}

/*
 * Sends the channels, one group per API endpoint.  A group whose
 * credentials cannot be opened fails all its channels (removed again).
 */
static void
send_all(struct tool *t, struct watch_run *w, const struct watch_args *a)
{
	struct call **group = malloc(w->n * sizeof(*group));
	char *done = calloc(w->n, 1);

	if (group == NULL || done == NULL)
		die_nomem();
	for (size_t i = 0; i < w->n; i++) {
		size_t k = 0;
		struct google g;
		if (done[i])
			continue;
		for (size_t j = i; j < w->n; j++)
			if (!done[j] && gpush_api_same(w->ch[i].call.api,
			    w->ch[j].call.api)) {
				group[k++] = &w->ch[j].call;
				done[j] = 1;
			}
		if (google_open(&a->g, gpush_api_scope(w->ch[i].call.api),
		    gpush_store_dir(w->s), &g) != 0) {
			for (size_t j = 0; j < k; j++) {
				group[j]->err = GPUSH_ERR_CREDENTIALS;
				snprintf(group[j]->why, sizeof(group[j]->why),
				    "no access token (see above)");
				settle(w, group[j]);
			}
			continue;
		}
		calls_send(&g, gpush_api_batch_url(w->ch[i].call.api), group, k,
		    !a->no_batch, settle, w);
		google_close(&g);
	}
	(void)t;
	free(group);
	free(done);
}

/* gpush watch: see the file's comment.  Exit 0 when every channel was
 * made, 1 when any failed, 2 on a usage error (nothing sent). */
int
cmd_watch(struct tool *t, int argc, char **argv)
{
	struct watch_args a;
	struct watch_run w;
	int rc, helped;

	memset(&w, 0, sizeof(w));
	if ((rc = parse_args(t, argc, argv, &a, &helped)) != 0 || helped)
		goto out;
	if ((rc = collect_operands(t, &w, &a, argc, argv)) != 0 ||
	    (a.from != NULL && (rc = collect_from(t, &w, a.from)) != 0))
		goto out;
	if (w.n == 0) {
		rc = usage_error(t, "no watch URL given");
		goto out;
	}
	if ((rc = make_channels(t, &w, &a)) != 0 ||
	    (rc = tool_store(t, &w.s)) != 0 ||
	    (rc = register_all(&w)) != 0)
		goto out;
	/* A reader of stdout that goes away (gpush watch ... | head -1)
	 * must not kill the run between Google's answer and its record:
	 * a failed write is EPIPE, reported at the end (as tail does). */
	{
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_IGN;
		sigemptyset(&sa.sa_mask);
		(void)sigaction(SIGPIPE, &sa, NULL);
	}
	send_all(t, &w, &a);
	rc = w.ok == w.n ? 0 : EXIT_FAIL;
	if (w.n > 1)
		msg("watch: %zu of %zu channel(s) made", w.ok, w.n);
	if (stdout_failed(w.out_errno, "every answer is in the registry: "
	    "gpush list"))
		rc = EXIT_FAIL;
out:
	run_free(&w);
	free(a.params);
	return rc;
}
