/*
 * cmd_new.c -- gpush new: make a web_hook channel, register it, print the
 * watch request body.
 *
 * The registry entry is written (and durable) before the body is printed:
 * Google may deliver the sync message before the watch call even returns,
 * and the handler must know the channel by then.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gpush_tool.h"

/* 9999-12-31T23:59:59.999Z in ms since the epoch. */
#define MAX_EXPIRATION INT64_C(253402300799999)

/* 32 random bytes: 256 bits, and 43 base64url characters. */
#define TOKEN_BYTES 32

/* What the command line asked for, before it is checked. */
struct new_args {
	const char *address, *id, *token, *ttl, *expiration;
	char      **params;          /* KEY=VALUE words, into argv */
	size_t      nparams;
};

/* Reads the options into *a.  Returns 0, TOOL_DONE after --help, or the
 * exit code of a usage error. */
static int
parse_args(struct tool *t, int argc, char **argv, struct new_args *a)
{
	const struct tool_opt opts[] = {
		{ "address", 0, NULL, &a->address, NULL, NULL },
		{ "id", 0, NULL, &a->id, NULL, NULL },
		{ "token", 0, NULL, &a->token, NULL, NULL },
		{ "ttl", 0, NULL, &a->ttl, NULL, NULL },
		{ "expiration", 0, NULL, &a->expiration, NULL, NULL },
		{ "param", 0, NULL, NULL, a->params, &a->nparams },
		TOOL_OPT_END,
	};
	int rc, first;

	if ((rc = tool_options(t, argc, argv, opts, 0, 0, &first)) != 0)
		return rc;
	if (a->address == NULL)
		return usage_error(t, "--address is required");
	if (a->ttl != NULL && a->expiration != NULL)
		return usage_error(t, "--ttl and --expiration exclude each other");
	return 0;
}

/* Sets id and token, given or random.  Returns 0 or an exit code. */
static int
set_identity(struct tool *t, struct gpush_channel *c, const struct new_args *a)
{
	char uuid[37], tok[TOKEN_BYTES * 2];
	unsigned char raw[TOKEN_BYTES];
	const char *id = a->id, *token = a->token;

	if (id != NULL && !channel_id_ok(id))
		return usage_error(t, "--id must be 1..%d characters of "
		    "A-Z a-z 0-9 - _ + / =", GPUSH_ID_MAX);
	if (id == NULL) {
		if (uuid_v4(uuid) < 0)
			return fail("getrandom: %s", strerror(errno));
		id = uuid;
	}
	if (token != NULL && (token[0] == '\0' || strlen(token) > GPUSH_TOKEN_MAX))
		return usage_error(t, "--token must be 1..%d characters",
		    GPUSH_TOKEN_MAX);
	if (token == NULL) {
		if (random_bytes(raw, sizeof(raw)) < 0)
			return fail("getrandom: %s", strerror(errno));
		base64url(raw, sizeof(raw), tok);
		token = tok;
	}
	if (gpush_channel_set(c, "id", id) != GPUSH_OK)
		return fail("out of memory");
	/* The length was checked: ARG now means control bytes or not UTF-8. */
	if (gpush_channel_set(c, "token", token) != GPUSH_OK)
		return usage_error(t, "--token must be UTF-8 text without "
		    "control characters");
	return 0;
}

/* Sets type, address, expiration and params.  Returns 0 or an exit code. */
static int
set_delivery(struct tool *t, struct gpush_channel *c, const struct new_args *a)
{
	int64_t v;
	char num[24];

	if (a->address == NULL || !address_ok(a->address) ||
	    gpush_channel_set(c, "address", a->address) != GPUSH_OK)
		return usage_error(t, "--address must be an https:// URL "
		    "(Google delivers only to HTTPS)");
	if (gpush_channel_set(c, "type", "web_hook") != GPUSH_OK)
		return fail("out of memory");
	if (a->expiration != NULL) {
		/* Up to the end of year 9999: what RFC 3339 can write, and far
		 * below the INT64_MAX that the registry parser refuses. */
		if (!gpush__parse_i64(a->expiration, &v) || v == 0 || v > MAX_EXPIRATION)
			return usage_error(t, "--expiration must be a time in ms "
			    "since the epoch (before the year 10000)");
		if (v <= gpush_now_ms())
			msg("warning: --expiration is in the past; the handler "
			    "will refuse this channel's notifications");
		if (gpush_channel_set_expiration(c, v) != GPUSH_OK)
			return fail("out of memory");
	}
	for (size_t i = 0; i < a->nparams; i++) {
		char *kv = a->params[i], *eq = strchr(kv, '=');
		if (eq == NULL || eq == kv)
			return usage_error(t, "--param needs KEY=VALUE");
		if (a->ttl != NULL && eq - kv == 3 && strncmp(kv, "ttl", 3) == 0)
			return usage_error(t, "--ttl and --param ttl=... exclude "
			    "each other");
		*eq = '\0';
		enum gpush_err e = gpush_channel_set_param(c, kv, eq + 1);
		*eq = '=';
		if (e != GPUSH_OK)
			return e == GPUSH_ERR_ARG ? usage_error(t, "--param: KEY and "
			    "VALUE must be UTF-8 text without control characters")
			    : fail("out of memory");
	}
	if (a->ttl != NULL) {
		if (!parse_duration(a->ttl, &v))
			return usage_error(t, "--ttl must be a positive number of "
			    "seconds (or like 30m, 2h, 1d)");
		/* Google's params are strings (map<string, string>). */
		snprintf(num, sizeof(num), "%lld", (long long)v);
		if (gpush_channel_set_param(c, "ttl", num) != GPUSH_OK)
			return fail("out of memory");
	}
	return 0;
}

