/*
 * dedup.c -- the per-channel dedup state, state/ch-<hex id>: a journal of
 * fixed 32-byte records, appended under the log lock.
 *
 *   PENDING n seq   the line for n was written to the log as number seq
 *   COMMIT  n       the line for n is durable: n is remembered
 *   BASE    count   compaction: count notifications were accepted before
 *
 * A PENDING without a COMMIT is a line that is in the log but whose
 * writer never saw it durable (it died, or its fdatasync failed).  The
 * next delivery of n makes it durable and commits it instead of writing
 * the line again, so a retry never duplicates a line.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpush_private.h"

#define REC_MAGIC 0x47505300u /* "GPS\0" in the high bytes of kind */
#define COMPACT_AT GPUSH__COMPACT_AT

struct rec {
	int64_t  number;
	uint64_t seq;
	uint32_t kind;
	uint32_t pid;
	int64_t  at_ms;
};
_Static_assert(sizeof(struct rec) == GPUSH__REC_SIZE, "journal record size");

/* Fills *r as a record of kind, all else zero (pid is the writer's). */
static void
rec_make(struct rec *r, uint32_t kind, int64_t n, uint64_t seq, int64_t at_ms)
{
	memset(r, 0, sizeof(*r));
	r->kind = REC_MAGIC | kind;
	r->number = n;
	r->seq = seq;
	r->at_ms = at_ms;
}

void
gpush__seen_clear(struct gpush_seen *s)
{
	free(s->nums);
	free(s->pend);
	memset(s, 0, sizeof(*s));
}

/* The state file's name for channel id: ch- and the id in hex, so no id
 * can name a path outside state/. */
void
gpush__seen_name(const char *id, char *buf, size_t sz)
{
	size_t n = strlen("ch-");

	memcpy(buf, "ch-", n + 1);
	gpush__hex(id, buf + n, sz - n);
}

/* Opens channel id's journal in the state directory statefd (flags as for
 * open(2); 0600 when created) and leaves its name in name.  Returns the
 * descriptor, or -1 with errno. */
int
gpush__seen_open(int statefd, const char *id, int flags,
    char name[GPUSH__SEEN_NAME])
{
	gpush__seen_name(id, name, GPUSH__SEEN_NAME);
	return openat(statefd, name, flags | O_CLOEXEC | O_NOFOLLOW, 0600);
}

static int
add_num(struct gpush_seen *s, int64_t n)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		int64_t *p = realloc(s->nums, cap * sizeof(*p));
		if (p == NULL)
			return -1;
		s->nums = p;
		s->cap = cap;
	}
	s->nums[s->n++] = n;
	return 0;
}

static int
add_pend(struct gpush_seen *s, int64_t n, uint64_t seq)
{
	struct gpush_pending *p = realloc(s->pend, (s->npend + 1) * sizeof(*p));

	if (p == NULL)
		return -1;
	s->pend = p;
	p[s->npend].number = n;
	p[s->npend].seq = seq;
	s->npend++;
	return 0;
}

/* Index of n among the remembered numbers (the last window), or -1. */
static long
find_num(const struct gpush_seen *s, int64_t n)
{
	size_t from = s->n > GPUSH_DEDUP_WINDOW ? s->n - GPUSH_DEDUP_WINDOW : 0;

	for (size_t i = s->n; i > from; i--)
		if (s->nums[i - 1] == n)
			return (long)(i - 1);
	return -1;
}

/* A number's state while a journal is read: committed, or pending at
 * seq.  Open addressing keeps the load linear in the journal's size. */
struct slot {
	int64_t  number;
	uint64_t seq;     /* pending seq */
	uint32_t at;      /* index in s->nums of its last commit, +1; 0: none */
	uint8_t  used, pending, collected;
};
/* 24 bytes, not 40: the table of a journal being compacted was the
 * largest transient allocation of a request (160 KiB for 2,048 records).
 * at fits: a journal is read up to JOURNAL_READ_MAX, 2^21 records. */
#define JOURNAL_READ_MAX (64u << 20)
_Static_assert(JOURNAL_READ_MAX / 32 < UINT32_MAX, "slot.at holds a record index");

