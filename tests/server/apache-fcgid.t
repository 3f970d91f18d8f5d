#!/bin/bash
# Apache 2.4 + mod_fcgid (mpm_event) from htdocs/.htaccess.  TAP.
MODE=fcgid
. "$(dirname "$0")/apache.sh"
