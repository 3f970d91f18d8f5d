/*
 * registry.c -- the channel registry, channels.jsonl: one channel resource
 * per line.  The handler only reads it; the channel tool replaces it by
 * rename, so an open descriptor always sees one whole version.
 *
 * Four ways to find a channel, chosen by gpush__registry_find():
 *  1. parsed table (FastCGI, a registry under GPUSH__INDEX_MIN bytes):
 *     parse every line once into a hash table and reuse it until the
 *     file's identity (device, inode, size, mtime) changes;
 *  2. index + hot cache (FastCGI, a large registry): keep the index
 *     (registry_index.c) mapped and the registry open, and parse only the
 *     lines asked for, keeping them in a bounded direct-mapped cache;
 *  3. index probe (plain CGI, a large registry with a current index): one
 *     binary search of the index and one read of the line;
 *  4. scan (plain CGI otherwise): map the file and search for the quoted
 *     id, parsing only the lines that contain it (every line, for an id
 *     JSON may escape); for a large registry the index is built first, so
 *     that the next requests probe it instead.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpush_private.h"

struct gpush_registry {
	int      cache;             /* 1: keep a parsed table */
	dev_t    dev;
	ino_t    ino;
	off_t    size;
	struct timespec mtim;
	int      loaded;
	struct gpush_channel **slot; /* open addressing, power of two */
	size_t   nslot;
	size_t   count;
	struct gpush_channel *scan; /* the channel last found by a scan */
	unsigned long loads;        /* full parses, for the tests */
	unsigned long misses;       /* hot cache misses, for the tests */
	void    *imap;              /* FastCGI, large registry: the index */
	size_t   imap_len, icount;
	int      regfd;             /* and the registry, open */
	struct gpush_channel **hot; /* channels parsed from it, by hash */
};

/* How many channels a FastCGI process keeps parsed from a large
 * registry, so active channels are parsed once and memory stays bounded
 * whatever the registry's size: HOT_WAYS to a set, least recently used
 * first out.  Direct-mapped, 1,000 channels sent to in turn (as Google
 * does, and the bench) put 222 of them in shared slots, each then parsed
 * again on every request; four ways leave 11. */
#define HOT_WAYS  4
#define HOT_SETS  1024
#define HOT_SLOTS (HOT_WAYS * HOT_SETS)

struct gpush_registry *
gpush__registry_new(int cache)
{
	struct gpush_registry *r = calloc(1, sizeof(*r));

	if (r != NULL) {
		r->cache = cache;
		r->regfd = -1;
	}
	return r;
}

int
gpush__registry_cached(const struct gpush_registry *r)
{
	return r->cache;
}

static void
registry_clear(struct gpush_registry *r)
{
	for (size_t i = 0; i < r->nslot; i++)
		gpush_channel_free(r->slot[i]);
	free(r->slot);
	r->slot = NULL;
	r->nslot = r->count = 0;
	r->loaded = 0;
	gpush_channel_free(r->scan);
	r->scan = NULL;
	if (r->imap != NULL)
		munmap(r->imap, r->imap_len);
	r->imap = NULL;
	if (r->hot != NULL)
		for (size_t i = 0; i < HOT_SLOTS; i++)
			gpush_channel_free(r->hot[i]);
	free(r->hot);
	r->hot = NULL;
	r->imap_len = r->icount = 0;
	if (r->regfd >= 0)
		close(r->regfd);
	r->regfd = -1;
}

void
gpush__registry_free(struct gpush_registry *r)
{
	if (r == NULL)
		return;
	registry_clear(r);
	free(r);
}

/* FNV-1a of an id: the table, the hot cache and the index share it. */
uint64_t
gpush__registry_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* Inserts c unless its id is there already (the first line wins, as in a
 * scan); takes c either way.  Returns 0, or -1 when out of memory. */
static int
table_put(struct gpush_registry *r, struct gpush_channel *c)
{
	if ((r->count + 1) * 2 > r->nslot) {
		size_t n = r->nslot ? r->nslot * 2 : 64;
		struct gpush_channel **ns = calloc(n, sizeof(*ns));
		if (ns == NULL) {
			gpush_channel_free(c);
			return -1;
		}
		for (size_t i = 0; i < r->nslot; i++) {
			if (r->slot[i] == NULL)
				continue;
			size_t j = gpush__registry_hash(r->slot[i]->id) & (n - 1);
			while (ns[j] != NULL)
				j = (j + 1) & (n - 1);
			ns[j] = r->slot[i];
		}
		free(r->slot);
		r->slot = ns;
		r->nslot = n;
	}
	size_t j = gpush__registry_hash(c->id) & (r->nslot - 1);
	while (r->slot[j] != NULL) {
		if (strcmp(r->slot[j]->id, c->id) == 0) {
			gpush_channel_free(c);
			return 0;
		}
		j = (j + 1) & (r->nslot - 1);
	}
	r->slot[j] = c;
	r->count++;
	return 0;
}

