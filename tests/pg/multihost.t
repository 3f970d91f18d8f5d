#!/bin/bash
# tests/pg/multihost.t -- two hosts behind a balancer, one PostgreSQL
# (issue 14): two lighttpd + gpush.fcgi pools on their own loopback ports
# (GPUSH_DATABASE in bin-environment, the handler's role gpush_handler),
# HAProxy in front (round-robin, health checks), one private PostgreSQL.
# The Google-like sender (retries, re-sent and concurrent duplicates)
# delivers thousands of notifications over many channels while the test
# kills -9 host 1's handler processes, stops host 2 entirely (the balancer
# fails over) and restarts PostgreSQL (fast shutdown, then start), and
# `gpush tail --cursor` runs again and again.  In the end every
# acknowledged notification is in the table exactly once and tail saw
# each row once.  Every server is stopped on exit.
#
#   MH_CHANNELS (100), MH_EVENTS (30), MH_PACE (0.1 s between a sender
#   thread's deliveries; 16 threads): the load, about 3000 notifications
#   over some 25 s, so that the faults fall inside it.
. "$(dirname "$0")/../server/lib.sh"
. "$REPO/tests/lib/pg.sh"
need_handler
TOOL=${GPUSH_TOOL:-$REPO/tool/gpush}
[ -x "$TOOL" ] || { echo "1..0 # SKIP no tool at $TOOL (run make first)"; exit 0; }
need_pkgs lighttpd:lighttpd haproxy:haproxy psql:postgresql-client
why=$(python3 "$PG_PY" available) || { echo "1..0 # SKIP $why"; exit 0; }
SENDER_CHANNELS=${MH_CHANNELS:-100}
SENDER_EVENTS=${MH_EVENTS:-30}
PLANNED=$((SENDER_CHANNELS * (SENDER_EVENTS + 1)))

make_tmp multihost
TOP=$T

# ---- the database: schema, roles -------------------------------------------
pg_start || bail "PostgreSQL does not start"
pg_psql "CREATE DATABASE gpush" >/dev/null || bail "CREATE DATABASE"
ADMIN="host=127.0.0.1 port=$PG_PORT dbname=gpush user=postgres"
"$TOOL" db roles >"$TOP/roles.sql" 2>"$TOP/roles.err" &&
    psql -X -q -v ON_ERROR_STOP=1 -f "$TOP/roles.sql" "$ADMIN" >>"$TOP/roles.err" 2>&1
ok $? "gpush db roles | psql: the roles gpush_handler and gpush_tool" || diag <"$TOP/roles.err"
pg_psql "CREATE ROLE gpush_web LOGIN IN ROLE gpush_handler;
         CREATE ROLE gpush_admin LOGIN IN ROLE gpush_tool" postgres gpush >/dev/null
out=$("$TOOL" --database "$ADMIN" db init 2>&1)
ok $? "gpush db init: $out"
WEBDB="host=127.0.0.1 port=$PG_PORT dbname=gpush user=gpush_web"
TOOLDB="host=127.0.0.1 port=$PG_PORT dbname=gpush user=gpush_admin"
# The channels: the sender's registry, imported by the tool's role.
make_data "$TOP/seed"
out=$("$TOOL" -d "$TOP/seed" --database "$TOOLDB" import 2>&1)
ok $? "gpush import puts the registry into the database: $out"
n=$(pg_psql "SELECT count(*) FROM gpush.channels" postgres gpush)
is "$n" $((SENDER_CHANNELS + 1)) "the database knows every channel"
rows() { pg_psql "SELECT count(*) FROM gpush.notifications" postgres gpush 2>/dev/null || echo -1; }

# ---- two hosts: lighttpd + gpush.fcgi, 4 processes each -------------------
declare -a HT HPORT HPID
host_setup() {      # host_setup N: its own directory, port and config
	T=$TOP/h$1
	mkdir -p "$T"
	lighttpd_setup 4
	sed -i "s|\"bin-environment\" => ( \"GPUSH_DIR\" => var.gpush_dir )|\"bin-environment\" => ( \"GPUSH_DATABASE\" => \"$WEBDB\" )|" \
	    "$T/gpush.conf"
	grep -q "GPUSH_DATABASE" "$T/gpush.conf" ||
	    bail "conf/lighttpd.conf: no bin-environment line to change"
	cp "$REPO/htdocs/robots.txt" "$DOC/robots.txt"   # the health check
	HT[$1]=$T
	HPORT[$1]=$PORT
	T=$TOP
}
host_start() {
	lighttpd -tt -f "${HT[$1]}/lighttpd.conf" >"${HT[$1]}/conftest.out" 2>&1 ||
	    { diag <"${HT[$1]}/conftest.out"; bail "host $1: lighttpd -tt"; }
	lighttpd -D -f "${HT[$1]}/lighttpd.conf" >>"${HT[$1]}/logs/stdout.log" 2>&1 &
	HPID[$1]=$!
	wait_http "http://127.0.0.1:${HPORT[$1]}/robots.txt" 15
	ok $? "host $1 answers on 127.0.0.1:${HPORT[$1]}"
}
host_stop() { T=${HT[$1]} LPID=${HPID[$1]} lighttpd_stop; }
handlers_of() {     # the handler processes of host N
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = "${HT[$1]}/bin/gpush.fcgi" ] &&
		    echo "${p#/proc/}"
	done
}
for h in 1 2; do
	host_setup $h
	on_exit "host_stop $h"
	host_start $h
