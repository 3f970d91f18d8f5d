/* not yet: the interface only */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "gpush_private.h"

enum gpush_err gpush_auth_new(const struct gpush_credentials *creds,
    struct gpush_http *http, const char *dir, const char *subject,
    const char *scope, struct gpush_auth **out)
{
	return GPUSH_ERR_INTERNAL; /* not yet */
}

void gpush_auth_free(struct gpush_auth *a)
{
	(void)0;
}

enum gpush_err gpush_auth_token(struct gpush_auth *a, const char **token,
    int64_t *expires_at, char *why, size_t whysz)
{
	return GPUSH_ERR_INTERNAL; /* not yet */
}

enum gpush_err gpush_auth_invalidate(struct gpush_auth *a)
{
	return GPUSH_ERR_INTERNAL; /* not yet */
}

enum gpush_err gpush_auth_request(struct gpush_auth *a, const char *method,
    const char *url, const char *const *headers, const char *body,
    size_t body_len, struct gpush_http_response *resp, char *why,
    size_t whysz)
{
	return GPUSH_ERR_INTERNAL; /* not yet */
}

void gpush_auth_set_clock(struct gpush_auth *a, int64_t (*now)(void))
{
	(void)0;
}
