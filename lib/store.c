/*
 * store.c -- the data directory: open it, look a channel up, accept a
 * notification exactly once, forget a channel, read its dedup state.
 *
 * Files in state/ (0700; files 0600):
 *   log.lock   flock: held while the shared page's log mutex is made,
 *              once a boot, and as the log lock until it is (commit.c)
 *   sync.lock  flock: held by the one process running fdatasync for all,
 *              until the shared page has its sync mutex (commit.c)
 *   shared     the shared page (mmap): see commit.c (state/page and
 *              state/commit were the last layouts')
 *   registry.lock  flock: held by the channel tool while it edits
 *                  (registry_edit.c)
 *   ch-<hex>   the dedup journal of one channel (dedup.c)
 *
 * The log file itself (repair, adoption, rotation) is logfile.c's.
 */
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpush_private.h"
#include "gpush_pg.h"

/* Passes "what: strerror(e)" to the store's warning callback, if any;
 * errno is kept, as the caller's result may be IO (gpush.h). */
void
gpush__store_warn(struct gpush_store *s, const char *what, int e)
{
	char msg[256];
	int saved = errno;

	if (s->warn == NULL)
		return;
	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(e));
	s->warn(s->wctx, msg);
	errno = saved;
}

/* This boot's id, "" when unknown: the shared page trusts its numbers
 * only within one boot (logfile.c). */
static void
read_boot_id(char boot[40])
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t r = fd >= 0 ? read(fd, boot, 39) : -1;

	if (fd >= 0)
		close(fd);
	if (r < 0)
		r = 0;
	boot[r] = '\0';
	for (char *p = boot; *p != '\0'; p++)
		if (*p == '\n')
			*p = '\0';
}

