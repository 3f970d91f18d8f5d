# tests/lib/lighttpd.sh -- a private lighttpd for a server test (bash),
# built from the shipped template conf/lighttpd.conf the way its comments
# say; sourced by tests/server/lib.sh (whose make_tmp, make_data,
# free_port and wait_http it uses).
#
#   lighttpd_setup PROCS  in $T: PORT (free), DOC=$T/htdocs (the web root),
#                         DATA=$DOC/var (inside it on purpose: must not
#                         leak), the handler copied to $T/bin/gpush.fcgi,
#                         $T/gpush.conf from the template with PROCS
#                         FastCGI processes, $T/lighttpd.conf around it;
#                         ACCESS_LOG, the endpoint's access log
#   lighttpd_start        checks the configuration and starts lighttpd
#                         (LPID), stopped on exit; sets URL; two tests
#   lighttpd_stop         lighttpd and any handler process it left

lighttpd_setup() {
	PORT=$(free_port)
	DOC=$T/htdocs
	DATA=$DOC/var
	mkdir -p "$DOC" "$T/bin" "$T/run" "$T/logs"
	cp "$GPUSH_FCGI" "$T/bin/gpush.fcgi"
	make_data "$DATA"
	chown "$RUN_USER:$RUN_GROUP" "$T/run" "$T/logs"
	# The template, changed the way its comments say.
	sed -e "s|^var.gpush_bin .*|var.gpush_bin    = \"$T/bin/gpush.fcgi\"|" \
	    -e "s|^var.gpush_dir .*|var.gpush_dir    = \"$DATA\"|" \
	    -e "s|^var.gpush_socket .*|var.gpush_socket = \"$T/run/gpush.sock\"|" \
	    -e "s|^var.gpush_procs .*|var.gpush_procs  = $1|" \
	    -e "s|^var.gpush_accesslog .*|var.gpush_accesslog = \"$T/logs/gpush-access.log\"|" \
	    "$REPO/conf/lighttpd.conf" >"$T/gpush.conf"
	ACCESS_LOG=$T/logs/gpush-access.log
	local v
	for v in bin dir socket procs accesslog; do
		grep -q "^var.gpush_$v .*$T\|^var.gpush_procs  = $1" "$T/gpush.conf" ||
		    bail "conf/lighttpd.conf has no var.gpush_$v line to change"
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
}

# lighttpd_tls CERT KEY -- HTTPS too (between setup and start): the
# shipped conf/lighttpd-ssl.conf, its var.gpush_tls_* lines changed, on
# a second free port; sets HPORT and HURL.
lighttpd_tls() {
	HPORT=$(free_port)
	sed -e "s|^var.gpush_tls_socket .*|var.gpush_tls_socket = \"127.0.0.1:$HPORT\"|" \
	    -e "s|^var.gpush_tls_cert .*|var.gpush_tls_cert = \"$1\"|" \
	    -e "s|^var.gpush_tls_key .*|var.gpush_tls_key = \"$2\"|" \
	    "$REPO/conf/lighttpd-ssl.conf" >"$T/gpush-ssl.conf"
	local v
	for v in socket cert key; do
		grep -q "^var.gpush_tls_$v " "$REPO/conf/lighttpd-ssl.conf" ||
		    bail "conf/lighttpd-ssl.conf has no var.gpush_tls_$v line to change"
	done
	echo "include \"$T/gpush-ssl.conf\"" >>"$T/lighttpd.conf"
	HURL="https://127.0.0.1:$HPORT/notifications"
}

lighttpd_start() {
	lighttpd -tt -f "$T/lighttpd.conf" >"$T/conftest.out" 2>&1
	ok $? "lighttpd accepts the configuration built from conf/lighttpd.conf"
	diag <"$T/conftest.out"
	lighttpd -D -f "$T/lighttpd.conf" >"$T/logs/stdout.log" 2>&1 &
	LPID=$!
	on_exit lighttpd_stop
	on_exit "[ \$TAP_FAILED -eq 0 ] || tail -n 30 '$T/logs/error.log' '$T/logs/stdout.log' | diag"
	URL="http://127.0.0.1:$PORT/notifications"
	wait_http "$URL" 15
	ok $? "lighttpd answers on 127.0.0.1:$PORT" || done_testing
}

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
