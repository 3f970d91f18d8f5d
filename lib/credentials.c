/* not yet: the interface only */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "gpush_private.h"

enum gpush_err gpush_credentials_load(const char *path,
    struct gpush_credentials **out, char *why, size_t whysz)
{
	return GPUSH_ERR_INTERNAL; /* not yet */
}

enum gpush_err gpush_credentials_parse(const char *json, size_t len,
    const char *origin, struct gpush_credentials **out, char *why,
    size_t whysz)
{
	return GPUSH_ERR_INTERNAL; /* not yet */
}

enum gpush_err gpush_credentials_find(const char *path, gpush_env_fn env,
    struct gpush_credentials **out, char *why, size_t whysz)
{
	return GPUSH_ERR_INTERNAL; /* not yet */
}

enum gpush_err gpush_credentials_command(const char *command,
    struct gpush_credentials **out)
{
	return GPUSH_ERR_INTERNAL; /* not yet */
}

void gpush_credentials_free(struct gpush_credentials *c)
{
	(void)0;
}

enum gpush_credentials_kind gpush_credentials_kind(
    const struct gpush_credentials *c)
{
	return GPUSH_CREDENTIALS_COMMAND;
}

const char *gpush_credentials_describe(const struct gpush_credentials *c)
{
	return NULL;
}

const char *gpush_credentials_email(const struct gpush_credentials *c)
{
	return NULL;
}

const char *gpush_credentials_client_id(const struct gpush_credentials *c)
{
	return NULL;
}
void gpush__why(char *why, size_t whysz, const char *fmt, ...) { (void)why; (void)whysz; (void)fmt; }
void gpush__free_secret(char *s) { (void)s; }
