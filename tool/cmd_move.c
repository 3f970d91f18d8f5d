/*
 * cmd_move.c -- gpush import (a data directory's registry and log into a
 * database) and gpush export (a database's into a data directory): the
 * move to several hosts and back, without losing a line.
 *
 * Both go through the stores' own calls, so that the destination keeps
 * its rules: channels through gpush_store_edit (a channel whose id the
 * destination has already is kept as it is there), notifications through
 * gpush_store_accept with the record's own received_at, so that the
 * destination's dedup knows them and a second run adds nothing (each is
 * then a duplicate).  A record is turned back into the notification it
 * was made from and made into a record again; only when that gives the
 * very same bytes is it copied, so the copy is the original, line for
 * line (gpush_notification_record is deterministic; the body is the
 * record's last key, copied as it stands).
 *
 * Order: the registry first (a database refuses rows of channels it does
 * not know), then the log: a data directory's rotated logs oldest first,
 * then notifications.ndjson; a database's rows in the order tail reads
 * them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "gpush_tool.h"

/* ---- a record back into its notification --------------------------------- */

/* "2026-11-22T05:00:00.123Z" -> ms since the epoch; 0 or -1. */
static int
parse_rfc3339_ms(const char *s, int64_t *ms)
{
	struct tm tm;
	int ms3, n = 0;
	char buf[25];

	memset(&tm, 0, sizeof(tm));
	if (strlen(s) != 24 || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n",
	    &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
	    &tm.tm_sec, &ms3, &n) != 7 || n != 24)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*ms = (int64_t)timegm(&tm) * 1000 + ms3;
	gpush_format_rfc3339(*ms, buf);
	return strcmp(buf, s) == 0 ? 0 : -1;   /* no 31 February */
}

/* A string member of o, copied; NULL when absent or not a string. */
static char *
member_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return xstrdup(json_object_get_string(v));
}

/* An integer member of o (JSON integer); 0 or -1. */
static int
member_i64(struct json_object *o, const char *key, int64_t *out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	*out = json_object_get_int64(v);
	return 0;
}

/*
 * Turns one log record (line[0..len), without its newline) back into
 * the notification it was made from and its receipt time.  Returns OK
 * with *out (the caller frees), or PARSE when the line is not a record
 * gpush wrote (the record made again would differ).
 */
static enum gpush_err
record_parse(const char *line, size_t len, struct gpush_notification **out,
    int64_t *at_ms)
{
	struct gpush_notification *n;
	struct json_object *o = NULL, *v;
	enum gpush_err e = GPUSH_ERR_PARSE;
	const char *body;
	char *at = NULL, *again = NULL;
	size_t alen;

	*out = NULL;
	if (gpush__json_parse(line, len, &o) != GPUSH_OK ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return GPUSH_ERR_PARSE;
	}
	if ((n = calloc(1, sizeof(*n))) == NULL)
		die_nomem();
	n->expiration = -1;
	n->channel_id = member_str(o, "channel_id");
	n->state = member_str(o, "resource_state");
	n->resource_id = member_str(o, "resource_id");
	n->resource_uri = member_str(o, "resource_uri");
	at = member_str(o, "received_at");
	if (n->channel_id == NULL || n->state == NULL || n->resource_id == NULL ||
	    n->resource_uri == NULL || at == NULL ||
	    parse_rfc3339_ms(at, at_ms) < 0 ||
	    member_i64(o, "message_number", &n->number) < 0 || n->number < 1)
		goto out;
	if (json_object_object_get_ex(o, "channel_expiration", &v) &&
	    member_i64(o, "channel_expiration", &n->expiration) < 0)
		goto out;
	if (json_object_object_get_ex(o, "changed", &v)) {
		if (!json_object_is_type(v, json_type_array))
			goto out;
		n->changed = json_object_get(v);
	}
	/* The body: the last key, its text as it stands (it was minified
	 * when it came).  No key before it can hold the unescaped quotes of
	 * ,"body": so the first such text is the key. */
	if (json_object_object_get_ex(o, "body", &v)) {
		body = memmem(line, len, ",\"body\":", 8);
		if (body == NULL || line[len - 1] != '}')
			goto out;
		body += 8;
		if (gpush_notification_set_body(n, body,
		    (size_t)(line + len - 1 - body)) != GPUSH_OK)
			goto out;
	}
	/* The proof: the same bytes again. */
	if ((e = gpush_notification_record(n, *at_ms, &again, &alen)) != GPUSH_OK)
		goto out;
	e = alen == len + 1 && memcmp(again, line, len) == 0 ? GPUSH_OK :
	    GPUSH_ERR_PARSE;
out:
	json_object_put(o);
	free(at);
	free(again);
	if (e != GPUSH_OK) {
		gpush_notification_free(n);
		return e == GPUSH_ERR_NOMEM ? e : GPUSH_ERR_PARSE;
	}
	*out = n;
	return GPUSH_OK;
}

