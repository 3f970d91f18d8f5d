/*
 * oauth.c -- access tokens: the jwt-bearer grant of a service account,
 * the refresh-token grant of an authorized user, or a command's output;
 * cached in the data directory's state/ until a minute before they
 * expire; Google's OAuth errors turned into what to do about them.
 *
 * Sources: google-channels.md §2 (grants, delegation) and §5 (token
 * endpoint errors); RFC 6749 §5.2 (error responses); RFC 6750 §2.1
 * (b64token, the characters of a bearer token).
 *
 * The cache file (state/token-<sha256 hex>.json, mode 0600, in a 0700
 * directory) is the one place an access token is written: the tool that
 * runs once per command would otherwise ask Google for a token every
 * time.  Its name is a hash, so it tells nothing of whose token it is.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "gpush_private.h"

/* A cached token is used until this many seconds before it expires. */
#define TOKEN_MARGIN 60
/* Google's tokens are ~200 bytes; RFC 6749 sets no limit. */
#define TOKEN_MAX 4096
#define CACHE_FILE_MAX (TOKEN_MAX + 1024)
#define SUBJECT_MAX 320
#define SCOPE_MAX 4096

struct gpush_auth {
	const struct gpush_credentials *creds;
	struct gpush_http *http;
	char    *statedir;      /* DIR/state, or NULL: no cache */
	char    *cache;         /* statedir/token-<hex>.json */
	char    *subject, *scope;
	char    *token;         /* secret */
	int64_t  expires_at;
	int64_t  (*now)(void);
};

static int64_t
wall_now(void)
{
	return (int64_t)time(NULL);
}

/* 1 when s[0..n) is an RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." /
 * "_" / "~" / "+" / "/" ) *"=". */
static int
token_ok(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || n > TOKEN_MAX)
		return 0;
	while (i < n && (strchr("-._~+/", s[i]) != NULL ||
	    (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
	    (s[i] >= '0' && s[i] <= '9')) && s[i] != '\0')
		i++;
	if (i == 0)
		return 0;
	while (i < n && s[i] == '=')
		i++;
	return i == n;
}

/* Feeds a length-prefixed field to the digest (so that fields cannot run
 * into each other). */
static int
digest_field(EVP_MD_CTX *ctx, const char *s)
{
	uint32_t n = s ? (uint32_t)strlen(s) : 0xffffffffu;
	unsigned char be[4] = { n >> 24, n >> 16, n >> 8, n };

	return EVP_DigestUpdate(ctx, be, 4) == 1 &&
	    (s == NULL || EVP_DigestUpdate(ctx, s, strlen(s)) == 1);
}

/*
 * The cache key: SHA-256 of (kind, identity, subject, scope).  The
 * identity of a service account is its email, key id and token URI; of an
 * authorized user its client id, token URI and refresh token (so a new
 * login is a new key).  hex gets 65 bytes.  0 or -1.
 */
