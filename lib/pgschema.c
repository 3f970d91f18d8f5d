/*
 * pgschema.c -- the PostgreSQL store's schema: made and upgraded by the
 * tool (`gpush db init`, `gpush db upgrade`), never by the handler.  The
 * SQL is lib/schema.sql and lib/roles.sql, embedded at build time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "gpush_pg.h"

const char gpush__schema_sql[] =
#include "schema_sql.h"
;
const char gpush__roles_sql[] =
#include "roles_sql.h"
;

/*
 * The steps from one version to the next: migrations[v] takes a schema
 * at version v to v + 1.  Version 0 (nothing) to 1 is schema.sql itself;
 * a later version appends its own SQL here, ending with
 * "INSERT INTO gpush.schema_version (version) VALUES (v + 1)".
 */
static const char *const migrations[GPUSH_SCHEMA_VERSION] = {
	gpush__schema_sql,
};

const char *
gpush_db_roles_sql(void)
{
	return gpush__roles_sql;
}

/* Runs sql on c; OK, or IO/CONFIG/INTERNAL with why "what: message". */
static enum gpush_err
step(PGconn *c, const char *what, const char *sql, PGresult **res, char *why,
    size_t whysz)
{
	PGresult *r = pq->PQexec(c, sql);
	ExecStatusType s = pq->PQresultStatus(r);
	const char *st, *m;

	if (res != NULL)
		*res = NULL;
	if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
		if (res != NULL)
			*res = r;
		else
			pq->PQclear(r);
		return GPUSH_OK;
	}
	st = pq->PQresultErrorField(r, PG_DIAG_SQLSTATE);
	m = pq->PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	snprintf(why, whysz, "%s: %s%s%s%s", what,
	    m != NULL ? m : pq->PQerrorMessage(c), st != NULL ? " (SQLSTATE " : "",
	    st != NULL ? st : "", st != NULL ? ")" : "");
	why[strcspn(why, "\n")] = '\0';
	pq->PQclear(r);
	if (st == NULL || pq->PQstatus(c) == CONNECTION_BAD ||
	    strncmp(st, "08", 2) == 0 || strncmp(st, "57P", 3) == 0) {
		errno = ECONNRESET;
		return GPUSH_ERR_IO;
	}
	if (strcmp(st, "42501") == 0) { /* no privilege to make it */
		errno = EACCES;
		return GPUSH_ERR_IO;
	}
	return GPUSH_ERR_INTERNAL;
}

enum gpush_err
gpush_db_migrate(const char *conninfo, int create, int *from, int *to,
    char *why, size_t whysz)
{
	const char *const keys[] = { "fallback_application_name",
	    "connect_timeout", "dbname", NULL };
	const char *const vals[] = { "gpush", "5", conninfo, NULL };
	char where[256];
	PGconn *c;
	enum gpush_err e = GPUSH_OK;
	int v;

	*from = *to = 0;
	if (whysz > 0)
		why[0] = '\0';
	if ((e = gpush__pq_load(why, whysz)) != GPUSH_OK)
		return e;
	if (conninfo == NULL || gpush_conninfo_redact(conninfo, where,
	    sizeof(where)) != GPUSH_OK) {
		snprintf(why, whysz, "the database connection string does not parse");
		return GPUSH_ERR_CONFIG;
	}
	if ((c = pq->PQconnectdbParams(keys, vals, 1)) == NULL)
		return GPUSH_ERR_NOMEM;
	if (pq->PQstatus(c) != CONNECTION_OK) {
		snprintf(why, whysz, "%s: %s", where, pq->PQerrorMessage(c));
		for (char *p = why; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20)
				*p = ' ';
		pq->PQfinish(c);
		errno = ECONNREFUSED;
		return GPUSH_ERR_IO;
	}
	/* One transaction; the advisory lock makes a second run at the same
	 * time wait and then find the work done. */
	if ((e = step(c, "BEGIN", "BEGIN", NULL, why, whysz)) != GPUSH_OK ||
	    (e = step(c, "locking", "SELECT pg_advisory_xact_lock("
	    "hashtext('gpush schema'))", NULL, why, whysz)) != GPUSH_OK ||
	    (v = gpush__pg_schema_version(c, why, whysz, &e)) < 0)
		goto out;
	*from = *to = v;
	if (v == 0 && !create) {
		snprintf(why, whysz, "%s: no gpush schema to upgrade (run 'gpush db init')",
		    where);
		e = GPUSH_ERR_CONFIG;
		goto out;
	}
	if (v > GPUSH_SCHEMA_VERSION) {
		snprintf(why, whysz, "%s: the gpush schema is version %d, newer"
		    " than this gpush's %d", where, v, GPUSH_SCHEMA_VERSION);
		e = GPUSH_ERR_CONFIG;
		goto out;
	}
	for (; v < GPUSH_SCHEMA_VERSION; v++) {
		char what[64];
		snprintf(what, sizeof(what), "schema version %d", v + 1);
		if ((e = step(c, what, migrations[v], NULL, why, whysz)) != GPUSH_OK)
			goto out;
	}
	if ((e = step(c, "COMMIT", "COMMIT", NULL, why, whysz)) == GPUSH_OK)
		*to = v;
out:
	if (e != GPUSH_OK && pq->PQstatus(c) == CONNECTION_OK)
		pq->PQclear(pq->PQexec(c, "ROLLBACK"));
	pq->PQfinish(c);
	return e;
}
