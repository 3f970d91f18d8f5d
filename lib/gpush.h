/*
 * gpush.h -- receive Google API push notifications ("web_hook" channels).
 *
 * libgpush is the whole of gpush but the HTTP plumbing: the channel model,
 * parsing and validating a notification from its X-Goog-* headers, the
 * flat-file channel registry, the per-channel dedup state and the durable
 * line-delimited JSON log.  It never exits, never writes to stdout and
 * reads no environment variable but GPUSH_LIBPQ (where libpq is, for a
 * database store: see "A PostgreSQL database as the store"); every
 * failure is an enum gpush_err.
 *
 * Ownership: every _new() pairs with a _free(), and _free(NULL) does
 * nothing.  Strings returned by accessors are borrowed from their handle
 * and live as long as it does.
 */
#ifndef GPUSH_H
#define GPUSH_H

#include <stddef.h>
#include <stdint.h>

/* Marks the functions libgpush.so exports; everything else in the
 * library is built -fvisibility=hidden (lib/gpush_private.h's gpush__
 * internals stay inside). */
#if defined(__GNUC__) || defined(__clang__)
#define GPUSH_API __attribute__((visibility("default")))
#else
#define GPUSH_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The version is the Makefile's VERSION: pkg-config --modversion gpush. */

/* Limits from Google's push guide: "Maximum length: 64 characters" for the
 * channel id, 256 for the token.  The body limit is gpush's own. */
#define GPUSH_ID_MAX      64
#define GPUSH_TOKEN_MAX   256
#define GPUSH_HEADER_MAX  2048
#define GPUSH_BODY_MAX    (64 * 1024)
/* Numbers remembered per channel for exactly-once delivery. */
#define GPUSH_DEDUP_WINDOW 1024

#define GPUSH_REGISTRY_FILE "channels.jsonl"
#define GPUSH_LOG_FILE      "notifications.ndjson"
#define GPUSH_STATE_DIR     "state"

/*
 * One error enum for the library, the handler and the tool, grouped by
 * the layer that produces each code.  gpush_http_status() maps it to what
 * Google should see.
 *
 * errno is part of the contract: when a function of this library returns
 * GPUSH_ERR_IO, errno holds the system's reason (ENOENT, ENOTDIR, EACCES,
 * ENOSPC...), left as the failing call set it, for the caller's message.
 * After any other result errno is unspecified.
 */
enum gpush_err {
	GPUSH_OK = 0,
	/* Any layer. */
	GPUSH_ERR_NOMEM,        /* out of memory */
	GPUSH_ERR_ARG,          /* a caller passed something invalid (a bug) */
	/* The request as sent (the handler, notification.c): Google's
	 * sender is at fault, so a 4xx that is not retried. */
	GPUSH_ERR_METHOD,       /* request method is not POST */
	GPUSH_ERR_LENGTH,       /* CONTENT_LENGTH malformed or body short */
	GPUSH_ERR_NOLENGTH,     /* a body without CONTENT_LENGTH (chunked) */
	GPUSH_ERR_PROXY,        /* a Proxy: header (httpoxy) */
	GPUSH_ERR_TOOBIG,       /* body over GPUSH_BODY_MAX */
	GPUSH_ERR_HEADER,       /* an X-Goog-* header missing or malformed */
	GPUSH_ERR_NUMBER,       /* message number not an integer 1..2^63-1 */
	GPUSH_ERR_SYNC,         /* sync message with a number other than 1 */
	GPUSH_ERR_DATE,         /* X-Goog-Channel-Expiration unparsable */
	GPUSH_ERR_BODY,         /* body is not valid UTF-8 JSON */
	/* The request against the registry and the dedup state
	 * (notification.c's verify, the store): 4xx. */
	GPUSH_ERR_TOKEN,        /* token missing or wrong */
	GPUSH_ERR_CHANNEL,      /* channel id not in the registry */
	GPUSH_ERR_EXPIRED,      /* channel expiration in the past */
	GPUSH_ERR_REPLAY,       /* number older than the whole dedup window */
	/* Storage (the store and the registry): a retry may cure it, 503. */
	GPUSH_ERR_IO,           /* storage failed now (ENOSPC, EIO, EACCES); errno set */
	GPUSH_ERR_LOCK,         /* a lock was not granted in time */
	/* The data directory's content and set-up (store, registry,
	 * handler). */
	GPUSH_ERR_PARSE,        /* a registry or state line is malformed */
	GPUSH_ERR_CONFIG,       /* no data directory configured */
	/* The channel tool's own lookups and edits (never the library). */
	GPUSH_ERR_NOTFOUND,     /* no such entry */
	GPUSH_ERR_EXISTS,       /* entry exists already */
	/* Any layer. */
	GPUSH_ERR_INTERNAL,     /* anything unexpected */
	/* ---- talking to Google (credentials.c jwt.c http.c oauth.c) ---- */
	GPUSH_ERR_CREDENTIALS,  /* credentials missing, unreadable, malformed,
	                         * too open, or a token command that failed */
	GPUSH_ERR_AUTH,         /* the token endpoint refused (OAuth error) */
	GPUSH_ERR_HTTP,         /* connection, TLS or certificate failure */
	GPUSH_ERR_TIMEOUT,      /* a call, or its retries, ran out of time */
	GPUSH_ERR_REMOTE,       /* Google answered with an error status */
	GPUSH_ERR_RESPONSE,     /* an answer too large, or not the JSON due */
	/* ---- the kind of store ---- */
	GPUSH_ERR_NOTSUP,       /* not done by this kind of store (rotate on
	                         * a database store) */
	GPUSH_ERR__MAX
};

/* A human-readable, static description of err; never NULL. */
GPUSH_API const char *gpush_strerror(enum gpush_err err);

/*
 * The HTTP status that tells Google the right thing about err: 2xx counts
 * as delivered, 500/502/503/504 are retried with backoff, anything else is
 * a failure Google does not retry.  GPUSH_OK maps to 200.
 */
