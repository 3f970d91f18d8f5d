/*
 * gpush_tool.h -- what the files of the channel tool share: the command
 * table, the option parser, messages and exit codes, small parsers.  Not installed; libgpush's API is lib/gpush.h.
 */
#ifndef GPUSH_TOOL_H
#define GPUSH_TOOL_H

#include <stddef.h>
#include <signal.h>
#include <stdint.h>

#include "gpush.h"
#include "gpush_private.h" /* the library's careful file primitives */

#ifndef GPUSH_DEFAULT_DIR
#define GPUSH_DEFAULT_DIR ""
#endif

/* Exit codes: 0 done, 1 a failure (one line on stderr), 2 a usage error. */
#define EXIT_FAIL  1
#define EXIT_USAGE 2

/* Global state of one run: what -d said, and the subcommand running. */
struct tool {
	const char *dir_opt;          /* -d DIR, or NULL */
	const struct command *cmd;    /* for usage errors */
	const char *db_opt;           /* --database CONNINFO, or NULL */
};

struct command {
	const char *name;
	int (*run)(struct tool *t, int argc, char **argv);
	const char *synopsis;         /* after "gpush [-d DIR] " */
	const char *summary;          /* one line for gpush --help */
	const char *help;             /* the options, for CMD --help */
};

/* ---- main.c ------------------------------------------------------------ */
/* The list of commands and global options on stdout, for gpush --help;
 * returns 0. */
int main_help(void);
/* Prints cmd's full help on stdout and returns 0 (for --help). */
int cmd_help(const struct command *cmd);
/* The data directory: -d, else $GPUSH_DIR, else the compiled-in one.
 * NULL (after saying why on stderr) when there is none. */
const char *tool_dir(const struct tool *t);
/* The database: --database, else $GPUSH_DATABASE; NULL when neither
 * (then the data directory is the store). */
const char *tool_database(const struct tool *t);
/* Opens the store: the database when tool_database() names one, else the
 * data directory of tool_dir().  Returns 0 with *s (the caller frees), or
 * EXIT_FAIL after the message (never a password). */
int tool_store(const struct tool *t, struct gpush_store **s);

/*
 * gpush_store_channel(), except that an id longer than GPUSH_ID_MAX is
 * unknown (GPUSH_ERR_CHANNEL) without asking the library: no registry
 * entry can have one, and lib/registry.c's scan_for() reads past its
 * needle buffer for such an id.
 */
/* What to say of a failed store call e: the database's own message when
 * there is one, else gpush_strerror(e). */
const char *tool_store_why(const struct gpush_store *s, enum gpush_err e);
/* The registry as messages name it: channels.jsonl, or gpush.channels. */
const char *tool_registry_name(const struct gpush_store *s);

enum gpush_err tool_lookup(struct gpush_store *s, const char *id,
    const struct gpush_channel **c);

/* ---- msg.c: messages ------------------------------------------------------ */
/* "gpush: <fmt>\n" on stderr. */
void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* msg(), then returns EXIT_FAIL. */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "gpush: CMD: <fmt>" and the command's usage line on stderr; returns
 * EXIT_USAGE. */
