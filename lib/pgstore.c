/*
 * pgstore.c -- the PostgreSQL store (issue 14): the same gpush_store calls
 * as the data directory, on the tables of lib/schema.sql.
 *
 * One connection per store, kept between requests (FastCGI), each
 * statement prepared on its first use on that connection.  Every
 * statement runs in autocommit: the accept is one INSERT ... ON CONFLICT
 * DO NOTHING, so it commits (and, with synchronous_commit on, is flushed
 * to the WAL) before PQexecPrepared returns; a registry edit is one
 * explicit transaction.
 *
 * A lost connection (the server restarted, failed over, or the network
 * broke) is found when a statement fails: the store then reconnects and
 * runs the statement once more, which is safe for every statement here
 * (reads, and an insert that a second run turns into "duplicate").  When
 * the new connection cannot be made the call is IO: 503 to Google, which
 * retries; the next call tries to connect again.
 *
 * The cache (FastCGI): channels read are kept by id; one read of
 * gpush.registry_version per lookup (bumped by a trigger on every change
 * of channels) tells when to drop them, so a change is seen on the next
 * request as with the file registry.  A channel not cached is read from
 * the table (never a 404 from a stale cache).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "gpush_pg.h"

#define TEXTOID 25 /* pg_type.h: parameters are sent as text */

struct centry {
	struct gpush_channel *c;
	struct centry *next;
};

struct gpush__pg {
	char    *conninfo;        /* may hold a password: never printed */
	char     redacted[256];   /* for messages */
	PGconn  *conn;            /* NULL: not connected now */
	int      sync_on;         /* what the caller wants */
	int      sync_applied;    /* what the session has; -1 unknown */
	unsigned prepared;        /* bit i: statement i prepared on conn */
	int      cache;
	int64_t  reg_version;     /* of the cached channels; -1 none */
	struct centry **bucket;   /* the cache, by id */
	size_t   nbucket, count;
	struct gpush_channel *cur; /* the uncached lookup's result */
	gpush_warn_fn warn;
	void    *wctx;
	char     err[512];        /* gpush_store_error() */
	char     sqlstate[6];     /* of the last failed statement; "" */
};

static void cache_clear(struct gpush__pg *pg);

/* The statements, prepared on a connection when first run there. */
enum { S_VERSION, S_CHANNEL, S_ACCEPT, S_CLASSIFY, S_STATS, S__N };
static const struct {
	const char *name, *sql;
	int nparams;
} stmts[S__N] = {
	[S_VERSION] = { "gpush_version",
	    "SELECT version FROM gpush.registry_version", 0 },
	[S_CHANNEL] = { "gpush_channel",
	    "SELECT line FROM gpush.channels WHERE id = $1", 1 },
	/*
	 * $1 the log line, $2 the channel id, $3 the number, $4 NULL or the
	 * record without its body when the body holds \u0000, which jsonb
	 * cannot store (record then lacks the body, body is NULL; line has
	 * it all).  The channel's
	 * current generation comes from the table (a channel removed since
	 * the lookup inserts nothing); the row is inserted unless 1024
	 * numbers of the channel are newer (the replay window) or the key is
	 * there (a duplicate: a concurrent insert of it is waited for).
	 */
	[S_ACCEPT] = { "gpush_accept",
	    "WITH r AS (SELECT coalesce($4, $1)::jsonb AS j),"
	    " c AS (SELECT generation FROM gpush.channels WHERE id = $2)"
	    " INSERT INTO gpush.notifications (channel_id, channel_generation,"
	    " message_number, received_at, resource_state, resource_id,"
	    " resource_uri, channel_expiration, changed, body, record, line)"
	    " SELECT $2, c.generation, $3::bigint,"
	    " (r.j->>'received_at')::timestamptz, r.j->>'resource_state',"
	    " r.j->>'resource_id', r.j->>'resource_uri',"
	    " (r.j->>'channel_expiration')::bigint, r.j->'changed',"
	    " CASE WHEN $4 IS NULL THEN r.j->'body' END,"
	    " r.j, $1 FROM r, c"
	    " WHERE (SELECT count(*) FROM (SELECT 1 FROM gpush.notifications w"
	    " WHERE w.channel_id = $2 AND w.channel_generation = c.generation"
	    " AND w.message_number > $3::bigint LIMIT 1024) x) < 1024"
	    " ON CONFLICT (channel_id, channel_generation, message_number)"
	    " DO NOTHING RETURNING id", 4 },
	/* Why nothing was inserted: no channel; a replay (1024 newer numbers:
	 * out of the window, remembered or not, as in the file store); or a
	 * duplicate. */
	[S_CLASSIFY] = { "gpush_classify",
	    "SELECT c.generation, (SELECT count(*) FROM (SELECT 1"
	    " FROM gpush.notifications w WHERE w.channel_id = $1"
	    " AND w.channel_generation = c.generation"
	    " AND w.message_number > $2::bigint LIMIT 1024) x) >= 1024,"
	    " EXISTS (SELECT 1 FROM gpush.notifications n WHERE n.channel_id = $1"
	    " AND n.channel_generation = c.generation"
	    " AND n.message_number = $2::bigint)"
	    " FROM (SELECT 1) one LEFT JOIN gpush.channels c ON c.id = $1", 2 },
	[S_STATS] = { "gpush_stats",
	    "SELECT coalesce(max(n.message_number), 0), count(*),"
	    " coalesce((extract(epoch FROM max(n.received_at)) * 1000)::bigint, 0)"
	    " FROM gpush.notifications n JOIN gpush.channels c"
	    " ON c.generation = n.channel_generation"
	    " WHERE c.id = $1 AND n.channel_id = $1", 1 },
};