static int
cache_key(const struct gpush_auth *a, char hex[65])
{
	const struct gpush_credentials *c = a->creds;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	if (ctx == NULL)
		return -1;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    digest_field(ctx, "gpush-token-v1") &&
	    digest_field(ctx, c->kind == GPUSH_CREDENTIALS_SERVICE_ACCOUNT ?
	    "service_account" : "authorized_user") &&
	    digest_field(ctx, c->client_email) &&
	    digest_field(ctx, c->private_key_id) &&
	    digest_field(ctx, c->client_id) &&
	    digest_field(ctx, c->refresh_token) &&
	    digest_field(ctx, c->token_uri) &&
	    digest_field(ctx, a->subject) && digest_field(ctx, a->scope) &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

enum gpush_err
gpush_auth_new(const struct gpush_credentials *creds, struct gpush_http *http,
    const char *dir, const char *subject, const char *scope,
    struct gpush_auth **out)
{
	struct gpush_auth *a;
	char hex[65];
	size_t n;

	*out = NULL;
	if (creds == NULL || http == NULL || scope == NULL ||
	    (n = strnlen(scope, SCOPE_MAX + 1)) == 0 || n > SCOPE_MAX ||
	    !gpush__text_ok(scope, n) ||
	    (subject != NULL && ((n = strnlen(subject, SUBJECT_MAX + 1)) == 0 ||
	    n > SUBJECT_MAX || !gpush__text_ok(subject, n))))
		return GPUSH_ERR_ARG;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return GPUSH_ERR_NOMEM;
	a->creds = creds;
	a->http = http;
	a->now = wall_now;
	if ((a->scope = strdup(scope)) == NULL ||
	    (subject != NULL && (a->subject = strdup(subject)) == NULL))
		goto nomem;
	/* Commands are not cached: gcloud and the like keep their own. */
	if (dir != NULL && creds->kind != GPUSH_CREDENTIALS_COMMAND) {
		/* asprintf leaves its pointer undefined on failure: each is
		 * reset to NULL there, so that gpush_auth_free frees only
		 * what was made. */
		if (cache_key(a, hex) < 0)
			goto nomem;
		if (asprintf(&a->statedir, "%s/%s", dir, GPUSH_STATE_DIR) < 0) {
			a->statedir = NULL;
			goto nomem;
		}
		if (asprintf(&a->cache, "%s/token-%s.json", a->statedir, hex) < 0) {
			a->cache = NULL;
			goto nomem;
		}
	}
	*out = a;
	return GPUSH_OK;
nomem:
	gpush_auth_free(a);
	return GPUSH_ERR_NOMEM;
}

void
gpush_auth_free(struct gpush_auth *a)
{
	if (a == NULL)
		return;
	free(a->statedir);
	free(a->cache);
	free(a->subject);
	free(a->scope);
	gpush__free_secret(a->token);
	free(a);
}

void
gpush_auth_set_clock(struct gpush_auth *a, int64_t (*now)(void))
{
	a->now = now != NULL ? now : wall_now;
}

/* Takes token (malloc'ed) as the current one. */
static void
set_token(struct gpush_auth *a, char *token, int64_t expires_at)
{
	gpush__free_secret(a->token);
	a->token = token;
	a->expires_at = expires_at;
}

/* ---- the cache ------------------------------------------------------------- */

/* Loads a still-valid token from the cache file; 1 when it did.  Anything
 * odd about the file (mode, owner, size, content) means "no token". */
static int
cache_load(struct gpush_auth *a)
{
	struct json_object *o = NULL, *t, *x;
	struct stat st;
	char *buf = NULL, *tok;
	size_t len;
	int fd, ok = 0;

	if (a->cache == NULL)
		return 0;
	if ((fd = open(a->cache, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & 077) == 0 && st.st_uid == geteuid() &&
	    gpush__read_file(fd, CACHE_FILE_MAX, &buf, &len) == 0 &&
	    gpush__json_parse(buf, len, &o) == GPUSH_OK &&
	    json_object_is_type(o, json_type_object) &&
	    json_object_object_get_ex(o, "access_token", &t) &&
	    json_object_is_type(t, json_type_string) &&
	    token_ok(json_object_get_string(t),
	    (size_t)json_object_get_string_len(t)) &&
	    json_object_object_get_ex(o, "expires_at", &x) &&
	    json_object_is_type(x, json_type_int) &&
	    /* A hostile or damaged value: out of range is expired (no
	     * overflow in the subtraction). */
	    json_object_get_int64(x) > 0 &&
	    json_object_get_int64(x) < INT64_C(253402300799) &&
	    json_object_get_int64(x) - TOKEN_MARGIN > a->now() &&
	    (tok = strdup(json_object_get_string(t))) != NULL) {
		set_token(a, tok, json_object_get_int64(x));
		ok = 1;
	}
	close(fd);
	if (buf != NULL) {
		OPENSSL_cleanse(buf, len);
		free(buf);
	}
	json_object_put(o);
	return ok;
}

/* Writes the current token to the cache (state/ made 0700 if missing).
 * Failing to cache is not an error of the call: the token is good. */
static void
cache_store(struct gpush_auth *a)
{
	char *text = NULL;
	int n;

	if (a->cache == NULL || a->token == NULL || a->expires_at == 0)
		return;
	if (mkdir(a->statedir, 0700) < 0 && errno != EEXIST)
		return;
	n = asprintf(&text, "{\"access_token\":\"%s\",\"expires_at\":%lld}\n",
	    a->token, (long long)a->expires_at);
	if (n < 0)
		return;
	(void)gpush__write_atomic(a->cache, text, (size_t)n);
	OPENSSL_cleanse(text, (size_t)n);
	free(text);
}

enum gpush_err
gpush_auth_invalidate(struct gpush_auth *a)
{
	set_token(a, NULL, 0);
	if (a->cache != NULL && unlink(a->cache) < 0 && errno != ENOENT)
		return gpush__errno(errno);
	return GPUSH_OK;
}

/* ---- explaining OAuth errors ------------------------------------------------- */

/* 1 when s contains needle, case-insensitively. */
static int
has(const char *s, const char *needle)
{
	return strcasestr(s, needle) != NULL;
}

/*
 * What to do about the token endpoint's error (google-channels.md §5 and
 * the service-account guide's error table), followed by Google's own
 * words.  Never a secret: the reason and description are Google's, the
 * rest are identifiers.
 */
static void
explain(const struct gpush_auth *a, const struct gpush_google_error *ge,
    char *why, size_t whysz)
{
	const struct gpush_credentials *c = a->creds;
	const char *r = ge->reason, *d = ge->message;
	const char *cid = c->client_id ? c->client_id : "(see the key file's client_id)";
	const char *sub = a->subject;
	char hint[768];
	int sa = c->kind == GPUSH_CREDENTIALS_SERVICE_ACCOUNT;

	if (strcmp(r, "unauthorized_client") == 0 && sa && sub != NULL)
		snprintf(hint, sizeof(hint), "domain-wide delegation is missing for "
		    "client id %s and scope %s: in the Admin console, Security > "
		    "Access and data control > API controls > Manage Domain Wide "
		    "Delegation, add the numeric client ID %s (not the e-mail) with "
		    "that scope; changes can take minutes, up to 24 h", cid,
		    a->scope, cid);
	else if (strcmp(r, "unauthorized_client") == 0)
		snprintf(hint, sizeof(hint), "the client %s may not use this grant "
		    "or scope%s", cid, sa ? " (for a Workspace API, give --subject "
		    "an admin user and set up domain-wide delegation)" : "");
	else if (strcmp(r, "invalid_grant") == 0 && has(d, "Invalid JWT Signature"))
		snprintf(hint, sizeof(hint), "the key was refused: key id %s is "
		    "wrong, deleted or disabled; make a new key for %s",
		    c->private_key_id ? c->private_key_id : "?",
		    c->client_email ? c->client_email : "the service account");
	else if (strcmp(r, "invalid_grant") == 0 && has(d, "Invalid JWT"))
		snprintf(hint, sizeof(hint), "the JWT's times were refused: this "
		    "machine's clock is probably wrong (it says %lld s since the "
		    "epoch; check NTP)", (long long)a->now());
	else if (strcmp(r, "invalid_grant") == 0 && has(d, "email or User ID"))
		snprintf(hint, sizeof(hint), "the subject %s is not a user of the "
		    "domain: --subject must name an existing user (an admin for the "
		    "Admin SDK) who has signed in once", sub ? sub : "(none)");
	else if (strcmp(r, "invalid_grant") == 0 && !sa)
		snprintf(hint, sizeof(hint), "the refresh token is expired or "
		    "revoked: sign in again ('gcloud auth application-default "
		    "login'); apps in Testing get tokens that lapse after 7 days");
	else if (strcmp(r, "invalid_grant") == 0)
		snprintf(hint, sizeof(hint), "the grant was refused (clock, key or "
		    "subject)");
	else if (strcmp(r, "access_denied") == 0)
		snprintf(hint, sizeof(hint), "scope %s is not granted: add it to "
		    "the domain-wide delegation of client id %s, or consent to it",
		    a->scope, cid);
	else if (strcmp(r, "invalid_scope") == 0)
		snprintf(hint, sizeof(hint), "scope '%s' is not valid: scopes are "
		    "full URLs separated by spaces, not commas", a->scope);
	else if (strcmp(r, "disabled_client") == 0)
		snprintf(hint, sizeof(hint), "the client %s is disabled (Cloud "
		    "console > IAM > Service accounts, or the OAuth client)", cid);
	else if (strcmp(r, "deleted_client") == 0)
		snprintf(hint, sizeof(hint), "the client %s was deleted: make new "
		    "credentials", cid);
	else if (strcmp(r, "invalid_client") == 0)
		snprintf(hint, sizeof(hint), "the client %s was refused: its id or "
		    "secret is wrong, or the OAuth client was deleted", cid);
	else if (strcmp(r, "org_internal") == 0)
		snprintf(hint, sizeof(hint), "the OAuth client is Internal to "
		    "another organization");
	else if (strcmp(r, "admin_policy_enforced") == 0)
		snprintf(hint, sizeof(hint), "the Workspace administrator's policy "
		    "blocks this client or scope (Admin console > Security > API "
		    "controls)");
	else
		snprintf(hint, sizeof(hint), "the token endpoint refused the "
		    "credentials");
	gpush__why(why, whysz, "%s (Google: HTTP %ld, %s%s%s)", hint, ge->status,
	    r[0] ? r : "no error code", d[0] ? ": " : "", d);
}

/* ---- grants --------------------------------------------------------------------- */

/* "&name=" + escaped value appended to *form; 0 or -1.  The old *form is
 * wiped (it may hold a secret). */
static int
form_add(CURL *c, char **form, const char *name, const char *value)
{
	char *esc = curl_easy_escape(c, value, 0), *n = NULL;
	int r;

	if (esc == NULL)
		return -1;
	r = asprintf(&n, "%s%s%s=%s", *form ? *form : "", *form ? "&" : "",
	    name, esc);
	OPENSSL_cleanse(esc, strlen(esc));
	curl_free(esc);
	if (r < 0)
		return -1;
	gpush__free_secret(*form);
	*form = n;
	return 0;
}

/* The grant's form body, malloc'ed (a secret); NULL with *e. */
static char *
grant_form(struct gpush_auth *a, enum gpush_err *e, char *why, size_t whysz)
{
	const struct gpush_credentials *c = a->creds;
	CURL *cu = curl_easy_init();
	char *form = NULL, *jwt = NULL;
	int bad;

	*e = GPUSH_ERR_NOMEM;
	if (cu == NULL)
		return NULL;
	if (c->kind == GPUSH_CREDENTIALS_SERVICE_ACCOUNT) {
		if ((*e = gpush_jwt_assertion(c, a->subject, a->scope, a->now(),
		    &jwt)) != GPUSH_OK) {
			if (*e == GPUSH_ERR_CREDENTIALS)
				gpush__why(why, whysz, "%s: the private key does not "
				    "load or sign (not an unencrypted RSA PEM key)",
				    c->origin ? c->origin : "credentials");
			curl_easy_cleanup(cu);
			return NULL;
		}
		bad = form_add(cu, &form, "grant_type",
		    "urn:ietf:params:oauth:grant-type:jwt-bearer") < 0 ||
		    form_add(cu, &form, "assertion", jwt) < 0;
		gpush__free_secret(jwt);
	} else {
		bad = form_add(cu, &form, "grant_type", "refresh_token") < 0 ||
		    form_add(cu, &form, "client_id", c->client_id) < 0 ||
		    form_add(cu, &form, "client_secret", c->client_secret) < 0 ||
		    form_add(cu, &form, "refresh_token", c->refresh_token) < 0 ||
		    form_add(cu, &form, "scope", a->scope) < 0;
	}
	curl_easy_cleanup(cu);
	if (bad) {
		gpush__free_secret(form);
		*e = GPUSH_ERR_NOMEM;
		return NULL;
	}
	*e = GPUSH_OK;
	return form;
}

/* The token endpoint's success answer into a; OK or RESPONSE. */
static enum gpush_err
take_answer(struct gpush_auth *a, const struct gpush_http_response *r,
    char *why, size_t whysz)
{
	struct json_object *o = NULL, *t, *x, *ty;
	int64_t in = 3600;
	char *tok;

	if (gpush__http_json(r, &o) != GPUSH_OK) {
		gpush__why(why, whysz, "the token endpoint's answer is not JSON");
		return GPUSH_ERR_RESPONSE;
	}
	if (!json_object_object_get_ex(o, "access_token", &t) ||
	    !json_object_is_type(t, json_type_string) ||
	    !token_ok(json_object_get_string(t),
	    (size_t)json_object_get_string_len(t)) ||
	    (json_object_object_get_ex(o, "token_type", &ty) &&
	    (!json_object_is_type(ty, json_type_string) ||
	    strcasecmp(json_object_get_string(ty), "Bearer") != 0))) {
		json_object_put(o);
		gpush__why(why, whysz, "the token endpoint's answer has no usable "
		    "Bearer access_token");
		return GPUSH_ERR_RESPONSE;
	}
	if (json_object_object_get_ex(o, "expires_in", &x)) {
		if (!json_object_is_type(x, json_type_int) ||
		    (in = json_object_get_int64(x)) <= 0 || in > 86400 * 7) {
			json_object_put(o);
			gpush__why(why, whysz, "the token endpoint's expires_in is "
			    "not a number of seconds");
			return GPUSH_ERR_RESPONSE;
		}
	}
	if ((tok = strdup(json_object_get_string(t))) == NULL) {
		json_object_put(o);
		return GPUSH_ERR_NOMEM;
	}
	set_token(a, tok, a->now() + in);
	json_object_put(o);
	return GPUSH_OK;
}

/* The grant of a's credentials at their token_uri. */
static enum gpush_err
grant(struct gpush_auth *a, char *why, size_t whysz)
{
	static const char *const hdrs[] = {
		"Content-Type: application/x-www-form-urlencoded",
		"Accept: application/json", NULL,
	};
	struct gpush_http_response r;
	struct gpush_google_error ge;
	enum gpush_err e;
	char *form = grant_form(a, &e, why, whysz);

	if (form == NULL)
		return e;
	e = gpush_http_request(a->http, "POST", a->creds->token_uri, hdrs, form,
	    strlen(form), &r, why, whysz);
	gpush__free_secret(form);
	if (e != GPUSH_OK) {
		char tmp[GPUSH_WHY_MAX];
		snprintf(tmp, sizeof(tmp), "token endpoint: %s", why ? why : "");
		gpush__why(why, whysz, "%s", tmp);
		return e;
	}
	if (r.status == 200)
		e = take_answer(a, &r, why, whysz);
	else if (gpush_google_error_parse(&r, &ge) == GPUSH_OK &&
	    r.status >= 400 && r.status < 500) {
		explain(a, &ge, why, whysz);
		e = GPUSH_ERR_AUTH;
	} else {
		gpush__why(why, whysz, "token endpoint: HTTP %ld after %d tr%s%s%s",
		    r.status, r.tries, r.tries == 1 ? "y" : "ies",
		    ge.message[0] ? ": " : "", ge.message);
		e = r.status >= 500 ? GPUSH_ERR_REMOTE : GPUSH_ERR_RESPONSE;
	}
	if (r.body != NULL)
		OPENSSL_cleanse(r.body, r.len);
	gpush_http_response_clear(&r);
	return e;
}

/* ---- a token command -------------------------------------------------------------- */

/* What is left of the HTTP handle's whole-call time (ms, may be <= 0)
 * since t0 (CLOCK_MONOTONIC): a token command has as long as a call. */
static long
ms_left(const struct gpush_auth *a, const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return gpush__http_total_ms(a->http) - (long)((t1.tv_sec - t0->tv_sec) *
	    1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000);
}

/* Runs the command with stdout to a pipe, at most TOKEN_MAX bytes and
 * total_ms; the trimmed output becomes the token. */
static enum gpush_err
run_command(struct gpush_auth *a, char *why, size_t whysz)
{
	char buf[TOKEN_MAX + 2];
	size_t n = 0;
	int p[2], status = 0, timed_out = 0, too_big = 0;
	long left = gpush__http_total_ms(a->http);
	struct timespec t0;
	pid_t pid;
	char *tok, *s, *e;

	if (pipe2(p, O_CLOEXEC) < 0)
		return gpush__errno(errno);
	if ((pid = fork()) < 0) {
		close(p[0]);
		close(p[1]);
		return gpush__errno(errno);
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		/* Its own process group, so that a timeout can end all of it. */
		setpgid(0, 0);
		if (nul >= 0)
			dup2(nul, 0);
		dup2(p[1], 1);
		execl("/bin/sh", "sh", "-c", a->creds->command, (char *)NULL);
		_exit(127);
	}
	/* Here too: the child may not have run setpgid yet when the kill
	 * below comes (either call makes the group; EACCES once it has
	 * exec'ed is harmless). */
	(void)setpgid(pid, pid);
	close(p[1]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pf = { p[0], POLLIN, 0 };
		int r = poll(&pf, 1, (int)(left > 0 ? left : 0));
		ssize_t got;
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			timed_out = 1;
			break;
		}
		got = read(p[0], buf + n, sizeof(buf) - 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
		if (n >= sizeof(buf) - 1) {
			too_big = 1;
			break;
		}
		left = ms_left(a, &t0);
		if (left <= 0) {
			timed_out = 1;
			break;
		}
	}
	close(p[0]);
	if (timed_out || too_big)
		kill(-pid, SIGKILL);
	/* The command may close stdout and go on running: its exit is
	 * awaited against the same deadline, then its group is killed. */
	for (;;) {
		pid_t w = waitpid(pid, &status, timed_out || too_big ? 0 : WNOHANG);
		if (w < 0 && errno == EINTR)
			continue;
		if (w != 0)
			break;
		left = ms_left(a, &t0);
		if (left <= 0) {
			timed_out = 1;
			kill(-pid, SIGKILL);
			continue;
		}
		{
			struct timespec ts = { 0, 20 * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	buf[n] = '\0';
	if (timed_out || too_big || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		OPENSSL_cleanse(buf, sizeof(buf));
		if (timed_out)
			gpush__why(why, whysz, "the token command did not finish in "
			    "time");
		else if (too_big)
			gpush__why(why, whysz, "the token command printed more than "
			    "%d bytes", TOKEN_MAX);
		else if (WIFEXITED(status))
			gpush__why(why, whysz, "the token command exited with status %d",
			    WEXITSTATUS(status));
		else
			gpush__why(why, whysz, "the token command was killed by signal %d",
			    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		return timed_out ? GPUSH_ERR_TIMEOUT : GPUSH_ERR_CREDENTIALS;
	}
	for (s = buf; *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'; s++)
		;
	for (e = buf + n; e > s && (e[-1] == ' ' || e[-1] == '\t' ||
	    e[-1] == '\n' || e[-1] == '\r'); e--)
		;
	if (!token_ok(s, (size_t)(e - s)) || memchr(buf, '\0', n) != NULL) {
		OPENSSL_cleanse(buf, sizeof(buf));
		gpush__why(why, whysz, "the token command printed no access token "
		    "(one line of the characters A-Z a-z 0-9 - . _ ~ + / =)");
		return GPUSH_ERR_CREDENTIALS;
	}
	tok = gpush__strndup(s, (size_t)(e - s));
	OPENSSL_cleanse(buf, sizeof(buf));
	if (tok == NULL)
		return GPUSH_ERR_NOMEM;
	set_token(a, tok, 0);
	return GPUSH_OK;
}

enum gpush_err
gpush_auth_token(struct gpush_auth *a, const char **token,
    int64_t *expires_at, char *why, size_t whysz)
{
	enum gpush_err e;

	*token = NULL;
	*expires_at = 0;
	gpush__why(why, whysz, "%s", "");
	if (a->creds->kind == GPUSH_CREDENTIALS_COMMAND) {
		/* A command's token has no known expiry: run it once per
		 * handle, again after an invalidate. */
		if (a->token == NULL && (e = run_command(a, why, whysz)) != GPUSH_OK)
			return e;
	} else if (a->token == NULL || a->expires_at - TOKEN_MARGIN <= a->now()) {
		if (!cache_load(a)) {
			if ((e = grant(a, why, whysz)) != GPUSH_OK)
				return e;
			cache_store(a);
		}
	}
	*token = a->token;
	*expires_at = a->expires_at;
	return GPUSH_OK;
}

enum gpush_err
gpush_auth_request(struct gpush_auth *a, const char *method, const char *url,
    const char *const *headers, const char *body, size_t body_len,
    struct gpush_http_response *resp, char *why, size_t whysz)
{
	const char **h = NULL;
	size_t nh = 0;
	char *bearer = NULL;
	const char *tok;
	int64_t exp;
	enum gpush_err e;
	int unsure = 0;

	memset(resp, 0, sizeof(*resp));
	while (headers != NULL && headers[nh] != NULL)
		nh++;
	if ((h = calloc(nh + 2, sizeof(*h))) == NULL)
		return GPUSH_ERR_NOMEM;
	for (size_t i = 0; i < nh; i++)
		h[i] = headers[i];
	for (int round = 0; round < 2; round++) {
		if ((e = gpush_auth_token(a, &tok, &exp, why, whysz)) != GPUSH_OK)
			break;
		gpush__free_secret(bearer);
		if (asprintf(&bearer, "Authorization: Bearer %s", tok) < 0) {
			bearer = NULL;
			e = GPUSH_ERR_NOMEM;
			break;
		}
		h[nh] = bearer;
		h[nh + 1] = NULL;
		e = gpush_http_request(a->http, method, url, h, body, body_len,
		    resp, why, whysz);
		/* Google: 401 "Invalid Credentials" means the token expired or
		 * was revoked: refresh it and retry once (google-channels.md §5). */
		resp->unsure += unsure;
		if (e != GPUSH_OK || resp->status != 401 || round == 1)
			break;
		/* 5xx before the 401 still count as maybe done. */
		unsure = resp->unsure;
		gpush_http_response_clear(resp);
		(void)gpush_auth_invalidate(a);
	}
	gpush__free_secret(bearer);
	free(h);
	return e;
}
