/*
 * jwt.c -- the signed JWT of the OAuth 2.0 jwt-bearer grant (RFC 7523) as
 * Google takes it from a service account: RS256 over
 * base64url(header) "." base64url(claims), all base64url unpadded.
 * Base64 and RSA are OpenSSL's; the JSON is json-c's.
 *
 * Sources: google-channels.md §2; google-auth-library-python
 * google/auth/jwt.py encode(), _helpers.unpadded_urlsafe_b64encode.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "gpush_private.h"

/* A JWT's lifetime: Google takes "a maximum of 1 hour after iat". */
#define JWT_LIFETIME 3600

char *
gpush__base64url(const unsigned char *in, size_t n)
{
	char *out;
	size_t cap, len;
	int w;

	/* EVP_EncodeBlock takes an int; 4 bytes out per 3 in, plus NUL. */
	if (n > (size_t)INT32_MAX / 4 * 3 - 3)
		return NULL;
	cap = (n + 2) / 3 * 4 + 1;
	if ((out = malloc(cap)) == NULL)
		return NULL;
	w = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	if (w < 0 || (size_t)w >= cap) {
		free(out);
		return NULL;
	}
	/* Standard alphabet to URL-safe, and no '=' padding (RFC 7515 §2). */
	len = (size_t)w;
	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (size_t i = 0; i < len; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return out;
}

/* base64url of a JSON object's compact text; NULL on error. */
static char *
b64_json(struct json_object *o)
{
	size_t n;
	const char *s = json_object_to_json_string_length(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);

	return s != NULL ? gpush__base64url((const unsigned char *)s, n) : NULL;
}

/* Adds key: v to o, taking v (freed on failure; NULL is a failure, so a
 * failed json_object_new_*() can be passed straight in).  0 or -1. */
static int
claim_add(struct json_object *o, const char *key, struct json_object *v)
{
	if (v == NULL)
		return -1;
	if (json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

static int
claim_str(struct json_object *o, const char *key, const char *value)
{
	return claim_add(o, key, json_object_new_string(value));
}

static int
claim_int(struct json_object *o, const char *key, int64_t value)
{
	return claim_add(o, key, json_object_new_int64(value));
}

/* Never prompt for a passphrase on the terminal: an encrypted key is an
 * error (Google's key files are not encrypted). */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf; (void)size; (void)rwflag; (void)u;
	return -1;
}

/*
 * RSASSA-PKCS1-v1_5 SHA-256 of in[0..n) with the PEM key; the signature
 * base64url into *out (malloc'ed).  OK, CREDENTIALS (the key does not
 * load, is not RSA, or does not sign) or NOMEM.
 */
static enum gpush_err
rs256(const char *pem, const char *in, size_t n, char **out)
{
	BIO *bio = NULL;
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *ctx = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	enum gpush_err e = GPUSH_ERR_CREDENTIALS;

	*out = NULL;
	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL)
		return GPUSH_ERR_NOMEM;
	key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
		goto out;
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		e = GPUSH_ERR_NOMEM;
		goto out;
	}
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)in, n) != 1)
		goto out;
	if ((sig = malloc(siglen)) == NULL) {
		e = GPUSH_ERR_NOMEM;
		goto out;
	}
	if (EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)in, n) != 1)
		goto out;
	e = (*out = gpush__base64url(sig, siglen)) != NULL ? GPUSH_OK :
	    GPUSH_ERR_NOMEM;
out:
	free(sig);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);   /* clears the private key's numbers */
	BIO_free(bio);
	return e;
}

/*
 * The RS256 JWT of the claims given; sub may be NULL.  *out malloc'ed
 * (the caller frees, wiping it: it is a bearer credential for an hour);
 * NULL with ARG (a missing claim), CREDENTIALS (key) or NOMEM.
 */
enum gpush_err
gpush__jwt_sign(const char *pem, const char *kid, const char *iss,
    const char *sub, const char *scope, const char *aud, int64_t iat,
    char **out)
{
	struct json_object *h = NULL, *c = NULL;
	char *hb = NULL, *cb = NULL, *sig = NULL, *in = NULL;
	size_t hn, cn, sn;
	enum gpush_err e = GPUSH_ERR_NOMEM;

	*out = NULL;
	if (pem == NULL || kid == NULL || iss == NULL || scope == NULL ||
	    scope[0] == '\0' || aud == NULL || iat <= 0 ||
	    iat > INT64_MAX - JWT_LIFETIME)
		return GPUSH_ERR_ARG;
	/* Header and claims as google-auth's jwt.encode() makes them. */
	if ((h = json_object_new_object()) == NULL ||
	    claim_str(h, "alg", "RS256") < 0 || claim_str(h, "typ", "JWT") < 0 ||
	    claim_str(h, "kid", kid) < 0)
		goto out;
	if ((c = json_object_new_object()) == NULL ||
	    claim_str(c, "iss", iss) < 0 || claim_str(c, "scope", scope) < 0 ||
	    claim_str(c, "aud", aud) < 0 || claim_int(c, "iat", iat) < 0 ||
	    claim_int(c, "exp", iat + JWT_LIFETIME) < 0 ||
	    (sub != NULL && claim_str(c, "sub", sub) < 0))
		goto out;
	if ((hb = b64_json(h)) == NULL || (cb = b64_json(c)) == NULL)
		goto out;
	hn = strlen(hb);
	cn = strlen(cb);
	if ((in = malloc(hn + 1 + cn + 1)) == NULL)
		goto out;
	memcpy(in, hb, hn);
	in[hn] = '.';
	memcpy(in + hn + 1, cb, cn + 1);
	if ((e = rs256(pem, in, hn + 1 + cn, &sig)) != GPUSH_OK)
		goto out;
	sn = strlen(sig);
	if ((*out = malloc(hn + 1 + cn + 1 + sn + 1)) == NULL) {
		e = GPUSH_ERR_NOMEM;
		goto out;
	}
	memcpy(*out, in, hn + 1 + cn);
	(*out)[hn + 1 + cn] = '.';
	memcpy(*out + hn + 1 + cn + 1, sig, sn + 1);
	e = GPUSH_OK;
out:
	json_object_put(h);
	json_object_put(c);
	free(hb);
	free(cb);
	free(in);
	free(sig);
	return e;
}

enum gpush_err
gpush_jwt_assertion(const struct gpush_credentials *c, const char *subject,
    const char *scope, int64_t now, char **out)
{
	*out = NULL;
	if (c == NULL || c->kind != GPUSH_CREDENTIALS_SERVICE_ACCOUNT)
		return GPUSH_ERR_ARG;
	return gpush__jwt_sign(c->private_key, c->private_key_id,
	    c->client_email, subject, scope, c->token_uri, now, out);
}
