/*
 * registry.c -- reads channels.jsonl without changing it.  libgpush
 * offers a lookup by id and an edit (which rewrites the file under the
 * lock), but no way to enumerate the channels; list, due and check need
 * one, and must not rewrite the registry just to read it.
 *
 * The tool (through gpush_store_edit) replaces the file by rename, so one
 * open descriptor always reads one whole version: no lock is needed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpush_tool.h"

/* Registry files past this are refused rather than read into memory. */
#define REGISTRY_MAX (1u << 30)

/* Calls fn for each non-blank line of buf[0..len) (buf is changed:
 * newlines become NULs).  Returns 0 or what fn returned. */
static int
walk_lines(char *buf, size_t len, reg_fn fn, void *ctx)
{
	size_t off = 0, lineno = 0;
	int rc = 0;

	while (rc == 0 && off < len) {
		char *nl = memchr(buf + off, '\n', len - off);
		size_t l = nl != NULL ? (size_t)(nl - (buf + off)) : len - off;
		struct gpush_channel *c = NULL;
		enum gpush_err e;

		lineno++;
		buf[off + l] = '\0';
		/* Blank lines are skipped, as the handler and the edit do. */
		if (strspn(buf + off, " \t\r") != l) {
			e = gpush_channel_parse(buf + off, l, &c);
			rc = fn(ctx, lineno, buf + off, c, e);
			gpush_channel_free(c);
		}
		off += l + 1;
	}
	return rc;
}

int
registry_walk(const char *dir, reg_fn fn, void *ctx)
{
	char *path = path_join(dir, GPUSH_REGISTRY_FILE), *buf;
	size_t len;
	int fd, rc, saved;

	if (path == NULL)
		return -1;
	/* O_NOFOLLOW as in libgpush: a symlinked registry is not the one
	 * the handler reads (check reports it). */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	saved = errno;
	free(path);
	if (fd < 0) {
		errno = saved;
		return saved == ENOENT ? 0 : -1;
	}
	rc = read_all(fd, REGISTRY_MAX, &buf, &len);
	saved = errno;
	(void)close(fd);
	if (rc < 0) {
		errno = saved;
		return -1;
	}
	rc = walk_lines(buf, len, fn, ctx);
	free(buf);
	return rc;
}
