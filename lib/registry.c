/*
 * registry.c -- the channel registry, channels.jsonl: one channel resource
 * per line.  The handler only reads it; the channel tool replaces it by
 * rename, so an open descriptor always sees one whole version.
 *
 * Two ways to find a channel:
 *  - cache (FastCGI): parse every line once into a hash table and reuse it
 *    until the file's identity (inode, size, mtime) changes;
 *  - scan (plain CGI, one request per process): map the file and search
 *    for the quoted id, parsing only the lines that contain it;
 *  - index (plain CGI, a registry over INDEX_MIN bytes): a sorted table of
 *    id hashes and line offsets in state/registry.idx, built once per
 *    version of the registry and replaced by rename, so that a request
 *    reads a few pages instead of the whole file.
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
 * registry: a direct-mapped cache, so active channels are parsed once
 * and memory stays bounded whatever the registry's size. */
#define HOT_SLOTS 4096

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

static uint64_t
hash_id(const char *s)
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
			size_t j = hash_id(r->slot[i]->id) & (n - 1);
			while (ns[j] != NULL)
				j = (j + 1) & (n - 1);
			ns[j] = r->slot[i];
		}
		free(r->slot);
		r->slot = ns;
		r->nslot = n;
	}
	size_t j = hash_id(c->id) & (r->nslot - 1);
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
	for (size_t j = hash_id(id) & (r->nslot - 1); r->slot[j] != NULL;
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

/* Parses one line (without its newline); NULL for a blank or bad one. */
static struct gpush_channel *
parse_line(const char *p, size_t len, size_t lineno, gpush_warn_fn warn,
    void *wctx)
{
	struct gpush_channel *c = NULL;
	char *copy;
	size_t i;
	enum gpush_err e;

	for (i = 0; i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'); i++)
		;
	if (i == len)
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

/* Fills the table from the whole mapped file. */
static int
load_all(struct gpush_registry *r, const char *map, size_t size,
    gpush_warn_fn warn, void *wctx)
{
	size_t off = 0, lineno = 0;

	while (off < size) {
		const char *nl = memchr(map + off, '\n', size - off);
		size_t len = nl ? (size_t)(nl - (map + off)) : size - off;
		struct gpush_channel *c;
		lineno++;
		if ((c = parse_line(map + off, len, lineno, warn, wctx)) != NULL &&
		    table_put(r, c) != 0)
			return -1;
		off += len + 1;
	}
	return 0;
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
	size_t nlen = strlen(id) + 2, off = 0;
	const char *hit;

	snprintf(needle, sizeof(needle), "\"%s\"", id);
	while (off < size && (hit = memmem(map + off, size - off, needle, nlen))
	    != NULL) {
		const char *ls = hit, *le;
		while (ls > map && ls[-1] != '\n')
			ls--;
		le = memchr(hit, '\n', size - (size_t)(hit - map));
		if (le == NULL)
			le = map + size;
		struct gpush_channel *c = parse_line(ls, (size_t)(le - ls),
		    line_number(map, (size_t)(ls - map)), warn, wctx);
		if (c != NULL && strcmp(c->id, id) == 0)
			return c;
		gpush_channel_free(c);
		off = (size_t)(le - map) + 1;
	}
	return NULL;
}

#define INDEX_MIN   (256 * 1024)
#define INDEX_MAGIC "GPUSHIX1"
#define INDEX_FILE  "registry.idx"

struct idx_head {
	char     magic[8];
	uint64_t dev, ino, size;
	int64_t  mtime_s, mtime_ns;
	uint64_t count;
};

struct idx_ent {
	uint64_t hash, off, len;
};

static int
ent_cmp(const void *a, const void *b)
{
	const struct idx_ent *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

static void
head_of(const struct stat *st, struct idx_head *h)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, INDEX_MAGIC, 8);
	h->dev = (uint64_t)st->st_dev;
	h->ino = (uint64_t)st->st_ino;
	h->size = (uint64_t)st->st_size;
	h->mtime_s = (int64_t)st->st_mtim.tv_sec;
	h->mtime_ns = (int64_t)st->st_mtim.tv_nsec;
}

/*
 * Writes state/registry.idx for the mapped registry: every line that
 * parses as a channel, as (hash of id, offset, length), sorted.  Best
 * effort: a failure only means the next request scans again.
 */
static void
index_write(int statefd, const struct stat *st, const char *map,
    gpush_warn_fn warn, void *wctx)
{
	struct idx_ent *ents = NULL, *ne;
	size_t n = 0, cap = 0, off = 0, lineno = 0;
	struct idx_head h;
	char tmp[64];
	int fd, rc;

	while (off < (size_t)st->st_size) {
		const char *nl = memchr(map + off, '\n', (size_t)st->st_size - off);
		size_t len = nl ? (size_t)(nl - (map + off)) : (size_t)st->st_size - off;
		struct gpush_channel *c = parse_line(map + off, len, ++lineno, warn, wctx);
		if (c != NULL) {
			if (n == cap) {
				cap = cap ? cap * 2 : 1024;
				if ((ne = realloc(ents, cap * sizeof(*ents))) == NULL) {
					gpush_channel_free(c);
					free(ents);
					return;
				}
				ents = ne;
			}
			ents[n].hash = hash_id(c->id);
			ents[n].off = off;
			ents[n++].len = len;
			gpush_channel_free(c);
		}
		off += len + 1;
	}
	if (n > 0)
		qsort(ents, n, sizeof(*ents), ent_cmp);
	head_of(st, &h);
	h.count = n;
	snprintf(tmp, sizeof(tmp), INDEX_FILE ".tmp.%ld", (long)getpid());
	fd = openat(statefd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		rc = gpush__write_all(fd, &h, sizeof(h));
		if (rc == 0 && n > 0)
			rc = gpush__write_all(fd, ents, n * sizeof(*ents));
		/* No fsync: the index is a cache, rebuilt when it does not match. */
		if (close(fd) < 0 || rc < 0 ||
		    renameat(statefd, tmp, statefd, INDEX_FILE) < 0)
			(void)unlinkat(statefd, tmp, 0);
	}
	free(ents);
}

/*
 * Maps state/registry.idx when it describes the registry st is of.
 * Returns 1 with *map, *len (the caller unmaps) and *count, else 0.
 */
static int
index_map(int statefd, const struct stat *st, void **map, size_t *len,
    size_t *count)
{
	struct idx_head h, want;
	struct stat ist;
	int fd;

	*map = NULL;
	*len = *count = 0;
	fd = openat(statefd, INDEX_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	head_of(st, &want);
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    memcmp(&h, &want, offsetof(struct idx_head, count)) != 0 ||
	    fstat(fd, &ist) < 0 ||
	    h.count > (SIZE_MAX - sizeof(h)) / sizeof(struct idx_ent) ||
	    (uint64_t)ist.st_size != sizeof(h) + h.count * sizeof(struct idx_ent)) {
		close(fd);
		return 0;
	}
	*map = mmap(NULL, (size_t)ist.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (*map == MAP_FAILED) {
		*map = NULL;
		return 0;
	}
	*len = (size_t)ist.st_size;
	*count = (size_t)h.count;
	return 1;
}

/* Binary search of a mapped index, then a read and parse of the line
 * (or lines, on a hash collision).  Returns the channel (the caller's)
 * or NULL. */
static struct gpush_channel *
index_lookup(const void *map, size_t count, int regfd, off_t regsize,
    const char *id, gpush_warn_fn warn, void *wctx)
{
	const struct idx_ent *ents = (const struct idx_ent *)
	    ((const char *)map + sizeof(struct idx_head));
	uint64_t hv = hash_id(id);
	struct gpush_channel *found = NULL;
	size_t lo = 0, hi = count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ents[mid].hash < hv)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < count && ents[lo].hash == hv && found == NULL; lo++) {
		char *line;
		if (ents[lo].len > (1u << 24) || ents[lo].off + ents[lo].len >
		    (uint64_t)regsize || (line = malloc(ents[lo].len + 1)) == NULL)
			break;
		if (pread(regfd, line, ents[lo].len, (off_t)ents[lo].off) ==
		    (ssize_t)ents[lo].len) {
			struct gpush_channel *c = parse_line(line, ents[lo].len,
			    0, warn, wctx);
			if (c != NULL && strcmp(c->id, id) == 0)
				found = c;
			else
				gpush_channel_free(c);
		}
		free(line);
	}
	return found;
}

/* One look through a current index (plain CGI).  Returns 1 and sets
 * *found (the caller's; NULL when absent), or 0 when there is none. */
static int
index_find(int statefd, int regfd, const struct stat *st, const char *id,
    struct gpush_channel **found, gpush_warn_fn warn, void *wctx)
{
	void *map;
	size_t len, count;

	*found = NULL;
	if (!index_map(statefd, st, &map, &len, &count))
		return 0;
	*found = index_lookup(map, count, regfd, st->st_size, id, warn, wctx);
	munmap(map, len);
	return 1;
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
	if (!index_map(statefd, st, &r->imap, &r->imap_len, &r->icount)) {
		char *map = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_PRIVATE,
		    fd, 0);
		if (map == MAP_FAILED)
			return 0;
		index_write(statefd, st, map, warn, wctx);
		munmap(map, (size_t)st->st_size);
		if (!index_map(statefd, st, &r->imap, &r->imap_len, &r->icount))
			return 0;
	}
	r->regfd = fd;
	r->loaded = 1;
	r->dev = st->st_dev;
	r->ino = st->st_ino;
	r->size = st->st_size;
	r->mtim = st->st_mtim;
	return 1;
}