GPUSH_API int gpush_http_status(enum gpush_err err);

/* ---- Channels (Google's channel resource) ------------------------------ */

struct gpush_channel;

/* An empty channel; NULL when out of memory. */
GPUSH_API struct gpush_channel *gpush_channel_new(void);
GPUSH_API void gpush_channel_free(struct gpush_channel *c);

/*
 * Parses one channel resource from JSON text (a registry line or a watch
 * response).  expiration may be a number or a string of digits.  Unknown
 * keys are ignored.  On success *out is a new channel the caller frees; on
 * error *out is NULL.
 */
GPUSH_API enum gpush_err gpush_channel_parse(const char *json, size_t len,
    struct gpush_channel **out);

/*
 * Channel.update(): every channel key present in the JSON object text and
 * not null overwrites the field in c.  On error c is unchanged.
 */
GPUSH_API enum gpush_err gpush_channel_update(struct gpush_channel *c,
    const char *json, size_t len);

/*
 * Takes Google's answer to a watch call of c, strictly (issue 10's
 * review): the answer's id, token and address, when present, must be the
 * ones c holds (an answer does not move the channel or its secret); it
 * must have a resourceId of 1..GPUSH_RESOURCE_ID_MAX characters of
 * A-Z a-z 0-9 - _ . ~ + / =; a resourceUri, if any, of text without
 * control characters, at most GPUSH_URL_MAX bytes; an expiration, if any,
 * after now_ms and not after max_ms (0: no maximum).  Then only
 * resourceId, resourceUri and expiration are merged (the keys that
 * Channel.update() learns from a watch answer; type and params stay
 * what was sent).  OK; PARSE with *problem (a static sentence) when the
 * answer is refused, c then unchanged; NOMEM.
 */
#define GPUSH_RESOURCE_ID_MAX 256
GPUSH_API enum gpush_err gpush_channel_take_answer(struct gpush_channel *c,
    const char *json, size_t len, int64_t now_ms, int64_t max_ms,
    const char **problem);

/* Field accessors; strings are borrowed, NULL when absent. */
GPUSH_API const char *gpush_channel_id(const struct gpush_channel *c);
GPUSH_API const char *gpush_channel_token(const struct gpush_channel *c);
GPUSH_API const char *gpush_channel_type(const struct gpush_channel *c);
GPUSH_API const char *gpush_channel_address(const struct gpush_channel *c);
GPUSH_API const char *gpush_channel_resource_id(const struct gpush_channel *c);
GPUSH_API const char *gpush_channel_resource_uri(const struct gpush_channel *c);
/* Expiration in ms since the epoch; 0 when the channel has none. */
GPUSH_API int64_t gpush_channel_expiration(const struct gpush_channel *c);

/* Setters copy value (NULL clears).  GPUSH_ERR_ARG when a value breaks a
 * limit (id over 64, token over 256, control bytes, not UTF-8). */
GPUSH_API enum gpush_err gpush_channel_set(struct gpush_channel *c, const char *key,
    const char *value);
GPUSH_API enum gpush_err gpush_channel_set_expiration(struct gpush_channel *c,
    int64_t ms);
GPUSH_API enum gpush_err gpush_channel_set_param(struct gpush_channel *c,
    const char *key, const char *value);

/*
 * gpush's own keys of a registry entry (issue 10): names "gpush" followed
 * by letters or digits (e.g. "gpushWatch", the watch URL the channel was
 * made with), string values of UTF-8 text up to GPUSH_EXTRA_MAX bytes.
 * A registry line keeps them through parse, update and the record form;
 * the handler ignores them; the body form (sent to Google) leaves them
 * out, and a watch response merged by gpush_channel_update cannot set
 * them.  get: borrowed, NULL when absent.  set: NULL value removes; ARG
 * for a bad key or value.
 */
#define GPUSH_EXTRA_MAX 8192
GPUSH_API const char *gpush_channel_extra(const struct gpush_channel *c,
    const char *key);
GPUSH_API enum gpush_err gpush_channel_set_extra(struct gpush_channel *c,
    const char *key, const char *value);

/*
 * Serializes c as one JSON line without the newline.  GPUSH_CHANNEL_BODY
 * gives what Channel.body() gives for a watch request (id, token, type,
 * address, then params, resourceId, resourceUri, expiration when set);
 * GPUSH_CHANNEL_RECORD gives the registry form, which also keeps "kind".
 * *out is a NUL-terminated string the caller frees; NULL on error.
 */
enum gpush_channel_form { GPUSH_CHANNEL_BODY, GPUSH_CHANNEL_RECORD };
GPUSH_API enum gpush_err gpush_channel_json(const struct gpush_channel *c,
    enum gpush_channel_form form, char **out);

/* ---- Notifications ------------------------------------------------------ */

/*
 * Returns the value of one request header, looked up by its canonical
 * name ("X-Goog-Channel-ID"), case-insensitively; NULL when absent.  The
 * value must stay valid while gpush_notification_parse() runs (it is
 * checked in place before it is copied).
 */
typedef const char *(*gpush_header_fn)(void *ctx, const char *name);

/* A gpush_header_fn over a CGI environment (envp as in main()): it maps
 * "X-Goog-Channel-ID" to HTTP_X_GOOG_CHANNEL_ID and reads nothing else. */
GPUSH_API const char *gpush_header_cgi(void *envp, const char *name);

struct gpush_notification;

/*
 * notification_from_headers(): reads and validates the X-Goog-* headers.
 * Every header is checked for length, control bytes and UTF-8 before use.
 * On success *out is a new notification the caller frees; on error *out
 * is NULL and the error says what was wrong (HEADER, NUMBER, SYNC, DATE).
 */
GPUSH_API enum gpush_err gpush_notification_parse(gpush_header_fn get, void *ctx,
    struct gpush_notification **out);
