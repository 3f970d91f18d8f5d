/*
 * cgiloop -- the handler time of a plain-CGI request, without a web
 * server: runs a CGI binary COUNT times, one process per request, the way
 * mod_cgi does (environment with the request's variables, the body on
 * stdin, the answer on stdout), and times each run from posix_spawn() to
 * the child's exit.  Prints one JSON object on stdout.
 *
 *   cgiloop -x BIN -d GPUSH_DIR -f FIXTURES.tsv -n COUNT -b BASE
 *           [-s 0|1] [-t MAX_SECONDS] [-E STDERR_FILE]
 *
 * FIXTURES.tsv: id TAB token TAB resource-id TAB resource-uri TAB
 * expiration-header, one channel a line; request i goes to line
 * i % lines with message number BASE + i and a Directory-style body.
 * -s 0 sets GPUSH_SYNC=0.  The loop stops after COUNT runs or
 * MAX_SECONDS (default 60), whichever comes first.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXCH 4096

struct fixture { char *f[5]; };

static struct fixture fx[MAXCH];
static int nfx;

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
load(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[4096];

	if (f == NULL) {
		perror(path);
		exit(2);
	}
	while (nfx < MAXCH && fgets(buf, sizeof(buf), f) != NULL) {
		char *p = buf, *tab;
		int i;
		buf[strcspn(buf, "\n")] = '\0';
		for (i = 0; i < 5; i++) {
			tab = strchr(p, '\t');
			if (tab != NULL)
				*tab = '\0';
			if ((fx[nfx].f[i] = strdup(p)) == NULL)
				exit(2);
			if (tab == NULL)
				break;
			p = tab + 1;
		}
		if (i >= 4)
			nfx++;
	}
	fclose(f);
	if (nfx == 0) {
		fprintf(stderr, "%s: no fixtures\n", path);
		exit(2);
	}
}

static double
pct(const double *v, int n, double p)
{
	int i = (int)(p / 100.0 * (n - 1) + 0.5);

	return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

int
main(int argc, char **argv)
{
	const char *bin = NULL, *dir = NULL, *fixtures = NULL, *errfile = "/dev/null";
	long count = 100, sync = 1;
	long long base = 1;
	double maxsec = 60;
	int c;

	while ((c = getopt(argc, argv, "x:d:f:n:b:s:t:E:")) != -1) {
		switch (c) {
		case 'x': bin = optarg; break;
		case 'd': dir = optarg; break;
		case 'f': fixtures = optarg; break;
		case 'n': count = atol(optarg); break;
		case 'b': base = atoll(optarg); break;
		case 's': sync = atol(optarg); break;
		case 't': maxsec = atof(optarg); break;
		case 'E': errfile = optarg; break;
		default: return 2;
		}
	}
	if (bin == NULL || dir == NULL || fixtures == NULL || count < 1) {
		fprintf(stderr, "usage: cgiloop -x BIN -d DIR -f FIXTURES -n COUNT -b BASE [-s 0|1] [-t SEC]\n");
		return 2;
	}
	load(fixtures);

	double *t = calloc((size_t)count, sizeof(*t)), start = now_us();
	long runs = 0, ok = 0, bad = 0, maxrss = 0;
	char *argv_child[] = { (char *)bin, NULL };
	char v_dir[4200], v_len[32], v_num[32], v_id[512], v_tok[512], v_rid[512],
	    v_uri[2300], v_exp[256], v_state[64], body[512], out[1024];
	static const char *states[] = { "update", "add", "delete", "makeAdmin",
	    "undelete" };

	if (t == NULL)
		return 2;
	snprintf(v_dir, sizeof(v_dir), "GPUSH_DIR=%s", dir);
	for (long i = 0; i < count && (now_us() - start) < maxsec * 1e6; i++) {
		struct fixture *x = &fx[i % nfx];
		long long num = base + i;
		int in[2], outp[2], blen, status;
		posix_spawn_file_actions_t fa;
		struct rusage ru;
		pid_t pid;
		ssize_t got = 0, r;

		blen = snprintf(body, sizeof(body),
		    "{\"kind\":\"admin#directory#user\",\"id\":\"1%020lld\","
		    "\"etag\":\"\\\"Mf8RAmnABsVfQ47MMT_18MHAdRE/%016llx\\\"\","
		    "\"primaryEmail\":\"user%lld@example.com\"}", num,
		    (unsigned long long)num * 2654435761ULL, num);
		snprintf(v_len, sizeof(v_len), "CONTENT_LENGTH=%d", blen);
		snprintf(v_num, sizeof(v_num), "HTTP_X_GOOG_MESSAGE_NUMBER=%lld", num);
		snprintf(v_id, sizeof(v_id), "HTTP_X_GOOG_CHANNEL_ID=%s", x->f[0]);
		snprintf(v_tok, sizeof(v_tok), "HTTP_X_GOOG_CHANNEL_TOKEN=%s", x->f[1]);
		snprintf(v_rid, sizeof(v_rid), "HTTP_X_GOOG_RESOURCE_ID=%s", x->f[2]);
		snprintf(v_uri, sizeof(v_uri), "HTTP_X_GOOG_RESOURCE_URI=%s", x->f[3]);
		snprintf(v_exp, sizeof(v_exp), "HTTP_X_GOOG_CHANNEL_EXPIRATION=%s",
		    x->f[4] != NULL ? x->f[4] : "");
		snprintf(v_state, sizeof(v_state), "HTTP_X_GOOG_RESOURCE_STATE=%s",
		    states[i % 5]);
		char *envp[] = {
			"GATEWAY_INTERFACE=CGI/1.1", "SERVER_PROTOCOL=HTTP/1.1",
			"REQUEST_METHOD=POST", "SCRIPT_NAME=/notifications",
			"REMOTE_ADDR=127.0.0.1", "SERVER_NAME=127.0.0.1",
			"SERVER_PORT=80", "PATH=/usr/bin:/bin",
			"CONTENT_TYPE=application/json; utf-8",
			"HTTP_USER_AGENT=APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)",
			v_dir, v_len, v_num, v_id, v_tok, v_rid, v_uri, v_exp,
			v_state, sync ? "GPUSH_SYNC=1" : "GPUSH_SYNC=0", NULL,
		};

		if (pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0) {
			perror("pipe");
			return 2;
		}
		if (write(in[1], body, (size_t)blen) != blen) {
			perror("write");
			return 2;
		}
		close(in[1]);
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, in[0], 0);
		posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
		posix_spawn_file_actions_addopen(&fa, 2, errfile,
		    O_WRONLY | O_APPEND | O_CREAT, 0600);
		double t0 = now_us();
		if ((errno = posix_spawn(&pid, bin, &fa, NULL, argv_child,
		    envp)) != 0) {
			perror(bin);
			return 2;
		}
		close(in[0]);
		close(outp[1]);
		while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
			;
		while (got < (ssize_t)sizeof(out) - 1 &&
		    (r = read(outp[0], out + got, sizeof(out) - 1 - (size_t)got)) > 0)
			got += r;
		double t1 = now_us();
		out[got] = '\0';
		close(outp[0]);
		posix_spawn_file_actions_destroy(&fa);
		t[runs++] = t1 - t0;
		if (ru.ru_maxrss > maxrss)
			maxrss = ru.ru_maxrss;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
		    (strncmp(out, "Status: 200", 11) == 0 ||
		     strncmp(out, "Status: 204", 11) == 0))
			ok++;
		else
			bad++;
	}
	double sum = 0;
	for (long i = 0; i < runs; i++)
		sum += t[i];
	qsort(t, (size_t)runs, sizeof(*t), cmp);
	printf("{\"runs\":%ld,\"ok\":%ld,\"bad\":%ld,\"min_us\":%.1f,"
	    "\"p50_us\":%.1f,\"mean_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
	    "\"max_us\":%.1f,\"maxrss_kb\":%ld}\n", runs, ok, bad,
	    runs ? t[0] : 0, runs ? pct(t, (int)runs, 50) : 0,
	    runs ? sum / runs : 0, runs ? pct(t, (int)runs, 90) : 0,
	    runs ? pct(t, (int)runs, 99) : 0, runs ? t[runs - 1] : 0, maxrss);
	return bad == 0 && runs > 0 ? 0 : 1;
}
