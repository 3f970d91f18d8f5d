/*
 * dbfollow.c -- reading the PostgreSQL store's notifications after a
 * saved position: the database side of gpush_log_follow (`gpush tail`
 * and the consumer with GPUSH_DATABASE / --database).
 *
 * Why not "id > last id read": ids come from a sequence when a row is
 * inserted, but transactions commit in any order, so a row with a smaller
 * id can become visible after a larger one was read, and a cursor on the
 * id would skip it for ever.
 *
 * What is read instead: every row carries the inserting transaction's
 * 64-bit id (the column xact, xid8, default pg_current_xact_id()).  The
 * reader orders rows by (xact, id) and hands out only rows whose xact is
 * below the xmin of its own statement's snapshot
 * (pg_snapshot_xmin(pg_current_snapshot())): every transaction below
 * xmin has ended, so no row with such an xact can appear later, and rows
 * of a transaction still running (or of one that started later) wait
 * until it is over.  The cursor is the (xact, id) of the last row
 * consumed; the next read starts after it.  (The index on (xact, id)
 * makes that a range scan.)  A row is thus never skipped
 * and never given twice, whatever order transactions commit in.  Cost:
 * a row is read only once every transaction older than its own has ended
 * -- on the whole cluster, so a long-running transaction anywhere (an
 * idle-in-transaction session, a long report) holds the reader back
 * until it ends (it never loses a row).
 *
 * The line handed out for a row is its "line" column: the record exactly
 * as the file log holds it, plus the newline.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "gpush_private.h"

/* At most this many rows a query: tail asks for "all", a batch of the
 * consumer for fewer. */
#define DBF_MAX_ROWS 5000
#define DBF_MAGIC    "gpush-db-cursor 1"

/* The schema (`gpush db init`): lib/schema.sql.  Qualified names: a bare
 * "ORDER BY xact" would sort by the output column xact::text, as text
 * ("1000" before "999"), and give rows twice (tests/pg/tail-order.t). */
#define DBF_QUERY \
	"SELECT n.xact::text, n.id, n.line FROM gpush.notifications n " \
	"WHERE (n.xact, n.id) > ($1::xid8, $2::bigint) " \
	"AND n.xact < pg_snapshot_xmin(pg_current_snapshot()) " \
	"ORDER BY n.xact, n.id LIMIT $3"

struct gpush__dbfollow;
static void dbf_free(void *impl);

struct gpush__dbfollow {
	PGconn    *conn;
	char      *conninfo;      /* never printed: may hold a password */
	char      *cursor_path;   /* NULL: nothing is saved */
	uint64_t   xid, id;       /* after the last row consumed */
	int        moved;         /* differs from what is saved */
	char      *buf;           /* the last batch's lines */
	size_t     cap;
	size_t     nrows;         /* in the last batch */
	size_t     batch;         /* bytes of it handed out */
	size_t    *ends;          /* ends[i]: offset after row i's line */
	uint64_t  *xids, *ids;
	char       why[512];      /* the last error, for messages */
};

/*
 * Parses a cursor file's text: DBF_MAGIC " XID ID\n".  0, or -1 when it
 * is not one.
 */
static int
dbf_parse(const char *s, uint64_t *xid, uint64_t *id)
{
	char magic[32], nl;
	int n = 0;

	if (sscanf(s, "%31[a-z-] 1 %" SCNu64 " %" SCNu64 "%c%n", magic, xid,
	    id, &nl, &n) != 4 || nl != '\n' || s[n] != '\0' ||
	    strcmp(magic, "gpush-db-cursor") != 0)
		return -1;
	return 0;
}

/* Loads the cursor at path into f: 1 when there is none yet (start at
 * the beginning), 0 when loaded, -1 (errno) when unreadable, -2 when the
 * file is not a database cursor. */
static int
dbf_load(struct gpush__dbfollow *f, const char *path)
{
	char *text = NULL;
	size_t len = 0;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return errno == ENOENT ? 1 : -1;
	rc = gpush__read_file(fd, 256, &text, &len);
	(void)close(fd);
	if (rc < 0)
		return -1;
	rc = text != NULL && strlen(text) == len &&
	    dbf_parse(text, &f->xid, &f->id) == 0 ? 0 : -2;
	free(text);
	return rc;
}

/* Records PQ's message (first line) for dbf_why(), as "database:
 * WHAT: MESSAGE" (libpq's messages never hold the password). */