GPUSH_API void gpush_notification_free(struct gpush_notification *n);

GPUSH_API const char *gpush_notification_channel_id(const struct gpush_notification *n);
GPUSH_API const char *gpush_notification_token(const struct gpush_notification *n);
GPUSH_API const char *gpush_notification_state(const struct gpush_notification *n);
GPUSH_API const char *gpush_notification_resource_id(const struct gpush_notification *n);
GPUSH_API const char *gpush_notification_resource_uri(const struct gpush_notification *n);
GPUSH_API int64_t gpush_notification_number(const struct gpush_notification *n);
/* From X-Goog-Channel-Expiration, ms since the epoch; -1 when absent. */
GPUSH_API int64_t gpush_notification_expiration(const struct gpush_notification *n);

/*
 * Attaches the request body.  An empty body is allowed; otherwise it must
 * be valid UTF-8 JSON no larger than GPUSH_BODY_MAX.  On error the
 * notification keeps no body.
 */
GPUSH_API enum gpush_err gpush_notification_set_body(struct gpush_notification *n,
    const char *body, size_t len);

/*
 * Checks n against its registry channel at time now_ms: the token (in
 * constant time) and the expiration.  Returns TOKEN, EXPIRED or OK.
 */
GPUSH_API enum gpush_err gpush_notification_verify(const struct gpush_notification *n,
    const struct gpush_channel *c, int64_t now_ms);

/*
 * The log record of n received at now_ms, as one JSON line ending in
 * '\n'; never contains the token.  *out is the caller's to free, *len its
 * length; on error *out is NULL and *len 0.
 */
GPUSH_API enum gpush_err gpush_notification_record(const struct gpush_notification *n,
    int64_t now_ms, char **out, size_t *len);

/* ---- Small helpers shared by the handler and the tool ------------------- */

/* Parses an RFC 1123 date ("Tue, 29 Oct 2013 20:32:02 GMT") into ms since
 * the epoch.  On error *ms is 0. */
GPUSH_API enum gpush_err gpush_parse_rfc1123(const char *s, int64_t *ms);
/* Formats ms as RFC 3339 UTC with milliseconds into buf (>= 25 bytes). */
GPUSH_API void gpush_format_rfc3339(int64_t ms, char buf[25]);
/* Wall clock in ms since the epoch. */
GPUSH_API int64_t gpush_now_ms(void);
/* 1 when a and b are equal, compared in time independent of content. */
GPUSH_API int gpush_secret_equal(const char *a, const char *b);

/* ---- The data directory -------------------------------------------------- */

struct gpush_store;

/*
 * Opens the data directory dir: creates state/ (0700) on first use and the
 * shared bookkeeping files in it (0600).  On success *out is a new store
 * the caller frees; on error *out is NULL: CONFIG when dir is NULL or "",
 * IO with errno set when dir is unusable (ENOENT, ENOTDIR, EACCES...).
 * A lock is waited for 10 s at most before GPUSH_ERR_LOCK.
 */
GPUSH_API enum gpush_err gpush_store_open(const char *dir, struct gpush_store **out);
GPUSH_API void gpush_store_free(struct gpush_store *s);
GPUSH_API const char *gpush_store_dir(const struct gpush_store *s);

/* Durability: when off, accepted lines are not fdatasync'ed (GPUSH_SYNC=0). */
GPUSH_API void gpush_store_set_sync(struct gpush_store *s, int on);
/* FastCGI: keep the parsed registry between requests (default off). */
GPUSH_API void gpush_store_set_cache(struct gpush_store *s, int on);
/* Receives one line per problem that is not an error of the request
 * (a malformed registry line, a repaired log tail); default: none. */
typedef void (*gpush_warn_fn)(void *ctx, const char *msg);
GPUSH_API void gpush_store_set_warn(struct gpush_store *s, gpush_warn_fn fn, void *ctx);

/*
 * Looks up channel id in the registry, reloading it when the file was
 * changed or replaced.  On success *out is borrowed from the store and
 * valid until the next store call; on error *out is NULL (CHANNEL when
 * absent, IO when the registry cannot be read).
 */
GPUSH_API enum gpush_err gpush_store_channel(struct gpush_store *s, const char *id,
    const struct gpush_channel **out);

/*
 * Exactly-once append of a verified notification: checks the dedup state,
 * appends the record to the log, waits until it is on stable storage (one
 * fdatasync may cover several processes' lines), then records the number.
 * *duplicate is 1 when the number was accepted before (nothing written).
 * Returns OK only when the line is durable and remembered; REPLAY, IO or
 * LOCK otherwise, with nothing partial left in the log.
 */
GPUSH_API enum gpush_err gpush_store_accept(struct gpush_store *s,
    const struct gpush_notification *n, int64_t now_ms, int *duplicate);

/* Per-channel bookkeeping as the dedup state knows it. */
struct gpush_channel_stats {
	int64_t  last_number;   /* newest number accepted; 0 if none */
	uint64_t accepted;      /* notifications accepted in all */
	int64_t  last_at_ms;    /* when the state was last written; 0 if never */
};
/* Fills *st for channel id (all zero when nothing was received). */
GPUSH_API enum gpush_err gpush_store_stats(struct gpush_store *s, const char *id,
    struct gpush_channel_stats *st);
/*
 * Forgets what the dedup state knows of channel id (its journal is
 * removed under the log lock), so that a channel made again with the same
 * id starts afresh instead of taking its first messages for duplicates.
 * Call it once the channel is out of the registry.  OK also when there
 * was nothing to forget.
 */
GPUSH_API enum gpush_err gpush_store_forget(struct gpush_store *s, const char *id);
/* Checks the state of channel id; GPUSH_ERR_PARSE when inconsistent. */
GPUSH_API enum gpush_err gpush_store_check_state(struct gpush_store *s, const char *id);

/* ---- Registry changes (the channel tool) -------------------------------- */

