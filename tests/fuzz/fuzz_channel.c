/*
 * fuzz_channel.c -- the registry line parser gpush_channel_parse(),
 * gpush_channel_json() and gpush_channel_update().
 *
 * Input: a registry line, optionally followed by '\n' and a second JSON
 * text, the watch response merged into the channel with
 * gpush_channel_update().  Each part is passed in its own NUL-terminated
 * heap block of exactly its size + 1.
 *
 * Checks:
 *  - parse accepts exactly what a reference of README's rules accepts
 *    (strict UTF-8 JSON object, an id, known keys of the right type and
 *    within limits, expiration a number or a string of digits), and
 *    fails with PARSE otherwise;
 *  - a parsed channel holds the values of its JSON;
 *  - serialized as GPUSH_CHANNEL_RECORD it is one line of UTF-8 JSON with
 *    no control byte, parses again to an equal channel, and serializes
 *    again to the same bytes; the GPUSH_CHANNEL_BODY form parses too;
 *  - update: same verdict as the reference rules; on error the channel
 *    is unchanged; on success it has the update's values for the keys
 *    the update sets and its old values for the others, and still
 *    round-trips.
 *
 * "Equal" allows what the record form normalizes on purpose: a missing
 * kind is written as "api#channel", and an empty resourceId, resourceUri
 * or params is not written (Channel.body() omits falsy values).
 */
#include "fuzz_common.h"

static const char *
norm_empty(const char *s)
{
	return s != NULL && s[0] == '\0' ? NULL : s;
}

static int
params_empty(struct json_object *p)
{
	return p == NULL || json_object_object_length(p) == 0;
}

static int
channel_equal(const struct gpush_channel *a, const struct gpush_channel *b,
    int with_kind)
{
	return fuzz_streq(a->id, b->id) && fuzz_streq(a->token, b->token) &&
	    fuzz_streq(a->type, b->type) && fuzz_streq(a->address, b->address) &&
	    fuzz_streq(norm_empty(a->resource_id), norm_empty(b->resource_id)) &&
	    fuzz_streq(norm_empty(a->resource_uri), norm_empty(b->resource_uri)) &&
	    (!with_kind || fuzz_streq(a->kind ? a->kind : "api#channel",
	    b->kind ? b->kind : "api#channel")) &&
	    a->expiration == b->expiration &&
	    (params_empty(a->params) ? params_empty(b->params) :
	    !params_empty(b->params) && json_object_equal(a->params, b->params));
}

static char **
field_of(struct gpush_channel *c, const char *key)
{
	static const char *const keys[] = { "id", "token", "type", "address",
	    "resourceId", "resourceUri", "kind" };
	char **f[] = { &c->id, &c->token, &c->type, &c->address,
	    &c->resource_id, &c->resource_uri, &c->kind };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			return f[i];
	return NULL;
}

/* Reference: the ms of an expiration value, or -1 when it is refused. */
static int64_t
ref_expiration(struct json_object *v)
{
	if (json_object_is_type(v, json_type_int)) {
		int64_t x = json_object_get_int64(v);
		/* json-c clamps what is past INT64_MAX to it */
		return x < 0 || x == INT64_MAX ? -1 : x;
	}
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		uint64_t x = 0;
		size_t len = strlen(s);
		if (len == 0 || len > 19 || (s[0] == '0' && len > 1))
			return -1; /* no leading zero */
		for (size_t i = 0; i < len; i++) {
			if (s[i] < '0' || s[i] > '9')
				return -1;
			x = x * 10 + (uint64_t)(s[i] - '0');
		}
		/* the same range as a number */
		return x >= (uint64_t)INT64_MAX ? -1 : (int64_t)x;
	}
	return -1;
}

/*
 * Reference rules for a channel object text: returns the parsed object
 * (the caller's) when the library must accept it, NULL otherwise; *has_id
 * says whether it sets an id.
 */
