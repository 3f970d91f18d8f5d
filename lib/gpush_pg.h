/*
 * gpush_pg.h -- the PostgreSQL store's internals (pgstore.c, pgschema.c);
 * not installed.  The public gpush_store_* calls dispatch here with one
 * first line, `if (s->pg != NULL) return gpush__pg_xxx(...)`, so that the
 * file store's code stays as it is.
 */
#ifndef GPUSH_PG_H
#define GPUSH_PG_H

#include "gpush_private.h"

/* pgstore.c */
void gpush__pg_free(struct gpush__pg *pg);
void gpush__pg_set_sync(struct gpush__pg *pg, int on);
void gpush__pg_set_cache(struct gpush__pg *pg, int on);
void gpush__pg_set_warn(struct gpush__pg *pg, gpush_warn_fn fn, void *ctx);
enum gpush_err gpush__pg_channel(struct gpush__pg *pg, const char *id,
    const struct gpush_channel **out);
enum gpush_err gpush__pg_accept(struct gpush__pg *pg,
    const struct gpush_notification *n, int64_t now_ms, int *duplicate);
enum gpush_err gpush__pg_stats(struct gpush__pg *pg, const char *id,
    struct gpush_channel_stats *st);
enum gpush_err gpush__pg_forget(struct gpush__pg *pg, const char *id);
enum gpush_err gpush__pg_check_state(struct gpush__pg *pg, const char *id);
enum gpush_err gpush__pg_edit(struct gpush__pg *pg, gpush_edit_fn fn,
    gpush_more_fn more, void *ctx);
enum gpush_err gpush__pg_foreach(struct gpush__pg *pg, gpush_each_fn fn,
    void *ctx, int *stopped);

struct pg_conn;
int gpush__pg_schema_version(struct pg_conn *c, char *why, size_t whysz,
    enum gpush_err *e);

/* pgschema.c: the embedded lib/schema.sql and lib/roles.sql */
extern const char gpush__schema_sql[];
extern const char gpush__roles_sql[];

#endif /* GPUSH_PG_H */
