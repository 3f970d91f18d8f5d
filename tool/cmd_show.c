/*
 * cmd_show.c -- the commands that only read the registry: list, show,
 * stop-body, due.  None of them prints a token: show masks it, the others
 * never look at it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "gpush_tool.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Options: --help and, where allowed, one flag word (flag_name) setting
 * *flag, or one valued option (val_name) setting *val.  Operands fill
 * ops[0..nops).  Returns 0, -1 after --help, or a usage exit code. */

/* "2013-11-19T01:13:52.000Z (expired)", "... (in 2h)" or "never". */
static const char *
format_expiry(int64_t ms, int64_t now_ms, char *buf, size_t sz)
{
	char at[25], rel[64];

	if (ms <= 0) {
		snprintf(buf, sz, "never");
		return buf;
	}
	gpush_format_rfc3339(ms, at);
	snprintf(buf, sz, "%s (%s)", at, format_relative(ms, now_ms, rel,
	    sizeof(rel)));
	return buf;
}

/* A new JSON string, or JSON null for NULL (json-c's null is NULL). */
static struct json_object *
str_or_null(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

/* Adds key: v to o; 0, or -1 when out of memory (v is consumed). */
static int
put(struct json_object *o, const char *key, struct json_object *v)
{
	if (json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

/* The state the handler keeps of a channel, as a JSON object; NULL when
 * out of memory. */
static struct json_object *
stats_object(const struct gpush_channel_stats *st, int known)
{
	struct json_object *o = json_object_new_object();
	char at[25];
	int rc = 0;

	if (o == NULL)
		return NULL;
	gpush_format_rfc3339(st->last_at_ms, at);
	rc |= put(o, "last_number", known ? json_object_new_int64(
	    st->last_number) : NULL);
	rc |= put(o, "accepted", known ? json_object_new_int64(
	    (int64_t)st->accepted) : NULL);
	rc |= put(o, "last_at", known && st->last_at_ms > 0 ?
	    json_object_new_string(at) : NULL);
	if (rc != 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* ---- list ------------------------------------------------------------------ */

struct list_ctx {
	struct gpush_store *s;
	int     json;
	int64_t now_ms;
};

/* One --json line: what list shows, keyed; no token, only whether one
 * is set.  Returns 0 or -1 (out of memory). */
static int
list_json(const struct list_ctx *lc, const struct gpush_channel *c,
    const struct gpush_channel_stats *st, int known)
{
	struct json_object *o = json_object_new_object(), *stats;
	int64_t x = gpush_channel_expiration(c);
	char at[25];
	int rc = 0;

	if (o == NULL || (stats = stats_object(st, known)) == NULL) {
		json_object_put(o);
		return -1;
	}
	gpush_format_rfc3339(x, at);
	rc |= put(o, "id", str_or_null(gpush_channel_id(c)));
	rc |= put(o, "resourceId", str_or_null(gpush_channel_resource_id(c)));
	rc |= put(o, "resourceUri", str_or_null(gpush_channel_resource_uri(c)));
	rc |= put(o, "address", str_or_null(gpush_channel_address(c)));
	rc |= put(o, "expiration", x > 0 ? json_object_new_int64(x) : NULL);
	rc |= put(o, "expires_at", x > 0 ? json_object_new_string(at) : NULL);
	rc |= put(o, "expired", json_object_new_boolean(x > 0 &&
	    lc->now_ms >= x));
	rc |= put(o, "token_set", json_object_new_boolean(
	    gpush_channel_token(c) != NULL));
	json_object_object_foreach(stats, k, v)
		rc |= put(o, k, json_object_get(v));
	json_object_put(stats);
	if (rc == 0)
		printf("%s\n", json_object_to_json_string_ext(o, JSON_FLAGS));
	json_object_put(o);
	return rc;
}

/* gpush_registry_foreach callback: one line (or JSON line) per channel; a line
 * that is not a channel is skipped with a warning.  Returns 0, or 1
 * (stop) when out of memory. */
static int
list_one(void *ctx, size_t lineno, const char *line,
    const struct gpush_channel *c, enum gpush_err e)
{
	struct list_ctx *lc = ctx;
	struct gpush_channel_stats st;
	const char *rid;
	char exp[128];
	int known;

	(void)line;
	if (c == NULL) {
		msg("%s:%zu: skipped: %s", GPUSH_REGISTRY_FILE, lineno,
		    gpush_strerror(e));
		return 0;
	}
	if ((e = gpush_store_stats(lc->s, gpush_channel_id(c), &st)) != GPUSH_OK)
		msg("state of channel %s: %s", gpush_channel_id(c),
		    gpush_strerror(e));
	known = e == GPUSH_OK;
	if (lc->json)
		return list_json(lc, c, &st, known) == 0 ? 0 : 1;
	rid = gpush_channel_resource_id(c);
	format_expiry(gpush_channel_expiration(c), lc->now_ms, exp, sizeof(exp));
	if (known)
		printf("%s resource=%s expires=%s last=%lld accepted=%llu\n",
		    gpush_channel_id(c), rid != NULL && *rid ? rid : "-", exp,
		    (long long)st.last_number, (unsigned long long)st.accepted);
	else
		printf("%s resource=%s expires=%s last=? accepted=?\n",
		    gpush_channel_id(c), rid != NULL && *rid ? rid : "-", exp);
	return 0;
}

/* gpush list [--json].  Returns the exit code. */
int
cmd_list(struct tool *t, int argc, char **argv)
{
	struct list_ctx lc = { NULL, 0, 0 };
	const struct tool_opt opts[] = { { "json", 0, &lc.json, NULL, NULL, NULL },
	    TOOL_OPT_END };
	int rc, first, stopped;

	if ((rc = tool_options(t, argc, argv, opts, 0, 0, &first)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = tool_store(t, &lc.s)) != 0)
		return rc;
	lc.now_ms = gpush_now_ms();
	if (gpush_store_foreach(lc.s, list_one, &lc, &stopped) != GPUSH_OK)
		rc = gpush_store_is_database(lc.s) ? fail("reading the channels: %s",
		    gpush_store_error(lc.s)) : fail("%s: %s", GPUSH_REGISTRY_FILE,
		    strerror(errno));
	else if (stopped != 0)
		rc = fail("out of memory");
	gpush_store_free(lc.s);
	return rc;
}

/* ---- show and stop-body ------------------------------------------------------ */

/* Finds channel id.  Returns 0 with *s (the caller frees) and *c
 * (borrowed from *s), or EXIT_FAIL after the message. */
static int
find_channel(struct tool *t, const char *id, struct gpush_store **s,
    const struct gpush_channel **c)
{
	enum gpush_err e;
	int rc;

	if ((rc = tool_store(t, s)) != 0)
		return rc;
	if ((e = tool_lookup(*s, id, c)) == GPUSH_OK)
		return 0;
	if (e == GPUSH_ERR_CHANNEL)
		rc = fail("no channel %s in the registry", id);
	else
		rc = fail("%s: %s", tool_registry_name(*s), tool_store_why(*s, e));
	gpush_store_free(*s);
	*s = NULL;
	return rc;
}

/* The registry form of c with the token masked and the handler's state
 * added, pretty-printed.  Returns 0 or -1 (out of memory). */
static int
print_masked(struct gpush_store *s, const struct gpush_channel *c)
{
	struct gpush_channel_stats st;
	struct json_object *o, *stats;
	char *line;
	int rc = 0;

	if (gpush_channel_json(c, GPUSH_CHANNEL_RECORD, &line) != GPUSH_OK)
		return -1;
	o = json_tokener_parse(line);
	free(line);
	if (o == NULL)
		return -1;
	/* Replaces the value: the secret never reaches the output buffer. */
	if (json_object_object_get_ex(o, "token", NULL))
		rc |= put(o, "token", json_object_new_string("(set)"));
	int known = gpush_store_stats(s, gpush_channel_id(c), &st) == GPUSH_OK;
	if ((stats = stats_object(&st, known)) == NULL)
		rc = -1;
	else
		rc |= put(o, "state", stats);
	if (rc == 0)
		printf("%s\n", json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return rc;
}

/* gpush show ID: the entry, token masked.  Returns the exit code. */
int
cmd_show(struct tool *t, int argc, char **argv)
{
	const char *id = NULL;
	struct gpush_store *s = NULL;
	const struct gpush_channel *c;
	int rc, first;

	if ((rc = tool_options(t, argc, argv, NULL, 1, 1, &first)) != 0)
		return rc < 0 ? 0 : rc;
	id = argv[first];
	if ((rc = find_channel(t, id, &s, &c)) != 0)
		return rc;
	if (print_masked(s, c) < 0)
		rc = fail("out of memory");
	gpush_store_free(s);
	return rc;
}

/* gpush stop-body ID: the channels.stop body; an error without a
 * resourceId.  Returns the exit code. */
int
cmd_stop_body(struct tool *t, int argc, char **argv)
{
	const char *id = NULL, *rid;
	struct gpush_store *s = NULL;
	const struct gpush_channel *c;
	struct json_object *o;
	int rc, first;

	if ((rc = tool_options(t, argc, argv, NULL, 1, 1, &first)) != 0)
		return rc < 0 ? 0 : rc;
	id = argv[first];
	if ((rc = find_channel(t, id, &s, &c)) != 0)
		return rc;
	rid = gpush_channel_resource_id(c);
	if (rid == NULL || rid[0] == '\0') {
		rc = fail("channel %s has no resourceId yet: run 'gpush update' "
		    "with its watch response first", id);
	} else if ((o = json_object_new_object()) == NULL ||
	    put(o, "id", json_object_new_string(gpush_channel_id(c))) != 0 ||
	    put(o, "resourceId", json_object_new_string(rid)) != 0) {
		json_object_put(o);
		rc = fail("out of memory");
	} else {
		printf("%s\n", json_object_to_json_string_ext(o, JSON_FLAGS));
		json_object_put(o);
	}
	gpush_store_free(s);
	return rc;
}

/* ---- due ------------------------------------------------------------------- */

struct due_ctx {
	int64_t now_ms, until_ms;
};

/* gpush_registry_foreach callback: prints a channel expiring by dc->until_ms. */
static int
due_one(void *ctx, size_t lineno, const char *line,
    const struct gpush_channel *c, enum gpush_err e)
{
	struct due_ctx *dc = ctx;
	int64_t x;
	char exp[128];

	(void)line;
	if (c == NULL) {
		msg("%s:%zu: skipped: %s", GPUSH_REGISTRY_FILE, lineno,
		    gpush_strerror(e));
		return 0;
	}
	if ((x = gpush_channel_expiration(c)) > 0 && x <= dc->until_ms)
		printf("%s expires=%s\n", gpush_channel_id(c),
		    format_expiry(x, dc->now_ms, exp, sizeof(exp)));
	return 0;
}

/* gpush due [--within DURATION]: silent and 0 when nothing is due.
 * Returns the exit code. */
int
cmd_due(struct tool *t, int argc, char **argv)
{
	const char *within = NULL, *dir;
	const struct tool_opt opts[] = { { "within", 0, NULL, &within, NULL,
	    NULL }, TOOL_OPT_END };
	struct due_ctx dc;
	int64_t secs = 3600;
	int rc, first, stopped;

	if ((rc = tool_options(t, argc, argv, opts, 0, 0, &first)) != 0)
		return rc < 0 ? 0 : rc;
	if (within != NULL && !parse_duration(within, &secs))
		return usage_error(t, "--within needs a duration like 90s, 30m, "
		    "2h, 1d");
	dc.now_ms = gpush_now_ms();
	dc.until_ms = dc.now_ms + secs * 1000;
	if (tool_database(t) != NULL) {
		struct gpush_store *s;
		if ((rc = tool_store(t, &s)) != 0)
			return rc;
		if (gpush_store_foreach(s, due_one, &dc, &stopped) != GPUSH_OK)
			rc = fail("reading the channels: %s", gpush_store_error(s));
		gpush_store_free(s);
		return rc;
	}
	if ((dir = tool_dir(t)) == NULL)
		return EXIT_FAIL;
	if (gpush_registry_foreach(dir, due_one, &dc, &stopped) != GPUSH_OK)
		return fail("%s/%s: %s", dir, GPUSH_REGISTRY_FILE, strerror(errno));
	return 0;
}
