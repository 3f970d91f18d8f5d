/*
 * follow.c -- a C consumer of the gpush log, without spawning the tool:
 * prints each new line of DIR's log after the cursor FILE, saving the
 * cursor after each batch (at least once).  Exits when it has caught up.
 *
 *   cc examples/follow.c -Ilib lib/libgpush.a $(pkg-config --libs json-c)
 *   ./a.out /var/lib/gpush /var/lib/app/gpush.cursor
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gpush.h"

int
main(int argc, char **argv)
{
	struct gpush_log_follow *f;
	const char *data;
	size_t len, n;
	enum gpush_err e;

	if (argc != 3) {
		fprintf(stderr, "usage: follow DIR CURSOR\n");
		return 2;
	}
	if ((e = gpush_log_follow_new(argv[1], argv[2], &f)) != GPUSH_OK) {
		fprintf(stderr, "follow: %s (%s)\n", gpush_strerror(e),
		    strerror(errno));
		return 1;
	}
	while ((e = gpush_log_follow_next(f, 100, &data, &len, &n)) ==
	    GPUSH_OK && n > 0) {
		if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
			break;          /* not done: these lines come again */
		if ((e = gpush_log_follow_done(f, len)) != GPUSH_OK ||
		    (e = gpush_log_follow_commit(f)) != GPUSH_OK)
			break;
	}
	if (e == GPUSH_OK)
		e = gpush_log_follow_commit(f);
	if (e != GPUSH_OK)
		fprintf(stderr, "follow: %s: %s\n", gpush_log_follow_name(f),
		    gpush_strerror(e));
	gpush_log_follow_free(f);
	return e == GPUSH_OK ? 0 : 1;
}
