/*
 * admin.c -- what the channel tool does to a data directory: edit the
 * registry atomically, rotate the log, read the dedup state.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpush_private.h"

/* store.c's internals that this file shares. */
int  gpush__store_dirfd(const struct gpush_store *s);
int  gpush__store_statefd(const struct gpush_store *s);
int  gpush__store_timeout(const struct gpush_store *s);
enum gpush_err gpush__store_rotate_locked(struct gpush_store *s, int keep);

static enum gpush_err
load_seen(struct gpush_store *s, const char *id, struct gpush_seen *seen)
{
	char name[GPUSH__SEEN_NAME];
	enum gpush_err e;
	int fd;

	memset(seen, 0, sizeof(*seen));
	fd = gpush__seen_open(gpush__store_statefd(s), id, O_RDONLY, name);
	if (fd < 0)
		return errno == ENOENT ? GPUSH_OK : gpush__errno(errno);
	e = gpush__seen_load(fd, seen);
	close(fd);
	return e;
}

enum gpush_err
gpush_store_stats(struct gpush_store *s, const char *id,
    struct gpush_channel_stats *st)
{
	struct gpush_seen seen;
	enum gpush_err e;

	memset(st, 0, sizeof(*st));
	if (s == NULL || id == NULL)
		return GPUSH_ERR_ARG;
	e = load_seen(s, id, &seen);
	if (e == GPUSH_OK || e == GPUSH_ERR_PARSE) {
		st->last_number = seen.last;
		st->accepted = seen.accepted;
		st->last_at_ms = seen.last_at_ms;
		e = GPUSH_OK;
	}
	gpush__seen_clear(&seen);
	return e;
}

enum gpush_err
gpush_store_check_state(struct gpush_store *s, const char *id)
{
	struct gpush_seen seen;
	enum gpush_err e;

	if (s == NULL || id == NULL)
		return GPUSH_ERR_ARG;
	e = load_seen(s, id, &seen);
	if (e == GPUSH_OK && (seen.bad > 0 || seen.torn))
		e = GPUSH_ERR_PARSE;
	gpush__seen_clear(&seen);
	return e;
}

/* Writes one line and its newline; OK or the errno's error. */
static enum gpush_err
put_line(int fd, char *line)
{
	int rc = gpush__write_all(fd, line, strlen(line));

	free(line);
	if (rc < 0 || gpush__write_all(fd, "\n", 1) < 0)
		return gpush__errno(errno);
	return GPUSH_OK;
}

/* Writes the kept lines of buf through fn (and more) into fd; the first
 * error, a callback's own included, stops it. */
static enum gpush_err
edit_lines(int fd, char *buf, size_t len, gpush_edit_fn fn, gpush_more_fn more,
    void *ctx)
{
	size_t off = 0;
	enum gpush_err e = GPUSH_OK;
	char *out;

	while (e == GPUSH_OK && off < len) {
		char *nl = memchr(buf + off, '\n', len - off);
		size_t l = nl ? (size_t)(nl - (buf + off)) : len - off;
		struct gpush_channel *c = NULL;
		buf[off + l] = '\0';
		if (strspn(buf + off, " \t\r") != l) {
			(void)gpush_channel_parse(buf + off, l, &c);
			out = NULL;
			e = fn(ctx, buf + off, c, &out);
			gpush_channel_free(c);
			if (e != GPUSH_OK)
				free(out);
			else if (out != NULL)
				e = put_line(fd, out);
		}
		off += l + 1;
	}
	while (e == GPUSH_OK && more != NULL) {
		out = NULL;
		if ((e = more(ctx, &out)) != GPUSH_OK || out == NULL) {
			free(out);
			break;
		}
		e = put_line(fd, out);
	}
	return e;
}

