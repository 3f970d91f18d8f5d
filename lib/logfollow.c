/*
 * logfollow.c -- reading the log after a saved position (a consumer's
 * cursor), across rotations; the reader `gpush tail` and any C program
 * use.
 *
 * The cursor names a file, not a path: device, inode and a hash of the
 * file's first bytes (inodes are reused once a rotated log is dropped),
 * and the offset after the last line consumed.  When notifications.ndjson
 * is no longer that file, it was rotated: the rest of it is read from
 * notifications.ndjson.K where it now is, then every newer rotated file,
 * then the current log from its start -- no gap, no duplicate.  Rotated
 * files are final (gpush_store_rotate moves a log under the log lock,
 * after which no handler appends to it).
 *
 * Only complete lines are handed out: a handler's line is one write(2),
 * but a reader can still see half of it.  The cursor moves only past the
 * lines the caller says it consumed (gpush_log_follow_done), and reaches
 * the disk only on gpush_log_follow_commit: a consumer commits after its
 * work is done, so a crash in between gives the lines again (at least
 * once), never skips them.
 *
 * One pass opens the current log and the rotated files the cursor still
 * needs together, then checks that they are still where they were (a
 * rotation in between is noticed and the pass opened again); the pass's
 * files are read through those descriptors until the pass ends.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpush_private.h"

#define HEAD_LEN     GPUSH__CURSOR_HEAD /* bytes hashed to tell files apart */
#define MAX_ROTATED  1000          /* gpush_store_rotate's keep limit */
#define LINE_MAX_BUF (64u << 20)   /* a "line" past this is not a log line */
#define FIRST_BUF    (64u * 1024)

/* The files of one pass. */
struct snapshot {
	int         cfd;                 /* the current log, or -1 */
	struct stat cst;
	int         k;                   /* cursor's file is .k; 0: not rotated */
	int         fds[MAX_ROTATED + 1];/* fds[j]: .j for j = 1..k, or -1 */
	struct stat sts[MAX_ROTATED + 1];
};

struct gpush_log_follow {
	int          dirfd;
	char        *cursor_path;   /* NULL: nothing is saved */
	struct gpush__cursor cur;
	int          moved;         /* cur differs from what is saved */
	int          fresh;         /* ino 0 means "the current log", not
	                               "whatever comes after nothing" */
	char        *buf;           /* the last batch (and read buffer) */
	size_t       cap;
	size_t       batch;         /* bytes handed out by the last next() */
	gpush_warn_fn warn;
	void        *wctx;
	int          in_pass;       /* sn is open */
	int          at;            /* reading .at (>0), the log (0), done (-1) */
	char         name[64];      /* the file being read, for messages */
	struct snapshot sn;
	void        *impl;          /* another source (a database's rows): */
	const struct gpush__follow_ops *ops;   /* its calls; NULL: files */
};

static void
lf_warnf(struct gpush_log_follow *f, const char *fmt, const char *a, long n)
{
	char m[256];

	if (f->warn == NULL)
		return;
	snprintf(m, sizeof(m), fmt, a, n);
	f->warn(f->wctx, m);
}

/* ---- the cursor and the files it names ------------------------------------ */

static uint64_t
lf_fnv1a(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
	return h;
}

/* Hashes the first n bytes of fd.  Returns 0, or -1 when the file is
 * shorter or unreadable. */
static int
lf_head_hash(int fd, int64_t n, uint64_t *h)
{
	char head[HEAD_LEN];

	if (n < 0 || n > HEAD_LEN || pread(fd, head, (size_t)n, 0) != n)
		return -1;
	*h = lf_fnv1a(head, (size_t)n);
	return 0;
}

/* Has st the device and inode that cursor c names? */
static int
lf_same_inode(const struct stat *st, const struct gpush__cursor *c)
{
	return c->ino != 0 && (uint64_t)st->st_dev == c->dev &&
	    (uint64_t)st->st_ino == c->ino;
}

/* Is the open file fd (with st) the one cursor c points into: the same
 * inode, and the same first bytes (not a new file that reuses it)? */