/*
 * Rewrites the registry under the registry lock.  fn is called once per
 * non-blank line (c is the parsed channel, NULL when the line does not
 * parse) and sets *keep to a malloc'ed line to keep in its place, or NULL
 * to drop it.  When more is not NULL it is called last, repeatedly, and
 * sets *line to a malloc'ed line to append, NULL when done.  A callback
 * that returns anything but GPUSH_OK aborts the edit: nothing changes and
 * that error is returned.  The new registry is written to a temporary
 * file, fsync'ed, renamed into place and the directory fsync'ed; mode
 * 0600.  On any error the registry is unchanged.
 */
typedef enum gpush_err (*gpush_edit_fn)(void *ctx, const char *line,
    const struct gpush_channel *c, char **keep);
typedef enum gpush_err (*gpush_more_fn)(void *ctx, char **line);
GPUSH_API enum gpush_err gpush_store_edit(struct gpush_store *s, gpush_edit_fn fn,
    gpush_more_fn more, void *ctx);

/*
 * Calls fn for each non-blank line of dir's registry, in file order,
 * read-only and without a lock (the registry is only ever replaced
 * whole), so it also serves a checker that must not create state/.
 * lineno counts from 1; c is the parsed channel, or NULL and e says why.
 * fn returns 0 to go on; anything else stops the walk and is stored in
 * *stopped (0 when it ran to the end).  A missing registry is empty.
 * Returns OK; ARG when dir or fn is NULL; IO (errno set) or NOMEM when
 * the file cannot be read.
 */
typedef int (*gpush_each_fn)(void *ctx, size_t lineno, const char *line,
    const struct gpush_channel *c, enum gpush_err e);
GPUSH_API enum gpush_err gpush_registry_foreach(const char *dir, gpush_each_fn fn,
    void *ctx, int *stopped);

/*
 * Renames the log to .1 (shifting .1..keep-1 up, dropping what is past
 * keep) while holding the log lock, after syncing it, so that no line is
 * lost, torn or appended to the old file afterwards.
 */
GPUSH_API enum gpush_err gpush_store_rotate(struct gpush_store *s, int keep);

/* ---- The Google API of a channel (api.c, issue 10) ---------------------- */

/*
 * A watch URL tells which API a channel belongs to, the scope its watch
 * needs, where its channels.stop and batch endpoints are (same scheme and
 * host, the API's documented paths) and how it takes a lifetime.
 */
#define GPUSH_URL_MAX 4096
enum gpush_api_kind {
	GPUSH_API_DIRECTORY, GPUSH_API_REPORTS, GPUSH_API_DRIVE,
	GPUSH_API_CALENDAR
};
/* How a lifetime is asked for: params.ttl (seconds) or expiration (ms). */
enum gpush_ttl_how { GPUSH_TTL_PARAM, GPUSH_TTL_EXPIRATION };
struct gpush_api;

/* Parses a watch URL (https, a documented watch path; any host).  *out
 * is the caller's; NULL and ARG when url is not one. */
GPUSH_API enum gpush_err gpush_api_from_url(const char *url, struct gpush_api **out);
GPUSH_API void gpush_api_free(struct gpush_api *a);
GPUSH_API enum gpush_api_kind gpush_api_kind(const struct gpush_api *a);
/* "directory", "reports", "drive", "calendar" (static). */
GPUSH_API const char *gpush_api_name(const struct gpush_api *a);
/* "users", "aliases", "activities", "files", "changes", "events", ... */
GPUSH_API const char *gpush_api_resource(const struct gpush_api *a);
/* The default OAuth scope, full URL form (static). */
GPUSH_API const char *gpush_api_scope(const struct gpush_api *a);
GPUSH_API const char *gpush_api_watch_url(const struct gpush_api *a);
/* The URL's path and query: a batch part's request target. */
GPUSH_API const char *gpush_api_target(const struct gpush_api *a);
/* "https://host[:port]" of the watch URL. */
GPUSH_API const char *gpush_api_origin(const struct gpush_api *a);
GPUSH_API const char *gpush_api_stop_url(const struct gpush_api *a);
GPUSH_API const char *gpush_api_batch_url(const struct gpush_api *a);
GPUSH_API enum gpush_ttl_how gpush_api_ttl_how(const struct gpush_api *a);
/* Seconds; max 0 when Google publishes none (Calendar). */
GPUSH_API int64_t gpush_api_ttl_default(const struct gpush_api *a);
GPUSH_API int64_t gpush_api_ttl_max(const struct gpush_api *a);
/* 1 when a and b share their stop and batch endpoints. */
GPUSH_API int gpush_api_same(const struct gpush_api *a, const struct gpush_api *b);
/* Asks for a lifetime of secs the API's way (capped at its maximum,
 * *capped = 1 then).  c unchanged on error. */
GPUSH_API enum gpush_err gpush_api_set_ttl(const struct gpush_api *a,
    struct gpush_channel *c, int64_t secs, int64_t now_ms, int *capped);

/* Short names of the tool and what they expand to. */
struct gpush_api_short {
	const char *name;       /* "drive-file", ... */
	const char *arg;        /* the operand after it, or NULL */
	const char *domain, *customer, *event;  /* directory-users */
	const char *page_token; /* drive-changes */
	const char *user;       /* reports-activity (default "all") */
};
GPUSH_API int gpush_api_is_short(const char *name);
GPUSH_API enum gpush_err gpush_api_short_url(const struct gpush_api_short *s,
    char **url);

/* ---- Batch requests (batch.c, issue 10) ---------------------------------- */

/* Calls in one batch (Drive's limit; the others allow 1000), the bytes
 * of one part's body and of a whole batch request or answer. */
#define GPUSH_BATCH_MAX        100
#define GPUSH_BATCH_PART_MAX   (1u << 20)
#define GPUSH_BATCH_MAX_BYTES  (8u << 20)

