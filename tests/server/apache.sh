# tests/server/apache.sh -- the Apache 2.4 tests, sourced with MODE (and
# LAYOUT) set by
#   apache-fcgid.t  MODE=fcgid LAYOUT=htaccess  mod_fcgid, mpm_event
#   apache-cgi.t    MODE=cgi   LAYOUT=htaccess  mod_cgi, mpm_prefork, the
#                   endpoint in a subfolder of a site (shared hosting)
#   apache-conf.t   MODE=fcgid LAYOUT=conf      conf/apache-gpush.conf
#   hostile.t       APACHE_SETUP_ONLY=1: returns once the server answers,
#                   with APACHE_EXTRA_CONF appended to httpd.conf
#   https-apache.t  the same, LAYOUT=conf, with the function
#                   apache_extra_conf (HTTPS from conf/apache-gpush-ssl.conf)
# A private ServerRoot in a temp dir.  LAYOUT=htaccess: htdocs/.htaccess as
# shipped but for its SetEnv GPUSH_DIR line, the handler copied in as
# gpush.fcgi.  LAYOUT=conf: the server-config template with its Define
# lines changed, the handler in a libexec folder outside the web root.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LAYOUT=${LAYOUT:-htaccess}
LABEL="apache-$MODE"
[ "$LAYOUT" = conf ] && LABEL="apache-conf"
need_handler
if [ "$MODE" = fcgid ]; then
	need_pkgs apache2:apache2 /usr/lib/apache2/modules/mod_fcgid.so:libapache2-mod-fcgid curl:curl
else
	need_pkgs apache2:apache2 curl:curl
fi
make_tmp "$LABEL"
MODS=${APACHE_MODULES:-/usr/lib/apache2/modules}
APACHE2=$(command -v apache2 || echo /usr/sbin/apache2)

PORT=$(free_port)
SITE=$T/htdocs
if [ "$MODE" = cgi ]; then
	# Shared hosting: the endpoint's folder inside a site that has other
	# content, which must stay served.
	BASE=/push
	mkdir -p "$SITE"
	echo 'the rest of the site' >"$SITE/index.html"
fi
DOC=$SITE$BASE
DATA=$DOC/var                     # inside the web root on purpose: must not leak
mkdir -p "$DOC" "$T/run" "$T/logs" "$T/fcgid"
cp "$REPO/htdocs/robots.txt" "$DOC/"
chmod 644 "$DOC/robots.txt"
INITIAL_ENV=""
SITE_CONF=""
if [ "$LAYOUT" = conf ]; then
	BIN=$T/libexec/gpush.fcgi
	mkdir -p "$T/libexec"
	install -m 755 "$GPUSH_FCGI" "$BIN"
	for v in LIBEXEC DIR URL ACCESSLOG; do
		grep -q "^Define GPUSH_$v " "$REPO/conf/apache-gpush.conf" ||
		    bail "conf/apache-gpush.conf has no 'Define GPUSH_$v' line"
	done
	sed -e "s|^Define GPUSH_LIBEXEC .*|Define GPUSH_LIBEXEC $T/libexec|" \
	    -e "s|^Define GPUSH_DIR .*|Define GPUSH_DIR $DATA|" \
	    -e "s|^Define GPUSH_ACCESSLOG .*|Define GPUSH_ACCESSLOG $T/logs/gpush-access.log|" \
	    "$REPO/conf/apache-gpush.conf" >"$T/gpush.conf"
	ACCESS_LOG=$T/logs/gpush-access.log
	SITE_CONF="Include $T/gpush.conf"
	SITE_OVERRIDE="AllowOverride None"
	# An ordinary site around it: its files are served, the data
	# directory and the handler's folder are not.
	echo 'the rest of the site' >"$SITE/index.html"
	LEAKS=("${DATA_LEAK_PATHS[@]}" /libexec/gpush.fcgi /gpush.fcgi)