/* Copies a message into buf as one line: newlines and other controls
 * become spaces, trailing space goes. */
static void
one_line(char *buf, size_t sz, const char *msg)
{
	size_t i;

	if (sz == 0)
		return;
	snprintf(buf, sz, "%s", msg != NULL ? msg : "");
	for (i = 0; buf[i] != '\0'; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = ' ';
	while (i > 0 && buf[i - 1] == ' ')
		buf[--i] = '\0';
}

enum gpush_err
gpush_conninfo_redact(const char *conninfo, char *buf, size_t sz)
{
	static const char *const keep[] = { "host", "hostaddr", "port",
	    "dbname", "user" };
	PQconninfoOption *o, *opts;
	char *errmsg = NULL;
	size_t len = 0;
	enum gpush_err e;

	if (sz == 0)
		return GPUSH_ERR_ARG;
	buf[0] = '\0';
	if ((e = gpush__pq_load(NULL, 0)) != GPUSH_OK) {
		snprintf(buf, sz, "(libpq could not be loaded)");
		return e;
	}
	/* libpq's error message may quote the string: it is never shown. */
	if (conninfo == NULL || (opts = pq->PQconninfoParse(conninfo, &errmsg)) == NULL) {
		pq->PQfreemem(errmsg);
		snprintf(buf, sz, "(a connection string that does not parse)");
		return GPUSH_ERR_ARG;
	}
	for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++)
		for (o = opts; o->keyword != NULL; o++) {
			if (strcmp(o->keyword, keep[k]) != 0 || o->val == NULL ||
			    o->val[0] == '\0' || len >= sz)
				continue;
			int w = snprintf(buf + len, sz - len, "%s%s=%s",
			    len > 0 ? " " : "", o->keyword, o->val);
			len = w < 0 ? sz : len + (size_t)w;
		}
	pq->PQconninfoFree(opts);
	if (buf[0] == '\0')
		snprintf(buf, sz, "(libpq defaults)");
	return GPUSH_OK;
}

/*
 * Connects to conninfo: gpush's application name, a 5 s connect timeout,
 * and TCP settings that notice a server gone silent (a failover that
 * moved its address): data unacknowledged for 10 s, or an idle
 * connection whose keepalives go unanswered for about a minute, ends the
 * connection, so that a request gets 503 instead of hanging.  conninfo
 * overrides any of them.  On success *out is the connection (the
 * caller's); on error NULL and why says what libpq said.
 */
static enum gpush_err
pg_connect(const char *conninfo, PGconn **out, char *why, size_t whysz)
{
	/* Keywords before dbname are overridden by what conninfo sets. */
	const char *const keys[] = { "fallback_application_name",
	    "connect_timeout", "tcp_user_timeout", "keepalives_idle",
	    "keepalives_interval", "keepalives_count", "dbname", NULL };
	const char *const vals[] = { "gpush", "5", "10000", "30", "10", "3",
	    conninfo, NULL };
	PGconn *c;

	*out = NULL;
	c = pq->PQconnectdbParams(keys, vals, 1);
	if (c == NULL)
		return GPUSH_ERR_NOMEM;
	if (pq->PQstatus(c) != CONNECTION_OK) {
		one_line(why, whysz, pq->PQerrorMessage(c));
		pq->PQfinish(c);
		errno = ECONNREFUSED;
		return GPUSH_ERR_IO;
	}
	*out = c;
	return GPUSH_OK;
}

/*
 * What a failed result means, with why filled: IO (errno set) for a
 * connection gone, a server shutting down or starting, missing
 * privileges or resources; LOCK for the statement timeout; CONFIG for a
 * missing schema; EXISTS for a unique violation; ARG for bad data;
 * INTERNAL else.  *lost is 1 when the connection is unusable.
 */
