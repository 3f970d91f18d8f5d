#!/bin/bash
# End to end: a channel made with gpush new and updated from its watch
# response is used by the handler (cgi/gpush.fcgi as a plain CGI); then
# list counts what was accepted, tail prints it, and tail goes on across
# rotations (also while following) without duplicates or gaps.
. "$(dirname "$0")/lib.sh"
need_tool
need_handler
PY3=${PY3:-python3}
fresh_dir e2e
LOG=$D/notifications.ndjson

run -d "$D" new --address https://example.com/gpush --ttl 3600
is "$RC" 0 "new: exit 0"
ID=$(json_get "$OUT" id)
TOKEN=$(json_get "$OUT" token)
RID=B4ibMJiIhTjAQd7Ff2K2bexk8G4
RURI='https://admin.googleapis.com/admin/directory/v1/users?domain=domain&event=event'
EXP=$((($(date +%s) + 3600) * 1000))
printf '{"kind":"api#channel","id":"%s","resourceId":"%s","resourceUri":"%s","token":"%s","expiration":%s}' \
    "$ID" "$RID" "$RURI" "$TOKEN" "$EXP" >"$T/watch.json"
run -d "$D" update "$T/watch.json"
is "$RC" 0 "update from the watch response: exit 0"

# post STATE NUMBER [TOKEN [ID]] -- one notification through the handler;
# sets HOUT (its whole output)
post() {
	HOUT=$(env -i PATH="$PATH" REQUEST_METHOD=POST CONTENT_LENGTH=0 \
	    GPUSH_DIR="$D" HTTP_X_GOOG_CHANNEL_ID="${4:-$ID}" \
	    HTTP_X_GOOG_CHANNEL_TOKEN="${3:-$TOKEN}" \
	    HTTP_X_GOOG_RESOURCE_ID="$RID" HTTP_X_GOOG_RESOURCE_URI="$RURI" \
	    HTTP_X_GOOG_RESOURCE_STATE="$1" HTTP_X_GOOG_MESSAGE_NUMBER="$2" \
	    timeout 20 "$FCGI" </dev/null 2>>"$T/handler.err")
}
numbers() {     # numbers -- the message numbers of the JSON lines on stdin
	"$PY3" -c 'import json,sys
print(" ".join(str(json.loads(l)["message_number"]) for l in sys.stdin if l.strip()))'
}

post sync 1
like "$HOUT" '^Status: 200' "handler: the sync message is accepted (Status: 200)"
is "$(wc -l <"$LOG")" 1 "handler: one line in the log"
L=$(head -1 "$LOG")
is "$(json_get "$L" channel_id)" "$ID" "log: channel_id"
is "$(json_get "$L" message_number)" 1 "log: message_number 1"
is "$(json_get "$L" resource_state)" sync "log: resource_state sync"
is "$(json_get "$L" resource_id)" "$RID" "log: resource_id"
is "$(json_get "$L" resource_uri)" "$RURI" "log: resource_uri"
like "$(json_get "$L" received_at)" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z$' "log: received_at"
unlike "$(cat "$LOG")" "$TOKEN" "log: no token"

run -d "$D" list
like "$OUT" "^$ID resource=$RID expires=.* \(in (59m|1h)[0-9ms]*\) last=1 accepted=1\$" \
    "list: last number 1, 1 accepted"
run -d "$D" list --json
is "$(json_get "$OUT" last_number):$(json_get "$OUT" accepted)" 1:1 "list --json: 1, 1"
run -d "$D" show "$ID"
is "$(json_get "$(json_get "$OUT" state)" accepted)" 1 "show: 1 accepted"
run -d "$D" stop-body "$ID"
is "$OUT" "{\"id\":\"$ID\",\"resourceId\":\"$RID\"}" "stop-body: from the watch response"

run -d "$D" tail --cursor "$T/cur"
is "$OUT" "$L" "tail: prints the line"
post exists 5
like "$HOUT" '^Status: 200' "handler: message 5 accepted"
run -d "$D" tail --cursor "$T/cur"
is "$(numbers <<<"$OUT")" 5 "tail: only the new line"

# Lines before and after a rotation, tailed once afterwards.
post exists 7
post exists 9
run -d "$D" rotate
is "$RC" 0 "rotate: exit 0"
post exists 11
like "$HOUT" '^Status: 200' "handler: accepted after the rotation"
post exists 12
[ -f "$LOG.1" ] && [ -f "$LOG" ]
ok $? "the handler started a new log"
is "$(numbers <"$LOG.1")" "1 5 7 9" "the rotated log has the old lines"
run -d "$D" tail --cursor "$T/cur"
is "$(numbers <<<"$OUT")" "7 9 11 12" "tail across the rotation: no duplicate, no gap"
run -d "$D" tail --cursor "$T/cur"
is "$OUT" "" "tail again: nothing"

# A duplicate is answered 200 but not logged; counts stay right.
post exists 9
like "$HOUT" 'duplicate' "handler: a repeated number is a duplicate"
run -d "$D" tail --cursor "$T/cur"
is "$OUT" "" "tail: a duplicate adds no line"
run -d "$D" list
like "$OUT" 'last=12 accepted=6$' "list: last 12, 6 accepted"

# The handler's refusals, with what the tool did to the registry.
post exists 13 wrong-token
like "$HOUT" '^Status: 401' "handler: a wrong token is 401"
run -d "$D" new --address https://example.com/gpush --id short-lived --token st
printf '{"id":"short-lived","resourceId":"r","expiration":"1384823632000"}' >"$T/w2.json"
run -d "$D" update "$T/w2.json"
post sync 1 st short-lived
like "$HOUT" '^Status: 410' "handler: a channel updated to an expiration in the past is 410"
run -d "$D" expire
is "$OUT" "removed short-lived (expired 2013-11-19T01:13:52.000Z)" "expire removes it"
post sync 1 st short-lived
like "$HOUT" '^Status: 404' "handler: after expire, the channel is unknown (404)"

run -d "$D" check
is "$RC:$OUT" "0:" "check: the directory is sound after all this"

# tail -f while the handler writes and the log rotates twice.
"$G" -d "$D" tail -f --cursor "$T/cur" >"$T/follow.out" 2>"$T/follow.err" &
FP=$!
BG_PIDS="$BG_PIDS $FP"
want=
for n in $(seq 20 2 60); do
	post exists "$n"
	want="$want $n"
	case $n in 30|44) run -d "$D" rotate --keep 5 ;; esac
done
want=${want# }
for i in $(seq 1 100); do
	[ "$(wc -l <"$T/follow.out")" -ge 21 ] && break
	sleep 0.1
done
stop_bg "$FP" TERM
is "$BG_RC" 0 "tail -f: exit 0 on SIGTERM"
is "$(numbers <"$T/follow.out")" "$want" \
    "tail -f across two rotations: every line once, in order"
is "$(cat "$T/follow.err")" "" "tail -f: no warning"
run -d "$D" list
like "$OUT" "^$ID .* last=60 accepted=27\$" "list: 27 accepted"

is "$(cat "$T/handler.err")" "" "the handler logged nothing unexpected"

done_testing
