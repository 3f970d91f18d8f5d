#!/bin/bash
# lighttpd + mod_fastcgi (several handler processes), from htdocs/lighttpd.conf.
# TAP.  Starts a private lighttpd on a free loopback port, runs the sender
# with a graceful restart (SIGUSR1) half-way, checks the log.
. "$(dirname "$0")/lib.sh"
LABEL=lighttpd
need_handler
need_pkgs lighttpd:lighttpd curl:curl
make_tmp lighttpd

PORT=$(free_port)
DOC=$T/htdocs
DATA=$DOC/var                     # inside the web root on purpose: must not leak
PROCS=4
mkdir -p "$DOC" "$T/bin" "$T/run" "$T/logs"
cp "$REPO/htdocs/robots.txt" "$DOC/"
cp "$GPUSH_FCGI" "$T/bin/gpush.fcgi"
cp "$GPUSH_FCGI" "$DOC/gpush.fcgi"      # a stray copy: must not be served
cp "$REPO/htdocs/lighttpd.conf" "$DOC/lighttpd.conf"
make_data "$DATA"
chown "$RUN_USER:$RUN_GROUP" "$T/run" "$T/logs"

# The template, changed the way its comments say.
sed -e "s|^var.gpush_bin .*|var.gpush_bin    = \"$T/bin/gpush.fcgi\"|" \
    -e "s|^var.gpush_dir .*|var.gpush_dir    = \"$DATA\"|" \
    -e "s|^var.gpush_socket .*|var.gpush_socket = \"$T/run/gpush.sock\"|" \
    -e "s|^var.gpush_procs .*|var.gpush_procs  = $PROCS|" \
    "$REPO/htdocs/lighttpd.conf" >"$T/gpush.conf"
for v in bin dir socket procs; do
	grep -q "^var.gpush_$v .*$T\|^var.gpush_procs  = $PROCS" "$T/gpush.conf" ||
	    bail "htdocs/lighttpd.conf has no var.gpush_$v line to change"
done

{
	echo "server.document-root = \"$DOC\""
	echo "server.bind = \"127.0.0.1\""
	echo "server.port = $PORT"
	echo "server.pid-file = \"$T/run/lighttpd.pid\""
	echo "server.errorlog = \"$T/logs/error.log\""
	if [ "$(id -u)" -eq 0 ]; then
		echo "server.username = \"$RUN_USER\""
		echo "server.groupname = \"$RUN_GROUP\""
	fi
	echo 'mimetype.assign = ( ".txt" => "text/plain" )'
	echo "include \"$T/gpush.conf\""
} >"$T/lighttpd.conf"

lighttpd -tt -f "$T/lighttpd.conf" >"$T/conftest.out" 2>&1
ok $? "lighttpd accepts the configuration built from htdocs/lighttpd.conf"
diag <"$T/conftest.out"

lighttpd -D -f "$T/lighttpd.conf" >"$T/logs/stdout.log" 2>&1 &
LPID=$!
lighttpd_stop() {
	local i p
	kill -TERM "$LPID" 2>/dev/null
	for i in $(seq 50); do kill -0 "$LPID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$LPID" 2>/dev/null
	wait "$LPID" 2>/dev/null
	for p in /proc/[0-9]*; do          # handler processes left behind
		[ "$(readlink "$p/exe" 2>/dev/null)" = "$T/bin/gpush.fcgi" ] &&
		    kill -KILL "${p#/proc/}" 2>/dev/null
	done
	return 0
}
on_exit lighttpd_stop
on_exit "[ \$TAP_FAILED -eq 0 ] || tail -n 30 '$T/logs/error.log' '$T/logs/stdout.log' | diag"
URL="http://127.0.0.1:$PORT/notifications"
wait_http "$URL" 15
ok $? "lighttpd answers on 127.0.0.1:$PORT" || done_testing

n=$(for p in /proc/[0-9]*; do readlink "$p/exe" 2>/dev/null; done |
    grep -c "^$T/bin/gpush.fcgi")
ok $([ "$n" -ge 2 ]; echo $?) "several handler processes run ($n of max-procs $PROCS)"

probes
robots
run_sender "kill -USR1 $LPID && sleep 1"
kill -0 $LPID 2>/dev/null
ok $? "lighttpd is still running after the graceful restart"
n=$(grep -c 'server started' "$T/logs/error.log")
ok $([ "$n" -ge 2 ]; echo $?) "lighttpd did restart ($n starts in its error log)"
not_served "${LEAK_PATHS[@]}"
data_modes
done_testing