static enum gpush_err
judge(PGconn *c, const PGresult *r, char *why, size_t whysz, int *lost)
{
	const char *st = r != NULL ? pq->PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *m = r != NULL ? pq->PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char line[400];

	*lost = 0;
	if (m != NULL && st != NULL) {
		one_line(line, sizeof(line), m);
		snprintf(why, whysz, "%s (SQLSTATE %s)", line, st);
	} else {
		one_line(why, whysz, c != NULL ? pq->PQerrorMessage(c) : "no connection");
	}
	if (st == NULL || pq->PQstatus(c) == CONNECTION_BAD ||
	    strncmp(st, "08", 2) == 0 || strncmp(st, "57P", 3) == 0) {
		*lost = 1;
		errno = ECONNRESET;
		return GPUSH_ERR_IO;
	}
	if (strcmp(st, "57014") == 0)
		return GPUSH_ERR_LOCK;
	if (strcmp(st, "42501") == 0) {
		errno = EACCES;
		return GPUSH_ERR_IO;
	}
	if (strncmp(st, "53", 2) == 0 || strncmp(st, "58", 2) == 0 ||
	    strncmp(st, "40", 2) == 0 || strcmp(st, "55P03") == 0 ||
	    strcmp(st, "25006") == 0 /* read-only: a standby, mid-failover */) {
		errno = EIO;
		return GPUSH_ERR_IO;
	}
	if (strcmp(st, "42P01") == 0 || strcmp(st, "3F000") == 0)
		return GPUSH_ERR_CONFIG;
	if (strcmp(st, "23505") == 0)
		return GPUSH_ERR_EXISTS;
	if (strncmp(st, "22", 2) == 0 || strncmp(st, "23", 2) == 0)
		return GPUSH_ERR_ARG;
	return GPUSH_ERR_INTERNAL;
}

/* Runs sql (no parameters, no rows wanted) on c; OK or judge()'s. */
static enum gpush_err
run(PGconn *c, const char *sql, char *why, size_t whysz, int *lost)
{
	PGresult *r = pq->PQexec(c, sql);
	enum gpush_err e = GPUSH_OK;
	ExecStatusType s = r != NULL ? pq->PQresultStatus(r) : PGRES_FATAL_ERROR;

	*lost = 0;
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
		e = judge(c, r, why, whysz, lost);
	pq->PQclear(r);
	return e;
}

/* The schema's version on c: 0 when there is none; -1 on error (*e and
 * why say what).  Two statements: a query naming a missing table fails
 * to plan even in a branch that would not run. */
int
gpush__pg_schema_version(PGconn *c, char *why, size_t whysz,
    enum gpush_err *e)
{
	PGresult *r;
	int v = -1, lost;

	r = pq->PQexec(c, "SELECT to_regclass('gpush.schema_version') IS NOT NULL");
	if (pq->PQresultStatus(r) == PGRES_TUPLES_OK && pq->PQntuples(r) == 1 &&
	    strcmp(pq->PQgetvalue(r, 0, 0), "t") != 0) {
		pq->PQclear(r);
		return 0;
	}
	if (pq->PQresultStatus(r) == PGRES_TUPLES_OK) {
		pq->PQclear(r);
		r = pq->PQexec(c, "SELECT coalesce(max(version), 0) FROM gpush.schema_version");
	}
	if (pq->PQresultStatus(r) == PGRES_TUPLES_OK && pq->PQntuples(r) == 1)
		v = atoi(pq->PQgetvalue(r, 0, 0));
	else
		*e = judge(c, r, why, whysz, &lost);
	pq->PQclear(r);
	return v;
}

/* Closes the connection; the next statement reconnects. */
static void
drop_conn(struct gpush__pg *pg)
{
	pq->PQfinish(pg->conn);
	pg->conn = NULL;
	pg->sync_applied = -1;
	pg->reg_version = -1;
	pg->prepared = 0;
}

/*
 * Makes pg's connection ready: connected, the session's settings, the
 * schema's version checked (statements are prepared on first use: a CGI
 * process uses two or three).  OK, or the error with pg->err filled (the
 * connection then dropped).
 */
