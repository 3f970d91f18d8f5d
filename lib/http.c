/*
 * http.c -- the one libcurl wrapper through which gpush talks to Google:
 * TLS always verified, timeouts on connect and on the whole call, a cap
 * on the answer, retries with exponential backoff and jitter on what
 * Google says to retry, and Google's JSON error body parsed into a reason
 * to match on.
 *
 * Sources: google-channels.md §5 (429/500/502/503/504 retried with
 * exponential backoff; "match on reason, not on the status"); Google's
 * "Exponential backoff" guidance (random jitter, a bounded number of
 * tries).
 *
 * Proxy: none unless set with gpush_http_set_proxy().  libcurl would
 * otherwise take http_proxy/https_proxy from the environment, which for a
 * program that sends bearer tokens is a decision the user should make
 * explicitly (the tool's --proxy).
 */
#include <sys/random.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "gpush_private.h"

struct gpush_http {
	CURL   *curl;
	char   *cacert;
	char   *proxy;
	long    connect_ms, total_ms;
	int     tries;
	long    retry_total_ms, base_ms;
	size_t  max_body;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

/* curl_global_init is not thread-safe and must run once per process. */
static void
global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct gpush_http *
gpush_http_new(void)
{
	struct gpush_http *h;

	if (pthread_once(&global_once, global_init) != 0 || global_rc != CURLE_OK)
		return NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	if ((h->curl = curl_easy_init()) == NULL) {
		free(h);
		return NULL;
	}
	h->connect_ms = 10000;
	h->total_ms = 60000;
	h->tries = 5;
	h->retry_total_ms = 120000;
	h->base_ms = 500;
	h->max_body = GPUSH_HTTP_BODY_MAX;
	return h;
}

void
gpush_http_free(struct gpush_http *h)
{
	if (h == NULL)
		return;
	curl_easy_cleanup(h->curl);
	free(h->cacert);
	free(h->proxy);
	free(h);
}

enum gpush_err
gpush_http_set_cacert(struct gpush_http *h, const char *file)
{
	char *c;

	if (file == NULL || access(file, R_OK) != 0)
		return GPUSH_ERR_ARG;
	if ((c = strdup(file)) == NULL)
		return GPUSH_ERR_NOMEM;
	free(h->cacert);
	h->cacert = c;
	return GPUSH_OK;
}

void
gpush_http_set_timeouts(struct gpush_http *h, long connect_ms, long total_ms)
{
	if (connect_ms > 0)
		h->connect_ms = connect_ms;
	if (total_ms > 0)
		h->total_ms = total_ms;
}

void
gpush_http_set_retry(struct gpush_http *h, int tries, long total_ms,
    long base_ms)
{
	if (tries >= 1)
		h->tries = tries;
	if (total_ms > 0)
		h->retry_total_ms = total_ms;
	if (base_ms > 0)
		h->base_ms = base_ms;
}

void
gpush_http_set_max_body(struct gpush_http *h, size_t max)
{
	if (max > 0)
		h->max_body = max;
}

enum gpush_err
gpush_http_set_proxy(struct gpush_http *h, const char *url)
{
	char *p = NULL;

	if (url != NULL && (p = strdup(url)) == NULL)
		return GPUSH_ERR_NOMEM;
	free(h->proxy);
	h->proxy = p;
	return GPUSH_OK;
}

long
gpush__http_total_ms(const struct gpush_http *h)
{
	return h->total_ms;
}

void
gpush_http_response_clear(struct gpush_http_response *r)
{
	if (r == NULL)
		return;
	free(r->body);
	free(r->content_type);
	memset(r, 0, sizeof(*r));
}

void
gpush__sanitize(char *dst, size_t dstsz, const char *src, size_t len)
{
	size_t o = 0;

	if (dstsz == 0)
		return;
	for (size_t i = 0; i < len && o + 1 < dstsz; ) {
		unsigned char c = (unsigned char)src[i];
		size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 :
		    (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		if (n == 0 || i + n > len || o + n >= dstsz ||
		    (n > 1 && !gpush__utf8_ok((const unsigned char *)src + i, n)) ||
		    (n == 1 && (c < 0x20 || c == 0x7f))) {
			dst[o++] = '?';
			i++;
			continue;
		}
		memcpy(dst + o, src + i, n);
		o += n;
		i += n;
	}
	dst[o] = '\0';
}

/* ---- one attempt ------------------------------------------------------------ */

struct sink {
	char   *buf;
	size_t  len, cap, max;
	int     too_big;
};

/* libcurl's write callback: appends, refusing past max (the transfer then
 * ends with CURLE_WRITE_ERROR and too_big set). */
static size_t
sink_write(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct sink *s = ctx;
	size_t n = size * nmemb;

	if (n > s->max - s->len) {
		s->too_big = 1;
		return 0;
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		char *nb;
		while (cap < s->len + n + 1)
			cap *= 2;
		if ((nb = realloc(s->buf, cap)) == NULL)
			return 0;
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}

/* The host of url for messages (bounded, sanitized). */
static void
url_host(const char *url, char *out, size_t outsz)
{
	const char *p = strstr(url, "://");
	size_t n;

	p = p ? p + 3 : url;
	n = strcspn(p, "/?#");
	gpush__sanitize(out, outsz, p, n);
}

/* Monotonic ms. */
static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Connection failures worth another try: nothing (or not all) of an
 * answer came.  A timeout is not among them (it already used the time). */
/* 0: no retry; 1: retry, the request never reached the server; 2:
 * retry, but the request may have reached it and been acted on. */
static int
retry_code(CURLcode c)
{
	if (c == CURLE_COULDNT_CONNECT || c == CURLE_COULDNT_RESOLVE_HOST)
		return 1;
	return c == CURLE_GOT_NOTHING || c == CURLE_SEND_ERROR ||
	    c == CURLE_RECV_ERROR || c == CURLE_PARTIAL_FILE ? 2 : 0;
}

/* As retry_code: a 429 was refused unseen; a 5xx may have been done. */
static int
retry_status(long s)
{
	if (s == 429)
		return 1;
	return s == 500 || s == 502 || s == 503 || s == 504 ? 2 : 0;
}

/*
 * One request.  Returns OK with resp filled (any status), or an error
 * with why set; *retry says whether another attempt may help.
 */
static enum gpush_err
attempt(struct gpush_http *h, const char *method, const char *url,
    struct curl_slist *hdrs, const char *body, size_t body_len,
    struct gpush_http_response *resp, long *retry_after, int *retry,
    char *why, size_t whysz)
{
	CURL *c = h->curl;
	struct sink s = { NULL, 0, 0, h->max_body, 0 };
	char err[CURL_ERROR_SIZE] = "", host[256], clean[CURL_ERROR_SIZE];
	const char *ct = NULL;
	curl_off_t ra = 0;
	CURLcode rc;
	enum gpush_err e;

	*retry = 0;
	*retry_after = 0;
	curl_easy_reset(c);
	/* The settings that keep a request safe are checked: a libcurl that
	 * cannot restrict the protocol, take the CA file or the proxy
	 * setting would send elsewhere or trust otherwise than asked. */
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK) {
		gpush__why(why, whysz, "libcurl cannot restrict the request to "
		    "https (CURLOPT_PROTOCOLS_STR); nothing was sent");
		return GPUSH_ERR_HTTP;
	}
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->cacert != NULL &&
	    curl_easy_setopt(c, CURLOPT_CAINFO, h->cacert) != CURLE_OK) {
		gpush__why(why, whysz, "libcurl does not take the CA file "
		    "(CURLOPT_CAINFO); nothing was sent");
		return GPUSH_ERR_HTTP;
	}
	/* "" disables every proxy, the environment's included. */
	if (curl_easy_setopt(c, CURLOPT_PROXY, h->proxy ? h->proxy : "") !=
	    CURLE_OK) {
		gpush__why(why, whysz, "libcurl does not take the proxy setting "
		    "(CURLOPT_PROXY); nothing was sent");
		return GPUSH_ERR_HTTP;
	}
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->total_ms);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "gpush/" GPUSH_VERSION);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	if (strcmp(method, "GET") == 0)
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	else {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(body ? body_len : 0));
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	rc = curl_easy_perform(c);
	/* err lives on this stack frame: libcurl must not keep it. */
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	url_host(url, host, sizeof(host));
	gpush__sanitize(clean, sizeof(clean), err[0] ? err : curl_easy_strerror(rc),
	    strlen(err[0] ? err : curl_easy_strerror(rc)));
	if (s.too_big) {
		gpush__why(why, whysz, "%s: the answer is larger than %zu bytes",
		    host, h->max_body);
		e = GPUSH_ERR_RESPONSE;
		goto fail;
	}
	if (rc != CURLE_OK) {
		*retry = retry_code(rc);
		if (rc == CURLE_OPERATION_TIMEDOUT) {
			gpush__why(why, whysz, "%s: no answer in time (%s)", host, clean);
			e = GPUSH_ERR_TIMEOUT;
		} else if (rc == CURLE_PEER_FAILED_VERIFICATION ||
		    rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM ||
		    rc == CURLE_SSL_CONNECT_ERROR) {
			gpush__why(why, whysz, "%s: TLS: the server's certificate was "
			    "refused (%s)%s", host, clean, h->cacert ? "" :
			    "; for a private CA give --cacert FILE or GPUSH_CACERT");
			e = GPUSH_ERR_HTTP;
		} else if (rc == CURLE_OUT_OF_MEMORY) {
			e = GPUSH_ERR_NOMEM;
			gpush__why(why, whysz, "%s", gpush_strerror(e));
		} else if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT) {
			gpush__why(why, whysz, "not an https:// URL (%s)", clean);
			e = GPUSH_ERR_ARG;
		} else {
			gpush__why(why, whysz, "%s: %s", host, clean);
			e = GPUSH_ERR_HTTP;
		}
		goto fail;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK &&
	    ct != NULL && (resp->content_type = strdup(ct)) == NULL) {
		free(s.buf);
		return GPUSH_ERR_NOMEM;
	}
	if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
		*retry_after = ra > 3600 ? 3600000L : (long)ra * 1000;
	if (s.buf == NULL && (s.buf = calloc(1, 1)) == NULL)
		return GPUSH_ERR_NOMEM;
	resp->body = s.buf;
	resp->len = s.len;
	*retry = retry_status(resp->status);
	return GPUSH_OK;
