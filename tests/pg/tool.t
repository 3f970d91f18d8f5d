#!/bin/bash
# tests/pg/tool.t -- the channel tool against the PostgreSQL store (issue
# 14): new, update, list, show, stop-body, due, expire, remove, check,
# tail and rotate with --database / GPUSH_DATABASE, the handler (plain
# CGI) writing to the same database; then export -> import round trips
# between a data directory and a database: identical records, and a
# second run adds nothing.  A private PostgreSQL (tests/lib/pg.sh) on
# loopback, always stopped.
. "$(dirname "$0")/../tool/lib.sh"
. "$REPO/tests/lib/pg.sh"
need_tool
need_handler
PY3=${PY3:-python3}
why=$(python3 "$PG_PY" available) || { echo "1..0 # SKIP $why"; exit 0; }
pg_start || bail "PostgreSQL does not start"
pg_psql "CREATE DATABASE gpush" >/dev/null
pg_psql "CREATE DATABASE gpush2" >/dev/null
DB="host=127.0.0.1 port=$PG_PORT dbname=gpush user=postgres"
DB2="host=127.0.0.1 port=$PG_PORT dbname=gpush2 user=postgres"
run --database "$DB" db init
is "$RC" 0 "db init"
run --database "$DB2" db init
is "$RC" 0 "db init (a second database)"
q() { pg_psql "$1" postgres "${2:-gpush}"; }

# ---- the registry commands -------------------------------------------------
run --database "$DB" new --address https://example.com/gpush --id ch-a --ttl 3600
is "$RC" 0 "new --database: exit 0"
TOKEN=$(json_get "$OUT" token)
is "$(q "SELECT count(*) FROM gpush.channels WHERE id = 'ch-a'")" 1 "new: the channel is a row"
export GPUSH_DATABASE=$DB
run new --address https://example.com/gpush --id ch-b
is "$RC" 0 "new with GPUSH_DATABASE: exit 0"
run new --address https://example.com/gpush --id ch-a
is "$RC" 1 "new: an id that is there already is refused"
RID=B4ibMJiIhTjAQd7Ff2K2bexk8G4
RURI='https://admin.googleapis.com/admin/directory/v1/users?domain=d&event=add'
EXP=$((($(date +%s) + 3600) * 1000))
printf '{"kind":"api#channel","id":"ch-a","resourceId":"%s","resourceUri":"%s","expiration":"%s"}' \
    "$RID" "$RURI" "$EXP" >"$T/watch.json"
run update "$T/watch.json"
is "$RC" 0 "update: exit 0"
run show ch-a
like "$OUT" "\"resourceId\": *\"$RID\"" "show: the merged resourceId"
like "$OUT" '"token": *"\(set\)"' "show: the token masked"
unlike "$OUT$ERR" "$TOKEN" "show: never the token"
run stop-body ch-a
is "$OUT" "{\"id\":\"ch-a\",\"resourceId\":\"$RID\"}" "stop-body"

# ---- the handler (plain CGI) on the same database ---------------------------
post() {     # post STATE NUMBER [ID] -- one notification; HOUT its output
	HOUT=$(env -i PATH="$PATH" REQUEST_METHOD=POST CONTENT_LENGTH=0 \
	    GPUSH_DATABASE="$DB" HTTP_X_GOOG_CHANNEL_ID="${3:-ch-a}" \
	    HTTP_X_GOOG_CHANNEL_TOKEN="$TOKEN" \
	    HTTP_X_GOOG_RESOURCE_ID="$RID" HTTP_X_GOOG_RESOURCE_URI="$RURI" \
	    HTTP_X_GOOG_RESOURCE_STATE="$1" HTTP_X_GOOG_MESSAGE_NUMBER="$2" \
	    timeout 20 "$FCGI" </dev/null 2>>"$T/handler.err")
}
post sync 1
like "$HOUT" '^Status: 200' "the handler accepts into the database"
post exists 5
post exists 5
post exists 9
is "$(q "SELECT count(*) FROM gpush.notifications")" 3 "three rows (the duplicate added nothing)"
run list
like "$OUT" "^ch-a resource=$RID expires=.* last=9 accepted=3" "list: last number and count from the rows"
# GPUSH_LIBPQ, for a libpq the loader would not find (issue 12), used:
# here the system's own, by its path.
LIBPQ=$(ldconfig -p | awk '$1 == "libpq.so.5" { print $NF; exit }')
GPUSH_LIBPQ=$LIBPQ run list
like "$RC:$OUT" "^0:ch-a resource=$RID .* accepted=3" "list with GPUSH_LIBPQ=$LIBPQ"
run list --json
is "$(echo "$OUT" | grep '"ch-a"' | $PY3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(d["last_number"], d["accepted"])')" "9 3" "list --json"
run tail --cursor "$T/cur"
is "$($PY3 -c 'import json,sys; print(" ".join(str(json.loads(l)["message_number"]) for l in sys.stdin))' <<<"$OUT")" "1 5 9" "tail: the three rows in order"
is "$OUT" "$(q "SELECT line FROM gpush.notifications ORDER BY id")" "tail: each row's line as stored"
post exists 12
run tail --cursor "$T/cur"
is "$(json_get "$OUT" message_number)" 12 "tail: then only the new row"
run tail
is "$(echo "$OUT" | wc -l)" 4 "tail without a cursor: every row"