static const struct gpush_channel *
table_get(const struct gpush_registry *r, const char *id)
{
	if (r->nslot == 0)
		return NULL;
	for (size_t j = gpush__registry_hash(id) & (r->nslot - 1); r->slot[j] != NULL;
	    j = (j + 1) & (r->nslot - 1))
		if (strcmp(r->slot[j]->id, id) == 0)
			return r->slot[j];
	return NULL;
}

static void
warn_line(gpush_warn_fn warn, void *wctx, size_t lineno, enum gpush_err e)
{
	char msg[160];

	if (warn == NULL)
		return;
	snprintf(msg, sizeof(msg), "%s line %zu skipped: %s",
	    GPUSH_REGISTRY_FILE, lineno, gpush_strerror(e));
	warn(wctx, msg);
}

/* Parses one line (without its newline); NULL for a blank or bad one
 * (a bad one is warned of, naming lineno when it is not 0). */
struct gpush_channel *
gpush__registry_parse_line(const char *p, size_t len, size_t lineno,
    gpush_warn_fn warn, void *wctx)
{
	struct gpush_channel *c = NULL;
	char *copy;
	enum gpush_err e;

	if (gpush__blank_line(p, len))
		return NULL;
	if ((copy = gpush__strndup(p, len)) == NULL)
		return NULL;
	if ((e = gpush_channel_parse(copy, len, &c)) != GPUSH_OK)
		warn_line(warn, wctx, lineno, e);
	free(copy);
	return c;
}

/* Counts the newlines in p[0..off) to name a line in a warning. */
static size_t
line_number(const char *p, size_t off)
{
	size_t n = 1;

	for (const char *q = p; (q = memchr(q, '\n', off - (size_t)(q - p)))
	    != NULL; q++)
		n++;
	return n;
}

struct load_ctx {
	struct gpush_registry *r;
	gpush_warn_fn warn;
	void *wctx;
};

static int
load_line(void *ctx, const char *line, size_t len, size_t off, size_t lineno)
{
	struct load_ctx *l = ctx;
	struct gpush_channel *c;

	(void)off;
	c = gpush__registry_parse_line(line, len, lineno, l->warn, l->wctx);
	return c != NULL ? table_put(l->r, c) : 0;
}

/* Fills the table from the whole mapped file; 0, or -1 when out of
 * memory. */
static int
load_all(struct gpush_registry *r, const char *map, size_t size,
    gpush_warn_fn warn, void *wctx)
{
	struct load_ctx l = { r, warn, wctx };

	return gpush__for_each_line(map, size, load_line, &l) != 0 ? -1 : 0;
}

/* ASCII ids without '"', '\\' or '/' are written literally by every JSON
 * writer, so a byte search for them cannot miss. */
static int
literal_id(const char *id)
{
	for (; *id != '\0'; id++)
		if ((unsigned char)*id >= 0x7f || *id == '"' || *id == '\\' ||
		    *id == '/')
			return 0;
	return 1;
}

/* Finds id by searching the map for "id" and parsing only those lines.
 * Returns the channel (the caller's) or NULL. */
static struct gpush_channel *
scan_for(const char *map, size_t size, const char *id, gpush_warn_fn warn,
    void *wctx)
{
	char needle[GPUSH_ID_MAX + 3];
	size_t nlen = strnlen(id, GPUSH_ID_MAX + 1) + 2, off = 0;
	const char *hit;

	if (nlen > GPUSH_ID_MAX + 2)
		return NULL; /* no channel has such an id */
	needle[0] = '"';
	memcpy(needle + 1, id, nlen - 2);
	needle[nlen - 1] = '"';
	needle[nlen] = '\0';
	while (off < size && (hit = memmem(map + off, size - off, needle, nlen))
	    != NULL) {
		const char *ls = hit, *le;
		while (ls > map && ls[-1] != '\n')
			ls--;
		le = memchr(hit, '\n', size - (size_t)(hit - map));
		if (le == NULL)
			le = map + size;
		struct gpush_channel *c = gpush__registry_parse_line(ls, (size_t)(le - ls),
		    line_number(map, (size_t)(ls - map)), warn, wctx);
		if (c != NULL && strcmp(c->id, id) == 0)
			return c;
		gpush_channel_free(c);
		off = (size_t)(le - map) + 1;
	}
	return NULL;
}