/* A channel of the kept index: from the hot cache, else read, parsed
 * and cached (evicting the slot's last one).  Borrowed from r; NULL when
 * absent. */
static const struct gpush_channel *
hot_lookup(struct gpush_registry *r, const char *id, gpush_warn_fn warn,
    void *wctx)
{
	struct gpush_channel *c;
	size_t slot = (size_t)(hash_id(id) % HOT_SLOTS);

	if (r->hot == NULL && (r->hot = calloc(HOT_SLOTS, sizeof(*r->hot))) == NULL)
		return NULL;
	if (r->hot[slot] != NULL && strcmp(r->hot[slot]->id, id) == 0)
		return r->hot[slot];
	r->misses++;
	if ((c = index_lookup(r->imap, r->icount, r->regfd, r->size, id, warn,
	    wctx)) == NULL)
		return NULL;
	gpush_channel_free(r->hot[slot]);
	r->hot[slot] = c;
	return c;
}

static int
same_file(const struct gpush_registry *r, const struct stat *st)
{
	return st->st_dev == r->dev && st->st_ino == r->ino &&
	    st->st_size == r->size && st->st_mtim.tv_sec == r->mtim.tv_sec &&
	    st->st_mtim.tv_nsec == r->mtim.tv_nsec;
}

/*
 * Finds channel id in dirfd's registry.  *out is borrowed from r until
 * the next call.  Returns CHANNEL when absent (also when the file does
 * not exist), IO when it cannot be read, NOMEM.
 */
