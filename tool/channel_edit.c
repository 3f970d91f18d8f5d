/*
 * channel_edit.c -- what watch, stop and renew do to channels alike: a
 * fresh id and token, the check of a watch answer and its merge into the
 * registry (Channel.update()), the channels.stop body, and one atomic
 * registry edit that adds, drops and re-marks several entries at once
 * (renew's steps are each one such edit, written before the step is
 * taken).  Moved out of cmd_watch.c and cmd_stop.c for renew (issue 11).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "gpush_tool.h"

#define TOKEN_BYTES 32              /* as gpush new */

int
fresh_id_token(char id[37], char token[FRESH_TOKEN_SIZE])
{
	unsigned char raw[TOKEN_BYTES];

	if (uuid_v4(id) < 0 || random_bytes(raw, sizeof(raw)) < 0)
		return -1;
	base64url(raw, sizeof(raw), token);
	return 0;
}

const char *
watch_answer_problem(const struct gpush_channel *c, const struct call *call)
{
	struct gpush_channel *r = NULL;
	const char *p = "out of memory";
	char *line;

	/* As gpush_channel_take_answer does, on a scratch copy: a JSON object
	 * whose id, token and address (when present) are the ones sent, a
	 * sane resourceId (stop needs it) and resourceUri, an expiration in
	 * the future and not past MAX_EXPIRATION. */
	if (gpush_channel_json(c, GPUSH_CHANNEL_RECORD, &line) != GPUSH_OK)
		return p;
	if (gpush_channel_parse(line, strlen(line), &r) == GPUSH_OK &&
	    gpush_channel_take_answer(r, call->resp, call->resp_len,
	    gpush_now_ms(), MAX_EXPIRATION, &p) == GPUSH_OK)
		p = NULL;
	gpush_channel_free(r);
	free(line);
	return p;
}

/* ---- the answer merged (Channel.update()) ------------------------------------ */

struct merge_edit {
	const char *id;
	const char *resp;
	size_t len;
	int matched;
};

static enum gpush_err
merge_line(void *ctx, const char *line, const struct gpush_channel *c,
    char **keep)
{
	struct merge_edit *me = ctx;
	struct gpush_channel *copy = NULL;
	enum gpush_err e;

	if (c == NULL || strcmp(gpush_channel_id(c), me->id) != 0) {
		*keep = xstrdup(line);
		return GPUSH_OK;
	}
	me->matched++;
	/* Only resourceId, resourceUri and expiration are taken, and only
	 * from an answer that matches what was sent (watch_answer_problem). */
	const char *prob;
	if ((e = gpush_channel_parse(line, strlen(line), &copy)) == GPUSH_OK &&
	    (e = gpush_channel_take_answer(copy, me->resp, me->len,
	    gpush_now_ms(), MAX_EXPIRATION, &prob)) == GPUSH_OK)
		e = gpush_channel_json(copy, GPUSH_CHANNEL_RECORD, keep);
	gpush_channel_free(copy);
	return e;
}

static enum gpush_err
merge_end(void *ctx, char **line)
{
	*line = NULL;
	return ((struct merge_edit *)ctx)->matched > 0 ? GPUSH_OK :
	    GPUSH_ERR_NOTFOUND;
}

enum gpush_err
registry_merge(struct gpush_store *s, const char *id, const char *resp,
    size_t len)
{
	struct merge_edit me = { id, resp, len, 0 };

	return gpush_store_edit(s, merge_line, merge_end, &me);
}

char *
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

/* ---- several changes in one edit ------------------------------------------------ */

struct patch_edit {
	const struct reg_op *ops;
	size_t n, next_add;
	char *found;               /* per op: its line was seen */
};

