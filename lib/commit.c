/*
 * commit.c -- group commit across processes, through one shared page.
 *
 * state/shared is three pages, mmap'ed MAP_SHARED by every process of
 * the data directory (struct gpush_commit, "the shared page"): sequence
 * numbers of lines written and synced, the log's identity and its end of
 * whole lines, the futex word that sync waiters sleep on, two robust
 * process-shared mutexes, each made once a boot, and what the journals'
 * writers tell each other (journal.c).
 *
 * The log mutex (the log lock; state/log.lock's flock until the page has
 * it) is held to append to the log and its dedup journals; the sync
 * mutex (state/sync.lock's flock until the page has it) by the one
 * process running fdatasync for all.  A writer appends its line under
 * the log lock and takes the next sequence number, then lets go of it
 * and tries the sync mutex.  If "synced" has reached its number, another
 * process's fdatasync covered its line; otherwise it reads "written",
 * calls fdatasync and publishes synced = written for everybody waiting
 * behind it.
 */
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <linux/futex.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
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

/* Maps state/shared, growing it to GPUSH__PAGE_LEN on first use.  Its
 * layout is this version's (COMMIT_MAGIC): the last ones' were state/page
 * and state/commit, so that processes of two versions, overlapping while
 * a server reloads into an upgrade, never read each other's fields as
 * their own (left behind, unused). */
int
gpush__commit_map(struct gpush_store *s)
{
	void *p;
	int fd = openat(s->statefd, GPUSH__PAGE_FILE, O_RDWR | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600);

	if (fd < 0)
		return -1;
	/* Allocate the page's block, not just a hole: a store into a hole of
	 * a MAP_SHARED file on a full disk (tmpfs, ext4) is a SIGBUS. */
	if ((errno = posix_fallocate(fd, 0, GPUSH__PAGE_LEN)) != 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	p = mmap(NULL, GPUSH__PAGE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -1;
	s->page = p;
	return 0;
}

/* After a reboot the page's numbers describe a page cache that is gone:
 * start a new range above them (and above the clock, in case the page
 * itself was lost) and distrust every pending record below it.  Called
 * by gpush__log_lock only, under log.lock's flock, whenever the page's
 * magic or boot id is not this version's and this boot's (compared
 * before the mutex is taken, so it is never trusted across a reboot). */
void
gpush__check_boot(struct gpush_store *s)
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
	/* a mutex of the last boot may be "held" by a thread long gone */
	STORE(c->sync_ready, 0);
	STORE(c->log_ready, 0);
	/* jtop starts again: after a reboot every journal is read whole
	 * before anything is judged from it; a summary a live process read
	 * before this reset (a page made anew without a reboot) is read on
	 * first, as jepoch moves (journal.c) */
	STORE(c->jwriting, 0);
	for (size_t i = 0; i < GPUSH__JTOPS; i++)
		STORE(c->jtop[i], 0);
	STORE(c->jepoch, LOAD(c->jepoch) + 1);
	/* The resets above are seen before the new boot id and magic, which
	 * gpush__log_lock reads without the lock (weakly ordered CPUs). */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(c->boot, s->boot, sizeof(c->boot));
	memcpy(c->magic, COMMIT_MAGIC, 8);
}

/* Makes *mx a robust, process-shared mutex; 0 or -1. */
static int
mutex_make(pthread_mutex_t *mx)
{
	pthread_mutexattr_t a;
	int rc = -1;

	if (pthread_mutexattr_init(&a) != 0)
		return -1;
	if (pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) == 0 &&
	    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) == 0 &&
	    pthread_mutex_init(mx, &a) == 0)
		rc = 0;
	pthread_mutexattr_destroy(&a);
	return rc;
}

/*
 * Takes *mx at once (timeout_ms 0) or within timeout_ms.  A holder that
 * died hands it over (EOWNERDEAD), as an flock would: what it left half
 * done is for the caller's checks (log_ready's torn-line cut, the
 * journals' torn-record cut, "synced" only ever saying what finished).
 * Returns 0, or the error number (EBUSY, ETIMEDOUT, ...).
 */
static int
mutex_take(pthread_mutex_t *mx, int timeout_ms)
{
	struct timespec ts;
	int rc;

	if (timeout_ms == 0) {
		rc = pthread_mutex_trylock(mx);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += timeout_ms / 1000;
		ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		rc = pthread_mutex_timedlock(mx, &ts);
	}
	if (rc == EOWNERDEAD)
		rc = pthread_mutex_consistent(mx);
	return rc;
}

/*
 * The log lock, held to append to the log and the journals (one lock
 * phase a request).  It is the page's log mutex: robust, so a holder
 * that dies lets go of it, and no syscall when nobody waits -- an flock
 * and its release were two of a request's fourteen syscalls.  The mutex
 * is made once a boot under log.lock's flock (after the page's boot
 * check), and until it is, that flock is the lock itself.  OK, LOCK
 * after s->timeout_ms, or the errno's error.
 */
enum gpush_err
gpush__log_lock(struct gpush_store *s)
{
	struct gpush_commit *c = s->page;
	enum gpush_err e;
	int rc;

	/* The magic too: a page of the last layout (an upgrade without a
	 * reboot) has other bytes where log_ready and log_mx are now. */
	if (memcmp(c->magic, COMMIT_MAGIC, sizeof(c->magic)) != 0 ||
	    memcmp(c->boot, s->boot, sizeof(c->boot)) != 0 ||
	    (__atomic_thread_fence(__ATOMIC_ACQUIRE), !LOAD(c->log_ready))) {
		if ((e = gpush__lock_wait(s->lockfd, s->timeout_ms)) != GPUSH_OK)
			return e;
		gpush__check_boot(s);
		if (!LOAD(c->log_ready) && mutex_make(&c->log_mx) == 0)
			STORE(c->log_ready, 1);
		if (!LOAD(c->log_ready)) {
			s->log_flocked = 1;     /* no mutex: the flock it is */
			return GPUSH_OK;
		}
		gpush__unlock(s->lockfd);
	}
	if ((rc = mutex_take(&c->log_mx, s->timeout_ms)) != 0) {
		errno = rc;
		return rc == ETIMEDOUT ? GPUSH_ERR_LOCK : gpush__errno(rc);
	}
	return GPUSH_OK;
}

void
gpush__log_unlock(struct gpush_store *s)
{
	if (s->log_flocked) {
		s->log_flocked = 0;
		gpush__unlock(s->lockfd);
	} else {
		(void)pthread_mutex_unlock(&s->page->log_mx);
	}
}

/*
 * Makes the page's sync mutex, once per boot, under the log lock
 * (log_ready calls it, after gpush__log_lock checked the page's boot and
 * before any use of the mutex in this process): no process can hold it
 * then, as none has seen it ready.
 */
void
gpush__sync_ready(struct gpush_store *s)
{
	struct gpush_commit *c = s->page;

	if (!LOAD(c->sync_ready) && mutex_make(&c->sync_mx) == 0)
		STORE(c->sync_ready, 1);
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
	int rc;

	if (!LOAD(c->sync_ready)) {
		if (timeout_ms == 0)
			return flock(s->syncfd, LOCK_EX | LOCK_NB);
		return gpush__lock(s->syncfd, 1, timeout_ms);
	}
	if ((rc = mutex_take(&c->sync_mx, timeout_ms)) != 0) {
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
