/*
 * channel.c -- Google's channel resource: parse it from a registry line or
 * a watch response, merge a watch response into it (Channel.update()),
 * and serialize it as a watch body (Channel.body()) or a registry line.
 */
#include <stdlib.h>
#include <string.h>

#include "gpush_private.h"

struct gpush_channel *
gpush_channel_new(void)
{
	return calloc(1, sizeof(struct gpush_channel));
}

/* The string fields, in one place for pack and unpack. */
#define CHANNEL_STRINGS(c) { &(c)->id, &(c)->token, &(c)->type, &(c)->address, \
	&(c)->resource_id, &(c)->resource_uri, &(c)->kind }

struct gpush_channel *
gpush__channel_pack(struct gpush_channel *c)
{
	char **f[] = CHANNEL_STRINGS(c), *p;
	struct gpush_channel *b;
	size_t total = sizeof(*c);

	if (c == NULL || c->packed)
		return c;
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (*f[i] != NULL)
			total += strlen(*f[i]) + 1;   /* each bounded: no overflow */
	if ((b = malloc(total)) == NULL)
		return c;
	memcpy(b, c, sizeof(*c));
	p = (char *)(b + 1);
	{
		char **g[] = CHANNEL_STRINGS(b);
		for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
			size_t n;
			if (*g[i] == NULL)
				continue;
			n = strlen(*g[i]) + 1;
			memcpy(p, *g[i], n);
			*g[i] = p;
			p += n;
		}
	}
	b->packed = 1;
	c->params = c->extra = NULL;      /* moved to b */
	gpush_channel_free(c);
	return b;
}

/* Gives a packed channel strings of its own, so that one can be replaced
 * (the block then only holds the struct).  OK or NOMEM (c unchanged). */
static enum gpush_err
unpack(struct gpush_channel *c)
{
	char **f[] = CHANNEL_STRINGS(c), *copy[sizeof(f) / sizeof(f[0])] = { 0 };

	if (!c->packed)
		return GPUSH_OK;
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (*f[i] != NULL && (copy[i] = strdup(*f[i])) == NULL) {
			while (i-- > 0)
				free(copy[i]);
			return GPUSH_ERR_NOMEM;
		}
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		*f[i] = copy[i];
	c->packed = 0;
	return GPUSH_OK;
}

void
gpush_channel_free(struct gpush_channel *c)
{
	if (c == NULL)
		return;
	if (c->packed) {
		json_object_put(c->params);
		json_object_put(c->extra);
		free(c);
		return;
	}
	free(c->id);
	free(c->token);
	free(c->type);
	free(c->address);
	free(c->resource_id);
	free(c->resource_uri);
	free(c->kind);
	json_object_put(c->params);
	json_object_put(c->extra);
	free(c);
}

const char *gpush_channel_id(const struct gpush_channel *c) { return c->id; }
const char *gpush_channel_token(const struct gpush_channel *c) { return c->token; }
const char *gpush_channel_type(const struct gpush_channel *c) { return c->type; }
const char *gpush_channel_address(const struct gpush_channel *c) { return c->address; }
const char *gpush_channel_resource_id(const struct gpush_channel *c) { return c->resource_id; }
const char *gpush_channel_resource_uri(const struct gpush_channel *c) { return c->resource_uri; }
int64_t gpush_channel_expiration(const struct gpush_channel *c) { return c->expiration; }

/* Where each string key of the resource lives in the struct. */
static char **
field(struct gpush_channel *c, const char *key)
{
	if (strcmp(key, "id") == 0) return &c->id;
	if (strcmp(key, "token") == 0) return &c->token;
	if (strcmp(key, "type") == 0) return &c->type;
	if (strcmp(key, "address") == 0) return &c->address;
	if (strcmp(key, "resourceId") == 0) return &c->resource_id;
	if (strcmp(key, "resourceUri") == 0) return &c->resource_uri;
	if (strcmp(key, "kind") == 0) return &c->kind;
	return NULL;
}

/* The limits of Google's guide (id 64, token 256) and of sanity. */
static int
value_ok(const char *key, const char *v)
{
	size_t len = strlen(v), max = GPUSH_HEADER_MAX;

	if (strcmp(key, "id") == 0)
		max = GPUSH_ID_MAX;
	else if (strcmp(key, "token") == 0)
		max = GPUSH_TOKEN_MAX;
	if (strcmp(key, "id") == 0 && len == 0)
		return 0;
	return len <= max && gpush__text_ok(v, len);
}

