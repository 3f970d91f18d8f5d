/*
 * journal.c -- channels' dedup journals (dedup.c's files) as one process
 * holds them: open, summarized and kept across requests.
 *
 * A FastCGI process keeps up to max journals open, each with the summary
 * of what it read (struct gpush__jsum), so a request neither reopens nor
 * rereads its channel's journal.  Everything here runs under log.lock,
 * which every writer of a journal holds, so a journal cannot grow while
 * it is read.  What other processes did since is told by two counters per
 * hash of the id in the shared page: japp (a record was appended: read on
 * from where this process stopped, one pread) and jrepl (the file was
 * compacted or removed: if this descriptor's file is gone, reopen and
 * reread).  When neither moved but by this process's own appends, the
 * summary is current without a syscall.
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
	for (;;) {
		ssize_t r = pread(j->fd, jc->buf, CHUNK, j->size);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
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
    unsigned slot)
{
	char name[GPUSH__SEEN_NAME];

	/* The counters first: what they say is in what we read next. */
	j->app = LOAD(s->page->japp[slot]);
	j->own = s->jc->own[slot];
	j->repl = LOAD(s->page->jrepl[slot]);
	j->fd = gpush__seen_open(s->statefd, id, O_RDWR | O_APPEND | O_CREAT, name);
	if (j->fd < 0)
		return gpush__errno(errno);
	j->live = 1;
	memcpy(j->id, id, strlen(id) + 1);
	j->slot = slot;
	j->size = 0;
	if (read_on(s->jc, j) < 0) {
		enum gpush_err e = gpush__errno(errno);
		drop(j);
		return e;
	}
	return GPUSH_OK;
}

/* Brings a kept journal up to what other processes did since. */
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
			unsigned slot = j->slot;
			memcpy(id, j->id, strlen(j->id) + 1);
			drop(j);
			return fill(s, j, id, slot);
		}
		j->repl = repl;
	}
	/* Every append to the slot since was this process's own (to this
	 * journal, fed already, or to another of the same hash): current. */
	if (app - j->app == s->jc->own[j->slot] - j->own) {
		j->app = app;
		j->own = s->jc->own[j->slot];
	} else {
		if (read_on(s->jc, j) < 0) {
			enum gpush_err e = gpush__errno(errno);
			drop(j);
			return e;
		}
		j->app = app;
		j->own = s->jc->own[j->slot];
	}
	return GPUSH_OK;
}

/*
 * Channel id's journal, current, under log.lock: kept from an earlier
 * request or opened now (evicting the set's least recently used).  *out
 * belongs to the store; it stays valid until the next call.
 */
enum gpush_err
gpush__journal_get(struct gpush_store *s, const char *id,
    struct gpush__journal **out)
{
	struct gpush__journals *jc = s->jc;
	uint64_t h = gpush__registry_hash(id);
	unsigned slot = (unsigned)(h % GPUSH__JSLOTS);
	struct gpush__journal **set = jc->e + (size_t)(h >> 8) % jc->nsets * WAYS;
	struct gpush__journal *victim = NULL;
	enum gpush_err e;
	int w, free_way = -1;

	*out = NULL;
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
	if ((e = fill(s, victim, id, slot)) != GPUSH_OK)
		return e;
	victim->used = ++jc->clock;
	*out = victim;
	return GPUSH_OK;
}

/*
 * Appends one record to j (under log.lock) and feeds it to j's summary;
 * tells other processes through japp.  0, or -1/errno with the journal
 * cut back to whole records.
 */
int
gpush__journal_append(struct gpush_store *s, struct gpush__journal *j,
    uint32_t kind, int64_t n, uint64_t seq, int64_t now_ms)
{
	uint32_t app = LOAD(s->page->japp[j->slot]);

	/* Told before the write: a writer killed mid-record leaves the
	 * others reading on, which cuts the fragment (read_on). */
	STORE(s->page->japp[j->slot], app + 1);
	s->jc->own[j->slot]++;
	if (gpush__seen_append(j->fd, j->size, kind, n, seq, now_ms) < 0)
		return -1; /* cut back to j->size: still current */
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

/* What to do with number n of j's channel (gpush__seen_judge), from the
 * summary when n is above all committed, else from the whole journal. */
enum gpush_err
gpush__journal_judge(struct gpush_store *s, struct gpush__journal *j,
    int64_t n, enum gpush_seen_verdict *v, uint64_t *seq)
{
	struct gpush_seen seen;
	enum gpush_err e;

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
 * A failure is only warned of: the journal stays as it was.
 */
void
gpush__journal_compact(struct gpush_store *s, struct gpush__journal *j,
    int64_t now_ms)
{
	char name[GPUSH__SEEN_NAME], id[GPUSH_ID_MAX + 1];
	struct gpush_seen seen;
	unsigned slot = j->slot;

	if (!j->live)
		return;

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
	if (fill(s, j, id, slot) == GPUSH_OK)
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