static struct json_object *
ref_object(const char *text, size_t len, int *has_id)
{
	struct json_object *o;
	int ok;

	*has_id = 0;
	if (memchr(text, '\0', len) != NULL ||
	    !fuzz_utf8_valid((const unsigned char *)text, len) ||
	    !gpush__json_valid(text, len))
		return NULL;
	o = fuzz_jsonc_parse(text, len, &ok);
	FUZZ_CHECK(ok, "strict JSON that json-c refuses: %s", text);
	if (!json_object_is_type(o, json_type_object))
		return (json_object_put(o), NULL);
	json_object_object_foreach(o, key, v) {
		if (v == NULL || json_object_is_type(v, json_type_null))
			continue;
		if (strcmp(key, "expiration") == 0) {
			if (ref_expiration(v) < 0)
				return (json_object_put(o), NULL);
		} else if (strcmp(key, "params") == 0) {
			if (!json_object_is_type(v, json_type_object))
				return (json_object_put(o), NULL);
		} else if (field_of(&(struct gpush_channel){ 0 }, key) != NULL) {
			const char *s;
			size_t l, max = GPUSH_HEADER_MAX;
			if (!json_object_is_type(v, json_type_string))
				return (json_object_put(o), NULL);
			s = json_object_get_string(v);
			l = strlen(s);
			/* a \u0000 inside would cut the value short: refused */
			if ((size_t)json_object_get_string_len(v) != l)
				return (json_object_put(o), NULL);
			if (strcmp(key, "id") == 0)
				max = GPUSH_ID_MAX;
			if (strcmp(key, "token") == 0)
				max = GPUSH_TOKEN_MAX;
			if (l > max || !fuzz_text_valid(s, l) ||
			    (strcmp(key, "id") == 0 && l == 0))
				return (json_object_put(o), NULL);
			if (strcmp(key, "id") == 0)
				*has_id = 1;
		}
	}
	return o;
}

/* c has the values o sets; when old is given, the old values elsewhere. */
static void
check_values(struct gpush_channel *c, struct json_object *o,
    const struct gpush_channel *old)
{
	struct gpush_channel want;
	char *dup[7] = { 0 };
	int nd = 0;

	memset(&want, 0, sizeof(want));
	if (old != NULL)
		want = *old;
	json_object_object_foreach(o, key, v) {
		char **f;
		if (v == NULL || json_object_is_type(v, json_type_null))
			continue;
		if (strcmp(key, "expiration") == 0)
			want.expiration = ref_expiration(v);
		else if (strcmp(key, "params") == 0)
			want.params = v;
		else if ((f = field_of(&want, key)) != NULL)
			*f = dup[nd++] = strdup(json_object_get_string(v));
	}
	FUZZ_CHECK(channel_equal(c, &want, 1),
	    "the channel does not hold the values of its JSON: %s",
	    json_object_to_json_string(o));
	for (int i = 0; i < nd; i++)
		free(dup[i]);
}

static void
check_limits(const struct gpush_channel *c)
{
	const char *s[] = { c->token, c->type, c->address, c->resource_id,
	    c->resource_uri, c->kind };

	FUZZ_CHECK(c->id != NULL && c->id[0] != '\0' &&
	    strlen(c->id) <= GPUSH_ID_MAX && fuzz_text_valid(c->id, strlen(c->id)),
	    "id %s", fuzz_str(c->id));
	FUZZ_CHECK(c->token == NULL || strlen(c->token) <= GPUSH_TOKEN_MAX,
	    "token too long");
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		FUZZ_CHECK(s[i] == NULL || (strlen(s[i]) <= GPUSH_HEADER_MAX &&
		    fuzz_text_valid(s[i], strlen(s[i]))), "field %zu: %s", i, s[i]);
	FUZZ_CHECK(c->expiration >= 0,
	    "expiration %lld", (long long)c->expiration);
	FUZZ_CHECK(c->params == NULL ||
	    json_object_is_type(c->params, json_type_object), "params");
	FUZZ_CHECK(gpush_channel_id(c) == c->id && gpush_channel_token(c) == c->token &&
	    gpush_channel_type(c) == c->type &&
	    gpush_channel_address(c) == c->address &&
	    gpush_channel_resource_id(c) == c->resource_id &&
	    gpush_channel_resource_uri(c) == c->resource_uri &&
	    gpush_channel_expiration(c) == c->expiration, "accessors");
}

/* c's serialization in form: one line, UTF-8, strict JSON, no control
 * byte.  Returns it (the caller's). */
static char *
serialize(const struct gpush_channel *c, enum gpush_channel_form form)
{
	char *s = (char *)"x";
	enum gpush_err e = gpush_channel_json(c, form, &s);
	size_t len;

	FUZZ_CHECK(e == GPUSH_OK && s != NULL, "gpush_channel_json: %s",
	    gpush_strerror(e));
	len = strlen(s);
	for (size_t i = 0; i < len; i++)
		FUZZ_CHECK((unsigned char)s[i] >= 0x20, "control byte in %s", s);
	FUZZ_CHECK(fuzz_utf8_valid((const unsigned char *)s, len),
	    "serialization is not UTF-8: %s", s);
	FUZZ_CHECK(gpush__json_valid(s, len), "serialization is not JSON: %s", s);
	return s;
}

/* The round trip: record -> parse -> equal channel -> same record.
 * Returns 0 when a known bug stopped it. */
