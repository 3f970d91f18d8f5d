/*
 * cmd_edit.c -- the commands that change existing registry entries:
 * update (merge a watch response), remove, expire.  Every change goes
 * through gpush_store_edit: registry lock, temporary file, fsync, rename,
 * directory fsync.
 *
 * Whatever can be refused is checked before the edit starts; a callback
 * that fails anyway returns its error, which aborts the edit with the
 * registry unchanged.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "gpush_tool.h"

/* A watch response is a small object; anything past this is not one. */
#define RESPONSE_MAX (1u << 20)

/* ---- update ------------------------------------------------------------- */

/* Reads the watch response from path ("-" or NULL: stdin) into *buf (the
 * caller frees).  Returns 0 or EXIT_FAIL after the message. */
static int
read_response(const char *path, char **buf, size_t *len)
{
	int fd = STDIN_FILENO, rc;
	const char *name = path != NULL && strcmp(path, "-") != 0 ? path : NULL;

	if (name != NULL && (fd = open(name, O_RDONLY | O_CLOEXEC)) < 0)
		return fail("%s: %s", name, strerror(errno));
	rc = gpush__read_file(fd, RESPONSE_MAX, buf, len);
	if (rc < 0)
		msg("%s: %s", name != NULL ? name : "stdin",
		    errno == EFBIG ? "too large for a watch response" :
		    strerror(errno));
	if (name != NULL)
		(void)close(fd);
	return rc < 0 ? EXIT_FAIL : 0;
}

/*
 * Checks that buf is a channel resource that gpush_channel_update will
 * take: a JSON object with a string "id", every known key of the right
 * type and within its limits (gpush_channel_parse checks exactly what the
 * merge checks).  *id gets a copy of the id (the caller frees).  Returns
 * 0 or EXIT_FAIL after the message.
 */
