/*
 * gpush_private.h -- internals shared by the files of lib/; not installed.
 */
#ifndef GPUSH_PRIVATE_H
#define GPUSH_PRIVATE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "gpush.h"

#ifndef GPUSH_VERSION  /* the Makefile passes its VERSION */
#define GPUSH_VERSION "unknown"
#endif

struct gpush_channel {
	char    *id;
	char    *token;
	char    *type;
	char    *address;
	char    *resource_id;
	char    *resource_uri;
	char    *kind;
	int64_t  expiration;      /* 0: none */
	struct json_object *params; /* object of strings, or NULL */
	struct json_object *extra;  /* gpush's own "gpush..." keys, or NULL */
	int      packed;          /* 1: the strings live in this struct's block */
};

struct gpush_notification {
	char    *channel_id;
	char    *token;           /* NULL when the header is absent */
	char    *state;
	char    *resource_id;
	char    *resource_uri;
	int64_t  number;
	int64_t  expiration;      /* -1: header absent */
	struct json_object *changed; /* array of strings, or NULL */
	char    *body;    /* the body as minified JSON text, or NULL */
	size_t   body_len;
};

/* err.c */
enum gpush_err gpush__errno(int e);

/* text.c */
int   gpush__text_ok(const char *s, size_t len); /* UTF-8, no controls */
int   gpush__utf8_ok(const unsigned char *s, size_t len);
size_t gpush__json_plain_prefix(const char *s, size_t len);
char *gpush__strndup(const char *s, size_t len);
int   gpush__parse_i64(const char *s, int64_t *out); /* plain decimal >= 0 */
#define GPUSH__DEC_MAX 20 /* digits of UINT64_MAX */
size_t gpush__dec(uint64_t v, char out[GPUSH__DEC_MAX]);
void  gpush__hex(const char *s, char *out, size_t outsz);
int   gpush__blank_line(const char *p, size_t len);
typedef int (*gpush__line_fn)(void *ctx, const char *line, size_t len,
    size_t off, size_t lineno);
int   gpush__for_each_line(const char *buf, size_t size, gpush__line_fn fn,
    void *ctx);

/* fileio.c */
int   gpush__write_all(int fd, const void *buf, size_t len);
ssize_t gpush__pread_full(int fd, void *buf, size_t n, off_t off);
int   gpush__read_file(int fd, size_t max, char **out, size_t *len);
int   gpush__fsync_dir(const char *dir);
int   gpush__path_join(char *buf, size_t sz, const char *dir, const char *name);
int   gpush__tmp_name(char *buf, size_t sz, const char *name);
int   gpush__write_atomic(const char *path, const char *data, size_t len);
int   gpush__write_atomic_mode(const char *path, const char *data, size_t len,
    mode_t mode);
int   gpush__lock(int fd, int exclusive, int timeout_ms);
enum gpush_err gpush__lock_wait(int fd, int timeout_ms);
void  gpush__unlock(int fd);

/* json.c */
#define JSON_DEPTH 64 /* nesting allowed in a body */
int   gpush__json_valid(const char *s, size_t len);
int   gpush__json_valid_depth(const char *s, size_t len, int depth);
size_t gpush__json_minify(const char *s, size_t len, char *out);
enum gpush_err gpush__json_parse(const char *s, size_t len,
    struct json_object **out);

/* channel.c */
enum gpush_err gpush__channel_from_json(struct json_object *o,
    struct gpush_channel **out);
/* c in one block (struct and strings), for a channel kept long and only
 * read (the hot cache): one allocation's overhead instead of eight.
 * Takes c; returns the packed channel, or c itself when out of memory. */
struct gpush_channel *gpush__channel_pack(struct gpush_channel *c);
enum gpush_err gpush__channel_merge(struct gpush_channel *c,
    struct json_object *o);

/* registry.c */
struct gpush_registry;
struct gpush_registry *gpush__registry_new(int cache);
void gpush__registry_free(struct gpush_registry *r);
int  gpush__registry_cached(const struct gpush_registry *r);
enum gpush_err gpush__registry_find(struct gpush_registry *r, int dirfd,
    int statefd, const char *id, const struct gpush_channel **out,
    gpush_warn_fn warn, void *wctx, int unchanged);
