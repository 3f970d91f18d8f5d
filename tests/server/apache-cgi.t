#!/bin/bash
# Apache 2.4 + mod_cgi (mpm_prefork) from htdocs/.htaccess.  TAP.
MODE=cgi
. "$(dirname "$0")/apache.sh"
