/* Unit tests: a channel's API from its watch URL (lib/api.c), from the
 * table tests/unit/data/api_urls.txt; short names; lifetimes. */
#include "lib_all.h"
#include "tap.h"

#define SCOPE "https://www.googleapis.com/auth/"

/* One table line: the URL, then what the library must make of it. */
static void
check_line(char *line)
{
	char *tab = strchr(line, '\t'), *want, *f[10], *save = NULL, full[512];
	struct gpush_api *a = (struct gpush_api *)0x1;
	enum gpush_err e;
	int nf = 0;

	if (tab == NULL) {
		ok(0, "table line without a tab: %s", line);
		return;
	}
	*tab = '\0';
	want = tab + 1;
	e = gpush_api_from_url(line, &a);
	if (strcmp(want, "-") == 0) {
		ok(e == GPUSH_ERR_ARG && a == NULL, "refuses %s", line);
		return;
	}
	for (char *w = strtok_r(want, " ", &save); w != NULL && nf < 10;
	    w = strtok_r(NULL, " ", &save))
		f[nf++] = w;
	if (!ok(e == GPUSH_OK && nf == 9, "accepts %s", line)) {
		gpush_api_free(a == (struct gpush_api *)0x1 ? NULL : a);
		return;
	}
	is_str(gpush_api_name(a), f[0], "  api");
	is_str(gpush_api_resource(a), f[1], "  resource");
	snprintf(full, sizeof(full), SCOPE "%s", f[2]);
	is_str(gpush_api_scope(a), full, "  scope");
	is_str(gpush_api_origin(a), f[3], "  origin");
	snprintf(full, sizeof(full), "%s%s", f[3], f[4]);
	is_str(gpush_api_stop_url(a), full, "  stop URL");
	snprintf(full, sizeof(full), "%s%s", f[3], f[5]);
	is_str(gpush_api_batch_url(a), full, "  batch URL");
	is_str(gpush_api_ttl_how(a) == GPUSH_TTL_PARAM ? "param" : "expiration",
	    f[6], "  lifetime asked as");
	is_int(gpush_api_ttl_default(a), atoll(f[7]), "  default lifetime");
	is_int(gpush_api_ttl_max(a), atoll(f[8]), "  maximum lifetime");
	is_str(gpush_api_watch_url(a), line, "  watch URL kept");
	ok(strncmp(line + strlen(f[3]), gpush_api_target(a), strlen(line)) == 0,
	    "  target is the path and query");
	gpush_api_free(a);
}

static void
test_table(const char *path)
{
	FILE *fp = fopen(path, "r");
	char line[1024];

	if (!ok(fp != NULL, "open %s", path))
		return;
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		check_line(line);
	}
	fclose(fp);
}

static void
test_limits(void)
{
	static char big[GPUSH_URL_MAX + 64];
	struct gpush_api *a;
	size_t o;

	o = (size_t)snprintf(big, sizeof(big), "https://www.googleapis.com/drive/"
	    "v3/files/");
	memset(big + o, 'a', sizeof(big) - o - 1);
	memcpy(big + GPUSH_URL_MAX - 6, "/watch", 7);
	ok(gpush_api_from_url(big, &a) == GPUSH_OK, "a URL of GPUSH_URL_MAX bytes");
	gpush_api_free(a);
	memset(big + o, 'a', sizeof(big) - o - 1);
	memcpy(big + GPUSH_URL_MAX - 5, "/watch", 7);
	ok(gpush_api_from_url(big, &a) == GPUSH_ERR_ARG && a == NULL,
	    "one byte more is refused");
	ok(gpush_api_from_url(NULL, &a) == GPUSH_ERR_ARG, "NULL refused");
	ok(gpush_api_from_url("https://www.googleapis.com/drive/v3/files/\x01/watch",
	    &a) == GPUSH_ERR_ARG, "control byte refused");
	ok(gpush_api_from_url("https://www.googleapis.com/drive/v3/files/\xc3\xa9/watch",
	    &a) == GPUSH_ERR_ARG, "raw UTF-8 refused (must be percent-encoded)");
	gpush_api_free(NULL);
}

