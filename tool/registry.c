/*
 * registry.c -- the tool's read-only view of channels.jsonl, through
 * gpush_registry_foreach: list, due and check must not rewrite the
 * registry, and check must not create state/ just to read it.
 */
#include <errno.h>

#include "gpush_tool.h"

int
registry_walk(const char *dir, reg_fn fn, void *ctx)
{
	int stopped;
	enum gpush_err e = gpush_registry_foreach(dir, fn, ctx, &stopped);

	if (e != GPUSH_OK) {
		if (errno == 0)
			errno = EIO;
		return -1;
	}
	return stopped;
}
