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
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gpush_tool.h"

#define CURSOR_MAGIC "gpush-tail 1"
#define HEAD_LEN     128           /* bytes hashed to tell files apart */
#define MAX_ROTATED  1000          /* gpush_store_rotate's keep limit */
#define LINE_MAX_BUF (64u << 20)   /* a "line" past this is not a log line */
#define POLL_MS      100

struct cursor {
	uint64_t dev, ino;        /* ino 0: no file yet (start of the next) */
	int64_t  off;             /* after the last complete line printed */
	int64_t  head_len;        /* bytes of the file's start hashed ... */
	uint64_t head_hash;       /* ... into this (FNV-1a) */
};

struct tail {
	int         dirfd;
	struct cursor cur;
	int         moved;        /* cur changed since it was saved */
	char       *buf;
	size_t      cap;
};

static volatile sig_atomic_t stop_requested;

/* SIGINT, SIGTERM: finish the pass in hand, save, exit 0. */
static void
on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static uint64_t
fnv1a(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
	return h;
}

/* Hashes the first n bytes of fd.  Returns 0, or -1 when the file is
 * shorter or unreadable. */
static int
head_hash(int fd, int64_t n, uint64_t *h)
{
	char head[HEAD_LEN];

	if (n < 0 || n > HEAD_LEN || pread(fd, head, (size_t)n, 0) != n)
		return -1;
	*h = fnv1a(head, (size_t)n);
	return 0;
}

/* Has st the device and inode that cursor c names? */
static int
same_inode(const struct stat *st, const struct cursor *c)
{
	return c->ino != 0 && (uint64_t)st->st_dev == c->dev &&
	    (uint64_t)st->st_ino == c->ino;
}

/* Is the open file fd (with st) the one cursor c points into: the same
 * inode, and the same first bytes (not a new file that reuses it)? */
static int
same_file(int fd, const struct stat *st, const struct cursor *c)
{
	uint64_t h;

	if (!same_inode(st, c))
		return 0;
	return c->head_len == 0 ||
	    (head_hash(fd, c->head_len, &h) == 0 && h == c->head_hash);
}

/* Points the cursor at the start of the open file fd (NULL: none yet). */
static void
cursor_start(struct tail *tl, const struct stat *st)
{
	memset(&tl->cur, 0, sizeof(tl->cur));
	if (st != NULL) {
		tl->cur.dev = (uint64_t)st->st_dev;
		tl->cur.ino = (uint64_t)st->st_ino;
	}
	tl->moved = 1;
}

/* ---- the cursor file -------------------------------------------------------- */

/* Reads path into *c; an absent file is a cursor at the start of the
 * current log, and *fresh is set (so that it is saved even when nothing
 * is read).  Returns 0, or EXIT_FAIL after the message. */
static int
load_cursor(const char *path, struct cursor *c, int *fresh)
{
	char *buf, d[5][24];
	size_t len;
	int fd, n = 0, rc;
	int64_t v[5];

	memset(c, 0, sizeof(*c));
	*fresh = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno != ENOENT)
			return fail("%s: %s", path, strerror(errno));
		*fresh = 1;
		return 0;
	}
	rc = gpush__read_file(fd, 4096, &buf, &len);
	(void)close(fd);
	if (rc < 0)
		return fail("%s: %s", path, strerror(errno));
	rc = sscanf(buf, CURSOR_MAGIC " %20[0-9] %20[0-9] %20[0-9] %20[0-9] "
	    "%16[0-9a-f]%n", d[0], d[1], d[2], d[3], d[4], &n);
	if (rc != 5 || strcmp(buf + n, "\n") != 0) {
		free(buf);
		return fail("%s: not a gpush tail cursor", path);
	}
	free(buf);
	for (int i = 0; i < 4; i++)
		if (!gpush__parse_i64(d[i], &v[i]))
			return fail("%s: not a gpush tail cursor", path);
	c->dev = (uint64_t)v[0];
	c->ino = (uint64_t)v[1];
	c->off = v[2];
	c->head_len = v[3] <= HEAD_LEN ? v[3] : -1;
	c->head_hash = strtoull(d[4], NULL, 16);
	if (c->head_len < 0 || c->head_len > c->off)
		return fail("%s: not a gpush tail cursor", path);
	return 0;
}