static void
test_same(void)
{
	struct gpush_api *a, *b, *c, *d;

	gpush_api_from_url("https://www.googleapis.com/drive/v3/files/A/watch", &a);
	gpush_api_from_url("https://WWW.googleapis.com/drive/v3/changes/watch?pageToken=2", &b);
	gpush_api_from_url("https://www.googleapis.com/calendar/v3/users/me/settings/watch", &c);
	gpush_api_from_url("https://127.0.0.1:1/drive/v3/files/A/watch", &d);
	ok(gpush_api_same(a, b), "files and changes: one Drive batch");
	ok(!gpush_api_same(a, c), "Drive and Calendar: two");
	ok(!gpush_api_same(a, d), "another host: two");
	gpush_api_free(a);
	gpush_api_free(b);
	gpush_api_free(c);
	gpush_api_free(d);
}

static void
test_ttl(void)
{
	struct gpush_api *dir, *drv, *rep, *cal;
	struct gpush_channel *c = gpush_channel_new();
	int capped;
	char *s;

	gpush_channel_set(c, "id", "t");
	gpush_api_from_url("https://admin.googleapis.com/admin/directory/v1/users/"
	    "watch?domain=d", &dir);
	gpush_api_from_url("https://www.googleapis.com/drive/v3/files/A/watch", &drv);
	gpush_api_from_url("https://admin.googleapis.com/admin/reports/v1/activity/"
	    "users/all/applications/login/watch", &rep);
	gpush_api_from_url("https://www.googleapis.com/calendar/v3/calendars/"
	    "primary/events/watch", &cal);
	ok(gpush_api_set_ttl(dir, c, 3600, 1000, &capped) == GPUSH_OK && !capped,
	    "Directory: 1 h");
	gpush_channel_json(c, GPUSH_CHANNEL_BODY, &s);
	ok(strstr(s, "\"params\":{\"ttl\":\"3600\"}") != NULL &&
	    strstr(s, "expiration") == NULL, "  as params.ttl in seconds: %s", s);
	free(s);
	ok(gpush_api_set_ttl(dir, c, 3 * 86400, 1000, &capped) == GPUSH_OK && capped,
	    "Directory: 3 d is capped");
	gpush_channel_json(c, GPUSH_CHANNEL_BODY, &s);
	ok(strstr(s, "\"ttl\":\"172800\"") != NULL, "  to 2 d");
	free(s);
	gpush_channel_free(c);
	c = gpush_channel_new();
	gpush_channel_set(c, "id", "t");
	ok(gpush_api_set_ttl(drv, c, 600, 1700000000000LL, &capped) == GPUSH_OK &&
	    !capped, "Drive: 10 min");
	is_int(gpush_channel_expiration(c), 1700000600000LL, "  as expiration ms");
	ok(gpush_api_set_ttl(rep, c, 86400, 1700000000000LL, &capped) == GPUSH_OK &&
	    capped, "Reports: 1 d capped");
	is_int(gpush_channel_expiration(c), 1700000000000LL + 21600000LL, "  to 6 h");
	ok(gpush_api_set_ttl(cal, c, 30 * 86400, 0, &capped) == GPUSH_OK && !capped,
	    "Calendar: 30 d, no published maximum");
	ok(gpush_api_set_ttl(cal, c, 0, 0, &capped) == GPUSH_ERR_ARG, "0 s refused");
	gpush_channel_free(c);
	gpush_api_free(dir);
	gpush_api_free(drv);
	gpush_api_free(rep);
	gpush_api_free(cal);
}