enum gpush_err
gpush__registry_find(struct gpush_registry *r, int dirfd, int statefd,
    const char *id, const struct gpush_channel **out, gpush_warn_fn warn,
    void *wctx)
{
	struct stat st;
	char *map = NULL;
	int fd, rc = 0;

	*out = NULL;
	/* The cache is current while the file's identity is: one stat. */
	if (r->cache && r->loaded && fstatat(dirfd, GPUSH_REGISTRY_FILE, &st,
	    AT_SYMLINK_NOFOLLOW) == 0 && same_file(r, &st)) {
		if (r->imap != NULL)
			*out = hot_lookup(r, id, warn, wctx);
		else
			*out = table_get(r, id);
		return *out != NULL ? GPUSH_OK : GPUSH_ERR_CHANNEL;
	}
	fd = openat(dirfd, GPUSH_REGISTRY_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? GPUSH_ERR_CHANNEL : gpush__errno(errno);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return gpush__errno(errno);
	}
	registry_clear(r);
	if (r->cache && statefd >= 0 && st.st_size >= INDEX_MIN &&
	    index_keep(r, statefd, fd, &st, warn, wctx)) {
		r->loads++;
		*out = hot_lookup(r, id, warn, wctx);
		return *out != NULL ? GPUSH_OK : GPUSH_ERR_CHANNEL;
	}
	if (!r->cache && statefd >= 0 && st.st_size >= INDEX_MIN &&
	    index_find(statefd, fd, &st, id, &r->scan, warn, wctx)) {
		close(fd);
		*out = r->scan;
		return *out != NULL ? GPUSH_OK : GPUSH_ERR_CHANNEL;
	}
	if (st.st_size > 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			close(fd);
			return gpush__errno(errno);
		}
	}
	close(fd);
	if (r->cache) {
		r->loads++;
		rc = map != NULL ? load_all(r, map, (size_t)st.st_size, warn, wctx) : 0;
		if (rc == 0) {
			r->loaded = 1;
			r->dev = st.st_dev;
			r->ino = st.st_ino;
			r->size = st.st_size;
			r->mtim = st.st_mtim;
			*out = table_get(r, id);
		}
	} else if (map != NULL) {
		/* First request after a change of a large registry: build the
		 * index for the next ones (it warns of bad lines), then look. */
		if (statefd >= 0 && st.st_size >= INDEX_MIN) {
			index_write(statefd, &st, map, warn, wctx);
			warn = NULL;
		}
		if (literal_id(id)) {
			*out = r->scan = scan_for(map, (size_t)st.st_size, id,
			    warn, wctx);
		} else {
			/* An id JSON may escape: parse every line. */
			rc = load_all(r, map, (size_t)st.st_size, warn, wctx);
			*out = rc == 0 ? table_get(r, id) : NULL;
		}
	}
	if (map != NULL)
		munmap(map, (size_t)st.st_size);
	if (rc != 0) {
		registry_clear(r);
		return GPUSH_ERR_NOMEM;
	}
	return *out != NULL ? GPUSH_OK : GPUSH_ERR_CHANNEL;
}

