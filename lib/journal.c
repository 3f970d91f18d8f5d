/*
 * journal.c -- channels' dedup journals (dedup.c's files) as one process
 * holds them: open, summarized and kept across requests.
 *
 * A FastCGI process keeps up to max journals open, each with the summary
 * of what it read (struct gpush__jsum), so a request neither reopens nor
 * rereads its channel's journal.  Everything here runs under log.lock,
 * which every writer of a journal holds, so a journal cannot grow while
 * it is read.  What other processes did since is told by two counters per
 * hash of the id in the shared page: japp (a record was appended) and
 * jrepl (the file was compacted or removed: if this descriptor's file is
 * gone, reopen and reread).  When neither moved but by this process's own
 * appends, the summary is current without a syscall.
 *
 * When japp moved, the summary is behind, and it is read on (one pread)
 * only when the answer needs it.  Google's numbers grow along a channel,
 * so the usual number is above every record: above the summary's largest
 * and above the page's jtop for the id's hash, which every append raises
 * before it writes.  Such a number is new without reading on, and its
 * record is appended after the others' unread ones (O_APPEND).  jtop
 * turns GPUSH__JTOP_UNKNOWN for good this boot (check_boot resets it)
 * where a record may be torn, which only reading on cuts: a writer died
 * or failed mid-record there (jwriting), so nothing is appended behind
 * an unread fragment.
 *
 * Plain CGI keeps one journal, for its one request.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpush_private.h"

#define WAYS 4              /* entries per set */
#define CHUNK (8u << 10)    /* bytes read per pread */

struct gpush__journals {
	struct gpush__journal **e; /* allocated when first used */
	size_t   nsets;         /* a power of two */
	unsigned clock;         /* for eviction: the least recently used */
	uint32_t own[GPUSH__JSLOTS]; /* appends this process made, by slot */
	char    *buf;           /* CHUNK bytes */
	unsigned long reads;    /* read_on calls, for the tests */
};

/* A cache of at most max journals (at least WAYS). NULL when out of memory. */
struct gpush__journals *
gpush__journals_new(size_t max)
{
	struct gpush__journals *jc = calloc(1, sizeof(*jc));
	size_t sets = 1;

	if (jc == NULL)
		return NULL;
	while (sets * 2 * WAYS <= max)
		sets *= 2;
	jc->nsets = sets;
	/* pointers only: an entry costs memory once used (the sets are
	 * hashed, so an array of entries would be touched all over) */
	if ((jc->e = calloc(sets * WAYS, sizeof(*jc->e))) == NULL) {
		free(jc);
		return NULL;
	}
	return jc;
}

static void
drop(struct gpush__journal *j)
{
	if (!j->live)
		return;
	close(j->fd);
	j->live = 0;
	gpush__jsum_clear(&j->sum);
	j->fd = -1;
	j->id[0] = '\0';
	j->size = 0;
}

void
gpush__journals_free(struct gpush__journals *jc)
{
	if (jc == NULL)
		return;
	for (size_t i = 0; i < jc->nsets * WAYS; i++) {
		if (jc->e[i] != NULL)
			drop(jc->e[i]);
		free(jc->e[i]);
	}
	free(jc->e);
	free(jc->buf);
	free(jc);
}

/*
 * Reads j's file on from j->size to its end and feeds the whole records;
 * a partial last record (a writer killed mid-record) is cut, as it would
 * glue onto the next.  0, or -1/errno (ENOMEM included).
 */
static int
read_on(struct gpush__journals *jc, struct gpush__journal *j)
{
	if (jc->buf == NULL && (jc->buf = malloc(CHUNK)) == NULL)
		return -1;
	jc->reads++;
	for (;;) {
		ssize_t r = gpush__pread_full(j->fd, jc->buf, CHUNK, j->size);
		if (r < 0)
			return -1;
		size_t whole = (size_t)r - (size_t)r % GPUSH__REC_SIZE;
		if (gpush__jsum_feed(&j->sum, jc->buf, whole) < 0) {
			errno = ENOMEM;
			return -1;
		}
		j->size += (off_t)whole;
		/* Short: the end of a regular file nobody appends to now. */
		if ((size_t)r < CHUNK) {
			if (whole != (size_t)r && ftruncate(j->fd, j->size) < 0)
				return -1;
			return 0;
		}
	}
}