enum gpush_err
gpush_channel_set(struct gpush_channel *c, const char *key, const char *value)
{
	char **f, *copy = NULL;

	if (c == NULL || key == NULL || (f = field(c, key)) == NULL)
		return GPUSH_ERR_ARG;
	if (unpack(c) != GPUSH_OK)
		return GPUSH_ERR_NOMEM;
	if (value != NULL) {
		if (!value_ok(key, value))
			return GPUSH_ERR_ARG;
		if ((copy = strdup(value)) == NULL)
			return GPUSH_ERR_NOMEM;
	}
	free(*f);
	*f = copy;
	return GPUSH_OK;
}

enum gpush_err
gpush_channel_set_expiration(struct gpush_channel *c, int64_t ms)
{
	/* INT64_MAX is what json-c clamps overflows to; the parser refuses it,
	 * so refuse it here too, or a line could be written and not read. */
	if (c == NULL || ms < 0 || ms == INT64_MAX)
		return GPUSH_ERR_ARG;
	c->expiration = ms;
	return GPUSH_OK;
}

enum gpush_err
gpush_channel_set_param(struct gpush_channel *c, const char *key,
    const char *value)
{
	struct json_object *v;

	if (c == NULL || key == NULL || value == NULL ||
	    !gpush__text_ok(key, strlen(key)) ||
	    !gpush__text_ok(value, strlen(value)))
		return GPUSH_ERR_ARG;
	if (c->params == NULL && (c->params = json_object_new_object()) == NULL)
		return GPUSH_ERR_NOMEM;
	if ((v = json_object_new_string(value)) == NULL)
		return GPUSH_ERR_NOMEM;
	/* json_object_object_add takes over our reference to v. */
	if (json_object_object_add(c->params, key, v) != 0) {
		json_object_put(v);
		return GPUSH_ERR_NOMEM;
	}
	return GPUSH_OK;
}

/* A key of gpush's own: "gpush" and at least one more letter or digit. */
static int
extra_key_ok(const char *key)
{
	size_t n = strlen(key);

	return n > 5 && n <= 64 && strncmp(key, "gpush", 5) == 0 &&
	    strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789") == n;
}

/* A value gpush_channel_set_extra takes: text, no NUL inside, bounded. */
static int
extra_ok(const char *key, struct json_object *v)
{
	const char *s;
	size_t len;

	if (!extra_key_ok(key) || !json_object_is_type(v, json_type_string))
		return 0;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	return len == strlen(s) && len <= GPUSH_EXTRA_MAX &&
	    gpush__text_ok(s, len);
}

const char *
gpush_channel_extra(const struct gpush_channel *c, const char *key)
{
	struct json_object *v;

	if (c == NULL || key == NULL || c->extra == NULL ||
	    !json_object_object_get_ex(c->extra, key, &v))
		return NULL;
	return json_object_get_string(v);
}

enum gpush_err
gpush_channel_set_extra(struct gpush_channel *c, const char *key,
    const char *value)
{
	struct json_object *v;
	size_t len;

	if (c == NULL || key == NULL || !extra_key_ok(key))
		return GPUSH_ERR_ARG;
	if (value == NULL) {
		if (c->extra != NULL)
			json_object_object_del(c->extra, key);
		return GPUSH_OK;
	}
	len = strlen(value);
	if (len > GPUSH_EXTRA_MAX || !gpush__text_ok(value, len))
		return GPUSH_ERR_ARG;
	if (c->extra == NULL && (c->extra = json_object_new_object()) == NULL)
		return GPUSH_ERR_NOMEM;
	if ((v = json_object_new_string_len(value, (int)len)) == NULL)
		return GPUSH_ERR_NOMEM;
	if (json_object_object_add(c->extra, key, v) != 0) {
		json_object_put(v);
		return GPUSH_ERR_NOMEM;
	}
	return GPUSH_OK;
}

/*
 * Reads "expiration": Google's API encodes int64 as a string of digits,
 * the Directory guide's example shows a number; both are accepted, nothing
 * else (a float, a negative, "12abc").  Returns 1 with *ms, or 0.
 */
