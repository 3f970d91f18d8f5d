#!/bin/bash
# tests/pg/watch.t -- gpush watch and stop with --database (issue 14):
# the stand-in Google (tests/google/standin.py) opens the channels and
# delivers their sync messages through lighttpd + gpush.fcgi whose
# GPUSH_DATABASE names the same private PostgreSQL; stop removes the
# rows.  Every server is stopped on any exit.
. "$(dirname "$0")/../server/lib.sh"
. "$REPO/tests/lib/pg.sh"
need_handler
need_pkgs lighttpd:lighttpd curl:curl
TOOL=${GPUSH_TOOL:-$REPO/tool/gpush}
[ -x "$TOOL" ] || { echo "1..0 # SKIP no tool at $TOOL (run make first)"; exit 0; }
"$PYTHON" -c 'import cryptography' 2>/dev/null ||
    /usr/bin/python3 -c 'import cryptography' 2>/dev/null ||
    { echo "1..0 # SKIP no python3-cryptography for the stand-in"; exit 0; }
why=$(python3 "$PG_PY" available) || { echo "1..0 # SKIP $why"; exit 0; }
make_tmp pgwatch
pg_start || bail "PostgreSQL does not start"
pg_psql "CREATE DATABASE gpush" >/dev/null
DB="host=127.0.0.1 port=$PG_PORT dbname=gpush user=postgres"
"$TOOL" --database "$DB" db init >/dev/null
ok $? "db init"
q() { pg_psql "$1" postgres gpush; }

lighttpd_setup 2
sed -i "s|\"bin-environment\" => ( \"GPUSH_DIR\" => var.gpush_dir )|\"bin-environment\" => ( \"GPUSH_DATABASE\" => \"$DB\" )|" \
    "$T/gpush.conf"
grep -q GPUSH_DATABASE "$T/gpush.conf" || bail "no bin-environment line to change"
LPORT=$PORT
lighttpd_start

G=$T/google
"$PYTHON" "$REPO/tests/google/standin.py" --dir "$G" --max-seconds 300 \
    --deliver "https://hooks.example.com=http://127.0.0.1:$LPORT" >"$G.out" 2>&1 &
SPID=$!
on_exit "kill -TERM $SPID 2>/dev/null"
for i in $(seq 150); do [ -s "$G/base" ] && break; sleep 0.2; done
B=$(cat "$G/base" 2>/dev/null)
[ -n "$B" ]
ok $? "the stand-in listens ($B)" || done_testing
SI() { curl -s --max-time 10 --cacert "$G/ca.pem" -X "$1" "$B$2"; }
GOPT=(--credentials "$G/sa.json" --cacert "$G/ca.pem" --subject admin@example.com)
ADDR=https://hooks.example.com/notifications

gp() {     # gp ARGS: the tool on the database, bounded; OUT ERR RC
	timeout 120 "$TOOL" --database "$DB" "$@" >"$T/out" 2>"$T/err" </dev/null
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}
gp watch "$B/admin/directory/v1/users/watch?domain=example.com&event=add" \
    "$B/drive/v3/files/F1/watch" "$B/drive/v3/files/F2/watch" \
    --address "$ADDR" --ttl 1h "${GOPT[@]}"
is "$RC" 0 "watch --database: three channels, exit 0"
[ "$RC" -eq 0 ] || echo "$ERR" | diag
is "$(q "SELECT count(*) FROM gpush.channels")" 3 "three channel rows"
is "$(q "SELECT count(*) FROM gpush.channels WHERE resource_id IS NOT NULL AND line LIKE '%\"gpushWatch\":\"https://127.0.0.1%'")" 3 \
    "each with Google's resourceId and its watch URL"
for i in $(seq 100); do
	[ "$(q "SELECT count(*) FROM gpush.notifications WHERE resource_state = 'sync'")" -ge 3 ] && break
	sleep 0.1
done
is "$(q "SELECT count(*) FROM gpush.notifications WHERE resource_state = 'sync'")" 3 \
    "the stand-in's sync messages came through lighttpd into the database"
gp list
is "$(echo "$OUT" | grep -c 'last=1 accepted=1')" 3 "list: each channel has its sync"
gp check
is "$RC:$OUT" "0:" "check: nothing to report"
# renew and health on the database (issue 11 on issue 14's store)
gp health
is "$RC" 0 "health --database: exit 0"
like "$OUT" '^OK: 3 channel' "health --database: OK, the three channels"
OLD=$(q "SELECT id FROM gpush.channels ORDER BY id")
# The renew lock is the database's (every host's cron sees it): held by
# another session, renew leaves the work to it.
pg_psql "SELECT pg_advisory_lock(hashtext('gpush renew')), pg_sleep(4)" postgres gpush \
    >/dev/null 2>&1 &
LP=$!
for i in $(seq 50); do
	[ "$(q "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" -ge 1 ] && break
	sleep 0.1
done
gp renew --within 2h "${GOPT[@]}"
is "$RC" 0 "renew --database while another run holds the lock: exit 0"
like "$ERR" "another 'gpush renew' is running" "  and says so"
wait $LP
gp renew --within 2h "${GOPT[@]}"
is "$RC" 0 "renew --database: the three renewed, exit 0"
[ "$RC" -eq 0 ] || echo "$ERR" | diag
NEW=$(q "SELECT id FROM gpush.channels ORDER BY id")
is "$(q "SELECT count(*) FROM gpush.channels")" 3 "renew: three channels after the handover"
is "$(comm -12 <(echo "$OLD") <(echo "$NEW") | grep -c .)" 0 "renew: all three are new channels"
is "$(q "SELECT count(*) FROM gpush.notifications WHERE resource_state = 'sync'")" 6 \
    "renew: the replacements' syncs came into the database"
IDS=$(q "SELECT id FROM gpush.channels ORDER BY generation")
gp stop $IDS "${GOPT[@]}"
is "$RC" 0 "stop --database: exit 0"
[ "$RC" -eq 0 ] || echo "$ERR" | diag
is "$(q "SELECT count(*) FROM gpush.channels")" 0 "stop: the rows are gone"
stopped=$(SI GET /_standin/channels | "$PYTHON" -c 'import json,sys; print(sum(1 for c in json.load(sys.stdin) if c["stopped"]))')
is "$stopped" 6 "the stand-in saw all six stopped (three by renew, three by stop)"
is "$(q "SELECT count(*) FROM gpush.notifications")" 6 "the rows of notifications stay"
done_testing
