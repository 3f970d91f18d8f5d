/*
 * cmd_stop.c -- gpush stop ID...: Google's channels.stop for each
 * channel, at the stop URL of the API its stored watch URL names, then
 * the channel out of the registry with its dedup state.
 *
 * 2xx: stopped and removed.  404 (Google no longer knows it: expired, or
 * stopped already): removed, with a note.  Anything else: nothing
 * changes, exit 1.  A channel that watch registered but never got an
 * answer for (no resourceId) cannot be stopped at Google -- stop needs
 * the resourceId (google-channels.md §0) -- and is removed with a note.
 */
#include <errno.h>
#include <getopt.h>
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
};

/* The stop body {"id","resourceId"}; NULL when out of memory. */
static char *
stop_body(const char *id, const char *rid)
{
	struct json_object *o = json_object_new_object();
	char *s = NULL;

	if (o != NULL && json_object_object_add(o, "id",
	    json_object_new_string(id)) == 0 && json_object_object_add(o,
	    "resourceId", json_object_new_string(rid)) == 0) {
		const char *t = json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		s = t != NULL ? strdup(t) : NULL;
	}
	json_object_put(o);
	return s;
}

static void
settle(void *ctx, struct call *c)
{
	struct stop_run *r = ctx;
	char why[GPUSH_WHY_MAX + 600];

	r->done++;
	if (c->err == GPUSH_OK && c->status >= 200 && c->status <= 299) {
		printf("stopped %s\n", c->id);
		msg("stop %zu/%zu: %s: ok", r->done, r->n, c->id);
		r->drop[r->ndrop++] = c->id;
	} else if (c->err == GPUSH_OK && c->status == 404) {
		printf("stopped %s (Google no longer knew it)\n", c->id);
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
			done[i] = 1; /* half made: nothing to send */
			continue;
		}
		if ((k->body = stop_body(id, rid)) == NULL)
			die_nomem();
		k->url = gpush_api_stop_url(k->api);
		/* The stop path is the target of a batch part. */
		k->target = k->url + strlen(gpush_api_origin(k->api));
	}
	for (size_t i = 0; i < r.n; i++) {
		if (done[i] && r.calls[i].body == NULL) {
			r.done++;
			msg("stop %zu/%zu: %s: note: watch never got Google's answer "
			    "for it (no resourceId), so it cannot be stopped at Google; "
			    "if Google made it, it ends at its expiration.  Removed here",
			    r.done, r.n, r.calls[i].id);
			printf("removed %s (half made)\n", r.calls[i].id);
			r.drop[r.ndrop++] = r.calls[i].id;
		}
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