static enum gpush_err
pg_ready(struct gpush__pg *pg)
{
	enum gpush_err e = GPUSH_OK;
	int v, lost;

	if (pg->conn != NULL)
		return GPUSH_OK;
	if ((e = pg_connect(pg->conninfo, &pg->conn, pg->err,
	    sizeof(pg->err))) != GPUSH_OK)
		return e;
	pg->sync_applied = -1;
	pg->reg_version = -1;
	pg->prepared = 0;
	/* 10 s, the file store's lock timeout: a statement stuck longer
	 * (locks) is LOCK, a 503 Google retries. */
	if ((e = run(pg->conn, "SET statement_timeout = 10000",
	    pg->err, sizeof(pg->err), &lost)) != GPUSH_OK)
		goto fail;
	v = gpush__pg_schema_version(pg->conn, pg->err, sizeof(pg->err), &e);
	if (v < 0)
		goto fail;
	if (v != GPUSH_SCHEMA_VERSION) {
		snprintf(pg->err, sizeof(pg->err), v == 0 ?
		    "no gpush schema in the database: run 'gpush db init'" :
		    "the gpush schema is version %d, this gpush needs %d%s", v,
		    GPUSH_SCHEMA_VERSION, v < GPUSH_SCHEMA_VERSION ?
		    ": run 'gpush db upgrade'" : "");
		e = GPUSH_ERR_CONFIG;
		goto fail;
	}
	return GPUSH_OK;
fail:
	drop_conn(pg);
	if (e == GPUSH_ERR_IO && errno == 0)
		errno = EIO;
	return e;
}

/* Prepares statement i on the connection unless it is. */
static enum gpush_err
prepare(struct gpush__pg *pg, int i, int *lost)
{
	static const Oid types[4] = { TEXTOID, TEXTOID, TEXTOID, TEXTOID };
	enum gpush_err e = GPUSH_OK;
	PGresult *r;

	*lost = 0;
	if (pg->prepared & (1u << i))
		return GPUSH_OK;
	r = pq->PQprepare(pg->conn, stmts[i].name, stmts[i].sql, stmts[i].nparams,
	    types);
	if (pq->PQresultStatus(r) == PGRES_COMMAND_OK)
		pg->prepared |= 1u << i;
	else
		e = judge(pg->conn, r, pg->err, sizeof(pg->err), lost);
	pq->PQclear(r);
	return e;
}

/* Applies the wanted synchronous_commit to the session. */
static enum gpush_err
apply_sync(struct gpush__pg *pg)
{
	enum gpush_err e;
	int lost;

	if (pg->sync_applied == pg->sync_on)
		return GPUSH_OK;
	e = run(pg->conn, pg->sync_on ? "SET synchronous_commit = on" :
	    "SET synchronous_commit = off", pg->err, sizeof(pg->err), &lost);
	if (e == GPUSH_OK)
		pg->sync_applied = pg->sync_on;
	else if (lost)
		drop_conn(pg);
	return e;
}

/*
 * Runs prepared statement i with params; on success *res is the result
 * (PGRES_TUPLES_OK; the caller clears it).  A connection found lost is
 * made again and the statement run once more.  On error *res is NULL and
 * pg->err says why.
 */
static enum gpush_err
exec_stmt(struct gpush__pg *pg, int i, const char *const *params,
    PGresult **res)
{
	enum gpush_err e;
	int lost = 0;

	*res = NULL;
	pg->err[0] = '\0';
	for (int attempt = 0; attempt < 2; attempt++) {
		int was_up = pg->conn != NULL;
		if ((e = pg_ready(pg)) != GPUSH_OK ||
		    (e = apply_sync(pg)) != GPUSH_OK) {
			if (pg->conn == NULL && was_up && attempt == 0)
				continue; /* lost while setting: once more */
			return e;
		}
		if ((e = prepare(pg, i, &lost)) != GPUSH_OK) {
			if (!lost)
				return e;
			drop_conn(pg);
			if (was_up && attempt == 0)
				continue;
			return e;
		}
		PGresult *r = pq->PQexecPrepared(pg->conn, stmts[i].name,
		    stmts[i].nparams, params, NULL, NULL, 0);
		if (pq->PQresultStatus(r) == PGRES_TUPLES_OK) {
			*res = r;
			return GPUSH_OK;
		}
		const char *st = pq->PQresultErrorField(r, PG_DIAG_SQLSTATE);
		snprintf(pg->sqlstate, sizeof(pg->sqlstate), "%s", st != NULL ? st : "");
		e = judge(pg->conn, r, pg->err, sizeof(pg->err), &lost);
		pq->PQclear(r);
		if (!lost)
			return e;
		drop_conn(pg);
		if (pg->warn != NULL)
			pg->warn(pg->wctx, "database connection lost; reconnecting");
		if (!was_up)
			return e;
	}
	return e;
}

void
gpush__pg_free(struct gpush__pg *pg)
{
	if (pg == NULL)
		return;
	cache_clear(pg);
	free(pg->bucket);
	gpush_channel_free(pg->cur);
	pq->PQfinish(pg->conn);
	if (pg->conninfo != NULL) {
		/* It may hold a password. */
		memset(pg->conninfo, 0, strlen(pg->conninfo));
		free(pg->conninfo);
	}
	free(pg);
}

