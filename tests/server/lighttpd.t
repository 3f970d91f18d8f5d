#!/bin/bash
# lighttpd + mod_fastcgi (several handler processes), from conf/lighttpd.conf.
# TAP.  Starts a private lighttpd on a free loopback port, runs the sender
# with a graceful restart (SIGUSR1) half-way, checks the log.
. "$(dirname "$0")/lib.sh"
LABEL=lighttpd
need_handler
need_pkgs lighttpd:lighttpd curl:curl
make_tmp lighttpd

PROCS=4
lighttpd_setup $PROCS
cp "$REPO/htdocs/robots.txt" "$DOC/"
cp "$GPUSH_FCGI" "$DOC/gpush.fcgi"      # a stray copy: must not be served
cp "$REPO/conf/lighttpd.conf" "$DOC/lighttpd.conf"
lighttpd_start

n=$(for p in /proc/[0-9]*; do readlink "$p/exe" 2>/dev/null; done |
    grep -c "^$T/bin/gpush.fcgi")
ok $([ "$n" -ge 2 ]; echo $?) "several handler processes run ($n of max-procs $PROCS)"

probes
refused_logged "$ACCESS_LOG"
robots
run_sender "kill -USR1 $LPID && sleep 1"
kill -0 $LPID 2>/dev/null
ok $? "lighttpd is still running after the graceful restart"
n=$(grep -c 'server started' "$T/logs/error.log")
ok $([ "$n" -ge 2 ]; echo $?) "lighttpd did restart ($n starts in its error log)"
not_served "${LEAK_PATHS[@]}"
data_modes
done_testing