static struct slot *
slot_of(struct slot *t, size_t mask, int64_t n)
{
	size_t i = (size_t)((uint64_t)n * 0x9e3779b97f4a7c15ULL >> 17) & mask;

	while (t[i].used && t[i].number != n)
		i = (i + 1) & mask;
	t[i].used = 1;
	t[i].number = n;
	return &t[i];
}

/* Is the slot's last commit among the last GPUSH_DEDUP_WINDOW? */
static int
in_window(const struct gpush_seen *s, const struct slot *sl)
{
	return sl->at > 0 && s->n - (sl->at - 1) <= GPUSH_DEDUP_WINDOW;
}

/* Applies one record; -1 on a record that is not one of ours, -2 when out
 * of memory. */
static int
apply(struct gpush_seen *s, struct slot *t, size_t mask, const struct rec *r)
{
	struct slot *sl;

	if ((r->kind & 0xffffff00u) != REC_MAGIC)
		return -1;
	switch (r->kind & 0xffu) {
	case GPUSH__REC_PENDING:
		sl = slot_of(t, mask, r->number);
		if (!in_window(s, sl)) {
			sl->pending = 1;
			sl->seq = r->seq;
		}
		break;
	case GPUSH__REC_COMMIT:
		sl = slot_of(t, mask, r->number);
		sl->pending = 0;
		/* Committed twice while remembered (owner and retry): once.  A
		 * number that left the window and came back counts again. */
		if (in_window(s, sl))
			break;
		if (add_num(s, r->number) < 0)
			return -2;
		sl->at = (uint32_t)s->n;
		s->accepted++;
		if (r->number > s->last)
			s->last = r->number;
		s->last_at_ms = r->at_ms;
		break;
	case GPUSH__REC_BASE:
		s->accepted += (uint64_t)r->number;
		/* seq carries the newest number accepted before compaction. */
		if ((int64_t)r->seq > s->last)
			s->last = (int64_t)r->seq;
		break;
	default:
		return -1;
	}
	return 0;
}

/* The journal's pending records, in its order: which of them no commit
 * followed is known only at its end (collect_pending). */
struct cands {
	struct gpush_pending *p;
	size_t n, cap;
};

/* Makes room for element n of the array *arr of *cap elements, doubling
 * it (first: its size when empty); 0, or -1 with *arr as it was. */
static int
pend_room(struct gpush_pending **arr, size_t *cap, size_t n, size_t first)
{
	struct gpush_pending *p;
	size_t c;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : first;
	if ((p = realloc(*arr, c * sizeof(*p))) == NULL)
		return -1;
	*arr = p;
	*cap = c;
	return 0;
}

static int
cand_add(struct cands *c, int64_t n, uint64_t seq)
{
	if (pend_room(&c->p, &c->cap, c->n, 64) < 0)
		return -1;
	c->p[c->n].number = n;
	c->p[c->n].seq = seq;
	c->n++;
	return 0;
}

/* Collects, in journal order, the pending records no commit followed
 * (once per number: the first record of its last pending seq); -1 when
 * out of memory. */
static int
collect_pending(struct gpush_seen *s, struct slot *t, size_t mask,
    const struct cands *c)
{
	for (size_t i = 0; i < c->n; i++) {
		struct slot *sl = slot_of(t, mask, c->p[i].number);
		if (!sl->pending || sl->collected || sl->seq != c->p[i].seq)
			continue;
		if (add_pend(s, c->p[i].number, c->p[i].seq) < 0)
			return -1;
		sl->collected = 1;
	}
	return 0;
}

/* A journal is read LOAD_CHUNK bytes at a time, once, keeping only its
 * pending records aside: a whole copy of it (up to 128 KiB by the time
 * it is compacted) was most of a FastCGI process's peak memory. */
#define LOAD_CHUNK 16384
_Static_assert(LOAD_CHUNK % sizeof(struct rec) == 0, "whole records per chunk");

/*
 * Loads the state of one channel from the open file fd.  Returns OK with
 * *s filled (the caller clears it), IO on a read error, PARSE when a
 * record is not ours (s->bad counts them; they are skipped), NOMEM.
 * A torn last record (size not a multiple of 32) is ignored.
 */