/* Opens and reads channel id's journal into the empty entry j. */
static enum gpush_err
fill(struct gpush_store *s, struct gpush__journal *j, const char *id,
    uint64_t h)
{
	char name[GPUSH__SEEN_NAME];
	unsigned slot = (unsigned)(h % GPUSH__JSLOTS);

	/* The counters first: what they say is in what we read next. */
	j->app = LOAD(s->page->japp[slot]);
	j->own = s->jc->own[slot];
	j->repl = LOAD(s->page->jrepl[slot]);
	j->epoch = LOAD(s->page->jepoch);
	j->fd = gpush__seen_open(s->statefd, id, O_RDWR | O_APPEND | O_CREAT, name);
	if (j->fd < 0)
		return gpush__errno(errno);
	j->live = 1;
	memcpy(j->id, id, strlen(id) + 1);
	j->slot = slot;
	j->tslot = (unsigned)(h % GPUSH__JTOPS);
	j->size = 0;
	if (read_on(s->jc, j) < 0) {
		enum gpush_err e = gpush__errno(errno);
		drop(j);
		return e;
	}
	return GPUSH_OK;
}

/*
 * Checks a kept journal against what other processes did since: reopened
 * and reread when its file was replaced or removed; marked current when
 * every append since was this process's own.  Otherwise it stays behind
 * (see behind()), to be read on by read_up when an answer needs it.
 */
static enum gpush_err
catch_up(struct gpush_store *s, struct gpush__journal *j)
{
	uint32_t repl = LOAD(s->page->jrepl[j->slot]);
	uint32_t app = LOAD(s->page->japp[j->slot]);
	struct stat st;

	if (repl != j->repl) {
		/* A journal of this hash was compacted or removed: ours? */
		if (fstat(j->fd, &st) < 0)
			return gpush__errno(errno);
		if (st.st_nlink == 0) {
			char id[GPUSH_ID_MAX + 1];
			memcpy(id, j->id, strlen(j->id) + 1);
			drop(j);
			return fill(s, j, id, gpush__registry_hash(id));
		}
		j->repl = repl;
	}
	/* Every append to the slot since was this process's own (to this
	 * journal, fed already, or to another of the same hash): current. */
	if (app - j->app == s->jc->own[j->slot] - j->own) {
		j->app = app;
		j->own = s->jc->own[j->slot];
	}
	return GPUSH_OK;
}

/* Whether other processes appended to j's slot since j was read (after
 * catch_up: japp moves with this process's own appends only when j was
 * current, which gpush__journal_append then keeps). */
static int
behind(const struct gpush_store *s, const struct gpush__journal *j)
{
	return LOAD(s->page->japp[j->slot]) != j->app;
}

/* Whether j, behind, may go on without reading on: jtop knows of every
 * record appended since j was read, and none of them may be torn. */
static int
jtop_covers(const struct gpush_store *s, const struct gpush__journal *j)
{
	return j->epoch == LOAD(s->page->jepoch) &&
	    LOAD(s->page->jtop[j->tslot]) != GPUSH__JTOP_UNKNOWN;
}

/* Reads j on to its end, which makes it current; on failure j is dropped. */
static enum gpush_err
read_up(struct gpush_store *s, struct gpush__journal *j)
{
	uint32_t app = LOAD(s->page->japp[j->slot]);

	j->epoch = LOAD(s->page->jepoch);

	if (read_on(s->jc, j) < 0) {
		int saved = errno;
		drop(j);
		errno = saved;
		return gpush__errno(saved);
	}
	j->app = app;
	j->own = s->jc->own[j->slot];
	return GPUSH_OK;
}

/* A record left half written (jwriting still set: its writer died, or
 * could not cut its fragment back): its slot's jtop is unknown from now
 * on, so that only a process that read on, which cuts the fragment,
 * appends there. */
