/*
 * fuzz_headers.c -- gpush_notification_parse() over hostile X-Goog-*
 * headers, and gpush_header_cgi() over a hostile CGI environment.
 *
 * Input: NUL-separated strings, each one CGI environment entry such as
 * "HTTP_X_GOOG_CHANNEL_ID=dir-users" (the seeds are the request sections
 * of the tests/cgi/cases files).  Every entry lives in its own heap block of
 * exactly its size, so ASan sees a read past any terminator.
 *
 * Checks:
 *  - gpush_header_cgi() finds exactly what a reference lookup finds (the
 *    same pointer), for the eight names and for names made from the input;
 *  - parsing through gpush_header_cgi() and through a reference getter
 *    (which also checks that only the eight X-Goog-* names are asked
 *    for) gives the same result, and that result is the one a reference
 *    validator of README's rules expects: the error, or every field;
 *  - an accepted notification's record passes fuzz_check_record();
 *  - gpush_notification_verify() against a channel made from it.
 */
#include "fuzz_common.h"

#define MAX_ENV    64
#define MAX_COPIES 64
#define NOW_MS     INT64_C(1764614400123)

static const char *const names[] = {
	"X-Goog-Channel-ID", "X-Goog-Channel-Token", "X-Goog-Message-Number",
	"X-Goog-Resource-State", "X-Goog-Resource-ID", "X-Goog-Resource-URI",
	"X-Goog-Channel-Expiration", "X-Goog-Changed",
};

/* RFC 3875 4.1.18 as README describes it, written apart from lib/. */
static const char *
ref_lookup(char **envp, const char *name)
{
	char key[80] = "HTTP_";
	size_t k = 5;

	for (; *name != '\0'; name++) {
		if (k >= 63) /* the library's key buffer is 64 bytes */
			return NULL;
		char c = *name;
		key[k++] = c == '-' ? '_' : (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
	}
	key[k] = '\0';
	for (size_t i = 0; envp != NULL && envp[i] != NULL; i++)
		if (strncmp(envp[i], key, k) == 0 && envp[i][k] == '=')
			return envp[i] + k + 1;
	return NULL;
}

struct getter {
	char  **envp;
	char   *copies[MAX_COPIES];
	size_t  ncopies;
};

/* The reference getter: returns a fresh exact-size copy of the value. */
static const char *
ref_get(void *ctx, const char *name)
{
	struct getter *g = ctx;
	const char *v;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			break;
	FUZZ_CHECK(i < sizeof(names) / sizeof(names[0]),
	    "the library asked for header %s", name);
	if ((v = ref_lookup(g->envp, name)) == NULL)
		return NULL;
	FUZZ_CHECK(g->ncopies < MAX_COPIES, "too many header lookups");
	return g->copies[g->ncopies++] = fuzz_dup0((const uint8_t *)v, strlen(v));
}

/* 1 when header value v breaks README's rules. */
static int
bad_value(const char *v, size_t max, int required)
{
	size_t len;

	if (v == NULL)
		return required;
	len = strlen(v);
	return len > max || (required && len == 0) || !fuzz_text_valid(v, len);
}

/* "1" .. "9223372036854775807", digits only, no leading zero ("01"
 * must not alias 1). */
static int
ref_number(const char *s, int64_t *out)
{
	uint64_t v = 0;
	size_t len = strlen(s);

	if (len == 0 || len > 19 || s[0] == '0')
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v < 1 || v > (uint64_t)INT64_MAX)
		return 0;
	*out = (int64_t)v;
	return 1;
}

/* X-Goog-Changed split on commas, trimmed of blanks, empties dropped;
 * NULL when nothing is left. */
static struct json_object *
ref_changed(const char *s)
{
	struct json_object *a = json_object_new_array();

	while (s != NULL) {
		const char *end = strchr(s, ','), *b = s, *e;
		e = end != NULL ? end : s + strlen(s);
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > b)
			json_object_array_add(a,
			    json_object_new_string_len(b, (int)(e - b)));
		s = end != NULL ? end + 1 : NULL;
	}
	if (json_object_array_length(a) == 0)
		a = (json_object_put(a), NULL);
	return a;
}

