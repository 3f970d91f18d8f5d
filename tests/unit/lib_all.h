/* Unit tests include the library's sources, so static functions can be
 * called directly (kcgi, curl). */
#include "../../lib/err.c"
#include "../../lib/text.c"
#include "../../lib/date.c"
#include "../../lib/fileio.c"
#include "../../lib/json.c"
#include "../../lib/channel.c"
#include "../../lib/notification.c"
#include "../../lib/registry.c"
#include "../../lib/dedup.c"
#include "../../lib/store.c"
#include "../../lib/admin.c"
