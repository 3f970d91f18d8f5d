/* Unit tests: the error enum -- every code has a text -- and the HTTP
 * status Google sees for each (lib/err.c). */
#include "lib_all.h"
#include "tap.h"

static void
test_errors(void)
{
	for (int e = 0; e < GPUSH_ERR__MAX; e++)
		if (strcmp(gpush_strerror((enum gpush_err)e), "unknown error") == 0)
			ok(0, "strerror %d has text", e);
	ok(strcmp(gpush_strerror(GPUSH_ERR__MAX), "unknown error") == 0,
	    "strerror out of range");
	is_int(gpush_http_status(GPUSH_OK), 200, "status accepted");
	is_int(gpush_http_status(GPUSH_ERR_METHOD), 405, "status method");
	is_int(gpush_http_status(GPUSH_ERR_NUMBER), 400, "status number");
	is_int(gpush_http_status(GPUSH_ERR_TOKEN), 401, "status token");
	is_int(gpush_http_status(GPUSH_ERR_CHANNEL), 404, "status channel");
	is_int(gpush_http_status(GPUSH_ERR_REPLAY), 409, "status replay");
	is_int(gpush_http_status(GPUSH_ERR_EXPIRED), 410, "status expired");
	is_int(gpush_http_status(GPUSH_ERR_TOOBIG), 413, "status too big");
	is_int(gpush_http_status(GPUSH_ERR_IO), 503, "status io (Google retries)");
	is_int(gpush_http_status(GPUSH_ERR_LOCK), 503, "status lock timeout");
	is_int(gpush_http_status(GPUSH_ERR_INTERNAL), 500, "status internal");
	/* On the request path ARG can only be a bug of gpush's: Google never
	 * retries a 400, so it must be a 500 (retried), not a lost message. */
	is_int(gpush_http_status(GPUSH_ERR_ARG), 500, "status arg (a bug: retried)");
}

int
main(void)
{
	test_errors();
	return tap_done();
}