static void
dbf_fail(struct gpush__dbfollow *f, const char *what)
{
	const char *m = f->conn != NULL ? pq->PQerrorMessage(f->conn) : "";
	size_t n = strcspn(m, "\n");

	snprintf(f->why, sizeof(f->why), "database: %s%s%.*s", what,
	    n ? ": " : "", (int)n, m);
}

/* Connects (again) when there is no good connection, loading libpq on
 * the first call.  0, or -1 with f->why and errno set (ELIBACC: libpq
 * could not be loaded; ECONNREFUSED: no connection). */
static int
dbf_connect(struct gpush__dbfollow *f)
{
	char why[sizeof(f->why) - sizeof("database: ") + 1];

	if (f->conn != NULL && pq->PQstatus(f->conn) == CONNECTION_OK)
		return 0;
	if (f->conn != NULL)
		pq->PQfinish(f->conn);
	f->conn = NULL;
	if (gpush__pq_load(why, sizeof(why)) != GPUSH_OK) {
		snprintf(f->why, sizeof(f->why), "database: %s", why);
		return -1;
	}
	f->conn = pq->PQconnectdb(f->conninfo);
	if (f->conn == NULL || pq->PQstatus(f->conn) != CONNECTION_OK) {
		dbf_fail(f, "cannot connect");
		errno = ECONNREFUSED;
		return -1;
	}
	return 0;
}

static enum gpush_err
dbf_new(const char *conninfo, const char *cursor_path,
    struct gpush__dbfollow **out)
{
	struct gpush__dbfollow *f;
	int rc, saved;

	*out = NULL;
	if (conninfo == NULL || (cursor_path != NULL && cursor_path[0] == '\0'))
		return GPUSH_ERR_ARG;
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->conninfo = strdup(conninfo)) == NULL) {
		dbf_free(f);
		return GPUSH_ERR_NOMEM;
	}
	if (cursor_path != NULL) {
		if ((rc = dbf_load(f, cursor_path)) < 0) {
			saved = errno;
			dbf_free(f);
			errno = saved;
			return rc == -2 ? GPUSH_ERR_PARSE : gpush__errno(saved);
		}
		f->moved = rc == 1;       /* a new cursor is saved at once */
		if ((f->cursor_path = strdup(cursor_path)) == NULL) {
			dbf_free(f);
			return GPUSH_ERR_NOMEM;
		}
	}
	snprintf(f->why, sizeof(f->why), "database");
	*out = f;
	return GPUSH_OK;
}

static void
dbf_free(void *impl)
{
	struct gpush__dbfollow *f = impl;

	if (f == NULL)
		return;
	if (f->conn != NULL)
		pq->PQfinish(f->conn);
	if (f->conninfo != NULL) {   /* may hold a password */
		explicit_bzero(f->conninfo, strlen(f->conninfo));
		free(f->conninfo);
	}
	free(f->cursor_path);
	free(f->buf);
	free(f->ends);
	free(f->xids);
	free(f->ids);
	free(f);
}

static const char *
dbf_why(const void *impl)
{
	return ((const struct gpush__dbfollow *)impl)->why;
}

/* Makes room for n rows and len bytes of lines; 0 or -1. */
static int
dbf_room(struct gpush__dbfollow *f, size_t n, size_t len)
{
	if (len > f->cap) {
		char *nb = realloc(f->buf, len);
		if (nb == NULL)
			return -1;
		f->buf = nb;
		f->cap = len;
	}
	free(f->ends);
	free(f->xids);
	free(f->ids);
	f->ends = calloc(n ? n : 1, sizeof(*f->ends));
	f->xids = calloc(n ? n : 1, sizeof(*f->xids));
	f->ids = calloc(n ? n : 1, sizeof(*f->ids));
	return f->ends && f->xids && f->ids ? 0 : -1;
}

/* Copies the rows of r into f's batch.  OK, NOMEM, or PARSE when a row
 * is not what the schema says (a line with a newline in it, say). */