/* Applies the ops naming this line's id: a drop wins; else each set. */
static enum gpush_err
patch_line(void *ctx, const char *line, const struct gpush_channel *c,
    char **keep)
{
	struct patch_edit *pe = ctx;
	struct gpush_channel *copy = NULL;
	enum gpush_err e = GPUSH_OK;
	int touched = 0;

	*keep = NULL;
	for (size_t i = 0; c != NULL && i < pe->n; i++) {
		if (pe->ops[i].add != NULL || pe->ops[i].id == NULL ||
		    strcmp(pe->ops[i].id, gpush_channel_id(c)) != 0)
			continue;
		pe->found[i] = 1;
		if (pe->ops[i].drop) {
			gpush_channel_free(copy);
			return GPUSH_OK;
		}
		touched = 1;
	}
	if (!touched) {
		*keep = xstrdup(line);
		return GPUSH_OK;
	}
	if ((e = gpush_channel_parse(line, strlen(line), &copy)) != GPUSH_OK) {
		if (e == GPUSH_ERR_NOMEM)
			die_nomem();
		return e;
	}
	for (size_t i = 0; i < pe->n && e == GPUSH_OK; i++)
		if (pe->ops[i].add == NULL && pe->ops[i].id != NULL &&
		    strcmp(pe->ops[i].id, gpush_channel_id(copy)) == 0)
			e = gpush_channel_set_extra(copy, pe->ops[i].key,
			    pe->ops[i].value);
	if (e == GPUSH_OK)
		e = gpush_channel_json(copy, GPUSH_CHANNEL_RECORD, keep);
	gpush_channel_free(copy);
	if (e == GPUSH_ERR_NOMEM)
		die_nomem();
	return e;
}

/* The added channels, after every line; NOTFOUND (the edit is dropped)
 * when a set named an id that no line has. */
static enum gpush_err
patch_more(void *ctx, char **line)
{
	struct patch_edit *pe = ctx;
	enum gpush_err e;

	*line = NULL;
	if (pe->next_add == 0)
		for (size_t i = 0; i < pe->n; i++)
			if (pe->ops[i].add == NULL && !pe->ops[i].drop &&
			    !pe->ops[i].optional && !pe->found[i])
				return GPUSH_ERR_NOTFOUND;
	while (pe->next_add < pe->n && pe->ops[pe->next_add].add == NULL)
		pe->next_add++;
	if (pe->next_add >= pe->n)
		return GPUSH_OK;
	e = gpush_channel_json(pe->ops[pe->next_add++].add, GPUSH_CHANNEL_RECORD,
	    line);
	if (e == GPUSH_ERR_NOMEM)
		die_nomem();
	return e;
}

enum gpush_err
registry_patch(struct gpush_store *s, const struct reg_op *ops, size_t n)
{
	struct patch_edit pe = { ops, n, 0, NULL };
	enum gpush_err e;

	if (n == 0)
		return GPUSH_OK;
	if ((pe.found = calloc(n, 1)) == NULL)
		return GPUSH_ERR_NOMEM;
	e = gpush_store_edit(s, patch_line, patch_more, &pe);
	free(pe.found);
	/* A dropped channel's dedup state goes too (as remove does). */
	for (size_t i = 0; e == GPUSH_OK && i < n; i++)
		if (ops[i].drop && ops[i].id != NULL)
			(void)gpush_store_forget(s, ops[i].id);
	return e;
}

/* ---- renewal's view of a channel --------------------------------------------------- */

int64_t
extra_ms(const struct gpush_channel *c, const char *key)
{
	const char *v = gpush_channel_extra(c, key);
	int64_t n;

	return v != NULL && gpush__parse_i64(v, &n) ? n : 0;
}

int
has_rid(const struct gpush_channel *c)
{
	const char *r = gpush_channel_resource_id(c);

	return r != NULL && r[0] != '\0';
}

int64_t
channel_lifetime_ms(const struct gpush_channel *c, const struct gpush_api *api)
{
	int64_t made = extra_ms(c, MADE_KEY), x = gpush_channel_expiration(c);

	if (made > 0 && x > made)
		return x - made;
	return api != NULL ? gpush_api_ttl_default(api) * 1000 : 0;
}

int
channel_due(const struct gpush_channel *c, const struct gpush_api *api,
    int64_t within_ms, int64_t now_ms, int64_t *left_ms)
{
	int64_t x = gpush_channel_expiration(c);

	*left_ms = x - now_ms;
	if (x <= 0)
		return 0;
	if (within_ms <= 0) {
		within_ms = channel_lifetime_ms(c, api) / 4;
		if (within_ms < RENEW_MIN_WITHIN_MS)
			within_ms = RENEW_MIN_WITHIN_MS;
	}
	return *left_ms < within_ms;
}
