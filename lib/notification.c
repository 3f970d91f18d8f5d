/*
 * notification.c -- notification_from_headers() in C: read the X-Goog-*
 * headers as hostile input, validate them, verify them against the
 * registry's channel, and build the log record.
 */
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
	free(n->body);
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
		key[k++] = *name == '-' ? '_' : *name >= 'a' && *name <= 'z' ?
		    (char)(*name - 'a' + 'A') : *name;
	}
	key[k] = '\0';
	klen = k;
	for (char **e = envp; e != NULL && *e != NULL; e++)
		if (strncmp(*e, key, klen) == 0 && (*e)[klen] == '=')
			return *e + klen + 1;
	return NULL;
}

/*
 * Header name's value after checking its length and bytes, borrowed from
 * get (valid until the next request): OK (absent: *v NULL, when
 * optional), HEADER otherwise.
 */
static enum gpush_err
header_value(gpush_header_fn get, void *ctx, const char *name, size_t max,
    int required, const char **v, size_t *len)
{
	*v = get(ctx, name);
	*len = 0;
	if (*v == NULL)
		return required ? GPUSH_ERR_HEADER : GPUSH_OK;
	*len = strnlen(*v, max + 1);
	if (*len > max || (required && *len == 0) || !gpush__text_ok(*v, *len)) {
		*v = NULL;
		return GPUSH_ERR_HEADER;
	}
	return GPUSH_OK;
}

/* header_value, copied into *out (the caller's to free). */
static enum gpush_err
header(gpush_header_fn get, void *ctx, const char *name, size_t max,
    int required, char **out)
{
	const char *v;
	size_t len;
	enum gpush_err e = header_value(get, ctx, name, max, required, &v, &len);

	*out = NULL;
	if (e != GPUSH_OK || v == NULL)
		return e;
	if ((*out = gpush__strndup(v, len)) == NULL)
		return GPUSH_ERR_NOMEM;
	return GPUSH_OK;
}

/* "1" .. "9223372036854775807" and nothing else: "104, 105" is what a
 * proxy makes of two headers, and that must not pass as 104.  Parsed
 * where it is (header values end in NUL), not copied. */
static enum gpush_err
message_number(struct gpush_notification *n, gpush_header_fn get, void *ctx)
{
	const char *s;
	size_t len;
	enum gpush_err e = header_value(get, ctx, "X-Goog-Message-Number", 19, 1,
	    &s, &len);

	if (e == GPUSH_ERR_HEADER && get(ctx, "X-Goog-Message-Number") != NULL)
		return GPUSH_ERR_NUMBER;
	if (e != GPUSH_OK)
		return e;
	if (!gpush__parse_i64(s, &n->number) || n->number < 1)
		e = GPUSH_ERR_NUMBER;
	return e;
}

