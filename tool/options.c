/*
 * options.c -- the tool's one option parser: getopt_long over a table,
 * for the global options and for every subcommand, so that every command
 * says the same thing about an unknown option, a missing value, a missing
 * operand or an extra one.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpush_tool.h"

#define OPTS_MAX 32

/*
 * Parses argv[0..argc) (argv[0] is the command word) against opts, a
 * table ended by an entry without a name, plus --help (-h); then expects
 * min..max operands; max < 0 takes any number of them, and options may
 * then stand among them (GNU permutation: "drive-file ID --id X").  A flag option sets *flag to 1, a value option sets
 * *val (the last one given wins), a list option appends to list[] and
 * counts in *nlist (the caller sizes list for argc entries).  Returns 0
 * with *first the index of the first operand; TOOL_DONE after printing
 * the command's help; or the exit code of a usage error (after its
 * message).
 */
int
tool_options(const struct tool *t, int argc, char **argv,
    const struct tool_opt *opts, int min, int max, int *first)
{
	struct option lo[OPTS_MAX + 2];
	char shorts[2 * OPTS_MAX + 4] = "+:";
	size_t k = 0, sl = 2;
	int permute = max < 0;
	int ch, n;

	for (; opts != NULL && opts[k].name != NULL && k < OPTS_MAX; k++) {
		int has_arg = opts[k].flag == NULL;
		lo[k] = (struct option){ opts[k].name, has_arg, NULL, 256 + (int)k };
		if (opts[k].short_name != 0) {
			lo[k].val = opts[k].short_name;
			shorts[sl++] = opts[k].short_name;
			if (has_arg)
				shorts[sl++] = ':';
		}
	}
	lo[k] = (struct option){ "help", 0, NULL, 'h' };
	lo[k + 1] = (struct option){ NULL, 0, NULL, 0 };
	shorts[sl++] = 'h';
	shorts[sl] = '\0';
	if (permute) {
		memmove(shorts, shorts + 1, sl);   /* drop the '+' */
		max = argc;
	}
	opterr = 0;
	optind = 0;
	while ((ch = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		const struct tool_opt *o = NULL;
		if (ch == 'h')
			return cmd_help(t->cmd) == 0 ? TOOL_DONE : EXIT_FAIL;
		for (size_t i = 0; i < k && o == NULL; i++)
			if (ch == 256 + (int)i || (opts[i].short_name != 0 &&
			    ch == opts[i].short_name))
				o = &opts[i];
		if (o == NULL)
			return bad_option(t, ch, argv);
		if (o->flag != NULL)
			*o->flag = 1;
		else if (o->list != NULL)
			o->list[(*o->nlist)++] = optarg;
		else
			*o->val = optarg;
	}
	n = argc - optind;
	if (n < min)
		return usage_error(t, "missing operand");
	if (n > max)
		return usage_error(t, "unexpected argument '%s'", argv[optind + max]);
	*first = optind;
	return 0;
}

/*
 * The global options, up to the subcommand: -d DIR / --dir DIR /
 * --dir=DIR / -dDIR, --database CONNINFO, --help, --version.  Returns the index of the
 * subcommand word, or -1 with *rc set when the run ends here (help,
 * version, or a usage error).
 */
int
tool_global_options(struct tool *t, int argc, char **argv, int *rc)
{
	static const struct option lo[] = {
		{ "dir", 1, NULL, 'd' }, { "help", 0, NULL, 'h' },
		{ "version", 0, NULL, 'V' }, { "database", 1, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	opterr = 0;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "+:d:hV", lo, NULL)) != -1) {
		switch (ch) {
		case 'h':
			*rc = main_help();
			return -1;
		case 'V':
			printf("gpush %s (libgpush %s)\n", GPUSH_VERSION,
			    GPUSH_VERSION);
			*rc = 0;
			return -1;
		case 'd':
			t->dir_opt = optarg;
			if (t->dir_opt[0] == '\0') {
				*rc = usage_error(t, "option '-d' needs a directory");
				return -1;
			}
			break;
		case 'D':
			t->db_opt = optarg;
			if (t->db_opt[0] == '\0') {
				*rc = usage_error(t, "option '--database' needs a "
				    "connection string");
				return -1;
			}
			break;
		default:
			*rc = bad_option(t, ch, argv);
			return -1;
		}
	}
	if (optind >= argc) {
		*rc = usage_error(t, "no command given");
		return -1;
	}
	return optind;
}