static void
settle_torn(struct gpush_store *s)
{
	uint32_t w = LOAD(s->page->jwriting);

	if (w == 0)
		return;
	if (w <= GPUSH__JTOPS)
		STORE(s->page->jtop[w - 1], GPUSH__JTOP_UNKNOWN);
	else
		for (size_t i = 0; i < GPUSH__JTOPS; i++)
			STORE(s->page->jtop[i], GPUSH__JTOP_UNKNOWN);
	STORE(s->page->jwriting, 0);
}

/*
 * Channel id's journal under log.lock: kept from an earlier request
 * (reopened if replaced, and maybe behind: see catch_up) or opened and
 * read now (evicting the set's least recently used).  *out belongs to the
 * store; it stays valid until the next call.
 */
enum gpush_err
gpush__journal_get(struct gpush_store *s, const char *id,
    struct gpush__journal **out)
{
	struct gpush__journals *jc = s->jc;
	uint64_t h = gpush__registry_hash(id);
	struct gpush__journal **set = jc->e + (size_t)(h >> 8) % jc->nsets * WAYS;
	struct gpush__journal *victim = NULL;
	enum gpush_err e;
	int w, free_way = -1;

	*out = NULL;
	settle_torn(s);
	for (w = 0; w < WAYS; w++) {
		struct gpush__journal *j = set[w];
		if (j == NULL) {
			if (free_way < 0)
				free_way = w;
			continue;
		}
		if (j->live && strcmp(j->id, id) == 0) {
			if ((e = catch_up(s, j)) != GPUSH_OK)
				return e;
			j->used = ++jc->clock;
			*out = j;
			return GPUSH_OK;
		}
		if (victim == NULL || !j->live || (victim->live && j->used < victim->used))
			victim = j;
	}
	if (victim == NULL || (victim->live && free_way >= 0)) {
		w = free_way;             /* a way never used */
	} else {
		for (w = 0; set[w] != victim; w++)
			;
		drop(victim);             /* evicted, or emptied earlier */
		free(victim);
		set[w] = NULL;
	}
	/* sized to the id: most are far shorter than GPUSH_ID_MAX */
	if ((victim = calloc(1, sizeof(*victim) + strlen(id) + 1)) == NULL)
		return GPUSH_ERR_NOMEM;
	set[w] = victim;
	if ((e = fill(s, victim, id, h)) != GPUSH_OK)
		return e;
	victim->used = ++jc->clock;
	*out = victim;
	return GPUSH_OK;
}

/*
 * Appends one record to j (under log.lock) and, when j was current, feeds
 * it to j's summary; tells other processes through japp and jtop, both
 * before the write.  A j that is behind where jtop is unknown is read on
 * first (that cuts a torn record).  0, or -1/errno with the journal cut
 * back to whole records; when that failed, jwriting is left set for the
 * other processes and j is dropped here, to be read afresh.
 */
int
gpush__journal_append(struct gpush_store *s, struct gpush__journal *j,
    uint32_t kind, int64_t n, uint64_t seq, int64_t now_ms)
{
	uint32_t app = LOAD(s->page->japp[j->slot]);
	int rc;

	if (app != j->app && !jtop_covers(s, j) && read_up(s, j) != GPUSH_OK)
		return -1;
	/* Told before the write: a writer killed mid-record leaves the
	 * others reading on, which cuts the fragment (read_on), and its
	 * jtop raised, then unknown (settle_torn). */
	STORE(s->page->jwriting, j->tslot + 1);
	if (n > LOAD(s->page->jtop[j->tslot]))
		STORE(s->page->jtop[j->tslot], n);
	STORE(s->page->japp[j->slot], app + 1);
	s->jc->own[j->slot]++;
	/* Cut back to j->size when current; else to the whole records. */
	rc = gpush__seen_append(j->fd, app == j->app ? j->size : -1, kind, n,
	    seq, now_ms);
	if (rc == -2) {
		/* japp and own both moved: kept, j would pass for current */
		int saved = errno;
		drop(j);
		errno = saved;
		return -1;
	}
	STORE(s->page->jwriting, 0);
	if (rc < 0)
		return -1;
	if (app == j->app) {
		/* Current before (gpush__journal_get), so current now. */
		j->app = app + 1;
		j->own = s->jc->own[j->slot];
		j->size += GPUSH__REC_SIZE;
		/* Out of memory: the record is written all the same; the
		 * journal is read afresh next time. */
		if (gpush__jsum_add(&j->sum, kind, n, seq) < 0)
			drop(j);
	}
	return 0;
}

