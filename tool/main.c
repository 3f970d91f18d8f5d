/*
 * main.c -- gpush, the channel tool: global options (-d DIR, --help,
 * --version), the table of subcommands and their help, and the one rule
 * for finding the data directory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpush_tool.h"

static const struct command commands[] = {
	{ "new", cmd_new,
	  "new --address URL [--id ID] [--token TOKEN]\n"
	  "       [--ttl SECONDS | --expiration MS] [--param KEY=VALUE]...",
	  "create a channel; print its watch request body",
	  "Registers a new web_hook channel in channels.jsonl, then prints the\n"
	  "watch request body on stdout, ready for 'curl --data @-'.\n\n"
	  "  --address URL      the receiving URL; must be https://\n"
	  "  --id ID            channel id (default: a random UUID v4); at most\n"
	  "                     64 characters of A-Z a-z 0-9 - _ + / =\n"
	  "  --token TOKEN      channel token, at most 256 characters (default:\n"
	  "                     32 random bytes, base64url without padding)\n"
	  "  --ttl SECONDS      requested time to live, sent as params\n"
	  "                     {\"ttl\": \"SECONDS\"} (90s, 30m, 2h, 1d accepted)\n"
	  "  --expiration MS    requested expiration, ms since the epoch\n"
	  "  --param KEY=VALUE  an entry of params (repeatable)\n" },
	{ "update", cmd_update, "update [FILE|-]",
	  "merge a watch response into its channel",
	  "Reads a watch response (a channel resource) from FILE or stdin and\n"
	  "merges it into the registry entry with the same id, as Channel.update()\n"
	  "does: every channel key present and not null overwrites.  An unknown id\n"
	  "is an error and changes nothing.\n" },
	{ "list", cmd_list, "list [--json]",
	  "list channels with expiry and delivery counts",
	  "One line per channel: id, resource id, expiration (absolute and\n"
	  "relative, or \"expired\"), the last message number and the number of\n"
	  "notifications accepted, as the handler's state knows them.\n\n"
	  "  --json   one JSON object per line instead (no token)\n" },
	{ "show", cmd_show, "show ID",
	  "print one channel (token masked)",
	  "Prints the registry entry of channel ID as JSON, with the token shown\n"
	  "as \"(set)\", and what the handler's state knows about it.\n" },
	{ "remove", cmd_remove, "remove ID",
	  "remove a channel from the registry",
	  "Removes channel ID from the registry; the handler refuses its\n"
	  "notifications from then on (404).  Stop it at Google first: see\n"
	  "stop-body.\n" },
	{ "stop-body", cmd_stop_body, "stop-body ID",
	  "print the channels.stop request body",
	  "Prints {\"id\": ..., \"resourceId\": ...} for Google's channels.stop.\n"
	  "An error while the channel has no resourceId yet (run update first).\n" },
	{ "due", cmd_due, "due [--within DURATION]",
	  "list channels that expire soon (for renewal)",
	  "Lists the channels whose expiration is within DURATION from now\n"
	  "(default 1h; like 90s, 30m, 2h, 1d, 1h30m), expired ones included.\n"
	  "Prints nothing and exits 0 when there are none.\n\n"
	  "  --within DURATION  the window (default 1h)\n" },
	{ "expire", cmd_expire, "expire",
	  "remove channels whose expiration has passed",
	  "Removes every channel whose expiration has passed and prints one\n"
	  "line per channel removed.\n" },
	{ "rotate", cmd_rotate, "rotate [--keep N]",
	  "rotate the notification log",
	  "Renames notifications.ndjson to notifications.ndjson.1, shifting\n"
	  "older ones up and dropping those past N, under the handler's log\n"
	  "lock: no line is lost or torn.  A rotated log that a cursor registered\n"
	  "in DIR/cursors/ has not finished is kept past N (said on stderr).\n\n"
	  "  --keep N   rotated logs to keep, 1..1000 (default 7)\n" },
	{ "check", cmd_check, "check",
	  "validate the data directory",
	  "Prints one line per problem found in the data directory and exits 1\n"
	  "if there is any: registry lines that do not parse, duplicate ids,\n"
	  "channels without a token, a registry readable by group or others, a\n"
	  "log the handler cannot append to, state/ not mode 0700, inconsistent\n"
	  "dedup state.\n" },
	{ "tail", cmd_tail,
	  "tail [-f] [--cursor FILE [--exec CMD [--batch N] [--batch-wait DUR]]]",
	  "print new log lines, remembering where it stopped",
	  "Prints the complete lines of notifications.ndjson after the position\n"
	  "saved in the cursor file, then saves the new position.  Follows the\n"
	  "log across rotations.  Without --cursor it starts at the beginning of\n"
	  "the current log and saves nothing.\n\n"
	  "  -f, --follow     keep printing new lines (poll every 100 ms) until\n"
	  "                   SIGINT or SIGTERM; the cursor is saved on the way out\n"
	  "  --cursor FILE    where the position is kept (created on first use)\n"
	  "  --exec CMD       consumer: run CMD (/bin/sh -c) with each batch of\n"
	  "                   lines on its stdin; the cursor is saved only when\n"
	  "                   CMD read it all and exited 0, else the same batch\n"
	  "                   again after 1 s, 2 s, ... 60 s: every line reaches\n"
	  "                   CMD at least once (deduplicate on channel_id +\n"
	  "                   message_number); SIGINT/SIGTERM between batches\n"
	  "  --batch N        lines in a batch at most (default 1000)\n"
	  "  --batch-wait DUR let a batch fill this long after its first line\n"
	  "                   (0, 500ms, 2s, ...; default 0)\n" },
	{ "db", cmd_db, "--database CONNINFO db init|upgrade|roles",
	  "make or upgrade the PostgreSQL schema",
	  "The PostgreSQL store (more than one host; see gpush(1) and INSTALL):\n"
	  "  init     create the schema gpush (tables channels, notifications,\n"
	  "           registry_version, schema_version) when it is not there,\n"
	  "           and upgrade it; grants to the roles gpush_handler and\n"
	  "           gpush_tool when they exist\n"
	  "  upgrade  upgrade an existing schema to this gpush's version\n"
	  "  roles    print the SQL that makes the two roles and their grants\n"
	  "           (run it as an administrator: gpush db roles | psql)\n"
	  "The database is --database CONNINFO or $GPUSH_DATABASE (a libpq\n"
	  "connection string or URI; passwords from ~/.pgpass or PGPASSWORD).\n" },
	/* ---- moving between a data directory and a database (issue 14) ---- */
	{ "import", cmd_import, "import",
	  "copy the data directory's channels and log into the database",
	  "Copies the registry and the log (rotated logs oldest first, then\n"
	  "notifications.ndjson) of the data directory (-d) into the database\n"
	  "(--database or GPUSH_DATABASE): every channel the database does not\n"
	  "have, and every notification as a row with the very same log line,\n"
	  "through the store's own exactly-once insert.  Running it again adds\n"
	  "nothing.  Prints what it added and what was there already.\n" },
	{ "export", cmd_export, "export",
	  "copy the database's channels and notifications into the data directory",
	  "The reverse of import: the database's channels that the data\n"
	  "directory's registry does not have, then its notifications (in the\n"
	  "order tail reads them) appended to notifications.ndjson, each line as\n"
	  "the database holds it and recorded in the directory's dedup state.\n"
	  "Running it again adds nothing.\n" },
	/* ---- talking to Google ---- */
	{ "auth", cmd_auth,
	  "auth [--api NAME | --scope SCOPE] [--credentials FILE | --token-command CMD]\n"
	  "       [--subject EMAIL] [--cacert FILE] [--timeout DURATION] [--retries N]",
	  "check Google credentials: get an access token",
	  "Gets an OAuth access token the way watch and stop do, and prints\n"
	  "\"ok:\", whose credentials, and how long the token is valid; never the\n"
	  "token.  On failure the message explains Google's error (delegation\n"
	  "missing, a wrong clock, a wrong subject, ...).  With a data directory\n"
	  "the token is cached in its state/ (mode 0600) until a minute before\n"
	  "it expires.\n\n"
	  "  --api NAME           the scope the watch of NAME needs: directory,\n"
	  "                       reports, drive or calendar\n"
	  GOOGLE_HELP },
	/* ---- opening and stopping channels at Google (issue 10) ---- */
	{ "watch", cmd_watch,
	  "watch URL|SHORTNAME... --address HTTPS_URL [--id ID] [--token TOKEN]\n"
	  "       [--ttl DURATION | --expiration MS] [--param KEY=VALUE]...\n"
	  "       [--from FILE] [--no-batch] [--credentials FILE | --token-command CMD]\n"
	  "       [--subject EMAIL] [--scope SCOPE] [--cacert FILE]",
	  "open channels at Google (watch), recorded in the registry",
	  "Opens one web_hook channel per watch URL: writes it to the registry\n"
	  "first (the sync may come before the answer), calls the API's watch\n"
	  "method with Channel.body(), and merges Google's answer (resourceId,\n"
	  "expiration).  The watch URL is kept with the channel (\"gpushWatch\")\n"
	  "for stop.  A channel whose call fails is removed again, and the\n"
	  "message gives Google's reason.  Several channels of one API go as one\n"
	  "batch request (at most 100 a batch); a refused batch is sent again as\n"
	  "single calls.  One line per channel made on stdout, progress on\n"
	  "stderr.  Exit 0 when all were made, 1 when any failed.\n\n"
	  "URL is the watch method's URL as Google documents it, e.g.\n"
	  "  https://admin.googleapis.com/admin/directory/v1/users/watch?domain=D&event=add\n"
	  "  https://www.googleapis.com/drive/v3/changes/watch?pageToken=T\n"
	  "  https://www.googleapis.com/drive/v3/files/FILEID/watch\n"
	  "  https://www.googleapis.com/calendar/v3/calendars/primary/events/watch\n"
	  "  https://admin.googleapis.com/admin/reports/v1/activity/users/all/applications/login/watch\n"
	  "or a short name:\n"
	  "  directory-users (--domain D | --customer C) [--event E]\n"
	  "  directory-aliases USERKEY [--event E]\n"
	  "  reports-activity APPLICATION [--user USERKEY (default all)]\n"
	  "  drive-changes --page-token T      drive-file FILEID\n"
	  "  calendar-events [CALENDAR]        calendar-acl [CALENDAR]\n"
	  "  calendar-list                     calendar-settings\n\n"
	  "  --address URL      the receiving URL; must be https://\n"
	  "  --id ID            channel id (one URL only; default a random UUID v4)\n"
	  "  --token TOKEN      channel token (default 32 random bytes, base64url)\n"
	  "  --ttl DURATION     requested lifetime (3600, 30m, 2h, 1d): params.ttl\n"
	  "                     for Directory and Calendar, expiration for Drive\n"
	  "                     and Reports; capped at the API's published maximum\n"
	  "  --expiration MS    requested expiration, ms since the epoch\n"
	  "  --param KEY=VALUE  an entry of params (repeatable)\n"
	  "  --from FILE        more watch URLs, one a line (# comments; - stdin)\n"
	  "  --no-batch         one HTTP call per channel\n"
	  "  --domain D, --customer C, --event E, --page-token T, --user U\n"
	  "                     the short names' parameters\n"
	  GOOGLE_HELP },
	{ "stop", cmd_stop,
	  "stop ID... [--no-batch] [--credentials FILE | --token-command CMD]\n"
	  "       [--subject EMAIL] [--scope SCOPE] [--cacert FILE]",
	  "stop channels at Google and remove them",
	  "Calls channels.stop ({\"id\", \"resourceId\"}) of the API each channel's\n"
	  "stored watch URL names, then removes the channel and its dedup state.\n"
	  "Google no longer knowing a channel (404) removes it too, with a note;\n"
	  "any other failure changes nothing (exit 1).  Several channels of one\n"
	  "API go as one batch.  A channel made by watch that never got Google's\n"
	  "answer (no resourceId; see check) is removed without a call.  A\n"
	  "channel made with 'gpush new' has no watch URL: use stop-body and\n"
	  "remove.\n\n"
	  "  --no-batch         one HTTP call per channel\n"
	  GOOGLE_HELP },
	/* ---- keeping channels alive (issue 11) ---- */
	{ "renew", cmd_renew,
	  "renew [--within DURATION] [--sync-wait DURATION] [--dry-run] [--json]\n"
	  "       [--page-token-command CMD] [--no-batch] [--credentials FILE | ...]",
	  "replace channels that expire soon, without a gap (for cron)",
	  "For each channel made by watch (it has a watch URL) whose remaining\n"
	  "life is below --within, watches a replacement (new id and token, the\n"
	  "same watch URL, address, params and lifetime), waits until the\n"
	  "handler has accepted its sync message, then stops the old channel\n"
	  "and removes it.  Until then both are valid: nothing is refused.  A\n"
	  "replacement whose sync never comes is stopped and removed, the old\n"
	  "channel kept, and a later run tries again.  Every step is recorded\n"
	  "in the registry before it is taken (gpushReplacedBy, gpushReplaces),\n"
	  "so a run killed anywhere is completed by the next one.  One run at a\n"
	  "time (state/renew.lock): a second one exits 0 at once.  Transient\n"
	  "errors (429, 5xx, timeouts) are retried by the next run; permanent\n"
	  "ones are explained and recorded for 'gpush health'.  Exit 0 when\n"
	  "everything due was renewed or is in progress, 1 when something\n"
	  "failed.\n\n"
	  "  --within DURATION  renew what expires within DURATION (default: a\n"
	  "                     quarter of each channel's lifetime, >= 15m)\n"
	  "  --sync-wait DUR    how long a replacement's sync may take (30s)\n"
	  "  -n, --dry-run      say what would be done; change nothing\n"
	  "  --json             one JSON object per action on stdout\n"
	  "  --page-token-command CMD\n"
	  "                     for Drive changes channels: run CMD (sh -c,\n"
	  "                     with GPUSH_CHANNEL_ID and GPUSH_WATCH_URL set)\n"
	  "                     for a current pageToken (default: the stored one)\n"
	  "  --no-batch         one HTTP call per channel\n"
	  GOOGLE_HELP },
	{ "health", cmd_health, "health [--max-silence DURATION] [--within DURATION]\n"
	  "       [--sync-wait DURATION] [--credentials FILE] [--json]",
	  "report problems for monitoring (exit 0 OK, 1 warning, 2 critical)",
	  "One line per problem, each starting with CRITICAL or WARNING, in the\n"
	  "manner of a Nagios/Icinga plugin; \"OK: N channel(s)\" when there is\n"
	  "none.  Critical: a channel expired, a renewal that failed\n"
	  "permanently or whose replacement's sync never came, a channel whose\n"
	  "sync never arrived, a log or state/ the handler cannot write, a\n"
	  "credentials file that cannot be read.  Warning: a channel due with no\n"
	  "replacement under way (is renew scheduled?), a transient renewal\n"
	  "failure, a half-made channel, no notification for longer than\n"
	  "--max-silence.  Nothing secret is printed.  Exit 0 OK, 1 warning,\n"
	  "2 critical, 3 unknown (health itself failed).\n\n"
	  "  --max-silence DUR  warn when a channel had no notification for\n"
	  "                     this long (default: no such check)\n"
	  "  --within DURATION  'due' as renew counts it (default as renew)\n"
	  "  --sync-wait DUR    a channel's sync may take this long after its\n"
	  "                     watch before it counts as never arrived (2m)\n"
	  "  --credentials FILE the credentials file to check (default\n"
	  "                     $GOOGLE_APPLICATION_CREDENTIALS when set)\n"
	  "  --json             one JSON object per problem\n" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* The command called name, or NULL. */
static const struct command *
find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int
cmd_help(const struct command *cmd)
{
	printf("usage: gpush [-d DIR] %s\n\n%s", cmd->synopsis, cmd->help);
	printf("  -h, --help   this help\n");
	return fflush(stdout) == 0 ? 0 : fail("writing the help: %s",
	    strerror(errno));
}

int
main_help(void)
{
	FILE *f = stdout;

	fprintf(f, "usage: gpush [-d DIR] COMMAND [ARGS]\n"
	    "       gpush --help | --version\n\n"
	    "Manages the Google push notification channels of a gpush data\n"
	    "directory.  Commands:\n\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	/* No directory built in (plain make): say so rather than print "". */
	if (GPUSH_DEFAULT_DIR[0] != '\0')
		fprintf(f, "\nOptions:\n"
		    "  -d DIR, --dir DIR   the data directory (default: $GPUSH_DIR, then\n"
		    "                      the one built in: %s)\n", GPUSH_DEFAULT_DIR);
	else
		fprintf(f, "\nOptions:\n"
		    "  -d DIR, --dir DIR   the data directory (default: $GPUSH_DIR;\n"
		    "                      none is built in)\n");
	fprintf(f, "  --database CONNINFO a PostgreSQL database as the store instead\n"
	    "                      (default: $GPUSH_DATABASE; see 'gpush db')\n"
	    "  -h, --help          this help; 'gpush COMMAND --help' for one\n"
	    "  -V, --version       the version\n\n"
	    "Exit status: 0 done, 1 failed, 2 usage error.  See gpush(1).\n");
	return 0;
}

const char *
tool_dir(const struct tool *t)
{
	const char *d = t->dir_opt;

	if (d == NULL || d[0] == '\0')
		d = getenv("GPUSH_DIR");
	if (d == NULL || d[0] == '\0')
		d = GPUSH_DEFAULT_DIR;
	if (d[0] == '\0') {
		msg("no data directory: use -d DIR or set GPUSH_DIR");
		return NULL;
	}
	return d;
}

const char *
tool_database(const struct tool *t)
{
	const char *d = t->db_opt;

	if (d == NULL || d[0] == '\0')
		d = getenv("GPUSH_DATABASE");
	return d != NULL && d[0] != '\0' ? d : NULL;
}

int
tool_store(const struct tool *t, struct gpush_store **s)
{
	const char *dir, *db = tool_database(t);
	char why[GPUSH_WHY_MAX];
	enum gpush_err e;

	*s = NULL;
	if (db != NULL) {
		if ((e = gpush_store_open_database(db, s, why, sizeof(why))) ==
		    GPUSH_OK)
			return 0;
		return fail("cannot open the database: %s", why);
	}
	if ((dir = tool_dir(t)) == NULL)
		return EXIT_FAIL;
	if ((e = gpush_store_open(dir, s)) == GPUSH_OK)
		return 0;
	/* IO comes with errno (gpush.h): the directory itself is missing or
	 * not one, or state/ in it cannot be made or opened. */
	if (e == GPUSH_ERR_IO && errno == ENOTDIR)
		return fail("%s: not a directory", dir);
	if (e == GPUSH_ERR_IO && errno == ENOENT)
		return fail("%s: %s", dir, strerror(errno));
	return fail("%s: cannot open the data directory: %s", dir,
	    e == GPUSH_ERR_IO ? strerror(errno) : gpush_strerror(e));
}

const char *
tool_store_why(const struct gpush_store *s, enum gpush_err e)
{
	const char *m = gpush_store_error(s);

	return m != NULL && m[0] != '\0' ? m : gpush_strerror(e);
}

const char *
tool_registry_name(const struct gpush_store *s)
{
	return gpush_store_is_database(s) ? "gpush.channels" : GPUSH_REGISTRY_FILE;
}

enum gpush_err
tool_lookup(struct gpush_store *s, const char *id,
    const struct gpush_channel **c)
{
	*c = NULL;
	if (strnlen(id, GPUSH_ID_MAX + 1) > GPUSH_ID_MAX)
		return GPUSH_ERR_CHANNEL;
	return gpush_store_channel(s, id, c);
}

/* Global options, then the subcommand; its result is the exit code. */
int
main(int argc, char **argv)
{
	struct tool t = { NULL, NULL, NULL };
	int rc = 0, i;

	if ((i = tool_global_options(&t, argc, argv, &rc)) < 0)
		return fflush(stdout) == 0 ? rc : EXIT_FAIL;
	if (strcmp(argv[i], "help") == 0) {
		const struct command *c = i + 1 < argc ? find_command(argv[i + 1])
		    : NULL;
		if (i + 1 < argc && c == NULL)
			return usage_error(&t, "unknown command '%s'", argv[i + 1]);
		return c != NULL ? cmd_help(c) : main_help();
	}
	if ((t.cmd = find_command(argv[i])) == NULL)
		return usage_error(&t, "unknown command '%s'", argv[i]);
	rc = t.cmd->run(&t, argc - i, argv + i);
	/* A full disk or a closed pipe on stdout must not pass as success. */
	if (fflush(stdout) != 0 && rc == 0)
		rc = fail("writing to stdout: %s", strerror(errno));
	return rc;
}