/* The registry edit: keeps every line, notes a channel with our id, and
 * appends our line once at the end when there is none. */
struct new_edit {
	const char *id;
	const char *line;
	int         exists, appended;
};

/* Keeps each line as it is; a line with our id aborts the edit. */
static enum gpush_err
new_keep(void *ctx, const char *line, const struct gpush_channel *c,
    char **keep)
{
	struct new_edit *ne = ctx;

	*keep = NULL;
	if (c != NULL && strcmp(gpush_channel_id(c), ne->id) == 0) {
		ne->exists = 1;
		return GPUSH_ERR_EXISTS;
	}
	*keep = xstrdup(line);
	return GPUSH_OK;
}

/* Appends our line once. */
static enum gpush_err
new_append(void *ctx, char **line)
{
	struct new_edit *ne = ctx;

	*line = NULL;
	if (!ne->appended) {
		ne->appended = 1;
		*line = xstrdup(ne->line);
	}
	return GPUSH_OK;
}

/* Registers c in the store.  Returns 0 or EXIT_FAIL after the message. */
static int
register_channel(struct gpush_store *s, const struct gpush_channel *c)
{
	struct new_edit ne = { gpush_channel_id(c), NULL, 0, 0 };
	char *line;
	enum gpush_err e;

	if ((e = gpush_channel_json(c, GPUSH_CHANNEL_RECORD, &line)) != GPUSH_OK)
		return fail("%s", gpush_strerror(e));
	ne.line = line;
	/* A state left by an earlier channel of this id (removed by hand)
	 * would take the new channel's first messages for duplicates; only
	 * while no channel has the id, so a refused new wipes nothing. */
	const struct gpush_channel *old;
	if (tool_lookup(s, ne.id, &old) == GPUSH_ERR_CHANNEL)
		(void)gpush_store_forget(s, ne.id);
	e = gpush_store_edit(s, new_keep, new_append, &ne);
	free(line);
	if (ne.exists)
		return fail("channel %s exists already", ne.id);
	if (e != GPUSH_OK)
		return fail("%s: %s", tool_registry_name(s), tool_store_why(s, e));
	return 0;
}

/* Prints the watch body: the one place a token is ever printed. */
static int
print_body(const struct gpush_channel *c)
{
	char *body;
	enum gpush_err e;

	if ((e = gpush_channel_json(c, GPUSH_CHANNEL_BODY, &body)) != GPUSH_OK)
		return fail("channel %s registered, but its body: %s",
		    gpush_channel_id(c), gpush_strerror(e));
	int ok = printf("%s\n", body) >= 0 && fflush(stdout) == 0;
	free(body);
	if (!ok)
		return fail("channel %s registered, but writing its body: %s",
		    gpush_channel_id(c), strerror(errno));
	return 0;
}

/* gpush new: check the options, build the channel, register it, print
 * its body.  Returns the exit code. */
int
cmd_new(struct tool *t, int argc, char **argv)
{
	struct new_args a;
	struct gpush_channel *c = NULL;
	struct gpush_store *s = NULL;
	int rc;

	memset(&a, 0, sizeof(a));
	/* At most one KEY=VALUE per remaining word. */
	if ((a.params = calloc((size_t)argc, sizeof(char *))) == NULL)
		return fail("out of memory");
	if ((rc = parse_args(t, argc, argv, &a)) != 0) {
		rc = rc == TOOL_DONE ? 0 : rc;
		goto out;
	}
	if ((c = gpush_channel_new()) == NULL) {
		rc = fail("out of memory");
		goto out;
	}
	if ((rc = set_identity(t, c, &a)) != 0 ||
	    (rc = set_delivery(t, c, &a)) != 0 ||
	    (rc = tool_store(t, &s)) != 0 ||
	    (rc = register_channel(s, c)) != 0)
		goto out;
	rc = print_body(c);
out:
	gpush_store_free(s);
	gpush_channel_free(c);
	free(a.params);
	return rc;
}
