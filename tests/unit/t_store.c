/* Unit tests: the store -- exactly once, repair, adoption, rotation,
 * short writes, compaction, and many processes at once. */
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>

/* The library's ftruncate(2), failing the next trunc_fail calls with EIO
 * (a cut-back that fails: test_behind). */
static int trunc_fail;
static int
test_ftruncate(int fd, off_t len)
{
	if (trunc_fail > 0) {
		trunc_fail--;
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_ftruncate, fd, len);
}
#define ftruncate test_ftruncate

#include "lib_all.h"
#include "tap.h"

static char dir[64];

static struct gpush_notification *
note(const char *ch, int64_t num)
{
	struct gpush_notification *n = calloc(1, sizeof(*n));

	n->channel_id = strdup(ch);
	n->state = strdup(num == 1 ? "sync" : "update");
	n->resource_id = strdup("r");
	n->resource_uri = strdup("https://u");
	n->number = num;
	n->expiration = -1;
	return n;
}

/* accept() of (ch, num); returns the error, *dup the duplicate flag. */
static enum gpush_err
acc(struct gpush_store *s, const char *ch, int64_t num, int *dup)
{
	struct gpush_notification *n = note(ch, num);
	enum gpush_err e;

	*dup = -1;
	e = gpush_store_accept(s, n, gpush_now_ms(), dup);
	gpush_notification_free(n);
	return e;
}

static char *
slurp(const char *name, size_t *len)
{
	char path[256], *buf = NULL;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	*len = 0;
	if ((fd = open(path, O_RDONLY)) < 0)
		return strdup("");
	gpush__read_file(fd, 1 << 30, &buf, len);
	close(fd);
	return buf;
}

/* How many log lines hold "message_number":num for channel ch. */
static int
count(const char *file, const char *ch, int64_t num)
{
	char needle[128];
	size_t len;
	char *log = slurp(file, &len), *p = log;
	int k = 0;

	snprintf(needle, sizeof(needle), "\"channel_id\":\"%s\",\"message_number\":%lld,",
	    ch, (long long)num);
	while ((p = strstr(p, needle)) != NULL) {
		k++;
		p++;
	}
	free(log);
	return k;
}

static int
lines_valid(const char *file)
{
	size_t len, off = 0;
	char *log = slurp(file, &len);
	int good = len == 0 || log[len - 1] == '\n';

	while (good && off < len) {
		char *nl = memchr(log + off, '\n', len - off);
		good = gpush__json_valid(log + off, (size_t)(nl - (log + off)));
		off = (size_t)(nl - log) + 1;
	}
	free(log);
	return good;
}

static void
append_raw(const char *name, const char *text)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
	gpush__write_all(fd, text, strlen(text));
	close(fd);
}

static void
test_once(struct gpush_store *s)
{
	int dup;

	ok(acc(s, "a", 1, &dup) == GPUSH_OK && dup == 0, "new: accepted");
	ok(acc(s, "a", 1, &dup) == GPUSH_OK && dup == 1, "again: duplicate");
	ok(acc(s, "b", 1, &dup) == GPUSH_OK && dup == 0, "other channel, same number");
	ok(acc(s, "a", 10, &dup) == GPUSH_OK && dup == 0, "a 10");
	ok(acc(s, "a", 5, &dup) == GPUSH_OK && dup == 0, "older but unseen: accepted");
	is_int(count(GPUSH_LOG_FILE, "a", 1), 1, "a 1 logged once");
	struct gpush_channel_stats st;
	memset(&st, 0x5a, sizeof(st));
	gpush_store_stats(s, "a", &st);
	ok(st.last_number == 10 && st.accepted == 3, "stats: last 10, 3 accepted");
	gpush_store_stats(s, "never", &st);
	ok(st.last_number == 0 && st.accepted == 0 && st.last_at_ms == 0,
	    "stats of a silent channel are zero");
}

static void
test_repair(struct gpush_store *s)
{
	int dup;

	append_raw(GPUSH_LOG_FILE, "{\"received_at\":\"x\",\"chan");
	ok(acc(s, "c", 2, &dup) == GPUSH_OK && dup == 0, "accepted after a torn tail");
	ok(lines_valid(GPUSH_LOG_FILE), "the fragment is cut, not glued");
	/* A whole line whose writer died before recording it: adopted. */
	append_raw(GPUSH_LOG_FILE, "{\"received_at\":\"2026-01-01T00:00:00.000Z\","
	    "\"channel_id\":\"c\",\"message_number\":77,\"resource_state\":\"update\","
	    "\"resource_id\":\"r\",\"resource_uri\":\"https://u\"}\n");
	ok(acc(s, "c", 78, &dup) == GPUSH_OK && dup == 0, "next writer runs");
	ok(acc(s, "c", 77, &dup) == GPUSH_OK && dup == 1, "the orphan's retry is a duplicate");
	is_int(count(GPUSH_LOG_FILE, "c", 77), 1, "orphan line kept once");
	ok(lines_valid(GPUSH_LOG_FILE), "log valid after adoption");
}

/* A writer whose line is in the log but whose fdatasync failed (or that
 * died before committing): the retry commits it without a second line. */
static void
test_pending(struct gpush_store *s)
{
	struct gpush_notification *n = note("d", 3);
	struct gpush__journal *j;
	char *line;
	size_t len;
	int dup;
	off_t end;

	gpush_notification_record(n, 0, &line, &len);
	gpush__log_lock(s);
	end = gpush__log_ready(s);
	gpush__journal_get(s, "d", &j);
	ok(s->sync_on && append(s, end, j, 3, line, len, 0) > 0,
	    "line and pending written");
	gpush__log_unlock(s);
	free(line);
	gpush_notification_free(n);
	ok(acc(s, "d", 3, &dup) == GPUSH_OK && dup == 1, "retry commits the pending line");
	is_int(count(GPUSH_LOG_FILE, "d", 3), 1, "pending line logged once");
	struct gpush_channel_stats st;
	gpush_store_stats(s, "d", &st);
	is_int(st.accepted, 1, "and counted once");
}

