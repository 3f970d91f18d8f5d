/*
 * Unit tests of the Google side: base64url, the RS256 JWT (verified with
 * OpenSSL), credentials files good and hostile, ADC's search order,
 * Google's error bodies, the OAuth explanations, the token cache key, and
 * the HTTP client's refusals and bounded retries.
 *
 * Also a helper mode for tests/tool/11-jwt-google-auth.t:
 *   t_auth jwt PEMFILE KID ISS SUB|- SCOPE AUD IAT   prints the JWT.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "lib_all.h"
#include "../../lib/credentials.c"
#include "../../lib/jwt.c"
#include "../../lib/http.c"
#include "../../lib/oauth.c"
#include "tap.h"

#define JUNK ((void *)0x5a5a5a5a)

static char tmpdir[] = "/tmp/t_auth.XXXXXX";
static char *pem;           /* a fresh RSA-2048 key, PEM */
static EVP_PKEY *pkey;

/* Writes text to tmpdir/name with mode; returns the path (static). */
static const char *
put_file(const char *name, const char *text, mode_t mode)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	unlink(path);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	return path;
}

static void
make_key(void)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;

	pkey = EVP_RSA_gen(2048);
	PEM_write_bio_PrivateKey(b, pkey, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(b, &p);
	pem = gpush__strndup(p, (size_t)n);
	BIO_free(b);
}

/* A service_account JSON with pem as its key, extra fields appended. */
static char *
sa_json(const char *extra)
{
	struct json_object *o = json_object_new_object();
	char *s;

	json_object_object_add(o, "type", json_object_new_string("service_account"));
	json_object_object_add(o, "client_email",
	    json_object_new_string("sa@p.iam.gserviceaccount.com"));
	json_object_object_add(o, "private_key", json_object_new_string(pem));
	json_object_object_add(o, "private_key_id", json_object_new_string("k1d"));
	json_object_object_add(o, "client_id", json_object_new_string("1234567890"));
	json_object_object_add(o, "token_uri",
	    json_object_new_string("https://oauth2.googleapis.com/token"));
	if (asprintf(&s, "%.*s%s}", (int)strlen(json_object_to_json_string(o)) - 1,
	    json_object_to_json_string(o), extra) < 0)
		s = NULL;
	json_object_put(o);
	return s;
}

static void
test_base64url(void)
{
	static const struct { const char *in; size_t n; const char *out; } v[] = {
		{ "", 0, "" }, { "f", 1, "Zg" }, { "fo", 2, "Zm8" },
		{ "foo", 3, "Zm9v" }, { "foob", 4, "Zm9vYg" },
		{ "\xfb\xff", 2, "-_8" }, { "\xff\xfe\xfd\xfc", 4, "__79_A" },
		{ "\0\0\0", 3, "AAAA" },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *s = gpush__base64url((const unsigned char *)v[i].in, v[i].n);
		is_str(s, v[i].out, "base64url vector");
		free(s);
	}
}

/* Decodes one base64url segment (tests only: via OpenSSL, padded). */
static char *
unb64(const char *s, size_t n, int *len)
{
	char *t = calloc(n + 4, 1), *out = calloc(n + 4, 1);
	size_t m = n;

	memcpy(t, s, n);
	for (size_t i = 0; i < n; i++)
		t[i] = t[i] == '-' ? '+' : t[i] == '_' ? '/' : t[i];
	while (m % 4)
		t[m++] = '=';
	*len = EVP_DecodeBlock((unsigned char *)out, (unsigned char *)t, (int)m);
	*len -= (int)(m - n);
	free(t);
	return out;
}