uint64_t gpush__registry_hash(const char *id);
struct gpush_channel *gpush__registry_parse_line(const char *p, size_t len,
    size_t lineno, gpush_warn_fn warn, void *wctx);

/* registry_index.c: state/registry.idx */
struct stat;
#define GPUSH__INDEX_MIN (256 * 1024) /* registry bytes worth an index */
void gpush__index_write(int statefd, const struct stat *st, const char *map,
    gpush_warn_fn warn, void *wctx);
int  gpush__index_map(int statefd, const struct stat *st, void **map,
    size_t *len, size_t *count);
struct gpush_channel *gpush__index_lookup(const void *map, size_t count,
    int regfd, off_t regsize, const char *id, gpush_warn_fn warn, void *wctx);
int  gpush__index_find(int statefd, int regfd, const struct stat *st,
    const char *id, struct gpush_channel **found, gpush_warn_fn warn,
    void *wctx);

/* dedup.c: the per-channel state file */
struct gpush_pending {
	int64_t  number;
	uint64_t seq;
};
struct gpush_seen {
	int64_t *nums;    /* committed numbers in the order accepted */
	size_t   n, cap;
	struct gpush_pending *pend; /* written, not known durable */
	size_t   npend;
	uint64_t accepted;
	int64_t  last;
	int64_t  last_at_ms;
	off_t    size;    /* bytes of whole records */
	size_t   records;
	size_t   bad;     /* records that are not ours */
	int      torn;    /* a partial record at the end */
};
enum gpush_seen_verdict {
	GPUSH__SEEN_NEW, GPUSH__SEEN_DUP, GPUSH__SEEN_PENDING, GPUSH__SEEN_REPLAY
};
#define GPUSH__REC_PENDING 1u
#define GPUSH__REC_COMMIT  2u
#define GPUSH__REC_BASE    4u

void gpush__seen_clear(struct gpush_seen *s);
#define GPUSH__REC_SIZE 32                      /* one journal record */
#define GPUSH__COMPACT_AT (2 * GPUSH_DEDUP_WINDOW) /* records, then compact */
#define GPUSH__SEEN_NAME (GPUSH_ID_MAX * 2 + 8)   /* "ch-" + hex + NUL */
void gpush__seen_name(const char *id, char *buf, size_t sz);
int  gpush__seen_open(int statefd, const char *id, int flags,
    char name[GPUSH__SEEN_NAME]);
enum gpush_err gpush__seen_load(int fd, struct gpush_seen *s);
enum gpush_seen_verdict gpush__seen_judge(const struct gpush_seen *s,
    int64_t n, uint64_t floor, uint64_t *seq);
int gpush__seen_append(int fd, off_t size, uint32_t kind, int64_t n,
    uint64_t seq, int64_t at_ms);
int gpush__seen_compact(int dirfd, const char *dirpath, const char *name,
    const struct gpush_seen *s, int64_t now_ms);

/* A journal's summary, enough to judge a number newer than every one
 * committed (the common case) without its window: the newest committed
 * number and the pending records of numbers above it then. */
struct gpush__jsum {
	int64_t  last;
	/* Pending numbers: the first here, the others in more (allocated
	 * when a second is pending at once, which is rare) -- an array for
	 * each of a thousand open journals was a tenth of a process's heap. */
	struct gpush_pending one;
	struct gpush_pending *more;
	size_t   npend, mcap;      /* npend counts one and more */
	size_t   records;          /* whole records fed */
	size_t   bad;
};
void gpush__jsum_clear(struct gpush__jsum *j);
int  gpush__jsum_feed(struct gpush__jsum *j, const char *buf, size_t len);
int  gpush__jsum_add(struct gpush__jsum *j, uint32_t kind, int64_t n,
    uint64_t seq);
int  gpush__jsum_judge(const struct gpush__jsum *j, int64_t n, uint64_t floor,
    enum gpush_seen_verdict *v, uint64_t *seq);
int64_t gpush__jsum_top(const struct gpush__jsum *j);

/* The data directory's shared state and one process's handle on it.
 * The files are described in store.c (state/), commit.c (the page) and
 * logfile.c (the log). */
