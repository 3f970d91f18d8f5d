/*
 * google_calls.c -- sending the watch and stop calls of one run: one
 * batch per API (at most GPUSH_BATCH_MAX calls each) or one call each,
 * and reading Google's answers and errors.  Shared by cmd_watch.c and
 * cmd_stop.c; the registry is theirs.
 *
 * Batching watch and stop is not documented either way
 * (google-channels.md §3, §6): a batch that is refused, or a part that
 * fails other than with a channel error, is sent again as a single call,
 * so that batching only saves round trips and never loses a channel.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "gpush_tool.h"

void
call_clear(struct call *c)
{
	free(c->resp);
	c->resp = NULL;
	c->resp_len = 0;
	c->status = 0;
	c->err = GPUSH_OK;
	c->why[0] = '\0';
	memset(&c->gerr, 0, sizeof(c->gerr));
}

/* Reads Google's JSON error from an answer into c->gerr (the library
 * bounds it and strips control characters). */
static void
take_error(struct call *c, const char *ctype)
{
	struct gpush_http_response r;

	memset(&r, 0, sizeof(r));
	r.status = c->status;
	r.body = c->resp;
	r.len = c->resp_len;
	r.content_type = (char *)ctype;
	(void)gpush_google_error_parse(&r, &c->gerr);
}

/* Stores an answer (status, a copy of the body) in c. */
static void
take_answer(struct call *c, long status, const char *body, size_t len,
    const char *ctype)
{
	c->status = status;
	c->resp = malloc(len + 1);
	if (c->resp == NULL) {
		c->err = GPUSH_ERR_NOMEM;
		c->status = 0;
		return;
	}
	memcpy(c->resp, body, len);
	c->resp[len] = '\0';
	c->resp_len = len;
	c->err = GPUSH_OK;
	if (status < 200 || status > 299)
		take_error(c, ctype);
}

/* One call on its own.  The library retries 429/5xx and connection
 * failures with backoff and refreshes the token once on a 401. */
static void
send_single(struct google *g, struct call *c)
{
	static const char *const hdr[] = {
		"Content-Type: application/json; charset=UTF-8", NULL
	};
	struct gpush_http_response r;

	call_clear(c);
	memset(&r, 0, sizeof(r));
	c->err = gpush_auth_request(g->auth, "POST", c->url, hdr, c->body,
	    strlen(c->body), &r, c->why, sizeof(c->why));
	c->maybe += r.unsure;
	if (c->err == GPUSH_OK)
		take_answer(c, r.status, r.body, r.len,
		    r.content_type != NULL ? r.content_type : "application/json");
	gpush_http_response_clear(&r);
	c->tries++;
}

/* A part error that belongs to the channel, not to batching: Google said
 * something about the channel itself, and a single call would say it
 * again.  Everything else is tried again alone. */
static int
final_part_error(const struct call *c)
{
	const char *r = c->gerr.reason;

	return strncmp(r, "push.", 5) == 0 || strcmp(r, "channelIdNotUnique") == 0;
}

/* A boundary no JSON body of ours can contain: gpush- and random hex. */
static int
make_boundary(char out[40])
{
	unsigned char b[12];

	if (random_bytes(b, sizeof(b)) < 0)
		return -1;
	memcpy(out, "gpush_", 6);
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 6 + 2 * i, 3, "%02x", b[i]);
	return 0;
}

/*
 * calls[0..n) as one batch to batch_url.  Returns 1 when the batch was
 * answered (each call then has its answer, or status 0 when no part
 * answered it), 0 when the batch as a whole was refused or unreadable
 * (*why says how; the caller sends the calls alone).
 */
