/*
 * fuzz_seen.c -- the per-channel dedup journal (dedup.c):
 * gpush__seen_load(), gpush__seen_judge(), gpush__seen_append() and
 * gpush__seen_compact().
 *
 * Input: one flag byte, then either the journal's bytes as they are (flag
 * bit 0 clear; the hand-made seeds are such journals) or a program that
 * writes one (bit 0 set), so that a short input can make the thousands of
 * records that fill the window and trigger compaction.  The program is
 * 4-byte steps [op a b c]:
 *   op&7 = 0  PENDING cur+(int8)a, seq 1+(b|c<<8)
 *          1  COMMIT  cur+(int8)a, at_ms b|c<<8
 *          2  BASE    (int16)(a|b<<8)*(c+1)
 *          3  1+(a|b<<8) COMMITs from cur, step (int8)c (cur moves on)
 *          4  1+a PENDINGs from cur, step (int8)c, seqs from 1+b*256
 *          5  cur = special[a] + (int16)(b|c<<8)
 *          6  a record of kind MAGIC|a (b even) or a|b<<8|c<<16 (b odd)
 *          7  a torn tail of a%31+1 bytes; the program ends
 * Flag bit 1 compacts even a journal below the compaction threshold;
 * bits 2..7 choose the reboot floor ((flags>>2)*1024) for judging.
 *
 * Checks:
 *  - load agrees with a reference model of the journal format (written
 *    with sorting where dedup.c hashes): records, torn tail, foreign
 *    records (PARSE), the committed numbers in order, the accepted count,
 *    last number and time, the pending records (seq > 0) in order;
 *  - judge agrees with the model for probes around the window, the
 *    pending numbers and extreme values, at floor 0 and the chosen floor;
 *  - committing a NEW or PENDING number with gpush__seen_append() makes
 *    it DUP and counts it once;
 *  - compaction keeps the window: the compacted journal loads cleanly to
 *    the same remembered numbers, accepted count and pending records, and
 *    every probe gets the same verdict as before.
 */
#include "fuzz_common.h"

#include <sys/mman.h>

#define MAXREC 3072
#define MAXPROBE 32
/* The model and the probes need no coverage feedback of their own. */
#define NOCOV __attribute__((no_sanitize("coverage")))

static int memfd = -1, dirfd_ = -1;
static char dirpath[256];

int LLVMFuzzerInitialize(int *argc, char ***argv);
const char *__asan_default_options(void);

/* Journals of thousands of records make big blocks: a smaller quarantine
 * keeps the RSS well under the runner's -rss_limit_mb=1024. */
const char *
__asan_default_options(void)
{
	return "quarantine_size_mb=64";
}