static void
test_jwt(void)
{
	char *jwt = JUNK, *dot1, *dot2, *h, *c, *sig;
	int hl, cl, sl;
	struct gpush_credentials *cr = JUNK;
	char why[GPUSH_WHY_MAX];
	char *js = sa_json("");
	EVP_MD_CTX *ctx;

	is_int(gpush__jwt_sign(pem, "k1d", "sa@x", "admin@example.com",
	    "s1 s2", "https://oauth2.googleapis.com/token", 1700000000, &jwt),
	    GPUSH_OK, "jwt: signed");
	ok(jwt != NULL && strspn(jwt, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
	    "opqrstuvwxyz0123456789-_.") == strlen(jwt), "jwt: base64url "
	    "alphabet only, no padding");
	dot1 = strchr(jwt, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	ok(dot1 && dot2 && strchr(dot2 + 1, '.') == NULL, "jwt: three segments");
	if (!dot1 || !dot2)
		return;
	h = unb64(jwt, (size_t)(dot1 - jwt), &hl);
	c = unb64(dot1 + 1, (size_t)(dot2 - dot1 - 1), &cl);
	is_str(h, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k1d\"}", "jwt: header");
	is_str(c, "{\"iss\":\"sa@x\",\"scope\":\"s1 s2\",\"aud\":"
	    "\"https://oauth2.googleapis.com/token\",\"iat\":1700000000,"
	    "\"exp\":1700003600,\"sub\":\"admin@example.com\"}",
	    "jwt: claims (exp = iat + 3600, URLs unescaped)");
	sig = unb64(dot2 + 1, strlen(dot2 + 1), &sl);
	is_int(sl, 256, "jwt: a 2048-bit signature");
	ctx = EVP_MD_CTX_new();
	ok(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
	    EVP_DigestVerify(ctx, (unsigned char *)sig, (size_t)sl,
	    (unsigned char *)jwt, (size_t)(dot2 - jwt)) == 1,
	    "jwt: the RS256 signature verifies with the public key");
	EVP_MD_CTX_free(ctx);
	/* Tampered: one claim byte changed. */
	jwt[dot1 - jwt + 3] ^= 1;
	ctx = EVP_MD_CTX_new();
	ok(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
	    EVP_DigestVerify(ctx, (unsigned char *)sig, (size_t)sl,
	    (unsigned char *)jwt, (size_t)(dot2 - jwt)) != 1,
	    "jwt: ... and not after a change");
	EVP_MD_CTX_free(ctx);
	free(h); free(c); free(sig); free(jwt);

	jwt = JUNK;
	is_int(gpush__jwt_sign(pem, "k", "i", NULL, "s", "a", 1, &jwt), GPUSH_OK,
	    "jwt: no subject");
	dot1 = strchr(jwt, '.');
	dot2 = strchr(dot1 + 1, '.');
	c = unb64(dot1 + 1, (size_t)(dot2 - dot1 - 1), &cl);
	ok(strstr(c, "\"sub\"") == NULL, "jwt: no sub claim without a subject");
	free(c); free(jwt);

	jwt = JUNK;
	is_int(gpush__jwt_sign("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE "
	    "KEY-----\n", "k", "i", NULL, "s", "a", 1, &jwt), GPUSH_ERR_CREDENTIALS,
	    "jwt: a broken key is CREDENTIALS");
	ok(jwt == NULL, "jwt: ... *out NULL");
	jwt = JUNK;
	is_int(gpush__jwt_sign(pem, "k", "i", NULL, "", "a", 1, &jwt), GPUSH_ERR_ARG,
	    "jwt: an empty scope is refused");
	ok(jwt == NULL, "jwt: ... *out NULL");

	is_int(gpush_credentials_parse(js, strlen(js), NULL, &cr, why, sizeof(why)),
	    GPUSH_OK, "jwt: credentials for the assertion");
	jwt = JUNK;
	is_int(gpush_jwt_assertion(cr, NULL, "s", 1700000000, &jwt), GPUSH_OK,
	    "jwt: gpush_jwt_assertion");
	free(jwt);
	gpush_credentials_free(cr);
	free(js);
	ok(gpush_credentials_command("true", &cr) == GPUSH_OK, "a command");
	jwt = JUNK;
	is_int(gpush_jwt_assertion(cr, NULL, "s", 1, &jwt), GPUSH_ERR_ARG,
	    "jwt: no assertion for a command");
	ok(jwt == NULL, "jwt: ... *out NULL");
	gpush_credentials_free(cr);
}

static void
test_parse(void)
{
	struct gpush_credentials *c;
	char why[GPUSH_WHY_MAX];
	char *good = sa_json("");
	static const struct { const char *json, *what, *needle; } bad[] = {
		{ "", "empty", "not a JSON object" },
		{ "[]", "an array", "not a JSON object" },
		{ "{\"type\":\"service_account\"", "truncated", "not a JSON object" },
		{ "{}", "no type", "(none)" },
		{ "{\"type\":\"external_account\"}", "another type", "not supported" },
		{ "{\"type\":7}", "type a number", "(none)" },
		{ "{\"type\":\"service_account\",\"client_email\":\"a@b\"}",
		  "no private_key", "\"private_key\"" },
		{ "{\"type\":\"authorized_user\",\"client_id\":\"x\",\"client_secret\":"
		  "\"SECRETVALUE\"}", "no refresh_token", "\"refresh_token\"" },
		{ "{\"type\":\"authorized_user\",\"client_id\":1,\"client_secret\":\"s\","
		  "\"refresh_token\":\"r\"}", "client_id a number", "not a string" },
		{ "{\"type\":\"authorized_user\",\"client_id\":\"a\\u0000b\","
		  "\"client_secret\":\"s\",\"refresh_token\":\"r\"}", "NUL in a field",
		  "not text" },
		{ "{\"type\":\"authorized_user\",\"client_id\":\"a\\nb\","
		  "\"client_secret\":\"s\",\"refresh_token\":\"r\"}", "newline in a field",
		  "not text" },
		{ "{\"type\":\"authorized_user\",\"client_id\":\"a\",\"client_secret\":"
		  "\"SECRETVALUE\",\"refresh_token\":\"r\",\"token_uri\":"
		  "\"http://evil.example/token\"}", "an http token_uri", "https://" },
		{ "{\"type\":\"authorized_user\",\"client_id\":\"a\",\"client_secret\":"
		  "\"s\",\"refresh_token\":\"r\",\"token_uri\":[]}", "token_uri an array",
		  "not a string" },
		{ "{\"type\":\"service_account\",\"client_email\":\"a@b\",\"private_key\":"
		  "\"SECRETVALUE\",\"private_key_id\":\"k\",\"token_uri\":\"https://x/t\"}",
		  "a key that is not PEM", "not a PEM" },
	};
	char *deep, *huge;

	c = JUNK;
	is_int(gpush_credentials_parse(good, strlen(good), "f.json", &c, why,
	    sizeof(why)), GPUSH_OK, "service_account parses");
	is_int(gpush_credentials_kind(c), GPUSH_CREDENTIALS_SERVICE_ACCOUNT, "... kind");
	is_str(gpush_credentials_email(c), "sa@p.iam.gserviceaccount.com", "... email");
	is_str(gpush_credentials_client_id(c), "1234567890", "... client id");
	is_str(gpush_credentials_describe(c), "service account "
	    "sa@p.iam.gserviceaccount.com (client id 1234567890) from f.json",
	    "... describe names kind, email, client id, file");
	ok(strstr(gpush_credentials_describe(c), "PRIVATE") == NULL, "... no key in it");
	gpush_credentials_free(c);
	free(good);

	good = "{\"type\":\"authorized_user\",\"client_id\":\"cid.apps\","
	    "\"client_secret\":\"SECRETVALUE\",\"refresh_token\":\"1//REFRESH\"}";
	c = JUNK;
	is_int(gpush_credentials_parse(good, strlen(good), NULL, &c, why, sizeof(why)),
	    GPUSH_OK, "authorized_user parses");
	is_str(c->token_uri, GPUSH_TOKEN_URI_DEFAULT, "... token_uri defaults to Google's");
	is_str(gpush_credentials_describe(c), "authorized user (client id cid.apps)",
	    "... describe");
	gpush_credentials_free(c);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = JUNK;
		strcpy(why, "junk");
		is_int(gpush_credentials_parse(bad[i].json, strlen(bad[i].json), "f",
		    &c, why, sizeof(why)), GPUSH_ERR_CREDENTIALS, bad[i].what);
		ok(c == NULL, "%s: *out NULL", bad[i].what);
		ok(strstr(why, bad[i].needle) != NULL, "%s: why says '%s' (%s)",
		    bad[i].what, bad[i].needle, why);
		ok(strstr(why, "SECRETVALUE") == NULL, "%s: no secret in why",
		    bad[i].what);
	}
	deep = malloc(20001);
	memset(deep, '[', 10000);
	memset(deep + 10000, ']', 10000);
	deep[20000] = '\0';
	c = JUNK;
	is_int(gpush_credentials_parse(deep, 20000, NULL, &c, why, sizeof(why)),
	    GPUSH_ERR_CREDENTIALS, "10000-deep nesting refused");
	free(deep);
	huge = malloc(GPUSH_CREDENTIALS_MAX + 2);
	memset(huge, ' ', GPUSH_CREDENTIALS_MAX + 1);
	huge[0] = '{';
	huge[GPUSH_CREDENTIALS_MAX] = '}';
	huge[GPUSH_CREDENTIALS_MAX + 1] = '\0';
	c = JUNK;
	is_int(gpush_credentials_parse(huge, GPUSH_CREDENTIALS_MAX + 1, NULL, &c, why,
	    sizeof(why)), GPUSH_ERR_CREDENTIALS, "text over the size cap refused");
	ok(c == NULL, "... *out NULL");
	free(huge);
	c = JUNK;
	is_int(gpush_credentials_command("", &c), GPUSH_ERR_ARG, "empty command refused");
	ok(c == NULL, "... *out NULL");
	gpush_credentials_free(NULL);
}