static int
lf_same_file(int fd, const struct stat *st, const struct gpush__cursor *c)
{
	uint64_t h;

	if (!lf_same_inode(st, c))
		return 0;
	return c->head_len == 0 ||
	    (lf_head_hash(fd, c->head_len, &h) == 0 && h == c->head_hash);
}

/* Points the cursor at the start of the file st (NULL: the next log). */
static void
lf_cursor_start(struct gpush_log_follow *f, const struct stat *st)
{
	memset(&f->cur, 0, sizeof(f->cur));
	if (st != NULL) {
		f->cur.dev = (uint64_t)st->st_dev;
		f->cur.ino = (uint64_t)st->st_ino;
	}
	f->moved = 1;
}

/*
 * Parses the text of a cursor file ("gpush-tail 1 DEV INO OFF HEADLEN
 * HASH\n", exactly one line).  Returns 0 with *c filled, or -1 (and *c
 * zeroed) when buf is not a cursor.
 */
int
gpush__cursor_parse(const char *buf, struct gpush__cursor *c)
{
	char d[5][24];
	int n = 0;
	int64_t v[4];

	memset(c, 0, sizeof(*c));
	if (sscanf(buf, GPUSH__CURSOR_MAGIC " %20[0-9] %20[0-9] %20[0-9] "
	    "%20[0-9] %16[0-9a-f]%n", d[0], d[1], d[2], d[3], d[4], &n) != 5 ||
	    strcmp(buf + n, "\n") != 0)
		return -1;
	for (int i = 0; i < 4; i++)
		if (!gpush__parse_i64(d[i], &v[i]))
			return -1;
	if (v[3] > HEAD_LEN || v[3] > v[2]) {
		memset(c, 0, sizeof(*c));
		return -1;
	}
	c->dev = (uint64_t)v[0];
	c->ino = (uint64_t)v[1];
	c->off = v[2];
	c->head_len = v[3];
	c->head_hash = strtoull(d[4], NULL, 16);
	return 0;
}

/*
 * Reads the cursor file path (opened by openat(atfd, path): AT_FDCWD or
 * a directory) into *c.  Returns 0; 1 when the file does not exist (*c
 * is then the start of the current log); -1 with errno on an I/O error;
 * -2 when it is not a cursor.
 */
