/*
 * watch.c -- has the data directory changed since the last look?  A
 * FastCGI process asks once a request, before the channel lookup.  One
 * nonblocking read of an inotify descriptor answers instead of a stat of
 * the registry and of the log: the kernel queues the event before
 * rename(2), unlink(2) or write(2) returns, so a change made before a
 * request began is seen by it -- by the channel tool, by hand, by
 * logrotate's external rename alike, none of which has to tell anyone.
 *
 * One descriptor watches the data directory's names (created, removed,
 * renamed, attributes) and the registry file itself (written,
 * attributes), re-armed on the current file at every look that found a
 * change.  What a look finds is kept for both readers: the registry
 * lookup (gpush__watch_registry), and the log (gpush__watch_log, under
 * log.lock), which is thus told of a change one request's steps after
 * the look, not at the lock.  An external rename can fall between a look
 * and the append as it can between a stat and the append (logrotate's
 * create takes no lock of ours); `gpush rotate` renames under log.lock
 * and tells the page (logfile.c), which the log reads under the lock.
 * Any event, an overflowed queue or a failed read is "changed": the
 * readers then stat as they would without a watch.  Without inotify (no
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

/* Starts the watch (FastCGI); on failure there is none, and every look
 * says "changed".  The first look stats either way. */
void
gpush__watch_start(struct gpush_store *s)
{
	gpush__watch_stop(s);
	s->watch = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (s->watch >= 0 && inotify_add_watch(s->watch, s->dir,
	    NAMES | IN_ATTRIB) < 0)
		gpush__watch_stop(s);
	s->reg_changed = s->log_changed = 1;
	s->looked = 0;
}

void
gpush__watch_stop(struct gpush_store *s)
{
	if (s->watch >= 0)
		close(s->watch);
	s->watch = -1;
}

/* Reads what the watch queued (consumed now); anything, or no answer,
 * is a change for both readers. */
static void
look(struct gpush_store *s)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t r;

	s->looked = 1;
	if (s->watch >= 0) {
		r = read(s->watch, buf, sizeof(buf));
		if (r < 0 && errno == EAGAIN)
			return;
	}
	/* Events (what they are does not matter), EINTR or an error: look. */
	s->reg_changed = s->log_changed = 1;
}

/*
 * Has the registry changed since the last look?  Looks now.  On
 * "changed", the watch of the registry file is armed on the file now
 * there before the caller stats it, so a write after that stat is an
 * event for the next look.
 */
int
gpush__watch_registry(struct gpush_store *s)
{
	char path[4096];

	look(s);
	if (!s->reg_changed)
		return 0;
	s->reg_changed = 0;
	if (s->watch >= 0 &&
	    gpush__path_join(path, sizeof(path), s->dir, GPUSH_REGISTRY_FILE) == 0)
		(void)inotify_add_watch(s->watch, path, IN_MODIFY | IN_ATTRIB |
		    IN_CLOSE_WRITE | IN_DONT_FOLLOW);
	return 1;
}

/* Before a notification's lock phase: looks, unless the channel lookup
 * for it just did (gpush_store_channel, then gpush_store_accept, as the
 * handler calls them). */
void
gpush__watch_request(struct gpush_store *s)
{
	if (!s->looked)
		look(s);
	s->looked = 0;
}

/* Has any name in the data directory changed (the log renamed, removed
 * or created) as of the last look?  Under log.lock. */
int
gpush__watch_log(struct gpush_store *s)
{
	int changed = s->watch < 0 || s->log_changed;

	s->log_changed = 0;
	return changed;
}