/* ---- copying -------------------------------------------------------------- */

struct move {
	const char *verb;            /* "import" or "export" */
	struct gpush_store *src, *dst;
	const char *dst_name;        /* for messages */
	/* channels */
	char      **lines;           /* the source registry's lines */
	char      **ids;
	size_t      n, cap;
	unsigned char *present;      /* per source channel: dst has its id */
	size_t      ch_added, ch_kept, ch_differ;
	size_t      next;            /* the more callback's position */
	/* notifications */
	uint64_t    added, dups, replays, bad, gone;
	int         failed;          /* EXIT_FAIL once a row could not go */
};

/* Each channel of the source: kept in m (lines and ids). */
static int
collect_channel(void *ctx, size_t lineno, const char *line,
    const struct gpush_channel *c, enum gpush_err e)
{
	struct move *m = ctx;

	if (c == NULL) {
		msg("%s: registry line %zu of the source skipped: %s", m->verb,
		    lineno, gpush_strerror(e));
		return 0;
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		char **l = realloc(m->lines, cap * sizeof(*l));
		if (l == NULL)
			die_nomem();
		m->lines = l;
		if ((l = realloc(m->ids, cap * sizeof(*l))) == NULL)
			die_nomem();
		m->ids = l;
		m->cap = cap;
	}
	m->lines[m->n] = xstrdup(line);
	m->ids[m->n] = xstrdup(gpush_channel_id(c));
	m->n++;
	return 0;
}

/* The destination's lines stay; a source channel with the same id is
 * marked present (and counted when it differs). */
static enum gpush_err
keep_line(void *ctx, const char *line, const struct gpush_channel *c,
    char **keep)
{
	struct move *m = ctx;

	*keep = xstrdup(line);
	if (c == NULL)
		return GPUSH_OK;
	for (size_t i = 0; i < m->n; i++) {
		if (!m->present[i] && strcmp(m->ids[i], gpush_channel_id(c)) == 0) {
			m->present[i] = 1;
			m->ch_kept++;
			if (strcmp(m->lines[i], line) != 0)
				m->ch_differ++;
		}
	}
	return GPUSH_OK;
}

/* Then the source's channels the destination did not have. */
static enum gpush_err
more_lines(void *ctx, char **line)
{
	struct move *m = ctx;

	*line = NULL;
	while (m->next < m->n && m->present[m->next])
		m->next++;
	if (m->next < m->n) {
		*line = xstrdup(m->lines[m->next]);
		m->present[m->next++] = 1;
		m->ch_added++;
	}
	return GPUSH_OK;
}

/* The registry: source channels into the destination's, one edit. */
static int
move_channels(struct move *m)
{
	enum gpush_err e;
	int stopped;

	if ((e = gpush_store_foreach(m->src, collect_channel, m, &stopped)) !=
	    GPUSH_OK)
		return fail("%s: reading the source's channels: %s%s%s", m->verb,
		    gpush_strerror(e), gpush_store_error(m->src)[0] ? ": " : "",
		    gpush_store_error(m->src));
	if ((m->present = calloc(m->n ? m->n : 1, 1)) == NULL)
		die_nomem();
	if ((e = gpush_store_edit(m->dst, keep_line, more_lines, m)) != GPUSH_OK)
		return fail("%s: writing the channels to %s: %s%s%s", m->verb,
		    m->dst_name, gpush_strerror(e),
		    gpush_store_error(m->dst)[0] ? ": " : "",
		    gpush_store_error(m->dst));
	return 0;
}

/*
 * A record of a channel the database no longer has (removed or expired
 * from the registry while its lines stayed in the log): the store's
 * insert refuses it (no channel, no generation), but the move must not
 * lose the line.  It goes in as a row of generation 0, which no channel
 * ever has (generations start at 1): tail and export read it, the dedup
 * of a channel made again with that id never sees it.  Idempotent by the
 * same unique key.  Returns OK (*dup set), or IO with the message said.
 */