/* One call: "POST", the path and query, a JSON body or NULL. */
struct gpush_batch_call {
	const char *method;
	const char *target;
	const char *body;
};
/* The multipart/mixed body of calls[0..n); part i is <item-(i+1)>.
 * Send it with "Content-Type: multipart/mixed; boundary=BOUNDARY". */
GPUSH_API enum gpush_err gpush_batch_build(const struct gpush_batch_call *calls,
    size_t n, const char *boundary, char **out, size_t *len);

/* The answer, matched to the calls by Content-ID. */
struct gpush_batch_result;
GPUSH_API enum gpush_err gpush_batch_parse(const char *content_type, const char *body,
    size_t len, size_t n, struct gpush_batch_result **out);
GPUSH_API void gpush_batch_result_free(struct gpush_batch_result *r);
GPUSH_API size_t gpush_batch_count(const struct gpush_batch_result *r);
/* Inner HTTP status of call i; 0 when no part answered it. */
GPUSH_API int gpush_batch_status(const struct gpush_batch_result *r, size_t i);
/* Inner body of call i (NUL-terminated, borrowed); NULL when unanswered. */
GPUSH_API const char *gpush_batch_body(const struct gpush_batch_result *r, size_t i,
    size_t *len);
/* Parts that answered no call (unknown or repeated Content-ID). */
GPUSH_API size_t gpush_batch_extra(const struct gpush_batch_result *r);
/* ==== Talking to Google: credentials, access tokens, HTTP ================
 * lib/credentials.c, lib/jwt.c, lib/http.c, lib/oauth.c.  These use
 * libcurl and OpenSSL's libcrypto; nothing the handler calls references
 * them, so cgi/gpush.fcgi (linked against libgpush.a) links neither.
 *
 * Failures that a person must act on come with an explanation: the
 * functions below that take (char *why, size_t whysz) write one line of
 * text there (NUL-terminated, truncated to whysz; "" on success).  It
 * never holds a secret: no private key, refresh token, client secret or
 * access token is ever put into it.
 */

/* Where the refresh-token grant goes when an authorized_user file has no
 * token_uri (google-auth's _GOOGLE_OAUTH2_TOKEN_ENDPOINT). */
#define GPUSH_TOKEN_URI_DEFAULT "https://oauth2.googleapis.com/token"
/* A credentials file larger than this is refused (they are about 2.3 KiB). */
#define GPUSH_CREDENTIALS_MAX   (64 * 1024)
/* The default cap of a response body; more is GPUSH_ERR_RESPONSE. */
#define GPUSH_HTTP_BODY_MAX     (1024 * 1024)
/* A buffer this large always holds a whole explanation. */
#define GPUSH_WHY_MAX           1024

/* Looks up an environment variable; getenv itself fits. */
typedef char *(*gpush_env_fn)(const char *name);

/* ---- Credentials (credentials.c) ----------------------------------------- */

struct gpush_credentials;

enum gpush_credentials_kind {
	GPUSH_CREDENTIALS_SERVICE_ACCOUNT = 1, /* JWT-bearer grant */
	GPUSH_CREDENTIALS_AUTHORIZED_USER,     /* refresh-token grant */
	GPUSH_CREDENTIALS_COMMAND              /* a program prints a token */
};

/*
 * Reads a credentials file (type service_account or authorized_user).
 * Refused (CREDENTIALS, why says so with the chmod to run) when the file
 * is readable or writable by group or others, not a regular file, larger
 * than GPUSH_CREDENTIALS_MAX, not JSON, of another type, or missing a
 * required field.  On success *out is new (the caller frees); on error
 * *out is NULL.
 */
GPUSH_API enum gpush_err gpush_credentials_load(const char *path,
    struct gpush_credentials **out, char *why, size_t whysz);

/*
 * Parses credentials from JSON text; origin names them in describe() and
 * messages (a path, or NULL).  No file-mode check.  Same results as
 * gpush_credentials_load().
 */
GPUSH_API enum gpush_err gpush_credentials_parse(const char *json, size_t len,
    const char *origin, struct gpush_credentials **out, char *why,
    size_t whysz);

/*
 * Application Default Credentials, found as Google's client libraries
 * find them: path when not NULL, else $GOOGLE_APPLICATION_CREDENTIALS,
 * else $CLOUDSDK_CONFIG/application_default_credentials.json, else
 * $HOME/.config/gcloud/application_default_credentials.json.  env looks
 * the variables up (pass getenv; the library reads none itself).  Then
 * as gpush_credentials_load().  CREDENTIALS with why naming every place
 * tried when none exists.
 */
GPUSH_API enum gpush_err gpush_credentials_find(const char *path, gpush_env_fn env,
    struct gpush_credentials **out, char *why, size_t whysz);

/*
 * Credentials that are a command: each token is what `/bin/sh -c command`
 * prints on stdout (at most 4 KiB, trimmed of surrounding white space,
 * only the characters of an OAuth token), exit status 0 within the HTTP
 * handle's whole-call timeout.  The command is copied.  *out NULL on
 * error.
 */
GPUSH_API enum gpush_err gpush_credentials_command(const char *command,
    struct gpush_credentials **out);

GPUSH_API void gpush_credentials_free(struct gpush_credentials *c);
GPUSH_API enum gpush_credentials_kind gpush_credentials_kind(
    const struct gpush_credentials *c);
/*
 * A description for a person, borrowed from c: the kind, client_email or
 * client_id, and the file ("service account sa@p.iam.gserviceaccount.com
 * (client id 1234) from /etc/gpush/sa.json").  Never a secret.
 */
GPUSH_API const char *gpush_credentials_describe(const struct gpush_credentials *c);
/* client_email of a service account, else NULL (borrowed). */
GPUSH_API const char *gpush_credentials_email(const struct gpush_credentials *c);
/* The (numeric) client_id, else NULL (borrowed); the delegation key. */
GPUSH_API const char *gpush_credentials_client_id(const struct gpush_credentials *c);