static const char *fake_env[8][2];
static char *
env_fn(const char *name)
{
	for (size_t i = 0; i < 8 && fake_env[i][0]; i++)
		if (strcmp(fake_env[i][0], name) == 0)
			return (char *)fake_env[i][1];
	return NULL;
}

static void
test_files(void)
{
	struct gpush_credentials *c;
	char why[GPUSH_WHY_MAX], path[600], dir[600], *js = sa_json("");
	const char *p;
	char *big;

	p = put_file("sa.json", js, 0640);
	snprintf(path, sizeof(path), "%s", p);
	c = JUNK;
	is_int(gpush_credentials_load(path, &c, why, sizeof(why)),
	    GPUSH_ERR_CREDENTIALS, "a group-readable file is refused");
	ok(c == NULL, "... *out NULL");
	ok(strstr(why, "chmod 600 ") != NULL && strstr(why, path) != NULL &&
	    strstr(why, "0640") != NULL, "... why gives the mode and the chmod (%s)",
	    why);
	chmod(path, 0604);
	is_int(gpush_credentials_load(path, &c, why, sizeof(why)),
	    GPUSH_ERR_CREDENTIALS, "an other-readable file is refused");
	chmod(path, 0600);
	is_int(gpush_credentials_load(path, &c, why, sizeof(why)), GPUSH_OK,
	    "mode 0600 is taken");
	ok(strstr(gpush_credentials_describe(c), path) != NULL, "... describe names it");
	gpush_credentials_free(c);
	c = JUNK;
	is_int(gpush_credentials_load(tmpdir, &c, why, sizeof(why)),
	    GPUSH_ERR_CREDENTIALS, "a directory is refused");
	ok(c == NULL, "... *out NULL");
	big = malloc(GPUSH_CREDENTIALS_MAX + 10);
	memset(big, ' ', GPUSH_CREDENTIALS_MAX + 9);
	big[GPUSH_CREDENTIALS_MAX + 9] = '\0';
	put_file("big.json", big, 0600);
	free(big);
	snprintf(dir, sizeof(dir), "%s/big.json", tmpdir);
	is_int(gpush_credentials_load(dir, &c, why, sizeof(why)),
	    GPUSH_ERR_CREDENTIALS, "a file over 64 KiB is refused");
	ok(strstr(why, "larger") != NULL, "... why says larger (%s)", why);
	snprintf(dir, sizeof(dir), "%s/nonexistent.json", tmpdir);
	is_int(gpush_credentials_load(dir, &c, why, sizeof(why)),
	    GPUSH_ERR_CREDENTIALS, "a missing file is refused");
	ok(strstr(why, "No such file") != NULL, "... why says so (%s)", why);

	/* ADC's order. */
	memset(fake_env, 0, sizeof(fake_env));
	fake_env[0][0] = "GOOGLE_APPLICATION_CREDENTIALS";
	fake_env[0][1] = path;
	fake_env[1][0] = "HOME";
	fake_env[1][1] = "/nonexistent";
	is_int(gpush_credentials_find(NULL, env_fn, &c, why, sizeof(why)), GPUSH_OK,
	    "find: GOOGLE_APPLICATION_CREDENTIALS");
	gpush_credentials_free(c);
	fake_env[0][1] = dir;
	c = JUNK;
	is_int(gpush_credentials_find(NULL, env_fn, &c, why, sizeof(why)),
	    GPUSH_ERR_CREDENTIALS, "find: the variable naming a missing file is an error");
	ok(c == NULL, "... *out NULL");
	is_int(gpush_credentials_find(path, env_fn, &c, why, sizeof(why)), GPUSH_OK,
	    "find: an explicit path wins over the variable");
	gpush_credentials_free(c);
	fake_env[0][0] = "CLOUDSDK_CONFIG";
	fake_env[0][1] = tmpdir;
	put_file("application_default_credentials.json",
	    "{\"type\":\"authorized_user\",\"client_id\":\"c\",\"client_secret\":\"s\","
	    "\"refresh_token\":\"r\"}", 0600);
	is_int(gpush_credentials_find(NULL, env_fn, &c, why, sizeof(why)), GPUSH_OK,
	    "find: $CLOUDSDK_CONFIG/application_default_credentials.json");
	ok(c && c->kind == GPUSH_CREDENTIALS_AUTHORIZED_USER, "... the gcloud file");
	gpush_credentials_free(c);
	fake_env[0][0] = "HOME";
	fake_env[0][1] = "/nonexistent-home";
	c = JUNK;
	is_int(gpush_credentials_find(NULL, env_fn, &c, why, sizeof(why)),
	    GPUSH_ERR_CREDENTIALS, "find: nothing anywhere");
	ok(strstr(why, "/nonexistent-home/.config/gcloud/application_default_"
	    "credentials.json") != NULL && strstr(why, "--credentials") != NULL,
	    "... why names the place looked and the option (%s)", why);
	free(js);
}

