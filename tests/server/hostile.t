#!/bin/bash
# tests/server/hostile.t -- hostile HTTP through the real servers.  TAP.
#
# One run per set-up, each a private server on a free loopback port built
# the way the other tests build it (lighttpd from conf/lighttpd.conf by
# tests/lib/lighttpd.sh, as for lighttpd.t; Apache + mod_fcgid, Apache + mod_cgi from htdocs/.htaccess
# and Apache + mod_fcgid from conf/apache-gpush.conf through apache.sh):
#
#  1. hostile.py cases: raw requests (Proxy:, huge, negative, malformed or
#     missing Content-Length, chunked bodies, header names with "_",
#     merged tokens and numbers, control bytes and bad UTF-8 in every
#     X-Goog-* header, over-long ids and tokens) must each get their 4xx,
#     from the server or the handler, promptly also when the declared body
#     never arrives, and none may be logged.
#  2. Slow clients (not for the apache-gpush.conf set-up, which is Apache
#     + mod_fcgid again): slowhttptest in slowloris (-H) and slow-body (-B)
#     mode holds HOSTILE_SLOW_CONN connections while hostile.py legit sends
#     genuine notifications, each once, that must get 2xx within 5 s and be
#     logged exactly once; then once more after the attack.
#
# Apache runs with mod_reqtimeout as Debian enables it by default
# (/etc/apache2/mods-available/reqtimeout.conf), then with the server-wide
# slow-client block of conf/apache-gpush.conf (MPM sizes above the
# attack's connection count, ListenBacklog, a tighter RequestReadTimeout),
# as a server given that file by a2enconf has it; without that block the
# genuine notifications get no answer during the attack (all Apache
# workers hold slow connections).  The sender does not retry.  Known
# failures are TAP TODO tests, with the reason.  The cross-server table
# of statuses is printed at the end.
#
# Environment: as lib.sh, and HOSTILE_SLOW_CONN (256), HOSTILE_SLOW=0 to
# skip the slow clients.
. "$(dirname "$0")/lib.sh"
need_handler
need_pkgs lighttpd:lighttpd apache2:apache2 \
    /usr/lib/apache2/modules/mod_fcgid.so:libapache2-mod-fcgid curl:curl \
    slowhttptest:slowhttptest ss:iproute2
HOSTILE="$REPO/tests/server/hostile.py"
SLOW_CONN=${HOSTILE_SLOW_CONN:-256}
MODS=${APACHE_MODULES:-/usr/lib/apache2/modules}
make_tmp hostile
TOP=$T
TABLE=$TOP/table.tsv
: >"$TABLE"

# The server-wide slow-client settings of conf/apache-gpush.conf (MPM
# sizes, ListenBacklog, RequestReadTimeout), for every Apache set-up: a
# server facing slow clients needs them whatever serves the endpoint.
SERVER_WIDE=$(sed -n '/^# ---- slow clients: server-wide (begin)/,/^# ---- slow clients: server-wide (end)/p' \
    "$REPO/conf/apache-gpush.conf")
[ -n "$SERVER_WIDE" ] ||
    bail "conf/apache-gpush.conf has no slow clients: server-wide block"

# ---- shared by the set-ups (each runs in a subshell) -----------------------
todo() {        # todo OK|NOTOK DESCRIPTION REASON
	TAP_N=$((TAP_N + 1))
	echo "$([ "$1" = OK ] && echo ok || echo not ok) $TAP_N - $2 # TODO $3"
}
tapify() {      # hostile.py's PASS/FAIL/TODO lines as TAP
	local line d
	while IFS= read -r line; do
		d=${line#*: }
		d=${d//#/No.}
		case $line in
		PASS:*) pass "$d" ;;
		FAIL:*) fail "$d" ;;
		TODO-PASS:*) todo OK "${d% -- *}" "${d##* -- }" ;;
		TODO:*) todo NOTOK "${d% -- *}" "${d##* -- }" ;;
		*) echo "$line" ;;
		esac
	done
}

# A channel with the longest id (64) and token (256) Google allows.
add_long_channel() {
	"$PYTHON" -c 'import json
print(json.dumps({"kind": "api#channel", "id": "L" * 60 + "long",
    "resourceId": "res-long", "resourceUri": "https://x/long",
    "token": "T" * 252 + "long"}, separators=(",", ":")))' \
	    >>"$DATA/channels.jsonl"
}

run_cases() {   # run_cases LABEL
	add_long_channel
	tapify < <("$PYTHON" "$HOSTILE" cases --url "$URL" \
	    --registry "$DATA/channels.jsonl" --log "$DATA/notifications.ndjson" \
	    --label "$1" --table "$TABLE")
}