static void
test_short_write(struct gpush_store *s)
{
	struct rlimit old, rl;
	struct stat st;
	char path[256];
	int dup;

	snprintf(path, sizeof(path), "%s/%s", dir, GPUSH_LOG_FILE);
	stat(path, &st);
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	rl = old;
	rl.rlim_cur = (rlim_t)st.st_size + 20; /* a line does not fit */
	setrlimit(RLIMIT_FSIZE, &rl);
	is_int(acc(s, "e", 4, &dup), GPUSH_ERR_IO, "EFBIG: 503");
	setrlimit(RLIMIT_FSIZE, &old);
	struct stat st2;
	stat(path, &st2);
	is_int(st2.st_size, st.st_size, "nothing partial left");
	ok(acc(s, "e", 4, &dup) == GPUSH_OK && dup == 0, "the retry is accepted");
	is_int(count(GPUSH_LOG_FILE, "e", 4), 1, "once");
}

static void
test_rotate(struct gpush_store *s)
{
	int dup;

	ok(acc(s, "f", 1, &dup) == GPUSH_OK, "before rotation");
	is_int(gpush_store_rotate(s, 3), GPUSH_OK, "rotate");
	ok(acc(s, "f", 2, &dup) == GPUSH_OK && dup == 0, "after rotation");
	is_int(count(GPUSH_LOG_FILE, "f", 2), 1, "new line in the fresh file");
	is_int(count(GPUSH_LOG_FILE, "f", 1), 0, "old line not in the fresh file");
	is_int(count(GPUSH_LOG_FILE ".1", "f", 1), 1, "old line in .1");
	ok(acc(s, "f", 1, &dup) == GPUSH_OK && dup == 1, "dedup survives rotation");
	gpush_store_rotate(s, 3);
	gpush_store_rotate(s, 3);
	gpush_store_rotate(s, 3);
	is_int(count(GPUSH_LOG_FILE ".1", "f", 2), 1, "shifted to .1, and rotating no log shifts nothing");
	is_int(count(GPUSH_LOG_FILE ".2", "f", 1), 1, "older in .2");
	is_int(gpush_store_rotate(s, 0), GPUSH_ERR_ARG, "keep 0 refused");
}

static void
test_window(struct gpush_store *s)
{
	int dup, bad = 0;
	struct stat st;
	char path[256];

	gpush_store_set_sync(s, 0);
	for (int64_t k = 1000; k < 6000; k++)
		if (acc(s, "w", k, &dup) != GPUSH_OK || dup != 0)
			bad++;
	is_int(bad, 0, "5000 accepted");
	is_int(acc(s, "w", 4975, &dup), GPUSH_ERR_REPLAY, "older than the window: 409");
	ok(acc(s, "w", 4976, &dup) == GPUSH_OK && dup == 1, "oldest remembered: duplicate");
	ok(acc(s, "w", 5999, &dup) == GPUSH_OK && dup == 1, "newest: duplicate");
	snprintf(path, sizeof(path), "%s/state/ch-77", dir);
	stat(path, &st);
	ok(st.st_size <= 2 * GPUSH_DEDUP_WINDOW * 32, "journal compacted (%lld bytes)",
	    (long long)st.st_size);
	struct gpush_channel_stats cs;
	gpush_store_stats(s, "w", &cs);
	ok(cs.accepted == 5000 && cs.last_number == 5999, "stats survive compaction");
	is_int(gpush_store_check_state(s, "w"), GPUSH_OK, "state consistent");
	/* A number that left the window and is accepted again is remembered
	 * again (found by fuzz_seen). */
	bad = 0;
	for (int64_t k = 1; k <= 1024; k++)
		if (acc(s, "w2", k + (k == 1 ? 5000 : 0), &dup) != GPUSH_OK)
			bad++;
	for (int64_t k = 2; k <= 1025; k++)
		if (acc(s, "w2", k + 10, &dup) != GPUSH_OK)
			bad++;
	ok(acc(s, "w2", 5001, &dup) == GPUSH_OK && dup == 0, "5001 left the window: accepted again");
	ok(acc(s, "w2", 5001, &dup) == GPUSH_OK && dup == 1, "and its retry is a duplicate");
	is_int(count(GPUSH_LOG_FILE, "w2", 5001), 2, "logged twice, once per acceptance");
	gpush_store_stats(s, "w", &cs);
	is_int(cs.last_number, 5999, "last number survives compaction");
	gpush_store_set_sync(s, 1);
}

/* 8 processes x 150 notifications on 3 channels, each number sent by two
 * processes: every line valid, each number once. */
static void
test_processes(void)
{
	enum { P = 8, N = 150 };
	pid_t pids[P];
	int bad = 0, missing = 0;

	for (int p = 0; p < P; p++) {
		if ((pids[p] = fork()) == 0) {
			struct gpush_store *s;
			int dup, fails = 0;
			if (gpush_store_open(dir, &s) != GPUSH_OK)
				_exit(1);
			for (int k = 0; k < N; k++) {
				int num = (p / 2) * N + k + 100;
				char ch[8];
				snprintf(ch, sizeof(ch), "p%d", k % 3);
				enum gpush_err e;
				while ((e = acc(s, ch, num, &dup)) == GPUSH_ERR_LOCK)
					;
				fails += e != GPUSH_OK;
			}
			gpush_store_free(s);
			_exit(fails ? 2 : 0);
		}
	}
	for (int p = 0; p < P; p++) {
		int status;
		waitpid(pids[p], &status, 0);
		bad += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	}
	is_int(bad, 0, "every process accepted all it sent");
	for (int q = 0; q < P / 2; q++)
		for (int k = 0; k < N; k++) {
			char ch[8];
			snprintf(ch, sizeof(ch), "p%d", k % 3);
			missing += count(GPUSH_LOG_FILE, ch, q * N + k + 100) != 1;
		}
	is_int(missing, 0, "each number exactly once in the log");
	ok(lines_valid(GPUSH_LOG_FILE), "no torn or interleaved line");
}