run due --within 2h
like "$OUT" "ch-a" "due --within 2h: the channel expiring in 1 h"
run due --within 30m
unlike "$OUT" "ch-a" "due --within 30m: not that one"
printf '{"id":"ch-b","resourceId":"r-b","expiration":"1384823632000"}' >"$T/old.json"
run update "$T/old.json"
run expire
like "$OUT" "removed ch-b" "expire: removes the expired channel"
is "$(q "SELECT count(*) FROM gpush.channels WHERE id = 'ch-b'")" 0 "expire: its row is gone"
run check
is "$RC:$OUT" "0:" "check: nothing to report"
q "INSERT INTO gpush.channels (id, record, line) VALUES ('ch-notoken', '{}', '{\"id\":\"ch-notoken\"}')" >/dev/null
run check
is "$RC" 1 "check: exit 1 for a channel without token"
like "$OUT$ERR" "ch-notoken" "check names it"
run rotate
is "$RC" 1 "rotate on a database: refused, exit 1"
like "$ERR" "database" "rotate says why: $ERR"
run remove ch-notoken
is "$RC" 0 "remove: exit 0"
is "$(q "SELECT count(*) FROM gpush.channels WHERE id = 'ch-notoken'")" 0 "remove: the row is gone"
unset GPUSH_DATABASE

# ---- export -> import round trips ----------------------------------------
# A data directory the handler wrote: registry, a rotated log and the
# current one, with bodies, changed and expirations (the sender's mix).
fresh_dir src
$PY3 "$REPO/tests/sender/gsender.py" registry --out "$D/channels.jsonl" --channels 6 --seed 7
SRC=$D
pfile() {      # pfile ID TOKEN RID RURI STATE N [CHANGED] [BODY]
	local body=${8:-}
	HOUT=$(printf '%s' "$body" | env -i PATH="$PATH" REQUEST_METHOD=POST \
	    CONTENT_LENGTH=$(printf '%s' "$body" | wc -c) GPUSH_DIR="$SRC" HTTP_X_GOOG_CHANNEL_ID="$1" \
	    HTTP_X_GOOG_CHANNEL_TOKEN="$2" HTTP_X_GOOG_RESOURCE_ID="$3" \
	    HTTP_X_GOOG_RESOURCE_URI="$4" HTTP_X_GOOG_RESOURCE_STATE="$5" \
	    HTTP_X_GOOG_MESSAGE_NUMBER="$6" ${7:+HTTP_X_GOOG_CHANGED="$7"} \
	    HTTP_X_GOOG_CHANNEL_EXPIRATION="Tue, 29 Oct 2030 20:32:02 GMT" \
	    timeout 20 "$FCGI" 2>>"$T/handler.err")
}
n=0
while IFS=$'\t' read -r id tok rid ruri; do
	pfile "$id" "$tok" "$rid" "$ruri" sync 1
	pfile "$id" "$tok" "$rid" "$ruri" exists 3 "content,properties"
	[ $n -eq 2 ] && "$G" -d "$SRC" rotate >/dev/null
	pfile "$id" "$tok" "$rid" "$ruri" update 7 "" \
	    '{"kind":"x","n":12345678901234567890123,"s":"Zoë \u2028 ✓","a":[1,2.50,null]}'
	n=$((n + 1))