#define COMMIT_MAGIC "GPUSHCM3" /* 2: the log mutex; 3: jtop (issue 12) */
#define GPUSH__PAGE_FILE "shared" /* in state/; the last layouts': page, commit */
#define GPUSH__PAGE_LEN 12288    /* three pages */
#define GPUSH__JSLOTS 256
#define GPUSH__JTOPS 1024
#define GPUSH__JTOP_UNKNOWN INT64_MAX /* a record of the slot may be torn */
struct gpush_commit {
	char     magic[8];
	char     boot[40];   /* /proc/sys/kernel/random/boot_id */
	uint64_t written;    /* seq of the last line written */
	uint64_t synced;     /* every line up to this seq is durable */
	uint64_t floor;      /* pending records <= floor predate a reboot */
	uint64_t log_dev, log_ino;
	int64_t  log_end;    /* end of the last registered line */
	uint32_t writing;    /* a line is being written: log_end may lag */
	uint64_t gen;        /* bumped when an fdatasync failed */
	uint32_t sync_gen;   /* futex word: bumped after every fdatasync */
	/* Per hash of a channel id (journal.c): bumped under log.lock when a
	 * journal of that hash is appended to (japp), and when one is
	 * replaced or removed (jrepl), so a process that kept a journal open
	 * knows when to read on and when to reopen it. */
	uint32_t japp[GPUSH__JSLOTS];
	uint32_t jrepl[GPUSH__JSLOTS];
	/* Held by the one process running fdatasync for all (commit.c):
	 * robust and process-shared, so a holder that dies lets go of it,
	 * as of an flock, without a syscall when nobody waits.  sync_ready
	 * says it was made this boot (check_boot clears it). */
	uint32_t sync_ready;
	uint32_t sync_waiters; /* sleeping on sync_gen: wake them */
	pthread_mutex_t sync_mx;
	/* The log lock (commit.c), robust and process-shared like sync_mx;
	 * made once a boot under log.lock's flock, which stands in for it
	 * until log_ready says it was made. */
	uint32_t log_ready;
	pthread_mutex_t log_mx;
	/* The journal record being written, as its jtop slot + 1 (0: none):
	 * left set by a writer that died or could not cut back its fragment,
	 * which the next lock holder finds (journal.c). */
	uint32_t jwriting;
	/* Bumped whenever check_boot resets jtop: a summary read before
	 * then does not combine with jtop (journal.c). */
	uint32_t jepoch;
	/* Per hash of a channel id, a finer one than japp's: at least the
	 * largest number of any record appended to a journal of that hash
	 * since the page was made this boot, raised before the record is
	 * written; GPUSH__JTOP_UNKNOWN once a record may be torn.  A process
	 * whose summary of a journal is behind judges a number above both
	 * this and its summary new without reading on (journal.c). */
	int64_t  jtop[GPUSH__JTOPS];
};
_Static_assert(sizeof(struct gpush_commit) <= GPUSH__PAGE_LEN, "the shared page");

struct gpush__pg;
struct gpush_store {
	char    *dir;
	char    *statepath;
	int      dirfd, statefd;
	int      lockfd, syncfd;
	int      log_flocked;      /* holds the log lock as log.lock's flock */
	struct gpush_commit *page;
	int      logfd;
	dev_t    logdev;
	ino_t    logino;
	uint64_t loggen;
	int      sync_on;
	int      log_group;       /* log mode 0640 (logshare.c) */
	int      timeout_ms;
	gpush_warn_fn warn;
	void    *wctx;
	struct gpush_registry *reg;
	char     boot[40];
	struct gpush__pg *pg;     /* a database store (pgstore.c); NULL: files */
	struct gpush__journals *jc; /* journals kept open (journal.c) */
	struct {                    /* a COMMIT owed since the last request */
		char    id[GPUSH_ID_MAX + 1];
		int64_t n;
		int     owed;
	} owed;
	int      watch;           /* inotify (watch.c); -1: none */
	int      looked;          /* the watch was read for this request */
	int      reg_changed;     /* it saw a change the registry lookup */
	int      log_changed;     /* and the log has not looked at yet */
};

#define LOAD(p)     __atomic_load_n(&(p), __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n(&(p), (v), __ATOMIC_SEQ_CST)

/* store.c */
void gpush__store_warn(struct gpush_store *s, const char *what, int e);

