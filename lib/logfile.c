/*
 * logfile.c -- the log file, notifications.ndjson: the cut of a torn
 * last line, the adoption of whole lines a
 * killed writer left unregistered, reopening after a rotation or a failed
 * fdatasync, and rotation itself.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpush_private.h"

#define ADOPT_MAX   (4u << 20)

/*
 * Cuts a partial last line: kill -9 can stop a write() midway, and the
 * next record must not be glued onto the fragment.  Returns the new end,
 * or -1/errno.
 */
static off_t
cut_partial(int fd, off_t size)
{
	char buf[4096];
	off_t end = size;

	while (end > 0) {
		size_t n = end > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)end;
		ssize_t r = pread(fd, buf, n, end - (off_t)n);
		if (r != (ssize_t)n)
			return -1;
		for (size_t i = n; i > 0; i--)
			if (buf[i - 1] == '\n') {
				end = end - (off_t)n + (off_t)i;
				goto found;
			}
		end -= (off_t)n;
	}
found:
	if (end != size && ftruncate(fd, end) < 0)
		return -1;
	return end;
}

/*
 * A writer that died between writing its whole line and recording it
 * left an orphan line past log_end.  It is adopted, not cut: a reader
 * may have seen it already.  Each gets a pending record, so a retry of
 * that message commits it instead of writing it again.
 */
static int
adopt_line(struct gpush_store *s, const char *line, size_t len)
{
	struct json_object *o, *id, *num;
	struct gpush__journal *j;
	enum gpush_seen_verdict v;
	uint64_t seq, pseq;
	int rc = 0;

	if (gpush__json_parse(line, len, &o) != GPUSH_OK)
		return 0;
	if (json_object_object_get_ex(o, "channel_id", &id) &&
	    json_object_is_type(id, json_type_string) &&
	    strlen(json_object_get_string(id)) <= GPUSH_ID_MAX &&
	    json_object_object_get_ex(o, "message_number", &num) &&
	    json_object_is_type(num, json_type_int) &&
	    gpush__journal_get(s, json_object_get_string(id), &j) == GPUSH_OK) {
		int64_t n = json_object_get_int64(num);
		if (gpush__journal_judge(s, j, n, &v, &pseq) == GPUSH_OK &&
		    v == GPUSH__SEEN_NEW) {
			seq = LOAD(s->page->written) + 1;
			rc = gpush__journal_append(s, j, GPUSH__REC_PENDING, n, seq,
			    gpush_now_ms());
			if (rc == 0)
				STORE(s->page->written, seq);
		}
	}
	json_object_put(o);
	return rc;
}

struct adopt_ctx {
	struct gpush_store *s;
	char *buf;
};

static int
adopt_each(void *ctx, const char *line, size_t len, size_t off, size_t lineno)
{
	struct adopt_ctx *a = ctx;

	(void)line;
	(void)lineno;
	a->buf[off + len] = '\0'; /* our own copy: one line as a C string */
	return adopt_line(a->s, a->buf + off, len);
}

/* Registers the whole lines in [from, to) and returns 0, or -1/errno. */
static int
adopt(struct gpush_store *s, off_t from, off_t to)
{
	size_t len = (size_t)(to - from);
	char *buf = malloc(len + 1);
	struct adopt_ctx a = { s, buf };
	int rc;

	if (buf == NULL)
		return -1;
	if (pread(s->logfd, buf, len, from) != (ssize_t)len) {
		free(buf);
		return -1;
	}
	buf[len] = '\0';
	rc = gpush__for_each_line(buf, len, adopt_each, &a);
	free(buf);
	if (rc == 0 && s->warn != NULL)
		s->warn(s->wctx, "adopted a log line left by a killed writer");
	return rc;
}

/* When a writer finds the log renamed, the old file's lines must reach
 * the disk before anyone counts them synced. */
static void
sync_old_log(struct gpush_store *s)
{
	if (!s->sync_on || gpush__sync_lock(s, s->timeout_ms) < 0)
		return;
	uint64_t target = LOAD(s->page->written);
	if (fdatasync(s->logfd) == 0) {
		if (LOAD(s->page->synced) < target)
			STORE(s->page->synced, target);
	} else {
		gpush__store_warn(s, "fdatasync of the rotated log", errno);
	}
	gpush__sync_unlock(s);
}

/* Opens the log by path, replacing s->logfd; -1/errno. */
int
gpush__log_reopen(struct gpush_store *s)
{
	struct stat st;
	int fd = openat(s->dirfd, GPUSH_LOG_FILE, O_RDWR | O_APPEND | O_CREAT |
	    O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 ||
	    (s->log_group && gpush__log_group_mode(fd, &st) < 0)) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (s->logfd >= 0)
		close(s->logfd);
	s->logfd = fd;
	s->logdev = st.st_dev;
	s->logino = st.st_ino;
	s->loggen = LOAD(s->page->gen);
	return 0;
}

/*
 * Under the log lock: makes s->logfd the current log (reopening after a
 * rotation or a failed fdatasync) and its end a whole, registered line.
 * The page is this boot's: gpush__log_lock checked it before it took the
 * lock.  Returns the offset to append at, or -1/errno.
 */
