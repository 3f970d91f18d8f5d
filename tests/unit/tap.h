/*
 * tap.h -- the few TAP helpers the unit tests need (prove reads them).
 */
#ifndef TAP_H
#define TAP_H

#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) tap_is_int((long long)(got), (long long)(want), \
    __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...) tap_is_str((got), (want), __FILE__, __LINE__, \
    __VA_ARGS__)

static int __attribute__((unused))
tap_ok(int cond, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#include <stdarg.h>

static int __attribute__((unused))
tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond) {
		tap_failed++;
		printf("#   at %s line %d\n", file, line);
	}
	return cond;
}

static int __attribute__((unused))
tap_is_int(long long got, long long want, const char *file, int line,
    const char *what)
{
	if (!tap_ok(got == want, file, line, "%s", what))
		printf("#   got %lld, want %lld\n", got, want);
	return got == want;
}

static int __attribute__((unused))
tap_is_str(const char *got, const char *want, const char *file, int line,
    const char *what)
{
	int same = (got == NULL && want == NULL) ||
	    (got != NULL && want != NULL && strcmp(got, want) == 0);

	if (!tap_ok(same, file, line, "%s", what))
		printf("#   got '%s', want '%s'\n", got ? got : "(null)",
		    want ? want : "(null)");
	return same;
}

static int __attribute__((unused))
tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed != 0;
}

#endif