/* journal.c: channels' dedup journals as a process holds them */
struct gpush__journals;
struct gpush__journal {
	struct gpush__jsum sum;
	off_t    size;             /* bytes read and fed */
	unsigned slot;             /* hash of id, mod GPUSH__JSLOTS */
	unsigned tslot;            /* hash of id, mod GPUSH__JTOPS */
	int      live;             /* 0: an empty entry (fd is not ours) */
	int      fd;
	uint32_t app, repl;        /* the page's counters when current */
	uint32_t own;              /* this process's appends to the slot then */
	uint32_t epoch;            /* the page's jepoch when last read */
	unsigned used;             /* for eviction */
	char     id[];             /* allocated to its length */
};
struct gpush__journals *gpush__journals_new(size_t max);
void gpush__journals_free(struct gpush__journals *jc);
enum gpush_err gpush__journal_get(struct gpush_store *s, const char *id,
    struct gpush__journal **out);
int  gpush__journal_append(struct gpush_store *s, struct gpush__journal *j,
    uint32_t kind, int64_t n, uint64_t seq, int64_t now_ms);
void gpush__journal_compact(struct gpush_store *s, struct gpush__journal *j,
    int64_t now_ms);
void gpush__journal_removed(struct gpush_store *s, const char *id);
enum gpush_err gpush__journal_judge(struct gpush_store *s,
    struct gpush__journal *j, int64_t n, enum gpush_seen_verdict *v,
    uint64_t *seq);

/* watch.c: has the data directory changed since the last look? */
void gpush__watch_start(struct gpush_store *s);
void gpush__watch_stop(struct gpush_store *s);
int  gpush__watch_registry(struct gpush_store *s);
void gpush__watch_request(struct gpush_store *s);
int  gpush__watch_log(struct gpush_store *s);

/* commit.c: the shared page and group commit */
int  gpush__commit_map(struct gpush_store *s);
void gpush__check_boot(struct gpush_store *s);
enum gpush_err gpush__log_lock(struct gpush_store *s);
void gpush__log_unlock(struct gpush_store *s);
enum gpush_err gpush__commit_wait(struct gpush_store *s, uint64_t seq);
void gpush__sync_ready(struct gpush_store *s);
int  gpush__sync_lock(struct gpush_store *s, int timeout_ms);
void gpush__sync_unlock(struct gpush_store *s);

/* logfile.c */
int   gpush__log_reopen(struct gpush_store *s);
off_t gpush__log_ready(struct gpush_store *s);