static int
check_response(const char *name, const char *buf, size_t len, char **id)
{
	struct json_object *o, *v;
	struct gpush_channel *c;
	enum gpush_err e;

	*id = NULL;
	if ((o = json_tokener_parse(buf)) == NULL ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return fail("%s: not a watch response (a JSON object)", name);
	}
	if (!json_object_object_get_ex(o, "id", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		json_object_put(o);
		return fail("%s: the watch response has no channel \"id\"", name);
	}
	/* "gpush show ID | gpush update" would otherwise replace the secret
	 * by the mask that show prints in its place. */
	if (json_object_object_get_ex(o, "token", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    strcmp(json_object_get_string(v), "(set)") == 0) {
		json_object_put(o);
		return fail("%s: \"token\": \"(set)\" is the mask that "
		    "'gpush show' prints, not a token", name);
	}
	json_object_put(o);
	if ((e = gpush_channel_parse(buf, len, &c)) != GPUSH_OK)
		return fail("%s: %s", name, e == GPUSH_ERR_NOMEM ? "out of memory"
		    : "a channel key of the watch response has a wrong type or "
		    "value (or the text is not strict UTF-8 JSON)");
	*id = strdup(gpush_channel_id(c));
	gpush_channel_free(c);
	return *id != NULL ? 0 : fail("out of memory");
}

struct update_edit {
	const char *id;
	const char *resp;
	size_t      len;
	int         matched;
	enum gpush_err failed;
};

/* Channel.update() on the entry of ue->id; other lines stay as they are.
 * A merge that fails aborts the edit. */
static enum gpush_err
update_line(void *ctx, const char *line, const struct gpush_channel *c,
    char **keep)
{
	struct update_edit *ue = ctx;
	struct gpush_channel *copy;
	enum gpush_err e;

	if (c == NULL || strcmp(gpush_channel_id(c), ue->id) != 0) {
		*keep = xstrdup(line);
		return GPUSH_OK;
	}
	ue->matched++;
	/* c is const and borrowed: merge into a copy parsed from the line. */
	if ((e = gpush_channel_parse(line, strlen(line), &copy)) == GPUSH_OK &&
	    (e = gpush_channel_update(copy, ue->resp, ue->len)) == GPUSH_OK)
		e = gpush_channel_json(copy, GPUSH_CHANNEL_RECORD, keep);
	gpush_channel_free(copy);
	if (e != GPUSH_OK)
		ue->failed = e;
	return e;
}

/* At the end: an id that no line had aborts, so nothing is rewritten. */
static enum gpush_err
update_end(void *ctx, char **line)
{
	struct update_edit *ue = ctx;

	*line = NULL;
	return ue->matched > 0 ? GPUSH_OK : GPUSH_ERR_NOTFOUND;
}

/* gpush update [FILE|-]: checks the response, finds its channel, then
 * merges under the registry lock.  Returns the exit code. */
int
cmd_update(struct tool *t, int argc, char **argv)
{
	struct gpush_store *s = NULL;
	const struct gpush_channel *c;
	struct update_edit ue;
	char *buf = NULL, *id = NULL;
	const char *path, *name;
	size_t len = 0;
	enum gpush_err e;
	int rc, first;

	if ((rc = tool_options(t, argc, argv, NULL, 0, 1, &first)) != 0)
		return rc < 0 ? 0 : rc;
	path = first < argc ? argv[first] : NULL;
	name = path != NULL && strcmp(path, "-") != 0 ? path : "stdin";
	if ((rc = read_response(path, &buf, &len)) != 0 ||
	    (rc = check_response(name, buf, len, &id)) != 0 ||
	    (rc = tool_store(t, &s)) != 0)
		goto out;
	/* Look first, so that an unknown id does not even rewrite the file;
	 * the edit checks again under the lock. */
	if ((e = tool_lookup(s, id, &c)) != GPUSH_OK) {
		rc = e == GPUSH_ERR_CHANNEL ? fail("no channel %s in the registry",
		    id) : fail("%s: %s", tool_registry_name(s), tool_store_why(s, e));
		goto out;
	}
	memset(&ue, 0, sizeof(ue));
	ue.id = id;
	ue.resp = buf;
	ue.len = len;
	e = gpush_store_edit(s, update_line, update_end, &ue);
	if (ue.matched == 0 && e == GPUSH_ERR_NOTFOUND)
		rc = fail("no channel %s in the registry", id);
	else if (ue.matched == 0)
		rc = fail("%s: %s", tool_registry_name(s), tool_store_why(s, e));
	else if (ue.failed != GPUSH_OK)
		rc = fail("channel %s not updated: %s", id,
		    gpush_strerror(ue.failed));
	else if (e != GPUSH_OK)
		rc = fail("%s: %s", tool_registry_name(s), tool_store_why(s, e));
out:
	gpush_store_free(s);
	free(buf);
	free(id);
	return rc;
}

/* ---- remove ---------------------------------------------------------------- */

struct remove_edit {
	const char *id;
	int         removed;
};

/* Drops the lines of re->id, counting them; keeps every other line. */
static enum gpush_err
remove_line(void *ctx, const char *line, const struct gpush_channel *c,
    char **keep)
{
	struct remove_edit *re = ctx;

	if (c != NULL && strcmp(gpush_channel_id(c), re->id) == 0) {
		re->removed++;
		*keep = NULL;
		return GPUSH_OK;
	}
	/* Lines that do not parse are kept: check reports them. */
	*keep = xstrdup(line);
	return GPUSH_OK;
}

/* Nothing removed: abort, so the registry is not rewritten. */
static enum gpush_err
remove_end(void *ctx, char **line)
{
	*line = NULL;
	return ((struct remove_edit *)ctx)->removed > 0 ? GPUSH_OK :
	    GPUSH_ERR_NOTFOUND;
}

/* gpush remove ID.  Returns the exit code. */
int
cmd_remove(struct tool *t, int argc, char **argv)
{
	struct gpush_store *s = NULL;
	const struct gpush_channel *c;
	struct remove_edit re = { NULL, 0 };
	enum gpush_err e;
	int rc, first;

	if ((rc = tool_options(t, argc, argv, NULL, 1, 1, &first)) != 0)
		return rc < 0 ? 0 : rc;
	re.id = argv[first];
	if ((rc = tool_store(t, &s)) != 0)
		return rc;
	if ((e = tool_lookup(s, re.id, &c)) != GPUSH_OK)
		rc = e == GPUSH_ERR_CHANNEL ? fail("no channel %s in the registry",
		    re.id) : fail("%s: %s", tool_registry_name(s), tool_store_why(s, e));
	else if ((e = gpush_store_edit(s, remove_line, remove_end, &re)) != GPUSH_OK)
		rc = re.removed == 0 && e == GPUSH_ERR_NOTFOUND ?
		    fail("no channel %s in the registry", re.id)
		    : fail("%s: %s", tool_registry_name(s), tool_store_why(s, e));
	/* Its dedup state too: an id made again must start afresh. */
	else if ((e = gpush_store_forget(s, re.id)) != GPUSH_OK)
		rc = fail("removed %s, but not its state: %s", re.id, gpush_strerror(e));
	gpush_store_free(s);
	return rc;
}

/* ---- expire ---------------------------------------------------------------- */

/* The channels dropped, to be reported once the edit has committed. */
struct expire_edit {
	int64_t now_ms;
	char  **ids;
	int64_t *exp;
	size_t  n, cap;
};

/* Remembers one dropped channel; dies when out of memory (see
 * die_nomem: the edit must not commit half-reported). */
static void
note_expired(struct expire_edit *ee, const struct gpush_channel *c)
{
	if (ee->n == ee->cap) {
		size_t cap = ee->cap ? ee->cap * 2 : 16;
		char **ids = realloc(ee->ids, cap * sizeof(*ids));
		if (ids == NULL)
			die_nomem();
		ee->ids = ids;
		int64_t *exp = realloc(ee->exp, cap * sizeof(*exp));
		if (exp == NULL)
			die_nomem();
		ee->exp = exp;
		ee->cap = cap;
	}
	ee->ids[ee->n] = xstrdup(gpush_channel_id(c));
	ee->exp[ee->n++] = gpush_channel_expiration(c);
}

/* Drops (and notes) a channel whose expiration has passed. */
static enum gpush_err
expire_line(void *ctx, const char *line, const struct gpush_channel *c,
    char **keep)
{
	struct expire_edit *ee = ctx;
	int64_t x;

	*keep = NULL;
	/* Expired as the handler sees it: now >= expiration (0 = never). */
	if (c != NULL && (x = gpush_channel_expiration(c)) > 0 &&
	    ee->now_ms >= x) {
		note_expired(ee, c);
		return GPUSH_OK;
	}
	*keep = xstrdup(line);
	return GPUSH_OK;
}

/* gpush expire: drops expired channels, then names them -- only once
 * the edit has committed.  Returns the exit code. */
int
cmd_expire(struct tool *t, int argc, char **argv)
{
	struct gpush_store *s = NULL;
	struct expire_edit ee;
	char at[25];
	enum gpush_err e;
	int rc, first;

	if ((rc = tool_options(t, argc, argv, NULL, 0, 0, &first)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = tool_store(t, &s)) != 0)
		return rc;
	memset(&ee, 0, sizeof(ee));
	ee.now_ms = gpush_now_ms();
	if ((e = gpush_store_edit(s, expire_line, NULL, &ee)) != GPUSH_OK)
		rc = fail("%s: %s", tool_registry_name(s), tool_store_why(s, e));
	for (size_t i = 0; i < ee.n; i++) {
		gpush_format_rfc3339(ee.exp[i], at);
		if (rc == 0 && (e = gpush_store_forget(s, ee.ids[i])) != GPUSH_OK)
			rc = fail("removed %s, but not its state: %s", ee.ids[i],
			    gpush_strerror(e));
		if (rc == 0)
			printf("removed %s (expired %s)\n", ee.ids[i], at);
		free(ee.ids[i]);
	}
	free(ee.ids);
	free(ee.exp);
	gpush_store_free(s);
	return rc;
}