else
	BIN=$DOC/gpush.fcgi
	install -m 755 "$GPUSH_FCGI" "$BIN"
	cp "$REPO/conf/lighttpd.conf" "$DOC/"     # a stray file: must not be served
	grep -q '^SetEnv GPUSH_DIR ' "$REPO/htdocs/.htaccess" ||
	    bail "htdocs/.htaccess has no 'SetEnv GPUSH_DIR' line to change"
	if [ "$MODE" = fcgid ] && [ "${APACHE_ENV:-setenv}" = initialenv ]; then
		# APACHE_ENV=initialenv: GPUSH_DIR from FcgidInitialEnv in the
		# server config, the .htaccess line removed.
		sed "/^SetEnv GPUSH_DIR /d" "$REPO/htdocs/.htaccess" >"$DOC/.htaccess"
		INITIAL_ENV="FcgidInitialEnv GPUSH_DIR $DATA"
	else
		sed "s|^SetEnv GPUSH_DIR .*|SetEnv GPUSH_DIR $DATA|" \
		    "$REPO/htdocs/.htaccess" >"$DOC/.htaccess"
	fi
	chmod 644 "$DOC/.htaccess"
	# What INSTALL (case a, step 6) asks of a host for htdocs/.htaccess.
	SITE_OVERRIDE="AllowOverride FileInfo AuthConfig Indexes Options=ExecCGI,Indexes,SymLinksIfOwnerMatch"
	LEAKS=("${LEAK_PATHS[@]}")
fi
make_data "$DATA"
chown "$RUN_USER:$RUN_GROUP" "$T/fcgid"

if [ "$MODE" = fcgid ]; then
	MPM=event
	HANDLER_MOD="LoadModule fcgid_module $MODS/mod_fcgid.so"
	HANDLER_CONF="FcgidIPCDir $T/fcgid
FcgidProcessTableFile $T/fcgid/shm
FcgidMaxProcesses 8
FcgidMaxProcessesPerClass 4
FcgidIOTimeout 30
FcgidConnectTimeout 10
$INITIAL_ENV"
elif [ "${APACHE_CGI:-cgi}" = cgid ]; then
	# APACHE_CGI=cgid: Debian's default CGI module (threaded MPMs)
	MPM=event
	HANDLER_MOD="LoadModule cgid_module $MODS/mod_cgid.so"
	HANDLER_CONF="ScriptSock $T/run/cgid.sock"
else
	MPM=prefork
	HANDLER_MOD="LoadModule cgi_module $MODS/mod_cgi.so"
	HANDLER_CONF=""
fi
USERS=""
[ "$(id -u)" -eq 0 ] && USERS="User $RUN_USER
Group $RUN_GROUP"

# A test may define apache_extra_conf: its output (made now, once $T, $PORT
# and $DATA are known) is appended to httpd.conf, after APACHE_EXTRA_CONF.
EXTRA_FN_CONF=""
if declare -F apache_extra_conf >/dev/null; then
	EXTRA_FN_CONF=$(apache_extra_conf) || bail "apache_extra_conf failed"
fi

cat >"$T/httpd.conf" <<CONF
ServerRoot "$T"
ServerName 127.0.0.1
Listen 127.0.0.1:$PORT
PidFile "$T/run/httpd.pid"
DefaultRuntimeDir "$T/run"
Mutex file:$T/run default
ErrorLog "$T/logs/error.log"
LogLevel warn
LogFormat "%h %t \"%r\" %>s %b %D" timed
CustomLog "$T/logs/access.log" timed
Timeout 30
KeepAlive On
$USERS
LoadModule mpm_${MPM}_module $MODS/mod_mpm_$MPM.so
LoadModule authz_core_module $MODS/mod_authz_core.so
LoadModule mime_module $MODS/mod_mime.so
LoadModule rewrite_module $MODS/mod_rewrite.so
LoadModule env_module $MODS/mod_env.so
LoadModule dir_module $MODS/mod_dir.so
LoadModule alias_module $MODS/mod_alias.so
$HANDLER_MOD
TypesConfig /etc/mime.types
StartServers 2
<IfModule mpm_event_module>
	ThreadsPerChild 16
</IfModule>
MaxRequestWorkers 32
$HANDLER_CONF
<Directory />
	Options None
	AllowOverride None
	Require all denied
</Directory>
DocumentRoot "$SITE"
DirectoryIndex index.html
<Directory "$SITE">
	$SITE_OVERRIDE
	Options None
	Require all granted