/* ==== talking to Google (credentials.c jwt.c http.c oauth.c) ============ */
struct gpush_credentials {
	enum gpush_credentials_kind kind;
	char *origin;         /* the file, or NULL */
	char *describe;       /* gpush_credentials_describe() */
	char *client_email;   /* service_account */
	char *private_key;    /* service_account: PEM (secret) */
	char *private_key_id; /* service_account */
	char *client_id;      /* both; may be NULL for a service account */
	char *client_secret;  /* authorized_user (secret) */
	char *refresh_token;  /* authorized_user (secret) */
	char *token_uri;
	char *command;        /* GPUSH_CREDENTIALS_COMMAND */
};
/* credentials.c: printf into why (NULL-safe, truncating). */
void gpush__why(char *why, size_t whysz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Frees s after overwriting it (secrets). */
void gpush__free_secret(char *s);

/* jwt.c: base64url without padding of in[0..n); malloc'ed, NULL when out
 * of memory. */
char *gpush__base64url(const unsigned char *in, size_t n);
/* The RS256 JWT of the claims given (sub may be NULL); *out malloc'ed. */
enum gpush_err gpush__jwt_sign(const char *pem, const char *kid,
    const char *iss, const char *sub, const char *scope, const char *aud,
    int64_t iat, char **out);

/* http.c */
/* Copies at most dstsz-1 bytes of src[0..len) replacing control bytes and
 * invalid UTF-8 by '?'. */
void gpush__sanitize(char *dst, size_t dstsz, const char *src, size_t len);
/* r's body as a JSON object: RESPONSE when the Content-Type is not JSON or
 * the body is not one JSON object.  *out the caller's reference. */
enum gpush_err gpush__http_json(const struct gpush_http_response *r,
    struct json_object **out);
long gpush__http_total_ms(const struct gpush_http *h);

/* logfollow.c: the cursor of a log reader (`gpush tail`, consumers) */
#define GPUSH__CURSOR_MAGIC "gpush-tail 1"
#define GPUSH__CURSOR_HEAD  128   /* bytes of a file's start hashed */
struct gpush__cursor {
	uint64_t dev, ino;        /* ino 0: no file yet (start of the next) */
	int64_t  off;             /* after the last complete line consumed */
	int64_t  head_len;        /* bytes of the file's start hashed ... */
	uint64_t head_hash;       /* ... into this (FNV-1a) */
};
struct stat;
int gpush__cursor_parse(const char *buf, struct gpush__cursor *c);
int gpush__cursor_load(int atfd, const char *path, struct gpush__cursor *c);
int gpush__cursor_find(int dirfd, const struct gpush__cursor *c, int *fd,
    struct stat *st);
int gpush__cursor_in_log(int dirfd, const struct gpush__cursor *c);
int gpush__rotated_max(int dirfd);

/*
 * logfollow.c: a gpush_log_follow over another source (dbfollow.c, the
 * database's rows): the public calls go to ops with impl.  Through a
 * table, so that a program that follows only files does not link what
 * the other source needs (libpq).  On success *out owns impl (ops->free
 * frees it with the reader); on failure impl is the caller's.
 */
struct gpush__follow_ops {
	enum gpush_err (*next)(void *impl, size_t max_lines, const char **data,
	    size_t *len, size_t *nlines);
	enum gpush_err (*done)(void *impl, size_t len);
	enum gpush_err (*commit)(void *impl);
	const char *(*name)(const void *impl);
	void (*free)(void *impl);
};
enum gpush_err gpush__log_follow_other(void *impl,
    const struct gpush__follow_ops *ops, struct gpush_log_follow **out);

/*
 * pqload.c: libpq, loaded on first use (issue 12).  Linked, libpq brought
 * some 22 libraries (TLS, Kerberos, LDAP...) into every handler start-up,
 * ~11 million instructions of relocation per plain-CGI request, for a
 * store most sites never use; so nothing links -lpq and the database code
 * calls libpq through this table, filled by dlopen()/dlsym().  Each member
 * has the type of the libpq function it names (from <libpq-fe.h>), so
 * every call is checked as a direct one would be: gpush__pq.PQclear(r).
 */
#include <libpq-fe.h>

#define GPUSH__LIBPQ_SONAME "libpq.so.5"
#define GPUSH__PQ_FUNCS(X) \
	X(PQclear) X(PQconnectdb) X(PQconnectdbParams) X(PQconninfoFree) \
	X(PQconninfoParse) X(PQerrorMessage) X(PQexec) X(PQexecParams) \
	X(PQexecPrepared) X(PQfinish) X(PQfreemem) X(PQgetisnull) \
	X(PQgetlength) X(PQgetvalue) X(PQntuples) X(PQprepare) \
	X(PQresultErrorField) X(PQresultStatus) X(PQstatus)
struct gpush__libpq {
#define GPUSH__PQ_MEMBER(f) __typeof__(f) *f;
	GPUSH__PQ_FUNCS(GPUSH__PQ_MEMBER)
#undef GPUSH__PQ_MEMBER
};
/* Filled by a successful gpush__pq_load(); read only after one (any
 * PGconn * exists only after one). */
extern struct gpush__libpq gpush__pq;
/* How the database code calls it, short and typed: pq->PQclear(r). */
static const struct gpush__libpq *const pq __attribute__((unused)) = &gpush__pq;
/*
 * Loads libpq unless loaded: dlopen() of $GPUSH_LIBPQ (a path or soname)
 * or else libpq.so.5, then every function of the table.  Thread-safe.
 * OK; or IO with errno ELIBACC and why (NUL-terminated, truncated to
 * whysz) a sentence saying what failed and how to fix it -- the next
 * call tries again (libpq may have been installed meanwhile).
 */
enum gpush_err gpush__pq_load(char *why, size_t whysz);

/* logshare.c: the log shared with consumers (group mode, cursors/) */
#define GPUSH__CURSORS_DIR "cursors"
int  gpush__log_group_mode(int fd, const struct stat *st);
int  gpush__cursors_keep(int dirfd, int keep, gpush_warn_fn warn, void *wctx);

#endif /* GPUSH_PRIVATE_H */
