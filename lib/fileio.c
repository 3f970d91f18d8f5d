/*
 * fileio.c -- the careful file primitives the rest of the library is built
 * from: write everything, read a bounded file, replace a file atomically,
 * fsync a directory, locks with a deadline.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gpush_private.h"

/*
 * The two names the request path builds, without stdio: snprintf alone
 * maps ~100 KiB of libc text and tables into every handler process (see
 * gpush_format_rfc3339).  Both return 0, or -1 with ENAMETOOLONG and ""
 * in buf when the name does not fit sz bytes: a cut name is another file.
 */

/* dir "/" name into buf. */
int
gpush__path_join(char *buf, size_t sz, const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);

	if (sz == 0 || dl >= sz || nl >= sz - dl || sz - dl - nl < 2) {
		if (sz > 0)
			buf[0] = '\0';
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, dir, dl);
	buf[dl] = '/';
	memcpy(buf + dl + 1, name, nl + 1);
	return 0;
}

/* name ".tmp." and this process's id into buf: a temporary file of its
 * own for each process that replaces name. */
int
gpush__tmp_name(char *buf, size_t sz, const char *name)
{
	char pid[GPUSH__DEC_MAX];
	size_t nl = strlen(name), pl = gpush__dec((uint64_t)getpid(), pid);

	if (sz == 0 || nl + 5 + pl >= sz) {
		if (sz > 0)
			buf[0] = '\0';
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, name, nl);
	memcpy(buf + nl, ".tmp.", 5);
	memcpy(buf + nl + 5, pid, pl);
	buf[nl + 5 + pl] = '\0';
	return 0;
}

/* Reads up to n bytes of fd at off into buf, fewer only at the file's end
 * (EINTR retried); returns the count, or -1 with errno set. */
ssize_t
gpush__pread_full(int fd, void *buf, size_t n, off_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, (char *)buf + got, n - got, off + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* Writes all of buf; returns 0, or -1 with errno set (ENOSPC for a write
 * that made no progress). */
int
gpush__write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = ENOSPC;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/*
 * Reads fd from its current offset to EOF, at most max bytes.  Returns 0
 * with *out (malloc'ed, NUL-terminated, the caller's) and *len; -1 with
 * errno (EFBIG past max) and *out NULL.
 */
int
gpush__read_file(int fd, size_t max, char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap), *nb;

	*out = NULL;
	*len = 0;
	if (buf == NULL)
		return -1;
	for (;;) {
		ssize_t r;
		if (n + 1 >= cap) {
			if (cap > max) {
				free(buf);
				errno = EFBIG;
				return -1;
			}
			cap *= 2;
			if ((nb = realloc(buf, cap)) == NULL) {
				free(buf);
				return -1;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* fsync a directory so that a rename in it is durable (as s6 does). */
int
gpush__fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	if (close(fd) < 0)
		rc = -1;
	return rc;
}

/*
 * Replaces path with data, atomically: a temporary file beside it
 * (".NAME.tmp.PID", a dot file, so that a leftover of a killed process is
 * taken for no registered cursor or registry) is written, given mode
 * (whatever the umask), fsync'ed and renamed over it, then the directory
 * is fsync'ed.  Returns 0, or -1 with errno and path unchanged.
 */
int
gpush__write_atomic_mode(const char *path, const char *data, size_t len,
    mode_t mode)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, rc, saved;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%.*s.%s.tmp.%ld", slash == NULL ?
	    0 : (int)(slash - path + 1), path, slash == NULL ? path : slash + 1,
	    (long)getpid()) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 :
		    (int)(slash - path), path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    mode);
	if (fd < 0)
		return -1;
	rc = gpush__write_all(fd, data, len);
	if (rc == 0)
		rc = fchmod(fd, mode);
	if (rc == 0)
		rc = fsync(fd);
	if (close(fd) < 0)
		rc = -1;
	if (rc == 0)
		rc = rename(tmp, path);
	if (rc == 0)
		rc = gpush__fsync_dir(dir);
	saved = errno;
	if (rc != 0)
		(void)unlink(tmp);
	errno = saved;
	return rc;
}

/* gpush__write_atomic_mode() with mode 0600. */
int
gpush__write_atomic(const char *path, const char *data, size_t len)
{
	return gpush__write_atomic_mode(path, data, len, 0600);
}

/*
 * flock() with a deadline: tries without blocking, then sleeps in short
 * growing steps, so that a stuck peer costs a 503 and not a hung server.
 * Returns 0, or -1 with errno (ETIMEDOUT when the deadline passed).
 */
int
gpush__lock(int fd, int exclusive, int timeout_ms)
{
	int op = (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
	long slept_us = 0;

	/* The locks are held for a few writes into the page cache: yield a
	 * little first, then sleep in short steps, never long ones. */
	for (int spin = 0;; spin++) {
		if (flock(fd, op) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (slept_us / 1000 >= timeout_ms) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (spin < 16) {
			sched_yield();
			continue;
		}
		struct timespec ts = { 0, 50 * 1000 };
		nanosleep(&ts, NULL);
		slept_us += 50;
	}
}

void
gpush__unlock(int fd)
{
	(void)flock(fd, LOCK_UN);
}

/* An exclusive gpush__lock() as the enum says it: OK, LOCK when the
 * deadline passed, else the errno's error (errno set). */
enum gpush_err
gpush__lock_wait(int fd, int timeout_ms)
{
	if (gpush__lock(fd, 1, timeout_ms) == 0)
		return GPUSH_OK;
	return errno == ETIMEDOUT ? GPUSH_ERR_LOCK : gpush__errno(errno);
}