/*
 * What to do with number n of j's channel (gpush__seen_judge): new at
 * once when n is above every record j's summary and jtop know of, even
 * with j behind; else from the summary, read on, when n is above all
 * committed; else from the whole journal.
 */
enum gpush_err
gpush__journal_judge(struct gpush_store *s, struct gpush__journal *j,
    int64_t n, enum gpush_seen_verdict *v, uint64_t *seq)
{
	struct gpush_seen seen;
	enum gpush_err e;

	if (behind(s, j)) {
		if (jtop_covers(s, j) && n > gpush__jsum_top(&j->sum) &&
		    n > LOAD(s->page->jtop[j->tslot])) {
			*v = GPUSH__SEEN_NEW;
			*seq = 0;
			return GPUSH_OK;
		}
		if ((e = read_up(s, j)) != GPUSH_OK)
			return e;
	}
	if (gpush__jsum_judge(&j->sum, n, LOAD(s->page->floor), v, seq))
		return GPUSH_OK;
	e = gpush__seen_load(j->fd, &seen);
	if (e == GPUSH_ERR_PARSE)
		e = GPUSH_OK; /* foreign records are skipped; check reports them */
	if (e == GPUSH_OK)
		*v = gpush__seen_judge(&seen, n, LOAD(s->page->floor), seq);
	gpush__seen_clear(&seen);
	return e;
}

/*
 * Compacts j's journal once it has grown past GPUSH__COMPACT_AT records
 * (dedup.c), then rereads it; other processes learn of it through jrepl.
 * A j behind is read on only when the records it read and the appends to
 * its slot since (an upper bound) reach that.  A failure is only warned
 * of: the journal stays as it was.
 */
void
gpush__journal_compact(struct gpush_store *s, struct gpush__journal *j,
    int64_t now_ms)
{
	char name[GPUSH__SEEN_NAME], id[GPUSH_ID_MAX + 1];
	struct gpush_seen seen;
	unsigned slot = j->slot;

	if (!j->live || j->sum.records + (uint32_t)(LOAD(s->page->japp[slot]) -
	    j->app) < GPUSH__COMPACT_AT)
		return;
	if (behind(s, j) && read_up(s, j) != GPUSH_OK)
		return; /* read afresh next time */
	if (j->sum.records < GPUSH__COMPACT_AT)
		return;
	if (gpush__seen_load(j->fd, &seen) == GPUSH_ERR_NOMEM)
		return;
	gpush__seen_name(j->id, name, sizeof(name));
	if (gpush__seen_compact(s->statefd, s->statepath, name, &seen,
	    now_ms) < 0)
		gpush__store_warn(s, "compacting a dedup journal", errno);
	else
		STORE(s->page->jrepl[slot], LOAD(s->page->jrepl[slot]) + 1);
	gpush__seen_clear(&seen);
	memcpy(id, j->id, strlen(j->id) + 1);
	drop(j);
	if (fill(s, j, id, gpush__registry_hash(id)) == GPUSH_OK)
		j->used = ++s->jc->clock;
}

/* Channel id's journal was removed (under log.lock): tell the others,
 * and forget it here. */
void
gpush__journal_removed(struct gpush_store *s, const char *id)
{
	uint64_t h = gpush__registry_hash(id);
	unsigned slot = (unsigned)(h % GPUSH__JSLOTS);
	struct gpush__journal **set = s->jc->e + (size_t)(h >> 8) % s->jc->nsets * WAYS;

	STORE(s->page->jrepl[slot], LOAD(s->page->jrepl[slot]) + 1);
	for (int w = 0; w < WAYS; w++)
		if (set[w] != NULL && set[w]->live && strcmp(set[w]->id, id) == 0)
			drop(set[w]);
}