static enum gpush_err
insert_gone(struct move *m, const char *line, size_t len,
    const struct gpush_notification *n, int *dup)
{
	PGconn *c = (PGconn *)gpush_store_pg(m->dst);
	/* Every parameter text (OID 25): $1 is the line as it stands, cast
	 * to jsonb only for the columns (jsonb would reorder its keys). */
	const Oid types[3] = { 25, 25, 25 };
	char num[24], *text;
	const char *p[3];
	PGresult *r;
	enum gpush_err e = GPUSH_ERR_IO;

	if (c == NULL)
		return GPUSH_ERR_IO;
	if ((text = strndup(line, len)) == NULL)
		die_nomem();
	snprintf(num, sizeof(num), "%lld", (long long)n->number);
	p[0] = text;
	p[1] = n->channel_id;
	p[2] = num;
	r = pq->PQexecParams(c, "WITH r AS (SELECT $1::text::jsonb AS j)"
	    " INSERT INTO gpush.notifications (channel_id, channel_generation,"
	    " message_number, received_at, resource_state, resource_id,"
	    " resource_uri, channel_expiration, changed, body, record, line)"
	    " SELECT $2, 0, $3::bigint, (r.j->>'received_at')::timestamptz,"
	    " r.j->>'resource_state', r.j->>'resource_id', r.j->>'resource_uri',"
	    " (r.j->>'channel_expiration')::bigint, r.j->'changed', r.j->'body',"
	    " r.j, $1::text FROM r"
	    " ON CONFLICT (channel_id, channel_generation, message_number)"
	    " DO NOTHING RETURNING id", 3, types, p, NULL, NULL, 0);
	if (pq->PQresultStatus(r) == PGRES_TUPLES_OK) {
		*dup = pq->PQntuples(r) == 0;
		e = GPUSH_OK;
	} else {
		msg("%s: channel %s, number %s: %.*s", m->verb, n->channel_id, num,
		    (int)strcspn(pq->PQerrorMessage(c), "\n"), pq->PQerrorMessage(c));
	}
	pq->PQclear(r);
	free(text);
	return e;
}

/* One record into the destination; where says where it came from. */
static void
move_record(struct move *m, const char *line, size_t len, const char *where,
    uint64_t lineno)
{
	struct gpush_notification *n;
	enum gpush_err e;
	int64_t at;
	int dup = 0;

	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len == 0)
		return;
	if ((e = record_parse(line, len, &n, &at)) != GPUSH_OK) {
		if (e == GPUSH_ERR_NOMEM)
			die_nomem();
		msg("%s: %s line %" PRIu64 " is not a gpush record; not copied",
		    m->verb, where, lineno);
		m->bad++;
		m->failed = 1;
		return;
	}
	/* A lost connection or a database restarting: a few tries. */
	for (int i = 0; i < 5; i++) {
		e = gpush_store_accept(m->dst, n, at, &dup);
		if (e != GPUSH_ERR_IO && e != GPUSH_ERR_LOCK)
			break;
		sleep(1);
	}
	/* Its channel is gone from the database's registry: kept all the same. */
	if (e == GPUSH_ERR_CHANNEL && gpush_store_is_database(m->dst) &&
	    (e = insert_gone(m, line, len, n, &dup)) == GPUSH_OK && !dup)
		m->gone++;
	if (e == GPUSH_OK && dup)
		m->dups++;
	else if (e == GPUSH_OK)
		m->added++;
	else if (e == GPUSH_ERR_REPLAY)
		m->replays++;
	else {
		msg("%s: %s line %" PRIu64 " (channel %s, number %" PRId64 "): "
		    "%s%s%s", m->verb, where, lineno, n->channel_id, n->number,
		    gpush_strerror(e), gpush_store_error(m->dst)[0] ? ": " : "",
		    gpush_store_error(m->dst));
		m->failed = 1;
	}
	gpush_notification_free(n);
}

/* A data directory's log file name (current when k is 0) into the
 * destination; a missing file is no error. */
static int
move_file(struct move *m, const char *dir, int k)
{
	char name[64], *path, *line = NULL;
	size_t cap = 0;
	ssize_t r;
	uint64_t lineno = 0;
	FILE *fp;

	if (k > 0)
		snprintf(name, sizeof(name), "%s.%d", GPUSH_LOG_FILE, k);
	else
		snprintf(name, sizeof(name), "%s", GPUSH_LOG_FILE);
	if ((path = path_join(dir, name)) == NULL)
		die_nomem();
	fp = fopen(path, "re");
	free(path);
	if (fp == NULL)
		return errno == ENOENT ? 0 : fail("%s: %s", name, strerror(errno));
	while ((r = getline(&line, &cap, fp)) > 0) {
		lineno++;
		if (line[r - 1] != '\n') {
			msg("%s: %s ends in a partial line (%zd bytes); not copied",
			    m->verb, name, r);
			break;
		}
		move_record(m, line, (size_t)r, name, lineno);
	}
	if (ferror(fp))
		m->failed = fail("%s: reading %s: %s", m->verb, name,
		    strerror(errno));
	free(line);
	(void)fclose(fp);
	return 0;
}