/* ---- The JWT of the jwt-bearer grant (jwt.c) ----------------------------- */

/*
 * The signed assertion for a service account, RFC 7523 as Google wants
 * it: header {"alg":"RS256","typ":"JWT","kid":private_key_id}, claims
 * iss, scope (space-separated), aud (token_uri), iat = now, exp = now +
 * 3600, sub when subject is not NULL; base64url without padding.  *out
 * is new (the caller frees; it is a bearer secret for an hour); NULL on
 * error (ARG for other kinds of credentials, CREDENTIALS for a key that
 * does not load or sign).
 */
GPUSH_API enum gpush_err gpush_jwt_assertion(const struct gpush_credentials *c,
    const char *subject, const char *scope, int64_t now, char **out);

/* ---- HTTP (http.c) --------------------------------------------------------- */

struct gpush_http;

/*
 * A new HTTP client with the defaults: certificates verified against the
 * system's CAs (verification cannot be turned off), connect timeout 10 s,
 * whole call 60 s, 5 tries within 120 s, body cap GPUSH_HTTP_BODY_MAX, no
 * proxy (the *_proxy environment variables are ignored: a proxy is set
 * with gpush_http_set_proxy only).  NULL when out of memory or libcurl
 * does not initialize.  curl_global_init is done once per process.
 */
GPUSH_API struct gpush_http *gpush_http_new(void);
GPUSH_API void gpush_http_free(struct gpush_http *h);
/* Trust the CAs in file (PEM) instead of the system's; copied.  ARG when
 * the file cannot be read. */
GPUSH_API enum gpush_err gpush_http_set_cacert(struct gpush_http *h, const char *file);
/* Timeouts in ms (> 0; others leave the value as it is). */
GPUSH_API void gpush_http_set_timeouts(struct gpush_http *h, long connect_ms,
    long total_ms);
/* Retries of 429/500/502/503/504 and connection failures: at most tries
 * attempts in all (>= 1) within total_ms, first delay base_ms doubled
 * each time, with full jitter. */
GPUSH_API void gpush_http_set_retry(struct gpush_http *h, int tries, long total_ms,
    long base_ms);
/* Largest body accepted (> 0). */
GPUSH_API void gpush_http_set_max_body(struct gpush_http *h, size_t max);
/* An explicit proxy URL (copied), or NULL for none. */
GPUSH_API enum gpush_err gpush_http_set_proxy(struct gpush_http *h, const char *url);

/* One answer.  Fields owned by the struct; gpush_http_response_clear()
 * frees them and zeroes it. */
struct gpush_http_response {
	long    status;         /* HTTP status; 0 when none arrived */
	char   *body;           /* NUL-terminated (may hold NULs); never NULL
	                         * after a successful call */
	size_t  len;
	char   *content_type;   /* the Content-Type header, or NULL */
	int     tries;          /* attempts made */
	int     unsure;         /* attempts that may have reached the server
	                         * and been acted on without a readable
	                         * answer: the connection lost after sending,
	                         * a timeout, an answer over the cap, or a 5xx
	                         * that was retried.  A non-idempotent call (a
	                         * watch) may then have been done already. */
};
GPUSH_API void gpush_http_response_clear(struct gpush_http_response *r);

/*
 * Sends method url with the given headers (NULL-terminated array of
 * "Name: value", may be NULL) and body (NULL for none), retrying as set.
 * Returns OK whenever an answer arrived, whatever its status (the last
 * one when retries ran out): the caller judges resp->status.  HTTP for
 * connection/TLS/certificate failures, TIMEOUT, RESPONSE for a body over
 * the cap, ARG for a bad method or URL.  resp is cleared first; on error
 * it holds no body.  why says what went wrong (never the headers: they
 * may hold a token).
 */
GPUSH_API enum gpush_err gpush_http_request(struct gpush_http *h, const char *method,
    const char *url, const char *const *headers, const char *body,
    size_t body_len, struct gpush_http_response *resp, char *why,
    size_t whysz);

/* Google's JSON error ({"error":{"code","message","errors":[{"reason",
 * "message","domain"}],"status"}}), bounded and stripped of control
 * characters; match on reason, not on the status. */
struct gpush_google_error {
	long status;            /* the HTTP status */
	char reason[96];        /* errors[0].reason, e.g. "push.webhookUrlUnauthorized" */
	char message[384];      /* error.message (or errors[0].message) */
	char state[48];         /* error.status, e.g. "PERMISSION_DENIED" */
};
/*
 * Fills *e from an error answer.  OK when the body is Google's JSON error;
 * RESPONSE when it is not (then e->message says what came: the status
 * and the Content-Type, never the body).  *e is always filled.
 */
GPUSH_API enum gpush_err gpush_google_error_parse(const struct gpush_http_response *r,
    struct gpush_google_error *e);

/* ---- Access tokens (oauth.c) ----------------------------------------------- */

struct gpush_auth;

/*
 * Gets access tokens for (creds, subject, scope) over http; both are
 * borrowed and must outlive the result.  subject (domain-wide delegation,
 * service accounts only) may be NULL; scope is space-separated.  dir is a
 * data directory whose state/ (made 0700 when missing) caches tokens in
 * files of mode 0600, one per SHA-256 of (credentials identity, subject,
 * scope), until a minute before they expire; NULL caches nothing.  Token
 * commands are never cached.  *out NULL on error.
 */
GPUSH_API enum gpush_err gpush_auth_new(const struct gpush_credentials *creds,
    struct gpush_http *http, const char *dir, const char *subject,
    const char *scope, struct gpush_auth **out);
GPUSH_API void gpush_auth_free(struct gpush_auth *a);

/*
 * A valid access token: the cached one, else a new one from the grant
 * (or command).  *token is borrowed from a until the next call on it;
 * *expires_at is in s since the epoch, 0 when unknown (commands).  AUTH
 * with the OAuth error explained in why (delegation missing, clock, ...);
 * HTTP/TIMEOUT/RESPONSE/REMOTE; CREDENTIALS.  On error *token is NULL.
 */