fail:
	free(s.buf);
	return e;
}

/* A uniformly random delay in [max/2, max] ms: exponential backoff with
 * "equal jitter", so that a retry never comes at once. */
static long
jitter(long max)
{
	uint32_t r = 0;

	if (max <= 1)
		return max;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (uint32_t)mono_ms() * 2654435761u;
	return max / 2 + (long)(r % (uint32_t)(max / 2 + 1));
}

enum gpush_err
gpush_http_request(struct gpush_http *h, const char *method, const char *url,
    const char *const *headers, const char *body, size_t body_len,
    struct gpush_http_response *resp, char *why, size_t whysz)
{
	struct curl_slist *hdrs = NULL, *n;
	int64_t start = mono_ms();
	long delay, retry_after;
	enum gpush_err e = GPUSH_ERR_INTERNAL;
	int tries = 0, retry, unsure = 0;

	memset(resp, 0, sizeof(*resp));
	gpush__why(why, whysz, "%s", "");
	if (h == NULL || method == NULL || url == NULL ||
	    strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(method) ||
	    method[0] == '\0' || strncmp(url, "https://", 8) != 0) {
		gpush__why(why, whysz, "a request needs a method and an https:// URL");
		return GPUSH_ERR_ARG;
	}
	delay = h->base_ms;
	/* No "Expect: 100-continue" round trip for bodies over 1 KiB. */
	if ((hdrs = curl_slist_append(NULL, "Expect:")) == NULL)
		return GPUSH_ERR_NOMEM;
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
		if ((n = curl_slist_append(hdrs, headers[i])) == NULL) {
			curl_slist_free_all(hdrs);
			return GPUSH_ERR_NOMEM;
		}
		hdrs = n;
	}
	for (;;) {
		tries++;
		gpush_http_response_clear(resp);
		e = attempt(h, method, url, hdrs, body, body_len, resp,
		    &retry_after, &retry, why, whysz);
		resp->tries = tries;
		/* Sent, and no answer to tell what became of it. */
		int lost = e != GPUSH_OK && (retry == 2 || e == GPUSH_ERR_TIMEOUT ||
		    e == GPUSH_ERR_RESPONSE);
		resp->unsure = unsure + lost;
		if (!retry || tries >= h->tries)
			break;
		long wait = jitter(delay);
		if (retry_after > wait)
			wait = retry_after;
		if (mono_ms() - start + wait > h->retry_total_ms)
			break;
		/* A retried 5xx may have been done too. */
		unsure += lost || retry == 2;
		sleep_ms(wait);
		if (delay < 32000)
			delay *= 2;
	}
	/* The headers may hold a bearer token: libcurl's copies are its
	 * own; ours go. */
	curl_slist_free_all(hdrs);
	if (e != GPUSH_OK) {
		free(resp->body);
		free(resp->content_type);
		resp->body = resp->content_type = NULL;
		resp->len = 0;
		resp->tries = tries;
	}
	return e;
}