static int
send_batch(struct google *g, const char *batch_url, struct call **calls,
    size_t n, char *why, size_t whysz, int *timed_out)
{
	struct gpush_batch_call bc[GPUSH_BATCH_MAX];
	struct gpush_http_response r;
	struct gpush_batch_result *res = NULL;
	char boundary[40], ct[96], *body = NULL;
	const char *hdr[2] = { ct, NULL };
	size_t len;
	enum gpush_err e;

	why[0] = '\0';
	*timed_out = 0;
	if (n > GPUSH_BATCH_MAX || make_boundary(boundary) < 0) {
		snprintf(why, whysz, "cannot make a boundary");
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		bc[i].method = "POST";
		bc[i].target = calls[i]->target;
		bc[i].body = calls[i]->body;
	}
	if ((e = gpush_batch_build(bc, n, boundary, &body, &len)) != GPUSH_OK) {
		snprintf(why, whysz, "building it: %s", gpush_strerror(e));
		return 0;
	}
	snprintf(ct, sizeof(ct), "Content-Type: multipart/mixed; boundary=%s",
	    boundary);
	memset(&r, 0, sizeof(r));
	e = gpush_auth_request(g->auth, "POST", batch_url, hdr, body, len, &r,
	    why, whysz);
	free(body);
	*timed_out = e == GPUSH_ERR_TIMEOUT;
	/* Whatever the batch did not settle may still have been done by
	 * Google: a transport failure once sent, a 5xx, an unreadable 2xx.
	 * Only a 4xx refusal of the whole batch, or a connection never
	 * made, did nothing. */
	if ((e != GPUSH_OK && (e == GPUSH_ERR_TIMEOUT || r.unsure > 0 ||
	    e == GPUSH_ERR_RESPONSE)) || (e == GPUSH_OK && (r.status >= 500 ||
	    r.unsure > 0 || r.status == 200)))
		for (size_t i = 0; i < n; i++)
			calls[i]->maybe++;
	if (e != GPUSH_OK) {
		gpush_http_response_clear(&r);
		return 0;
	}
	if (r.status != 200) {
		snprintf(why, whysz, "the batch endpoint answered HTTP %ld", r.status);
		gpush_http_response_clear(&r);
		return 0;
	}
	e = gpush_batch_parse(r.content_type, r.body, r.len, n, &res);
	if (e != GPUSH_OK) {
		snprintf(why, whysz, "its answer is not a batch answer (%s)",
		    gpush_strerror(e));
		gpush_http_response_clear(&r);
		return 0;
	}
	/* Readable: each part says for itself (a 5xx part below). */
	for (size_t i = 0; i < n; i++)
		calls[i]->maybe -= calls[i]->maybe > 0 && r.unsure == 0;
	for (size_t i = 0; i < n; i++) {
		size_t blen;
		const char *b = gpush_batch_body(res, i, &blen);
		call_clear(calls[i]);
		calls[i]->tries++;
		if (b != NULL)
			take_answer(calls[i], gpush_batch_status(res, i), b, blen,
			    "application/json");
		if (b == NULL || calls[i]->status >= 500)
			calls[i]->maybe++;
	}
	if (gpush_batch_extra(res) > 0)
		msg("note: the batch answer had %zu part(s) that answer no call; "
		    "ignored", gpush_batch_extra(res));
	gpush_batch_result_free(res);
	gpush_http_response_clear(&r);
	return 1;
}

/*
 * Sends calls[0..n) (all of one API): in batches of at most
 * GPUSH_BATCH_MAX when batch and n > 1, then alone whatever a batch did
 * not settle.  Every call ends with err (OK when an answer came), status
 * and the answer.  progress(ctx, call) is called once per call settled.
 *
 * The run is bounded: after a batch timed out, the first single call
 * that times out too ends the fallback (Google, or the way there, is not
 * answering; N more calls would each wait the whole --timeout).  The
 * calls left are settled with err TIMEOUT and skipped set: not sent
 * alone (but they were in the batch: maybe is set).
 */
