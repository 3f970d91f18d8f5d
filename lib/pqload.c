/*
 * pqload.c -- libpq, loaded when a database store is first used (issue
 * 12), never linked.
 *
 * Linked with -lpq, every start of the handler loaded and relocated libpq
 * and what it needs (libssl, libcrypto, GSSAPI/Kerberos, LDAP, SASL,
 * GnuTLS...: ~22 libraries, ~11 million instructions, ~5 MiB of mappings)
 * although nearly every site uses the file store.  Now the database code
 * (pgstore.c, pgschema.c, dbfollow.c, and the tool's own queries) calls
 * libpq through gpush__pq, which gpush__pq_load() fills the first time a
 * database is opened; the file store's path never gets here.
 *
 * RTLD_LOCAL: libpq's symbols stay out of the global scope, so they cannot
 * interpose on, or be interposed by, anything of the program's.  A program
 * that links -lpq itself (and uses gpush_store_pg()) gets the copy it has:
 * dlopen() of a soname already loaded returns that object.
 *
 * GPUSH_LIBPQ (a path, or a soname searched the usual way) is for libpq
 * somewhere the loader does not look; it is read with secure_getenv(), so
 * a set-user-ID program ignores it.  This is the one environment variable
 * the library reads (gpush.h): it is read when a database is opened (it
 * counts only until libpq is loaded), not per request.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpush_private.h"

#ifndef ELIBACC
#define ELIBACC ENOENT
#endif

struct gpush__libpq gpush__pq;

static pthread_mutex_t pq_lock = PTHREAD_MUTEX_INITIALIZER;
static int pq_loaded;       /* under pq_lock: gpush__pq is filled */

/* POSIX (dlsym(3)) has a function's address come back as a void *, of
 * the same size and representation as a function pointer: copied as
 * bytes, which C's aliasing rules allow, unlike a cast. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)),
    "dlsym() needs function pointers the size of void *");

/*
 * Fills gpush__pq from handle h; NULL, or the name of the first function
 * h lacks (gpush__pq then partly filled: the caller clears it).
 */
static const char *
pq_resolve(void *h)
{
	void *sym;

#define GPUSH__PQ_RESOLVE(f) \
	if ((sym = dlsym(h, #f)) == NULL) \
		return #f; \
	memcpy(&gpush__pq.f, &sym, sizeof(sym));
	GPUSH__PQ_FUNCS(GPUSH__PQ_RESOLVE)
#undef GPUSH__PQ_RESOLVE
	return NULL;
}

enum gpush_err
gpush__pq_load(char *why, size_t whysz)
{
	const char *env = secure_getenv("GPUSH_LIBPQ");
	const char *name = env != NULL && env[0] != '\0' ? env :
	    GPUSH__LIBPQ_SONAME;
	const char *missing, *err;
	enum gpush_err e = GPUSH_OK;
	void *h;

	if (whysz > 0)
		why[0] = '\0';
	if (pthread_mutex_lock(&pq_lock) != 0) {
		snprintf(why, whysz, "libpq: cannot take the loader's lock");
		return GPUSH_ERR_INTERNAL;
	}
	if (pq_loaded)
		goto out;
	if ((h = dlopen(name, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		err = dlerror();
		if (name == env)
			snprintf(why, whysz, "a database store needs libpq, but"
			    " GPUSH_LIBPQ=%s could not be loaded (%s): set GPUSH_LIBPQ"
			    " to libpq's path, or unset it to use the system's %s",
			    env, err != NULL ? err : "?", GPUSH__LIBPQ_SONAME);
		else
			snprintf(why, whysz, "a database store needs libpq, but %s"
			    " could not be loaded (%s): install Debian's libpq5"
			    " (apt-get install libpq5), or set GPUSH_LIBPQ to its path",
			    name, err != NULL ? err : "?");
		errno = ELIBACC;
		e = GPUSH_ERR_IO;
		goto out;
	}
	if ((missing = pq_resolve(h)) != NULL) {
		snprintf(why, whysz, "a database store needs libpq, but %s has no"
		    " %s (not libpq, or too old): install Debian's libpq5, or set"
		    " GPUSH_LIBPQ to its path", name, missing);
		memset(&gpush__pq, 0, sizeof(gpush__pq));
		(void)dlclose(h);
		errno = ELIBACC;
		e = GPUSH_ERR_IO;
		goto out;
	}
	pq_loaded = 1;   /* h stays open for the life of the process */
out:
	(void)pthread_mutex_unlock(&pq_lock);
	return e;
}
