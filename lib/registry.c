/*
 * registry.c -- the channel registry, channels.jsonl: one channel resource
 * per line.  The handler only reads it; the channel tool replaces it by
 * rename, so an open descriptor always sees one whole version.
 *
 * Two ways to find a channel:
 *  - cache (FastCGI): parse every line once into a hash table and reuse it
 *    until the file's identity (inode, size, mtime) changes;
 *  - scan (plain CGI, one request per process): map the file and search
 *    for the quoted id, parsing only the lines that contain it.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
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
};

struct gpush_registry *
gpush__registry_new(int cache)
{
	struct gpush_registry *r = calloc(1, sizeof(*r));

	if (r != NULL)
		r->cache = cache;
	return r;
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

/*
 * Finds channel id in dirfd's registry.  *out is borrowed from r until
 * the next call.  Returns CHANNEL when absent (also when the file does
 * not exist), IO when it cannot be read, NOMEM.
 */
enum gpush_err
gpush__registry_find(struct gpush_registry *r, int dirfd, const char *id,
    const struct gpush_channel **out, gpush_warn_fn warn, void *wctx)
{
	struct stat st;
	char *map = NULL;
	int fd, rc = 0;

	*out = NULL;
	fd = openat(dirfd, GPUSH_REGISTRY_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? GPUSH_ERR_CHANNEL : gpush__errno(errno);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return gpush__errno(errno);
	}
	if (r->cache && r->loaded && st.st_dev == r->dev && st.st_ino == r->ino &&
	    st.st_size == r->size && st.st_mtim.tv_sec == r->mtim.tv_sec &&
	    st.st_mtim.tv_nsec == r->mtim.tv_nsec) {
		close(fd);
		*out = table_get(r, id);
		return *out != NULL ? GPUSH_OK : GPUSH_ERR_CHANNEL;
	}
	registry_clear(r);
	if (st.st_size > 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			close(fd);
			return gpush__errno(errno);
		}
	}
	close(fd);
	if (r->cache) {
		rc = map != NULL ? load_all(r, map, (size_t)st.st_size, warn, wctx) : 0;
		if (rc == 0) {
			r->loaded = 1;
			r->dev = st.st_dev;
			r->ino = st.st_ino;
			r->size = st.st_size;
			r->mtim = st.st_mtim;
			*out = table_get(r, id);
		}
	} else if (map != NULL && literal_id(id)) {
		*out = r->scan = scan_for(map, (size_t)st.st_size, id, warn, wctx);
	} else if (map != NULL) {
		/* An id JSON may escape: parse every line. */
		rc = load_all(r, map, (size_t)st.st_size, warn, wctx);
		*out = rc == 0 ? table_get(r, id) : NULL;
	}
	if (map != NULL)
		munmap(map, (size_t)st.st_size);
	if (rc != 0) {
		registry_clear(r);
		return GPUSH_ERR_NOMEM;
	}
	return *out != NULL ? GPUSH_OK : GPUSH_ERR_CHANNEL;
}