enum gpush_err
gpush__seen_load(int fd, struct gpush_seen *s)
{
	struct stat st;
	struct slot *t;
	struct cands c = { NULL, 0, 0 };
	char buf[LOAD_CHUNK];
	size_t len, nrec, mask = 63;
	enum gpush_err e = GPUSH_OK;
	int torn;

	memset(s, 0, sizeof(*s));
	if (fstat(fd, &st) < 0)
		return gpush__errno(errno);
	if (st.st_size > (off_t)JOURNAL_READ_MAX)
		return gpush__errno(EFBIG);
	/* The table is sized for the size now; a record appended since (a
	 * reader without log.lock) is not read: len bounds the read. */
	len = (size_t)st.st_size;
	nrec = len / sizeof(struct rec);
	torn = len % sizeof(struct rec) != 0;
	while (mask + 1 < 2 * nrec)
		mask = mask * 2 + 1;
	if ((t = calloc(mask + 1, sizeof(*t))) == NULL)
		return GPUSH_ERR_NOMEM;
	for (size_t off = 0; off < nrec * sizeof(struct rec); ) {
		size_t want = nrec * sizeof(struct rec) - off;
		ssize_t r = gpush__pread_full(fd, buf, want < LOAD_CHUNK ? want :
		    LOAD_CHUNK, (off_t)off);
		if (r < 0) {
			e = gpush__errno(errno);
			goto out;
		}
		for (size_t i = 0; i + sizeof(struct rec) <= (size_t)r;
		    i += sizeof(struct rec)) {
			struct rec rec;
			memcpy(&rec, buf + i, sizeof(rec));
			int rc = apply(s, t, mask, &rec);
			if (rc == 0 && rec.kind == (REC_MAGIC | GPUSH__REC_PENDING) &&
			    cand_add(&c, rec.number, rec.seq) < 0)
				rc = -2;
			if (rc == -2) {
				e = GPUSH_ERR_NOMEM;
				goto out;
			}
			if (rc == -1) {
				s->bad++;
				e = GPUSH_ERR_PARSE;
			}
		}
		off += (size_t)r - (size_t)r % sizeof(struct rec);
		/* cut short since the fstat (a reader without the lock):
		 * what was read is all there is */
		if ((size_t)r % sizeof(struct rec) != 0 || r == 0) {
			nrec = off / sizeof(struct rec);
			torn = (size_t)r % sizeof(struct rec) != 0;
			break;
		}
	}
	if (collect_pending(s, t, mask, &c) < 0) {
		e = GPUSH_ERR_NOMEM;
		goto out;
	}
	s->records = nrec;
	s->size = (off_t)(nrec * sizeof(struct rec));
	s->torn = torn;
out:
	free(c.p);
	free(t);
	if (e != GPUSH_OK && e != GPUSH_ERR_PARSE)
		gpush__seen_clear(s);
	return e;
}

/*
 * What to do with number n: NEW, DUP (remembered), PENDING (in the log,
 * not yet durable; *seq says where) or REPLAY (older than all of a full
 * window).  Pending records at or below floor come from before a reboot:
 * their line may have been lost with the page cache, so they are treated
 * as absent (at worst a duplicate line, never a lost one).
 */
enum gpush_seen_verdict
gpush__seen_judge(const struct gpush_seen *s, int64_t n, uint64_t floor,
    uint64_t *seq)
{
	size_t from;
	int64_t min = INT64_MAX;

	*seq = 0;
	if (find_num(s, n) >= 0)
		return GPUSH__SEEN_DUP;
	for (size_t i = 0; i < s->npend; i++)
		if (s->pend[i].number == n && s->pend[i].seq > floor) {
			*seq = s->pend[i].seq;
			return GPUSH__SEEN_PENDING;
		}
	if (s->n < GPUSH_DEDUP_WINDOW)
		return GPUSH__SEEN_NEW;
	from = s->n - GPUSH_DEDUP_WINDOW;
	for (size_t i = from; i < s->n; i++)
		if (s->nums[i] < min)
			min = s->nums[i];
	return n < min ? GPUSH__SEEN_REPLAY : GPUSH__SEEN_NEW;
}

/*
 * Appends one record at the end of fd (opened O_APPEND).  A short write
 * is cut back to size, or, when size is -1 (the caller has not read to
 * the end), to the whole records before it: the file held only whole
 * records, and the fragment is shorter than one.  Returns 0; -1/errno
 * with the journal whole again; -2/errno when the cut failed and a
 * fragment may be left (the write's errno either way).
 */