# slow_phase FLAG NAME NUMBER-BASE [TODO-REASON] -- genuine notifications
# while slowhttptest FLAG holds $SLOW_CONN connections
slow_phase() {
	local flag=$1 name=$2 base=$3 why=${4:-} spid conn closed
	(cd "$T" && exec stdbuf -oL slowhttptest "$flag" -c "$SLOW_CONN" -r 128 \
	    -i 2 -l 30 -x 16 -s 8192 -p 3 -u "$URL" -v 1) >"$T/slow-$name.out" 2>&1 &
	spid=$!
	on_exit "kill $spid 2>/dev/null; true"
	sleep 2                         # 128 connections a second
	tapify < <("$PYTHON" "$HOSTILE" legit --url "$URL" \
	    --registry "$DATA/channels.jsonl" --log "$DATA/notifications.ndjson" \
	    --label "$LABEL, $name" --duration 3 --timeout 5 \
	    --number-base "$base" ${why:+--todo "$why"})
	# The attack's connections still open (seen from our side), and those
	# the server closed (slowhttptest's count; a server that answers
	# slow bodies from the headers closes them at once).
	conn=$(ss -Htn state established "( dport = :$PORT )" | wc -l)
	kill "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	sed 's/\x1b\[[0-9;]*[a-zA-Z]//g' "$T/slow-$name.out" >"$T/slow-$name.txt"
	closed=$(awk '$1 == "closed:" && $2 > m { m = $2 } END { print m + 0 }' \
	    "$T/slow-$name.txt")
	if grep -q 'Exit status: No open connections left' "$T/slow-$name.txt"; then
		pass "$LABEL, $name: the server answered slowhttptest's requests at once (no connection left open)"
	else
		ok $([ $((conn + closed)) -ge $((SLOW_CONN / 4)) ]; echo $?) \
		    "$LABEL, $name: slowhttptest held its connections ($conn open at the end, $closed closed by the server)"
	fi
	grep -E '^(test type|slow HTTP test status|connected|closed|service|Exit)' \
	    "$T/slow-$name.txt" | tail -n 6 | diag
	sleep 0.5
	tapify < <("$PYTHON" "$HOSTILE" legit --url "$URL" \
	    --registry "$DATA/channels.jsonl" --log "$DATA/notifications.ndjson" \
	    --label "$LABEL, after $name" --duration 0.5 --timeout 5 \
	    --number-base $((base + 50000)))
}

slow_phases() {  # slow_phases [TODO-REASON]
	if [ "${HOSTILE_SLOW:-1}" = 0 ]; then
		note "HOSTILE_SLOW=0: no slow clients"
		return 0
	fi
	slow_phase -H slowloris 100000 "${1:-}"
	slow_phase -B slow-body 200000 "${1:-}"
}

# ---- lighttpd (as lighttpd.t builds it) -----------------------------------
setup_lighttpd() {
	make_tmp hostile-lighttpd
	lighttpd_setup 4
	lighttpd_start
}

# apache_reap PID CONF -- kill what is left of the Apache started with CONF:
# its parent PID, and any process whose command line names CONF
apache_reap() {
	local i p
	for i in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null
	for p in /proc/[0-9]*; do
		tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "-f $2 " &&
		    kill -KILL "${p#/proc/}" 2>/dev/null
	done
	return 0
}

# run_setup NAME -- one set-up in a subshell, its TAP numbered on from ours
run_setup() {
	local state=$TOP/state.$1 n f
	rm -f "$state"
	echo "# ---- $1 (at ${SECONDS}s)"
	(
		TAP_N_START=$TAP_N
		TAP_STATE=$state
		case $1 in
		lighttpd)
			. "$REPO/tests/server/lib.sh"
			setup_lighttpd
			run_cases lighttpd
			LABEL=lighttpd
			slow_phases
			;;
		fcgid|cgi|conf)
			MODE=$1 LAYOUT=htaccess
			[ "$1" = conf ] && MODE=fcgid LAYOUT=conf
			APACHE_SETUP_ONLY=1
			# Debian's reqtimeout.conf, then the template's
			# server-wide slow-client block, in the order Debian
			# reads them (mods-enabled/, then conf-enabled/).
			APACHE_EXTRA_CONF="LoadModule reqtimeout_module $MODS/mod_reqtimeout.so
RequestReadTimeout header=20-40,minrate=500
RequestReadTimeout body=10,minrate=500
$SERVER_WIDE"
			. "$REPO/tests/server/apache.sh"
			# Last of all on exit, after apache_stop: make sure this
			# Apache is gone (with slow connections open its stop can
			# take long, and it runs detached from us).
			EXIT_CMDS=("apache_reap $(cat "$T/run/httpd.pid") '$T/httpd.conf'"
			    "${EXIT_CMDS[@]}")
			run_cases "$1"
			LABEL=$1
			[ "$1" = conf ] || slow_phases
			;;
		esac
		done_testing
	)
	if read -r n f <"$state" 2>/dev/null; then
		TAP_N=$n
		TAP_FAILED=$((TAP_FAILED + f))
	else
		fail "the $1 set-up ran to its end"
	fi
}

for s in ${HOSTILE_SETUPS:-lighttpd fcgid cgi conf}; do
	run_setup "$s"
done
echo "# ---- statuses per set-up (- is no answer in time)"
"$PYTHON" "$HOSTILE" table "$TABLE" | diag
done_testing