</Directory>
<FilesMatch "^\.ht">
	Require all denied
</FilesMatch>
$SITE_CONF
${APACHE_EXTRA_CONF:-}
$EXTRA_FN_CONF
CONF

"$APACHE2" -t -f "$T/httpd.conf" >"$T/conftest.out" 2>&1
ok $? "apache2 accepts the private configuration"
diag <"$T/conftest.out"

apache_stop() {
	local pid i p
	pid=$(cat "$T/run/httpd.pid" 2>/dev/null) || return 0
	"$APACHE2" -f "$T/httpd.conf" -k stop >/dev/null 2>&1 || kill -TERM "$pid"
	for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null
	# handler processes left behind by mod_fcgid
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = "$BIN" ] &&
		    kill -KILL "${p#/proc/}" 2>/dev/null
	done
	return 0
}
"$APACHE2" -f "$T/httpd.conf" -k start >"$T/logs/start.log" 2>&1
on_exit apache_stop
on_exit "[ \$TAP_FAILED -eq 0 ] || grep -v AH01630 '$T/logs/error.log' | tail -n 30 | diag; diag <'$T/logs/start.log'"
URL="http://127.0.0.1:$PORT$BASE/notifications"
wait_http "$URL" 15
ok $? "apache2 ($MODE, mpm_$MPM) answers on 127.0.0.1:$PORT" || done_testing
# tests/server/hostile.t: the server is up and stopped on exit; it does the rest.
[ "${APACHE_SETUP_ONLY:-0}" = 1 ] && return 0
if [ -f "$SITE/index.html" ]; then
	got=$(status GET "http://127.0.0.1:$PORT/")
	ok $([ "$got" = 200 ] && grep -q 'rest of the site' "$T/probe.body"
	    echo $?) "the rest of the site is still served ($got)"
fi

probes
# The template's own access log (conf/apache-gpush.conf's GlobalLog); with
# htdocs/.htaccess the host's access log is the server's (here
# $T/logs/access.log: .htaccess cannot set one).
refused_logged "${ACCESS_LOG:-$T/logs/access.log}"
robots
# APACHE_RESTART=restart tries a hard restart instead (not part of the
# contract: in-flight requests are cut, Google retries them).
run_sender "'$APACHE2' -f '$T/httpd.conf' -k ${APACHE_RESTART:-graceful} && sleep 1"
pid=$(cat "$T/run/httpd.pid" 2>/dev/null)
kill -0 "$pid" 2>/dev/null
ok $? "apache2 is still running after the graceful restart"
n=$(grep -c 'resuming normal operations' "$T/logs/error.log")
ok $([ "$n" -ge 2 ]; echo $?) "apache2 did restart ($n starts in its error log)"
if [ "$MODE" = fcgid ]; then
	n=$(grep -c 'POST /notifications' "$T/logs/access.log")
	note "$n POSTs in the access log"
fi
not_served "${LEAKS[@]}"
data_modes

if [ "$MODE" = cgi ]; then
	# The same folder on a server with neither mod_fcgid nor mod_cgi(d):
	# the handler binary must not be sent as a file.
	apache_stop
	P2=$(free_port)
	sed -e '/LoadModule cgid\{0,1\}_module/d' -e '/^ScriptSock/d' -e "s/^Listen .*/Listen 127.0.0.1:$P2/" \
	    "$T/httpd.conf" >"$T/httpd-nocgi.conf"
	"$APACHE2" -f "$T/httpd-nocgi.conf" -k start >>"$T/logs/start.log" 2>&1
	wait_http "http://127.0.0.1:$P2/" 15
	bad=""
	for p in /gpush.fcgi /notifications; do
		got=$(status GET "http://127.0.0.1:$P2$BASE$p")
		note "without CGI: GET $BASE$p -> $got"
		{ [ "$got" = 200 ] || grep -qa $'\x7fELF' "$T/probe.body"; } &&
		    bad="$bad $p"
	done
	ok $([ -z "$bad" ]; echo $?) "without mod_fcgid and mod_cgi the handler is not served as a file"
	"$APACHE2" -f "$T/httpd-nocgi.conf" -k stop >/dev/null 2>&1
	sleep 1
fi
done_testing
