/*
 * notification.c -- notification_from_headers() in C: read the X-Goog-*
 * headers as hostile input, validate them, verify them against the
 * registry's channel, and build the log record.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "gpush_private.h"

void
gpush_notification_free(struct gpush_notification *n)
{
	if (n == NULL)
		return;
	free(n->channel_id);
	free(n->token);
	free(n->state);
	free(n->resource_id);
	free(n->resource_uri);
	json_object_put(n->changed);
	json_object_put(n->body);
	free(n);
}

const char *gpush_notification_channel_id(const struct gpush_notification *n) { return n->channel_id; }
const char *gpush_notification_token(const struct gpush_notification *n) { return n->token; }
const char *gpush_notification_state(const struct gpush_notification *n) { return n->state; }
const char *gpush_notification_resource_id(const struct gpush_notification *n) { return n->resource_id; }
const char *gpush_notification_resource_uri(const struct gpush_notification *n) { return n->resource_uri; }
int64_t gpush_notification_number(const struct gpush_notification *n) { return n->number; }
int64_t gpush_notification_expiration(const struct gpush_notification *n) { return n->expiration; }

/*
 * Maps "X-Goog-Channel-ID" to "HTTP_X_GOOG_CHANNEL_ID" (RFC 3875 4.1.18)
 * and looks only that up in envp.  Servers fold '-' and '_' together, so
 * a header sent with underscores looks the same here; the front-end
 * servers' own rules (Apache drops such names) are the defence there.
 */
const char *
gpush_header_cgi(void *envp, const char *name)
{
	char key[64] = "HTTP_";
	size_t k = 5, klen;

	for (; *name != '\0'; name++) {
		if (k + 1 >= sizeof(key))
			return NULL;
		key[k++] = *name == '-' ? '_' :
		    (char)toupper((unsigned char)*name);
	}
	key[k] = '\0';
	klen = k;
	for (char **e = envp; e != NULL && *e != NULL; e++)
		if (strncmp(*e, key, klen) == 0 && (*e)[klen] == '=')
			return *e + klen + 1;
	return NULL;
}

/*
 * Copies header name into *out after checking its length and bytes.
 * Returns OK (absent leaves *out NULL when optional), HEADER otherwise.
 */
static enum gpush_err
header(gpush_header_fn get, void *ctx, const char *name, size_t max,
    int required, char **out)
{
	const char *v = get(ctx, name);
	size_t len;

	*out = NULL;
	if (v == NULL)
		return required ? GPUSH_ERR_HEADER : GPUSH_OK;
	len = strnlen(v, max + 1);
	if (len > max || (required && len == 0) || !gpush__text_ok(v, len))
		return GPUSH_ERR_HEADER;
	if ((*out = gpush__strndup(v, len)) == NULL)
		return GPUSH_ERR_NOMEM;
	return GPUSH_OK;
}

/* "1" .. "9223372036854775807" and nothing else: "104, 105" is what a
 * proxy makes of two headers, and that must not pass as 104. */
static enum gpush_err
message_number(struct gpush_notification *n, gpush_header_fn get, void *ctx)
{
	char *s;
	enum gpush_err e = header(get, ctx, "X-Goog-Message-Number", 19, 1, &s);

	if (e == GPUSH_ERR_HEADER && get(ctx, "X-Goog-Message-Number") != NULL)
		return GPUSH_ERR_NUMBER;
	if (e != GPUSH_OK)
		return e;
	if (!gpush__parse_i64(s, &n->number) || n->number < 1)
		e = GPUSH_ERR_NUMBER;
	free(s);
	return e;
}

static enum gpush_err
expiration(struct gpush_notification *n, gpush_header_fn get, void *ctx)
{
	char *s;
	enum gpush_err e = header(get, ctx, "X-Goog-Channel-Expiration", 64, 0, &s);

	n->expiration = -1;
	if (e != GPUSH_OK)
		return e == GPUSH_ERR_HEADER ? GPUSH_ERR_DATE : e;
	if (s != NULL) {
		e = gpush_parse_rfc1123(s, &n->expiration);
		if (e != GPUSH_OK)
			n->expiration = -1;
	}
	free(s);
	return e;
}

/* Drive's X-Goog-Changed: "content,properties", split and trimmed. */
static enum gpush_err
changed(struct gpush_notification *n, gpush_header_fn get, void *ctx)
{
	char *s, *p, *tok, *save = NULL;
	enum gpush_err e = header(get, ctx, "X-Goog-Changed", GPUSH_HEADER_MAX, 0, &s);

	if (e != GPUSH_OK || s == NULL)
		return e;
	if ((n->changed = json_object_new_array()) == NULL) {
		free(s);
		return GPUSH_ERR_NOMEM;
	}
	for (p = s; (tok = strtok_r(p, ",", &save)) != NULL; p = NULL) {
		char *end = tok + strlen(tok);
		struct json_object *v;
		while (*tok == ' ' || *tok == '\t')
			tok++;
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*tok == '\0')
			continue;
		if ((v = json_object_new_string(tok)) == NULL ||
		    json_object_array_add(n->changed, v) != 0) {
			json_object_put(v);
			e = GPUSH_ERR_NOMEM;
			break;
		}
	}
	free(s);
	if (e == GPUSH_OK && json_object_array_length(n->changed) == 0) {
		json_object_put(n->changed);
		n->changed = NULL;
	}
	return e;
}

