/*
 * watch.c -- has the data directory changed since the last look?  A
 * FastCGI process asks on every request, for the registry (before the
 * channel lookup) and for the log (under log.lock).  One nonblocking
 * read of an inotify descriptor answers instead of a stat of each file:
 * the kernel queues the event before rename(2), unlink(2) or write(2)
 * returns, so a change made before a request began is seen by it -- by
 * the channel tool, by hand, by `gpush rotate` or by logrotate's
 * external rename alike, none of which has to tell anyone.
 *
 * Two descriptors, as each read consumes what it finds:
 *   regwatch  the data directory's names (created, removed, renamed,
 *             attributes) and the registry file itself (written,
 *             attributes), re-armed on the current file at every look
 *             that found a change;
 *   logwatch  the data directory's names only (our own appends to the
 *             log are modifications, not watched).
 * Any event, an overflowed queue or a failed read is "changed": the
 * caller then stats as it would without a watch.  Without inotify (no
 * descriptor, or the per-user limit reached) every look is "changed".
 */
#include <sys/inotify.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "gpush_private.h"

#define NAMES (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | \
    IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

static int
watch_dir(const char *dir, uint32_t mask)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd >= 0 && inotify_add_watch(fd, dir, mask) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Starts both watches (FastCGI); on any failure there is none, and every
 * look says "changed". */
void
gpush__watch_start(struct gpush_store *s)
{
	gpush__watch_stop(s);
	s->regwatch = watch_dir(s->dir, NAMES | IN_ATTRIB);
	s->logwatch = watch_dir(s->dir, NAMES);
	if (s->regwatch < 0 || s->logwatch < 0)
		gpush__watch_stop(s);
}

void
gpush__watch_stop(struct gpush_store *s)
{
	if (s->regwatch >= 0)
		close(s->regwatch);
	if (s->logwatch >= 0)
		close(s->logwatch);
	s->regwatch = s->logwatch = -1;
}

/* 1 when fd has events queued (consumed now) or cannot say, else 0. */
static int
drain(int fd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t r;

	if (fd < 0)
		return 1;
	r = read(fd, buf, sizeof(buf));
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return errno == EINTR;
	/* Events (what they are does not matter), or an error: look. */
	return 1;
}

/*
 * Has the registry changed since the last look?  On "changed", the watch
 * of the registry file is armed on the file now there before the caller
 * stats it, so a write after that stat is an event for the next look.
 */
int
gpush__watch_registry(struct gpush_store *s)
{
	char path[4096];

	if (!drain(s->regwatch))
		return 0;
	if (s->regwatch >= 0 &&
	    gpush__path_join(path, sizeof(path), s->dir, GPUSH_REGISTRY_FILE) == 0)
		(void)inotify_add_watch(s->regwatch, path, IN_MODIFY | IN_ATTRIB |
		    IN_CLOSE_WRITE | IN_DONT_FOLLOW);
	return 1;
}

/* Has any name in the data directory changed (the log renamed, removed
 * or created) since the last look?  Under log.lock. */
int
gpush__watch_log(struct gpush_store *s)
{
	return drain(s->logwatch);
}