enum gpush_err
gpush_store_open_database(const char *conninfo, struct gpush_store **out,
    char *why, size_t whysz)
{
	struct gpush_store *s;
	struct gpush__pg *pg;
	enum gpush_err e;
	char *errmsg = NULL;
	PQconninfoOption *opts;

	*out = NULL;
	if (whysz > 0)
		why[0] = '\0';
	if (conninfo == NULL || conninfo[0] == '\0') {
		snprintf(why, whysz, "no database connection string");
		return GPUSH_ERR_CONFIG;
	}
	/* The first use of libpq in the process loads it (pqload.c): IO
	 * (ELIBACC, a 503) when it cannot be, why saying how to fix it. */
	if ((e = gpush__pq_load(why, whysz)) != GPUSH_OK)
		return e;
	if ((opts = pq->PQconninfoParse(conninfo, &errmsg)) == NULL) {
		pq->PQfreemem(errmsg); /* it may quote a password */
		snprintf(why, whysz, "the database connection string does not parse");
		return GPUSH_ERR_CONFIG;
	}
	pq->PQconninfoFree(opts);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return GPUSH_ERR_NOMEM;
	if ((pg = calloc(1, sizeof(*pg))) == NULL) {
		free(s);
		return GPUSH_ERR_NOMEM;
	}
	if ((pg->conninfo = strdup(conninfo)) == NULL) {
		free(pg);
		free(s);
		return GPUSH_ERR_NOMEM;
	}
	s->dirfd = s->statefd = s->lockfd = s->syncfd = s->logfd = -1;
	s->watch = -1;   /* no inotify: gpush_store_free closes none */
	s->sync_on = 1;
	s->timeout_ms = 10000;
	s->pg = pg;
	pg->sync_on = 1;
	pg->sync_applied = -1;
	pg->reg_version = -1;
	(void)gpush_conninfo_redact(conninfo, pg->redacted, sizeof(pg->redacted));
	if ((e = pg_ready(pg)) != GPUSH_OK) {
		int saved = errno;
		snprintf(why, whysz, "%s: %s", pg->redacted, pg->err);
		gpush_store_free(s);
		errno = saved;
		return e;
	}
	*out = s;
	return GPUSH_OK;
}

int
gpush_store_is_database(const struct gpush_store *s)
{
	return s != NULL && s->pg != NULL;
}

const char *
gpush_store_error(const struct gpush_store *s)
{
	return s != NULL && s->pg != NULL ? s->pg->err : "";
}

struct pg_conn *
gpush_store_pg(struct gpush_store *s)
{
	if (s == NULL || s->pg == NULL)
		return NULL;
	/* Connected if it can be: the tool's first query comes next. */
	(void)pg_ready(s->pg);
	return s->pg->conn;
}

void gpush__pg_set_sync(struct gpush__pg *pg, int on) { pg->sync_on = on != 0; }

void
gpush__pg_set_warn(struct gpush__pg *pg, gpush_warn_fn fn, void *ctx)
{
	pg->warn = fn;
	pg->wctx = ctx;
}

/* Drops every cached channel. */
static void
cache_clear(struct gpush__pg *pg)
{
	for (size_t i = 0; i < pg->nbucket; i++)
		while (pg->bucket[i] != NULL) {
			struct centry *x = pg->bucket[i];
			pg->bucket[i] = x->next;
			gpush_channel_free(x->c);
			free(x);
		}
	pg->count = 0;
}

/* The handler calls this on every request: a no-op unless it changes. */
void
gpush__pg_set_cache(struct gpush__pg *pg, int on)
{
	if (pg->cache == (on != 0))
		return;
	cache_clear(pg);
	pg->cache = on != 0;
	pg->reg_version = -1;
}

/* The cached channel id, or NULL. */
static const struct gpush_channel *
cache_get(struct gpush__pg *pg, const char *id)
{
	if (pg->nbucket == 0)
		return NULL;
	for (struct centry *x = pg->bucket[gpush__registry_hash(id) &
	    (pg->nbucket - 1)]; x != NULL; x = x->next)
		if (strcmp(x->c->id, id) == 0)
			return x->c;
	return NULL;
}

/* Keeps c (taken either way); doubles the table past 2 per bucket.
 * Returns 0, or -1 when out of memory (c freed). */