done
on_exit "[ \$TAP_FAILED -eq 0 ] || tail -n 20 '${HT[1]}/logs/error.log' '${HT[2]}/logs/error.log' 2>/dev/null | diag"

# ---- HAProxy in front --------------------------------------------------------
HP=$(free_port)
cat >"$TOP/haproxy.cfg" <<EOF
global
	maxconn 512
defaults
	mode http
	timeout connect 1s
	timeout client 30s
	timeout server 30s
	# A connection refused (a host down) is tried again on the other one.
	retries 3
	option redispatch
frontend gpush
	bind 127.0.0.1:$HP
	default_backend hosts
backend hosts
	balance roundrobin
	option httpchk GET /robots.txt
	default-server inter 300ms fall 2 rise 2
	server h1 127.0.0.1:${HPORT[1]} check
	server h2 127.0.0.1:${HPORT[2]} check
EOF
haproxy -c -q -f "$TOP/haproxy.cfg" >"$TOP/haproxy.check" 2>&1
ok $? "haproxy accepts the configuration" || diag <"$TOP/haproxy.check"
haproxy -db -f "$TOP/haproxy.cfg" >"$TOP/haproxy.log" 2>&1 &
HAPID=$!
on_exit "kill -TERM $HAPID 2>/dev/null; sleep 0.2; kill -KILL $HAPID 2>/dev/null; wait $HAPID 2>/dev/null"
URL="http://127.0.0.1:$HP/notifications"
wait_http "http://127.0.0.1:$HP/robots.txt" 15
ok $? "haproxy answers on 127.0.0.1:$HP"
got=$(status GET "$URL")
is "$got" 405 "GET through the balancer reaches a handler (405)"

# ---- tail, again and again, in the background --------------------------------
tail_loop() {
	local n=0 fails=0
	while [ ! -e "$TOP/stop-tail" ] && [ $n -lt 3000 ]; do
		GPUSH_DATABASE="$TOOLDB" "$TOOL" tail --cursor "$TOP/tail.cursor" \
		    >>"$TOP/tailed.ndjson" 2>>"$TOP/tail.err" || fails=$((fails + 1))
		n=$((n + 1))
		sleep 0.2
	done
	echo "$n $fails" >"$TOP/tail.runs"
}
tail_loop &
TAILPID=$!
on_exit "touch '$TOP/stop-tail'; kill $TAILPID 2>/dev/null; wait $TAILPID 2>/dev/null"