static struct gpush_http_response
resp(long status, const char *ct, const char *body)
{
	struct gpush_http_response r = { status, (char *)body, strlen(body),
	    (char *)ct, 1, 0 };
	return r;
}

static void
test_errors(void)
{
	struct gpush_google_error ge;
	struct gpush_http_response r;
	char longmsg[2000];
	struct json_object *o = JUNK;

	r = resp(400, "application/json; charset=UTF-8", "{\"error\":{\"code\":400,"
	    "\"message\":\"Unauthorized WebHook callback channel: https://x\","
	    "\"errors\":[{\"message\":\"m\",\"domain\":\"global\",\"reason\":"
	    "\"push.webhookUrlUnauthorized\"}],\"status\":\"INVALID_ARGUMENT\"}}");
	is_int(gpush_google_error_parse(&r, &ge), GPUSH_OK, "Google error parses");
	is_str(ge.reason, "push.webhookUrlUnauthorized", "... reason");
	is_str(ge.message, "Unauthorized WebHook callback channel: https://x", "... message");
	is_str(ge.state, "INVALID_ARGUMENT", "... status");
	is_int(ge.status, 400, "... HTTP status");
	r = resp(401, "application/json", "{\"error\":\"unauthorized_client\","
	    "\"error_description\":\"Client is unauthorized\"}");
	is_int(gpush_google_error_parse(&r, &ge), GPUSH_OK, "OAuth error parses");
	is_str(ge.reason, "unauthorized_client", "... reason = error");
	is_str(ge.message, "Client is unauthorized", "... message = error_description");
	r = resp(502, "text/html", "<html>Bad gateway</html>");
	is_int(gpush_google_error_parse(&r, &ge), GPUSH_ERR_RESPONSE,
	    "an HTML body is not Google's error");
	ok(strstr(ge.message, "text/html") && !strstr(ge.message, "Bad gateway"),
	    "... message names the type, not the body (%s)", ge.message);
	r = resp(400, "application/json", "{\"error\":{\"message\":\"a\\u001b[31mb\\nc\"}}");
	gpush_google_error_parse(&r, &ge);
	is_str(ge.message, "a?[31mb?c", "control characters are replaced");
	memset(longmsg, 0, sizeof(longmsg));
	strcpy(longmsg, "{\"error\":{\"message\":\"");
	memset(longmsg + strlen(longmsg), 'x', 1500);
	strcat(longmsg, "\"}}");
	r = resp(400, "application/json", longmsg);
	gpush_google_error_parse(&r, &ge);
	is_int(strlen(ge.message), sizeof(ge.message) - 1, "a long message is bounded");
	r = resp(400, "application/json", "{\"error\":{\"errors\":\"nope\",\"message\":7}}");
	is_int(gpush_google_error_parse(&r, &ge), GPUSH_OK, "wrong types inside: no crash");
	is_str(ge.reason, "", "... no reason");
	r = resp(200, "application/json", "[1]");
	is_int(gpush__http_json(&r, &o), GPUSH_ERR_RESPONSE, "json: an array is not an object");
	ok(o == NULL, "... *out NULL");
	r = resp(200, "text/plain", "{}");
	is_int(gpush__http_json(&r, &o), GPUSH_ERR_RESPONSE, "json: text/plain refused");
	r = resp(200, "application/json", "{}");
	is_int(gpush__http_json(&r, &o), GPUSH_OK, "json: an object");
	json_object_put(o);
}