/* Notes which version of the registry r now holds. */
static void
remember(struct gpush_registry *r, const struct stat *st)
{
	r->loaded = 1;
	r->dev = st->st_dev;
	r->ino = st->st_ino;
	r->size = st->st_size;
	r->mtim = st->st_mtim;
}

/*
 * FastCGI with a large registry: keep the index mapped and the registry
 * open, and parse one line per request, rather than hold every channel
 * parsed (which costs about 1.4 times the file in memory).  Builds the
 * index first when it is stale.  Returns 1 when set up (fd is then r's),
 * 0 to fall back to the parsed table.
 */
static int
index_keep(struct gpush_registry *r, int statefd, int fd, const struct stat *st,
    gpush_warn_fn warn, void *wctx)
{
	if (!gpush__index_map(statefd, st, &r->imap, &r->imap_len, &r->icount)) {
		char *map = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_PRIVATE,
		    fd, 0);
		if (map == MAP_FAILED)
			return 0;
		gpush__index_write(statefd, st, map, warn, wctx);
		munmap(map, (size_t)st->st_size);
		if (!gpush__index_map(statefd, st, &r->imap, &r->imap_len,
		    &r->icount))
			return 0;
	}
	r->regfd = fd;
	remember(r, st);
	return 1;
}

/* Moves set[k] to the front of its set, the others one down. */
static void
hot_front(struct gpush_channel **set, size_t k, struct gpush_channel *c)
{
	memmove(set + 1, set, k * sizeof(*set));
	set[0] = c;
}

/* A channel of the kept index: from the hot cache, else read, parsed
 * and cached (evicting its set's least recently used).  Borrowed from r;
 * NULL when absent. */
static const struct gpush_channel *
hot_lookup(struct gpush_registry *r, const char *id, gpush_warn_fn warn,
    void *wctx)
{
	struct gpush_channel *c, **set;

	if (r->hot == NULL && (r->hot = calloc(HOT_SLOTS, sizeof(*r->hot))) == NULL)
		return NULL;
	set = r->hot + (size_t)(gpush__registry_hash(id) % HOT_SETS) * HOT_WAYS;
	for (size_t k = 0; k < HOT_WAYS && set[k] != NULL; k++)
		if (strcmp(set[k]->id, id) == 0) {
			c = set[k];
			hot_front(set, k, c);
			return c;
		}
	r->misses++;
	if ((c = gpush__index_lookup(r->imap, r->icount, r->regfd, r->size, id, warn,
	    wctx)) == NULL)
		return NULL;
	gpush_channel_free(set[HOT_WAYS - 1]);
	c = gpush__channel_pack(c);
	hot_front(set, HOT_WAYS - 1, c);
	return c;
}

static int
same_file(const struct gpush_registry *r, const struct stat *st)
{
	return st->st_dev == r->dev && st->st_ino == r->ino &&
	    st->st_size == r->size && st->st_mtim.tv_sec == r->mtim.tv_sec &&
	    st->st_mtim.tv_nsec == r->mtim.tv_nsec;
}

static enum gpush_err
found(const struct gpush_channel *c)
{
	return c != NULL ? GPUSH_OK : GPUSH_ERR_CHANNEL;
}

/* Maps the whole registry fd refers to; *map is NULL for an empty file.
 * Closes fd either way.  Returns 0, or -1/errno. */