static enum gpush_err
dbf_take(struct gpush__dbfollow *f, PGresult *r)
{
	size_t n = (size_t)pq->PQntuples(r), len = 0, at = 0;

	for (size_t i = 0; i < n; i++) {
		size_t l = (size_t)pq->PQgetlength(r, (int)i, 2);
		if (l > SIZE_MAX / 2 - len - 1)
			return GPUSH_ERR_NOMEM;
		len += l + 1;
	}
	if (dbf_room(f, n, len) < 0)
		return GPUSH_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *line = pq->PQgetvalue(r, (int)i, 2);
		size_t l = (size_t)pq->PQgetlength(r, (int)i, 2);
		int64_t id;
		if (l == 0 || memchr(line, '\n', l) != NULL ||
		    !gpush__parse_i64(pq->PQgetvalue(r, (int)i, 1), &id) ||
		    sscanf(pq->PQgetvalue(r, (int)i, 0), "%" SCNu64, &f->xids[i]) != 1) {
			snprintf(f->why, sizeof(f->why), "database: row %.20s is "
			    "not a log line", pq->PQgetvalue(r, (int)i, 1));
			return GPUSH_ERR_PARSE;
		}
		f->ids[i] = (uint64_t)id;
		memcpy(f->buf + at, line, l);
		at += l;
		f->buf[at++] = '\n';
		f->ends[i] = at;
	}
	f->nrows = n;
	return GPUSH_OK;
}

static enum gpush_err
dbf_next(void *impl, size_t max_lines, const char **data, size_t *len,
    size_t *nlines)
{
	struct gpush__dbfollow *f = impl;
	char xid[24], id[24], lim[24];
	const char *params[3] = { xid, id, lim };
	PGresult *r;
	enum gpush_err e;

	*data = NULL;
	*len = *nlines = 0;
	f->batch = 0;
	f->nrows = 0;
	if (max_lines == 0)
		return GPUSH_ERR_ARG;
	if (dbf_connect(f) < 0)
		return GPUSH_ERR_IO;
	snprintf(xid, sizeof(xid), "%" PRIu64, f->xid);
	snprintf(id, sizeof(id), "%" PRIu64, f->id);
	snprintf(lim, sizeof(lim), "%zu", max_lines < DBF_MAX_ROWS ? max_lines :
	    (size_t)DBF_MAX_ROWS);
	r = pq->PQexecParams(f->conn, DBF_QUERY, 3, NULL, params, NULL, NULL, 0);
	if (pq->PQresultStatus(r) != PGRES_TUPLES_OK) {
		dbf_fail(f, "reading notifications");
		pq->PQclear(r);
		/* A lost connection is made again on the next call. */
		if (pq->PQstatus(f->conn) != CONNECTION_OK) {
			pq->PQfinish(f->conn);
			f->conn = NULL;
		}
		errno = EIO;
		return GPUSH_ERR_IO;
	}
	e = dbf_take(f, r);
	pq->PQclear(r);
	if (e != GPUSH_OK) {
		f->nrows = 0;
		errno = EINVAL;
		return e;
	}
	if (f->nrows == 0)
		return GPUSH_OK;
	*data = f->buf;
	*len = f->batch = f->ends[f->nrows - 1];
	*nlines = f->nrows;
	return GPUSH_OK;
}

static enum gpush_err
dbf_done(void *impl, size_t len)
{
	struct gpush__dbfollow *f = impl;

	if (len == 0)
		return GPUSH_OK;
	if (len > f->batch)
		return GPUSH_ERR_ARG;
	for (size_t i = 0; i < f->nrows; i++) {
		if (f->ends[i] == len) {
			f->xid = f->xids[i];
			f->id = f->ids[i];
			f->moved = 1;
			f->batch = 0;
			return GPUSH_OK;
		}
	}
	return GPUSH_ERR_ARG;             /* not the end of a line */
}

static enum gpush_err
dbf_commit(void *impl)
{
	struct gpush__dbfollow *f = impl;
	char line[80];
	int n;

	if (f->cursor_path == NULL || !f->moved)
		return GPUSH_OK;
	n = snprintf(line, sizeof(line), DBF_MAGIC " %" PRIu64 " %" PRIu64 "\n",
	    f->xid, f->id);
	if (gpush__write_atomic(f->cursor_path, line, (size_t)n) < 0)
		return gpush__errno(errno);
	f->moved = 0;
	return GPUSH_OK;
}

static const struct gpush__follow_ops dbf_ops = {
	dbf_next, dbf_done, dbf_commit, dbf_why, dbf_free,
};

enum gpush_err
gpush_log_follow_new_db(const char *conninfo, const char *cursor_path,
    struct gpush_log_follow **out)
{
	struct gpush__dbfollow *d;
	enum gpush_err e;

	*out = NULL;
	if ((e = dbf_new(conninfo, cursor_path, &d)) != GPUSH_OK)
		return e;
	if ((e = gpush__log_follow_other(d, &dbf_ops, out)) != GPUSH_OK)
		dbf_free(d);
	return e;
}
