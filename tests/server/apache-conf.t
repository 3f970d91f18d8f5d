#!/bin/bash
# Apache 2.4 + mod_fcgid (mpm_event) from conf/apache-gpush.conf, no .htaccess.  TAP.
MODE=fcgid
LAYOUT=conf
. "$(dirname "$0")/apache.sh"
