/*
 * registry_edit.c -- atomic edits of the channel registry (the channel
 * tool's): the registry is read, passed line by line through the caller's
 * callbacks, and replaced whole by rename under state/registry.lock.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpush_private.h"
#include "gpush_pg.h"

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

struct edit_ctx {
	char          *buf;
	int            fd;
	gpush_edit_fn  fn;
	void          *ctx;
	enum gpush_err e;
};

/* One non-blank line through the caller's fn, and what it keeps to fd. */
static int
edit_line(void *ctx, const char *line, size_t len, size_t off, size_t lineno)
{
	struct edit_ctx *w = ctx;
	struct gpush_channel *c = NULL;
	char *out = NULL;

	(void)line;
	(void)lineno;
	w->buf[off + len] = '\0'; /* our own copy: a C string for fn */
	(void)gpush_channel_parse(w->buf + off, len, &c);
	w->e = w->fn(w->ctx, w->buf + off, c, &out);
	gpush_channel_free(c);
	if (w->e != GPUSH_OK)
		free(out);
	else if (out != NULL)
		w->e = put_line(w->fd, out);
	return w->e != GPUSH_OK;
}

/* Writes the kept lines of buf through fn (and more) into fd; the first
 * error, a callback's own included, stops it. */
static enum gpush_err
edit_lines(int fd, char *buf, size_t len, gpush_edit_fn fn, gpush_more_fn more,
    void *ctx)
{
	struct edit_ctx w = { buf, fd, fn, ctx, GPUSH_OK };
	char *out;

	(void)gpush__for_each_line(buf, len, edit_line, &w);
	while (w.e == GPUSH_OK && more != NULL) {
		out = NULL;
		if ((w.e = more(ctx, &out)) != GPUSH_OK || out == NULL) {
			free(out);
			break;
		}
		w.e = put_line(fd, out);
	}
	return w.e;
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
	if (s->pg != NULL) return gpush__pg_edit(s->pg, fn, more, ctx);
	dirfd = s->dirfd;
	lfd = openat(s->statefd, "registry.lock", O_RDWR | O_CREAT |
	    O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lfd < 0)
		return gpush__errno(errno);
	if ((e = gpush__lock_wait(lfd, s->timeout_ms)) != GPUSH_OK) {
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