/* Saves the cursor atomically (tmp, fsync, rename, directory fsync).
 * Returns 0, or EXIT_FAIL after the message. */
static int
save_cursor(const char *path, struct tail *tl)
{
	char line[160];
	int n = snprintf(line, sizeof(line), CURSOR_MAGIC " %" PRIu64 " %"
	    PRIu64 " %" PRId64 " %" PRId64 " %016" PRIx64 "\n", tl->cur.dev,
	    tl->cur.ino, tl->cur.off, tl->cur.head_len, tl->cur.head_hash);

	if (gpush__write_atomic(path, line, (size_t)n) < 0)
		return fail("saving the cursor %s: %s", path, strerror(errno));
	tl->moved = 0;
	return 0;
}

/* ---- reading ------------------------------------------------------------------ */

/* After the offset moved: hash more of the file's head if there is more
 * of it to tell the file by. */
static void
update_head(struct tail *tl, int fd)
{
	int64_t n = tl->cur.off < HEAD_LEN ? tl->cur.off : HEAD_LEN;
	uint64_t h;

	if (n > tl->cur.head_len && head_hash(fd, n, &h) == 0) {
		tl->cur.head_len = n;
		tl->cur.head_hash = h;
	}
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

/* What drain() returns when a stop signal came: the cursor is where the
 * printing stopped, and nothing after it may be read or skipped. */
#define STOPPED (-1)

/*
 * Prints the complete lines of fd from tl->cur.off on, moving the
 * offset past each chunk written whole.  final: the file will not grow
 * (a rotated log), so a partial last line is reported as lost.  Returns
 * 0 when all is printed, STOPPED, or EXIT_FAIL after the message.
 */
static int
drain(struct tail *tl, int fd, const char *name, int final)
{
	for (;;) {
		if (stop_requested)
			return STOPPED;
		ssize_t r = pread(fd, tl->buf, tl->cap, tl->cur.off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fail("reading %s: %s", name, strerror(errno));
		size_t n = whole_lines(tl->buf, (size_t)r);
		if (n == 0 && (size_t)r == tl->cap && tl->cap < LINE_MAX_BUF) {
			char *nb = realloc(tl->buf, tl->cap * 2);
			if (nb == NULL)
				return fail("out of memory");
			tl->buf = nb;
			tl->cap *= 2;
			continue;
		}
		if (n == 0) {
			if (final && r > 0)
				msg("tail: %s ends in %zd bytes without a newline; "
				    "skipped", name, r);
			return 0;
		}
		size_t w = write_out(tl->buf, n);
		size_t done = whole_lines(tl->buf, w);
		if (done > 0) {
			tl->cur.off += (int64_t)done;
			tl->moved = 1;
			update_head(tl, fd);
		}
		/* Stopped mid-write: the line cut short is printed again, whole,
		 * by the next run. */
		if (w < n && errno == EINTR && stop_requested)
			return STOPPED;
		if (w < n)
			return fail("writing to stdout: %s", strerror(errno));
	}
}

/* ---- one pass --------------------------------------------------------------- */

/* The files to read in one pass, opened together and then checked to
 * be still where they were, so that a rotation in between is noticed. */
struct snapshot {
	int         cfd;                 /* the current log, or -1 */
	struct stat cst;
	int         k;                   /* cursor's file is .k; 0: not rotated */
	int         fds[MAX_ROTATED + 1];/* fds[j]: .j for j = 1..k, or -1 */
	struct stat sts[MAX_ROTATED + 1];
};

/* Closes what snapshot_open() opened. */
static void
snapshot_close(struct snapshot *sn)
{
	if (sn->cfd >= 0)
		(void)close(sn->cfd);
	for (int j = 1; j <= sn->k; j++)
		if (sn->fds[j] >= 0)
			(void)close(sn->fds[j]);
	sn->cfd = -1;
	sn->k = 0;
}

/* Opens name in the data directory read-only and fstats it; -1 (errno)
 * when absent or unusable. */
static int
open_log(int dirfd, const char *name, struct stat *st)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd >= 0 && fstat(fd, st) < 0) {
		int saved = errno;
		(void)close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* "notifications.ndjson.J" into buf. */
static void
rotated_name(int j, char *buf, size_t sz)
{
	snprintf(buf, sz, "%s.%d", GPUSH_LOG_FILE, j);
}

/* Finds the cursor's file among the rotated logs and opens it and every
 * newer one.  Sets sn->k (0 when not found). */
static void
open_rotated(struct tail *tl, struct snapshot *sn)
{
	char name[64];

	for (int j = 1; j <= MAX_ROTATED; j++) {
		struct stat st;
		rotated_name(j, name, sizeof(name));
		int fd = open_log(tl->dirfd, name, &st);
		if (fd < 0)
			continue;
		if (same_file(fd, &st, &tl->cur)) {
			sn->k = j;
			sn->fds[j] = fd;
			sn->sts[j] = st;
			break;
		}
		(void)close(fd);
	}
	for (int j = 1; j < sn->k; j++) {
		rotated_name(j, name, sizeof(name));
		sn->fds[j] = open_log(tl->dirfd, name, &sn->sts[j]);
	}
}

/* Is name still the file st (or still absent, when st is NULL)? */
static int
still_there(int dirfd, const char *name, const struct stat *st)
{
	struct stat now;

	if (fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0)
		return st == NULL && errno == ENOENT;
	return st != NULL && now.st_dev == st->st_dev && now.st_ino == st->st_ino;
}

/* Opens the files of one pass.  Returns 0, or EXIT_FAIL. */
static int
snapshot_open(struct tail *tl, struct snapshot *sn)
{
	char name[64];

	for (int attempt = 0; attempt < 20; attempt++) {
		int stable;

		sn->cfd = open_log(tl->dirfd, GPUSH_LOG_FILE, &sn->cst);
		if (sn->cfd < 0 && errno != ENOENT)
			return fail("%s: %s", GPUSH_LOG_FILE, strerror(errno));
		sn->k = 0;
		if (tl->cur.ino != 0 && (sn->cfd < 0 ||
		    !same_inode(&sn->cst, &tl->cur)))
			open_rotated(tl, sn);
		stable = still_there(tl->dirfd, GPUSH_LOG_FILE,
		    sn->cfd >= 0 ? &sn->cst : NULL);
		for (int j = 1; stable && j <= sn->k; j++) {
			rotated_name(j, name, sizeof(name));
			stable = still_there(tl->dirfd, name, sn->fds[j] >= 0 ?
			    &sn->sts[j] : NULL);
		}
		if (stable)
			return 0;
		snapshot_close(sn);   /* a rotation ran meanwhile: again */
	}
	return fail("%s: rotated too often to follow", GPUSH_LOG_FILE);
}

/* The rest of the cursor's rotated file .k, then .k-1 .. .1 whole.
 * Returns 0, STOPPED (the cursor still in the file not finished) or
 * EXIT_FAIL. */
static int
drain_rotated(struct tail *tl, struct snapshot *sn)
{
	char name[64];
	int rc;

	for (int j = sn->k; j >= 1; j--) {
		if (sn->fds[j] < 0)
			continue;     /* a gap in the numbering */
		if (j != sn->k)
			cursor_start(tl, &sn->sts[j]);
		rotated_name(j, name, sizeof(name));
		if ((rc = drain(tl, sn->fds[j], name, 1)) != 0)
			return rc;
	}
	return 0;
}

/* Prints what is new.  Returns 0 (also when a stop signal cut it
 * short), or EXIT_FAIL after the message. */
static int
tail_pass(struct tail *tl)
{
	struct snapshot sn;
	int rc;

	sn.cfd = -1;
	sn.k = 0;
	if ((rc = snapshot_open(tl, &sn)) != 0)
		return rc;
	if (sn.k > 0) {
		/* Stopped in a rotated file: the cursor must stay there. */
		if ((rc = drain_rotated(tl, &sn)) != 0)
			goto out;
		/* No log yet: stay at the end of the newest rotated file, not
		 * at "the next log", which cannot be told from the one after
		 * it if that log is rotated away too before the next pass. */
		if (sn.cfd >= 0)
			cursor_start(tl, &sn.cst);
	} else if (tl->cur.ino != 0 && (sn.cfd < 0 ||
	    !same_inode(&sn.cst, &tl->cur))) {
		msg("tail: the log the cursor was in is gone (rotated past "
		    "--keep?); lines may be missing; going on with %s",
		    GPUSH_LOG_FILE);
		cursor_start(tl, sn.cfd >= 0 ? &sn.cst : NULL);
	} else if (tl->cur.ino == 0 && sn.cfd >= 0) {
		cursor_start(tl, &sn.cst);
	}
	if (sn.cfd >= 0) {
		/* Our inode, but shorter or with other first bytes: it was
		 * truncated (copytruncate), or it is a new file that got the
		 * inode of a dropped one.  Either way its lines are new. */
		if (sn.cst.st_size < tl->cur.off ||
		    !same_file(sn.cfd, &sn.cst, &tl->cur)) {
			msg("tail: %s was truncated or replaced; starting at its "
			    "beginning", GPUSH_LOG_FILE);
			cursor_start(tl, &sn.cst);
		}
		rc = drain(tl, sn.cfd, GPUSH_LOG_FILE, 0);
	}
out:
	snapshot_close(&sn);
	return rc == STOPPED ? 0 : rc;
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
 * after each pass that moved it. */
static int
tail_loop(struct tail *tl, const char *cursor_path, int follow)
{
	int rc = 0, src;

	for (;;) {
		rc = tail_pass(tl);
		if (cursor_path != NULL && tl->moved &&
		    (src = save_cursor(cursor_path, tl)) != 0 && rc == 0)
			rc = src;
		if (rc != 0 || !follow || stop_requested)
			return rc;
		poll_sleep();
		if (stop_requested)
			return 0;
	}
}

/* gpush tail [-f] [--cursor FILE].  Returns the exit code. */
int
cmd_tail(struct tool *t, int argc, char **argv)
{
	const char *cursor_path = NULL, *dir;
	int follow = 0, rc, first;
	const struct tool_opt opts[] = {
		{ "follow", 'f', &follow, NULL, NULL, NULL },
		{ "cursor", 0, NULL, &cursor_path, NULL, NULL },
		TOOL_OPT_END,
	};
	struct tail tl;

	if ((rc = tool_options(t, argc, argv, opts, 0, 0, &first)) != 0)
		return rc < 0 ? 0 : rc;
	if (cursor_path != NULL && cursor_path[0] == '\0')
		return usage_error(t, "--cursor needs a file name");
	if ((dir = tool_dir(t)) == NULL)
		return EXIT_FAIL;
	memset(&tl, 0, sizeof(tl));
	if (cursor_path != NULL &&
	    (rc = load_cursor(cursor_path, &tl.cur, &tl.moved)) != 0)
		return rc;
	if ((tl.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return fail("%s: %s", dir, strerror(errno));
	if (install_signals() < 0) {
		(void)close(tl.dirfd);
		return fail("sigaction: %s", strerror(errno));
	}
	tl.cap = 64 * 1024;
	if ((tl.buf = malloc(tl.cap)) == NULL)
		rc = fail("out of memory");
	else
		rc = tail_loop(&tl, cursor_path, follow);
	free(tl.buf);
	(void)close(tl.dirfd);
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
	/* No log: no notification since the last rotation.  The library
	 * would create an empty log and rotate that, pushing a real one out
	 * past --keep; there is nothing to do. */
	if (!log_exists(gpush_store_dir(s), &rc)) {
		gpush_store_free(s);
		return rc;
	}
	if ((e = gpush_store_rotate(s, (int)keep)) != GPUSH_OK)
		rc = fail("rotating %s: %s", GPUSH_LOG_FILE, gpush_strerror(e));
	gpush_store_free(s);
	return rc;
}