static enum gpush_err
keep_all(void *ctx, const char *line, const struct gpush_channel *c, char **keep)
{
	(void)c;
	++*(int *)ctx;
	*keep = strdup(line);
	return GPUSH_OK;
}

static enum gpush_err
add_one(void *ctx, char **line)
{
	*line = NULL;
	if (*(int *)ctx >= 0) {
		*(int *)ctx = -1;
		*line = strdup("{\"id\":\"added\"}");
	}
	return GPUSH_OK;
}

static enum gpush_err
refuse(void *ctx, const char *line, const struct gpush_channel *c, char **keep)
{
	(void)ctx; (void)line; (void)c;
	*keep = strdup("{\"id\":\"never\"}");
	return GPUSH_ERR_EXISTS;
}

static int
count_each(void *ctx, size_t lineno, const char *line, const struct gpush_channel *c,
    enum gpush_err e)
{
	(void)lineno; (void)line; (void)e;
	((int *)ctx)[c != NULL ? 0 : 1]++;
	return 0;
}

/* Registry edits: kept, appended, aborted; foreach; a too-long id. */
static void
test_edit(struct gpush_store *s)
{
	const struct gpush_channel *c;
	int n = 0, counts[2] = { 0, 0 };
	size_t len;
	char *before, *after;

	append_raw(GPUSH_REGISTRY_FILE, "{\"id\":\"one\"}\nnot json\n\n{\"id\":\"two\"}\n");
	is_int(gpush_store_edit(s, keep_all, add_one, &n), GPUSH_OK, "edit: keep all, add one");
	is_int(n, -1, "edit: three non-blank lines seen, then the append");
	ok(gpush_store_channel(s, "added", &c) == GPUSH_OK, "edit: appended line is live");
	/* FastCGI: the parsed registry is kept across requests. */
	gpush_store_set_cache(s, 1);
	struct gpush_registry *r0 = s->reg;
	gpush_store_channel(s, "one", &c);
	gpush_store_set_cache(s, 1);
	gpush_store_channel(s, "two", &c);
	ok(s->reg == r0 && s->reg->loads == 1, "cache: one parse for two requests");
	gpush_store_set_cache(s, 0);
	before = slurp(GPUSH_REGISTRY_FILE, &len);
	is_int(gpush_store_edit(s, refuse, NULL, NULL), GPUSH_ERR_EXISTS,
	    "edit: a callback's error aborts");
	after = slurp(GPUSH_REGISTRY_FILE, &len);
	is_str(after, before, "edit: the registry is unchanged after an abort");
	free(before);
	free(after);
	int stopped = 7;
	is_int(gpush_registry_foreach(dir, count_each, counts, &stopped), GPUSH_OK, "foreach");
	is_int(stopped, 0, "foreach ran to the end");
	ok(counts[0] == 3 && counts[1] == 1, "foreach: 3 channels, 1 bad line");
	char longid[GPUSH_ID_MAX + 40];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	c = (const struct gpush_channel *)0x1;
	ok(gpush_store_channel(s, longid, &c) == GPUSH_ERR_CHANNEL && c == NULL,
	    "an id over 64 is no channel (and no over-read)");
}

static void
test_rotate_nothing(void)
{
	char d[] = "/tmp/gpush-rot-XXXXXX", p[128];
	struct gpush_store *s;
	struct stat st;

	mkdtemp(d);
	gpush_store_open(d, &s);
	is_int(gpush_store_rotate(s, 2), GPUSH_OK, "rotate without a log: nothing to do");
	snprintf(p, sizeof(p), "%s/%s.1", d, GPUSH_LOG_FILE);
	ok(stat(p, &st) < 0, "and no empty .1 is made");
	gpush_store_free(s);
	snprintf(p, sizeof(p), "rm -rf %s", d);
	if (system(p) != 0)
		ok(0, "cleanup");
}

/* Writes the registry of dir d atomically (as the tool does). */
static void
put_registry(const char *d, const char *text)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", d, GPUSH_REGISTRY_FILE);
	ok(gpush__write_atomic(path, text, strlen(text)) == 0, "registry written");
}

/* A FastCGI-mode handle on data directory d, without the fdatasync. */
static int
kept_handle(const char *d, struct gpush_store **s)
{
	if (gpush_store_open(d, s) != GPUSH_OK)
		return -1;
	gpush_store_set_cache(*s, 1);
	gpush_store_set_sync(*s, 0);
	return 0;
}

/* A new data directory from template d (mkdtemp) with a registry, and two
 * handles on it, as two FastCGI processes. */
static void
two_handles(char *d, struct gpush_store **a, struct gpush_store **b)
{
	mkdtemp(d);
	put_registry(d, "{\"id\":\"k1\",\"token\":\"t\"}\n");
	ok(kept_handle(d, a) == 0 && kept_handle(d, b) == 0, "two handles on %s", d);
}

/*
 * Two FastCGI-mode handles on one data directory, as two processes: each
 * keeps the journals open and catches up from the other's appends
 * through the shared page; a forget (journal removed) and a compaction
 * (replaced) are seen; a registry replaced or edited in place, and a log
 * renamed from outside, are seen through the watch without a stat.
 */
