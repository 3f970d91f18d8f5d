/*
 * failshim.c -- an LD_PRELOAD shim that makes write() and fdatasync() on
 * the log fail, for the I/O error test.
 *
 *   FAILSHIM_WRITE=P      a write() to notifications.ndjson fails with EIO
 *                         with probability P (half of them after writing
 *                         part of the buffer: a short write, then EIO)
 *   FAILSHIM_SYNC=P       an fdatasync()/fsync() of it fails with EIO
 *   FAILSHIM_OFF=FILE     while FILE exists, nothing fails
 *   FAILSHIM_REPORT=FILE  appends one line per injected fault, and a line
 *                         "RESYNC" whenever fdatasync is called again on a
 *                         descriptor whose fdatasync failed (never allowed)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_fdatasync)(int);
static int (*real_fsync)(int);
static int (*real_close)(int);
static unsigned char failed_fd[4096];

static int
is_log(int fd)
{
	char link[64], path[4096];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, path, sizeof(path) - 1)) < 0)
		return 0;
	path[n] = '\0';
	return strstr(path, "/notifications.ndjson") != NULL;
}

static int
roll(const char *var)
{
	const char *p = getenv(var), *off = getenv("FAILSHIM_OFF");
	struct stat st;

	if (p == NULL || (off != NULL && stat(off, &st) == 0))
		return 0;
	return (double)random() / RAND_MAX < atof(p);
}

static void
report(const char *what)
{
	const char *f = getenv("FAILSHIM_REPORT");
	char line[64];
	int fd;

	if (f == NULL || (fd = open(f, O_WRONLY | O_APPEND | O_CREAT, 0600)) < 0)
		return;
	int n = snprintf(line, sizeof(line), "%s %d\n", what, (int)getpid());
	real_write(fd, line, (size_t)n);
	real_close(fd);
}

__attribute__((constructor)) static void
init(void)
{
	real_write = dlsym(RTLD_NEXT, "write");
	real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
	real_fsync = dlsym(RTLD_NEXT, "fsync");
	real_close = dlsym(RTLD_NEXT, "close");
	srandom((unsigned)getpid() ^ (unsigned)time(NULL));
}

ssize_t
write(int fd, const void *buf, size_t len)
{
	if (is_log(fd) && roll("FAILSHIM_WRITE")) {
		report("WRITE");
		if (len > 1 && random() % 2) {
			ssize_t w = real_write(fd, buf, len / 2);
			if (w > 0)
				return w; /* short; the next call fails */
		}
		errno = EIO;
		return -1;
	}
	return real_write(fd, buf, len);
}

static int
sync_common(int fd, int (*real)(int))
{
	if (fd >= 0 && fd < 4096 && failed_fd[fd] && is_log(fd))
		report("RESYNC");
	if (is_log(fd) && roll("FAILSHIM_SYNC")) {
		report("SYNC");
		if (fd >= 0 && fd < 4096)
			failed_fd[fd] = 1;
		errno = EIO;
		return -1;
	}
	return real(fd);
}

int fdatasync(int fd) { return sync_common(fd, real_fdatasync); }
int fsync(int fd) { return sync_common(fd, real_fsync); }

int
close(int fd)
{
	if (fd >= 0 && fd < 4096)
		failed_fd[fd] = 0;
	return real_close(fd);
}
