/*
 * registry_index.c -- state/registry.idx, the index of a large registry:
 * a header naming the registry version it describes (device, inode,
 * size, mtime) and a sorted table of (hash of id, offset, length), one
 * entry per line that parses as a channel.  Built once per version of the
 * registry and replaced by rename, so that a lookup reads a few pages
 * instead of the whole file.  It is a cache: never fsync'ed, rebuilt
 * whenever it does not match the registry.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpush_private.h"

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

/* Gathers (hash of id, offset, length) of each line that parses. */
struct idx_build {
	struct idx_ent *ents;
	size_t n, cap;
	gpush_warn_fn warn;
	void *wctx;
};

static int
index_add(void *ctx, const char *line, size_t len, size_t off, size_t lineno)
{
	struct idx_build *b = ctx;
	struct idx_ent *ne;
	struct gpush_channel *c = gpush__registry_parse_line(line, len, lineno,
	    b->warn, b->wctx);

	if (c == NULL)
		return 0;
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 1024;
		if ((ne = realloc(b->ents, b->cap * sizeof(*ne))) == NULL) {
			gpush_channel_free(c);
			return -1;
		}
		b->ents = ne;
	}
	b->ents[b->n].hash = gpush__registry_hash(c->id);
	b->ents[b->n].off = off;
	b->ents[b->n++].len = len;
	gpush_channel_free(c);
	return 0;
}

/*
 * Writes state/registry.idx for the mapped registry: every line that
 * parses as a channel, as (hash of id, offset, length), sorted.  Best
 * effort: a failure only means the next request scans again.
 */
void
gpush__index_write(int statefd, const struct stat *st, const char *map,
    gpush_warn_fn warn, void *wctx)
{
	struct idx_build b = { NULL, 0, 0, warn, wctx };
	struct idx_head h;
	char tmp[64];
	int fd, rc;

	if (gpush__for_each_line(map, (size_t)st->st_size, index_add, &b) != 0) {
		free(b.ents);
		return;
	}
	if (b.n > 0)
		qsort(b.ents, b.n, sizeof(*b.ents), ent_cmp);
	head_of(st, &h);
	h.count = b.n;
	fd = gpush__tmp_name(tmp, sizeof(tmp), INDEX_FILE) < 0 ? -1 :
	    openat(statefd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		rc = gpush__write_all(fd, &h, sizeof(h));
		if (rc == 0 && b.n > 0)
			rc = gpush__write_all(fd, b.ents, b.n * sizeof(*b.ents));
		/* No fsync: the index is a cache, rebuilt when it does not match. */
		if (close(fd) < 0 || rc < 0 ||
		    renameat(statefd, tmp, statefd, INDEX_FILE) < 0)
			(void)unlinkat(statefd, tmp, 0);
	}
	free(b.ents);
}

/*
 * Maps state/registry.idx when it describes the registry st is of.
 * Returns 1 with *map, *len (the caller unmaps) and *count, else 0.
 */
int
gpush__index_map(int statefd, const struct stat *st, void **map, size_t *len,
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
struct gpush_channel *
gpush__index_lookup(const void *map, size_t count, int regfd, off_t regsize,
    const char *id, gpush_warn_fn warn, void *wctx)
{
	const struct idx_ent *ents = (const struct idx_ent *)
	    ((const char *)map + sizeof(struct idx_head));
	uint64_t hv = gpush__registry_hash(id);
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
			struct gpush_channel *c = gpush__registry_parse_line(line, ents[lo].len,
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
int
gpush__index_find(int statefd, int regfd, const struct stat *st, const char *id,
    struct gpush_channel **found, gpush_warn_fn warn, void *wctx)
{
	void *map;
	size_t len, count;

	*found = NULL;
	if (!gpush__index_map(statefd, st, &map, &len, &count))
		return 0;
	*found = gpush__index_lookup(map, count, regfd, st->st_size, id, warn, wctx);
	munmap(map, len);
	return 1;
}
