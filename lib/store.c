/*
 * store.c -- the data directory: exactly-once, durable appends to the log
 * with group commit across processes, log rotation, registry edits.
 *
 * Files in state/ (0700; files 0600):
 *   log.lock   flock: held to append to the log and its dedup journals
 *   sync.lock  flock: held by the one process running fdatasync for all
 *   commit     one shared page (mmap): sequence numbers of lines written
 *              and synced, the log's identity and its end of whole lines
 *   registry.lock  flock: held by the channel tool while it edits
 *   ch-<hex>   the dedup journal of one channel (dedup.c)
 *
 * Group commit: a writer appends its line under log.lock and takes the
 * next sequence number, then lets go of log.lock and takes sync.lock.  If
 * "synced" has reached its number, another process's fdatasync covered
 * its line; otherwise it reads "written", calls fdatasync and publishes
 * synced = written for everybody waiting behind it.
 */
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/futex.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpush_private.h"

#define COMMIT_MAGIC "GPUSHCM1"
#define ADOPT_MAX   (4u << 20)

struct gpush_commit {
	char     magic[8];
	char     boot[40];   /* /proc/sys/kernel/random/boot_id */
	uint64_t written;    /* seq of the last line written */
	uint64_t synced;     /* every line up to this seq is durable */
	uint64_t floor;      /* pending records <= floor predate a reboot */
	uint64_t log_dev, log_ino;
	int64_t  log_end;    /* end of the last registered line */
	uint64_t gen;        /* bumped when an fdatasync failed */
	uint32_t sync_gen;   /* futex word: bumped after every fdatasync */
	uint32_t log_gen;    /* futex word: bumped when log.lock is let go */
	uint32_t log_waiters;
};

struct gpush_store {
	char    *dir;
	char    *statepath;
	int      dirfd, statefd;
	int      lockfd, syncfd;
	struct gpush_commit *page;
	int      logfd;
	dev_t    logdev;
	ino_t    logino;
	uint64_t loggen;
	int      sync_on;
	int      log_group;       /* log mode 0640 (logshare.c) */
	int      timeout_ms;
	gpush_warn_fn warn;
	void    *wctx;
	struct gpush_registry *reg;
	char     boot[40];
};

#define LOAD(p)     __atomic_load_n(&(p), __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n(&(p), (v), __ATOMIC_SEQ_CST)

/* futex(2) on a word of the shared page: waits while *w == v, at most
 * us microseconds; the page is MAP_SHARED, so not the _PRIVATE ops. */
static void
futex_wait(uint32_t *w, uint32_t v, long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	(void)syscall(SYS_futex, w, FUTEX_WAIT, v, &ts, NULL, 0);
}

