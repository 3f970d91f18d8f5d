/*
 * cmd_check.c -- gpush check: one line per problem of a data directory,
 * exit 1 if any.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpush_tool.h"

/* ---- check ------------------------------------------------------------------- */

struct seen_id {
	char  *id;
	size_t lineno;
};

struct check_ctx {
	const char *dir;
	struct gpush_store *s;
	size_t  problems;
	struct seen_id *ids;     /* every parsed channel, for duplicates */
	size_t  nids, cap;
	int     nomem;
};

static void problem(struct check_ctx *cc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One problem: one line on stdout. */
static void
problem(struct check_ctx *cc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	cc->problems++;
}

/* lstat of dir/name; 0, or -1/errno. */
static int
lstat_in(const char *dir, const char *name, struct stat *st)
{
	char *p = path_join(dir, name);
	int rc, saved;

	if (p == NULL)
		return -1;
	rc = lstat(p, st);
	saved = errno;
	free(p);
	errno = saved;
	return rc;
}

/* The registry holds the tokens: owner only, a plain file (the handler
 * opens it with O_NOFOLLOW). */
static void
check_registry_file(struct check_ctx *cc)
{
	struct stat st;

	if (lstat_in(cc->dir, GPUSH_REGISTRY_FILE, &st) < 0) {
		if (errno != ENOENT)
			problem(cc, "%s: %s", GPUSH_REGISTRY_FILE, strerror(errno));
		return;
	}
	if (S_ISLNK(st.st_mode))
		problem(cc, "%s: is a symbolic link, which the handler does "
		    "not follow", GPUSH_REGISTRY_FILE);
	else if (!S_ISREG(st.st_mode))
		problem(cc, "%s: not a regular file", GPUSH_REGISTRY_FILE);
	else if ((st.st_mode & 077) != 0)
		problem(cc, "%s: mode %04o lets group or others at the channel "
		    "tokens (chmod 600)", GPUSH_REGISTRY_FILE,
		    (unsigned)(st.st_mode & 07777));
}

/* Keeps a copy of id and its line for the duplicate and state checks;
 * 0, or -1 when out of memory. */
static int
remember_id(struct check_ctx *cc, const char *id, size_t lineno)
{
	if (cc->nids == cc->cap) {
		size_t cap = cc->cap ? cc->cap * 2 : 64;
		struct seen_id *p = realloc(cc->ids, cap * sizeof(*p));
		if (p == NULL)
			return -1;
		cc->ids = p;
		cc->cap = cap;
	}
	if ((cc->ids[cc->nids].id = strdup(id)) == NULL)
		return -1;
	cc->ids[cc->nids++].lineno = lineno;
	return 0;
}

/* gpush_registry_foreach callback: a line that is not a channel, a channel
 * without token.  Returns 0, or 1 (stop) when out of memory. */
static int
check_line(void *ctx, size_t lineno, const char *line,
    const struct gpush_channel *c, enum gpush_err e)
{
	struct check_ctx *cc = ctx;
	const char *tok;

	(void)line;
	if (c == NULL) {
		problem(cc, "%s:%zu: not a channel: %s", tool_registry_name(cc->s),
		    lineno, gpush_strerror(e));
		return 0;
	}
	tok = gpush_channel_token(c);
	if (tok == NULL || tok[0] == '\0')
		problem(cc, "%s:%zu: channel %s has no token: the handler accepts "
		    "anyone who knows its id", tool_registry_name(cc->s), lineno,
		    gpush_channel_id(c));
	/* issue 10: killed between the registry write and Google's answer */
	if (half_made(c))
		problem(cc, "%s:%zu: channel %s is half made: 'gpush watch' "
		    "registered it but never recorded Google's answer (no "
		    "resourceId); clear it with 'gpush stop %s' (or 'gpush "
		    "remove %s')", tool_registry_name(cc->s), lineno,
		    gpush_channel_id(c), gpush_channel_id(c), gpush_channel_id(c));
	if (remember_id(cc, gpush_channel_id(c), lineno) < 0) {
		cc->nomem = 1;
		return 1;
	}
	return 0;
}

/* qsort order: by id, then by line, so the first line of an id leads. */
static int
by_id_then_line(const void *a, const void *b)
{
	const struct seen_id *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	if (c != 0)
		return c;
	return x->lineno < y->lineno ? -1 : x->lineno > y->lineno;
}

/* Sorted, every id that follows an equal one is a duplicate.  The
 * handler uses the first line of an id; the others are dead. */
static void
check_duplicates(struct check_ctx *cc)
{
	size_t first = 0;

	if (cc->nids < 2)
		return;     /* and qsort must not see ids == NULL */
	qsort(cc->ids, cc->nids, sizeof(*cc->ids), by_id_then_line);
	for (size_t i = 1; i < cc->nids; i++) {
		if (strcmp(cc->ids[i].id, cc->ids[first].id) != 0) {
			first = i;
			continue;
		}
		problem(cc, "%s:%zu: duplicate id %s (first on line %zu)",
		    GPUSH_REGISTRY_FILE, cc->ids[i].lineno, cc->ids[i].id,
		    cc->ids[first].lineno);
	}
}

/* The handler appends to the log, or creates it in the directory. */
static void
check_log(struct check_ctx *cc)
{
	struct stat st;
	char *p;
	int fd;

	if (lstat_in(cc->dir, GPUSH_LOG_FILE, &st) < 0) {
		if (errno != ENOENT)
			problem(cc, "%s: %s", GPUSH_LOG_FILE, strerror(errno));
		else if (access(cc->dir, W_OK | X_OK) < 0)
			problem(cc, "%s: cannot be created: %s", GPUSH_LOG_FILE,
			    strerror(errno));
		return;
	}
	if (S_ISLNK(st.st_mode) || !S_ISREG(st.st_mode)) {
		problem(cc, "%s: not a regular file", GPUSH_LOG_FILE);
		return;
	}
	if ((p = path_join(cc->dir, GPUSH_LOG_FILE)) == NULL) {
		cc->nomem = 1;
		return;
	}
	/* Opened for appending and closed: nothing is written. */
	fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	free(p);
	if (fd < 0)
		problem(cc, "%s: not writable: %s", GPUSH_LOG_FILE, strerror(errno));
	else
		(void)close(fd);
}

/* state/ is the handler's: it must be 0700 (created so on first use). */
static void
check_state_dir(struct check_ctx *cc)
{
	struct stat st;

	if (lstat_in(cc->dir, GPUSH_STATE_DIR, &st) < 0) {
		if (errno != ENOENT)
			problem(cc, "%s/: %s", GPUSH_STATE_DIR, strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode))
		problem(cc, "%s/: not a directory", GPUSH_STATE_DIR);
	else if ((st.st_mode & 07777) != 0700)
		problem(cc, "%s/: mode %04o, not 0700", GPUSH_STATE_DIR,
		    (unsigned)(st.st_mode & 07777));
}

/* The dedup state of every channel in the registry. */
static void
check_states(struct check_ctx *cc)
{
	for (size_t i = 0; i < cc->nids; i++) {
		/* A duplicate id shares its state: check it once. */
		if (i > 0 && strcmp(cc->ids[i].id, cc->ids[i - 1].id) == 0)
			continue;
		enum gpush_err e = gpush_store_check_state(cc->s, cc->ids[i].id);
		if (e == GPUSH_ERR_PARSE)
			problem(cc, "%s/: the state of channel %s is inconsistent "
			    "(foreign or torn records)", GPUSH_STATE_DIR,
			    cc->ids[i].id);
		else if (e != GPUSH_OK)
			problem(cc, "%s/: the state of channel %s: %s",
			    GPUSH_STATE_DIR, cc->ids[i].id, gpush_strerror(e));
	}
}

/* Frees what remember_id() kept. */
static void
free_ids(struct check_ctx *cc)
{
	for (size_t i = 0; i < cc->nids; i++)
		free(cc->ids[i].id);
	free(cc->ids);
}

/* gpush check: every check, one line per problem on stdout.  Returns
 * 0, or EXIT_FAIL when there was a problem (or check itself failed). */
int
cmd_check(struct tool *t, int argc, char **argv)
{
	struct check_ctx cc;
	int rc, first, stopped;

	if ((rc = tool_options(t, argc, argv, NULL, 0, 0, &first)) != 0)
		return rc < 0 ? 0 : rc;
	memset(&cc, 0, sizeof(cc));
	if (tool_database(t) != NULL) {
		/* A database: the channels' rows and their dedup state; the
		 * files' modes and the log's access have no meaning there. */
		if ((rc = tool_store(t, &cc.s)) != 0)
			return rc;
		if (gpush_store_foreach(cc.s, check_line, &cc, &stopped) != GPUSH_OK)
			problem(&cc, "channels: cannot be read: %s",
			    gpush_store_error(cc.s));
		check_duplicates(&cc);
		check_states(&cc);
		goto done;
	}
	if ((cc.dir = tool_dir(t)) == NULL)
		return EXIT_FAIL;
	/* Before the store is opened: opening creates state/ when missing. */
	check_state_dir(&cc);
	if ((rc = tool_store(t, &cc.s)) != 0)
		return rc;
	check_registry_file(&cc);
	if (gpush_registry_foreach(cc.dir, check_line, &cc, &stopped) != GPUSH_OK)
		problem(&cc, "%s: cannot be read: %s", GPUSH_REGISTRY_FILE,
		    strerror(errno));
	check_duplicates(&cc);
	check_log(&cc);
	check_states(&cc);
done:
	free_ids(&cc);
	gpush_store_free(cc.s);
	if (cc.nomem)
		return fail("out of memory");
	return cc.problems > 0 ? EXIT_FAIL : 0;
}
