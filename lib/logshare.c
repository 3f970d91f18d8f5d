/*
 * logshare.c -- the log shared with consumers: the group-readable mode
 * of notifications.ndjson, and the registered cursors that rotation must
 * not outrun.
 *
 * Group mode (GPUSH_LOG_GROUP=1 in the handler's environment): the log is
 * 0640, so a consumer in the data directory's group reads it; rotated
 * files are the same files renamed and keep the mode.  The registry
 * (channels.jsonl, the tokens) stays 0600 and state/ 0700 whatever this
 * says: only the log's mode is touched.
 *
 * Registered cursors: DATA_DIR/cursors/NAME is a cursor file, or a
 * symbolic link to one (`gpush tail --cursor` anywhere).  Rotation reads
 * them and keeps, beyond --keep, every rotated file a cursor is still in:
 * the file is needed until the reader has moved on to a newer one, even
 * when read to its end (a follower that cannot find its file skips to the
 * current log).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gpush_private.h"

#define LOG_GROUP_MODE 0640
#define MAX_KEEP       1000   /* gpush_store_rotate's keep limit */

/*
 * Makes the open log fd (with st) mode 0640 when it is not already (the
 * handler's umask may have taken the group bit).  Only the owner can; a
 * log owned by someone else is left alone.  Returns 0, or -1 with errno.
 */
int
gpush__log_group_mode(int fd, const struct stat *st)
{
	if ((st->st_mode & 07777) == LOG_GROUP_MODE || st->st_uid != geteuid())
		return 0;
	return fchmod(fd, LOG_GROUP_MODE);
}

static void
say(gpush_warn_fn warn, void *wctx, const char *m)
{
	if (warn != NULL)
		warn(wctx, m);
}

/*
 * Called by rotation under the log lock, before the rotated files shift
 * by one: returns the keep to use, keep or more so that every registered
 * cursor still finds its file (a cursor in .J needs J + 1 kept).  Each
 * file kept past keep, and each cursor that cannot be read (whose files
 * may then be dropped), is one line through warn.
 */
int
gpush__cursors_keep(int dirfd, int keep, gpush_warn_fn warn, void *wctx)
{
	char m[512];
	struct dirent *de;
	DIR *d;
	int cfd, want = keep;

	cfd = openat(dirfd, GPUSH__CURSORS_DIR, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC | O_NOFOLLOW);
	if (cfd < 0) {
		if (errno != ENOENT) {
			snprintf(m, sizeof(m), "cannot read %s/: %s; rotated logs "
			    "a consumer still needs may be dropped",
			    GPUSH__CURSORS_DIR, strerror(errno));
			say(warn, wctx, m);
		}
		return keep;
	}
	if ((d = fdopendir(cfd)) == NULL) {
		(void)close(cfd);
		return keep;
	}
	while ((de = readdir(d)) != NULL) {
		struct gpush__cursor c;
		int rc, j;

		if (de->d_name[0] == '.')   /* ., .., a cursor's temporary */
			continue;
		rc = gpush__cursor_load(cfd, de->d_name, &c);
		if (rc < 0) {
			snprintf(m, sizeof(m), "cursor %s/%s cannot be read (%s); "
			    "rotated logs it still needs may be dropped",
			    GPUSH__CURSORS_DIR, de->d_name,
			    rc == -2 ? "not a gpush tail cursor" : strerror(errno));
			say(warn, wctx, m);
			continue;
		}
		/* rc 1: a link whose cursor is not saved yet: nothing read. */
		if (rc == 1 || (c.ino != 0 && gpush__cursor_in_log(dirfd, &c)))
			continue;
		/* ino 0: saved when there was no log at all, so every rotated
		 * log is unread. */
		j = c.ino == 0 ? gpush__rotated_max(dirfd) :
		    gpush__cursor_find(dirfd, &c, NULL, NULL);
		if (j == 0)
			continue;   /* its file is gone already: tail says so */
		if (j + 1 > MAX_KEEP) {
			snprintf(m, sizeof(m), "cursor %s/%s is still in %s.%d: "
			    "rotating drops it (more than %d rotated logs)",
			    GPUSH__CURSORS_DIR, de->d_name, GPUSH_LOG_FILE, j,
			    MAX_KEEP);
			say(warn, wctx, m);
			j = MAX_KEEP - 1;
		}
		if (j + 1 > keep) {
			snprintf(m, sizeof(m), "keeping %s.%d (now .%d) past --keep "
			    "%d: cursor %s/%s has not finished it", GPUSH_LOG_FILE,
			    j + 1, j, keep, GPUSH__CURSORS_DIR, de->d_name);
			say(warn, wctx, m);
		}
		if (j + 1 > want)
			want = j + 1;
	}
	(void)closedir(d);
	return want;
}