enum gpush_err
gpush_notification_parse(gpush_header_fn get, void *ctx,
    struct gpush_notification **out)
{
	struct gpush_notification *n;
	enum gpush_err e;

	*out = NULL;
	if (get == NULL)
		return GPUSH_ERR_ARG;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return GPUSH_ERR_NOMEM;
	if ((e = header(get, ctx, "X-Goog-Channel-ID", GPUSH_ID_MAX, 1,
	    &n->channel_id)) == GPUSH_OK &&
	    (e = header(get, ctx, "X-Goog-Channel-Token", GPUSH_TOKEN_MAX, 0,
	    &n->token)) == GPUSH_OK &&
	    (e = message_number(n, get, ctx)) == GPUSH_OK &&
	    (e = header(get, ctx, "X-Goog-Resource-State", 256, 1,
	    &n->state)) == GPUSH_OK &&
	    (e = header(get, ctx, "X-Goog-Resource-ID", GPUSH_HEADER_MAX, 1,
	    &n->resource_id)) == GPUSH_OK &&
	    (e = header(get, ctx, "X-Goog-Resource-URI", GPUSH_HEADER_MAX, 1,
	    &n->resource_uri)) == GPUSH_OK &&
	    (e = expiration(n, get, ctx)) == GPUSH_OK)
		e = changed(n, get, ctx);
	/* Google's guide: "Sync messages always have ... 1". */
	if (e == GPUSH_OK && strcmp(n->state, "sync") == 0 && n->number != 1)
		e = GPUSH_ERR_SYNC;
	if (e != GPUSH_OK) {
		gpush_notification_free(n);
		return e;
	}
	*out = n;
	return GPUSH_OK;
}

enum gpush_err
gpush_notification_set_body(struct gpush_notification *n, const char *body,
    size_t len)
{
	struct json_object *o = NULL;
	enum gpush_err e;

	if (n == NULL || (body == NULL && len > 0))
		return GPUSH_ERR_ARG;
	json_object_put(n->body);
	n->body = NULL;
	n->has_body = 0;
	if (len > GPUSH_BODY_MAX)
		return GPUSH_ERR_TOOBIG;
	if (len == 0)
		return GPUSH_OK;
	if ((e = gpush__json_parse(body, len, &o)) != GPUSH_OK)
		return e;
	n->body = o;
	n->has_body = 1;
	return GPUSH_OK;
}

enum gpush_err
gpush_notification_verify(const struct gpush_notification *n,
    const struct gpush_channel *c, int64_t now_ms)
{
	if (n == NULL || c == NULL || c->id == NULL ||
	    strcmp(n->channel_id, c->id) != 0)
		return GPUSH_ERR_ARG;
	if (c->token != NULL && c->token[0] != '\0' &&
	    (n->token == NULL || !gpush_secret_equal(n->token, c->token)))
		return GPUSH_ERR_TOKEN;
	if (c->expiration > 0 && now_ms >= c->expiration)
		return GPUSH_ERR_EXPIRED;
	return GPUSH_OK;
}

/* Adds key/v to o, taking over v; -1 when either is missing. */
static int
put(struct json_object *o, const char *key, struct json_object *v)
{
	if (v == NULL)
		return -1;
	if (json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

enum gpush_err
gpush_notification_record(const struct gpush_notification *n, int64_t now_ms,
    char **out, size_t *len)
{
	struct json_object *o;
	const char *s;
	char at[25];
	size_t slen;
	int rc = 0;

	*out = NULL;
	*len = 0;
	if (n == NULL)
		return GPUSH_ERR_ARG;
	if ((o = json_object_new_object()) == NULL)
		return GPUSH_ERR_NOMEM;
	gpush_format_rfc3339(now_ms, at);
	rc |= put(o, "received_at", json_object_new_string(at));
	rc |= put(o, "channel_id", json_object_new_string(n->channel_id));
	rc |= put(o, "message_number", json_object_new_int64(n->number));
	rc |= put(o, "resource_state", json_object_new_string(n->state));
	rc |= put(o, "resource_id", json_object_new_string(n->resource_id));
	rc |= put(o, "resource_uri", json_object_new_string(n->resource_uri));
	if (n->expiration >= 0)
		rc |= put(o, "channel_expiration",
		    json_object_new_int64(n->expiration));
	/* The notification keeps its own references; the record shares. */
	if (n->changed != NULL)
		rc |= put(o, "changed", json_object_get(n->changed));
	if (n->body != NULL)
		rc |= put(o, "body", json_object_get(n->body));
	s = rc == 0 ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE) : NULL;
	if (s == NULL) {
		json_object_put(o);
		return GPUSH_ERR_NOMEM;
	}
	slen = strlen(s);
	/* json-c turns a lone \ud800 in the body into bytes that are not
	 * UTF-8; the log promises UTF-8, so such a body is refused. */
	if (!gpush__utf8_ok((const unsigned char *)s, slen)) {
		json_object_put(o);
		return GPUSH_ERR_BODY;
	}
	if ((*out = malloc(slen + 2)) == NULL) {
		json_object_put(o);
		return GPUSH_ERR_NOMEM;
	}
	memcpy(*out, s, slen);
	(*out)[slen] = '\n';
	(*out)[slen + 1] = '\0';
	*len = slen + 1;
	json_object_put(o);
	return GPUSH_OK;
}