static void
futex_wake_all(uint32_t *w)
{
	(void)syscall(SYS_futex, w, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

/*
 * log.lock is an flock, so a holder that dies lets go of it; waiting is
 * a futex on the shared page, so a waiter sleeps until the holder lets
 * go instead of spinning (2 cores, 8 processes) -- and wakes every 2 ms
 * anyway, should a holder have died without waking anyone.
 */
static enum gpush_err
lock_log(struct gpush_store *s)
{
	struct gpush_commit *c = s->page;
	int64_t deadline = gpush_now_ms() + s->timeout_ms;

	for (;;) {
		if (flock(s->lockfd, LOCK_EX | LOCK_NB) == 0)
			return GPUSH_OK;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return gpush__errno(errno);
		uint32_t g = LOAD(c->log_gen);
		__atomic_add_fetch(&c->log_waiters, 1, __ATOMIC_SEQ_CST);
		if (flock(s->lockfd, LOCK_EX | LOCK_NB) == 0) {
			__atomic_sub_fetch(&c->log_waiters, 1, __ATOMIC_SEQ_CST);
			return GPUSH_OK;
		}
		futex_wait(&c->log_gen, g, 2000);
		__atomic_sub_fetch(&c->log_waiters, 1, __ATOMIC_SEQ_CST);
		if (gpush_now_ms() > deadline)
			return GPUSH_ERR_LOCK;
	}
}

static void
unlock_log(struct gpush_store *s)
{
	struct gpush_commit *c = s->page;

	(void)flock(s->lockfd, LOCK_UN);
	__atomic_add_fetch(&c->log_gen, 1, __ATOMIC_SEQ_CST);
	if (LOAD(c->log_waiters) > 0)
		(void)syscall(SYS_futex, &c->log_gen, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static void
warnf(struct gpush_store *s, const char *what, int e)
{
	char msg[256];

	if (s->warn == NULL)
		return;
	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(e));
	s->warn(s->wctx, msg);
}

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
	boot[strcspn(boot, "\n")] = '\0';
}

/* Opens (creating) state/name for locking; -1/errno. */
static int
open_lock(struct gpush_store *s, const char *name)
{
	return openat(s->statefd, name, O_RDWR | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
}

/* Maps state/commit, growing it to one page on first use. */
static int
map_commit(struct gpush_store *s)
{
	struct stat st;
	void *p;
	int fd = open_lock(s, "commit");

	if (fd < 0)
		return -1;
	/* Allocate the page's block, not just a hole: a store into a hole of
	 * a MAP_SHARED file on a full disk (tmpfs, ext4) is a SIGBUS. */
	if (fstat(fd, &st) < 0 || (errno = posix_fallocate(fd, 0, 4096)) != 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -1;
	s->page = p;
	return 0;
}

void
gpush_store_free(struct gpush_store *s)
{
	if (s == NULL)
		return;
	if (s->page != NULL)
		munmap(s->page, 4096);
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
	s->sync_on = 1;
	s->timeout_ms = 10000;
	read_boot_id(s->boot);
	if ((s->dir = strdup(dir)) == NULL ||
	    (s->statepath = malloc(len + sizeof("/" GPUSH_STATE_DIR))) == NULL ||
	    (s->reg = gpush__registry_new(0)) == NULL) {
		gpush_store_free(s);
		return GPUSH_ERR_NOMEM;
	}
	snprintf(s->statepath, len + sizeof("/" GPUSH_STATE_DIR), "%s/%s", dir,
	    GPUSH_STATE_DIR);
	if ((s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (mkdirat(s->dirfd, GPUSH_STATE_DIR, 0700) < 0 && errno != EEXIST) ||
	    (s->statefd = openat(s->dirfd, GPUSH_STATE_DIR, O_RDONLY |
	    O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0 ||
	    (s->lockfd = open_lock(s, "log.lock")) < 0 ||
	    (s->syncfd = open_lock(s, "sync.lock")) < 0 ||
	    map_commit(s) < 0) {
		int saved = errno;
		enum gpush_err e = gpush__errno(saved);
		gpush_store_free(s);
		errno = saved; /* for the caller's message */
		return e == GPUSH_ERR_INTERNAL ? GPUSH_ERR_IO : e;
	}
	*out = s;
	return GPUSH_OK;
}

const char *gpush_store_dir(const struct gpush_store *s) { return s->dir; }
void gpush_store_set_sync(struct gpush_store *s, int on) { s->sync_on = on != 0; }
void gpush_store_set_log_group(struct gpush_store *s, int on) { s->log_group = on != 0; }
void gpush_store_set_lock_timeout(struct gpush_store *s, int ms) { s->timeout_ms = ms; }

void
gpush_store_set_warn(struct gpush_store *s, gpush_warn_fn fn, void *ctx)
{
	s->warn = fn;
	s->wctx = ctx;
}

/* FastCGI: keep the parsed registry between requests.  On a memory
 * failure the store keeps its current mode. */
void
gpush_store_set_cache(struct gpush_store *s, int on)
{
	struct gpush_registry *r;

	if (gpush__registry_cached(s->reg) == (on != 0))
		return; /* keep what is cached */
	if ((r = gpush__registry_new(on != 0)) == NULL)
		return;
	gpush__registry_free(s->reg);
	s->reg = r;
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
	return gpush__registry_find(s->reg, s->dirfd, s->statefd, id, out,
	    s->warn, s->wctx);
}

static enum gpush_err
lock_or_err(struct gpush_store *s, int fd)
{
	if (gpush__lock(fd, 1, s->timeout_ms) == 0)
		return GPUSH_OK;
	return errno == ETIMEDOUT ? GPUSH_ERR_LOCK : gpush__errno(errno);
}

/* After a reboot the page's numbers describe a page cache that is gone:
 * start a new range above them (and above the clock, in case the page
 * itself was lost) and distrust every pending record below it. */
static void
check_boot(struct gpush_store *s)
{
	struct gpush_commit *c = s->page;
	uint64_t start;

	if (memcmp(c->magic, COMMIT_MAGIC, 8) == 0 &&
	    strncmp(c->boot, s->boot, sizeof(c->boot)) == 0)
		return;
	start = (uint64_t)gpush_now_ms() << 20;
	if (LOAD(c->written) > start)
		start = LOAD(c->written) + 1;
	STORE(c->written, start);
	STORE(c->synced, start);
	STORE(c->floor, start);
	STORE(c->log_ino, 0);
	STORE(c->log_dev, 0);
	memcpy(c->boot, s->boot, sizeof(c->boot));
	memcpy(c->magic, COMMIT_MAGIC, 8);
}

/*
 * Cuts a partial last line: kill -9 can stop a write() midway, and the
 * next record must not be glued onto the fragment.  Returns the new end,
 * or -1/errno.
 */
static off_t
cut_partial(int fd, off_t size)
{
	char buf[4096];
	off_t end = size;

	while (end > 0) {
		size_t n = end > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)end;
		ssize_t r = pread(fd, buf, n, end - (off_t)n);
		if (r != (ssize_t)n)
			return -1;
		for (size_t i = n; i > 0; i--)
			if (buf[i - 1] == '\n') {
				end = end - (off_t)n + (off_t)i;
				goto found;
			}
		end -= (off_t)n;
	}
found:
	if (end != size && ftruncate(fd, end) < 0)
		return -1;
	return end;
}

static enum gpush_err seen_open(struct gpush_store *, const char *, int *,
    struct gpush_seen *);

/*
 * A writer that died between writing its whole line and recording it
 * left an orphan line past log_end.  It is adopted, not cut: a reader
 * may have seen it already.  Each gets a pending record, so a retry of
 * that message commits it instead of writing it again.
 */
static int
adopt_line(struct gpush_store *s, const char *line, size_t len)
{
	struct json_object *o, *id, *num;
	struct gpush_seen seen;
	uint64_t seq, pseq;
	int sfd, rc = 0;

	if (gpush__json_parse(line, len, &o) != GPUSH_OK)
		return 0;
	if (json_object_object_get_ex(o, "channel_id", &id) &&
	    json_object_is_type(id, json_type_string) &&
	    json_object_object_get_ex(o, "message_number", &num) &&
	    json_object_is_type(num, json_type_int) &&
	    seen_open(s, json_object_get_string(id), &sfd, &seen) == GPUSH_OK) {
		int64_t n = json_object_get_int64(num);
		if (gpush__seen_judge(&seen, n, LOAD(s->page->floor), &pseq) ==
		    GPUSH__SEEN_NEW) {
			seq = LOAD(s->page->written) + 1;
			rc = gpush__seen_append(sfd, seen.size, GPUSH__REC_PENDING,
			    n, seq, gpush_now_ms());
			if (rc == 0)
				STORE(s->page->written, seq);
		}
		gpush__seen_clear(&seen);
		close(sfd);
	}
	json_object_put(o);
	return rc;
}

/* Registers the lines in [from, to) and returns 0, or -1/errno. */
static int
adopt(struct gpush_store *s, off_t from, off_t to)
{
	size_t len = (size_t)(to - from), off = 0;
	char *buf = malloc(len + 1);
	int rc = 0;

	if (buf == NULL)
		return -1;
	if (pread(s->logfd, buf, len, from) != (ssize_t)len) {
		free(buf);
		return -1;
	}
	buf[len] = '\0';
	while (rc == 0 && off < len) {
		char *nl = memchr(buf + off, '\n', len - off);
		if (nl == NULL)
			break;
		*nl = '\0';
		rc = adopt_line(s, buf + off, (size_t)(nl - (buf + off)));
		off = (size_t)(nl - buf) + 1;
	}
	free(buf);
	if (rc == 0 && s->warn != NULL)
		s->warn(s->wctx, "adopted a log line left by a killed writer");
	return rc;
}

/* When a writer finds the log renamed, the old file's lines must reach
 * the disk before anyone counts them synced. */
static void
sync_old_log(struct gpush_store *s)
{
	if (!s->sync_on || gpush__lock(s->syncfd, 1, s->timeout_ms) < 0)
		return;
	uint64_t target = LOAD(s->page->written);
	if (fdatasync(s->logfd) == 0) {
		if (LOAD(s->page->synced) < target)
			STORE(s->page->synced, target);
	} else {
		warnf(s, "fdatasync of the rotated log", errno);
	}
	gpush__unlock(s->syncfd);
}

/* Opens the log by path, replacing s->logfd; -1/errno. */
static int
reopen_log(struct gpush_store *s)
{
	struct stat st;
	int fd = openat(s->dirfd, GPUSH_LOG_FILE, O_RDWR | O_APPEND | O_CREAT |
	    O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 ||
	    (s->log_group && gpush__log_group_mode(fd, &st) < 0)) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (s->logfd >= 0)
		close(s->logfd);
	s->logfd = fd;
	s->logdev = st.st_dev;
	s->logino = st.st_ino;
	s->loggen = LOAD(s->page->gen);
	return 0;
}

/*
 * Under log.lock: makes s->logfd the current log (reopening after a
 * rotation or a failed fdatasync) and its end a whole, registered line.
 * Returns the offset to append at, or -1/errno.
 */
static off_t
log_ready(struct gpush_store *s)
{
	struct gpush_commit *c = s->page;
	struct stat st;
	off_t end;

	check_boot(s);
	if (fstatat(s->dirfd, GPUSH_LOG_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return -1;
		st.st_ino = 0;
	}
	if (s->logfd < 0 || st.st_ino != s->logino || st.st_dev != s->logdev ||
	    s->loggen != LOAD(c->gen)) {
		if (s->logfd >= 0 && (st.st_ino != s->logino ||
		    st.st_dev != s->logdev))
			sync_old_log(s);
		if (reopen_log(s) < 0)
			return -1;
	}
	if (fstat(s->logfd, &st) < 0)
		return -1;
	end = LOAD(c->log_end);
	if (LOAD(c->log_ino) != (uint64_t)st.st_ino ||
	    LOAD(c->log_dev) != (uint64_t)st.st_dev || st.st_size < end ||
	    st.st_size - end > (off_t)ADOPT_MAX) {
		/* A file this page has not seen (new, rotated, copytruncated):
		 * trust its whole lines, cut a partial last one. */
		if ((end = cut_partial(s->logfd, st.st_size)) < 0)
			return -1;
		STORE(c->log_dev, (uint64_t)st.st_dev);
		STORE(c->log_ino, (uint64_t)st.st_ino);
		STORE(c->log_end, (int64_t)end);
		return end;
	}
	if (st.st_size > end) {
		off_t whole = cut_partial(s->logfd, st.st_size);
		if (whole < 0 || (whole > end && adopt(s, end, whole) < 0))
			return -1;
		STORE(c->log_end, (int64_t)whole);
		end = whole;
	}
	return end;
}

/* Opens channel id's journal and loads it; *sfd is the caller's. */
static enum gpush_err
seen_open(struct gpush_store *s, const char *id, int *sfd,
    struct gpush_seen *seen)
{
	char name[GPUSH__SEEN_NAME];
	enum gpush_err e;

	memset(seen, 0, sizeof(*seen));
	*sfd = gpush__seen_open(s->statefd, id, O_RDWR | O_APPEND | O_CREAT, name);
	if (*sfd < 0)
		return gpush__errno(errno);
	e = gpush__seen_load(*sfd, seen);
	if (e == GPUSH_ERR_PARSE)
		e = GPUSH_OK; /* foreign records are skipped; check reports them */
	if (e == GPUSH_OK && seen->torn && ftruncate(*sfd, seen->size) < 0)
		e = gpush__errno(errno);
	if (e != GPUSH_OK) {
		gpush__seen_clear(seen);
		close(*sfd);
		*sfd = -1;
	}
	return e;
}

/*
 * The leader's part of group commit, under sync.lock: one fdatasync for
 * every line written so far.  A failed fdatasync is not retried on the
 * same descriptor (its error is consumed and the pages may be marked
 * clean): gen is bumped so that every process reopens the log.
 */
static enum gpush_err
lead_sync(struct gpush_store *s, uint64_t seq)
{
	struct gpush_commit *c = s->page;
	enum gpush_err e = GPUSH_OK;
	uint64_t target;

	if (LOAD(c->synced) >= seq)
		return GPUSH_OK;
	if ((s->logfd < 0 || s->loggen != LOAD(c->gen)) && reopen_log(s) < 0)
		return gpush__errno(errno);
	target = LOAD(c->written);
	if (fdatasync(s->logfd) == 0) {
		/* Only lines of this file are covered (see log_ready). */
		if (LOAD(c->log_ino) == (uint64_t)s->logino &&
		    LOAD(c->synced) < target)
			STORE(c->synced, target);
	} else {
		e = gpush__errno(errno);
		warnf(s, "fdatasync of the log", errno);
		STORE(c->gen, LOAD(c->gen) + 1);
		close(s->logfd);
		s->logfd = -1;
	}
	return e;
}

/*
 * Waits until the line numbered seq is on stable storage.  Whoever gets
 * sync.lock leads: it runs one fdatasync for all the lines written so far
 * and wakes the others, who sleep on a futex in the shared page instead
 * of polling the lock, so a group forms and dissolves without delay.  A
 * leader that dies lets go of the flock, and the next waiter to wake
 * (they wake at least every 2 ms) takes over.
 */
static enum gpush_err
durable(struct gpush_store *s, uint64_t seq)
{
	struct gpush_commit *c = s->page;
	int64_t deadline = gpush_now_ms() + s->timeout_ms;
	enum gpush_err e;

	if (!s->sync_on)
		return GPUSH_OK;
	for (;;) {
		uint32_t g = LOAD(c->sync_gen);
		if (LOAD(c->synced) >= seq)
			return GPUSH_OK;
		if (flock(s->syncfd, LOCK_EX | LOCK_NB) == 0) {
			e = lead_sync(s, seq);
			STORE(c->sync_gen, g + 1);
			futex_wake_all(&c->sync_gen);
			gpush__unlock(s->syncfd);
			/* On success our line is durable: covered by synced,
			 * or, for a file rotated under us, by our own sync. */
			return e;
		}
		if (errno != EWOULDBLOCK && errno != EINTR)
			return gpush__errno(errno);
		if (gpush_now_ms() > deadline)
			return GPUSH_ERR_LOCK;
		futex_wait(&c->sync_gen, g, 2000);
	}
}

/* Records that number n of channel id is durable; compacts the journal
 * when it has grown.  Under log.lock. */
static enum gpush_err
commit(struct gpush_store *s, const char *id, int64_t n, int64_t now_ms)
{
	char name[GPUSH__SEEN_NAME];
	struct gpush_seen seen;
	struct stat st;
	enum gpush_err e;
	int sfd;

	if ((e = lock_log(s)) != GPUSH_OK)
		return e;
	sfd = gpush__seen_open(s->statefd, id, O_RDWR | O_APPEND | O_CREAT, name);
	if (sfd < 0 || fstat(sfd, &st) < 0 ||
	    gpush__seen_append(sfd, st.st_size - st.st_size % GPUSH__REC_SIZE,
	    GPUSH__REC_COMMIT, n, 0, now_ms) < 0) {
		e = gpush__errno(errno);
	} else if ((size_t)st.st_size / GPUSH__REC_SIZE + 1 >= GPUSH__COMPACT_AT &&
	    gpush__seen_load(sfd, &seen) != GPUSH_ERR_NOMEM) {
		if (gpush__seen_compact(s->statefd, s->statepath, name, &seen,
		    now_ms) < 0)
			warnf(s, "compacting a dedup journal", errno);
		gpush__seen_clear(&seen);
	}
	if (sfd >= 0)
		close(sfd);
	unlock_log(s);
	return e;
}

/* Writes line at end under log.lock and its pending record; on any
 * failure both are cut back.  Returns the line's seq, or 0/errno. */
static uint64_t
append(struct gpush_store *s, off_t end, int sfd, const struct gpush_seen *seen,
    int64_t n, const char *line, size_t len, int64_t now_ms)
{
	uint64_t seq = LOAD(s->page->written) + 1;
	int saved;

	if (gpush__write_all(s->logfd, line, len) < 0)
		goto undo;
	if (gpush__seen_append(sfd, seen->size, GPUSH__REC_PENDING, n, seq,
	    now_ms) < 0)
		goto undo;
	STORE(s->page->written, seq);
	STORE(s->page->log_end, (int64_t)(end + (off_t)len));
	return seq;
undo:
	/* ENOSPC or EFBIG may have let part of the line in. */
	saved = errno;
	if (ftruncate(s->logfd, end) < 0)
		warnf(s, "cutting back a short write", errno);
	errno = saved;
	return 0;
}

enum gpush_err
gpush_store_accept(struct gpush_store *s, const struct gpush_notification *n,
    int64_t now_ms, int *duplicate)
{
	struct gpush_seen seen;
	enum gpush_seen_verdict v;
	enum gpush_err e;
	uint64_t seq = 0;
	char *line;
	size_t len;
	off_t end;
	int sfd;

	*duplicate = 0;
	if (s == NULL || n == NULL)
		return GPUSH_ERR_ARG;
	if ((e = gpush_notification_record(n, now_ms, &line, &len)) != GPUSH_OK)
		return e;
	if ((e = lock_log(s)) != GPUSH_OK) {
		free(line);
		return e;
	}
	if ((end = log_ready(s)) < 0) {
		e = gpush__errno(errno);
		goto out;
	}
	if ((e = seen_open(s, n->channel_id, &sfd, &seen)) != GPUSH_OK)
		goto out;
	v = gpush__seen_judge(&seen, n->number, LOAD(s->page->floor), &seq);
	if (v == GPUSH__SEEN_NEW &&
	    (seq = append(s, end, sfd, &seen, n->number, line, len, now_ms)) == 0)
		e = gpush__errno(errno);
	gpush__seen_clear(&seen);
	close(sfd);
	unlock_log(s);
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
	if ((e = durable(s, seq)) != GPUSH_OK)
		return e;
	return commit(s, n->channel_id, n->number, now_ms);
out:
	unlock_log(s);
	free(line);
	return e;
}

enum gpush_err
gpush_store_forget(struct gpush_store *s, const char *id)
{
	char name[GPUSH__SEEN_NAME];
	enum gpush_err e;

	if (s == NULL || id == NULL || strnlen(id, GPUSH_ID_MAX + 1) > GPUSH_ID_MAX)
		return GPUSH_ERR_ARG;
	gpush__seen_name(id, name, sizeof(name));
	if ((e = lock_log(s)) != GPUSH_OK)
		return e;
	if (unlinkat(s->statefd, name, 0) < 0 && errno != ENOENT)
		e = gpush__errno(errno);
	else if (fsync(s->statefd) < 0)
		e = gpush__errno(errno);
	unlock_log(s);
	return e;
}

int gpush__store_dirfd(const struct gpush_store *s) { return s->dirfd; }
int gpush__store_statefd(const struct gpush_store *s) { return s->statefd; }
int gpush__store_timeout(const struct gpush_store *s) { return s->timeout_ms; }

/* Shifts name.(k-1) to name.k for k = keep..2, dropping name.keep. */
static int
shift_rotated(int dirfd, int keep)
{
	char from[64], to[64];

	for (int k = keep; k >= 2; k--) {
		snprintf(from, sizeof(from), "%s.%d", GPUSH_LOG_FILE, k - 1);
		snprintf(to, sizeof(to), "%s.%d", GPUSH_LOG_FILE, k);
		if (renameat(dirfd, from, dirfd, to) < 0 && errno != ENOENT)
			return -1;
	}
	return 0;
}

/*
 * Rotation under both locks: no writer can append while the file moves,
 * and its lines are synced and counted synced before it does, so an
 * old-file writer still waiting for its fdatasync finds itself covered.
 * Writers notice the rename by inode and open a fresh file.
 */
enum gpush_err
gpush__store_rotate_locked(struct gpush_store *s, int keep)
{
	enum gpush_err e;
	int rc = 0;

	if ((e = lock_log(s)) != GPUSH_OK)
		return e;
	/* No log, nothing to rotate: an empty one would push real rotated
	 * logs out. */
	if (faccessat(s->dirfd, GPUSH_LOG_FILE, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		e = errno == ENOENT ? GPUSH_OK : gpush__errno(errno);
		unlock_log(s);
		return e;
	}
	/* Repair the tail and adopt orphans before the file moves away. */
	if (log_ready(s) < 0) {
		e = gpush__errno(errno);
		unlock_log(s);
		return e;
	}
	if ((e = lock_or_err(s, s->syncfd)) != GPUSH_OK) {
		unlock_log(s);
		return e;
	}
	{
		uint64_t target = LOAD(s->page->written);
		if (fdatasync(s->logfd) < 0)
			rc = -1;
		if (rc == 0 && LOAD(s->page->synced) < target)
			STORE(s->page->synced, target);
	}
	if (rc == 0)   /* beyond keep, what registered cursors still need */
		rc = shift_rotated(s->dirfd, gpush__cursors_keep(s->dirfd, keep,
		    s->warn, s->wctx));
	if (rc == 0) {
		char to[64];
		snprintf(to, sizeof(to), "%s.1", GPUSH_LOG_FILE);
		rc = renameat(s->dirfd, GPUSH_LOG_FILE, s->dirfd, to);
	}
	if (rc == 0)
		rc = fsync(s->dirfd);
	if (rc != 0)
		e = gpush__errno(errno);
	gpush__unlock(s->syncfd);
	unlock_log(s);
	return e;
}