static enum gpush_err
expiration(struct gpush_notification *n, gpush_header_fn get, void *ctx)
{
	const char *s;
	size_t len;
	enum gpush_err e = header_value(get, ctx, "X-Goog-Channel-Expiration", 64,
	    0, &s, &len);

	n->expiration = -1;
	if (e != GPUSH_OK)
		return e == GPUSH_ERR_HEADER ? GPUSH_ERR_DATE : e;
	if (s != NULL) {
		e = gpush_parse_rfc1123(s, &n->expiration);
		if (e != GPUSH_OK)
			n->expiration = -1;
	}
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

/*
 * The body is kept as text, minified, and spliced into the record as it
 * came: checked by the strict parser in json.c, it needs no round trip
 * through json-c, which would clamp integers past 64 bits, turn "null"
 * into nothing and cost most of a request's CPU.
 */
enum gpush_err
gpush_notification_set_body(struct gpush_notification *n, const char *body,
    size_t len)
{
	char *text;

	if (n == NULL || (body == NULL && len > 0))
		return GPUSH_ERR_ARG;
	free(n->body);
	n->body = NULL;
	n->body_len = 0;
	if (len > GPUSH_BODY_MAX)
		return GPUSH_ERR_TOOBIG;
	if (len == 0)
		return GPUSH_OK;
	if (memchr(body, '\0', len) != NULL ||
	    !gpush__utf8_ok((const unsigned char *)body, len) ||
	    !gpush__json_valid_depth(body, len, JSON_DEPTH))
		return GPUSH_ERR_BODY;
	if ((text = malloc(3 * len + 1)) == NULL)
		return GPUSH_ERR_NOMEM;
	n->body_len = gpush__json_minify(body, len, text);
	text[n->body_len] = '\0';
	n->body = text;
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

/* A growing output buffer; ok turns 0 when memory ran out. */
struct out {
	char   *p;
	size_t  len, cap;
	int     ok;
};

static void
out_add(struct out *b, const char *s, size_t n)
{
	if (!b->ok)
		return;
	if (b->len + n + 2 > b->cap) {
		size_t cap = b->cap ? b->cap : 512;
		char *np;
		while (cap < b->len + n + 2)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL) {
			b->ok = 0;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void
out_lit(struct out *b, const char *s)
{
	out_add(b, s, strlen(s));
}

/* s as a JSON string.  Header values were checked to be UTF-8 without
 * controls; escaping every control byte anyway costs nothing.  Runs that
 * need no escape are copied whole (gpush__json_plain_prefix). */
static void
out_str(struct out *b, const char *s)
{
	static const char hx[] = "0123456789abcdef";
	size_t len = strlen(s);

	out_add(b, "\"", 1);
	while (len > 0) {
		size_t n = gpush__json_plain_prefix(s, len);
		unsigned char ch;
		char esc[7] = "\\u00";
		out_add(b, s, n);
		if ((len -= n) == 0)
			break;
		s += n;
		ch = (unsigned char)*s++;
		len--;
		if (ch >= 0x80) {
			out_add(b, (const char *)&ch, 1);
		} else if (ch == '"' || ch == '\\') {
			esc[1] = (char)ch;
			out_add(b, esc, 2);
		} else {
			esc[4] = hx[ch >> 4];
			esc[5] = hx[ch & 15];
			out_add(b, esc, 6);
		}
	}
	out_add(b, "\"", 1);
}

static void
out_key(struct out *b, const char *key)
{
	if (b->len > 1)
		out_add(b, ",\"", 2);
	else
		out_add(b, "\"", 1);
	out_lit(b, key);
	out_add(b, "\":", 2);
}

/* v in decimal (the record's numbers are never negative, but a negative
 * one is written right too). */
static void
out_i64(struct out *b, int64_t v)
{
	char num[1 + GPUSH__DEC_MAX];
	size_t i = 0;

	if (v < 0)
		num[i++] = '-';
	i += gpush__dec(v < 0 ? 0 - (uint64_t)v : (uint64_t)v, num + i);
	out_add(b, num, i);
}

/*
 * The log record: keys in the documented order, the token never among
 * them, one line ending in '\n'.
 */
enum gpush_err
gpush_notification_record(const struct gpush_notification *n, int64_t now_ms,
    char **out, size_t *len)
{
	struct out b = { NULL, 0, 0, 1 };
	char at[25];

	*out = NULL;
	*len = 0;
	if (n == NULL)
		return GPUSH_ERR_ARG;
	/* One allocation: the keys and numbers fit in 256 bytes, and a
	 * checked header value (no controls) is escaped at most 2 bytes for
	 * 1; values are bounded by GPUSH_HEADER_MAX and the body by
	 * GPUSH_BODY_MAX, so no overflow.  out_add still grows the buffer
	 * should this be short.  (A small request, under 1 KiB, is also
	 * what keeps malloc from consolidating its free lists each time.) */
	b.cap = 256 + n->body_len + 2 * (strlen(n->channel_id) + strlen(n->state) +
	    strlen(n->resource_id) + strlen(n->resource_uri));
	if (n->changed != NULL)
		for (size_t i = 0; i < json_object_array_length(n->changed); i++)
			b.cap += 3 + 2 * (size_t)json_object_get_string_len(
			    json_object_array_get_idx(n->changed, i));
	if ((b.p = malloc(b.cap)) == NULL)
		return GPUSH_ERR_NOMEM;
	gpush_format_rfc3339(now_ms, at);
	out_add(&b, "{", 1);
	out_key(&b, "received_at");
	out_str(&b, at);
	out_key(&b, "channel_id");
	out_str(&b, n->channel_id);
	out_key(&b, "message_number");
	out_i64(&b, n->number);
	out_key(&b, "resource_state");
	out_str(&b, n->state);
	out_key(&b, "resource_id");
	out_str(&b, n->resource_id);
	out_key(&b, "resource_uri");
	out_str(&b, n->resource_uri);
	if (n->expiration >= 0) {
		out_key(&b, "channel_expiration");
		out_i64(&b, n->expiration);
	}
	if (n->changed != NULL) {
		out_key(&b, "changed");
		out_add(&b, "[", 1);
		for (size_t i = 0; i < json_object_array_length(n->changed); i++) {
			struct json_object *v = json_object_array_get_idx(n->changed, i);
			if (i > 0)
				out_add(&b, ",", 1);
			out_str(&b, json_object_is_type(v, json_type_string) ?
			    json_object_get_string(v) : "");
		}
		out_add(&b, "]", 1);
	}
	if (n->body != NULL) {
		out_key(&b, "body");
		out_add(&b, n->body, n->body_len);
	}
	out_add(&b, "}\n", 2);
	if (!b.ok) {
		free(b.p);
		return GPUSH_ERR_NOMEM;
	}
	b.p[b.len] = '\0';
	*out = b.p;
	*len = b.len;
	return GPUSH_OK;
}
