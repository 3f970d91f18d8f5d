/* Unit tests include the library's sources, so static functions can be
 * called directly (kcgi, curl). */
#include "../../lib/err.c"
#include "../../lib/util.c"
#include "../../lib/channel.c"
#include "../../lib/notification.c"
#include "../../lib/registry.c"
#include "../../lib/dedup.c"
#include "../../lib/store.c"
#include "../../lib/admin.c"
#include "../../lib/api.c"
#include "../../lib/batch.c"