static void
cleanup(void)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/ch-fuzz", dirpath);
	unlink(path);
	rmdir(dirpath);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* Compaction fsyncs: a tmpfs makes that free.  The runners point
	 * FUZZ_STATE_DIR at a directory they remove, since a crash skips
	 * the atexit cleanup. */
	const char *base = getenv("FUZZ_STATE_DIR") != NULL ?
	    getenv("FUZZ_STATE_DIR") : access("/dev/shm", W_OK) == 0 ?
	    "/dev/shm" : getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";

	(void)argc;
	(void)argv;
	if ((memfd = memfd_create("gpush-journal", MFD_CLOEXEC)) < 0)
		abort();
	snprintf(dirpath, sizeof(dirpath), "%s/gpush-fuzz-seen.XXXXXX", base);
	if (mkdtemp(dirpath) == NULL ||
	    (dirfd_ = open(dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		abort();
	atexit(cleanup);
	return 0;
}

/* ---- building the journal ------------------------------------------ */

struct journal {
	unsigned char *buf;
	size_t len, cap;
};

static void
put_bytes(struct journal *j, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (j->len + n > j->cap) {
		j->cap = (j->len + n) * 2;
		if ((j->buf = realloc(j->buf, j->cap)) == NULL)
			abort();
	}
	memcpy(j->buf + j->len, p, n);
	j->len += n;
}

static void
put_rec(struct journal *j, uint32_t kind, int64_t number, uint64_t seq,
    int64_t at_ms)
{
	struct rec r;

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.number = number;
	r.seq = seq;
	r.pid = 4242;
	r.at_ms = at_ms;
	put_bytes(j, &r, sizeof(r));
}

static void
run_program(struct journal *j, const uint8_t *p, size_t n)
{
	static const int64_t special[] = { 0, 1, -1, 1000, 1 << 20,
	    INT64_C(9007199254740993), INT64_MAX, INT64_MAX - 70000, INT64_MIN,
	    INT64_MIN + 70000 };
	int64_t cur = 1;

	for (size_t i = 0; i + 4 <= n && j->len / 32 < MAXREC; i += 4) {
		uint8_t op = p[i] & 7, a = p[i + 1], b = p[i + 2], c = p[i + 3];
		uint32_t count;
		/* Unsigned arithmetic: numbers wrap the way int64 would. */
#define AT(k) ((int64_t)((uint64_t)cur + (uint64_t)(int64_t)(k)))
		switch (op) {
		case 0:
			put_rec(j, REC_MAGIC | GPUSH__REC_PENDING, AT((int8_t)a),
			    1 + (b | (uint64_t)c << 8), 0);
			break;
		case 1:
			put_rec(j, REC_MAGIC | GPUSH__REC_COMMIT, AT((int8_t)a), 0,
			    b | c << 8);
			break;
		case 2:
			put_rec(j, REC_MAGIC | GPUSH__REC_BASE,
			    (int64_t)(int16_t)(a | b << 8) * (c + 1), 0, 0);
			break;
		case 3:
			count = 1 + (a | (uint32_t)b << 8);
			for (uint32_t k = 0; k < count && j->len / 32 < MAXREC; k++) {
				put_rec(j, REC_MAGIC | GPUSH__REC_COMMIT, cur, 0, k);
				cur = AT((int8_t)c);
			}
			break;
		case 4:
			for (uint32_t k = 0; k <= a && j->len / 32 < MAXREC; k++) {
				put_rec(j, REC_MAGIC | GPUSH__REC_PENDING, cur,
				    1 + (uint64_t)b * 256 + k, 0);
				cur = AT((int8_t)c);
			}
			break;
		case 5:
			cur = special[a % (sizeof(special) / sizeof(special[0]))];
			cur = AT((int16_t)(b | c << 8));
			break;
		case 6:
			put_rec(j, (b & 1) ? (uint32_t)(a | b << 8 | c << 16) :
			    REC_MAGIC | a, AT((int8_t)c), b, 0);
			break;
		case 7:
			for (unsigned k = 0; k < (unsigned)(a % 31) + 1; k++)
				put_bytes(j, &c, 1);
			return;
		}
#undef AT
	}
}

/* ---- the reference model ------------------------------------------- */

struct model {
	int64_t  *nums;   /* committed, in order of first commit */
	size_t    n;
	struct gpush_pending *pend; /* seq > 0 only, in journal order */
	size_t    npend;
	uint64_t  accepted;
	int64_t   last, last_at_ms;
	size_t    records, bad;
	int       torn;
	int       zero_seq; /* a PENDING record with seq 0 (gpush never
	                       writes one: seqs start above the clock) */
};

/* Is n among the last GPUSH_DEDUP_WINDOW commits of the model? */
NOCOV static int
model_remembers(const struct model *m, int64_t n)
{
	size_t from = m->n > GPUSH_DEDUP_WINDOW ? m->n - GPUSH_DEDUP_WINDOW : 0;

	for (size_t q = from; q < m->n; q++)
		if (m->nums[q] == n)
			return 1;
	return 0;
}

/*
 * The model, as plainly as possible (by the rules in dedup.c's header
 * comment), one record at a time in journal order: BASE adds to the count
 * and carries the newest number; COMMIT ends a pending number and counts
 * unless the number is remembered (among the last GPUSH_DEDUP_WINDOW
 * commits); PENDING makes a number not remembered pending at its seq.  The
 * pending set lists each pending number once, at the first record with
 * its latest seq, in journal order.
 */
NOCOV static void
model_build(struct model *m, const unsigned char *buf, size_t len)
{
	size_t nrec = len / 32, np = 0;
	struct rec *r = calloc(nrec + 1, sizeof(*r));
	struct { int64_t number; uint64_t seq; int pending; } *pn =
	    calloc(nrec + 1, sizeof(*pn));

	memset(m, 0, sizeof(*m));
	m->nums = calloc(nrec + 1, sizeof(*m->nums));
	m->pend = calloc(nrec + 1, sizeof(*m->pend));
	if (r == NULL || pn == NULL || m->nums == NULL || m->pend == NULL)
		abort();
	m->records = nrec;
	m->torn = len % 32 != 0;
	for (size_t i = 0; i < nrec; i++) {
		memcpy(&r[i], buf + i * 32, 32);
		uint32_t k = r[i].kind;
		int64_t n = r[i].number;
		size_t p;
		for (p = 0; p < np && pn[p].number != n; p++)
			;
		if (k == (REC_MAGIC | GPUSH__REC_BASE)) {
			m->accepted += (uint64_t)n;
			if ((int64_t)r[i].seq > m->last)
				m->last = (int64_t)r[i].seq;
			continue;
		}
		if (k != (REC_MAGIC | GPUSH__REC_PENDING) &&
		    k != (REC_MAGIC | GPUSH__REC_COMMIT)) {
			m->bad++;
			continue;
		}
		if (p == np)
			pn[np++].number = n;
		if (k == (REC_MAGIC | GPUSH__REC_COMMIT)) {
			pn[p].pending = 0;
			if (model_remembers(m, n))
				continue;
			m->nums[m->n++] = n;
			m->accepted++;
			if (n > m->last)
				m->last = n;
			m->last_at_ms = r[i].at_ms;
		} else {
			if (r[i].seq == 0)
				m->zero_seq = 1;
			if (!model_remembers(m, n)) {
				pn[p].pending = 1;
				pn[p].seq = r[i].seq;
			}
		}
	}
	/* In journal order, the first record with each pending number's seq. */
	for (size_t i = 0; i < nrec; i++) {
		if (r[i].kind != (REC_MAGIC | GPUSH__REC_PENDING))
			continue;
		for (size_t p = 0; p < np; p++)
			if (pn[p].number == r[i].number && pn[p].pending &&
			    pn[p].seq == r[i].seq) {
				m->pend[m->npend++] = (struct gpush_pending){
				    r[i].number, r[i].seq };
				pn[p].pending = 0;
			}
	}
	free(r);
	free(pn);
}

static void
model_free(struct model *m)
{
	free(m->nums);
	free(m->pend);
}

NOCOV static enum gpush_seen_verdict
model_judge(const struct model *m, int64_t n, uint64_t floor, uint64_t *seq)
{
	size_t from = m->n > GPUSH_DEDUP_WINDOW ? m->n - GPUSH_DEDUP_WINDOW : 0;
	int64_t min = INT64_MAX;

	*seq = 0;
	for (size_t i = from; i < m->n; i++)
		if (m->nums[i] == n)
			return GPUSH__SEEN_DUP;
	for (size_t i = 0; i < m->npend; i++)
		if (m->pend[i].number == n && m->pend[i].seq > floor) {
			*seq = m->pend[i].seq;
			return GPUSH__SEEN_PENDING;
		}
	if (m->n < GPUSH_DEDUP_WINDOW)
		return GPUSH__SEEN_NEW;
	for (size_t i = from; i < m->n; i++)
		if (m->nums[i] < min)
			min = m->nums[i];
	return n < min ? GPUSH__SEEN_REPLAY : GPUSH__SEEN_NEW;
}

/* ---- comparing ------------------------------------------------------- */

static const char *const vname[] = { "NEW", "DUP", "PENDING", "REPLAY" };

/* s's pending records with seq > 0 equal m's? */
NOCOV static int
pend_equal(const struct gpush_seen *s, const struct model *m)
{
	size_t k = 0;

	for (size_t i = 0; i < s->npend; i++) {
		if (k >= m->npend || s->pend[i].number != m->pend[k].number ||
		    s->pend[i].seq != m->pend[k].seq)
			return 0;
		k++;
	}
	return k == m->npend;
}

static void
check_load(const struct gpush_seen *s, enum gpush_err e, const struct model *m,
    const char *what)
{
	FUZZ_CHECK(e == (m->bad > 0 ? GPUSH_ERR_PARSE : GPUSH_OK),
	    "%s: load says %s with %zu foreign records", what, gpush_strerror(e),
	    m->bad);
	FUZZ_CHECK(s->records == m->records && s->size == (off_t)(m->records * 32) &&
	    s->torn == m->torn && s->bad == m->bad,
	    "%s: records %zu/%zu, torn %d/%d, bad %zu/%zu", what, s->records,
	    m->records, s->torn, m->torn, s->bad, m->bad);
	FUZZ_CHECK(s->n == m->n && (m->n == 0 ||
	    memcmp(s->nums, m->nums, m->n * sizeof(*m->nums)) == 0),
	    "%s: %zu remembered numbers, the model %zu (or their order)", what,
	    s->n, m->n);
	FUZZ_CHECK(s->accepted == m->accepted, "%s: accepted %llu, model %llu",
	    what, (unsigned long long)s->accepted,
	    (unsigned long long)m->accepted);
	FUZZ_CHECK(s->last == m->last && s->last_at_ms == m->last_at_ms,
	    "%s: last %lld at %lld, model %lld at %lld", what, (long long)s->last,
	    (long long)s->last_at_ms, (long long)m->last,
	    (long long)m->last_at_ms);
	FUZZ_CHECK(pend_equal(s, m), "%s: pending records differ (%zu, model %zu)",
	    what, s->npend, m->npend);
}

NOCOV static size_t
probes(const struct model *m, const uint8_t *data, size_t size, int64_t *p)
{
	size_t k = 0, from = m->n > GPUSH_DEDUP_WINDOW ? m->n - GPUSH_DEDUP_WINDOW : 0;
	int64_t min = INT64_MAX, max = INT64_MIN;

	p[k++] = 0;
	p[k++] = 1;
	p[k++] = -1;
	p[k++] = INT64_MAX;
	p[k++] = INT64_MIN;
	for (size_t i = from; i < m->n; i++) {
		if (m->nums[i] < min) min = m->nums[i];
		if (m->nums[i] > max) max = m->nums[i];
	}
	if (m->n > 0) {
		p[k++] = min;
		p[k++] = max;
		if (min > INT64_MIN) p[k++] = min - 1;
		if (max < INT64_MAX) p[k++] = max + 1;
		p[k++] = m->nums[m->n - 1];
		p[k++] = m->nums[from];
		p[k++] = m->nums[0]; /* maybe out of the window */
		if (from > 0) p[k++] = m->nums[from - 1];
		for (size_t i = 0; i < 4; i++)
			p[k++] = m->nums[(size_t)data[i % size] * 997 % m->n];
	}
	for (size_t i = 0; i < m->npend && k < MAXPROBE - 1; i++)
		p[k++] = m->pend[i].number;
	/* The input's last bytes as one more number. */
	if (size >= 8 && k < MAXPROBE)
		memcpy(&p[k++], data + size - 8, 8);
	return k;
}

static void
check_judge(const struct gpush_seen *s, const struct model *m,
    const int64_t *p, size_t np, uint64_t floor)
{
	for (size_t i = 0; i < np; i++) {
		uint64_t seq, mseq;
		enum gpush_seen_verdict v = gpush__seen_judge(s, p[i], floor, &seq);
		enum gpush_seen_verdict w = model_judge(m, p[i], floor, &mseq);
		FUZZ_CHECK(v == w && seq == mseq,
		    "judge(%lld, floor %llu) = %s seq %llu, model %s seq %llu",
		    (long long)p[i], (unsigned long long)floor, vname[v],
		    (unsigned long long)seq, vname[w], (unsigned long long)mseq);
	}
}

static void
write_fd(int fd, const void *buf, size_t len)
{
	if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0 ||
	    (len > 0 && gpush__write_all(fd, buf, len) < 0))
		abort();
}

/* Was n ever committed (in the window or before it)? */
NOCOV static int
model_committed(const struct model *m, int64_t n)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->nums[i] == n)
			return 1;
	return 0;
}