static int64_t fixed_now(void) { return 1700000000; }

static void
test_oauth(void)
{
	struct gpush_credentials *c;
	struct gpush_http *h = gpush_http_new();
	struct gpush_auth *a, *b;
	struct gpush_google_error ge;
	char why[GPUSH_WHY_MAX], k1[65], k2[65], k3[65], *js = sa_json("");

	ok(token_ok("ya29.a0AfB_by-x~+/==", 19), "token: b64token chars");
	ok(!token_ok("ya29 x", 6) && !token_ok("", 0) && !token_ok("=abc", 4) &&
	    !token_ok("a=b", 3) && !token_ok("a\nb", 3), "token: others refused");
	gpush_credentials_parse(js, strlen(js), NULL, &c, why, sizeof(why));
	a = JUNK;
	is_int(gpush_auth_new(c, h, tmpdir, NULL, "", &a), GPUSH_ERR_ARG,
	    "auth: an empty scope is refused");
	ok(a == NULL, "... *out NULL");
	is_int(gpush_auth_new(c, h, tmpdir, "a\nb@x", "s", &a), GPUSH_ERR_ARG,
	    "auth: a control byte in the subject is refused");
	gpush_auth_new(c, h, tmpdir, NULL, "s1", &a);
	cache_key(a, k1);
	gpush_auth_free(a);
	gpush_auth_new(c, h, tmpdir, NULL, "s2", &a);
	cache_key(a, k2);
	gpush_auth_free(a);
	gpush_auth_new(c, h, tmpdir, "u@x", "s1", &a);
	cache_key(a, k3);
	ok(strcmp(k1, k2) != 0 && strcmp(k1, k3) != 0 && strlen(k1) == 64,
	    "cache key: another scope or subject, another key");
	ok(strstr(a->cache, k3) != NULL && strstr(a->cache, "/state/token-"),
	    "cache file: state/token-<key>.json");
	gpush_auth_set_clock(a, fixed_now);

	memset(&ge, 0, sizeof(ge));
	ge.status = 401;
	strcpy(ge.reason, "unauthorized_client");
	strcpy(ge.message, "Client is unauthorized to retrieve access tokens");
	explain(a, &ge, why, sizeof(why));
	ok(strstr(why, "Manage Domain Wide Delegation") && strstr(why, "1234567890") &&
	    strstr(why, "s1"), "explain unauthorized_client with a subject: "
	    "where, client id, scope");
	strcpy(ge.reason, "invalid_grant");
	strcpy(ge.message, "Invalid JWT: Token must be a short-lived token (60 minutes)");
	explain(a, &ge, why, sizeof(why));
	ok(strstr(why, "clock") != NULL, "explain Invalid JWT: the clock");
	strcpy(ge.message, "Invalid JWT Signature.");
	explain(a, &ge, why, sizeof(why));
	ok(strstr(why, "key") != NULL && strstr(why, "k1d"), "explain Invalid JWT "
	    "Signature: the key");
	strcpy(ge.message, "Invalid email or User ID");
	explain(a, &ge, why, sizeof(why));
	ok(strstr(why, "u@x") != NULL, "explain Invalid email: the subject");
	strcpy(ge.reason, "invalid_scope");
	explain(a, &ge, why, sizeof(why));
	ok(strstr(why, "commas") != NULL, "explain invalid_scope");
	ok(strstr(why, "PRIVATE") == NULL, "explanations hold no key");

	/* The cache: a token written is read back by another handle, not
	 * by one for another scope, and not once it is within a minute of
	 * expiring; a group-readable cache file is ignored. */
	set_token(a, strdup("ya29.cached"), fixed_now() + 3600);
	cache_store(a);
	{
		struct stat st;
		ok(stat(a->cache, &st) == 0 && (st.st_mode & 0777) == 0600,
		    "cache file mode 0600");
	}
	gpush_auth_new(c, h, tmpdir, "u@x", "s1", &b);
	gpush_auth_set_clock(b, fixed_now);
	ok(cache_load(b) && strcmp(b->token, "ya29.cached") == 0,
	    "cache: read back by (same creds, subject, scope)");
	gpush_auth_free(b);
	gpush_auth_new(c, h, tmpdir, "u@x", "s2", &b);
	ok(!cache_load(b), "cache: not for another scope");
	gpush_auth_free(b);
	set_token(a, strdup("ya29.cached"), fixed_now() + 59);
	cache_store(a);
	gpush_auth_new(c, h, tmpdir, "u@x", "s1", &b);
	gpush_auth_set_clock(b, fixed_now);
	ok(!cache_load(b), "cache: not within a minute of expiry");
	/* A hostile expires_at: INT64_MIN+1 - 60 would overflow to a time
	 * far ahead; out of range is expired. */
	{
		FILE *f = fopen(a->cache, "w");
		ok(f != NULL, "cache: a hostile file written");
		if (f != NULL) {
			fprintf(f, "{\"access_token\":\"ya29.hostile\","
			    "\"expires_at\":-9223372036854775807}\n");
			fclose(f);
		}
		chmod(a->cache, 0600);
		ok(!cache_load(b), "cache: an out-of-range expires_at is expired");
	}
	set_token(a, strdup("ya29.cached"), fixed_now() + 3600);
	cache_store(a);
	chmod(a->cache, 0644);
	ok(!cache_load(b), "cache: a group-readable file is ignored");
	is_int(gpush_auth_invalidate(b), GPUSH_OK, "invalidate");
	ok(access(a->cache, F_OK) != 0, "... removes the cache file");
	gpush_auth_free(b);
	gpush_auth_free(a);
	gpush_credentials_free(c);
	gpush_http_free(h);
	free(js);
}

