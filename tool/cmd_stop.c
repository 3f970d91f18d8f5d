/*
 * cmd_stop.c -- gpush stop ID...: Google's channels.stop for each
 * channel, at the stop URL of the API its stored watch URL names, then
 * the channel out of the registry with its dedup state.
 *
 * 2xx: stopped and removed.  Google's own 404 (its JSON error, reason
 * notFound or "Channel '...' not found": expired, or stopped already):
 * removed, with a note.  Anything else -- a 404 that is not Google's
 * JSON error included (a proxy's page, a wrong host) -- changes nothing,
 * exit 1.
 *
 * A half-made channel (watch registered it but took no answer, so no
 * resourceId): stop needs the resourceId (google-channels.md §0).  The
 * sync message Google sends right after making a channel carries it
 * (X-Goog-Resource-ID), and the handler logs it as resource_id: if the
 * current log has a line of this channel with one, stop uses it.  Else
 * the channel is removed here, with a note that Google's copy, if any,
 * ends at its expiration by itself.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "gpush_tool.h"

struct stop_run {
	struct call *calls;
	size_t n, done, failed;
	const char **drop;          /* ids to remove once answered */
	size_t ndrop;
	int out_errno;              /* first failed write to stdout, or 0 */
};

/*
 * The resourceId of channel id from the current log's lines (the sync
 * message, or any later one), for a half-made channel.  A malloc'ed copy
 * (the caller frees) of the first one found, if it is one that
 * gpush_channel_take_answer would take; NULL when none (or no log).
 * Bounded: lines over 64 KiB are skipped, and only lines naming the id
 * are parsed.
 */