off_t
gpush__log_ready(struct gpush_store *s)
{
	struct gpush_commit *c = s->page;
	struct stat st;
	off_t end;

	gpush__sync_ready(s);
	/* Steady state: nothing renamed in the directory (the watch), this
	 * process's file is the page's, and no writer died mid-line. */
	if (!gpush__watch_log(s) && s->logfd >= 0 && s->loggen == LOAD(c->gen) &&
	    LOAD(c->log_ino) == (uint64_t)s->logino &&
	    LOAD(c->log_dev) == (uint64_t)s->logdev && !LOAD(c->writing))
		return LOAD(c->log_end);
	if (fstatat(s->dirfd, GPUSH_LOG_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return -1;
		st.st_ino = 0;
	}
	if (s->logfd < 0 || st.st_ino != s->logino || st.st_dev != s->logdev ||
	    s->loggen != LOAD(c->gen)) {
		if (s->logfd >= 0 && (st.st_ino != s->logino ||
		    st.st_dev != s->logdev))
			sync_old_log(s);
		if (gpush__log_reopen(s) < 0)
			return -1;
	}
	if (fstat(s->logfd, &st) < 0)
		return -1;
	end = LOAD(c->log_end);
	if (LOAD(c->log_ino) != (uint64_t)st.st_ino ||
	    LOAD(c->log_dev) != (uint64_t)st.st_dev || st.st_size < end ||
	    st.st_size - end > (off_t)ADOPT_MAX) {
		/* A file this page has not seen (new, rotated, copytruncated):
		 * trust its whole lines, cut a partial last one. */
		if ((end = cut_partial(s->logfd, st.st_size)) < 0)
			return -1;
		STORE(c->log_dev, (uint64_t)st.st_dev);
		STORE(c->log_ino, (uint64_t)st.st_ino);
		STORE(c->log_end, (int64_t)end);
		STORE(c->writing, 0);
		return end;
	}
	if (st.st_size > end) {
		off_t whole = cut_partial(s->logfd, st.st_size);
		if (whole < 0 || (whole > end && adopt(s, end, whole) < 0))
			return -1;
		STORE(c->log_end, (int64_t)whole);
		end = whole;
	}
	STORE(c->writing, 0);
	return end;
}

/* Shifts name.(k-1) to name.k for k = keep..2, dropping name.keep. */
static int
shift_rotated(int dirfd, int keep)
{
	char from[64], to[64];

	for (int k = keep; k >= 2; k--) {
		snprintf(from, sizeof(from), "%s.%d", GPUSH_LOG_FILE, k - 1);
		snprintf(to, sizeof(to), "%s.%d", GPUSH_LOG_FILE, k);
		if (renameat(dirfd, from, dirfd, to) < 0 && errno != ENOENT)
			return -1;
	}
	return 0;
}

/*
 * The rotation proper, with log.lock and the sync mutex both held by the
 * caller: syncs the log and counts its lines synced, so that an old-file
 * writer still waiting for its fdatasync finds itself covered, then shifts
 * the rotated logs up and renames the log to .1, and fsyncs the directory.
 * Returns OK, or the errno's error (errno set).
 */
static enum gpush_err
rotate_locked(struct gpush_store *s, int keep)
{
	uint64_t target = LOAD(s->page->written);
	char to[64];

	if (fdatasync(s->logfd) < 0)
		return gpush__errno(errno);
	if (LOAD(s->page->synced) < target)
		STORE(s->page->synced, target);
	snprintf(to, sizeof(to), "%s.1", GPUSH_LOG_FILE);
	/* beyond keep, what registered cursors still need */
	if (shift_rotated(s->dirfd, gpush__cursors_keep(s->dirfd, keep,
	    s->warn, s->wctx)) < 0 ||
	    renameat(s->dirfd, GPUSH_LOG_FILE, s->dirfd, to) < 0)
		return gpush__errno(errno);
	/* The log the page knows is gone: every writer stats at its next
	 * lock phase, whatever its watch last saw (watch.c). */
	STORE(s->page->log_ino, 0);
	STORE(s->page->log_dev, 0);
	if (fsync(s->dirfd) < 0)
		return gpush__errno(errno);
	return GPUSH_OK;
}

/*
 * Rotation takes log.lock, so that no writer can append while the file
 * moves, repairs the tail and adopts orphans first (they must not move
 * away unregistered), then takes the sync mutex and rotates.  Writers notice
 * the rename by inode and open a fresh file.  No log, nothing to rotate:
 * an empty one would push real rotated logs out.
 */
enum gpush_err
gpush_store_rotate(struct gpush_store *s, int keep)
{
	enum gpush_err e;

	if (s == NULL || keep < 1 || keep > 1000)
		return GPUSH_ERR_ARG;
	if (s->pg != NULL) return GPUSH_ERR_NOTSUP; /* a database store */
	if ((e = gpush__log_lock(s)) != GPUSH_OK)
		return e;
	if (faccessat(s->dirfd, GPUSH_LOG_FILE, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		e = errno == ENOENT ? GPUSH_OK : gpush__errno(errno);
	else if (gpush__log_ready(s) < 0)
		e = gpush__errno(errno);
	else if (gpush__sync_lock(s, s->timeout_ms) < 0)
		e = errno == ETIMEDOUT ? GPUSH_ERR_LOCK : gpush__errno(errno);
	else {
		e = rotate_locked(s, keep);
		gpush__sync_unlock(s);
	}
	gpush__log_unlock(s);
	return e;
}