/* The database's rows, in tail's order, into the data directory. */
static int
move_rows(struct move *m, const char *conninfo)
{
	struct gpush_log_follow *f;
	const char *data, *p, *nl;
	size_t len, n;
	uint64_t row = 0;
	enum gpush_err e;

	if ((e = gpush_log_follow_new_db(conninfo, NULL, &f)) != GPUSH_OK)
		return fail("%s: %s", m->verb, gpush_strerror(e));
	for (;;) {
		if ((e = gpush_log_follow_next(f, 1000, &data, &len, &n)) !=
		    GPUSH_OK) {
			int rc = fail("%s: %s", m->verb, gpush_log_follow_name(f));
			gpush_log_follow_free(f);
			return rc;
		}
		if (n == 0)
			break;
		for (p = data; p < data + len; p = nl + 1) {
			nl = memchr(p, '\n', (size_t)(data + len - p));
			move_record(m, p, (size_t)(nl - p + 1), "row", ++row);
		}
		(void)gpush_log_follow_done(f, len);
	}
	gpush_log_follow_free(f);
	return 0;
}

/* import and export: the same, in the two directions. */
static int
move(struct tool *t, int argc, char **argv, int up)
{
	struct move m;
	struct gpush_store *ds = NULL, *dbs = NULL;
	const char *db, *dir;
	char why[256];
	enum gpush_err e;
	int rc, first;

	if ((rc = tool_options(t, argc, argv, NULL, 0, 0, &first)) != 0)
		return rc < 0 ? 0 : rc;
	memset(&m, 0, sizeof(m));
	m.verb = up ? "import" : "export";
	if ((db = tool_database(t)) == NULL)
		return usage_error(t, "needs the database: --database CONNINFO or "
		    "GPUSH_DATABASE");
	if ((dir = tool_dir(t)) == NULL)
		return EXIT_FAIL;
	if ((e = gpush_store_open(dir, &ds)) != GPUSH_OK)
		return fail("%s: cannot open the data directory: %s", dir,
		    e == GPUSH_ERR_IO ? strerror(errno) : gpush_strerror(e));
	if ((e = gpush_store_open_database(db, &dbs, why, sizeof(why))) !=
	    GPUSH_OK) {
		gpush_store_free(ds);
		return fail("%s", why);
	}
	m.src = up ? ds : dbs;
	m.dst = up ? dbs : ds;
	m.dst_name = up ? "the database" : dir;
	if ((rc = move_channels(&m)) == 0) {
		if (up) {
			int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			int k = dirfd >= 0 ? gpush__rotated_max(dirfd) : 0;
			if (dirfd >= 0)
				(void)close(dirfd);
			for (; k >= 0 && rc == 0; k--)
				rc = move_file(&m, dir, k);
		} else {
			rc = move_rows(&m, db);
		}
	}
	printf("%s: channels: %zu added, %zu already there", m.verb, m.ch_added,
	    m.ch_kept);
	if (m.ch_differ)
		printf(" (%zu of them differ there, kept as they are)", m.ch_differ);
	printf("; notifications: %" PRIu64 " added", m.added);
	if (m.gone)
		printf(" (%" PRIu64 " of channels no longer in the registry)",
		    m.gone);
	printf(", %" PRIu64 " already there", m.dups);
	if (m.replays)
		printf(", %" PRIu64 " older than the destination's dedup window "
		    "(taken as there)", m.replays);
	if (m.bad)
		printf(", %" PRIu64 " not records", m.bad);
	printf("\n");
	for (size_t i = 0; i < m.n; i++) {
		free(m.lines[i]);
		free(m.ids[i]);
	}
	free(m.lines);
	free(m.ids);
	free(m.present);
	gpush_store_free(ds);
	gpush_store_free(dbs);
	return rc != 0 ? rc : m.failed ? EXIT_FAIL : 0;
}

/* gpush import: the data directory's registry and log into the database. */
int
cmd_import(struct tool *t, int argc, char **argv)
{
	return move(t, argc, argv, 1);
}

/* gpush export: the database's registry and log into the data directory. */
int
cmd_export(struct tool *t, int argc, char **argv)
{
	return move(t, argc, argv, 0);
}