done < <($PY3 -c 'import json,sys
for l in open(sys.argv[1]):
    c = json.loads(l); print("\t".join((c["id"], c["token"], c["resourceId"], c["resourceUri"])))' "$SRC/channels.jsonl")
SRCLINES=$(cat "$SRC/notifications.ndjson.1" "$SRC/notifications.ndjson")
is "$(echo "$SRCLINES" | wc -l)" 18 "the source directory: 18 lines, in a rotated log and the current one"

run -d "$SRC" --database "$DB2" import
is "$RC" 0 "import: exit 0"
like "$OUT" "channels: 6 added, 0 already there; notifications: 18 added, 0 already there" "import: $OUT"
run -d "$SRC" --database "$DB2" import
like "$OUT" "channels: 0 added, 6 already there; notifications: 0 added, 18 already there" "import again adds nothing: $OUT"
is "$(q "SELECT count(*) FROM gpush.notifications" gpush2)" 18 "18 rows"
run --database "$DB2" tail
is "$OUT" "$SRCLINES" "the database's rows are the directory's lines, byte for byte, in order"
is "$(q "SELECT line FROM gpush.channels ORDER BY generation" gpush2)" "$(cat "$SRC/channels.jsonl")" \
    "the database's channels are the registry's lines"

fresh_dir back
run -d "$D" --database "$DB2" export
is "$RC" 0 "export into an empty directory: exit 0"
like "$OUT" "channels: 6 added, 0 already there; notifications: 18 added, 0 already there" "export: $OUT"
is "$(cat "$D/notifications.ndjson")" "$SRCLINES" "export: the same 18 lines, byte for byte"
is "$(sort "$D/channels.jsonl")" "$(sort "$SRC/channels.jsonl")" "export: the same registry"
run -d "$D" --database "$DB2" export
like "$OUT" "notifications: 0 added, 18 already there" "export again adds nothing: $OUT"
is "$(wc -l <"$D/notifications.ndjson")" 18 "still 18 lines"
run -d "$D" list
like "$OUT" "last=7 accepted=3" "the directory's dedup state knows the exported notifications"
# A retry of an exported notification, now at the directory: a duplicate.
SRC=$D
IFS=$'\t' read -r id tok rid ruri < <($PY3 -c 'import json,sys
c = json.loads(open(sys.argv[1]).readline()); print("\t".join((c["id"], c["token"], c["resourceId"], c["resourceUri"])))' "$D/channels.jsonl")
pfile "$id" "$tok" "$rid" "$ruri" exists 3 "content,properties"
like "$HOUT" '^Status: 200' "a retry of an exported notification: 200"
is "$(wc -l <"$D/notifications.ndjson")" 18 "... and nothing new (a duplicate)"

# The handler's rows of the first database go out and into the second.
fresh_dir mix
run -d "$D" --database "$DB" export
like "$OUT" "notifications: 4 added" "export of the handler's rows: $OUT"
is "$(cat "$D/notifications.ndjson")" "$(q "SELECT line FROM gpush.notifications ORDER BY id")" \
    "the handler's rows, exported: identical lines"
run -d "$D" --database "$DB2" import
like "$OUT" "channels: 1 added.*notifications: 4 added" "and imported into the other database: $OUT"

# Lines of a channel that is no longer in the registry are not lost: they
# go in as rows of no channel (generation 0), once.
fresh_dir gone
cp "$SRC/channels.jsonl" "$D/"
sed 's/"channel_id":"[^"]*"/"channel_id":"gone-channel"/' "$SRC/notifications.ndjson" | head -3 \
    >"$D/notifications.ndjson"
run -d "$D" --database "$DB2" import
is "$RC" 0 "import of lines whose channel is gone: exit 0"
like "$OUT" "notifications: 3 added \(3 of channels no longer in the registry\)" "... kept: $OUT"
run -d "$D" --database "$DB2" import
like "$OUT" "notifications: 0 added, 3 already there" "... once: $OUT"
is "$(q "SELECT line FROM gpush.notifications WHERE channel_id = 'gone-channel' ORDER BY id" gpush2)" \
    "$(cat "$D/notifications.ndjson")" "... byte for byte"

# A line that is not a gpush record is named, and the rest still goes.
fresh_dir badlog
cp "$SRC/channels.jsonl" "$D/"
{ head -1 "$SRC/notifications.ndjson"; echo '{"received_at":"x"}'; } >"$D/notifications.ndjson"
run -d "$D" --database "$DB2" import
is "$RC" 1 "import: exit 1 when a line is not a record"
like "$ERR" "line 2 is not a gpush record" "... and says which: $ERR"
run -d "$D" import
is "$RC" 2 "import without a database: usage error"
done_testing
