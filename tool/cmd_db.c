/*
 * cmd_db.c -- gpush db init|upgrade|roles: the PostgreSQL store's schema
 * (lib/schema.sql) and roles (lib/roles.sql), issue 14.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gpush_tool.h"

/* gpush --database CONNINFO db init|upgrade|roles.  Returns the exit code. */
int
cmd_db(struct tool *t, int argc, char **argv)
{
	char why[GPUSH_WHY_MAX];
	const char *db, *what;
	enum gpush_err e;
	int rc, first, from, to, create;

	if ((rc = tool_options(t, argc, argv, NULL, 1, 1, &first)) != 0)
		return rc < 0 ? 0 : rc;
	what = argv[first];
	if (strcmp(what, "roles") == 0) {
		fputs(gpush_db_roles_sql(), stdout);
		return 0;
	}
	if (strcmp(what, "init") == 0)
		create = 1;
	else if (strcmp(what, "upgrade") == 0)
		create = 0;
	else
		return usage_error(t, "unknown db command '%s' (init, upgrade, roles)",
		    what);
	if ((db = tool_database(t)) == NULL)
		return usage_error(t, "no database: use --database CONNINFO or set "
		    "GPUSH_DATABASE");
	if ((e = gpush_db_migrate(db, create, &from, &to, why, sizeof(why))) !=
	    GPUSH_OK)
		return fail("db %s: %s", what, why[0] != '\0' ? why :
		    gpush_strerror(e));
	if (from == to)
		printf("schema gpush is at version %d: nothing to do\n", to);
	else if (from == 0)
		printf("schema gpush created at version %d\n", to);
	else
		printf("schema gpush upgraded from version %d to %d\n", from, to);
	return 0;
}