static void
test_command(void)
{
	struct gpush_credentials *c;
	struct gpush_http *h = gpush_http_new();
	struct gpush_auth *a;
	const char *tok;
	int64_t exp;
	char why[GPUSH_WHY_MAX];
	static const struct { const char *cmd, *what; enum gpush_err e; } bad[] = {
		{ "exit 3", "exit 3", GPUSH_ERR_CREDENTIALS },
		{ "echo 'two words'", "a space inside", GPUSH_ERR_CREDENTIALS },
		{ "printf ''", "nothing", GPUSH_ERR_CREDENTIALS },
		{ "head -c 10000 /dev/zero | tr '\\0' a", "10000 bytes", GPUSH_ERR_CREDENTIALS },
		{ "sleep 5", "a hang", GPUSH_ERR_TIMEOUT },
		/* stdout closed, the command goes on: the limit still holds
		 * (SIGALRM below ends the test if it does not). */
		{ "echo ya29.tok; exec >&-; sleep 15", "stdout closed, then a hang",
		    GPUSH_ERR_TIMEOUT },
	};

	gpush_http_set_timeouts(h, 500, 500);
	gpush_credentials_command("printf '  ya29.from-command\\n'", &c);
	gpush_auth_new(c, h, tmpdir, NULL, "s", &a);
	tok = JUNK;
	is_int(gpush_auth_token(a, &tok, &exp, why, sizeof(why)), GPUSH_OK,
	    "command: a token");
	is_str(tok, "ya29.from-command", "command: trimmed");
	is_int(exp, 0, "command: expiry unknown");
	ok(a->cache == NULL, "command: never cached");
	gpush_auth_free(a);
	gpush_credentials_free(c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		gpush_credentials_command(bad[i].cmd, &c);
		gpush_auth_new(c, h, NULL, NULL, "s", &a);
		tok = JUNK;
		alarm(10);
		is_int(gpush_auth_token(a, &tok, &exp, why, sizeof(why)), bad[i].e,
		    bad[i].what);
		alarm(0);
		if (bad[i].e == GPUSH_ERR_TIMEOUT)
			ok(strstr(why, "did not finish") != NULL, "%s: says it did "
			    "not finish", bad[i].what);
		ok(tok == NULL && why[0] != '\0', "%s: no token, why '%s'",
		    bad[i].what, why);
		gpush_auth_free(a);
		gpush_credentials_free(c);
	}
	gpush_http_free(h);
}

