/*
 * credentials.c -- Google credentials as Application Default Credentials
 * finds them: service_account and authorized_user JSON files, and a
 * command that prints an access token.  Parsing only; the grants are in
 * oauth.c, the JWT in jwt.c.
 *
 * Sources: google-channels.md §2; google-auth-library-python
 * (_default.py, _cloud_sdk.py, service_account.py, credentials.py).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "gpush_private.h"

/* Longest field kept; a PEM RSA-4096 key is about 3.3 KiB. */
#define FIELD_MAX (16 * 1024)
/* Longest token command. */
#define COMMAND_MAX 4096

void
gpush__why(char *why, size_t whysz, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whysz == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(why, whysz, fmt, ap);
	va_end(ap);
}

void
gpush__free_secret(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

void
gpush_credentials_free(struct gpush_credentials *c)
{
	if (c == NULL)
		return;
	free(c->origin);
	free(c->describe);
	free(c->client_email);
	gpush__free_secret(c->private_key);
	free(c->private_key_id);
	free(c->client_id);
	gpush__free_secret(c->client_secret);
	gpush__free_secret(c->refresh_token);
	free(c->token_uri);
	free(c->command);
	free(c);
}

/*
 * Copies the string member key of o into *out.  Returns 1 (found and
 * good), 0 (absent or null: *out NULL), -1 (present but not a string, too
 * long, containing NUL or control bytes; why names the key, not the
 * value).
 */
static int
get_str(struct json_object *o, const char *key, int required, char **out,
    const char *origin, char *why, size_t whysz)
{
	struct json_object *v;
	const char *s;
	size_t n;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || v == NULL) {
		if (required)
			gpush__why(why, whysz, "%s: no \"%s\"", origin, key);
		return required ? -1 : 0;
	}
	if (!json_object_is_type(v, json_type_string)) {
		gpush__why(why, whysz, "%s: \"%s\" is not a string", origin, key);
		return -1;
	}
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	/* A PEM key holds newlines; nothing else may hold a control byte. */
	if (n == 0 || n > FIELD_MAX || strlen(s) != n ||
	    (strcmp(key, "private_key") != 0 && !gpush__text_ok(s, n))) {
		gpush__why(why, whysz, "%s: \"%s\" is empty, too long or not text",
		    origin, key);
		return -1;
	}
	if ((*out = gpush__strndup(s, n)) == NULL)
		return -1;
	return 1;
}

/* Tokens and secrets must only ever go to Google over TLS. */
static int
https_url(const char *u)
{
	return strncmp(u, "https://", 8) == 0 && u[8] != '\0' && u[8] != '/';
}

/* c->describe from the other fields.  0 or -1 (out of memory). */
static int
make_describe(struct gpush_credentials *c)
{
	char buf[FIELD_MAX / 4];

	switch (c->kind) {
	case GPUSH_CREDENTIALS_SERVICE_ACCOUNT:
		snprintf(buf, sizeof(buf), "service account %.256s%s%.64s%s%s%.1024s",
		    c->client_email, c->client_id ? " (client id " : "",
		    c->client_id ? c->client_id : "", c->client_id ? ")" : "",
		    c->origin ? " from " : "", c->origin ? c->origin : "");
		break;
	case GPUSH_CREDENTIALS_AUTHORIZED_USER:
		snprintf(buf, sizeof(buf), "authorized user (client id %.128s)%s%.1024s",
		    c->client_id, c->origin ? " from " : "",
		    c->origin ? c->origin : "");
		break;
	default:
		/* Not the command itself: it may carry an argument that is
		 * better not repeated. */
		snprintf(buf, sizeof(buf), "access token from --token-command");
	}
	return (c->describe = strdup(buf)) != NULL ? 0 : -1;
}

/* The fields of a service_account file into c.  OK or CREDENTIALS. */
static enum gpush_err
parse_service_account(struct json_object *o, struct gpush_credentials *c,
    const char *origin, char *why, size_t whysz)
{
	if (get_str(o, "client_email", 1, &c->client_email, origin, why, whysz) < 0 ||
	    get_str(o, "private_key", 1, &c->private_key, origin, why, whysz) < 0 ||
	    get_str(o, "private_key_id", 1, &c->private_key_id, origin, why, whysz) < 0 ||
	    get_str(o, "token_uri", 1, &c->token_uri, origin, why, whysz) < 0 ||
	    get_str(o, "client_id", 0, &c->client_id, origin, why, whysz) < 0)
		return GPUSH_ERR_CREDENTIALS;
	if (strstr(c->private_key, "-----BEGIN PRIVATE KEY-----") == NULL &&
	    strstr(c->private_key, "-----BEGIN RSA PRIVATE KEY-----") == NULL) {
		gpush__why(why, whysz, "%s: \"private_key\" is not a PEM private key",
		    origin);
		return GPUSH_ERR_CREDENTIALS;
	}
	return GPUSH_OK;
}