static void
test_kept(void)
{
	char d[64], path[256], to[256];
	struct gpush_store *a, *b;
	const struct gpush_channel *c;
	int dup;

	snprintf(d, sizeof(d), "/tmp/gpush-kept-XXXXXX");
	two_handles(d, &a, &b);
	ok(acc(a, "k", 5, &dup) == GPUSH_OK && dup == 0, "a accepts 5");
	ok(acc(b, "k", 5, &dup) == GPUSH_OK && dup == 1, "b, which had not read the journal: duplicate");
	ok(acc(b, "k", 9, &dup) == GPUSH_OK && dup == 0, "b accepts 9");
	ok(acc(a, "k", 9, &dup) == GPUSH_OK && dup == 1, "a reads on from where it stopped: duplicate");
	ok(acc(a, "k", 7, &dup) == GPUSH_OK && dup == 0, "7, below the newest: new (whole journal)");
	ok(acc(b, "k", 7, &dup) == GPUSH_OK && dup == 1, "and a duplicate for b");
	ok(gpush_store_forget(b, "k") == GPUSH_OK, "b forgets the channel");
	ok(acc(a, "k", 9, &dup) == GPUSH_OK && dup == 0, "a sees the journal gone: 9 is new again");
	/* durable: pending with the line, the commit owed to the next phase */
	gpush_store_set_sync(a, 1);
	gpush_store_set_sync(b, 1);
	ok(acc(a, "k", 20, &dup) == GPUSH_OK && dup == 0, "durable: a accepts 20");
	ok(acc(b, "k", 20, &dup) == GPUSH_OK && dup == 1, "b: its pending record, synced: duplicate");
	struct gpush_channel_stats st;
	/* Another process (gpush renew waiting for a sync, list, health)
	 * sees a's line as accepted although a's COMMIT is still owed. */
	ok(acc(a, "s", 1, &dup) == GPUSH_OK && dup == 0, "durable: a accepts s 1");
	memset(&st, 0x5a, sizeof(st));
	enum gpush_err se = gpush_store_stats(b, "s", &st);
	ok(se == GPUSH_OK && st.last_number == 1 &&
	    st.accepted == 1, "b's stats count a's synced pending s 1 (last %lld, "
	    "accepted %llu)", (long long)st.last_number,
	    (unsigned long long)st.accepted);
	ok(gpush_store_stats(a, "k", &st) == GPUSH_OK && st.last_number == 20,
	    "the owed commit is written before stats read (last %lld)", (long long)st.last_number);
	/* compaction by b while a keeps the journal open */
	for (int i = 0; i < GPUSH__COMPACT_AT; i++)
		acc(b, "m", 100 + i, &dup);
	ok(acc(a, "m", 100, &dup) == GPUSH_ERR_REPLAY,
	    "a: 100, older than the whole window of the compacted journal: replay");
	ok(acc(a, "m", 100 + GPUSH__COMPACT_AT - 1, &dup) == GPUSH_OK && dup == 1,
	    "a reopens the compacted journal: the newest is a duplicate");
	ok(acc(b, "m", 100 + GPUSH__COMPACT_AT, &dup) == GPUSH_OK && dup == 0, "b goes on");
	ok(acc(a, "m", 100 + GPUSH__COMPACT_AT, &dup) == GPUSH_OK && dup == 1, "and a sees it");
	/* the registry, replaced and edited in place */
	ok(gpush_store_channel(a, "k1", &c) == GPUSH_OK, "a finds k1");
	ok(gpush_store_channel(a, "k2", &c) == GPUSH_ERR_CHANNEL, "not k2");
	put_registry(d, "{\"id\":\"k1\",\"token\":\"t\"}\n{\"id\":\"k2\",\"token\":\"t\"}\n");
	ok(gpush_store_channel(a, "k2", &c) == GPUSH_OK, "the replaced registry on the next lookup");
	snprintf(path, sizeof(path), "%s/%s", d, GPUSH_REGISTRY_FILE);
	int fd = open(path, O_WRONLY | O_APPEND);
	ok(fd >= 0 && write(fd, "{\"id\":\"k3\"}\n", 13) == 13 && close(fd) == 0,
	    "registry edited in place");
	ok(gpush_store_channel(a, "k3", &c) == GPUSH_OK, "seen on the next lookup");
	/* the log renamed from outside (logrotate create) */
	snprintf(path, sizeof(path), "%s/%s", d, GPUSH_LOG_FILE);
	snprintf(to, sizeof(to), "%s/%s.1", d, GPUSH_LOG_FILE);
	ok(rename(path, to) == 0, "log renamed from outside");
	ok(acc(a, "k", 30, &dup) == GPUSH_OK && dup == 0, "a accepts 30");
	snprintf(dir, sizeof(dir), "%s", d);
	is_int(count(GPUSH_LOG_FILE, "k", 30), 1, "into a fresh log");
	is_int(count(GPUSH_LOG_FILE ".1", "k", 30), 0, "not into the renamed one");
	/* The watch is read once a request: by the channel lookup, or by
	 * the accept when no lookup came first.  gpush rotate between a
	 * lookup's look and the accept is told by the page instead. */
	ok(gpush_store_channel(a, "k1", &c) == GPUSH_OK &&
	    acc(a, "k", 31, &dup) == GPUSH_OK && dup == 0 &&
	    gpush_store_channel(a, "k1", &c) == GPUSH_OK,
	    "a: lookup, accept 31, lookup (its watch read, nothing queued)");
	ok(gpush_store_rotate(b, 3) == GPUSH_OK, "b rotates");
	ok(acc(a, "k", 32, &dup) == GPUSH_OK && dup == 0, "a accepts 32");
	is_int(count(GPUSH_LOG_FILE, "k", 32), 1, "into a fresh log (the page said)");
	is_int(count(GPUSH_LOG_FILE ".1", "k", 32), 0, "not into the rotated one");
	ok(acc(a, "k", 33, &dup) == GPUSH_OK && acc(a, "k", 34, &dup) == GPUSH_OK,
	    "a accepts 33 and 34 (without lookups)");
	snprintf(to, sizeof(to), "%s/%s.x", d, GPUSH_LOG_FILE);
	ok(rename(path, to) == 0, "log renamed from outside again");
	ok(acc(a, "k", 35, &dup) == GPUSH_OK && dup == 0, "a accepts 35 (no lookup first)");
	is_int(count(GPUSH_LOG_FILE, "k", 35), 1, "into a fresh log (the accept read the watch)");
	is_int(count(GPUSH_LOG_FILE ".x", "k", 35), 0, "not into the renamed one");
	gpush_store_free(a);
	gpush_store_free(b);
	snprintf(path, sizeof(path), "rm -rf %s", d);
	if (system(path) != 0)
		ok(0, "cleanup");
}