static void
test_http(void)
{
	struct gpush_http *h = gpush_http_new();
	struct gpush_http_response r;
	char why[GPUSH_WHY_MAX];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	char url[64];

	ok(h != NULL, "http: new");
	is_int(gpush_http_request(NULL, "POST", "https://127.0.0.1:1/x", NULL, "",
	    0, &r, why, sizeof(why)), GPUSH_ERR_ARG, "http: a NULL handle refused "
	    "(not dereferenced)");
	memset(&r, 0x5a, sizeof(r));
	is_int(gpush_http_request(h, "POST", "http://127.0.0.1:1/x", NULL, "", 0,
	    &r, why, sizeof(why)), GPUSH_ERR_ARG, "http: http:// refused (tokens "
	    "only over TLS)");
	ok(r.body == NULL && r.status == 0, "... resp cleared");
	is_int(gpush_http_request(h, "po st", "https://127.0.0.1:1/x", NULL, "", 0,
	    &r, why, sizeof(why)), GPUSH_ERR_ARG, "http: a bad method refused");
	/* A port nobody listens on: connection refused, retried, bounded. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/token", ntohs(sa.sin_port));
	gpush_http_set_retry(h, 3, 5000, 10);
	is_int(gpush_http_request(h, "GET", url, NULL, NULL, 0, &r, why, sizeof(why)),
	    GPUSH_ERR_HTTP, "http: connection refused is HTTP");
	is_int(r.tries, 3, "... after 3 tries (retried, bounded)");
	ok(strstr(why, "127.0.0.1") != NULL, "... why names the host (%s)", why);
	close(fd);
	gpush_http_free(h);
	gpush_http_free(NULL);
	gpush_http_response_clear(NULL);
}

/* The helper mode for the google-auth cross-check. */
static int
jwt_mode(int argc, char **argv)
{
	char *key, *jwt;
	size_t len;
	int64_t iat;
	int fd;

	if (argc != 9 || (fd = open(argv[2], O_RDONLY)) < 0 ||
	    gpush__read_file(fd, 65536, &key, &len) < 0 ||
	    !gpush__parse_i64(argv[8], &iat))
		return 2;
	if (gpush__jwt_sign(key, argv[3], argv[4], strcmp(argv[5], "-") ? argv[5]
	    : NULL, argv[6], argv[7], iat, &jwt) != GPUSH_OK)
		return 1;
	printf("%s\n", jwt);
	return 0;
}

/* t_auth request CREDFILE CACERT DIR SCOPE URL BODY: one
 * gpush_auth_request() POST (for the 401-refresh test against the
 * stand-in); prints "status N" or "error TEXT". */
static int
request_mode(int argc, char **argv)
{
	struct gpush_credentials *c;
	struct gpush_http *h;
	struct gpush_auth *a;
	struct gpush_http_response r;
	static const char *const hdrs[] = { "Content-Type: application/json", NULL };
	char why[GPUSH_WHY_MAX];
	enum gpush_err e;

	if (argc != 8 || gpush_credentials_load(argv[2], &c, why, sizeof(why)) ||
	    (h = gpush_http_new()) == NULL || gpush_http_set_cacert(h, argv[3]) ||
	    gpush_auth_new(c, h, argv[4], NULL, argv[5], &a))
		return 2;
	e = gpush_auth_request(a, "POST", argv[6], hdrs, argv[7], strlen(argv[7]),
	    &r, why, sizeof(why));
	if (e == GPUSH_OK)
		printf("status %ld\n", r.status);
	else
		printf("error %s\n", why);
	gpush_http_response_clear(&r);
	gpush_auth_free(a);
	gpush_http_free(h);
	gpush_credentials_free(c);
	return e != GPUSH_OK;
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "jwt") == 0)
		return jwt_mode(argc, argv);
	if (argc > 1 && strcmp(argv[1], "request") == 0)
		return request_mode(argc, argv);
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	make_key();
	test_base64url();
	test_jwt();
	test_parse();
	test_files();
	test_errors();
	test_oauth();
	test_command();
	test_http();
	{
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		(void)!system(cmd);
	}
	free(pem);
	EVP_PKEY_free(pkey);
	return tap_done();
}
