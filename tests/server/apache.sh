# tests/server/apache.sh -- the Apache 2.4 test, sourced by apache-fcgid.t
# (mod_fcgid, mpm_event) and apache-cgi.t (mod_cgi, mpm_prefork) with MODE
# set.  A private ServerRoot in a temp dir, htdocs/.htaccess as shipped but
# for its SetEnv GPUSH_DIR line, the handler copied in as gpush.fcgi.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LABEL="apache-$MODE"
need_handler
if [ "$MODE" = fcgid ]; then
	need_pkgs apache2:apache2 /usr/lib/apache2/modules/mod_fcgid.so:libapache2-mod-fcgid curl:curl
else
	need_pkgs apache2:apache2 curl:curl
fi
make_tmp "apache-$MODE"
MODS=${APACHE_MODULES:-/usr/lib/apache2/modules}
APACHE2=$(command -v apache2 || echo /usr/sbin/apache2)

PORT=$(free_port)
DOC=$T/htdocs
DATA=$DOC/var                     # inside the web root on purpose: must not leak
mkdir -p "$DOC" "$T/run" "$T/logs" "$T/fcgid"
cp "$REPO/htdocs/robots.txt" "$DOC/"
cp "$REPO/htdocs/lighttpd.conf" "$DOC/"     # a stray file: must not be served
install -m 755 "$GPUSH_FCGI" "$DOC/gpush.fcgi"
grep -q '^SetEnv GPUSH_DIR ' "$REPO/htdocs/.htaccess" ||
    bail "htdocs/.htaccess has no 'SetEnv GPUSH_DIR' line to change"
sed "s|^SetEnv GPUSH_DIR .*|SetEnv GPUSH_DIR $DATA|" \
    "$REPO/htdocs/.htaccess" >"$DOC/.htaccess"
chmod 644 "$DOC/.htaccess" "$DOC/robots.txt"
make_data "$DATA"
chown "$RUN_USER:$RUN_GROUP" "$T/fcgid"

if [ "$MODE" = fcgid ]; then
	MPM=event
	HANDLER_MOD="LoadModule fcgid_module $MODS/mod_fcgid.so"
	HANDLER_CONF="FcgidIPCDir $T/fcgid
FcgidProcessTableFile $T/fcgid/shm
FcgidMaxProcesses 8
FcgidMaxProcessesPerClass 4
FcgidMaxRequestLen 131072
FcgidIOTimeout 30
FcgidConnectTimeout 10"
else
	MPM=prefork
	HANDLER_MOD="LoadModule cgi_module $MODS/mod_cgi.so"
	HANDLER_CONF=""
fi
USERS=""
[ "$(id -u)" -eq 0 ] && USERS="User $RUN_USER
Group $RUN_GROUP"

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
DocumentRoot "$DOC"
<Directory "$DOC">
	# What INSTALL.server asks of a host for htdocs/.htaccess.
	AllowOverride FileInfo AuthConfig Indexes Options=ExecCGI,Indexes,SymLinksIfOwnerMatch
	Options None
	Require all granted
</Directory>
<FilesMatch "^\.ht">
	Require all denied
</FilesMatch>
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
		[ "$(readlink "$p/exe" 2>/dev/null)" = "$DOC/gpush.fcgi" ] &&
		    kill -KILL "${p#/proc/}" 2>/dev/null
	done
	return 0
}
"$APACHE2" -f "$T/httpd.conf" -k start >"$T/logs/start.log" 2>&1
on_exit apache_stop
on_exit "[ \$TAP_FAILED -eq 0 ] || grep -v AH01630 '$T/logs/error.log' | tail -n 30 | diag; diag <'$T/logs/start.log'"
URL="http://127.0.0.1:$PORT/notifications"
wait_http "$URL" 15
ok $? "apache2 ($MODE, mpm_$MPM) answers on 127.0.0.1:$PORT" || { done_testing; exit 1; }

probes
robots
run_sender "'$APACHE2' -f '$T/httpd.conf' -k graceful && sleep 1"
pid=$(cat "$T/run/httpd.pid" 2>/dev/null)
kill -0 "$pid" 2>/dev/null
ok $? "apache2 is still running after the graceful restart"
n=$(grep -c 'resuming normal operations' "$T/logs/error.log")
ok $([ "$n" -ge 2 ]; echo $?) "apache2 did restart ($n starts in its error log)"
if [ "$MODE" = fcgid ]; then
	n=$(grep -c 'POST /notifications' "$T/logs/access.log")
	note "$n POSTs in the access log"
fi
not_served "${LEAK_PATHS[@]}"
data_modes
done_testing