/*
 * Commits n, judged NEW or PENDING, by appending a COMMIT record as the
 * store does after the line is durable: n must then be DUP (remembered)
 * and counted once more.
 */
static void
check_commit(const struct gpush_seen *s, const struct model *m,
    const unsigned char *buf, int64_t n)
{
	struct gpush_seen s2;
	uint64_t seq;
	enum gpush_seen_verdict v = gpush__seen_judge(s, n, 0, &seq), v2;
	enum gpush_err e;

	if (v != GPUSH__SEEN_NEW && v != GPUSH__SEEN_PENDING)
		return;
	/* As seen_open does: cut a torn tail, then append at the end. */
	write_fd(memfd, buf, (size_t)s->size);
	FUZZ_CHECK(gpush__seen_append(memfd, s->size, GPUSH__REC_COMMIT, n, 0,
	    77) == 0, "append");
	e = gpush__seen_load(memfd, &s2);
	FUZZ_CHECK(e == GPUSH_OK || e == GPUSH_ERR_PARSE, "reload: %s",
	    gpush_strerror(e));
	v2 = gpush__seen_judge(&s2, n, 0, &seq);
	/* Bug: a number accepted before but no longer in the window is
	 * accepted again (as README says); its second COMMIT is then ignored
	 * on load ("committed twice: once"), so it is not remembered and
	 * every retry of it is written to the log again. */
	if (!FUZZ_KNOWN(v2 == GPUSH__SEEN_DUP && s2.accepted == s->accepted + 1 &&
	    s2.n == s->n + 1, model_committed(m, n), "recommit-outside-window",
	    "committed %s number %lld is %s afterwards; accepted %llu -> %llu",
	    vname[v], (long long)n, vname[v2], (unsigned long long)s->accepted,
	    (unsigned long long)s2.accepted)) {
		gpush__seen_clear(&s2);
		return;
	}
	FUZZ_CHECK(s2.records == s->records + 1 && !s2.torn &&
	    s2.nums[s2.n - 1] == n, "the commit is not the newest number");
	for (size_t k = 0; k < s2.npend; k++)
		FUZZ_CHECK(s2.pend[k].number != n, "still pending after commit");
	gpush__seen_clear(&s2);
}