int
gpush__cursor_load(int atfd, const char *path, struct gpush__cursor *c)
{
	char *buf;
	size_t len;
	int fd, rc, saved;

	memset(c, 0, sizeof(*c));
	if ((fd = openat(atfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return errno == ENOENT ? 1 : -1;
	rc = gpush__read_file(fd, 4096, &buf, &len);
	saved = errno;
	(void)close(fd);
	if (rc < 0) {
		errno = saved;
		return -1;
	}
	rc = memchr(buf, '\0', len) != NULL ? -1 : gpush__cursor_parse(buf, c);
	free(buf);
	return rc < 0 ? -2 : 0;
}

/* Opens name in the data directory read-only and fstats it; -1 (errno)
 * when absent or unusable. */
static int
lf_open_log(int dirfd, const char *name, struct stat *st)
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
lf_rotated_name(int j, char *buf, size_t sz)
{
	snprintf(buf, sz, "%s.%d", GPUSH_LOG_FILE, j);
}

/*
 * Which rotated file cursor c is in: J for notifications.ndjson.J, 0 when
 * it is in none of .1 .. .1000.  When fd is not NULL the file is left open
 * there (the caller closes it) and *st filled.
 */
int
gpush__cursor_find(int dirfd, const struct gpush__cursor *c, int *fd,
    struct stat *st)
{
	char name[64];
	struct stat s;

	if (c->ino == 0)
		return 0;
	for (int j = 1; j <= MAX_ROTATED; j++) {
		lf_rotated_name(j, name, sizeof(name));
		int rfd = lf_open_log(dirfd, name, &s);
		if (rfd < 0)
			continue;
		if (lf_same_file(rfd, &s, c)) {
			if (fd != NULL) {
				*fd = rfd;
				*st = s;
			} else {
				(void)close(rfd);
			}
			return j;
		}
		(void)close(rfd);
	}
	return 0;
}

/* The highest J for which notifications.ndjson.J exists; 0 when none. */
int
gpush__rotated_max(int dirfd)
{
	char name[64];
	int max = 0;

	for (int j = 1; j <= MAX_ROTATED; j++) {
		lf_rotated_name(j, name, sizeof(name));
		if (faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			max = j;
	}
	return max;
}

/* Is the current log the file cursor c is in (same inode and head)? */
int
gpush__cursor_in_log(int dirfd, const struct gpush__cursor *c)
{
	struct stat st;
	int fd = lf_open_log(dirfd, GPUSH_LOG_FILE, &st), r;

	if (fd < 0)
		return 0;
	r = lf_same_file(fd, &st, c);
	(void)close(fd);
	return r;
}

/*
 * Saves the cursor atomically: a temporary file next to it, fsync,
 * rename, fsync of the directory.  Mode 0644: a cursor holds no secret,
 * and `gpush rotate`, which may run as another user, reads registered
 * cursors (logshare.c).  Returns 0 or -1 with errno.
 */
static int
lf_save_cursor(const char *path, const struct gpush__cursor *c)
{
	char line[160];
	int n;

	n = snprintf(line, sizeof(line), GPUSH__CURSOR_MAGIC " %" PRIu64 " %"
	    PRIu64 " %" PRId64 " %" PRId64 " %016" PRIx64 "\n", c->dev, c->ino,
	    c->off, c->head_len, c->head_hash);
	/* 0644: rotate, as another user, reads registered cursors. */
	return gpush__write_atomic_mode(path, line, (size_t)n, 0644);
}

/* ---- one pass --------------------------------------------------------------- */

/* Closes what snapshot_open() opened. */
static void
snapshot_close(struct gpush_log_follow *f)
{
	struct snapshot *sn = &f->sn;

	if (sn->cfd >= 0)
		(void)close(sn->cfd);
	for (int j = 1; j <= sn->k; j++)
		if (sn->fds[j] >= 0)
			(void)close(sn->fds[j]);
	sn->cfd = -1;
	sn->k = 0;
	f->in_pass = 0;
}

/* Finds the cursor's file among the rotated logs and opens it and every
 * newer one.  Sets sn->k (0 when not found). */
static void
open_rotated(struct gpush_log_follow *f)
{
	struct snapshot *sn = &f->sn;
	char name[64];
	int fd;

	sn->k = gpush__cursor_find(f->dirfd, &f->cur, &fd, &sn->sts[0]);
	if (sn->k == 0)
		return;
	sn->fds[sn->k] = fd;
	sn->sts[sn->k] = sn->sts[0];
	for (int j = 1; j < sn->k; j++) {
		lf_rotated_name(j, name, sizeof(name));
		sn->fds[j] = lf_open_log(f->dirfd, name, &sn->sts[j]);
	}
}

/* A cursor saved at "no file yet" was saved when there was no log and no
 * rotated log (pass_start): every rotated file there now came later and
 * is unread.  Opens them all, the oldest as .k. */
static void
open_all_rotated(struct gpush_log_follow *f)
{
	struct snapshot *sn = &f->sn;
	char name[64];

	sn->k = gpush__rotated_max(f->dirfd);
	for (int j = 1; j <= sn->k; j++) {
		lf_rotated_name(j, name, sizeof(name));
		sn->fds[j] = lf_open_log(f->dirfd, name, &sn->sts[j]);
	}
}

/* With no log: the cursor at the end of the newest rotated log, not at
 * "the next log", which cannot be told from the one after it if that log
 * is rotated away too before the next pass.  No rotated log either: "no
 * file yet", which then means that whatever comes is unread. */
static void
point_at_newest(struct gpush_log_follow *f)
{
	char name[64];
	struct stat st;
	int fd;

	lf_cursor_start(f, NULL);
	lf_rotated_name(1, name, sizeof(name));
	if ((fd = lf_open_log(f->dirfd, name, &st)) < 0)
		return;
	lf_cursor_start(f, &st);
	f->cur.off = st.st_size;
	f->cur.head_len = st.st_size < HEAD_LEN ? st.st_size : HEAD_LEN;
	if (lf_head_hash(fd, f->cur.head_len, &f->cur.head_hash) < 0)
		lf_cursor_start(f, NULL);
	(void)close(fd);
}

/* Is name still the file st (or still absent, when st is NULL)? */
static int
lf_still_there(int dirfd, const char *name, const struct stat *st)
{
	struct stat now;

	if (fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0)
		return st == NULL && errno == ENOENT;
	return st != NULL && now.st_dev == st->st_dev && now.st_ino == st->st_ino;
}

/* Opens the files of one pass.  Returns OK, IO (errno) or LOCK when
 * rotations kept moving the files. */
static enum gpush_err
snapshot_open(struct gpush_log_follow *f)
{
	struct snapshot *sn = &f->sn;
	char name[64];

	for (int attempt = 0; attempt < 20; attempt++) {
		int stable;

		sn->cfd = lf_open_log(f->dirfd, GPUSH_LOG_FILE, &sn->cst);
		if (sn->cfd < 0 && errno != ENOENT) {
			snprintf(f->name, sizeof(f->name), "%s", GPUSH_LOG_FILE);
			return gpush__errno(errno);
		}
		sn->k = 0;
		if (f->cur.ino != 0 && (sn->cfd < 0 ||
		    !lf_same_inode(&sn->cst, &f->cur)))
			open_rotated(f);
		else if (f->cur.ino == 0 && !f->fresh)
			open_all_rotated(f);
		stable = lf_still_there(f->dirfd, GPUSH_LOG_FILE,
		    sn->cfd >= 0 ? &sn->cst : NULL);
		for (int j = 1; stable && j <= sn->k; j++) {
			lf_rotated_name(j, name, sizeof(name));
			stable = lf_still_there(f->dirfd, name, sn->fds[j] >= 0 ?
			    &sn->sts[j] : NULL);
		}
		f->in_pass = 1;
		if (stable)
			return GPUSH_OK;
		snapshot_close(f);   /* a rotation ran meanwhile: again */
	}
	snprintf(f->name, sizeof(f->name), "%s", GPUSH_LOG_FILE);
	return GPUSH_ERR_LOCK;   /* rotated faster than a pass */
}

/* Starts a pass: where in it the cursor is, with the warnings for a
 * cursor whose file is gone or was truncated. */
static enum gpush_err
pass_start(struct gpush_log_follow *f)
{
	struct snapshot *sn = &f->sn;
	enum gpush_err e;

	if ((e = snapshot_open(f)) != GPUSH_OK)
		return e;
	if (sn->k > 0 && f->cur.ino == 0)
		lf_cursor_start(f, &sn->sts[sn->k]);   /* all of them unread */
	f->fresh = 0;
	if (sn->k > 0) {
		f->at = sn->k;    /* the cursor is in .k already */
		return GPUSH_OK;
	}
	if (f->cur.ino != 0 && (sn->cfd < 0 || !lf_same_inode(&sn->cst, &f->cur))) {
		lf_warnf(f, "the log the cursor was in is gone (rotated past "
		    "--keep?); lines may be missing; going on with %s",
		    GPUSH_LOG_FILE, 0);
		if (sn->cfd >= 0)
			lf_cursor_start(f, &sn->cst);
		else
			point_at_newest(f);
	} else if (f->cur.ino == 0 && sn->cfd >= 0) {
		lf_cursor_start(f, &sn->cst);
	} else if (f->cur.ino == 0) {
		point_at_newest(f);
	}
	f->at = sn->cfd >= 0 ? 0 : -1;
	/* Our inode, but shorter or with other first bytes: it was truncated
	 * (copytruncate), or it is a new file that got the inode of a
	 * dropped one.  Either way its lines are new. */
	if (sn->cfd >= 0 && (sn->cst.st_size < f->cur.off ||
	    !lf_same_file(sn->cfd, &sn->cst, &f->cur))) {
		lf_warnf(f, "%s was truncated or replaced; starting at its "
		    "beginning", GPUSH_LOG_FILE, 0);
		lf_cursor_start(f, &sn->cst);
	}
	return GPUSH_OK;
}

/* The rotated file .at is read to its end: on to the next newer one, then
 * the current log.  With no log yet the cursor stays at the end of the
 * newest rotated file, not at "the next log", which cannot be told from
 * the one after it if that log is rotated away too before the next pass. */
static void
pass_advance(struct gpush_log_follow *f)
{
	struct snapshot *sn = &f->sn;

	for (int j = f->at - 1; j >= 1; j--) {
		if (sn->fds[j] >= 0) {    /* else a gap in the numbering */
			lf_cursor_start(f, &sn->sts[j]);
			f->at = j;
			return;
		}
	}
	if (sn->cfd >= 0) {
		lf_cursor_start(f, &sn->cst);
		f->at = 0;
	} else {
		f->at = -1;
	}
}

/* ---- the API ------------------------------------------------------------------ */

enum gpush_err
gpush_log_follow_new(const char *dir, const char *cursor_path,
    struct gpush_log_follow **out)
{
	struct gpush_log_follow *f;
	int rc, saved;

	*out = NULL;
	if (dir == NULL || dir[0] == '\0' ||
	    (cursor_path != NULL && cursor_path[0] == '\0'))
		return GPUSH_ERR_ARG;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return GPUSH_ERR_NOMEM;
	f->dirfd = f->sn.cfd = -1;
	f->fresh = 1;
	if (cursor_path != NULL) {
		rc = gpush__cursor_load(AT_FDCWD, cursor_path, &f->cur);
		if (rc < 0) {
			saved = errno;
			gpush_log_follow_free(f);
			errno = saved;
			return rc == -2 ? GPUSH_ERR_PARSE : gpush__errno(saved);
		}
		/* A new cursor is saved even when nothing is read. */
		f->moved = rc == 1;
		f->fresh = rc == 1;
		if ((f->cursor_path = strdup(cursor_path)) == NULL) {
			gpush_log_follow_free(f);
			return GPUSH_ERR_NOMEM;
		}
	}
	f->cap = FIRST_BUF;
	if ((f->buf = malloc(f->cap)) == NULL) {
		gpush_log_follow_free(f);
		return GPUSH_ERR_NOMEM;
	}
	if ((f->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		saved = errno;
		gpush_log_follow_free(f);
		errno = saved;
		return GPUSH_ERR_CONFIG;
	}
	*out = f;
	return GPUSH_OK;
}

enum gpush_err
gpush__log_follow_other(void *impl, const struct gpush__follow_ops *ops,
    struct gpush_log_follow **out)
{
	struct gpush_log_follow *f;

	*out = NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return GPUSH_ERR_NOMEM;
	f->dirfd = f->sn.cfd = -1;
	f->impl = impl;
	f->ops = ops;
	*out = f;
	return GPUSH_OK;
}

void
gpush_log_follow_set_warn(struct gpush_log_follow *f, gpush_warn_fn fn,
    void *ctx)
{
	f->warn = fn;
	f->wctx = ctx;
}

const char *
gpush_log_follow_name(const struct gpush_log_follow *f)
{
	if (f->ops != NULL)
		return f->ops->name(f->impl);
	return f->name;
}

/* The offset just past the last newline in p[0..n), or 0. */
static size_t
lf_whole_lines(const char *p, size_t n)
{
	while (n > 0 && p[n - 1] != '\n')
		n--;
	return n;
}

enum gpush_err
gpush_log_follow_next(struct gpush_log_follow *f, size_t max_lines,
    const char **data, size_t *len, size_t *nlines)
{
	enum gpush_err e;

	*data = NULL;
	*len = *nlines = 0;
	if (f == NULL || max_lines == 0)
		return GPUSH_ERR_ARG;
	if (f->ops != NULL)
		return f->ops->next(f->impl, max_lines, data, len, nlines);
	f->batch = 0;
	if (!f->in_pass && (e = pass_start(f)) != GPUSH_OK) {
		if (f->in_pass)
			snapshot_close(f);
		return e;
	}
	for (;;) {
		int fd = f->at > 0 ? f->sn.fds[f->at] : f->sn.cfd;

		if (f->at < 0)
			break;
		if (f->at > 0)
			lf_rotated_name(f->at, f->name, sizeof(f->name));
		else
			snprintf(f->name, sizeof(f->name), "%s", GPUSH_LOG_FILE);
		ssize_t r = pread(fd, f->buf, f->cap, f->cur.off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return gpush__errno(errno);
		size_t n = lf_whole_lines(f->buf, (size_t)r);
		if (n == 0 && (size_t)r == f->cap && f->cap < LINE_MAX_BUF) {
			char *nb = realloc(f->buf, f->cap * 2);
			if (nb == NULL)
				return GPUSH_ERR_NOMEM;
			f->buf = nb;
			f->cap *= 2;
			continue;
		}
		if (n == 0) {
			if (f->at == 0)
				break;   /* the end of the log, for this pass */
			if (r > 0)
				lf_warnf(f, "%s ends in %ld bytes without a newline; "
				    "skipped", f->name, (long)r);
			pass_advance(f);
			continue;
		}
		/* At most max_lines lines. */
		size_t k = 0, cut = 0;
		for (const char *p = f->buf; k < max_lines &&
		    (p = memchr(p, '\n', n - (size_t)(p - f->buf))) != NULL; ) {
			p++;
			k++;
			cut = (size_t)(p - f->buf);
		}
		f->batch = cut;
		*data = f->buf;
		*len = cut;
		*nlines = k;
		return GPUSH_OK;
	}
	snapshot_close(f);
	return GPUSH_OK;
}

enum gpush_err
gpush_log_follow_done(struct gpush_log_follow *f, size_t len)
{
	int64_t n;
	uint64_t h;
	int fd;

	if (f != NULL && f->ops != NULL)
		return f->ops->done(f->impl, len);
	if (f == NULL || len > f->batch || !f->in_pass || f->at < 0 ||
	    (len > 0 && f->buf[len - 1] != '\n'))
		return GPUSH_ERR_ARG;
	f->batch = 0;
	if (len == 0)
		return GPUSH_OK;
	f->cur.off += (int64_t)len;
	f->moved = 1;
	/* Hash more of the file's head if there is more of it to tell the
	 * file by. */
	fd = f->at > 0 ? f->sn.fds[f->at] : f->sn.cfd;
	n = f->cur.off < HEAD_LEN ? f->cur.off : HEAD_LEN;
	if (n > f->cur.head_len && lf_head_hash(fd, n, &h) == 0) {
		f->cur.head_len = n;
		f->cur.head_hash = h;
	}
	return GPUSH_OK;
}

enum gpush_err
gpush_log_follow_commit(struct gpush_log_follow *f)
{
	if (f == NULL)
		return GPUSH_ERR_ARG;
	if (f->ops != NULL)
		return f->ops->commit(f->impl);
	if (f->cursor_path == NULL || !f->moved)
		return GPUSH_OK;
	if (lf_save_cursor(f->cursor_path, &f->cur) < 0)
		return gpush__errno(errno);
	f->moved = 0;
	return GPUSH_OK;
}

void
gpush_log_follow_free(struct gpush_log_follow *f)
{
	if (f == NULL)
		return;
	if (f->ops != NULL)
		f->ops->free(f->impl);
	if (f->in_pass)
		snapshot_close(f);
	if (f->dirfd >= 0)
		(void)close(f->dirfd);
	free(f->cursor_path);
	free(f->buf);
	free(f);
}