static int
cache_put(struct gpush__pg *pg, struct gpush_channel *c)
{
	struct centry *x;

	if (pg->count >= 2 * pg->nbucket) {
		size_t n = pg->nbucket == 0 ? 64 : 2 * pg->nbucket;
		struct centry **nb = calloc(n, sizeof(*nb));
		if (nb == NULL) {
			gpush_channel_free(c);
			return -1;
		}
		for (size_t i = 0; i < pg->nbucket; i++)
			while ((x = pg->bucket[i]) != NULL) {
				pg->bucket[i] = x->next;
				size_t j = gpush__registry_hash(x->c->id) & (n - 1);
				x->next = nb[j];
				nb[j] = x;
			}
		free(pg->bucket);
		pg->bucket = nb;
		pg->nbucket = n;
	}
	if ((x = malloc(sizeof(*x))) == NULL) {
		gpush_channel_free(c);
		return -1;
	}
	size_t j = gpush__registry_hash(c->id) & (pg->nbucket - 1);
	x->c = c;
	x->next = pg->bucket[j];
	pg->bucket[j] = x;
	pg->count++;
	return 0;
}

/* Drops the cache when the registry's version moved. */
static enum gpush_err
cache_check(struct gpush__pg *pg)
{
	PGresult *r;
	enum gpush_err e;
	int64_t v;

	if ((e = exec_stmt(pg, S_VERSION, NULL, &r)) != GPUSH_OK)
		return e;
	v = pq->PQntuples(r) == 1 ? strtoll(pq->PQgetvalue(r, 0, 0), NULL, 10) : -2;
	pq->PQclear(r);
	if (v != pg->reg_version) {
		cache_clear(pg);
		pg->reg_version = v;
	}
	return GPUSH_OK;
}

enum gpush_err
gpush__pg_channel(struct gpush__pg *pg, const char *id,
    const struct gpush_channel **out)
{
	const char *params[1] = { id };
	struct gpush_channel *c = NULL;
	PGresult *r;
	enum gpush_err e;

	*out = NULL;
	if (pg->cache) {
		if ((e = cache_check(pg)) != GPUSH_OK)
			return e;
		if ((*out = cache_get(pg, id)) != NULL)
			return GPUSH_OK;
	}
	if ((e = exec_stmt(pg, S_CHANNEL, params, &r)) != GPUSH_OK)
		return e;
	if (pq->PQntuples(r) != 1) {
		pq->PQclear(r);
		return GPUSH_ERR_CHANNEL;
	}
	e = gpush_channel_parse(pq->PQgetvalue(r, 0, 0),
	    (size_t)pq->PQgetlength(r, 0, 0), &c);
	pq->PQclear(r);
	if (e == GPUSH_ERR_NOMEM)
		return e;
	if (e != GPUSH_OK || c->id == NULL || strcmp(c->id, id) != 0) {
		/* Only the tool writes channels, through this library: a row
		 * that does not parse was written by hand. */
		if (pg->warn != NULL)
			pg->warn(pg->wctx, "a channels row does not parse as a channel");
		gpush_channel_free(c);
		return GPUSH_ERR_CHANNEL;
	}
	if (pg->cache) {
		if (cache_put(pg, c) < 0)
			return GPUSH_ERR_NOMEM;
		*out = c;
		return GPUSH_OK;
	}
	gpush_channel_free(pg->cur);
	pg->cur = c;
	*out = c;
	return GPUSH_OK;
}

enum gpush_err
gpush__pg_accept(struct gpush__pg *pg, const struct gpush_notification *n,
    int64_t now_ms, int *duplicate)
{
	char num[24], *line, *bare = NULL;
	const char *params[4];
	PGresult *r;
	size_t len, blen;
	enum gpush_err e;
	int inserted;

	*duplicate = 0;
	if ((e = gpush_notification_record(n, now_ms, &line, &len)) != GPUSH_OK)
		return e;
	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	snprintf(num, sizeof(num), "%lld", (long long)n->number);
	params[0] = line;
	params[1] = n->channel_id;
	params[2] = num;
	params[3] = NULL;
	e = exec_stmt(pg, S_ACCEPT, params, &r);
	if (e == GPUSH_ERR_ARG && strcmp(pg->sqlstate, "22P05") == 0 &&
	    n->body != NULL) {
		/* A body with \u0000 (RFC 8259 allows it; jsonb does not):
		 * the record without the body as jsonb, line whole. */
		struct gpush_notification nb = *n;
		nb.body = NULL;
		nb.body_len = 0;
		if ((e = gpush_notification_record(&nb, now_ms, &bare,
		    &blen)) == GPUSH_OK) {
			params[3] = bare;
			e = exec_stmt(pg, S_ACCEPT, params, &r);
		}
	}
	free(line);
	free(bare);
	if (e != GPUSH_OK)
		return e == GPUSH_ERR_ARG ? GPUSH_ERR_INTERNAL : e;
	inserted = pq->PQntuples(r) == 1;
	pq->PQclear(r);
	if (inserted)
		return GPUSH_OK; /* committed: autocommit, synchronous_commit */
	params[0] = n->channel_id;
	params[1] = num;
	if ((e = exec_stmt(pg, S_CLASSIFY, params, &r)) != GPUSH_OK)
		return e;
	if (pq->PQntuples(r) != 1)
		e = GPUSH_ERR_INTERNAL;
	else if (pq->PQgetisnull(r, 0, 0))
		e = GPUSH_ERR_CHANNEL;  /* removed since the lookup */
	else if (strcmp(pq->PQgetvalue(r, 0, 1), "t") == 0)
		e = GPUSH_ERR_REPLAY;
	else if (strcmp(pq->PQgetvalue(r, 0, 2), "t") == 0)
		*duplicate = 1;
	else
		e = GPUSH_ERR_INTERNAL; /* neither: cannot be */
	pq->PQclear(r);
	return e;
}

