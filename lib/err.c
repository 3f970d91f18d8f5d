/*
 * err.c -- the one error enum: its text and what it means to Google.
 */
#include <errno.h>

#include "gpush_private.h"

static const char *const gpush_errs[GPUSH_ERR__MAX] = {
	[GPUSH_OK]           = "success",
	[GPUSH_ERR_NOMEM]    = "out of memory",
	[GPUSH_ERR_ARG]      = "invalid argument",
	[GPUSH_ERR_METHOD]   = "method not allowed (only POST)",
	[GPUSH_ERR_LENGTH]   = "bad or missing CONTENT_LENGTH, or body shorter than it",
	[GPUSH_ERR_NOLENGTH] = "a body without CONTENT_LENGTH (chunked) is not taken",
	[GPUSH_ERR_PROXY]    = "a Proxy header is not taken (httpoxy)",
	[GPUSH_ERR_TOOBIG]   = "body larger than 64 KiB",
	[GPUSH_ERR_HEADER]   = "X-Goog-* header missing or malformed",
	[GPUSH_ERR_NUMBER]   = "X-Goog-Message-Number is not an integer in 1..2^63-1",
	[GPUSH_ERR_SYNC]     = "sync message with a number other than 1",
	[GPUSH_ERR_DATE]     = "X-Goog-Channel-Expiration is not an RFC 1123 date",
	[GPUSH_ERR_BODY]     = "body is not valid UTF-8 JSON (or nested deeper than 64)",
	[GPUSH_ERR_TOKEN]    = "channel token missing or wrong",
	[GPUSH_ERR_CHANNEL]  = "unknown channel",
	[GPUSH_ERR_EXPIRED]  = "channel expired",
	[GPUSH_ERR_REPLAY]   = "message number older than the dedup window (replay)",
	[GPUSH_ERR_IO]       = "storage unavailable (I/O error, disk full or permission)",
	[GPUSH_ERR_LOCK]     = "timed out waiting for a lock",
	[GPUSH_ERR_PARSE]    = "malformed registry or state entry",
	[GPUSH_ERR_CONFIG]   = "no data directory: set GPUSH_DIR or build with GPUSH_DIR=",
	[GPUSH_ERR_NOTFOUND] = "no such entry",
	[GPUSH_ERR_EXISTS]   = "entry exists already",
	[GPUSH_ERR_INTERNAL] = "internal error",
	/* talking to Google */
	[GPUSH_ERR_CREDENTIALS] = "credentials missing, unreadable or malformed",
	[GPUSH_ERR_AUTH]     = "Google's token endpoint refused the credentials",
	[GPUSH_ERR_HTTP]     = "connection to Google failed (network, TLS or certificate)",
	[GPUSH_ERR_TIMEOUT]  = "Google did not answer in time",
	[GPUSH_ERR_REMOTE]   = "Google answered with an error",
	[GPUSH_ERR_RESPONSE] = "Google's answer is too large or not the JSON expected",
	[GPUSH_ERR_NOTSUP]   = "not for a database store",
};

const char *
gpush_strerror(enum gpush_err err)
{
	if ((unsigned)err >= GPUSH_ERR__MAX || gpush_errs[err] == NULL)
		return "unknown error";
	return gpush_errs[err];
}

/*
 * Google's push guide: 200/201/202/204/102 mean delivered; "if your
 * service ... returns 500, 502, 503, or 504, the API retries with
 * exponential backoff"; every other code is a failure not retried.  So
 * only conditions that a later retry can cure get 503.  GPUSH_ERR_ARG
 * on the request path can only be a bug of gpush's, never the sender's
 * fault: it falls to the default 500, which Google retries, rather than
 * a 400, which would lose the notification for good.
 */
int
gpush_http_status(enum gpush_err err)
{
	switch (err) {
	case GPUSH_OK:           return 200;
	case GPUSH_ERR_METHOD:   return 405;
	case GPUSH_ERR_LENGTH:
	case GPUSH_ERR_HEADER:
	case GPUSH_ERR_NUMBER:
	case GPUSH_ERR_SYNC:
	case GPUSH_ERR_DATE:
	case GPUSH_ERR_BODY:     return 400;
	case GPUSH_ERR_PROXY:    return 400;
	case GPUSH_ERR_NOLENGTH: return 411;
	case GPUSH_ERR_TOKEN:    return 401;
	case GPUSH_ERR_CHANNEL:  return 404;
	case GPUSH_ERR_REPLAY:   return 409;
	case GPUSH_ERR_EXPIRED:  return 410;
	case GPUSH_ERR_TOOBIG:   return 413;
	case GPUSH_ERR_IO:
	case GPUSH_ERR_LOCK:
	case GPUSH_ERR_NOMEM:    return 503;
	default:                 return 500;
	}
}

/* Storage errors a retry may cure are IO (503); the rest are internal. */
enum gpush_err
gpush__errno(int e)
{
	switch (e) {
	case ENOMEM:
		return GPUSH_ERR_NOMEM;
	case EINVAL:
	case EBADF:
	case EFAULT:
		return GPUSH_ERR_INTERNAL;
	default:
		return GPUSH_ERR_IO;
	}
}