/*
 * The log lock is the page's robust mutex (issue 12): a holder killed
 * with it held hands it over, a live holder makes a waiter give up after
 * the store's timeout, and after a reboot a mutex the last boot left
 * "held" is made again rather than waited for.
 */
static void
test_log_mutex(struct gpush_store *s)
{
	int fds[2], status;
	char c;
	pid_t pid;
	int64_t t0;

	ok(gpush__log_lock(s) == GPUSH_OK && !s->log_flocked &&
	    LOAD(s->page->log_ready) == 1, "log lock: the page's mutex, made");
	gpush__log_unlock(s);

	/* A holder killed with the lock held. */
	if (pipe(fds) != 0 || (pid = fork()) < 0) {
		ok(0, "log lock: fork");
		return;
	}
	if (pid == 0) {
		struct gpush_store *k;
		if (gpush_store_open(dir, &k) != GPUSH_OK || gpush__log_lock(k) != GPUSH_OK)
			_exit(1);
		(void)write(fds[1], "x", 1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	ok(read(fds[0], &c, 1) == 1, "log lock: a child holds it");
	close(fds[0]);
	s->timeout_ms = 300;
	t0 = gpush_now_ms();
	is_int(gpush__log_lock(s), GPUSH_ERR_LOCK, "log lock: held by a live process, "
	    "a waiter gives up after the timeout");
	ok(gpush_now_ms() - t0 >= 250, "log lock: ... and not before it (%lld ms)",
	    (long long)(gpush_now_ms() - t0));
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	s->timeout_ms = 20000;
	t0 = gpush_now_ms();
	ok(gpush__log_lock(s) == GPUSH_OK && gpush_now_ms() - t0 < 10000,
	    "log lock: its holder killed, the next one gets it at once");
	gpush__log_unlock(s);
	ok(gpush__log_lock(s) == GPUSH_OK, "log lock: and it works as before after");
	gpush__log_unlock(s);

	/* A reboot: the page's boot id is another, and the mutex looks held
	 * by a thread of the last boot (its owner word set by hand). */
	memset(s->page->boot, 'x', sizeof(s->page->boot) - 1);
	memset(&s->page->log_mx, 0, sizeof(s->page->log_mx));
	*(volatile int *)&s->page->log_mx = 0x3ffffff0;  /* __lock: an owner TID */
	s->timeout_ms = 20000;
	t0 = gpush_now_ms();
	STORE(s->page->jtop[5], GPUSH__JTOP_UNKNOWN);
	STORE(s->page->jwriting, 6);
	ok(gpush__log_lock(s) == GPUSH_OK && gpush_now_ms() - t0 < 10000 &&
	    memcmp(s->page->boot, s->boot, sizeof(s->boot)) == 0,
	    "log lock: after a reboot the last boot's mutex is made again, not waited for");
	ok(s->page->jtop[5] == 0 && s->page->jwriting == 0,
	    "and the journals' jtop and jwriting start afresh");
	gpush__log_unlock(s);

	/* An upgrade without a reboot: the page of the last layout (its
	 * magic), whose bytes where log_ready and log_mx are now say
	 * anything -- here "ready" and a mutex held. */
	memcpy(s->page->magic, "GPUSHCM1", 8);
	STORE(s->page->log_ready, 1);
	memset(&s->page->log_mx, 0, sizeof(s->page->log_mx));
	*(volatile int *)&s->page->log_mx = 0x3ffffff0;
	t0 = gpush_now_ms();
	ok(gpush__log_lock(s) == GPUSH_OK && gpush_now_ms() - t0 < 10000 &&
	    memcmp(s->page->magic, COMMIT_MAGIC, 8) == 0,
	    "log lock: a page of the last layout is made anew, not trusted");
	gpush__log_unlock(s);
	s->timeout_ms = 10000;
}

/* A writer of channel id's journal that died mid-record, as the page and
 * the file show it: jwriting, japp and jtop told, half a record written. */
static void
tear(const char *d, struct gpush_store *s, const char *id, int64_t n)
{
	uint64_t h = gpush__registry_hash(id);
	char name[GPUSH__SEEN_NAME], path[256];
	int fd;

	STORE(s->page->jwriting, (uint32_t)(h % GPUSH__JTOPS) + 1);
	if (n > s->page->jtop[h % GPUSH__JTOPS])
		STORE(s->page->jtop[h % GPUSH__JTOPS], n);
	STORE(s->page->japp[h % GPUSH__JSLOTS], s->page->japp[h % GPUSH__JSLOTS] + 1);
	gpush__seen_name(id, name, sizeof(name));
	snprintf(path, sizeof(path), "%s/state/%s", d, name);
	fd = open(path, O_WRONLY | O_APPEND);
	ok(fd >= 0 && write(fd, "\x01\x02\x03\x04\x05\x06\x07\x08"
	    "\x01\x02\x03\x04\x05\x06\x07\x08", 16) == 16 && close(fd) == 0,
	    "%s: half a record left by a writer that died", id);
}

/* The size of channel id's journal, -1 when there is none. */
static off_t
journal_size(const char *d, const char *id)
{
	char name[GPUSH__SEEN_NAME], path[256];
	struct stat st;

	gpush__seen_name(id, name, sizeof(name));
	snprintf(path, sizeof(path), "%s/state/%s", d, name);
	return stat(path, &st) == 0 ? st.st_size : -1;
}

/*
 * Two handles whose journals fall behind each other's appends (journal.c):
 * a number above every record is new without reading on, and one that is
 * not is read on for; a record torn by a writer that died is cut before
 * anything is appended behind it, by a request's record and by an owed
 * commit; a journal only ever appended to from behind is still compacted;
 * a short record write with the end unknown cuts back to whole records.
 */
static void
test_behind(void)
{
	char d[64], path[256];
	struct gpush_store *a, *b;
	unsigned long reads;
	int dup, bad = 0, fd;
	struct rlimit old, rl;

	snprintf(d, sizeof(d), "/tmp/gpush-behind-XXXXXX");
	two_handles(d, &a, &b);
	ok(acc(a, "x", 10, &dup) == GPUSH_OK && dup == 0, "behind: a accepts 10");
	ok(acc(b, "x", 11, &dup) == GPUSH_OK && dup == 0, "behind: b accepts 11");
	reads = a->jc->reads;
	ok(acc(a, "x", 12, &dup) == GPUSH_OK && dup == 0 && a->jc->reads == reads,
	    "behind: a, behind b's 11, accepts 12 without reading on");
	ok(acc(b, "x", 12, &dup) == GPUSH_OK && dup == 1,
	    "behind: b, behind a's 12: duplicate (jtop raised by a's append)");
	ok(acc(a, "x", 11, &dup) == GPUSH_OK && dup == 1 && a->jc->reads > reads,
	    "behind: a reads on for 11, below the newest: duplicate");
	ok(acc(b, "x", 13, &dup) == GPUSH_OK && dup == 0, "behind: b accepts 13");
	ok(acc(a, "x", 13, &dup) == GPUSH_OK && dup == 1,
	    "behind: a, for a number equal to jtop: reads on, duplicate");

	/* a torn record, then a request's record */
	ok(acc(a, "y", 1, &dup) == GPUSH_OK && acc(b, "y", 2, &dup) == GPUSH_OK,
	    "behind: y 1 by a, 2 by b");
	tear(d, b, "y", 3);
	ok(acc(a, "y", 50, &dup) == GPUSH_OK && dup == 0, "behind: a accepts y 50");
	ok(journal_size(d, "y") == 3 * GPUSH__REC_SIZE,
	    "behind: the fragment cut, not appended behind (%lld bytes)",
	    (long long)journal_size(d, "y"));
	is_int(gpush_store_check_state(b, "y"), GPUSH_OK, "behind: y's journal whole");
	ok(acc(b, "y", 50, &dup) == GPUSH_OK && dup == 1, "behind: and b sees 50");
	reads = b->jc->reads;
	ok(acc(b, "y", 60, &dup) == GPUSH_OK && acc(a, "y", 61, &dup) == GPUSH_OK &&
	    acc(b, "y", 62, &dup) == GPUSH_OK && b->jc->reads > reads,
	    "behind: where a record was torn, b reads on from then on this boot");

	/* a torn record, then an owed commit (durable) */
	gpush_store_set_sync(a, 1);
	gpush_store_set_sync(b, 1);
	ok(acc(a, "z", 1, &dup) == GPUSH_OK && acc(b, "z", 2, &dup) == GPUSH_OK,
	    "behind: durable, z 1 by a, 2 by b (each owes a commit)");
	tear(d, b, "z", 3);
	ok(acc(a, "q", 1, &dup) == GPUSH_OK && dup == 0,
	    "behind: a's next request pays its commit of z 1");
	ok(journal_size(d, "z") == 3 * GPUSH__REC_SIZE,
	    "behind: the fragment cut before the commit (%lld bytes)",
	    (long long)journal_size(d, "z"));
	is_int(gpush_store_check_state(b, "z"), GPUSH_OK, "behind: z's journal whole");
	gpush_store_set_sync(a, 0);
	gpush_store_set_sync(b, 0);

	/* compaction of a journal both handles are always behind in */
	reads = a->jc->reads + b->jc->reads;
	for (int i = 0; i < 3 * GPUSH__COMPACT_AT; i++)
		if (acc(i % 2 ? a : b, "m", 1000 + i, &dup) != GPUSH_OK || dup != 0)
			bad++;
	is_int(bad, 0, "behind: a and b in turn, every number new");
	ok(journal_size(d, "m") <= GPUSH__COMPACT_AT * GPUSH__REC_SIZE,
	    "behind: the journal compacted all the same (%lld bytes)",
	    (long long)journal_size(d, "m"));
	ok(a->jc->reads + b->jc->reads - reads < GPUSH__COMPACT_AT / 8,
	    "behind: read on %lu times for %d requests",
	    a->jc->reads + b->jc->reads - reads, 3 * GPUSH__COMPACT_AT);
	ok(acc(a, "m", 1000 + 3 * GPUSH__COMPACT_AT - 2, &dup) == GPUSH_OK && dup == 1,
	    "behind: a sees b's newest");
	is_int(acc(b, "m", 1000, &dup), GPUSH_ERR_REPLAY, "behind: and b, the oldest gone");
	/* records older than what jtop covers (it starts at a reboot): the
	 * summary's own largest number counts too */
	struct gpush_store *c;
	uint64_t h = gpush__registry_hash("r");
	ok(acc(b, "r", 100, &dup) == GPUSH_OK && dup == 0, "behind: b accepts r 100");
	STORE(b->page->jtop[h % GPUSH__JTOPS], 0); /* as check_boot leaves it */
	ok(kept_handle(d, &c) == 0, "behind: a third handle");
	ok(acc(c, "r", 5, &dup) == GPUSH_OK && dup == 0, "behind: c reads r, accepts 5");
	ok(acc(b, "r", 6, &dup) == GPUSH_OK && dup == 0, "behind: b accepts 6");
	ok(acc(c, "r", 100, &dup) == GPUSH_OK && dup == 1,
	    "behind: c, behind b's 6 (jtop 6), for 100: duplicate (its summary's 100)");
	gpush_store_free(c);
	/* a writer really killed mid-record (SIGXFSZ while it holds the
	 * lock): journal_append's own jwriting makes a, behind, read on */
	pid_t pid;
	int status;
	ok(acc(a, "w", 5, &dup) == GPUSH_OK && dup == 0, "behind: a accepts w 5");
	fflush(stdout);
	if ((pid = fork()) == 0) {
		struct gpush_store *k;
		if (gpush_store_open(d, &k) != GPUSH_OK)
			_exit(2);
		gpush_store_set_cache(k, 1);
		gpush_store_set_sync(k, 1);
		if (acc(k, "w", 6, &dup) != GPUSH_OK)
			_exit(3);
		signal(SIGXFSZ, SIG_DFL);
		rl.rlim_cur = rl.rlim_max = 2 * GPUSH__REC_SIZE + 10;
		setrlimit(RLIMIT_FSIZE, &rl);
		(void)acc(k, "w", 7, &dup); /* its owed commit of 6, cut short */
		_exit(4);
	}
	ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) &&
	    WTERMSIG(status) == SIGXFSZ && journal_size(d, "w") ==
	    2 * GPUSH__REC_SIZE + 10, "behind: a writer killed mid-record "
	    "leaves a fragment (%lld bytes)", (long long)journal_size(d, "w"));
	ok(acc(a, "w", 8, &dup) == GPUSH_OK && dup == 0, "behind: a accepts w 8");
	ok(journal_size(d, "w") % GPUSH__REC_SIZE == 0 &&
	    gpush_store_check_state(a, "w") == GPUSH_OK,
	    "behind: the fragment cut first (%lld bytes)", (long long)journal_size(d, "w"));
	/* a short record write whose cut-back fails: the writer's own
	 * journal is read afresh, and the others read on */
	gpush_store_set_sync(a, 1);
	ok(acc(a, "v", 1, &dup) == GPUSH_OK && dup == 0, "behind: durable, a accepts v 1");
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	rl = old;
	rl.rlim_cur = GPUSH__REC_SIZE + 10;
	setrlimit(RLIMIT_FSIZE, &rl);
	trunc_fail = 1;
	enum gpush_err te = acc(a, "v", 2, &dup);
	setrlimit(RLIMIT_FSIZE, &old);
	ok(trunc_fail == 0, "behind: a's owed commit of v 1 cut short, its "
	    "cut-back failed (and the request: %s)", gpush_strerror(te));
	trunc_fail = 0;
	gpush_store_set_sync(a, 0);
	ok(acc(a, "v", 3, &dup) == GPUSH_OK && dup == 0 &&
	    journal_size(d, "v") % GPUSH__REC_SIZE == 0 &&
	    gpush_store_check_state(a, "v") == GPUSH_OK,
	    "behind: a's next record not behind the fragment (%lld bytes)",
	    (long long)journal_size(d, "v"));
	ok(acc(b, "v", 3, &dup) == GPUSH_OK && dup == 1, "behind: b sees 3 as a duplicate");
	snprintf(dir, sizeof(dir), "%s", d);
	is_int(count(GPUSH_LOG_FILE, "v", 3), 1, "behind: v 3 logged once");
	/* a record cut short while behind: cut back to the end before it,
	 * not to where this handle stopped reading (the others' records) */
	gpush_store_set_sync(a, 1);
	ok(acc(a, "u", 1, &dup) == GPUSH_OK && acc(b, "u", 2, &dup) == GPUSH_OK,
	    "behind: durable, a accepts u 1 (owes its commit); b, 2");
	getrlimit(RLIMIT_FSIZE, &old);
	rl = old;
	rl.rlim_cur = 2 * GPUSH__REC_SIZE + 10;
	setrlimit(RLIMIT_FSIZE, &rl);
	(void)acc(a, "t", 1, &dup); /* pays u 1's commit, behind b's 2 */
	setrlimit(RLIMIT_FSIZE, &old);
	ok(journal_size(d, "u") == 2 * GPUSH__REC_SIZE,
	    "behind: the short commit cut back to b's record (%lld bytes)",
	    (long long)journal_size(d, "u"));
	ok(kept_handle(d, &c) == 0 && acc(c, "u", 2, &dup) == GPUSH_OK && dup == 1,
	    "behind: a new handle finds u 2");
	gpush_store_free(c);
	gpush_store_set_sync(a, 0);
	/* the page made anew (the boot id another, as check_boot sees one
	 * process that cannot read it beside others that can): a summary
	 * read before does not combine with the jtop after */
	ok(acc(a, "e", 10, &dup) == GPUSH_OK && acc(b, "e", 20, &dup) == GPUSH_OK,
	    "behind: e 10 by a, 20 by b");
	memset(b->page->boot, 'x', sizeof(b->page->boot) - 1);
	ok(acc(a, "e", 20, &dup) == GPUSH_OK && dup == 1,
	    "behind: after the page's reset, a reads on for 20: duplicate");
	gpush_store_free(a);
	gpush_store_free(b);

	/* a short record write, the end unknown (size -1) */
	snprintf(path, sizeof(path), "%s/state/short", d);
	fd = open(path, O_RDWR | O_CREAT | O_APPEND, 0600);
	ok(fd >= 0 && gpush__seen_append(fd, 0, GPUSH__REC_COMMIT, 1, 0, 0) == 0 &&
	    gpush__seen_append(fd, 0, GPUSH__REC_COMMIT, 2, 0, 0) == 0,
	    "short: two records");
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	rl = old;
	rl.rlim_cur = 2 * GPUSH__REC_SIZE + 10; /* 10 bytes of the third fit */
	setrlimit(RLIMIT_FSIZE, &rl);
	errno = 0;
	ok(gpush__seen_append(fd, -1, GPUSH__REC_COMMIT, 3, 0, 0) == -1 &&
	    errno == EFBIG, "short: EFBIG, cut back (%s)", strerror(errno));
	setrlimit(RLIMIT_FSIZE, &old);
	struct stat st;
	ok(fstat(fd, &st) == 0 && st.st_size == 2 * GPUSH__REC_SIZE,
	    "short: to the whole records before it (%lld bytes)", (long long)st.st_size);
	close(fd);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", d);
	if (system(cmd) != 0)
		ok(0, "cleanup");
}