GPUSH_API enum gpush_err gpush_auth_token(struct gpush_auth *a, const char **token,
    int64_t *expires_at, char *why, size_t whysz);

/* Forgets the current token (memory and cache file), e.g. after a 401. */
GPUSH_API enum gpush_err gpush_auth_invalidate(struct gpush_auth *a);

/*
 * gpush_http_request() with "Authorization: Bearer <token>" added; on a
 * 401 it invalidates the token, gets a new one and tries once more.
 * Returns as gpush_http_request(), or the error of getting a token.
 */
GPUSH_API enum gpush_err gpush_auth_request(struct gpush_auth *a, const char *method,
    const char *url, const char *const *headers, const char *body,
    size_t body_len, struct gpush_http_response *resp, char *why,
    size_t whysz);

/* A test hook: the clock, in s since the epoch, used for iat/exp and the
 * cache (NULL: the wall clock). */
GPUSH_API void gpush_auth_set_clock(struct gpush_auth *a, int64_t (*now)(void));

/* ---- Following the log (a consumer) -------------------------------------- */

/*
 * A reader of the log after a saved position, the one `gpush tail` uses:
 * whole lines only, in order, across rotations (the rest of the rotated
 * file the cursor is in, every newer one, then the current log), never a
 * line twice within a run and none skipped as long as the cursor's file
 * is not dropped by rotation (see cursors/ in README).
 *
 *   f = NULL; gpush_log_follow_new(dir, "/var/lib/app/cursor", &f);
 *   for (;;) {
 *       gpush_log_follow_next(f, 100, &data, &len, &n);
 *       if (n == 0) { sleep; continue; }      // nothing new now
 *       work(data, len);                      // n lines, each ending '\n'
 *       gpush_log_follow_done(f, len);        // consumed
 *       gpush_log_follow_commit(f);           // saved: not given again
 *   }
 *   gpush_log_follow_free(f);
 *
 * Committing after the work makes delivery at-least-once: a crash before
 * the commit gives the same lines again on the next run.
 */
struct gpush_log_follow;

/*
 * Opens a reader of dir's log.  cursor_path: the cursor file (the format
 * of `gpush tail --cursor`; absent: start at the beginning of the current
 * log, saved on the first commit), or NULL to start there and never save.
 * On success *out is a new reader the caller frees with
 * gpush_log_follow_free(); on error *out is NULL and errno says why:
 * PARSE when the file is not a cursor, IO (or NOMEM) when it cannot be
 * read, CONFIG when dir cannot be opened.
 */
GPUSH_API enum gpush_err gpush_log_follow_new(const char *dir, const char *cursor_path,
    struct gpush_log_follow **out);
/*
 * The same reader over a PostgreSQL store's notifications (conninfo: a
 * libpq connection string, GPUSH_DATABASE): rows in an order that never
 * skips or repeats one although transactions commit out of id order (see
 * lib/dbfollow.c); its cursor file holds "gpush-db-cursor 1 XID ID".  It
 * connects on the first next() and again after a lost connection (IO,
 * gpush_log_follow_name() then says why, without the connection string).
 * Errors as gpush_log_follow_new's; PARSE for a cursor that is not a
 * database cursor.
 */
GPUSH_API enum gpush_err gpush_log_follow_new_db(const char *conninfo,
    const char *cursor_path, struct gpush_log_follow **out);
GPUSH_API void gpush_log_follow_free(struct gpush_log_follow *f);

/* Receives one line per problem that is not an error (the cursor's file
 * was dropped, the log truncated, a rotated file ends in a partial line);
 * default: none. */
GPUSH_API void gpush_log_follow_set_warn(struct gpush_log_follow *f, gpush_warn_fn fn,
    void *ctx);

/*
 * The next whole lines after the position, at most max_lines (>= 1) and
 * all from one file: *data (borrowed: valid until the next call on f),
 * *len bytes ending in '\n', *nlines lines.  *nlines 0 means nothing is
 * there now (a pass over the files ended); call again later to see new
 * lines.  Calling again without gpush_log_follow_done() gives the same
 * lines (and maybe more).  On error *data is NULL, *len and *nlines 0, and
 * errno and gpush_log_follow_name() say what failed (IO; LOCK when the log
 * was rotated too often to be followed).
 */
GPUSH_API enum gpush_err gpush_log_follow_next(struct gpush_log_follow *f,
    size_t max_lines, const char **data, size_t *len, size_t *nlines);

/* The first len bytes of what next() gave are consumed: len must end a
 * line (0 allowed).  Moves the position in memory only; ARG otherwise. */
GPUSH_API enum gpush_err gpush_log_follow_done(struct gpush_log_follow *f, size_t len);

/* Saves the position atomically (temporary file, fsync, rename, fsync of
 * the directory; mode 0644) when it moved; OK without a cursor file.  IO
 * with errno on failure (the file is then unchanged). */
GPUSH_API enum gpush_err gpush_log_follow_commit(struct gpush_log_follow *f);

/* The name of the log file read last (for messages); never NULL. */
GPUSH_API const char *gpush_log_follow_name(const struct gpush_log_follow *f);