void
calls_send(struct google *g, const char *batch_url, struct call **calls,
    size_t n, int batch, void (*progress)(void *ctx, struct call *c),
    void *ctx)
{
	char why[GPUSH_WHY_MAX];
	int give_up = 0;

	for (size_t start = 0; start < n; start += GPUSH_BATCH_MAX) {
		size_t k = n - start < GPUSH_BATCH_MAX ? n - start : GPUSH_BATCH_MAX;
		int batch_timeout = 0;
		int batched = batch && k > 1 &&
		    send_batch(g, batch_url, calls + start, k, why, sizeof(why),
		    &batch_timeout);
		if (batch && k > 1 && !batched)
			msg("batch of %zu refused (%s); sending each call alone", k,
			    why[0] != '\0' ? why : "no reason given");
		for (size_t i = start; i < start + k; i++) {
			struct call *c = calls[i];
			if (give_up) {
				call_clear(c);
				c->err = GPUSH_ERR_TIMEOUT;
				c->skipped = 1;
				snprintf(c->why, sizeof(c->why), "not attempted alone: "
				    "the batch and a single call both timed out");
				progress(ctx, c);
				continue;
			}
			if (batched && c->status >= 200 && c->status <= 299) {
				progress(ctx, c);
				continue;
			}
			if (batched && c->status != 0 && final_part_error(c)) {
				progress(ctx, c);
				continue;
			}
			send_single(g, c);
			if (batch_timeout && c->err == GPUSH_ERR_TIMEOUT)
				give_up = 1;
			progress(ctx, c);
		}
	}
}

/* Google's words for the reasons worth a hint (google-channels.md §5). */
static const char *
hint(const struct call *c, const char *address)
{
	const char *r = c->gerr.reason;
	static char buf[512];

	if (strcmp(r, "push.webhookUrlUnauthorized") == 0) {
		snprintf(buf, sizeof(buf), "Google does not take %s as yours: "
		    "verify its domain (Google Search Console) and add it to the "
		    "project's verified domains (Google Cloud console, APIs & "
		    "Services, Domain verification)", address ? address : "the address");
		return buf;
	}
	if (strcmp(r, "push.webhookUrlNotHttps") == 0)
		return "the address must be https:// with a valid certificate";
	if (strcmp(r, "push.webhookUrlNoHostOrAddress") == 0)
		return "the address is not a valid URL";
	if (strcmp(r, "push.channelIdInvalid") == 0)
		return "the channel id must be of A-Z a-z 0-9 - _ + / =";
	if (strcmp(r, "channelIdNotUnique") == 0 ||
	    strcmp(r, "push.channelIdNotUnique") == 0)
		return "a channel with this id exists at Google already: use "
		    "another --id";
	if (strcmp(r, "stopChannelCallerNotOwner") == 0)
		return "only the OAuth client (and user) that made the channel may "
		    "stop it";
	if (strcmp(r, "authError") == 0)
		return "the access token was refused even after a refresh";
	if (strcmp(r, "forbidden") == 0 || strcmp(r, "insufficientPermissions") == 0)
		return "the credentials lack the scope or the right (for Directory "
		    "and Reports: domain-wide delegation and --subject)";
	if (strstr(c->gerr.message, "Invalid ttl") != NULL)
		return "the lifetime was refused: --expiration is ms since the epoch, "
		    "in the future";
	return NULL;
}

/* One line for a failed call, into buf: the HTTP status, Google's reason
 * and message, and a hint; or the transport error.  Never a token. */
const char *
call_failure(const struct call *c, const char *address, char *buf, size_t sz)
{
	const char *h;

	if (c->err != GPUSH_OK) {
		snprintf(buf, sz, "%s", c->why[0] != '\0' ? c->why :
		    gpush_strerror(c->err));
		return buf;
	}
	if (c->status == 0) {
		snprintf(buf, sz, "no answer");
		return buf;
	}
	h = hint(c, address);
	snprintf(buf, sz, "HTTP %ld%s%s: %s%s%s", c->status,
	    c->gerr.reason[0] != '\0' ? " " : "", c->gerr.reason,
	    c->gerr.message[0] != '\0' ? c->gerr.message : "(no message)",
	    h != NULL ? " -- " : "", h != NULL ? h : "");
	return buf;
}
