/*
 * msg.c -- how the tool speaks: every failure is one line on stderr that
 * starts with "gpush: ", usage errors add the command's usage line.  No
 * message ever includes a token: callers pass ids and paths only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpush_tool.h"

/* "gpush: [prefix: ]message\n" on stderr. */
static void
vmsg(const char *prefix, const char *fmt, va_list ap)
{
	fputs("gpush: ", stderr);
	if (prefix != NULL)
		fprintf(stderr, "%s: ", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(NULL, fmt, ap);
	va_end(ap);
}

int
fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(NULL, fmt, ap);
	va_end(ap);
	return EXIT_FAIL;
}

int
usage_error(const struct tool *t, const char *fmt, ...)
{
	va_list ap;
	const char *name = t->cmd != NULL ? t->cmd->name : NULL;

	va_start(ap, fmt);
	vmsg(name, fmt, ap);
	va_end(ap);
	if (t->cmd != NULL)
		fprintf(stderr, "usage: gpush [-d DIR] %s\n"
		    "Try 'gpush %s --help'.\n", t->cmd->synopsis, t->cmd->name);
	else
		fputs("usage: gpush [-d DIR] COMMAND [ARGS]\n"
		    "Try 'gpush --help'.\n", stderr);
	return EXIT_USAGE;
}

/* getopt_long (with opterr = 0 and a leading ':' in its optstring) says
 * ':' for a missing value and '?' for an unknown option; optind has moved
 * past the offending word by then. */
int
bad_option(const struct tool *t, int ch, char **argv)
{
	extern int optind, optopt;
	const char *word = optind > 0 ? argv[optind - 1] : "?";

	if (ch == ':')
		return usage_error(t, "option '%s' needs a value", word);
	if (optopt != 0 && optopt != '?')
		return usage_error(t, "unknown option '-%c'", optopt);
	return usage_error(t, "unknown option '%s'", word);
}

_Noreturn void
die_nomem(void)
{
	static const char m[] = "gpush: out of memory; nothing was changed\n";

	/* write(2) and _exit(2): nothing here may allocate, and no atexit
	 * handler or stdio flush may run while a registry edit is open. */
	(void)!write(STDERR_FILENO, m, sizeof(m) - 1);
	_exit(EXIT_FAIL);
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		die_nomem();
	return p;
}

/* Standard output at the end of a run that kept going when it failed (a
 * reader gone: SIGPIPE ignored): out_errno is the first failed write's
 * errno, or 0; the rest is flushed now.  Says so, with why nothing is
 * lost, and returns 1; 0 when all of it went out. */
int
stdout_failed(int out_errno, const char *why_nothing_lost)
{
	errno = 0;
	if (out_errno == 0 && fflush(stdout) != EOF && !ferror(stdout))
		return 0;
	msg("writing to standard output failed: %s (%s)", strerror(out_errno != 0 ?
	    out_errno : errno != 0 ? errno : EIO), why_nothing_lost);
	return 1;
}