/* The state files' names (fileio.c): exact fits, and one byte short is
 * refused with "" rather than cut to the name of another file. */
static void
test_names(void)
{
	char b[48], want[48]; /* "ch-ab.tmp." and a pid of up to 20 digits */

	memset(b, 'x', sizeof(b));
	ok(gpush__path_join(b, 6, "ab", "cd") == 0 && strcmp(b, "ab/cd") == 0,
	    "path_join: an exact fit");
	memset(b, 'x', sizeof(b));
	errno = 0;
	ok(gpush__path_join(b, 5, "ab", "cd") == -1 && b[0] == '\0' &&
	    errno == ENAMETOOLONG, "path_join: one byte short is refused");
	ok(gpush__path_join(b, 0, "ab", "cd") == -1, "path_join: no room at all");
	snprintf(want, sizeof(want), "ch-ab.tmp.%ld", (long)getpid());
	memset(b, 'x', sizeof(b));
	ok(gpush__tmp_name(b, strlen(want) + 1, "ch-ab") == 0 &&
	    strcmp(b, want) == 0, "tmp_name: %s, an exact fit", want);
	memset(b, 'x', sizeof(b));
	errno = 0;
	ok(gpush__tmp_name(b, strlen(want), "ch-ab") == -1 && b[0] == '\0' &&
	    errno == ENAMETOOLONG, "tmp_name: one byte short is refused");
}