enum gpush_err
gpush_registry_foreach(const char *dir, gpush_each_fn fn, void *ctx,
    int *stopped)
{
	char path[PATH_MAX], *buf;
	size_t len, off = 0, lineno = 0;
	int fd, saved;

	*stopped = 0;
	if (dir == NULL || fn == NULL)
		return GPUSH_ERR_ARG;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
	    GPUSH_REGISTRY_FILE) >= sizeof(path))
		return GPUSH_ERR_ARG;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return errno == ENOENT ? GPUSH_OK : gpush__errno(errno);
	if (gpush__read_file(fd, 1u << 30, &buf, &len) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return gpush__errno(saved);
	}
	close(fd);
	while (*stopped == 0 && off < len) {
		char *nl = memchr(buf + off, '\n', len - off);
		size_t l = nl ? (size_t)(nl - (buf + off)) : len - off;
		struct gpush_channel *c = NULL;
		lineno++;
		buf[off + l] = '\0';
		/* Blank lines are skipped, as the handler and the edit do. */
		if (strspn(buf + off, " \t\r") != l) {
			enum gpush_err e = gpush_channel_parse(buf + off, l, &c);
			*stopped = fn(ctx, lineno, buf + off, c, e);
			gpush_channel_free(c);
		}
		off += l + 1;
	}
	free(buf);
	return GPUSH_OK;
}

/*
 * The registry is never rewritten in place: a temporary file in the same
 * directory is written, fsync'ed and renamed over it, then the directory
 * is fsync'ed, so a handler reading at the same time sees the old or the
 * new registry, whole.  registry.lock serializes editors.
 */
enum gpush_err
gpush_store_edit(struct gpush_store *s, gpush_edit_fn fn, gpush_more_fn more,
    void *ctx)
{
	int dirfd, lfd, fd = -1, tfd;
	char tmp[64], *buf = NULL;
	size_t len = 0;
	enum gpush_err e = GPUSH_OK;

	if (s == NULL || fn == NULL)
		return GPUSH_ERR_ARG;
	dirfd = gpush__store_dirfd(s);
	lfd = openat(gpush__store_statefd(s), "registry.lock", O_RDWR | O_CREAT |
	    O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lfd < 0)
		return gpush__errno(errno);
	if (gpush__lock(lfd, 1, gpush__store_timeout(s)) < 0) {
		e = errno == ETIMEDOUT ? GPUSH_ERR_LOCK : gpush__errno(errno);
		close(lfd);
		return e;
	}
	fd = openat(dirfd, GPUSH_REGISTRY_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno != ENOENT)
		e = gpush__errno(errno);
	else if (fd >= 0 && gpush__read_file(fd, 1u << 30, &buf, &len) < 0)
		e = gpush__errno(errno);
	if (fd >= 0)
		close(fd);
	snprintf(tmp, sizeof(tmp), ".%s.tmp.%ld", GPUSH_REGISTRY_FILE,
	    (long)getpid());
	if (e == GPUSH_OK) {
		tfd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
		if (tfd < 0)
			e = gpush__errno(errno);
		else {
			e = edit_lines(tfd, buf != NULL ? buf : (char *)"", len, fn,
			    more, ctx);
			if (e == GPUSH_OK && (fchmod(tfd, 0600) < 0 || fsync(tfd) < 0))
				e = gpush__errno(errno);
			if (close(tfd) < 0 && e == GPUSH_OK)
				e = gpush__errno(errno);
			if (e == GPUSH_OK && renameat(dirfd, tmp, dirfd,
			    GPUSH_REGISTRY_FILE) < 0)
				e = gpush__errno(errno);
			if (e == GPUSH_OK && fsync(dirfd) < 0)
				e = gpush__errno(errno);
			if (e != GPUSH_OK)
				(void)unlinkat(dirfd, tmp, 0);
		}
	}
	free(buf);
	gpush__unlock(lfd);
	close(lfd);
	return e;
}

enum gpush_err
gpush_store_rotate(struct gpush_store *s, int keep)
{
	if (s == NULL || keep < 1 || keep > 1000)
		return GPUSH_ERR_ARG;
	return gpush__store_rotate_locked(s, keep);
}