enum gpush_err
gpush_registry_foreach(const char *dir, gpush_each_fn fn, void *ctx,
    int *stopped)
{
	char path[PATH_MAX], *buf;
	size_t len, off = 0, lineno = 0;
	int fd, saved;

	*stopped = 0;
	if (dir == NULL || fn == NULL)
		return GPUSH_ERR_ARG;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
	    GPUSH_REGISTRY_FILE) >= sizeof(path))
		return GPUSH_ERR_ARG;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return errno == ENOENT ? GPUSH_OK : gpush__errno(errno);
	if (gpush__read_file(fd, 1u << 30, &buf, &len) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return gpush__errno(saved);
	}
	close(fd);
	while (*stopped == 0 && off < len) {
		char *nl = memchr(buf + off, '\n', len - off);
		size_t l = nl ? (size_t)(nl - (buf + off)) : len - off;
		struct gpush_channel *c = NULL;
		lineno++;
		buf[off + l] = '\0';
		/* Blank lines are skipped, as the handler and the edit do. */
		if (strspn(buf + off, " \t\r") != l) {
			enum gpush_err e = gpush_channel_parse(buf + off, l, &c);
			*stopped = fn(ctx, lineno, buf + off, c, e);
			gpush_channel_free(c);
		}
		off += l + 1;
	}
	free(buf);
	return GPUSH_OK;
}