enum gpush_err
gpush__pg_stats(struct gpush__pg *pg, const char *id,
    struct gpush_channel_stats *st)
{
	const char *params[1] = { id };
	PGresult *r;
	enum gpush_err e;

	if ((e = exec_stmt(pg, S_STATS, params, &r)) != GPUSH_OK)
		return e;
	if (pq->PQntuples(r) == 1) {
		st->last_number = strtoll(pq->PQgetvalue(r, 0, 0), NULL, 10);
		st->accepted = strtoull(pq->PQgetvalue(r, 0, 1), NULL, 10);
		st->last_at_ms = strtoll(pq->PQgetvalue(r, 0, 2), NULL, 10);
	}
	pq->PQclear(r);
	return GPUSH_OK;
}

/* A channel made again gets a new generation (schema.sql): its dedup
 * starts afresh without forgetting anything, and its old rows stay. */
enum gpush_err
gpush__pg_forget(struct gpush__pg *pg, const char *id)
{
	(void)pg;
	(void)id;
	return GPUSH_OK;
}

/* The unique key keeps the database's dedup state consistent by
 * construction: nothing to check per channel. */
enum gpush_err
gpush__pg_check_state(struct gpush__pg *pg, const char *id)
{
	(void)pg;
	(void)id;
	return GPUSH_OK;
}

/* Runs sql with text params on pg's connection; *res (when not NULL)
 * gets a TUPLES_OK result.  No retry: used inside a transaction. */
static enum gpush_err
exec_params(struct gpush__pg *pg, const char *sql, int n,
    const char *const *params, PGresult **res)
{
	static const Oid types[8] = { TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	    TEXTOID, TEXTOID, TEXTOID, TEXTOID };
	PGresult *r = pq->PQexecParams(pg->conn, sql, n, n > 0 ? types : NULL,
	    params, NULL, NULL, 0);
	ExecStatusType s = pq->PQresultStatus(r);
	enum gpush_err e = GPUSH_OK;
	int lost;

	if (res != NULL)
		*res = NULL;
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		e = judge(pg->conn, r, pg->err, sizeof(pg->err), &lost);
		pq->PQclear(r);
		if (lost)
			drop_conn(pg);
		return e;
	}
	if (res != NULL)
		*res = r;
	else
		pq->PQclear(r);
	return e;
}

/* Writes channel line as a row: an update of row old_id (keeping its
 * generation) when old_id is the line's id, else a new row. */
static enum gpush_err
put_row(struct gpush__pg *pg, const char *line, const char *old_id)
{
	struct gpush_channel *c = NULL;
	char exp[24];
	const char *p[7];
	enum gpush_err e;

	if ((e = gpush_channel_parse(line, strlen(line), &c)) != GPUSH_OK) {
		/* A database row is a channel: a line that is not one cannot
		 * be kept (a data directory would keep it for check). */
		snprintf(pg->err, sizeof(pg->err), "a registry line that is not "
		    "a channel: %s", gpush_strerror(e));
		return e == GPUSH_ERR_NOMEM ? e : GPUSH_ERR_ARG;
	}
	if (c->id == NULL) {
		gpush_channel_free(c);
		snprintf(pg->err, sizeof(pg->err), "a registry line without an id");
		return GPUSH_ERR_ARG;
	}
	snprintf(exp, sizeof(exp), "%lld", (long long)c->expiration);
	p[0] = c->id;
	p[1] = c->token;
	p[2] = c->resource_id;
	p[3] = c->resource_uri;
	p[4] = exp;
	p[5] = line;
	p[6] = old_id;
	if (old_id != NULL && strcmp(old_id, c->id) == 0)
		e = exec_params(pg, "UPDATE gpush.channels SET token = $2,"
		    " resource_id = $3, resource_uri = $4, expiration = $5::bigint,"
		    " record = $6::jsonb, line = $6, updated_at = now()"
		    " WHERE id = $7", 7, p, NULL);
	else
		e = exec_params(pg, "INSERT INTO gpush.channels (id, token,"
		    " resource_id, resource_uri, expiration, record, line)"
		    " VALUES ($1, $2, $3, $4, $5::bigint, $6::jsonb, $6)", 6, p,
		    NULL);
	gpush_channel_free(c);
	return e;
}

