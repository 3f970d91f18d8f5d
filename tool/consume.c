/*
 * consume.c -- gpush tail --exec CMD: the at-least-once consumer.
 *
 * The lines after the cursor are gathered into a bounded batch (--batch
 * lines at most; --batch-wait lets a batch fill for that long after its
 * first line), CMD is run by /bin/sh -c with the batch on its standard
 * input, and the cursor is saved only once CMD has read the whole batch
 * and exited 0.  A failure (a non-zero exit, a signal, standard input
 * closed before the end) is one line on stderr, then the same batch again
 * after a backoff of 1 s doubling up to 60 s.  A crash anywhere gives the
 * batch again on the next run: each line reaches CMD at least once, and
 * a consumer deduplicates on channel_id + message_number, unique in the
 * log (the handler accepts each number of a channel once).
 *
 * SIGINT and SIGTERM are acted on between batches: a running CMD is let
 * finish (its batch is saved if it succeeded), a batch not yet run or
 * still failing is not saved, and the exit status is 0.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gpush_tool.h"

#define BATCH_MAX        1000000      /* --batch limit */
#define BATCH_BYTES_MAX  (16u << 20)  /* a batch this big runs as it is */
#define WAIT_MAX_MS      (3600 * 1000LL)
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS   60000
#define POLL_MS          100

/* "0", "250ms", or a duration of tail's other options ("2s", "1m"), into
 * ms (at most an hour).  1 or 0. */
static int
parse_wait(const char *s, int64_t *ms)
{
	size_t n = strlen(s);
	int64_t v;
	char num[24];

	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 1;
	}
	if (n > 2 && n < sizeof(num) + 2 && strcmp(s + n - 2, "ms") == 0) {
		memcpy(num, s, n - 2);
		num[n - 2] = '\0';
		if (!gpush__parse_i64(num, &v) || v > WAIT_MAX_MS)
			return 0;
		*ms = v;
		return 1;
	}
	if (!parse_duration(s, &v) || v > WAIT_MAX_MS / 1000)
		return 0;
	*ms = v * 1000;
	return 1;
}