static int
expiration_value(struct json_object *v, int64_t *ms)
{
	*ms = 0;
	if (json_object_is_type(v, json_type_int)) {
		int64_t x = json_object_get_int64(v);
		/* json-c clamps values past INT64_MAX to it: reject those too. */
		if (x < 0 || x == INT64_MAX)
			return 0;
		*ms = x;
		return 1;
	}
	/* The same range either way, or a string could be read that could
	 * not be written back as the number it is. */
	if (json_object_is_type(v, json_type_string))
		return gpush__parse_i64(json_object_get_string(v), ms) &&
		    *ms != INT64_MAX ? 1 : (*ms = 0);
	return 0;
}

/*
 * Applies one key of a resource object to c.  null values are skipped
 * (Channel.update() ignores None).  Returns ARG for a value of the wrong
 * type or over its limits.
 */
static enum gpush_err
merge_key(struct gpush_channel *c, const char *key, struct json_object *v,
    int keep_extra)
{
	char **f;
	int64_t ms;

	if (v == NULL || json_object_is_type(v, json_type_null))
		return GPUSH_OK;
	if (strcmp(key, "expiration") == 0) {
		if (!expiration_value(v, &ms))
			return GPUSH_ERR_ARG;
		c->expiration = ms;
		return GPUSH_OK;
	}
	if (strcmp(key, "params") == 0) {
		if (!json_object_is_type(v, json_type_object))
			return GPUSH_ERR_ARG;
		json_object_put(c->params);
		/* v is borrowed from its parent: take a reference of our own. */
		c->params = json_object_get(v);
		return GPUSH_OK;
	}
	if ((f = field(c, key)) == NULL) {
		/* Unknown keys are ignored, but a registry line keeps gpush's
		 * own "gpush..." keys (README, "Registry"); a watch response
		 * does not set them (Channel.update() takes channel keys only). */
		if (keep_extra && extra_ok(key, v))
			return gpush_channel_set_extra(c, key,
			    json_object_get_string(v));
		return GPUSH_OK;
	}
	/* A \u0000 inside would silently cut the C string short. */
	if (!json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) != strlen(json_object_get_string(v)))
		return GPUSH_ERR_ARG;
	return gpush_channel_set(c, key, json_object_get_string(v));
}

/* Merges every key of object o into c; on error c may be half-merged, so
 * callers merge into a copy. */
static enum gpush_err
channel_merge(struct gpush_channel *c, struct json_object *o, int keep_extra)
{
	enum gpush_err e;

	if (!json_object_is_type(o, json_type_object))
		return GPUSH_ERR_PARSE;
	json_object_object_foreach(o, key, v) {
		if ((e = merge_key(c, key, v, keep_extra)) != GPUSH_OK)
			return e == GPUSH_ERR_ARG ? GPUSH_ERR_PARSE : e;
	}
	return GPUSH_OK;
}

/* A response merged into a channel: channel keys only. */
enum gpush_err
gpush__channel_merge(struct gpush_channel *c, struct json_object *o)
{
	return channel_merge(c, o, 0);
}

/* A new channel from resource object o; it must have a valid id.  *out is
 * the caller's; NULL on error. */
enum gpush_err
gpush__channel_from_json(struct json_object *o, struct gpush_channel **out)
{
	struct gpush_channel *c;
	enum gpush_err e;

	*out = NULL;
	if ((c = gpush_channel_new()) == NULL)
		return GPUSH_ERR_NOMEM;
	if ((e = channel_merge(c, o, 1)) == GPUSH_OK && c->id == NULL)
		e = GPUSH_ERR_PARSE;
	if (e != GPUSH_OK) {
		gpush_channel_free(c);
		return e;
	}
	*out = c;
	return GPUSH_OK;
}

enum gpush_err
gpush_channel_parse(const char *json, size_t len, struct gpush_channel **out)
{
	struct json_object *o;
	enum gpush_err e;

	*out = NULL;
	if ((e = gpush__json_parse(json, len, &o)) != GPUSH_OK)
		return e == GPUSH_ERR_BODY ? GPUSH_ERR_PARSE : e;
	e = gpush__channel_from_json(o, out);
	json_object_put(o);
	return e;
}