/* Opens (creating) state/name for locking; -1/errno. */
static int
open_lock(struct gpush_store *s, const char *name)
{
	return openat(s->statefd, name, O_RDWR | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
}

static void pay_owed(struct gpush_store *s, int64_t now_ms);

void
gpush_store_free(struct gpush_store *s)
{
	if (s == NULL)
		return;
	gpush__pg_free(s->pg);
	if (s->owed.owed && s->page != NULL && s->jc != NULL &&
	    gpush__log_lock(s) == GPUSH_OK) {
		pay_owed(s, gpush_now_ms());
		gpush__log_unlock(s);
	}
	gpush__journals_free(s->jc);
	gpush__watch_stop(s);
	if (s->page != NULL)
		munmap(s->page, GPUSH__PAGE_LEN);
	if (s->logfd >= 0) close(s->logfd);
	if (s->lockfd >= 0) close(s->lockfd);
	if (s->syncfd >= 0) close(s->syncfd);
	if (s->statefd >= 0) close(s->statefd);
	if (s->dirfd >= 0) close(s->dirfd);
	gpush__registry_free(s->reg);
	free(s->dir);
	free(s->statepath);
	free(s);
}

enum gpush_err
gpush_store_open(const char *dir, struct gpush_store **out)
{
	struct gpush_store *s;
	size_t len;

	*out = NULL;
	if (dir == NULL || dir[0] == '\0')
		return GPUSH_ERR_CONFIG;
	if ((len = strnlen(dir, PATH_MAX)) >= PATH_MAX - 32)
		return GPUSH_ERR_ARG;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return GPUSH_ERR_NOMEM;
	s->dirfd = s->statefd = s->lockfd = s->syncfd = s->logfd = -1;
	s->watch = -1;
	s->sync_on = 1;
	s->timeout_ms = 10000;
	read_boot_id(s->boot);
	if ((s->dir = strdup(dir)) == NULL ||
	    (s->statepath = malloc(len + sizeof("/" GPUSH_STATE_DIR))) == NULL ||
	    (s->reg = gpush__registry_new(0)) == NULL ||
	    (s->jc = gpush__journals_new(1)) == NULL) {
		gpush_store_free(s);
		return GPUSH_ERR_NOMEM;
	}
	/* len + "/state" + NUL, allocated above (and no stdio on the
	 * handler's path: see gpush_format_rfc3339) */
	memcpy(s->statepath, dir, len);
	memcpy(s->statepath + len, "/" GPUSH_STATE_DIR, sizeof("/" GPUSH_STATE_DIR));
	if ((s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (mkdirat(s->dirfd, GPUSH_STATE_DIR, 0700) < 0 && errno != EEXIST) ||
	    (s->statefd = openat(s->dirfd, GPUSH_STATE_DIR, O_RDONLY |
	    O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0 ||
	    (s->lockfd = open_lock(s, "log.lock")) < 0 ||
	    (s->syncfd = open_lock(s, "sync.lock")) < 0 ||
	    gpush__commit_map(s) < 0) {
		int saved = errno;
		enum gpush_err e = gpush__errno(saved);
		gpush_store_free(s);
		errno = saved; /* IO comes with errno (gpush.h) */
		return e == GPUSH_ERR_INTERNAL ? GPUSH_ERR_IO : e;
	}
	*out = s;
	return GPUSH_OK;
}

const char *gpush_store_dir(const struct gpush_store *s) { return s->dir; }
void
gpush_store_set_sync(struct gpush_store *s, int on)
{
	if (s->pg != NULL) gpush__pg_set_sync(s->pg, on);
	s->sync_on = on != 0;
}
void gpush_store_set_log_group(struct gpush_store *s, int on) { s->log_group = on != 0; }

void
gpush_store_set_warn(struct gpush_store *s, gpush_warn_fn fn, void *ctx)
{
	if (s->pg != NULL) gpush__pg_set_warn(s->pg, fn, ctx);
	s->warn = fn;
	s->wctx = ctx;
}

/* How many journals a FastCGI process keeps open: a quarter of its
 * descriptors, at most 4096 (the registry's hot cache holds as many). */
static size_t
journals_max(void)
{
	struct rlimit rl;
	size_t max = 4096;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 4 < max)
		max = (size_t)rl.rlim_cur / 4;
	return max;
}

/* FastCGI: keep the parsed registry and the channels' journals between
 * requests, and watch the data directory for changes.  On a memory
 * failure the store keeps its current mode. */
void
gpush_store_set_cache(struct gpush_store *s, int on)
{
	struct gpush_registry *r;

	struct gpush__journals *jc;

	if (s->pg != NULL) { gpush__pg_set_cache(s->pg, on); return; }
	if (gpush__registry_cached(s->reg) == (on != 0))
		return; /* keep what is cached */
	if ((r = gpush__registry_new(on != 0)) == NULL ||
	    (jc = gpush__journals_new(on ? journals_max() : 1)) == NULL) {
		gpush__registry_free(r);
		return;
	}
	gpush__registry_free(s->reg);
	s->reg = r;
	if (s->owed.owed && gpush__log_lock(s) == GPUSH_OK) {
		pay_owed(s, gpush_now_ms());
		gpush__log_unlock(s);
	}
	gpush__journals_free(s->jc);
	s->jc = jc;
	if (on)
		gpush__watch_start(s);
}

enum gpush_err
gpush_store_channel(struct gpush_store *s, const char *id,
    const struct gpush_channel **out)
{
	*out = NULL;
	if (s == NULL || id == NULL)
		return GPUSH_ERR_ARG;
	/* No registry id is longer (gpush_channel_set refuses it). */
	if (strnlen(id, GPUSH_ID_MAX + 1) > GPUSH_ID_MAX)
		return GPUSH_ERR_CHANNEL;
	if (s->pg != NULL) return gpush__pg_channel(s->pg, id, out);
	return gpush__registry_find(s->reg, s->dirfd, s->statefd, id, out,
	    s->warn, s->wctx, !gpush__watch_registry(s));
}

/*
 * Writes the COMMIT record owed since the last request (durable mode:
 * the line was synced after the lock was let go), under log.lock.  A
 * failure leaves the PENDING record, which a retry finds covered by
 * "synced" and commits then; so it is only warned of.
 */
static void
pay_owed(struct gpush_store *s, int64_t now_ms)
{
	struct gpush__journal *j;

	if (!s->owed.owed)
		return;
	s->owed.owed = 0;
	if (gpush__journal_get(s, s->owed.id, &j) != GPUSH_OK ||
	    gpush__journal_append(s, j, GPUSH__REC_COMMIT, s->owed.n, 0,
	    now_ms) < 0) {
		gpush__store_warn(s, "recording a commit", errno);
		return;
	}
	gpush__journal_compact(s, j, now_ms);
}

/* Notes that number n of channel id is durable; its COMMIT record is
 * written in the next lock phase (pay_owed), not in one of its own. */
static void
owe_commit(struct gpush_store *s, const char *id, int64_t n)
{
	memcpy(s->owed.id, id, strlen(id) + 1);
	s->owed.n = n;
	s->owed.owed = 1;
}

/*
 * Writes line at end under log.lock, then its journal record: COMMIT
 * without the fdatasync (the line is as durable as it will be), else
 * PENDING, committed once synced.  On any failure both are cut back.
 * Returns the line's seq, or 0/errno.
 */
static uint64_t
append(struct gpush_store *s, off_t end, struct gpush__journal *j, int64_t n,
    const char *line, size_t len, int64_t now_ms)
{
	uint64_t seq = LOAD(s->page->written) + 1;
	int saved;

	/* Until log_end is stored, the next writer must look at the file
	 * (a writer killed here leaves a fragment or an orphan line). */
	STORE(s->page->writing, 1);
	if (gpush__write_all(s->logfd, line, len) < 0)
		goto undo;
	if (gpush__journal_append(s, j, s->sync_on ? GPUSH__REC_PENDING :
	    GPUSH__REC_COMMIT, n, s->sync_on ? seq : 0, now_ms) < 0)
		goto undo;
	STORE(s->page->written, seq);
	STORE(s->page->log_end, (int64_t)(end + (off_t)len));
	STORE(s->page->writing, 0);
	return seq;
undo:
	/* ENOSPC or EFBIG may have let part of the line in. */
	saved = errno;
	if (ftruncate(s->logfd, end) < 0)
		gpush__store_warn(s, "cutting back a short write", errno);
	else
		STORE(s->page->writing, 0);
	errno = saved;
	return 0;
}

/*
 * The one lock phase of a request: the commit owed by the last one, the
 * log made ready, the verdict, and for a new number the line and its
 * record.  A pending line without the fdatasync is committed here too.
 */
static enum gpush_err
locked_accept(struct gpush_store *s, const struct gpush_notification *n,
    const char *line, size_t len, int64_t now_ms,
    enum gpush_seen_verdict *v, uint64_t *seq)
{
	struct gpush__journal *j;
	enum gpush_err e;
	off_t end;

	pay_owed(s, now_ms);
	if ((end = gpush__log_ready(s)) < 0)
		return gpush__errno(errno);
	if ((e = gpush__journal_get(s, n->channel_id, &j)) != GPUSH_OK ||
	    (e = gpush__journal_judge(s, j, n->number, v, seq)) != GPUSH_OK)
		return e;
	if (*v == GPUSH__SEEN_NEW) {
		if ((*seq = append(s, end, j, n->number, line, len, now_ms)) == 0)
			return gpush__errno(errno);
	} else if (*v == GPUSH__SEEN_PENDING && !s->sync_on) {
		if (gpush__journal_append(s, j, GPUSH__REC_COMMIT, n->number, 0,
		    now_ms) < 0)
			return gpush__errno(errno);
	} else {
		return GPUSH_OK;
	}
	gpush__journal_compact(s, j, now_ms);
	return GPUSH_OK;
}

enum gpush_err
gpush_store_accept(struct gpush_store *s, const struct gpush_notification *n,
    int64_t now_ms, int *duplicate)
{
	enum gpush_seen_verdict v = GPUSH__SEEN_NEW;
	enum gpush_err e;
	uint64_t seq = 0;
	char *line;
	size_t len;

	*duplicate = 0;
	if (s == NULL || n == NULL)
		return GPUSH_ERR_ARG;
	if (s->pg != NULL) return gpush__pg_accept(s->pg, n, now_ms, duplicate);
	if ((e = gpush_notification_record(n, now_ms, &line, &len)) != GPUSH_OK)
		return e;
	gpush__watch_request(s);
	if ((e = gpush__log_lock(s)) != GPUSH_OK) {
		free(line);
		return e;
	}
	e = locked_accept(s, n, line, len, now_ms, &v, &seq);
	gpush__log_unlock(s);
	free(line);
	if (e != GPUSH_OK)
		return e;
	switch (v) {
	case GPUSH__SEEN_DUP:
		*duplicate = 1;
		return GPUSH_OK;
	case GPUSH__SEEN_REPLAY:
		return GPUSH_ERR_REPLAY;
	case GPUSH__SEEN_PENDING:
		*duplicate = 1;
		/* FALLTHROUGH */
	case GPUSH__SEEN_NEW:
		break;
	}
	if (!s->sync_on)
		return GPUSH_OK; /* committed under the lock */
	if ((e = gpush__commit_wait(s, seq)) != GPUSH_OK)
		return e;
	owe_commit(s, n->channel_id, n->number);
	return GPUSH_OK;
}

enum gpush_err
gpush_store_forget(struct gpush_store *s, const char *id)
{
	char name[GPUSH__SEEN_NAME];
	enum gpush_err e;

	if (s == NULL || id == NULL || strnlen(id, GPUSH_ID_MAX + 1) > GPUSH_ID_MAX)
		return GPUSH_ERR_ARG;
	if (s->pg != NULL) return gpush__pg_forget(s->pg, id);
	gpush__seen_name(id, name, sizeof(name));
	if ((e = gpush__log_lock(s)) != GPUSH_OK)
		return e;
	if (s->owed.owed && strcmp(s->owed.id, id) == 0)
		s->owed.owed = 0;
	if (unlinkat(s->statefd, name, 0) < 0 && errno != ENOENT)
		e = gpush__errno(errno);
	else if (fsync(s->statefd) < 0)
		e = gpush__errno(errno);
	gpush__journal_removed(s, id);
	gpush__log_unlock(s);
	return e;
}

/* Writes the commit this process owes now, so that the journal says what
 * it answered (stats, check). */
static void
pay_now(struct gpush_store *s)
{
	if (s->owed.owed && gpush__log_lock(s) == GPUSH_OK) {
		pay_owed(s, gpush_now_ms());
		gpush__log_unlock(s);
	}
}

/* Loads channel id's journal read-only into *seen (empty when there is
 * none); the caller clears *seen. */
static enum gpush_err
load_seen(struct gpush_store *s, const char *id, struct gpush_seen *seen)
{
	char name[GPUSH__SEEN_NAME];
	enum gpush_err e;
	int fd;

	memset(seen, 0, sizeof(*seen));
	fd = gpush__seen_open(s->statefd, id, O_RDONLY, name);
	if (fd < 0)
		return errno == ENOENT ? GPUSH_OK : gpush__errno(errno);
	e = gpush__seen_load(fd, seen);
	close(fd);
	return e;
}

/*
 * A pending record that "synced" covers, and that no reboot predates, is a
 * line on stable storage whose 200 went out: the handler process that
 * wrote it writes its COMMIT record only in its next lock phase (the owed
 * commit), which may be long in coming.  The dedup verdict already takes
 * such a record for accepted; stats count it too, so that another process
 * (gpush renew waiting for a sync, list, health) sees it now.
 */
static void
count_synced_pending(const struct gpush_store *s, const struct gpush_seen *seen,
    struct gpush_channel_stats *st)
{
	uint64_t synced, floor;

	if (s->page == NULL)
		return;
	synced = LOAD(s->page->synced);
	floor = LOAD(s->page->floor);
	for (size_t i = 0; i < seen->npend; i++) {
		const struct gpush_pending *p = &seen->pend[i];
		if (p->seq <= floor || p->seq > synced)
			continue;
		st->accepted++;
		if (p->number > st->last_number)
			st->last_number = p->number;
	}
}

/* What the journal knows of channel id; a foreign record is no error here
 * (check_state reports it). */
enum gpush_err
gpush_store_stats(struct gpush_store *s, const char *id,
    struct gpush_channel_stats *st)
{
	struct gpush_seen seen;
	enum gpush_err e;

	memset(st, 0, sizeof(*st));
	if (s == NULL || id == NULL)
		return GPUSH_ERR_ARG;
	if (s->pg != NULL) return gpush__pg_stats(s->pg, id, st);
	pay_now(s);
	e = load_seen(s, id, &seen);
	if (e == GPUSH_OK || e == GPUSH_ERR_PARSE) {
		st->last_number = seen.last;
		st->accepted = seen.accepted;
		st->last_at_ms = seen.last_at_ms;
		count_synced_pending(s, &seen, st);
		e = GPUSH_OK;
	}
	gpush__seen_clear(&seen);
	return e;
}

/* PARSE when channel id's journal holds foreign or torn records. */
enum gpush_err
gpush_store_check_state(struct gpush_store *s, const char *id)
{
	struct gpush_seen seen;
	enum gpush_err e;

	if (s == NULL || id == NULL)
		return GPUSH_ERR_ARG;
	if (s->pg != NULL) return gpush__pg_check_state(s->pg, id);
	pay_now(s);
	e = load_seen(s, id, &seen);
	if (e == GPUSH_OK && (seen.bad > 0 || seen.torn))
		e = GPUSH_ERR_PARSE;
	gpush__seen_clear(&seen);
	return e;
}
