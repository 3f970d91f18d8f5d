/*
 * commit.c -- group commit across processes, through one shared page.
 *
 * state/commit is one page, mmap'ed MAP_SHARED by every process of the
 * data directory (struct gpush_commit): sequence numbers of lines written
 * and synced, the log's identity and its end of whole lines, and the
 * futex words that waiters sleep on.
 *
 * log.lock (flock) is held to append to the log and its dedup journals;
 * the page's sync mutex (robust, process-shared; state/sync.lock's flock
 * before the page has one) by the one process running fdatasync for
 * all.  A writer appends its line under log.lock and takes the next
 * sequence number, then lets go of log.lock and tries the sync mutex.  If "synced" has
 * reached its number, another process's fdatasync covered its line;
 * otherwise it reads "written", calls fdatasync and publishes
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
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "gpush_private.h"

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

/* Maps state/commit, growing it to one page on first use. */
int
gpush__commit_map(struct gpush_store *s)
{
	struct stat st;
	void *p;
	int fd = openat(s->statefd, "commit", O_RDWR | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600);

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

/*
 * log.lock is an flock, so a holder that dies lets go of it; waiting is
 * a futex on the shared page, so a waiter sleeps until the holder lets
 * go instead of spinning (2 cores, 8 processes) -- and wakes every 2 ms
 * anyway, should a holder have died without waking anyone.
 */
enum gpush_err
gpush__log_lock(struct gpush_store *s)
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

void
gpush__log_unlock(struct gpush_store *s)
{
	struct gpush_commit *c = s->page;

	(void)flock(s->lockfd, LOCK_UN);
	__atomic_add_fetch(&c->log_gen, 1, __ATOMIC_SEQ_CST);
	if (LOAD(c->log_waiters) > 0)
		(void)syscall(SYS_futex, &c->log_gen, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/*
 * Makes the page's sync mutex, once per boot, under log.lock (log_ready
 * calls it after check_boot, before any use of the mutex in this
 * process): no process can hold it then, as none has seen it ready.
 */
void
gpush__sync_ready(struct gpush_store *s)
{
	struct gpush_commit *c = s->page;
	pthread_mutexattr_t a;

	if (LOAD(c->sync_ready))
		return;
	if (pthread_mutexattr_init(&a) != 0)
		return;
	if (pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) == 0 &&
	    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) == 0 &&
	    pthread_mutex_init(&c->sync_mx, &a) == 0)
		STORE(c->sync_ready, 1);
	pthread_mutexattr_destroy(&a);
}

/*
 * Takes the sync mutex: at once (timeout_ms 0) or within timeout_ms.
 * A holder that died hands it over (EOWNERDEAD): its fdatasync either
 * finished or not, and "synced" only ever says what one finished, so it
 * is consistent as it is.  Returns 0, or -1 with errno (EBUSY: held,
 * ETIMEDOUT, or what the mutex said); without a ready mutex, the flock
 * of state/sync.lock.
 */
int
gpush__sync_lock(struct gpush_store *s, int timeout_ms)
{
	struct gpush_commit *c = s->page;
	struct timespec ts;
	int rc;

	if (!LOAD(c->sync_ready)) {
		if (timeout_ms == 0)
			return flock(s->syncfd, LOCK_EX | LOCK_NB);
		return gpush__lock(s->syncfd, 1, timeout_ms);
	}
	if (timeout_ms == 0) {
		rc = pthread_mutex_trylock(&c->sync_mx);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += timeout_ms / 1000;
		ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		rc = pthread_mutex_timedlock(&c->sync_mx, &ts);
	}
	if (rc == EOWNERDEAD)
		rc = pthread_mutex_consistent(&c->sync_mx);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return 0;
}

void
gpush__sync_unlock(struct gpush_store *s)
{
	if (!LOAD(s->page->sync_ready))
		gpush__unlock(s->syncfd);
	else
		(void)pthread_mutex_unlock(&s->page->sync_mx);
}

/*
 * The leader's part of group commit, under the sync mutex: one fdatasync for
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
	if ((s->logfd < 0 || s->loggen != LOAD(c->gen)) && gpush__log_reopen(s) < 0)
		return gpush__errno(errno);
	target = LOAD(c->written);
	if (fdatasync(s->logfd) == 0) {
		/* Only lines of this file are covered (see log_ready). */
		if (LOAD(c->log_ino) == (uint64_t)s->logino &&
		    LOAD(c->synced) < target)
			STORE(c->synced, target);
	} else {
		e = gpush__errno(errno);
		gpush__store_warn(s, "fdatasync of the log", errno);
		STORE(c->gen, LOAD(c->gen) + 1);
		close(s->logfd);
		s->logfd = -1;
	}
	return e;
}

/*
 * Waits until the line numbered seq is on stable storage.  Whoever gets
 * the sync mutex leads: it runs one fdatasync for all the lines written so far
 * and wakes the others, who sleep on a futex in the shared page instead
 * of polling the lock, so a group forms and dissolves without delay.  A
 * leader that dies lets go of the flock, and the next waiter to wake
 * (they wake at least every 2 ms) takes over.
 */
enum gpush_err
gpush__commit_wait(struct gpush_store *s, uint64_t seq)
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
		if (gpush__sync_lock(s, 0) == 0) {
			e = lead_sync(s, seq);
			STORE(c->sync_gen, g + 1);
			/* A waiter counted after this load sees sync_gen moved
			 * and does not sleep. */
			if (LOAD(c->sync_waiters) > 0)
				futex_wake_all(&c->sync_gen);
			gpush__sync_unlock(s);
			/* On success our line is durable: covered by synced,
			 * or, for a file rotated under us, by our own sync. */
			return e;
		}
		if (errno != EWOULDBLOCK && errno != EBUSY && errno != EINTR)
			return gpush__errno(errno);
		if (gpush_now_ms() > deadline)
			return GPUSH_ERR_LOCK;
		__atomic_add_fetch(&c->sync_waiters, 1, __ATOMIC_SEQ_CST);
		futex_wait(&c->sync_gen, g, 2000);
		__atomic_sub_fetch(&c->sync_waiters, 1, __ATOMIC_SEQ_CST);
	}
}