/* The error README's rules give for envp, in the documented order. */
static enum gpush_err
ref_parse(char **envp, int64_t *number)
{
	const char *id = ref_lookup(envp, "X-Goog-Channel-ID");
	const char *tok = ref_lookup(envp, "X-Goog-Channel-Token");
	const char *num = ref_lookup(envp, "X-Goog-Message-Number");
	const char *state = ref_lookup(envp, "X-Goog-Resource-State");
	const char *rid = ref_lookup(envp, "X-Goog-Resource-ID");
	const char *uri = ref_lookup(envp, "X-Goog-Resource-URI");
	const char *exp = ref_lookup(envp, "X-Goog-Channel-Expiration");
	const char *chg = ref_lookup(envp, "X-Goog-Changed");
	int64_t ms;

	*number = 0;
	if (bad_value(id, GPUSH_ID_MAX, 1) || bad_value(tok, GPUSH_TOKEN_MAX, 0))
		return GPUSH_ERR_HEADER;
	if (num == NULL)
		return GPUSH_ERR_HEADER;
	if (!ref_number(num, number))
		return GPUSH_ERR_NUMBER;
	if (bad_value(state, 256, 1) || bad_value(rid, GPUSH_HEADER_MAX, 1) ||
	    bad_value(uri, GPUSH_HEADER_MAX, 1))
		return GPUSH_ERR_HEADER;
	if (exp != NULL && (bad_value(exp, 64, 0) ||
	    gpush_parse_rfc1123(exp, &ms) != GPUSH_OK))
		return GPUSH_ERR_DATE;
	if (bad_value(chg, GPUSH_HEADER_MAX, 0))
		return GPUSH_ERR_HEADER;
	if (strcmp(state, "sync") == 0 && *number != 1)
		return GPUSH_ERR_SYNC;
	return GPUSH_OK;
}

static void
check_fields(char **envp, const struct gpush_notification *n, int64_t number)
{
	const char *exp = ref_lookup(envp, "X-Goog-Channel-Expiration");
	struct json_object *chg;
	int64_t ms = -1;

	FUZZ_CHECK(fuzz_streq(n->channel_id, ref_lookup(envp, "X-Goog-Channel-ID")),
	    "channel id %s", fuzz_str(n->channel_id));
	FUZZ_CHECK(fuzz_streq(n->token, ref_lookup(envp, "X-Goog-Channel-Token")),
	    "token");
	FUZZ_CHECK(fuzz_streq(n->state, ref_lookup(envp, "X-Goog-Resource-State")),
	    "state %s", fuzz_str(n->state));
	FUZZ_CHECK(fuzz_streq(n->resource_id, ref_lookup(envp, "X-Goog-Resource-ID")),
	    "resource id %s", fuzz_str(n->resource_id));
	FUZZ_CHECK(fuzz_streq(n->resource_uri,
	    ref_lookup(envp, "X-Goog-Resource-URI")), "resource uri %s",
	    fuzz_str(n->resource_uri));
	FUZZ_CHECK(n->number == number, "number %lld, expected %lld",
	    (long long)n->number, (long long)number);
	if (exp != NULL)
		FUZZ_CHECK(gpush_parse_rfc1123(exp, &ms) == GPUSH_OK, "expiration");
	FUZZ_CHECK(n->expiration == ms, "expiration %lld, expected %lld",
	    (long long)n->expiration, (long long)ms);
	chg = ref_changed(ref_lookup(envp, "X-Goog-Changed"));
	FUZZ_CHECK(chg == NULL ? n->changed == NULL :
	    n->changed != NULL && json_object_equal(chg, n->changed),
	    "changed %s, expected %s",
	    n->changed ? json_object_to_json_string(n->changed) : "(null)",
	    chg ? json_object_to_json_string(chg) : "(null)");
	json_object_put(chg);
	FUZZ_CHECK(n->body == NULL, "a body from headers");
	/* The accessors return the fields. */
	FUZZ_CHECK(gpush_notification_channel_id(n) == n->channel_id &&
	    gpush_notification_token(n) == n->token &&
	    gpush_notification_state(n) == n->state &&
	    gpush_notification_resource_id(n) == n->resource_id &&
	    gpush_notification_resource_uri(n) == n->resource_uri &&
	    gpush_notification_number(n) == n->number &&
	    gpush_notification_expiration(n) == n->expiration, "accessors");
}