/* Merges into a scratch copy first so that c is unchanged on error. */
enum gpush_err
gpush_channel_update(struct gpush_channel *c, const char *json, size_t len)
{
	struct json_object *o;
	struct gpush_channel *tmp = NULL;
	char *line;
	enum gpush_err e;

	if (c == NULL)
		return GPUSH_ERR_ARG;
	if ((e = gpush__json_parse(json, len, &o)) != GPUSH_OK)
		return e == GPUSH_ERR_BODY ? GPUSH_ERR_PARSE : e;
	if ((e = gpush_channel_json(c, GPUSH_CHANNEL_RECORD, &line)) == GPUSH_OK) {
		e = gpush_channel_parse(line, strlen(line), &tmp);
		free(line);
	}
	if (e == GPUSH_OK)
		e = gpush__channel_merge(tmp, o);
	json_object_put(o);
	if (e == GPUSH_OK && tmp->id == NULL)
		e = GPUSH_ERR_PARSE;
	if (e != GPUSH_OK) {
		gpush_channel_free(tmp);
		return e;
	}
	/* Swap contents: c takes tmp's fields, tmp dies with c's old ones. */
	struct gpush_channel swap = *c;
	*c = *tmp;
	*tmp = swap;
	gpush_channel_free(tmp);
		return GPUSH_OK;
}

/* A string member of o: 1 with *s (borrowed; no NUL inside), 0 when
 * absent or null, -1 when of another type. */
static int
answer_str(struct json_object *o, const char *key, const char **s)
{
	struct json_object *v;

	*s = NULL;
	if (!json_object_object_get_ex(o, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) != strlen(json_object_get_string(v)))
		return -1;
	*s = json_object_get_string(v);
	return 1;
}

/* Google's resourceIds are of [A-Za-z0-9_-] (e.g. "B4ibMJiIhTjAQd7Ff2K2bexk8G4");
 * a few more URL-safe characters are allowed, nothing that needs quoting
 * in a header, a log line or a shell. */