int
gpush__seen_append(int fd, off_t size, uint32_t kind, int64_t n, uint64_t seq,
    int64_t at_ms)
{
	static pid_t pid;
	struct stat st;
	struct rec r;
	int saved;

	if (pid == 0)
		pid = getpid();
	rec_make(&r, kind, n, seq, at_ms);
	r.pid = (uint32_t)pid;
	if (gpush__write_all(fd, &r, sizeof(r)) == 0)
		return 0;
	saved = errno;
	if (size < 0) {
		if (fstat(fd, &st) < 0) {
			errno = saved;
			return -2;
		}
		size = st.st_size - st.st_size % (off_t)sizeof(r);
	}
	if (ftruncate(fd, size) < 0) {
		errno = saved;
		return -2;
	}
	errno = saved;
	return -1;
}

/* Records gathered for one write(2) of a compacted journal. */
struct recbuf {
	struct rec r[LOAD_CHUNK / sizeof(struct rec)];
	size_t     n;
	int        fd, err;    /* err: 0, or the first errno */
};

/* Adds one record to b, writing b out when full. */
static void
recbuf_add(struct recbuf *b, uint32_t kind, int64_t n, uint64_t seq,
    int64_t at_ms)
{
	rec_make(&b->r[b->n++], kind, n, seq, at_ms);
	if (b->n == sizeof(b->r) / sizeof(b->r[0])) {
		if (b->err == 0 && gpush__write_all(b->fd, b->r,
		    b->n * sizeof(struct rec)) < 0)
			b->err = errno;
		b->n = 0;
	}
}

/* Writes what b still holds; 0, or -1 with the first errno. */
static int
recbuf_flush(struct recbuf *b)
{
	if (b->err == 0 && b->n > 0 &&
	    gpush__write_all(b->fd, b->r, b->n * sizeof(struct rec)) < 0)
		b->err = errno;
	b->n = 0;
	errno = b->err;
	return b->err == 0 ? 0 : -1;
}

/*
 * Rewrites the journal of s as BASE + the remembered window + the pending
 * records, into a temporary file renamed over name in dirfd (then the
 * directory is fsync'ed by the caller's path).  Only when it has grown
 * past COMPACT_AT records; 0 when done or not needed, -1/errno.  The
 * records go out a chunk at a time, not built whole in memory (see
 * LOAD_CHUNK).
 */
int
gpush__seen_compact(int dirfd, const char *dirpath, const char *name,
    const struct gpush_seen *s, int64_t now_ms)
{
	char tmp[128 + 16];
	size_t keep = s->n > GPUSH_DEDUP_WINDOW ? GPUSH_DEDUP_WINDOW : s->n;
	struct recbuf b;
	int fd, rc = -1, saved;

	if (s->records < COMPACT_AT)
		return 0;
	fd = gpush__tmp_name(tmp, sizeof(tmp), name) < 0 ? -1 :
	    openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	b.n = 0;
	b.fd = fd;
	b.err = 0;
	recbuf_add(&b, GPUSH__REC_BASE, (int64_t)(s->accepted - keep),
	    (uint64_t)s->last, now_ms);
	for (size_t i = s->n - keep; i < s->n; i++)
		recbuf_add(&b, GPUSH__REC_COMMIT, s->nums[i], 0, s->last_at_ms);
	for (size_t i = 0; i < s->npend; i++)
		recbuf_add(&b, GPUSH__REC_PENDING, s->pend[i].number,
		    s->pend[i].seq, 0);
	rc = recbuf_flush(&b);
	if (rc == 0)
		rc = fsync(fd);
	if (close(fd) < 0)
		rc = -1;
	if (rc == 0)
		rc = renameat(dirfd, tmp, dirfd, name);
	if (rc == 0)
		rc = gpush__fsync_dir(dirpath);
	saved = errno;
	if (rc != 0)
		(void)unlinkat(dirfd, tmp, 0);
	errno = saved;
	return rc;
}

/* ---- the summary a FastCGI process keeps (journal.c) ------------------ */

void
gpush__jsum_clear(struct gpush__jsum *j)
{
	free(j->more);
	memset(j, 0, sizeof(*j));
}