int usage_error(const struct tool *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The usage error for what getopt_long returned (':' or '?'). */
int bad_option(const struct tool *t, int ch, char **argv);
/* Allocation failed at a point where no error can be passed back (inside
 * a registry edit callback): say so and end the process before the edit
 * can commit, so that the registry stays as it was. */
_Noreturn void die_nomem(void);
/* 1 after saying so when standard output could not be written (out_errno,
 * or its final flush), with why_nothing_lost; else 0. */
int stdout_failed(int out_errno, const char *why_nothing_lost);
/* strdup() or die_nomem(). */
char *xstrdup(const char *s);

/* ---- values.c: durations, times, random ids, base64url, paths ---------- */
/* "90", "90s", "30m", "2h", "1d", "1h30m" -> seconds > 0.  1 or 0. */
int parse_duration(const char *s, int64_t *secs);
/* "in 2h13m" or "expired" for an expiration at ms, seen at now_ms; the
 * result lives in buf. */
const char *format_relative(int64_t ms, int64_t now_ms, char *buf,
    size_t sz);
/* Fills buf with n random bytes from getrandom(); 0 or -1/errno. */
int random_bytes(void *buf, size_t n);
/* A random UUID version 4 in out (37 bytes).  0 or -1/errno. */
int uuid_v4(char out[37]);
/* base64url of in[0..n) without padding into out (>= 4*n/3+2 bytes). */
void base64url(const unsigned char *in, size_t n, char *out);
/* The latest expiration the tool takes or keeps: 9999-12-31T23:59:59.999Z
 * in ms, so that every one prints as an RFC 3339 date. */
#define MAX_EXPIRATION INT64_C(253402300799999)
/* A channel id Google accepts ("[A-Za-z0-9\-_\+/=]+", 1..64): 1 or 0. */
int channel_id_ok(const char *id);
/* An https:// address with a host and no white space: 1 or 0. */
int address_ok(const char *a);
/* dir "/" name, malloc'ed (the caller frees); NULL when out of memory. */
char *path_join(const char *dir, const char *name);

/* ---- options.c: the one option parser ------------------------------------ */
/*
 * One option of a subcommand (besides --help, which every one has): a flag
 * sets *flag to 1; a value option sets *val (the last one wins); a list
 * option appends to list[] and counts in *nlist.  Exactly one of flag,
 * val, list is set; short_name is 0 for a long-only option.
 */
struct tool_opt {
	const char  *name;
	char         short_name;
	int         *flag;
	const char **val;
	char       **list;
	size_t      *nlist;
};
#define TOOL_OPT_END { NULL, 0, NULL, NULL, NULL, NULL }
/* What tool_options() returns after printing the command's help: the
 * command then ends with exit code 0. */
#define TOOL_DONE (-1)
int tool_options(const struct tool *t, int argc, char **argv,
    const struct tool_opt *opts, int min, int max, int *first);
int tool_global_options(struct tool *t, int argc, char **argv, int *rc);

/* ---- the subcommands ------------------------------------------------------ */
int cmd_new(struct tool *t, int argc, char **argv);        /* cmd_new.c */
int cmd_update(struct tool *t, int argc, char **argv);     /* cmd_edit.c */
int cmd_remove(struct tool *t, int argc, char **argv);
int cmd_expire(struct tool *t, int argc, char **argv);
int cmd_list(struct tool *t, int argc, char **argv);       /* cmd_show.c */
int cmd_show(struct tool *t, int argc, char **argv);
int cmd_stop_body(struct tool *t, int argc, char **argv);
int cmd_due(struct tool *t, int argc, char **argv);
int cmd_check(struct tool *t, int argc, char **argv);      /* cmd_check.c */
int cmd_tail(struct tool *t, int argc, char **argv);       /* cmd_log.c */
int cmd_rotate(struct tool *t, int argc, char **argv);
int cmd_import(struct tool *t, int argc, char **argv);     /* cmd_move.c */
int cmd_export(struct tool *t, int argc, char **argv);
int cmd_db(struct tool *t, int argc, char **argv);         /* cmd_db.c */

/* ---- consume.c: tail --exec, the at-least-once consumer ------------------ */
struct consume_opts {
	const char *cmd;              /* run by /bin/sh -c, one batch on stdin */
	size_t      batch;            /* lines in a batch at most */
	int64_t     wait_ms;          /* wait for a fuller batch this long */
	volatile sig_atomic_t *stop;  /* set by SIGINT / SIGTERM */
	int         db;               /* the reader is a database's: with
	                               * follow, a lost connection is waited
	                               * out, not the end */
};
/* Checks tail's consumer options (no --exec: --batch, --batch-wait
 * refused); 0 or EXIT_USAGE after the message. */
int consume_check(const struct tool *t, struct consume_opts *o,
    const char *cursor_path, const char *batch, const char *wait);
/* Runs o->cmd on each batch after f's cursor, saving the cursor after
 * each success; until caught up, or with follow until a stop.  Returns
 * the exit code. */
int consume_loop(struct gpush_log_follow *f, const struct consume_opts *o,
    int follow);
/* The message for a log reader's error e (tail, consumers); EXIT_FAIL. */
int follow_fail(struct gpush_log_follow *f, enum gpush_err e);

/* ==== google.c: what every command that talks to Google shares ========== */
/*
 * Options: --credentials FILE, --token-command CMD, --subject EMAIL
 * (else $GPUSH_SUBJECT), --scope SCOPE, --cacert FILE (else $GPUSH_CACERT),
 * --proxy URL (else none: the *_proxy variables are not used), --timeout
 * DURATION (whole call, default 60s), --retries N (attempts, default 5).
 * Put GOOGLE_TOOL_OPTS(o) in the command's tool_opt table, call
 * google_opts_check() after tool_options(), append GOOGLE_HELP to the
 * command's help.
 */
struct google_opts {
	const char *credentials;
	const char *token_command;
	const char *subject;
	const char *scope;
	const char *cacert;
	const char *proxy;
	const char *timeout;          /* as given; parsed into timeout_ms */
	const char *retries;          /* as given; parsed into retries_n */
	long        timeout_ms;       /* 0: the library's default */
	int         retries_n;        /* 0: the library's default */
};
#define GOOGLE_TOOL_OPTS(o) \
	{ "credentials", 0, NULL, &(o).credentials, NULL, NULL }, \
	{ "token-command", 0, NULL, &(o).token_command, NULL, NULL }, \
	{ "subject", 0, NULL, &(o).subject, NULL, NULL }, \
	{ "scope", 0, NULL, &(o).scope, NULL, NULL }, \
	{ "cacert", 0, NULL, &(o).cacert, NULL, NULL }, \
	{ "proxy", 0, NULL, &(o).proxy, NULL, NULL }, \
	{ "timeout", 0, NULL, &(o).timeout, NULL, NULL }, \
	{ "retries", 0, NULL, &(o).retries, NULL, NULL }
#define GOOGLE_HELP \
	"  --credentials FILE   a service_account or authorized_user JSON file\n" \
	"                       (default: $GOOGLE_APPLICATION_CREDENTIALS, then\n" \
	"                       gcloud's application_default_credentials.json)\n" \
	"  --token-command CMD  run CMD (sh -c) for an access token instead\n" \
	"  --subject EMAIL      the user to act as (domain-wide delegation;\n" \
	"                       default $GPUSH_SUBJECT)\n" \
	"  --scope SCOPE        OAuth scope(s), space-separated\n" \
	"  --cacert FILE        trust the CAs in FILE (default $GPUSH_CACERT)\n" \
	"  --proxy URL          use this HTTP(S) proxy (default: none)\n" \
	"  --timeout DURATION   for one whole call (default 60s)\n" \
	"  --retries N          attempts on 429/5xx/connection failures (default 5)\n"
/* Parses o->timeout and o->retries.  0, or EXIT_USAGE after the message. */
int google_opts_check(const struct tool *t, struct google_opts *o);
/* The open credentials, HTTP client and token source of one run. */
struct google {
	struct gpush_credentials *creds;
	struct gpush_http        *http;
	struct gpush_auth        *auth;
};
/*
 * Opens g per o for scope (o->scope wins when set); dir is the data
 * directory whose state/ caches tokens (NULL: no cache).  Returns 0, or
 * EXIT_FAIL after the message (g then holds nothing).
 */
int google_open(const struct google_opts *o, const char *scope,
    const char *dir, struct google *g);
void google_close(struct google *g);
int cmd_auth(struct tool *t, int argc, char **argv);        /* cmd_auth.c */

/* ==== watch and stop (issue 10): google_calls.c, cmd_watch.c, cmd_stop.c === */
/* One watch or stop call and its answer. */
struct call {
	const char *id;               /* the channel's id (borrowed) */
	const char *url;              /* where a single call goes (borrowed) */
	const char *target;           /* its path and query, for a batch part */
	char       *body;             /* JSON; owned (freed by the caller) */
	struct gpush_api *api;        /* owned by the caller */
	enum gpush_err err;           /* OK when an answer arrived */
	long        status;           /* its HTTP status; 0: none */
	char       *resp;             /* its body, NUL-terminated; owned */
	size_t      resp_len;
	struct gpush_google_error gerr; /* when status is not 2xx */
	char        why[GPUSH_WHY_MAX]; /* when err is not OK */
	int         tries;
	int         done;             /* the caller's: recorded */
	int         maybe;            /* attempts that may have been acted on
	                               * by Google without an answer we could
	                               * read: a retried 5xx or lost connection
	                               * (lib: unsure), a batch that timed out,
	                               * failed or came back unreadable.  A
	                               * watch may then exist at Google. */
	int         skipped;          /* not sent alone: the run's time bound
	                               * (see calls_send) */
};
void call_clear(struct call *c);
/* Sends calls (one API) as batches or alone; see google_calls.c. */
void calls_send(struct google *g, const char *batch_url, struct call **calls,
    size_t n, int batch, void (*progress)(void *ctx, struct call *c),
    void *ctx);
/* One line saying why c failed (status, reason, message, hint). */
const char *call_failure(const struct call *c, const char *address,
    char *buf, size_t sz);
/* The extra registry key holding the watch URL (lib/gpush.h). */
#define WATCH_KEY "gpushWatch"
/* cmd_watch.c: a channel that watch registered but whose answer never
 * came (no resourceId): 1, for check. */
int half_made(const struct gpush_channel *c);
/* Removes the channels ids[0..n) from the registry (one edit) and their
 * dedup state; 0 or EXIT_FAIL after the message. */
int registry_drop(struct gpush_store *s, const char *const *ids, size_t n);
int cmd_watch(struct tool *t, int argc, char **argv);       /* cmd_watch.c */
int cmd_stop(struct tool *t, int argc, char **argv);        /* cmd_stop.c */

/* ==== renew and health (issue 11): channel_edit.c, cmd_renew.c, cmd_health.c */
/* gpush's registry keys of renewal (documented in gpush(1); the handler
 * ignores them): when a channel was watched (ms), the replacement of a
 * channel and what it replaces, and the last failed renewal. */
#define MADE_KEY        "gpushMade"
#define REPLACED_BY_KEY "gpushReplacedBy"
#define REPLACES_KEY    "gpushReplaces"
#define RENEW_STATE_KEY "gpushRenewState"  /* transient, permanent, nosync */
#define RENEW_ERROR_KEY "gpushRenewError"
#define RENEW_AT_KEY    "gpushRenewAt"
/* A fresh random id (UUID v4) and token (32 bytes, base64url); 0 or
 * -1/errno. */
#define FRESH_TOKEN_SIZE 48
int fresh_id_token(char id[37], char token[FRESH_TOKEN_SIZE]);
/* NULL when call's answer is a channel resource for c with a resourceId,
 * else what is wrong (static). */
const char *watch_answer_problem(const struct gpush_channel *c,
    const struct call *call);
/* Merges a watch answer into channel id's registry entry (one edit);
 * NOTFOUND when there is none. */
enum gpush_err registry_merge(struct gpush_store *s, const char *id,
    const char *resp, size_t len);
/* The channels.stop body {"id","resourceId"}, malloc'ed; NULL when out of
 * memory. */
char *stop_body(const char *id, const char *rid);
/* One change of registry_patch(): add a channel (add set), drop the entry
 * id (drop set; its dedup state goes too), or set (value) / remove (NULL)
 * the extra key of entry id -- which must exist unless optional. */
struct reg_op {
	const char *id;
	int drop;
	const char *key, *value;
	const struct gpush_channel *add;
	int optional;
};
/* All of ops[0..n) in one atomic registry edit, or none of them. */
enum gpush_err registry_patch(struct gpush_store *s, const struct reg_op *ops,
    size_t n);
/* cmd_check.c: the handler's files (log appendable, state/ 0700 and
 * writable, each channel's state consistent); say(ctx, line) once per
 * problem.  Returns the number of problems. */
size_t check_handler_files(const char *dir, struct gpush_store *s,
    void (*say)(void *ctx, const char *line), void *ctx);
/* An extra key holding ms as decimal; 0 when absent or not a number. */
int64_t extra_ms(const struct gpush_channel *c, const char *key);
/* 1 when c has a resourceId (Google's answer was recorded). */
int has_rid(const struct gpush_channel *c);
/* c's lifetime in ms: gpushMade to its expiration, else api's default
 * lifetime (api may be NULL: 0). */
int64_t channel_lifetime_ms(const struct gpush_channel *c,
    const struct gpush_api *api);
/* 1 when c's remaining life (*left_ms) is below within_ms, or when that
 * is 0 below a quarter of its lifetime and at least 15 minutes; never
 * for a channel without expiration. */
#define RENEW_MIN_WITHIN_MS (15 * 60 * INT64_C(1000))
int channel_due(const struct gpush_channel *c, const struct gpush_api *api,
    int64_t within_ms, int64_t now_ms, int64_t *left_ms);
int cmd_renew(struct tool *t, int argc, char **argv);       /* cmd_renew.c */
int cmd_health(struct tool *t, int argc, char **argv);      /* cmd_health.c */

#endif /* GPUSH_TOOL_H */