/* The fields of an authorized_user file into c.  OK or CREDENTIALS. */
static enum gpush_err
parse_authorized_user(struct json_object *o, struct gpush_credentials *c,
    const char *origin, char *why, size_t whysz)
{
	int r;

	if (get_str(o, "client_id", 1, &c->client_id, origin, why, whysz) < 0 ||
	    get_str(o, "client_secret", 1, &c->client_secret, origin, why, whysz) < 0 ||
	    get_str(o, "refresh_token", 1, &c->refresh_token, origin, why, whysz) < 0 ||
	    (r = get_str(o, "token_uri", 0, &c->token_uri, origin, why, whysz)) < 0)
		return GPUSH_ERR_CREDENTIALS;
	if (r == 0 && (c->token_uri = strdup(GPUSH_TOKEN_URI_DEFAULT)) == NULL)
		return GPUSH_ERR_NOMEM;
	return GPUSH_OK;
}

enum gpush_err
gpush_credentials_parse(const char *json, size_t len, const char *origin,
    struct gpush_credentials **out, char *why, size_t whysz)
{
	struct gpush_credentials *c;
	struct json_object *o = NULL, *t;
	const char *name = origin != NULL ? origin : "credentials";
	const char *type;
	enum gpush_err e;

	*out = NULL;
	gpush__why(why, whysz, "%s", "");
	if (json == NULL || len > GPUSH_CREDENTIALS_MAX) {
		gpush__why(why, whysz, "%s: larger than %d bytes", name,
		    GPUSH_CREDENTIALS_MAX);
		return GPUSH_ERR_CREDENTIALS;
	}
	if (gpush__json_parse(json, len, &o) != GPUSH_OK ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		gpush__why(why, whysz, "%s: not a JSON object", name);
		return GPUSH_ERR_CREDENTIALS;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		json_object_put(o);
		return GPUSH_ERR_NOMEM;
	}
	if (origin != NULL && (c->origin = strdup(origin)) == NULL) {
		e = GPUSH_ERR_NOMEM;
		goto out;
	}
	type = json_object_object_get_ex(o, "type", &t) &&
	    json_object_is_type(t, json_type_string) ? json_object_get_string(t)
	    : NULL;
	if (type != NULL && strcmp(type, "service_account") == 0) {
		c->kind = GPUSH_CREDENTIALS_SERVICE_ACCOUNT;
		e = parse_service_account(o, c, name, why, whysz);
	} else if (type != NULL && strcmp(type, "authorized_user") == 0) {
		c->kind = GPUSH_CREDENTIALS_AUTHORIZED_USER;
		e = parse_authorized_user(o, c, name, why, whysz);
	} else {
		char t8[64];
		gpush__sanitize(t8, sizeof(t8), type ? type : "", type ?
		    strlen(type) : 0);
		gpush__why(why, whysz, "%s: \"type\" %s%s%s is not supported (only "
		    "service_account and authorized_user; use --token-command for "
		    "others)", name, type ? "\"" : "(none)", t8, type ? "\"" : "");
		e = GPUSH_ERR_CREDENTIALS;
	}
	if (e == GPUSH_OK && !https_url(c->token_uri)) {
		gpush__why(why, whysz, "%s: \"token_uri\" is not an https:// URL", name);
		e = GPUSH_ERR_CREDENTIALS;
	}
	if (e == GPUSH_OK && make_describe(c) < 0)
		e = GPUSH_ERR_NOMEM;
out:
	json_object_put(o);
	if (e != GPUSH_OK) {
		if (e == GPUSH_ERR_NOMEM)
			gpush__why(why, whysz, "%s", gpush_strerror(e));
		gpush_credentials_free(c);
		return e;
	}
	*out = c;
	return GPUSH_OK;
}