/* The i-th pending number of j (i < j->npend); like strchr, const in and
 * not out, so that the judge and the editors share it. */
static struct gpush_pending *
jsum_at(const struct gpush__jsum *j, size_t i)
{
	return i == 0 ? (struct gpush_pending *)&j->one : &j->more[i - 1];
}

/* Sets number n pending at seq (its latest pending record wins). */
static int
jsum_pend(struct gpush__jsum *j, int64_t n, uint64_t seq)
{
	for (size_t i = 0; i < j->npend; i++)
		if (jsum_at(j, i)->number == n) {
			jsum_at(j, i)->seq = seq;
			return 0;
		}
	if (j->npend > 0 && pend_room(&j->more, &j->mcap, j->npend - 1, 4) < 0)
		return -1;
	jsum_at(j, j->npend)->number = n;
	jsum_at(j, j->npend)->seq = seq;
	j->npend++;
	return 0;
}

static void
jsum_unpend(struct gpush__jsum *j, int64_t n)
{
	for (size_t i = 0; i < j->npend; i++)
		if (jsum_at(j, i)->number == n) {
			*jsum_at(j, i) = *jsum_at(j, j->npend - 1);
			j->npend--;
			return;
		}
}

/*
 * Feeds the whole records of buf[0..len) into j, in journal order.  A
 * pending record counts only for a number above every committed one at
 * that point: one at or below it is judged by the whole journal anyway
 * (gpush__jsum_judge sends those to gpush__seen_load), and a commit
 * takes its number out.  Foreign records are counted in j->bad and
 * skipped, as gpush__seen_load skips them.  Returns 0, or -1 when out of
 * memory (j is then to be cleared and rebuilt).
 */
int
gpush__jsum_feed(struct gpush__jsum *j, const char *buf, size_t len)
{
	for (size_t i = 0; i + sizeof(struct rec) <= len; i += sizeof(struct rec)) {
		struct rec r;
		memcpy(&r, buf + i, sizeof(r));
		j->records++;
		if ((r.kind & 0xffffff00u) != REC_MAGIC) {
			j->bad++;
			continue;
		}
		switch (r.kind & 0xffu) {
		case GPUSH__REC_PENDING:
			if (r.number > j->last && jsum_pend(j, r.number, r.seq) < 0)
				return -1;
			break;
		case GPUSH__REC_COMMIT:
			jsum_unpend(j, r.number);
			if (r.number > j->last)
				j->last = r.number;
			break;
		case GPUSH__REC_BASE:
			if ((int64_t)r.seq > j->last)
				j->last = (int64_t)r.seq;
			break;
		default:
			j->bad++;
			break;
		}
	}
	return 0;
}

/*
 * Judges n from the summary alone when n is above every committed number:
 * then it is in no window and no replay, and only a pending record can
 * hold it (as in gpush__seen_judge, pending at or below floor predates a
 * reboot).  Returns 1 with *v and *seq set, or 0 when the whole journal
 * must decide.
 */
int
gpush__jsum_judge(const struct gpush__jsum *j, int64_t n, uint64_t floor,
    enum gpush_seen_verdict *v, uint64_t *seq)
{
	*seq = 0;
	if (n <= j->last)
		return 0;
	*v = GPUSH__SEEN_NEW;
	for (size_t i = 0; i < j->npend; i++) {
		const struct gpush_pending *p = jsum_at(j, i);
		if (p->number == n && p->seq > floor) {
			*seq = p->seq;
			*v = GPUSH__SEEN_PENDING;
		}
	}
	return 1;
}

/* The largest number j's records hold (0 when none): the newest committed,
 * or a pending one above it. */
int64_t
gpush__jsum_top(const struct gpush__jsum *j)
{
	int64_t top = j->last;

	for (size_t i = 0; i < j->npend; i++)
		if (jsum_at(j, i)->number > top)
			top = jsum_at(j, i)->number;
	return top;
}

/* Feeds one record, as gpush__seen_append just wrote it, into j. */
int
gpush__jsum_add(struct gpush__jsum *j, uint32_t kind, int64_t n, uint64_t seq)
{
	struct rec r;

	rec_make(&r, kind, n, seq, 0);
	return gpush__jsum_feed(j, (const char *)&r, sizeof(r));
}
