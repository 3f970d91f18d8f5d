/*
 * cmd_log.c -- the log file's commands: gpush tail (print the log lines
 * after a saved position) and gpush rotate (the log to .1, under the
 * handler's lock).
 *
 * The cursor names a file, not a path: device, inode and a hash of the
 * file's first bytes (inodes are reused once a rotated log is dropped),
 * and the offset after the last line printed.  When notifications.ndjson
 * is no longer that file, it was rotated: the rest of it is read from
 * notifications.ndjson.K where it now is, then every newer rotated file,
 * then the current log from its start -- no gap, no duplicate.  Rotated
 * files are final (gpush_store_rotate moves a log under the log lock,
 * after which no handler appends to it).
 *
 * Only complete lines are printed: a handler's line is one write(2), but
 * a reader can still see half of it.  Lines reach stdout by write(2), and
 * the cursor moves only past lines that were written whole.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gpush_tool.h"

#define POLL_MS      100

static volatile sig_atomic_t stop_requested;

/* SIGINT, SIGTERM: finish the pass in hand, save, exit 0. */
static void
on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* Writes p[0..n) to stdout like gpush__write_all(), except that a stop signal
 * interrupts a write that blocks (a reader that does not read): -f must
 * end on SIGTERM even then.  Returns the bytes written; fewer than n on
 * an error or a stop (errno EINTR). */
static size_t
write_out(const char *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = write(STDOUT_FILENO, p + done, n - done);
		if (w < 0 && errno == EINTR && !stop_requested)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			break;
		}
		done += (size_t)w;
	}
	return done;
}

/* The offset just past the last newline in p[0..n), or 0. */
static size_t
whole_lines(const char *p, size_t n)
{
	while (n > 0 && p[n - 1] != '\n')
		n--;
	return n;
}

/* The reader's warnings, as tail's own. */
static void
on_warn(void *ctx, const char *m)
{
	(void)ctx;
	msg("tail: %s", m);
}

/*
 * One pass: prints the complete lines after the cursor, moving it past
 * each chunk written whole, until the reader has nothing more (or a stop
 * signal came: the cursor is where the printing stopped).  Returns 0, or
 * EXIT_FAIL after the message.
 */
static int
tail_pass(struct gpush_log_follow *f)
{
	const char *data;
	size_t len, nl, w, done;
	enum gpush_err e;

	while (!stop_requested) {
		if ((e = gpush_log_follow_next(f, SIZE_MAX, &data, &len, &nl)) !=
		    GPUSH_OK)
			return follow_fail(f, e);
		if (nl == 0)
			return 0;
		w = write_out(data, len);
		done = whole_lines(data, w);
		(void)gpush_log_follow_done(f, done);
		/* Stopped mid-write: the line cut short is printed again, whole,
		 * by the next run. */
		if (w < len && errno == EINTR && stop_requested)
			return 0;
		if (w < len)
			return fail("writing to stdout: %s", strerror(errno));
	}
	return 0;
}

/* Saves the cursor if it moved; 0 or EXIT_FAIL after the message. */
static int
tail_commit(struct gpush_log_follow *f, const char *cursor_path)
{
	if (gpush_log_follow_commit(f) != GPUSH_OK)
		return fail("saving the cursor %s: %s", cursor_path,
		    strerror(errno));
	return 0;
}

/* ---- the command --------------------------------------------------------------- */

/* SIGINT and SIGTERM end -f after the pass in hand; SIGPIPE becomes
 * EPIPE, so that the cursor is still saved when the reader goes away. */
static int
install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
		return -1;
	sa.sa_handler = SIG_IGN;
	return sigaction(SIGPIPE, &sa, NULL);
}

/* Sleeps POLL_MS unless a stop is requested (the signal cuts it short). */
static void
poll_sleep(void)
{
	struct timespec ts = { 0, POLL_MS * 1000000L };

	if (!stop_requested)
		(void)nanosleep(&ts, NULL);
}

/* Passes until done (once, or until a signal with -f), saving the cursor
 * after each pass that moved it; db: the reader is a database's. */
static int
tail_loop(struct gpush_log_follow *f, const char *cursor_path, int follow,
    int db)
{
	int rc = 0, src;

	for (;;) {
		rc = tail_pass(f);
		if ((src = tail_commit(f, cursor_path)) != 0 && rc == 0)
			rc = src;
		/* A database restarting or failing over is not the end of -f:
		 * the reader connects again (said once a second meanwhile). */
		if (rc != 0 && src == 0 && follow && db && !stop_requested) {
			for (int i = 0; i < 10 && !stop_requested; i++)
				poll_sleep();
			continue;
		}
		if (rc != 0 || !follow || stop_requested)
			return rc;
		poll_sleep();
		if (stop_requested)
			return 0;
	}
}

/* The cursor is saved as a new file renamed over the old one, in its
 * folder: a folder that is missing or not writable is said at once, with
 * the path, before a line is printed or a batch is given to --exec (which
 * would otherwise get the batch, then fail to save, and get it again on
 * every restart).  0 or EXIT_FAIL after the message. */
static int
cursor_folder_check(const char *cursor_path)
{
	const char *slash = strrchr(cursor_path, '/');
	char *folder;
	int r, saved;

	if (slash == NULL)
		folder = strdup(".");
	else if (slash == cursor_path)
		folder = strdup("/");
	else
		folder = strndup(cursor_path, (size_t)(slash - cursor_path));
	if (folder == NULL)
		return fail("out of memory");
	r = access(folder, W_OK | X_OK);
	saved = errno;
	if (r != 0) {
		r = fail("cursor %s: its folder %s: %s", cursor_path, folder,
		    strerror(saved));
		free(folder);
		return r;
	}
	free(folder);
	return 0;
}