/* ---- answers ------------------------------------------------------------------- */

/* 1 when the Content-Type is application/json (parameters allowed). */
static int
is_json_type(const char *ct)
{
	size_t n = strlen("application/json");

	return ct != NULL && strncasecmp(ct, "application/json", n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

enum gpush_err
gpush__http_json(const struct gpush_http_response *r, struct json_object **out)
{
	*out = NULL;
	if (r == NULL || r->body == NULL || !is_json_type(r->content_type))
		return GPUSH_ERR_RESPONSE;
	if (gpush__json_parse(r->body, r->len, out) != GPUSH_OK ||
	    !json_object_is_type(*out, json_type_object)) {
		json_object_put(*out);
		*out = NULL;
		return GPUSH_ERR_RESPONSE;
	}
	return GPUSH_OK;
}

/* Copies string member key of o (sanitized) into dst; 1 when found. */
static int
copy_member(struct json_object *o, const char *key, char *dst, size_t dstsz)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return 0;
	gpush__sanitize(dst, dstsz, json_object_get_string(v),
	    (size_t)json_object_get_string_len(v));
	return 1;
}

enum gpush_err
gpush_google_error_parse(const struct gpush_http_response *r,
    struct gpush_google_error *e)
{
	struct json_object *o = NULL, *err, *errs, *first = NULL;
	char ct[64];

	memset(e, 0, sizeof(*e));
	e->status = r != NULL ? r->status : 0;
	if (r == NULL || gpush__http_json(r, &o) != GPUSH_OK ||
	    !json_object_object_get_ex(o, "error", &err)) {
		const char *t = r && r->content_type ? r->content_type : "none";
		gpush__sanitize(ct, sizeof(ct), t, strlen(t));
		snprintf(e->message, sizeof(e->message), "HTTP %ld with a body "
		    "that is not Google's JSON error (Content-Type %s, %zu bytes)",
		    e->status, ct, r ? r->len : 0);
		json_object_put(o);
		return GPUSH_ERR_RESPONSE;
	}
	if (json_object_is_type(err, json_type_string)) {
		/* The OAuth token endpoint: {"error": "invalid_grant",
		 * "error_description": "..."} (RFC 6749 §5.2). */
		copy_member(o, "error", e->reason, sizeof(e->reason));
		copy_member(o, "error_description", e->message, sizeof(e->message));
	} else if (json_object_is_type(err, json_type_object)) {
		if (json_object_object_get_ex(err, "errors", &errs) &&
		    json_object_is_type(errs, json_type_array) &&
		    json_object_array_length(errs) > 0)
			first = json_object_array_get_idx(errs, 0);
		if (first != NULL && json_object_is_type(first, json_type_object))
			copy_member(first, "reason", e->reason, sizeof(e->reason));
		if (!copy_member(err, "message", e->message, sizeof(e->message)) &&
		    first != NULL && json_object_is_type(first, json_type_object))
			copy_member(first, "message", e->message, sizeof(e->message));
		copy_member(err, "status", e->state, sizeof(e->state));
	} else {
		json_object_put(o);
		snprintf(e->message, sizeof(e->message), "HTTP %ld with a "
		    "malformed error body", e->status);
		return GPUSH_ERR_RESPONSE;
	}
	json_object_put(o);
	return GPUSH_OK;
}