static void
test_short(void)
{
	static const struct {
		struct gpush_api_short s;
		const char *url;
	} t[] = {
		{ { "directory-users", NULL, "example.com", NULL, "add", NULL, NULL },
		  "https://admin.googleapis.com/admin/directory/v1/users/watch?"
		  "domain=example.com&event=add" },
		{ { "directory-users", NULL, NULL, "my_customer", NULL, NULL, NULL },
		  "https://admin.googleapis.com/admin/directory/v1/users/watch?"
		  "customer=my_customer" },
		{ { "directory-aliases", "a@b.c", NULL, NULL, "delete", NULL, NULL },
		  "https://admin.googleapis.com/admin/directory/v1/users/a%40b.c/"
		  "aliases/watch?event=delete" },
		{ { "reports-activity", "login", NULL, NULL, NULL, NULL, NULL },
		  "https://admin.googleapis.com/admin/reports/v1/activity/users/all/"
		  "applications/login/watch" },
		{ { "reports-activity", "drive", NULL, NULL, NULL, NULL, "u@x.org" },
		  "https://admin.googleapis.com/admin/reports/v1/activity/users/"
		  "u%40x.org/applications/drive/watch" },
		{ { "drive-changes", NULL, NULL, NULL, NULL, "T 1&x", NULL },
		  "https://www.googleapis.com/drive/v3/changes/watch?pageToken=T%201%26x" },
		{ { "drive-file", "FILE-id_1", NULL, NULL, NULL, NULL, NULL },
		  "https://www.googleapis.com/drive/v3/files/FILE-id_1/watch" },
		{ { "calendar-events", NULL, NULL, NULL, NULL, NULL, NULL },
		  "https://www.googleapis.com/calendar/v3/calendars/primary/events/watch" },
		{ { "calendar-events", "team@x.org", NULL, NULL, NULL, NULL, NULL },
		  "https://www.googleapis.com/calendar/v3/calendars/team%40x.org/events/watch" },
		{ { "calendar-list", NULL, NULL, NULL, NULL, NULL, NULL },
		  "https://www.googleapis.com/calendar/v3/users/me/calendarList/watch" },
		{ { "calendar-settings", NULL, NULL, NULL, NULL, NULL, NULL },
		  "https://www.googleapis.com/calendar/v3/users/me/settings/watch" },
		{ { "calendar-acl", "primary", NULL, NULL, NULL, NULL, NULL },
		  "https://www.googleapis.com/calendar/v3/calendars/primary/acl/watch" },
		/* refused */
		{ { "directory-users", NULL, NULL, NULL, "add", NULL, NULL }, NULL },
		{ { "directory-users", NULL, "d", "c", NULL, NULL, NULL }, NULL },
		{ { "drive-changes", NULL, NULL, NULL, NULL, NULL, NULL }, NULL },
		{ { "drive-file", NULL, NULL, NULL, NULL, NULL, NULL }, NULL },
		{ { "reports-activity", "nosuchapp", NULL, NULL, NULL, NULL, NULL }, NULL },
		{ { "reports-activity", NULL, NULL, NULL, NULL, NULL, NULL }, NULL },
		{ { "gmail", NULL, NULL, NULL, NULL, NULL, NULL }, NULL },
	};
	char *url;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		enum gpush_err e = gpush_api_short_url(&t[i].s, &url);
		if (t[i].url != NULL) {
			ok(e == GPUSH_OK, "%s expands", t[i].s.name);
			is_str(url, t[i].url, "  to its URL");
		} else
			ok(e == GPUSH_ERR_ARG && url == NULL, "%s (case %zu) refused",
			    t[i].s.name, i);
		free(url);
	}
	ok(gpush_api_is_short("drive-file") && !gpush_api_is_short("https://x"),
	    "is_short");
}

int
main(int argc, char **argv)
{
	test_table(argc > 1 ? argv[1] : "tests/unit/data/api_urls.txt");
	test_limits();
	test_same();
	test_ttl();
	test_short();
	printf("1..%d\n", tap_n);
	return tap_failed != 0;
}