/* gpush tail [-f] [--cursor FILE] [--exec CMD [--batch N]
 * [--batch-wait DUR]].  Returns the exit code. */
int
cmd_tail(struct tool *t, int argc, char **argv)
{
	const char *cursor_path = NULL, *dir, *batch = NULL, *wait = NULL;
	const char *db;
	struct consume_opts co = { NULL, 1000, 0, &stop_requested, 0 };
	struct gpush_log_follow *f;
	enum gpush_err e;
	int follow = 0, rc, first;
	const struct tool_opt opts[] = {
		{ "follow", 'f', &follow, NULL, NULL, NULL },
		{ "cursor", 0, NULL, &cursor_path, NULL, NULL },
		{ "exec", 0, NULL, &co.cmd, NULL, NULL },
		{ "batch", 0, NULL, &batch, NULL, NULL },
		{ "batch-wait", 0, NULL, &wait, NULL, NULL },
		TOOL_OPT_END,
	};

	if ((rc = tool_options(t, argc, argv, opts, 0, 0, &first)) != 0)
		return rc < 0 ? 0 : rc;
	if (cursor_path != NULL && cursor_path[0] == '\0')
		return usage_error(t, "--cursor needs a file name");
	if ((rc = consume_check(t, &co, cursor_path, batch, wait)) != 0)
		return rc;
	if ((db = tool_database(t)) != NULL) {
		dir = "database";
		co.db = 1;
	} else if ((dir = tool_dir(t)) == NULL) {
		return EXIT_FAIL;
	}
	if (cursor_path != NULL && (rc = cursor_folder_check(cursor_path)) != 0)
		return rc;
	if (db != NULL)
		e = gpush_log_follow_new_db(db, cursor_path, &f);
	else
		e = gpush_log_follow_new(dir, cursor_path, &f);
	if (e != GPUSH_OK) {
		if (e == GPUSH_ERR_PARSE && db != NULL)
			return fail("%s: not a cursor of a database (gpush-db-cursor)",
			    cursor_path);
		if (e == GPUSH_ERR_PARSE)
			return fail("%s: not a gpush tail cursor", cursor_path);
		if (e == GPUSH_ERR_NOMEM)
			return fail("out of memory");
		return fail("%s: %s", e == GPUSH_ERR_CONFIG ? dir : cursor_path,
		    strerror(errno));
	}
	gpush_log_follow_set_warn(f, on_warn, NULL);
	if (install_signals() < 0)
		rc = fail("sigaction: %s", strerror(errno));
	else if (co.cmd != NULL)
		rc = consume_loop(f, &co, follow);
	else
		rc = tail_loop(f, cursor_path, follow, db != NULL);
	gpush_log_follow_free(f);
	return rc;
}

/* ---- rotate ------------------------------------------------------------------ */

/* 1 when dir has a log; 0 when it has none (*rc 0) or when that cannot be
 * told (*rc EXIT_FAIL, after the message). */
static int
log_exists(const char *dir, int *rc)
{
	char *p = path_join(dir, GPUSH_LOG_FILE);
	struct stat st;
	int r, saved;

	*rc = 0;
	if (p == NULL) {
		*rc = fail("out of memory");
		return 0;
	}
	r = lstat(p, &st);
	saved = errno;
	free(p);
	if (r == 0)
		return 1;
	if (saved != ENOENT)
		*rc = fail("%s: %s", GPUSH_LOG_FILE, strerror(saved));
	return 0;
}

/* The store's warnings during a rotation (rotated logs kept for a
 * registered cursor, a repaired log tail) on stderr. */
static void
rotate_warn(void *ctx, const char *m)
{
	(void)ctx;
	msg("rotate: %s", m);
}

/* gpush rotate [--keep N]: the log to .1 under the handler's lock.
 * Returns the exit code. */
int
cmd_rotate(struct tool *t, int argc, char **argv)
{
	const char *keep_arg = NULL;
	const struct tool_opt opts[] = { { "keep", 0, NULL, &keep_arg, NULL,
	    NULL }, TOOL_OPT_END };
	struct gpush_store *s;
	int64_t keep = 7;
	enum gpush_err e;
	int rc, first;

	if ((rc = tool_options(t, argc, argv, opts, 0, 0, &first)) != 0)
		return rc < 0 ? 0 : rc;
	if (keep_arg != NULL && (!gpush__parse_i64(keep_arg, &keep) || keep < 1 ||
	    keep > 1000))
		return usage_error(t, "--keep must be a number from 1 to 1000");
	if ((rc = tool_store(t, &s)) != 0)
		return rc;
	if (gpush_store_is_database(s)) {
		gpush_store_free(s);
		return fail("rotate: not for a database store (its notifications "
		    "are rows of gpush.notifications; archive or delete old rows "
		    "with SQL)");
	}
	/* No log: no notification since the last rotation.  The library
	 * would create an empty log and rotate that, pushing a real one out
	 * past --keep; there is nothing to do. */
	if (!log_exists(gpush_store_dir(s), &rc)) {
		gpush_store_free(s);
		return rc;
	}
	gpush_store_set_warn(s, rotate_warn, NULL);
	if ((e = gpush_store_rotate(s, (int)keep)) != GPUSH_OK)
		rc = fail("rotating %s: %s", GPUSH_LOG_FILE, gpush_strerror(e));
	gpush_store_free(s);
	return rc;
}