static void
check_append(const struct gpush_seen *s, const struct model *m,
    const unsigned char *buf, const int64_t *p, size_t np)
{
	size_t from = m->n > GPUSH_DEDUP_WINDOW ? m->n - GPUSH_DEDUP_WINDOW : 0;
	int done_new = 0, done_pending = 0;
	uint64_t seq;

	/* Numbers committed before the window, the first NEW probe and the
	 * first PENDING one. */
	if (from > 0) {
		check_commit(s, m, buf, m->nums[0]);
		check_commit(s, m, buf, m->nums[from - 1]);
	}
	for (size_t i = 0; i < np; i++) {
		enum gpush_seen_verdict v = gpush__seen_judge(s, p[i], 0, &seq);
		if (v == GPUSH__SEEN_NEW && !done_new++)
			check_commit(s, m, buf, p[i]);
		if (v == GPUSH__SEEN_PENDING && !done_pending++)
			check_commit(s, m, buf, p[i]);
	}
}

static void
check_compact(const struct gpush_seen *s, const struct model *m, int force,
    const int64_t *p, size_t np, uint64_t floor)
{
	struct gpush_seen cs = *s, s2;
	struct model m2;
	char path[300];
	unsigned char *buf;
	size_t keep = s->n > GPUSH_DEDUP_WINDOW ? GPUSH_DEDUP_WINDOW : s->n, len;
	enum gpush_err e;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/ch-fuzz", dirpath);
	unlink(path);
	if (force && cs.records < COMPACT_AT)
		cs.records = COMPACT_AT;
	rc = gpush__seen_compact(dirfd_, dirpath, "ch-fuzz", &cs, 99);
	FUZZ_CHECK(rc == 0, "compact: %s", strerror(errno));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		FUZZ_CHECK(cs.records < COMPACT_AT, "compaction wrote nothing");
		return;
	}
	FUZZ_CHECK(cs.records >= COMPACT_AT, "compacted below the threshold");
	e = gpush__seen_load(fd, &s2);
	FUZZ_CHECK(lseek(fd, 0, SEEK_SET) == 0 &&
	    gpush__read_file(fd, 64u << 20, (char **)&buf, &len) == 0, "read");
	close(fd);
	model_build(&m2, buf, len);
	check_load(&s2, e, &m2, "compacted");
	FUZZ_CHECK(e == GPUSH_OK && !s2.torn && s2.bad == 0 &&
	    s2.records == 1 + keep + s->npend, "compacted journal: %s, %zu records",
	    gpush_strerror(e), s2.records);
	FUZZ_CHECK(s2.n == keep && (keep == 0 || memcmp(s2.nums,
	    s->nums + (s->n - keep), keep * sizeof(*s2.nums)) == 0),
	    "compaction changed the window");
	FUZZ_CHECK(s2.accepted == s->accepted, "compaction: accepted %llu -> %llu",
	    (unsigned long long)s->accepted, (unsigned long long)s2.accepted);
	FUZZ_CHECK(s2.last_at_ms == (keep > 0 ? s->last_at_ms : 0),
	    "compaction: last_at_ms");
	/* Bug: collect_pending() marks a collected number with seq 0, so a
	 * PENDING record with seq 0 after it is collected as well; the
	 * compacted journal then ends with that record, and on reload the
	 * real pending record (seq > 0) is lost. */
	if (!FUZZ_KNOWN(pend_equal(&s2, m), m->zero_seq, "pending-seq-zero",
	    "compaction changed the pending records"))
		goto out;
	for (size_t i = 0; i < np; i++)
		for (int f = 0; f < 2; f++) {
			uint64_t q1, q2, fl = f ? floor : 0;
			enum gpush_seen_verdict v1 = gpush__seen_judge(s, p[i], fl, &q1);
			enum gpush_seen_verdict v2 = gpush__seen_judge(&s2, p[i], fl, &q2);
			if (!FUZZ_KNOWN(v1 == v2 && q1 == q2, m->zero_seq,
			    "pending-seq-zero",
			    "compaction changes judge(%lld, floor %llu): %s -> %s",
			    (long long)p[i], (unsigned long long)fl, vname[v1],
			    vname[v2]))
				goto out;
		}
out:
	model_free(&m2);
	free(buf);
	gpush__seen_clear(&s2);
	unlink(path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct journal j = { 0 };
	struct gpush_seen s;
	struct model m;
	int64_t p[MAXPROBE];
	size_t np;
	uint8_t flags;
	uint64_t floor;
	enum gpush_err e;

	if (size < 1)
		return 0;
	flags = data[0];
	floor = (uint64_t)(flags >> 2) * 1024;
	if (flags & 1)
		run_program(&j, data + 1, size - 1);
	else
		put_bytes(&j, data + 1, size - 1);

	write_fd(memfd, j.buf, j.len);
	e = gpush__seen_load(memfd, &s);
	FUZZ_CHECK(e == GPUSH_OK || e == GPUSH_ERR_PARSE, "load: %s",
	    gpush_strerror(e));
	model_build(&m, j.buf, j.len);
	check_load(&s, e, &m, "load");

	np = probes(&m, data, size, p);
	check_judge(&s, &m, p, np, 0);
	check_judge(&s, &m, p, np, floor);
	check_compact(&s, &m, flags & 2, p, np, floor);
	check_append(&s, &m, j.buf, p, np);

	gpush__seen_clear(&s);
	model_free(&m);
	free(j.buf);
	return 0;
}