/*
 * gpush_store_edit() on the channels table: one transaction that locks
 * the table against other editors (SHARE ROW EXCLUSIVE: handlers still
 * read), reads every row in registry order, passes each line through fn
 * and writes back what changed, then appends what more gives.  Any error
 * rolls everything back.
 */
enum gpush_err
gpush__pg_edit(struct gpush__pg *pg, gpush_edit_fn fn, gpush_more_fn more,
    void *ctx)
{
	PGresult *rows = NULL;
	enum gpush_err e;
	int lost;

	pg->err[0] = '\0';
	if ((e = pg_ready(pg)) != GPUSH_OK)
		return e;
	if ((e = run(pg->conn, "BEGIN", pg->err, sizeof(pg->err), &lost)) != GPUSH_OK) {
		if (lost)
			drop_conn(pg);
		/* A connection that went away while idle: once more. */
		if (!lost || (e = pg_ready(pg)) != GPUSH_OK ||
		    (e = run(pg->conn, "BEGIN", pg->err, sizeof(pg->err),
		    &lost)) != GPUSH_OK)
			return e;
	}
	e = exec_params(pg, "LOCK TABLE gpush.channels IN SHARE ROW EXCLUSIVE MODE",
	    0, NULL, NULL);
	if (e == GPUSH_OK)
		e = exec_params(pg, "SELECT id, line FROM gpush.channels"
		    " ORDER BY generation", 0, NULL, &rows);
	for (int i = 0; e == GPUSH_OK && i < pq->PQntuples(rows); i++) {
		const char *id = pq->PQgetvalue(rows, i, 0);
		const char *line = pq->PQgetvalue(rows, i, 1);
		struct gpush_channel *c = NULL;
		char *keep = NULL;

		(void)gpush_channel_parse(line, strlen(line), &c);
		e = fn(ctx, line, c, &keep);
		gpush_channel_free(c);
		if (e == GPUSH_OK && keep == NULL)
			e = exec_params(pg, "DELETE FROM gpush.channels WHERE id = $1",
			    1, &id, NULL);
		else if (e == GPUSH_OK && strcmp(keep, line) != 0)
			e = put_row(pg, keep, id);
		free(keep);
	}
	pq->PQclear(rows);
	while (e == GPUSH_OK && more != NULL) {
		char *line = NULL;
		if ((e = more(ctx, &line)) != GPUSH_OK || line == NULL) {
			free(line);
			break;
		}
		e = put_row(pg, line, NULL);
		free(line);
	}
	if (e == GPUSH_OK)
		e = exec_params(pg, "COMMIT", 0, NULL, NULL);
	else if (pg->conn != NULL) {
		char scratch[128]; /* pg->err keeps the first failure */
		if (run(pg->conn, "ROLLBACK", scratch, sizeof(scratch), &lost) !=
		    GPUSH_OK && lost)
			drop_conn(pg);
	}
	return e;
}

/* gpush_registry_foreach() over the channels table, in registry order. */
enum gpush_err
gpush__pg_foreach(struct gpush__pg *pg, gpush_each_fn fn, void *ctx,
    int *stopped)
{
	PGresult *r = NULL;
	enum gpush_err e;
	int lost = 0;

	pg->err[0] = '\0';
	for (int attempt = 0; attempt < 2; attempt++) {
		if ((e = pg_ready(pg)) != GPUSH_OK)
			return e;
		e = exec_params(pg, "SELECT line FROM gpush.channels ORDER BY generation",
		    0, NULL, &r);
		lost = pg->conn == NULL;
		if (e == GPUSH_OK || !lost)
			break;
	}
	if (e != GPUSH_OK)
		return e;
	for (int i = 0; i < pq->PQntuples(r) && *stopped == 0; i++) {
		const char *line = pq->PQgetvalue(r, i, 0);
		struct gpush_channel *c = NULL;
		enum gpush_err pe = gpush_channel_parse(line, strlen(line), &c);
		*stopped = fn(ctx, (size_t)i + 1, line, c, pe);
		gpush_channel_free(c);
	}
	pq->PQclear(r);
	return GPUSH_OK;
}

enum gpush_err
gpush_store_foreach(struct gpush_store *s, gpush_each_fn fn, void *ctx,
    int *stopped)
{
	int dummy = 0;

	if (stopped == NULL)
		stopped = &dummy;
	*stopped = 0;
	if (s == NULL || fn == NULL)
		return GPUSH_ERR_ARG;
	if (s->pg != NULL)
		return gpush__pg_foreach(s->pg, fn, ctx, stopped);
	return gpush_registry_foreach(s->dir, fn, ctx, stopped);
}