static int
check_round_trip(const struct gpush_channel *c)
{
	struct gpush_channel *c2 = NULL, *c3 = NULL;
	char *rec = serialize(c, GPUSH_CHANNEL_RECORD), *rec2, *body;
	enum gpush_err e;

	e = gpush_channel_parse(rec, strlen(rec), &c2);
	/* Bug: "expiration":"9223372036854775807" (a string) is accepted,
	 * written back as the number 9223372036854775807, and that number is
	 * refused as one json-c may have clamped. */
	if (!FUZZ_KNOWN(e == GPUSH_OK, c->expiration == INT64_MAX,
	    "expiration-int64-max", "the record of a parsed channel does not "
	    "parse again (%s): %s", gpush_strerror(e), rec)) {
		free(rec);
		return 0;
	}
	FUZZ_CHECK(channel_equal(c, c2, 1), "round trip changes the channel: %s",
	    rec);
	rec2 = serialize(c2, GPUSH_CHANNEL_RECORD);
	FUZZ_CHECK(strcmp(rec, rec2) == 0, "second serialization differs:\n"
	    "%s\n%s", rec, rec2);
	body = serialize(c, GPUSH_CHANNEL_BODY);
	e = gpush_channel_parse(body, strlen(body), &c3);
	FUZZ_CHECK(e == GPUSH_OK && channel_equal(c, c3, 0),
	    "the body form does not parse back (%s): %s", gpush_strerror(e), body);
	gpush_channel_free(c2);
	gpush_channel_free(c3);
	free(rec);
	free(rec2);
	free(body);
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t alen = nl != NULL ? (size_t)(nl - data) : size;
	char *a = fuzz_dup0(data, alen), *b = NULL;
	struct json_object *ref, *refb;
	struct gpush_channel *c = (struct gpush_channel *)&ref;
	enum gpush_err e;
	int has_id, known;

	e = gpush_channel_parse(a, alen, &c);
	ref = ref_object(a, alen, &has_id);
	FUZZ_CHECK(e == GPUSH_OK || e == GPUSH_ERR_PARSE, "parse: %s",
	    gpush_strerror(e));
	FUZZ_CHECK((e == GPUSH_OK) == (c != NULL), "*out and the error disagree");
	FUZZ_CHECK((e == GPUSH_OK) == (ref != NULL && has_id),
	    "parse says %s, the reference %s: %s", gpush_strerror(e),
	    ref != NULL && has_id ? "valid" : "invalid", a);
	if (c == NULL) {
		json_object_put(ref);
		free(a);
		return 0;
	}
	check_limits(c);
	check_values(c, ref, NULL);
	known = !check_round_trip(c);
	json_object_put(ref);

	if (nl != NULL && !known) {
		size_t blen = size - alen - 1;
		char *before = serialize(c, GPUSH_CHANNEL_RECORD), *after;
		struct gpush_channel *old = NULL;

		FUZZ_CHECK(gpush_channel_parse(before, strlen(before), &old) ==
		    GPUSH_OK, "record");
		b = fuzz_dup0(nl + 1, blen);
		e = gpush_channel_update(c, b, blen);
		refb = ref_object(b, blen, &has_id);
		FUZZ_CHECK(e == GPUSH_OK || e == GPUSH_ERR_PARSE, "update: %s",
		    gpush_strerror(e));
		FUZZ_CHECK((e == GPUSH_OK) == (refb != NULL),
		    "update says %s, the reference %s: %s", gpush_strerror(e),
		    refb != NULL ? "valid" : "invalid", b);
		if (e != GPUSH_OK) {
			after = serialize(c, GPUSH_CHANNEL_RECORD);
			FUZZ_CHECK(strcmp(before, after) == 0,
			    "a failed update changed the channel:\n%s\n%s",
			    before, after);
			free(after);
		} else {
			check_limits(c);
			check_values(c, refb, old);
			(void)check_round_trip(c);
		}
		json_object_put(refb);
		gpush_channel_free(old);
		free(before);
	}
	FUZZ_CHECK(gpush_channel_update(NULL, "{}", 2) == GPUSH_ERR_ARG, "NULL");
	/* Bug read-past-len (see fuzz_body.c): the same text with no NUL
	 * after it must give the same verdict, and is not to be read past. */
	if (fuzz_known_enabled()) {
		struct fuzz_guard g;
		struct gpush_channel *c2 = NULL;
		const char *p = fuzz_guard_new(&g, data, alen);
		e = gpush_channel_parse(p, alen, &c2);
		FUZZ_CHECK((e == GPUSH_OK) == (c2 != NULL), "guarded parse");
		fuzz_guard_free(&g);
		gpush_channel_free(c2);
	}
	gpush_channel_free(c);
	free(a);
	free(b);
	return 0;
}
