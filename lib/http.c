/* not yet: the interface only */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "gpush_private.h"

struct gpush_http *gpush_http_new(void)
{
	return NULL;
}

void gpush_http_free(struct gpush_http *h)
{
	(void)0;
}

enum gpush_err gpush_http_set_cacert(struct gpush_http *h, const char *file)
{
	return GPUSH_ERR_INTERNAL; /* not yet */
}

void gpush_http_set_timeouts(struct gpush_http *h, long connect_ms,
    long total_ms)
{
	(void)0;
}

void gpush_http_set_retry(struct gpush_http *h, int tries, long total_ms,
    long base_ms)
{
	(void)0;
}

void gpush_http_set_max_body(struct gpush_http *h, size_t max)
{
	(void)0;
}

enum gpush_err gpush_http_set_proxy(struct gpush_http *h, const char *url)
{
	return GPUSH_ERR_INTERNAL; /* not yet */
}

void gpush_http_response_clear(struct gpush_http_response *r)
{
	(void)0;
}

enum gpush_err gpush_http_request(struct gpush_http *h, const char *method,
    const char *url, const char *const *headers, const char *body,
    size_t body_len, struct gpush_http_response *resp, char *why,
    size_t whysz)
{
	return GPUSH_ERR_INTERNAL; /* not yet */
}

enum gpush_err gpush_google_error_parse(const struct gpush_http_response *r,
    struct gpush_google_error *e)
{
	return GPUSH_ERR_INTERNAL; /* not yet */
}
