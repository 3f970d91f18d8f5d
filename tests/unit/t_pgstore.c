/* Unit tests of the PostgreSQL store's parts that need no server
 * (lib/pgstore.c, lib/pgschema.c): the redacted connection string, what
 * opening says about a string that does not parse or a server that is not
 * there (never the password), the file store's answers to the database
 * calls, and the embedded SQL.  tests/cgi-pg.t and tests/pg/ run the
 * store against a real server. */
#include <sys/socket.h>
#include <netinet/in.h>

#include "lib_all.h"
#include "tap.h"

#define SECRET "Pa55-w0rd-xyz"

/* A loopback TCP port nothing listens on (bound, then closed). */
static int
closed_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 1;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static void
test_redact(void)
{
	char buf[256];

	is_int(gpush_conninfo_redact("host=db.example.com port=5433 dbname=gpush "
	    "user=web password=" SECRET " sslmode=require", buf, sizeof(buf)),
	    GPUSH_OK, "redact key=value");
	is_str(buf, "host=db.example.com port=5433 dbname=gpush user=web",
	    "only host, port, dbname, user");
	is_int(gpush_conninfo_redact("postgresql://web:" SECRET "@db.example.com/gpush",
	    buf, sizeof(buf)), GPUSH_OK, "redact a URI");
	ok(strstr(buf, SECRET) == NULL && strstr(buf, "user=web") != NULL &&
	    strstr(buf, "dbname=gpush") != NULL, "URI: no password (%s)", buf);
	is_int(gpush_conninfo_redact("host=x password='" SECRET, buf, sizeof(buf)),
	    GPUSH_ERR_ARG, "an unterminated quote does not parse");
	ok(strstr(buf, SECRET) == NULL, "and is not quoted back (%s)", buf);
	is_int(gpush_conninfo_redact("host=averyveryverylonghostname.example.com",
	    buf, 12), GPUSH_OK, "truncated to the buffer");
	is_int((int)strlen(buf), 11, "NUL-terminated within it");
	is_int(gpush_conninfo_redact("", buf, sizeof(buf)), GPUSH_OK, "empty string");
	is_str(buf, "(libpq defaults)", "said as libpq's defaults");
}

static void
test_open(void)
{
	struct gpush_store *s = (struct gpush_store *)1;
	char why[512], ci[256];
	enum gpush_err e;

	e = gpush_store_open_database("password='" SECRET, &s, why, sizeof(why));
	ok(e == GPUSH_ERR_CONFIG && s == NULL, "a string that does not parse: CONFIG, no store");
	ok(strstr(why, SECRET) == NULL && why[0] != '\0', "why without the password: %s", why);
	s = (struct gpush_store *)1;
	ok(gpush_store_open_database("", &s, why, sizeof(why)) == GPUSH_ERR_CONFIG &&
	    s == NULL, "an empty string: CONFIG");
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d dbname=gpush user=web "
	    "password=" SECRET " connect_timeout=2", closed_port());
	s = (struct gpush_store *)1;
	e = gpush_store_open_database(ci, &s, why, sizeof(why));
	ok(e == GPUSH_ERR_IO && s == NULL, "no server: IO (503), no store");
	ok(strstr(why, SECRET) == NULL && strstr(why, "dbname=gpush") != NULL,
	    "why names the database, not the password: %s", why);
	int from = -1, to = -1;
	e = gpush_db_migrate(ci, 1, &from, &to, why, sizeof(why));
	ok(e == GPUSH_ERR_IO && from == 0 && to == 0 && strstr(why, SECRET) == NULL,
	    "db init without a server: IO, no password: %s", why);
}

/* A file store answers the database calls as such. */
static void
test_file_store(void)
{
	char tmpl[] = "/tmp/gpush-t_pg-XXXXXX", cmd[64];
	struct gpush_store *s = NULL;

	ok(!gpush_store_is_database(NULL), "NULL is no database store");
	if (mkdtemp(tmpl) == NULL || gpush_store_open(tmpl, &s) != GPUSH_OK) {
		ok(0, "a data directory opens");
		return;
	}
	ok(!gpush_store_is_database(s), "a data directory is no database store");
	ok(gpush_store_pg(s) == NULL, "and has no connection");
	is_str(gpush_store_error(s), "", "nor a database error");
	gpush_store_free(s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
	ok(system(cmd) == 0, "cleaned up");
}

static void
test_sql(void)
{
	ok(strstr(gpush__schema_sql, "UNIQUE (channel_id, channel_generation, "
	    "message_number)") != NULL, "the schema holds the exactly-once key");
	ok(strstr(gpush__schema_sql, "INSERT INTO gpush.schema_version (version) "
	    "VALUES (1)") != NULL && GPUSH_SCHEMA_VERSION == 1,
	    "the schema records its version, the library's");
	ok(strstr(gpush_db_roles_sql(), "CREATE ROLE gpush_handler NOLOGIN") != NULL &&
	    strstr(gpush_db_roles_sql(), "CREATE ROLE gpush_tool NOLOGIN") != NULL,
	    "roles.sql makes both roles");
	ok(strstr(gpush__schema_sql, "GRANT SELECT, INSERT ON gpush.notifications TO "
	    "gpush_handler") != NULL && strstr(gpush__schema_sql,
	    "TO gpush_handler;\n\t\tGRANT SELECT, INSERT ON") != NULL,
	    "the handler's grants: select and insert notifications");
}

int
main(void)
{
	test_redact();
	test_open();
	test_file_store();
	test_sql();
	printf("1..%d\n", tap_n);
	return tap_failed != 0;
}