static int
resource_id_ok(const char *r)
{
	size_t n = strlen(r);

	return n >= 1 && n <= GPUSH_RESOURCE_ID_MAX &&
	    strspn(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_.~+/=") == n;
}

enum gpush_err
gpush_channel_take_answer(struct gpush_channel *c, const char *json,
    size_t len, int64_t now_ms, int64_t max_ms, const char **problem)
{
	static const char *const same[] = { "id", "token", "address" };
	struct json_object *o = NULL, *v;
	const char *rid = NULL, *uri = NULL, *s, *p = NULL;
	char *rid_copy = NULL, *uri_copy = NULL;
	int64_t exp = 0;
	enum gpush_err e;

	*problem = NULL;
	if (c == NULL || c->id == NULL || json == NULL) {
		*problem = "no channel to merge into";
		return GPUSH_ERR_ARG;
	}
	if ((e = gpush__json_parse(json, len, &o)) != GPUSH_OK ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		*problem = "the answer is not a JSON object";
		return e == GPUSH_ERR_NOMEM ? e : GPUSH_ERR_PARSE;
	}
	/* What was sent must come back unchanged, or not at all: an answer
	 * does not get to move the channel's address or its secret. */
	for (size_t i = 0; p == NULL && i < sizeof(same) / sizeof(same[0]); i++) {
		char **f = field(c, same[i]);
		int r = answer_str(o, same[i], &s);
		if (r < 0 || (r > 0 && (*f == NULL || strcmp(s, *f) != 0)))
			p = i == 0 ? "the answer is for another channel id" :
			    i == 1 ? "the answer's token is not the one sent" :
			    "the answer's address is not the one sent";
	}
	if (p == NULL && answer_str(o, "id", &s) == 0)
		p = "the answer has no channel id";
	if (p == NULL && answer_str(o, "resourceId", &rid) <= 0)
		p = "the answer has no resourceId";
	else if (p == NULL && !resource_id_ok(rid))
		p = "the answer's resourceId is too long or has characters "
		    "Google's do not (A-Z a-z 0-9 - _)";
	if (p == NULL && (answer_str(o, "resourceUri", &uri) < 0 ||
	    (uri != NULL && (strlen(uri) > GPUSH_URL_MAX ||
	    !gpush__text_ok(uri, strlen(uri))))))
		p = "the answer's resourceUri is too long or not plain text";
	if (p == NULL && json_object_object_get_ex(o, "expiration", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		if (!expiration_value(v, &exp))
			p = "the answer's expiration is not a time in ms";
		else if (exp <= now_ms)
			p = "the answer's expiration is not in the future";
		else if (max_ms > 0 && exp > max_ms)
			p = "the answer's expiration is later than gpush allows";
	}
	if (p != NULL) {
		json_object_put(o);
		*problem = p;
		return GPUSH_ERR_PARSE;
	}
	if ((rid_copy = strdup(rid)) == NULL ||
	    (uri != NULL && (uri_copy = strdup(uri)) == NULL)) {
		free(rid_copy);
		json_object_put(o);
		*problem = "out of memory";
		return GPUSH_ERR_NOMEM;
	}
	json_object_put(o);
	if (unpack(c) != GPUSH_OK) {
		free(rid_copy);
		free(uri_copy);
		*problem = "out of memory";
		return GPUSH_ERR_NOMEM;
	}
	free(c->resource_id);
	c->resource_id = rid_copy;
	if (uri_copy != NULL) {
		free(c->resource_uri);
		c->resource_uri = uri_copy;
	}
	if (exp > 0)
		c->expiration = exp;
	return GPUSH_OK;
}

/* Adds key: string value to o when value is set; 0 or -1 (no memory). */
static int
add_str(struct json_object *o, const char *key, const char *value)
{
	struct json_object *v;

	if (value == NULL)
		return 0;
	if ((v = json_object_new_string(value)) == NULL)
		return -1;
	if (json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

/*
 * Builds the JSON object for c.  Channel.body() puts id, token, type and
 * address always (token as null when unset), then params, resourceId,
 * resourceUri and expiration only when truthy; its expiration is an int.
 * The registry form adds "kind" first and omits a missing token.
 */
static struct json_object *
channel_object(const struct gpush_channel *c, enum gpush_channel_form form)
{
	struct json_object *o = json_object_new_object(), *v;
	int rc = 0;

	if (o == NULL)
		return NULL;
	if (form == GPUSH_CHANNEL_RECORD)
		rc |= add_str(o, "kind", c->kind != NULL ? c->kind : "api#channel");
	rc |= add_str(o, "id", c->id);
	if (form == GPUSH_CHANNEL_BODY && c->token == NULL)
		rc |= json_object_object_add(o, "token", NULL);
	else
		rc |= add_str(o, "token", c->token);
	rc |= add_str(o, "type", c->type);
	rc |= add_str(o, "address", c->address);
	if (c->params != NULL && json_object_object_length(c->params) > 0)
		rc |= json_object_object_add(o, "params",
		    json_object_get(c->params));
	if (c->resource_id != NULL && c->resource_id[0] != '\0')
		rc |= add_str(o, "resourceId", c->resource_id);
	if (c->resource_uri != NULL && c->resource_uri[0] != '\0')
		rc |= add_str(o, "resourceUri", c->resource_uri);
	if (c->expiration > 0) {
		if ((v = json_object_new_int64(c->expiration)) == NULL ||
		    json_object_object_add(o, "expiration", v) != 0) {
			json_object_put(v);
			rc = -1;
		}
	}
	/* gpush's own keys: the registry's, never Google's. */
	if (form == GPUSH_CHANNEL_RECORD && c->extra != NULL) {
		json_object_object_foreach(c->extra, k, ev)
			rc |= json_object_object_add(o, k, json_object_get(ev));
	}
	if (rc != 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

enum gpush_err
gpush_channel_json(const struct gpush_channel *c, enum gpush_channel_form form,
    char **out)
{
	struct json_object *o;
	const char *s;

	*out = NULL;
	if (c == NULL || c->id == NULL)
		return GPUSH_ERR_ARG;
	if ((o = channel_object(c, form)) == NULL)
		return GPUSH_ERR_NOMEM;
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	*out = s != NULL ? strdup(s) : NULL;
	json_object_put(o);
	return *out != NULL ? GPUSH_OK : GPUSH_ERR_NOMEM;
}