/* ==== A PostgreSQL database as the store (pgstore.c, pgschema.c; issue 14)
 *
 * Several hosts behind a load balancer share one database instead of a
 * data directory.  The same struct gpush_store, the same calls and the
 * same contract (README's status table): gpush_store_channel() reads the
 * channels table, gpush_store_accept() inserts one row into notifications
 * and returns OK only after the transaction committed with
 * synchronous_commit on (off when gpush_store_set_sync(s, 0)); a
 * duplicate -- same channel and number, whichever host saw it first, also
 * at the same moment -- is OK with *duplicate 1 and nothing new (the
 * unique key and INSERT ... ON CONFLICT DO NOTHING decide); REPLAY when
 * the number is older than each of the channel's 1024 newest numbers; IO
 * (503: Google retries) when the connection is lost, the server shuts
 * down or fails over, or a privilege is missing -- the next call
 * reconnects; LOCK when a statement ran past 10 s.  The schema is
 * lib/schema.sql (tables, roles and why), made by gpush_db_migrate()
 * (`gpush db init`); the handler never creates or alters a table.
 *
 * Connection strings are libpq's (key=value or postgresql:// URI).
 * Passwords come from libpq's own means (PGPASSFILE/.pgpass, PGPASSWORD,
 * or the string itself); no message of this library ever holds a
 * password: they name the database by gpush_conninfo_redact().
 *
 * libpq is not linked: it is loaded with dlopen() the first time a
 * database is used in the process (gpush_store_open_database(),
 * gpush_db_migrate(), gpush_conninfo_redact(), a database reader's first
 * next()), so that a program using only data directories never loads it
 * and the libraries it needs.  It is libpq.so.5 (Debian's libpq5), or
 * the path or soname in the environment variable GPUSH_LIBPQ (ignored by
 * set-user-ID programs).  When it cannot be loaded, or lacks a function,
 * those calls fail with IO, errno ELIBACC, and a message (why, or the
 * reader's name) that says so and how to fix it; a later call tries again.
 *
 * gpush_store_dir() is NULL for a database store; gpush_store_rotate()
 * is NOTSUP; gpush_store_forget() has nothing to do (a channel made again
 * gets a new generation: its dedup starts afresh, its old rows stay);
 * gpush_store_set_log_group() is ignored.
 */

/* The schema version this library reads and writes (schema_version). */
#define GPUSH_SCHEMA_VERSION 1

/*
 * Opens a store on the database conninfo (copied): connects (libpq's
 * connect_timeout defaults to 5 s here unless conninfo sets it), sets
 * synchronous_commit on and statement_timeout 10 s for the session, and
 * checks that the schema is there at GPUSH_SCHEMA_VERSION.  On success
 * *out is a new store the caller frees with gpush_store_free(); on error
 * *out is NULL and why (NUL-terminated, truncated to whysz; never a
 * password) says what failed: CONFIG for a connection string that does
 * not parse, or a schema that is missing or of another version (run
 * `gpush db init` / `db upgrade`); IO when the server cannot be reached
 * or refused the login, or (errno ELIBACC) when libpq cannot be loaded.
 */
GPUSH_API enum gpush_err gpush_store_open_database(const char *conninfo,
    struct gpush_store **out, char *why, size_t whysz);

/* 1 when s is a database store, 0 for a data directory. */
GPUSH_API int gpush_store_is_database(const struct gpush_store *s);

/*
 * What the last failed call of s was told by the database, one line for
 * a person (the server's message and SQLSTATE, or libpq's); "" when
 * none.  Borrowed from s, valid until the next call on s.  Never a
 * password; always "" for a data directory.
 */
GPUSH_API const char *gpush_store_error(const struct gpush_store *s);

/*
 * The libpq connection of a database store (a PGconn *: include
 * <libpq-fe.h>), for the tool's own queries (tail, export, import);
 * borrowed, NULL for a data directory or while disconnected.  Leave the
 * session as you found it: no open transaction, the same settings.  A
 * program that links -lpq itself to use it shares one libpq with this
 * library: the dlopen() of libpq.so.5 returns the copy already loaded
 * (unless GPUSH_LIBPQ names another file: leave it unset then).
 */
struct pg_conn;
GPUSH_API struct pg_conn *gpush_store_pg(struct gpush_store *s);

/*
 * Calls fn for each channel of s's registry, like gpush_registry_foreach()
 * (which it is for a data directory): for a database in creation order,
 * line the channels row's registry line, lineno counting from 1.  Returns
 * as gpush_registry_foreach(); IO when the database failed.
 */
GPUSH_API enum gpush_err gpush_store_foreach(struct gpush_store *s,
    gpush_each_fn fn, void *ctx, int *stopped);

/*
 * Writes a form of conninfo fit for messages into buf (NUL-terminated,
 * truncated to sz): its host, hostaddr, port, dbname and user as
 * key=value pairs, never the password nor anything else.  ARG (and buf
 * "(a connection string that does not parse)") when libpq cannot parse
 * it; IO, errno ELIBACC (and buf "(libpq could not be loaded)") when
 * libpq cannot be loaded.
 */
GPUSH_API enum gpush_err gpush_conninfo_redact(const char *conninfo, char *buf,
    size_t sz);

/*
 * Creates the schema on database conninfo, or upgrades it to
 * GPUSH_SCHEMA_VERSION, in one transaction under an advisory lock (two
 * runs at once do it once).  create 1 (`db init`): makes the schema when
 * absent; create 0 (`db upgrade`): an absent schema is CONFIG.  A schema
 * newer than this library is CONFIG.  *from is the version found (0: none),
 * *to the version now.  Grants to the roles gpush_handler and gpush_tool
 * when they exist (lib/roles.sql makes them).  IO when the server failed,
 * or (errno ELIBACC) libpq cannot be loaded; why says what (never a
 * password).
 */
GPUSH_API enum gpush_err gpush_db_migrate(const char *conninfo, int create,
    int *from, int *to, char *why, size_t whysz);

/* The SQL of lib/roles.sql (static): the two roles and their grants, for
 * `gpush db roles` to print and an administrator to run. */
GPUSH_API const char *gpush_db_roles_sql(void);

/* Group-readable log: when on, the handler makes notifications.ndjson
 * (and so its rotated files) mode 0640 (GPUSH_LOG_GROUP=1). Default off. */
GPUSH_API void gpush_store_set_log_group(struct gpush_store *s, int on);

#ifdef __cplusplus
}
#endif
#endif /* GPUSH_H */