static void
check_verify(const struct gpush_notification *n)
{
	struct gpush_channel *c = gpush_channel_new();
	char other[GPUSH_TOKEN_MAX + 2];
	enum gpush_err e;

	FUZZ_CHECK(c != NULL, "no memory");
	FUZZ_CHECK(gpush_channel_set(c, "id", n->channel_id) == GPUSH_OK,
	    "an accepted channel id is refused by gpush_channel_set: %s",
	    n->channel_id);
	/* No token in the registry: anything goes. */
	FUZZ_CHECK(gpush_notification_verify(n, c, NOW_MS) == GPUSH_OK, "open");
	if (n->token != NULL && n->token[0] != '\0') {
		FUZZ_CHECK(gpush_channel_set(c, "token", n->token) == GPUSH_OK,
		    "an accepted token is refused by gpush_channel_set");
		FUZZ_CHECK(gpush_notification_verify(n, c, NOW_MS) == GPUSH_OK,
		    "own token refused");
		/* A token differing in its last byte, and one a byte longer. */
		snprintf(other, sizeof(other), "%s", n->token);
		other[strlen(other) - 1] ^= 1;
		if (fuzz_text_valid(other, strlen(other))) {
			FUZZ_CHECK(gpush_channel_set(c, "token", other) == GPUSH_OK,
			    "token");
			e = gpush_notification_verify(n, c, NOW_MS);
			FUZZ_CHECK(e == GPUSH_ERR_TOKEN, "wrong token: %s",
			    gpush_strerror(e));
		}
		if (strlen(n->token) < GPUSH_TOKEN_MAX) {
			snprintf(other, sizeof(other), "%sx", n->token);
			FUZZ_CHECK(gpush_channel_set(c, "token", other) == GPUSH_OK,
			    "token");
			e = gpush_notification_verify(n, c, NOW_MS);
			FUZZ_CHECK(e == GPUSH_ERR_TOKEN, "longer token: %s",
			    gpush_strerror(e));
		}
		FUZZ_CHECK(gpush_channel_set(c, "token", n->token) == GPUSH_OK,
		    "token");
	} else {
		FUZZ_CHECK(gpush_channel_set(c, "token", "secret") == GPUSH_OK,
		    "token");
		e = gpush_notification_verify(n, c, NOW_MS);
		FUZZ_CHECK(e == GPUSH_ERR_TOKEN, "missing token: %s",
		    gpush_strerror(e));
		FUZZ_CHECK(gpush_channel_set(c, "token", NULL) == GPUSH_OK, "token");
	}
	/* Expiry: at or before now is expired. */
	gpush_channel_set_expiration(c, NOW_MS);
	FUZZ_CHECK(gpush_notification_verify(n, c, NOW_MS) == GPUSH_ERR_EXPIRED,
	    "expired at now");
	gpush_channel_set_expiration(c, NOW_MS + 1);
	FUZZ_CHECK(gpush_notification_verify(n, c, NOW_MS) == GPUSH_OK,
	    "expires after now");
	gpush_channel_free(c);
}

/* gpush_header_cgi() against the reference for one name. */
static void
check_cgi_name(char **envp, const char *name)
{
	const char *got = gpush_header_cgi(envp, name);
	const char *want = ref_lookup(envp, name);

	FUZZ_CHECK(got == want, "gpush_header_cgi(%s) = %s, expected %s", name,
	    fuzz_str(got), fuzz_str(want));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *envp[MAX_ENV + 1];
	size_t nenv = 0, off = 0;
	struct getter g;
	struct gpush_notification *n1, *n2;
	enum gpush_err want, e1, e2;
	int64_t number;

	while (off < size && nenv < MAX_ENV) {
		const uint8_t *z = memchr(data + off, '\0', size - off);
		size_t len = z != NULL ? (size_t)(z - (data + off)) : size - off;
		envp[nenv++] = fuzz_dup0(data + off, len);
		off += len + 1;
	}
	envp[nenv] = NULL;

	/* The lookup on its own, also for names made from the input. */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		check_cgi_name(envp, names[i]);
	for (size_t i = 0; i < nenv; i++) {
		char name[128];
		size_t k = 0;
		const char *p = envp[i];
		if (strncmp(p, "HTTP_", 5) == 0)
			p += 5;
		for (; *p != '\0' && *p != '=' && k + 1 < sizeof(name); p++)
			name[k++] = *p == '_' ? '-' : *p;
		name[k] = '\0';
		check_cgi_name(envp, name);
		check_cgi_name(envp, envp[i]);
	}
	FUZZ_CHECK(gpush_header_cgi(NULL, "X-Goog-Channel-ID") == NULL, "NULL envp");

	/* The same request through both getters and the reference rules. */
	want = ref_parse(envp, &number);
	e1 = gpush_notification_parse(gpush_header_cgi, envp, &n1);
	memset(&g, 0, sizeof(g));
	g.envp = envp;
	e2 = gpush_notification_parse(ref_get, &g, &n2);
	FUZZ_CHECK(e1 == want, "parse via gpush_header_cgi: %s, expected %s",
	    gpush_strerror(e1), gpush_strerror(want));
	FUZZ_CHECK(e2 == want, "parse via a getter: %s, expected %s",
	    gpush_strerror(e2), gpush_strerror(want));
	FUZZ_CHECK((e1 == GPUSH_OK) == (n1 != NULL) &&
	    (e2 == GPUSH_OK) == (n2 != NULL), "*out and the error disagree");
	if (n1 != NULL) {
		check_fields(envp, n1, number);
		check_fields(envp, n2, number);
		fuzz_check_record(n1, NOW_MS, 0);
		check_verify(n1);
	}
	gpush_notification_free(n1);
	gpush_notification_free(n2);
	for (size_t i = 0; i < g.ncopies; i++)
		free(g.copies[i]);
	for (size_t i = 0; i < nenv; i++)
		free(envp[i]);
	return 0;
}