/* A journal's summary with many numbers pending at once: the first is
 * held in place, the others in an array that grows; a commit takes any
 * of them out, and a later pending record of a number moves its seq. */
static void
test_jsum(void)
{
	struct gpush__jsum j;
	enum gpush_seen_verdict v;
	uint64_t seq;
	int bad = 0;

	memset(&j, 0, sizeof(j));
	for (int64_t n = 100; n < 120; n++)
		if (gpush__jsum_add(&j, GPUSH__REC_PENDING, n, (uint64_t)n + 1000) < 0)
			bad++;
	ok(bad == 0 && j.npend == 20, "jsum: 20 numbers pending at once");
	ok(gpush__jsum_add(&j, GPUSH__REC_PENDING, 105, 7777) == 0 &&
	    j.npend == 20, "jsum: a number pending again stays one entry");
	ok(gpush__jsum_add(&j, GPUSH__REC_COMMIT, 100, 0) == 0 &&
	    gpush__jsum_add(&j, GPUSH__REC_COMMIT, 110, 0) == 0 &&
	    j.npend == 18, "jsum: commits of the first and of a middle one");
	for (int64_t n = 111; n < 120; n++) {
		v = (enum gpush_seen_verdict)-1;
		seq = 1;
		if (!gpush__jsum_judge(&j, n, 0, &v, &seq) ||
		    v != GPUSH__SEEN_PENDING || seq != (uint64_t)n + 1000)
			bad++;
	}
	ok(bad == 0, "jsum: the numbers above the last commit are judged pending, each at its seq");
	ok(gpush__jsum_judge(&j, 105, 0, &v, &seq) == 0,
	    "jsum: a number below the last commit goes to the whole journal");
	ok(gpush__jsum_judge(&j, 120, 0, &v, &seq) == 1 &&
	    v == GPUSH__SEEN_NEW && seq == 0, "jsum: a new number is NEW");
	ok(gpush__jsum_judge(&j, 115, 1115, &v, &seq) == 1 &&
	    v == GPUSH__SEEN_NEW, "jsum: pending at or below the floor counts as absent");
	gpush__jsum_clear(&j);
	ok(j.npend == 0 && j.more == NULL, "jsum: cleared");
	gpush__jsum_clear(&j);
}

