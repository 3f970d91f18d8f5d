/*
 * gpush_tool.h -- what the files of the channel tool share: the command
 * table, the option parser, messages and exit codes, small parsers.  Not installed; libgpush's API is lib/gpush.h.
 */
#ifndef GPUSH_TOOL_H
#define GPUSH_TOOL_H

#include <stddef.h>
#include <stdint.h>

#include "gpush.h"
#include "gpush_private.h" /* the library's careful file primitives */

#ifndef GPUSH_DEFAULT_DIR
#define GPUSH_DEFAULT_DIR ""
#endif
#ifndef GPUSH_VERSION  /* the Makefile passes its VERSION */
#define GPUSH_VERSION "unknown"
#endif

/* Exit codes: 0 done, 1 a failure (one line on stderr), 2 a usage error. */
#define EXIT_FAIL  1
#define EXIT_USAGE 2

/* Global state of one run: what -d said, and the subcommand running. */
struct tool {
	const char *dir_opt;          /* -d DIR, or NULL */
	const struct command *cmd;    /* for usage errors */
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
/* Opens the store of tool_dir(); returns 0 with *s (the caller frees), or
 * EXIT_FAIL after the message. */
int tool_store(const struct tool *t, struct gpush_store **s);

/*
 * gpush_store_channel(), except that an id longer than GPUSH_ID_MAX is
 * unknown (GPUSH_ERR_CHANNEL) without asking the library: no registry
 * entry can have one, and lib/registry.c's scan_for() reads past its
 * needle buffer for such an id.
 */
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

#endif /* GPUSH_TOOL_H */