enum gpush_err
gpush_credentials_load(const char *path, struct gpush_credentials **out,
    char *why, size_t whysz)
{
	struct stat st;
	char *buf;
	size_t len;
	int fd;
	enum gpush_err e;

	*out = NULL;
	gpush__why(why, whysz, "%s", "");
	if (path == NULL || path[0] == '\0') {
		gpush__why(why, whysz, "no credentials file given");
		return GPUSH_ERR_ARG;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0) {
		gpush__why(why, whysz, "%s: %s", path, strerror(errno));
		return GPUSH_ERR_CREDENTIALS;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		gpush__why(why, whysz, "%s: not a regular file", path);
		close(fd);
		return GPUSH_ERR_CREDENTIALS;
	}
	/* A private key or refresh token that others can read is leaked
	 * already; refuse like ssh does, and say how to fix it. */
	if ((st.st_mode & 077) != 0) {
		gpush__why(why, whysz, "%s is accessible by group or others (mode "
		    "%04o); it holds a secret: run chmod 600 %s", path,
		    (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return GPUSH_ERR_CREDENTIALS;
	}
	if (st.st_size > GPUSH_CREDENTIALS_MAX) {
		gpush__why(why, whysz, "%s: larger than %d bytes", path,
		    GPUSH_CREDENTIALS_MAX);
		close(fd);
		return GPUSH_ERR_CREDENTIALS;
	}
	if (gpush__read_file(fd, GPUSH_CREDENTIALS_MAX, &buf, &len) < 0) {
		gpush__why(why, whysz, "%s: %s", path, errno == EFBIG ?
		    "too large" : strerror(errno));
		close(fd);
		return GPUSH_ERR_CREDENTIALS;
	}
	close(fd);
	e = gpush_credentials_parse(buf, len, path, out, why, whysz);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return e;
}

/* A non-empty variable, or NULL. */
static const char *
envv(gpush_env_fn env, const char *name)
{
	const char *v = env != NULL ? env(name) : NULL;

	return v != NULL && v[0] != '\0' ? v : NULL;
}

enum gpush_err
gpush_credentials_find(const char *path, gpush_env_fn env,
    struct gpush_credentials **out, char *why, size_t whysz)
{
	const char *v;
	char buf[4096];

	*out = NULL;
	if (path != NULL)
		return gpush_credentials_load(path, out, why, whysz);
	/* google-auth: an explicit variable that names a missing file is an
	 * error, not a reason to look elsewhere. */
	if ((v = envv(env, "GOOGLE_APPLICATION_CREDENTIALS")) != NULL)
		return gpush_credentials_load(v, out, why, whysz);
	if ((v = envv(env, "CLOUDSDK_CONFIG")) != NULL) {
		if ((size_t)snprintf(buf, sizeof(buf), "%s/%s", v,
		    "application_default_credentials.json") >= sizeof(buf))
			goto none;
	} else if ((v = envv(env, "HOME")) != NULL) {
		if ((size_t)snprintf(buf, sizeof(buf), "%s/%s", v,
		    ".config/gcloud/application_default_credentials.json") >=
		    sizeof(buf))
			goto none;
	} else
		goto none;
	if (access(buf, F_OK) == 0)
		return gpush_credentials_load(buf, out, why, whysz);
	gpush__why(why, whysz, "no credentials: give --credentials FILE or set "
	    "GOOGLE_APPLICATION_CREDENTIALS (a service account key file), or "
	    "run 'gcloud auth application-default login' (looked for %s)", buf);
	return GPUSH_ERR_CREDENTIALS;
none:
	gpush__why(why, whysz, "no credentials: give --credentials FILE or set "
	    "GOOGLE_APPLICATION_CREDENTIALS");
	return GPUSH_ERR_CREDENTIALS;
}

enum gpush_err
gpush_credentials_command(const char *command, struct gpush_credentials **out)
{
	struct gpush_credentials *c;
	size_t n;

	*out = NULL;
	if (command == NULL || (n = strnlen(command, COMMAND_MAX + 1)) == 0 ||
	    n > COMMAND_MAX)
		return GPUSH_ERR_ARG;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return GPUSH_ERR_NOMEM;
	c->kind = GPUSH_CREDENTIALS_COMMAND;
	if ((c->command = strdup(command)) == NULL || make_describe(c) < 0) {
		gpush_credentials_free(c);
		return GPUSH_ERR_NOMEM;
	}
	*out = c;
	return GPUSH_OK;
}

enum gpush_credentials_kind
gpush_credentials_kind(const struct gpush_credentials *c)
{
	return c->kind;
}

const char *
gpush_credentials_describe(const struct gpush_credentials *c)
{
	return c->describe;
}

const char *
gpush_credentials_email(const struct gpush_credentials *c)
{
	return c->client_email;
}

const char *
gpush_credentials_client_id(const struct gpush_credentials *c)
{
	return c->client_id;
}