int
main(void)
{
	struct gpush_store *s = (struct gpush_store *)0x1;

	test_names();
	test_jsum();

	snprintf(dir, sizeof(dir), "/tmp/gpush-store-XXXXXX");
	mkdtemp(dir);
	ok(gpush_store_open("", &s) == GPUSH_ERR_CONFIG && s == NULL, "empty dir: CONFIG");
	s = (struct gpush_store *)0x1;
	errno = 0;
	ok(gpush_store_open("/nonexistent/x", &s) == GPUSH_ERR_IO && s == NULL,
	    "missing dir: IO, *out cleared");
	is_int(errno, ENOENT, "IO comes with errno: ENOENT for a missing dir");
	errno = 0;
	ok(gpush_store_open("/dev/null", &s) == GPUSH_ERR_IO &&
	    errno == ENOTDIR, "IO comes with errno: ENOTDIR for a file (%s)",
	    strerror(errno));
	ok(gpush_store_open(dir, &s) == GPUSH_OK, "open %s", dir);
	test_once(s);
	test_repair(s);
	test_pending(s);
	test_short_write(s);
	test_rotate(s);
	test_window(s);
	test_processes();
	test_edit(s);
	test_rotate_nothing();
	test_log_mutex(s);
	gpush_store_free(s);
	char keep[64];
	snprintf(keep, sizeof(keep), "%s", dir);
	test_kept();
	test_behind();
	snprintf(dir, sizeof(dir), "%s", keep);
	gpush_store_free(NULL);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		ok(0, "cleanup");
	return tap_done();
}