int
consume_check(const struct tool *t, struct consume_opts *o,
    const char *cursor_path, const char *batch, const char *wait)
{
	int64_t v;

	if (o->cmd == NULL) {
		if (batch != NULL || wait != NULL)
			return usage_error(t, "--batch and --batch-wait need --exec");
		return 0;
	}
	if (o->cmd[0] == '\0')
		return usage_error(t, "--exec needs a command");
	if (cursor_path == NULL)
		return usage_error(t, "--exec needs --cursor (the position saved "
		    "after each batch the command took)");
	if (batch != NULL) {
		if (!gpush__parse_i64(batch, &v) || v < 1 || v > BATCH_MAX)
			return usage_error(t, "--batch must be a number from 1 to "
			    "%d", BATCH_MAX);
		o->batch = (size_t)v;
	}
	if (wait != NULL && !parse_wait(wait, &o->wait_ms))
		return usage_error(t, "--batch-wait must be 0, like 500ms, 2s, "
		    "1m, at most 1h");
	return 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps ms, cut short by a stop signal (nanosleep returns EINTR). */
static void
nap(const struct consume_opts *o, int64_t ms)
{
	int64_t end = now_ms() + ms;

	while (!*o->stop && ms > 0) {
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
		(void)nanosleep(&ts, NULL);
		ms = end - now_ms();
	}
}

/* A batch: lines copied out of the reader, so that a retry gives CMD the
 * very same bytes. */
struct batch {
	char  *p;
	size_t len, cap, lines;
};

/* Appends data[0..len) to b; 0, or -1 when out of memory. */
static int
batch_add(struct batch *b, const char *data, size_t len)
{
	if (len > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 64 * 1024;
		while (cap - b->len < len)
			cap *= 2;        /* bounded: BATCH_BYTES_MAX + a 64 MiB line */
		char *np = realloc(b->p, cap);
		if (np == NULL)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

/*
 * Runs cmd with b on its standard input and waits for it, whatever
 * signal comes meanwhile.  Returns 0 when it read everything and exited
 * 0; otherwise 1 with what went wrong in why.
 */
static int
run_batch(const char *cmd, const struct batch *b, char *why, size_t wsz)
{
	int pfd[2], status;
	size_t off = 0;
	int werr = 0;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		snprintf(why, wsz, "cannot run the command: pipe: %s", strerror(errno));
		return 1;
	}
	if ((pid = fork()) < 0) {
		snprintf(why, wsz, "cannot run the command: fork: %s", strerror(errno));
		(void)close(pfd[0]);
		(void)close(pfd[1]);
		return 1;
	}
	if (pid == 0) {
		struct sigaction sa;
		sigset_t none;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigemptyset(&sa.sa_mask);
		/* An ignored SIGPIPE would be inherited across exec. */
		(void)sigaction(SIGPIPE, &sa, NULL);
		(void)sigaction(SIGINT, &sa, NULL);
		(void)sigaction(SIGTERM, &sa, NULL);
		sigemptyset(&none);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(pfd[0], STDIN_FILENO) < 0)
			_exit(127);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	(void)close(pfd[0]);
	/* SIGPIPE is ignored: a reader that goes away is EPIPE here. */
	while (off < b->len) {
		ssize_t w = write(pfd[1], b->p + off, b->len - off);
		if (w < 0 && errno == EINTR)
			continue;        /* a stop waits for the command */
		if (w <= 0) {
			werr = w < 0 ? errno : EIO;
			break;
		}
		off += (size_t)w;
	}
	(void)close(pfd[1]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			snprintf(why, wsz, "waiting for the command: %s", strerror(errno));
			return 1;
		}
	}
	if (WIFSIGNALED(status)) {
		snprintf(why, wsz, "the command was killed by signal %d (%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
		return 1;
	}
	if (WEXITSTATUS(status) != 0) {
		snprintf(why, wsz, "the command exited with status %d", WEXITSTATUS(status));
		return 1;
	}
	if (off < b->len) {
		snprintf(why, wsz, "the command closed its standard input after %zu of %zu "
		    "bytes (%s)", off, b->len, strerror(werr));
		return 1;
	}
	return 0;
}

/* The message for a reader error e; returns EXIT_FAIL. */
int
follow_fail(struct gpush_log_follow *f, enum gpush_err e)
{
	if (e == GPUSH_ERR_LOCK)
		return fail("%s: rotated too often to follow", GPUSH_LOG_FILE);
	if (e == GPUSH_ERR_NOMEM)
		return fail("out of memory");
	/* A database reader's name is its whole message ("database: ..."). */
	if (strncmp(gpush_log_follow_name(f), "database", 8) == 0)
		return fail("%s", gpush_log_follow_name(f));
	return fail("reading %s: %s", gpush_log_follow_name(f), strerror(errno));
}

/* Saves the cursor; 0 or EXIT_FAIL after the message. */
static int
commit(struct gpush_log_follow *f)
{
	if (gpush_log_follow_commit(f) != GPUSH_OK)
		return fail("saving the cursor: %s", strerror(errno));
	return 0;
}

/*
 * Fills b from the reader: up to o->batch lines; returns when it is full,
 * when the reader has nothing more and o->wait_ms passed since b's first
 * line (at once without follow), or on a stop.  An empty b means nothing
 * new.  The lines are consumed from f (in memory) as they are copied: the
 * cursor on disk moves only in commit().  0 or EXIT_FAIL.
 */
static int
fill(struct gpush_log_follow *f, const struct consume_opts *o, int follow,
    struct batch *b)
{
	int64_t first = 0;
	const char *data;
	size_t len, nl;
	enum gpush_err e;

	while (b->lines < o->batch && b->len < BATCH_BYTES_MAX && !*o->stop) {
		if ((e = gpush_log_follow_next(f, o->batch - b->lines, &data, &len,
		    &nl)) != GPUSH_OK) {
			if (!follow || !o->db)
				return follow_fail(f, e);
			/* A database restarting or failing over: run what is in
			 * hand, else say so and try again in a second. */
			if (b->lines > 0)
				return 0;
			(void)follow_fail(f, e);
			nap(o, 1000);
			continue;
		}
		if (nl == 0) {
			int64_t left = first + o->wait_ms - now_ms();
			if (b->lines == 0 || !follow || left <= 0)
				return 0;
			nap(o, left < POLL_MS ? left : POLL_MS);
			continue;
		}
		if (batch_add(b, data, len) < 0)
			return fail("out of memory");
		(void)gpush_log_follow_done(f, len);
		if (b->lines == 0)
			first = now_ms();
		b->lines += nl;
	}
	return 0;
}

int
consume_loop(struct gpush_log_follow *f, const struct consume_opts *o,
    int follow)
{
	struct batch b = { NULL, 0, 0, 0 };
	char why[160];
	int rc = 0;

	while (rc == 0 && !*o->stop) {
		b.len = b.lines = 0;
		if ((rc = fill(f, o, follow, &b)) != 0 || *o->stop)
			break;           /* a batch not run is not saved */
		if (b.lines == 0) {
			/* Nothing new; a fresh cursor (or one moved past the end
			 * of a rotated file) is saved, with nothing unread
			 * behind it. */
			if ((rc = commit(f)) != 0 || !follow)
				break;
			nap(o, POLL_MS);
			continue;
		}
		for (int64_t delay = BACKOFF_FIRST_MS;
		    run_batch(o->cmd, &b, why, sizeof(why)) != 0; ) {
			if (*o->stop) {  /* the failed batch is not saved */
				msg("tail: %s; stopping, the batch of %zu lines "
				    "is not saved", why, b.lines);
				goto out;
			}
			msg("tail: %s; the same batch (%zu lines) again in %lld s",
			    why, b.lines, (long long)(delay / 1000));
			nap(o, delay);
			if (*o->stop)
				goto out;
			delay = delay * 2 < BACKOFF_MAX_MS ? delay * 2 : BACKOFF_MAX_MS;
		}
		rc = commit(f);
	}
out:
	free(b.p);
	return rc;
}