# ---- the faults, as the rows come in -----------------------------------------
wait_rows() {       # wait_rows N: until N rows, 90 s at most
	local i
	for i in $(seq 900); do
		[ "$(rows)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
stamp() { echo "$1 $(date +%s.%N) $(rows)" >>"$TOP/events"; }
faults() {
	wait_rows $((PLANNED * 15 / 100))
	stamp kill9-start
	kill -KILL $(handlers_of 1) 2>/dev/null
	stamp kill9-end
	wait_rows $((PLANNED * 35 / 100))
	stamp host2-stop-start
	host_stop 2
	stamp host2-stop-end
	wait_rows $((PLANNED * 55 / 100))
	stamp pg-restart-start
	pg_restart >"$TOP/pg-restart.out" 2>&1
	stamp pg-restart-end
}
handlers1_before=$(handlers_of 1 | wc -l)
faults &
FAULTPID=$!
on_exit "kill $FAULTPID 2>/dev/null"

"$PYTHON" "$SENDER" send --url "$URL" --registry "$TOP/seed/channels.jsonl" \
    --max-channels "$SENDER_CHANNELS" --events "$SENDER_EVENTS" --threads 16 \
    --report "$TOP/report.json" --answers "$TOP/answers.log" \
    --max-time 100 --delivery-time 45 --attempts 20 --backoff-cap 2 \
    --pace "${MH_PACE:-0.1}" \
    2>"$TOP/sender.err"
diag <"$TOP/sender.err"
wait $FAULTPID
ok $? "the faults ran"
diag <"$TOP/events"
handlers1_after=$(handlers_of 1 | wc -l)
note "host 1 handler processes: $handlers1_before before kill -9, $handlers1_after at the end"
ok $([ "$(grep -c . "$TOP/events")" -eq 6 ]; echo $?) "kill -9, host 2 stopped, PostgreSQL restarted: all happened during the load"
touch "$TOP/stop-tail"
wait $TAILPID
# The last rows come once every older transaction has ended (an
# autovacuum ANALYZE, say): tail until it has them all, 20 s at most.
want=$(rows)
for i in $(seq 100); do
	GPUSH_DATABASE="$TOOLDB" "$TOOL" tail --cursor "$TOP/tail.cursor" \
	    >>"$TOP/tailed.ndjson" 2>>"$TOP/tail.err"
	rc=$?
	[ $rc -eq 0 ] && [ "$(wc -l <"$TOP/tailed.ndjson")" -ge "$want" ] && break
	sleep 0.2
done
ok $rc "the last tail runs succeed ($i)"
read -r TAIL_RUNS TAIL_FAILS <"$TOP/tail.runs"
note "tail ran $((TAIL_RUNS + 1)) times, $TAIL_FAILS of them failed (the database restarting)"
[ -s "$TOP/tail.err" ] && sort "$TOP/tail.err" | uniq -c | head -5 | diag

# ---- the figures and the checks ------------------------------------------------
pg_psql "SELECT channel_id || ' ' || message_number FROM gpush.notifications" \
    postgres gpush >"$TOP/rows.txt"
ok $? "the table is read"
"$PYTHON" - "$TOP" <<'EOF' >"$TOP/verdict"
import json, sys
top = sys.argv[1]
rep = json.load(open(top + "/report.json"))
rows = [l.split() for l in open(top + "/rows.txt") if l.strip()]
rowset = {(c, int(n)) for c, n in rows}
acked = {(a["channel"], a["number"]) for a in rep["acked"]}
planned = acked | {(a["channel"], a["number"]) for a in rep["failed"] + rep["unsent"]}
tailed = []
for l in open(top + "/tailed.ndjson"):
    r = json.loads(l)
    tailed.append((r["channel_id"], r["message_number"]))
ev = {}
for l in open(top + "/events"):
    k, t, _ = l.split()
    ev[k] = float(t)
s503 = r503 = 0
for l in open(top + "/answers.log"):
    t, st = l.split()[:2]
    if st == "503":
        s503 += 1
        if ev.get("pg-restart-start", 0) <= float(t) <= ev.get("pg-restart-end", 0) + 5:
            r503 += 1
f = {
    "sent": rep["sent"], "planned": rep["planned"], "acknowledged": rep["acked_count"],
    "retried": rep["retried"], "duplicates_sent": rep["duplicates_sent"],
    "concurrent_duplicates": rep["concurrent_duplicates"],
    "503_during_restart": r503, "503_all": s503,
    "statuses": rep["status_counts"],
    "rows": len(rows), "row_duplicates": len(rows) - len(rowset),
    "missing": len(acked - rowset), "rows_not_sent": len(rowset - planned),
    "tailed": len(tailed), "tail_repeats": len(tailed) - len(set(tailed)),
    "tail_missing": len(rowset - set(tailed)), "tail_extra": len(set(tailed) - rowset),
    "failed": rep["failed_count"], "unsent": rep["unsent_count"],
}
print(json.dumps(f))
EOF
ok $? "the figures are computed"
V=$(cat "$TOP/verdict")
fig() { "$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$V" "$1"; }
note "figures: sent $(fig sent), acknowledged $(fig acknowledged) of $(fig planned), 503s during the restart $(fig 503_during_restart) (all 503s $(fig 503_all)), retried $(fig retried), duplicates sent $(fig duplicates_sent) ($(fig concurrent_duplicates) concurrent), rows $(fig rows), duplicates $(fig row_duplicates), missing $(fig missing), tail saw $(fig tailed) (repeats $(fig tail_repeats), missing $(fig tail_missing))"
note "statuses: $(fig statuses)"
ok $([ "$(fig acknowledged)" -ge 1000 ]; echo $?) "thousands acknowledged ($(fig acknowledged))"
is "$(fig failed)/$(fig unsent)" "0/0" "every delivery acknowledged in the end, through every fault (failed/unsent)"
is "$(fig missing)" 0 "no acknowledged notification is missing from the table"
is "$(fig row_duplicates)" 0 "no notification is in the table twice"
is "$(fig rows_not_sent)" 0 "no row that was not sent"
is "$(fig rows)" "$(fig acknowledged)" "rows = acknowledged"
is "$(fig tail_repeats)" 0 "tail --cursor, run $((TAIL_RUNS + 1)) times, gave no row twice"
is "$(fig tail_missing)/$(fig tail_extra)" "0/0" "tail --cursor gave every row (missing/extra)"
LABEL=multihost
while IFS= read -r line; do
	case $line in
	PASS:*) pass "${line#PASS: }" ;;
	FAIL:*) fail "${line#FAIL: }" ;;
	*) echo "$line" ;;
	esac
done < <("$PYTHON" "$CHECKLOG" --report "$TOP/report.json" --log "$TOP/tailed.ndjson" \
    --registry "$TOP/seed/channels.jsonl" --label "tail's lines")
done_testing