static int
map_registry(int fd, const struct stat *st, char **map)
{
	*map = NULL;
	if (st->st_size > 0 && (*map = mmap(NULL, (size_t)st->st_size,
	    PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
		int saved = errno;
		*map = NULL;
		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	return 0;
}

/* Strategy 1: parses the whole registry into r's table, then looks. */
static enum gpush_err
find_parsed(struct gpush_registry *r, int fd, const struct stat *st,
    const char *id, const struct gpush_channel **out, gpush_warn_fn warn,
    void *wctx)
{
	char *map;
	int rc = 0;

	if (map_registry(fd, st, &map) < 0)
		return gpush__errno(errno);
	r->loads++;
	if (map != NULL) {
		rc = load_all(r, map, (size_t)st->st_size, warn, wctx);
		munmap(map, (size_t)st->st_size);
	}
	if (rc != 0) {
		registry_clear(r);
		return GPUSH_ERR_NOMEM;
	}
	remember(r, st);
	return found(*out = table_get(r, id));
}

/* Strategy 4: searches the mapped registry for id (building the index
 * first for a large one, which warns of bad lines once). */
static enum gpush_err
find_scan(struct gpush_registry *r, int fd, int statefd, const struct stat *st,
    const char *id, const struct gpush_channel **out, gpush_warn_fn warn,
    void *wctx)
{
	char *map;
	int rc = 0;

	if (map_registry(fd, st, &map) < 0)
		return gpush__errno(errno);
	if (map == NULL)
		return GPUSH_ERR_CHANNEL;
	if (statefd >= 0 && st->st_size >= GPUSH__INDEX_MIN) {
		gpush__index_write(statefd, st, map, warn, wctx);
		warn = NULL;
	}
	if (literal_id(id)) {
		*out = r->scan = scan_for(map, (size_t)st->st_size, id, warn, wctx);
	} else {
		/* An id JSON may escape: parse every line. */
		rc = load_all(r, map, (size_t)st->st_size, warn, wctx);
		*out = rc == 0 ? table_get(r, id) : NULL;
	}
	munmap(map, (size_t)st->st_size);
	if (rc != 0) {
		registry_clear(r);
		return GPUSH_ERR_NOMEM;
	}
	return found(*out);
}

/*
 * Finds channel id in dirfd's registry by one of the four strategies
 * named at the top of this file; unchanged (a watch saw nothing change
 * since the last call) spares the stat of the steady state.  *out is borrowed from r until the next
 * call.  Returns CHANNEL when absent (also when the file does not exist),
 * IO when it cannot be read, NOMEM.
 */
enum gpush_err
gpush__registry_find(struct gpush_registry *r, int dirfd, int statefd,
    const char *id, const struct gpush_channel **out, gpush_warn_fn warn,
    void *wctx, int unchanged)
{
	struct gpush_channel *c;
	struct stat st;
	int fd, large;

	*out = NULL;
	/* 1 and 2, steady state: current while the file's identity is, or
	 * while the caller's watch (watch.c) saw no change since it was. */
	if (r->cache && r->loaded && (unchanged || (fstatat(dirfd,
	    GPUSH_REGISTRY_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    same_file(r, &st))))
		return found(*out = r->imap != NULL ?
		    hot_lookup(r, id, warn, wctx) : table_get(r, id));
	fd = openat(dirfd, GPUSH_REGISTRY_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? GPUSH_ERR_CHANNEL : gpush__errno(errno);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return gpush__errno(errno);
	}
	registry_clear(r);
	large = statefd >= 0 && st.st_size >= GPUSH__INDEX_MIN;
	if (r->cache && large && index_keep(r, statefd, fd, &st, warn, wctx)) {
		r->loads++;
		return found(*out = hot_lookup(r, id, warn, wctx));     /* 2 */
	}
	if (r->cache)
		return find_parsed(r, fd, &st, id, out, warn, wctx);    /* 1 */
	if (large && gpush__index_find(statefd, fd, &st, id, &c, warn, wctx)) {
		close(fd);
		return found(*out = r->scan = c);                       /* 3 */
	}
	return find_scan(r, fd, statefd, &st, id, out, warn, wctx);   /* 4 */
}

struct each_ctx {
	char         *buf;
	gpush_each_fn fn;
	void         *ctx;
	int           stopped;
};

static int
each_line(void *ctx, const char *line, size_t len, size_t off, size_t lineno)
{
	struct each_ctx *w = ctx;
	struct gpush_channel *c = NULL;
	enum gpush_err e;

	(void)line;
	w->buf[off + len] = '\0'; /* our own copy: a C string for fn */
	e = gpush_channel_parse(w->buf + off, len, &c);
	w->stopped = w->fn(w->ctx, lineno, w->buf + off, c, e);
	gpush_channel_free(c);
	return w->stopped;
}

/* See gpush.h: read-only, no lock, blank lines skipped as everywhere. */
enum gpush_err
gpush_registry_foreach(const char *dir, gpush_each_fn fn, void *ctx,
    int *stopped)
{
	struct each_ctx w = { NULL, fn, ctx, 0 };
	char path[PATH_MAX];
	size_t len;
	int fd, saved;

	*stopped = 0;
	if (dir == NULL || fn == NULL)
		return GPUSH_ERR_ARG;
	if (gpush__path_join(path, sizeof(path), dir, GPUSH_REGISTRY_FILE) < 0)
		return GPUSH_ERR_IO; /* ENAMETOOLONG, as open(2) would say */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return errno == ENOENT ? GPUSH_OK : gpush__errno(errno);
	if (gpush__read_file(fd, 1u << 30, &w.buf, &len) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return gpush__errno(saved);
	}
	close(fd);
	(void)gpush__for_each_line(w.buf, len, each_line, &w);
	*stopped = w.stopped;
	free(w.buf);
	return GPUSH_OK;
}
