/* not yet: the interface only */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "gpush_private.h"

enum gpush_err gpush_jwt_assertion(const struct gpush_credentials *c,
    const char *subject, const char *scope, int64_t now, char **out)
{
	return GPUSH_ERR_INTERNAL; /* not yet */
}