static char *
log_resource_id(struct gpush_store *s, const char *id)
{
	char *path = path_join(gpush_store_dir(s), GPUSH_LOG_FILE), *line = NULL;
	char *found = NULL, needle[GPUSH_ID_MAX + 20];
	size_t cap = 0;
	ssize_t len;
	FILE *f;

	if (path == NULL)
		die_nomem();
	f = fopen(path, "re");
	free(path);
	if (f == NULL)
		return NULL;
	snprintf(needle, sizeof(needle), "\"%s\"", id);
	while (found == NULL && (len = getline(&line, &cap, f)) > 0) {
		struct json_object *o, *v;
		if (len > 65536 || strstr(line, needle) == NULL ||
		    (o = json_tokener_parse(line)) == NULL)
			continue;
		if (json_object_is_type(o, json_type_object) &&
		    json_object_object_get_ex(o, "channel_id", &v) &&
		    json_object_is_type(v, json_type_string) &&
		    strcmp(json_object_get_string(v), id) == 0 &&
		    json_object_object_get_ex(o, "resource_id", &v) &&
		    json_object_is_type(v, json_type_string)) {
			const char *r = json_object_get_string(v);
			size_t n = strlen(r);
			if (n >= 1 && n <= GPUSH_RESOURCE_ID_MAX &&
			    strspn(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789-_.~+/=") == n)
				found = xstrdup(r);
		}
		json_object_put(o);
	}
	free(line);
	fclose(f);
	return found;
}

/* Google's "no such channel": its JSON error (take_error parsed it, so a
 * reason or Google's message is there only then) saying not found. */
static int
google_not_found(const struct call *c)
{
	const char *m = c->gerr.message;

	return c->status == 404 && (strcmp(c->gerr.reason, "notFound") == 0 ||
	    (strncmp(m, "Channel '", 9) == 0 && strstr(m, "' not found") != NULL));
}

static void
settle(void *ctx, struct call *c)
{
	struct stop_run *r = ctx;
	char why[GPUSH_WHY_MAX + 600];

	r->done++;
	errno = 0;
	if (c->err == GPUSH_OK && c->status >= 200 && c->status <= 299) {
		if (printf("stopped %s\n", c->id) < 0 && r->out_errno == 0)
			r->out_errno = errno != 0 ? errno : EIO;
		msg("stop %zu/%zu: %s: ok", r->done, r->n, c->id);
		r->drop[r->ndrop++] = c->id;
	} else if (c->err == GPUSH_OK && google_not_found(c)) {
		if (printf("stopped %s (Google no longer knew it)\n", c->id) < 0 &&
		    r->out_errno == 0)
			r->out_errno = errno != 0 ? errno : EIO;
		msg("stop %zu/%zu: %s: note: Google does not know this channel (it "
		    "expired or was stopped already); removed here", r->done, r->n,
		    c->id);
		r->drop[r->ndrop++] = c->id;
	} else {
		msg("stop %zu/%zu: %s: failed, nothing changed: %s", r->done, r->n,
		    c->id, call_failure(c, NULL, why, sizeof(why)));
		r->failed++;
	}
}

/* gpush stop ID...  Returns the exit code. */
int
cmd_stop(struct tool *t, int argc, char **argv)
{
	struct google_opts go;
	struct gpush_store *s = NULL;
	struct stop_run r;
	struct call **group = NULL;
	char *done = NULL;
	int rc = 0, no_batch = 0, first;
	const struct tool_opt opts[] = {
		{ "no-batch", 0, &no_batch, NULL, NULL, NULL },
		GOOGLE_TOOL_OPTS(go), TOOL_OPT_END,
	};

	memset(&go, 0, sizeof(go));
	memset(&r, 0, sizeof(r));
	if ((rc = tool_options(t, argc, argv, opts, 1, -1, &first)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = google_opts_check(t, &go)) != 0)
		return rc;
	r.n = (size_t)(argc - first);
	if ((rc = tool_store(t, &s)) != 0)
		return rc;
	if ((r.calls = calloc(r.n, sizeof(*r.calls))) == NULL ||
	    (r.drop = calloc(r.n, sizeof(*r.drop))) == NULL ||
	    (group = calloc(r.n, sizeof(*group))) == NULL ||
	    (done = calloc(r.n, 1)) == NULL)
		die_nomem();
	/* Everything is checked before anything is sent. */
	for (size_t i = 0; i < r.n; i++) {
		const char *id = argv[first + (int)i], *url, *rid;
		const struct gpush_channel *c;
		struct call *k = &r.calls[i];
		enum gpush_err e;

		k->id = id;
		for (size_t j = 0; j < i; j++)
			if (strcmp(r.calls[j].id, id) == 0) {
				rc = usage_error(t, "channel %s named twice", id);
				goto out;
			}
		if ((e = tool_lookup(s, id, &c)) != GPUSH_OK) {
			rc = e == GPUSH_ERR_CHANNEL ? fail("no channel %s in the "
			    "registry; nothing was sent", id) :
			    fail("%s: %s", tool_registry_name(s), tool_store_why(s, e));
			goto out;
		}
		if ((url = gpush_channel_extra(c, WATCH_KEY)) == NULL) {
			rc = fail("channel %s has no watch URL (it was not made by "
			    "'gpush watch'): call channels.stop with the body of 'gpush "
			    "stop-body %s', then 'gpush remove %s'; nothing was sent",
			    id, id, id);
			goto out;
		}
		if ((e = gpush_api_from_url(url, &k->api)) != GPUSH_OK) {
			rc = fail("channel %s: its stored watch URL is not one gpush "
			    "knows; use stop-body and remove; nothing was sent", id);
			goto out;
		}
		rid = gpush_channel_resource_id(c);
		if (rid == NULL || rid[0] == '\0') {
			/* Half made: the sync message may have told the log. */
			char *lr = log_resource_id(s, id);
			if (lr == NULL) {
				int64_t x = gpush_channel_expiration(c);
				char at[25];
				gpush_format_rfc3339(x, at);
				done[i] = 1; /* nothing to send */
				snprintf(k->why, sizeof(k->why), "%s", x > 0 ? at :
				    "its expiration (the API's default lifetime)");
				continue;
			}
			msg("stop: %s: half made (watch took no answer); using the "
			    "resourceId %s from its sync message in %s", id, lr,
			    GPUSH_LOG_FILE);
			k->body = stop_body(id, lr);
			free(lr);
			if (k->body == NULL)
				die_nomem();
		} else if ((k->body = stop_body(id, rid)) == NULL)
			die_nomem();
		k->url = gpush_api_stop_url(k->api);
		/* The stop path is the target of a batch part. */
		k->target = k->url + strlen(gpush_api_origin(k->api));
	}
	for (size_t i = 0; i < r.n; i++) {
		if (done[i] && r.calls[i].body == NULL) {
			r.done++;
			msg("stop %zu/%zu: %s: note: watch never got Google's answer "
			    "for it and no notification of it is in %s (no resourceId), "
			    "so it cannot be stopped at Google; if Google made it, "
			    "Google's copy expires by itself at %s.  Removed here",
			    r.done, r.n, r.calls[i].id, GPUSH_LOG_FILE, r.calls[i].why);
			errno = 0;
			if (printf("removed %s (half made)\n", r.calls[i].id) < 0 &&
			    r.out_errno == 0)
				r.out_errno = errno != 0 ? errno : EIO;
			r.drop[r.ndrop++] = r.calls[i].id;
		}
	}
	/* A reader that goes away must not end the run between Google's
	 * answer and the registry edit: EPIPE, reported at the end. */
	{
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_IGN;
		sigemptyset(&sa.sa_mask);
		(void)sigaction(SIGPIPE, &sa, NULL);
	}
	for (size_t i = 0; i < r.n; i++) {
		size_t k = 0;
		struct google g;
		if (done[i])
			continue;
		for (size_t j = i; j < r.n; j++)
			if (!done[j] && gpush_api_same(r.calls[i].api, r.calls[j].api)) {
				group[k++] = &r.calls[j];
				done[j] = 1;
			}
		if (google_open(&go, gpush_api_scope(r.calls[i].api),
		    gpush_store_dir(s), &g) != 0) {
			r.failed += k;
			continue;
		}
		calls_send(&g, gpush_api_batch_url(r.calls[i].api), group, k,
		    !no_batch, settle, &r);
		google_close(&g);
	}
	if (registry_drop(s, r.drop, r.ndrop) != 0)
		rc = EXIT_FAIL;
	else if (r.failed > 0)
		rc = EXIT_FAIL;
	if (stdout_failed(r.out_errno, "the registry is complete: gpush list"))
		rc = EXIT_FAIL;
out:
	for (size_t i = 0; i < r.n && r.calls != NULL; i++) {
		gpush_api_free(r.calls[i].api);
		free(r.calls[i].body);
		free(r.calls[i].resp);
	}
	free(r.calls);
	free(r.drop);
	free(group);
	free(done);
	gpush_store_free(s);
	return rc;
}
