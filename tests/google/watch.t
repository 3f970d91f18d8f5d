#!/bin/bash
# gpush watch / stop against the stand-in Google (tests/google/standin.py,
# HTTPS with its own CA) delivering to a real lighttpd + gpush.fcgi on
# loopback: end to end for the five URL kinds, the requests compared with
# Google's Node clients', faults, kill -9 in the middle, and no secret on
# any output or file.  TAP.  Every server is stopped on any exit.
. "$(dirname "$0")/../server/lib.sh"
LABEL=watch
need_handler
need_pkgs lighttpd:lighttpd curl:curl
TOOL=${GPUSH_TOOL:-$REPO/tool/gpush}
[ -x "$TOOL" ] || { echo "1..0 # SKIP no tool at $TOOL (run make first)"; exit 0; }
make_tmp watch

# ---- lighttpd + gpush.fcgi from the shipped template (tests/lib/lighttpd.sh)
lighttpd_setup 2
: >"$DATA/channels.jsonl"     # only what gpush watch registers
# gp() runs the tool as the handler's user, who may not reach the clone
# (a clone in root's home): it runs the copy in $T/bin, beside the
# handler's (tests/lib/stage.py's rule: what runs as another user is
# copied out of the clone).
cp "$TOOL" "$T/bin/gpush" && chmod 755 "$T/bin/gpush" && TOOL=$T/bin/gpush
lighttpd_start
. "$REPO/tests/lib/google.sh"     # start_standin, SI, jq_py, gp, reg_ids, ...

G=$T/google
start_standin "$G"
[ -n "$B" ]
ok $? "the stand-in listens ($B)" || done_testing
google_creds
ADDR=https://hooks.example.com/notifications

# ---- end to end: the five URL kinds ---------------------------------------------
five_urls                       # URLS: the five watch kinds of issue 10
gp watch "${URLS[@]}" --address "$ADDR" --ttl 1h "${GOPT[@]}"
ok $RC "watch: five channels, exit 0"
[ "$RC" -eq 0 ] || echo "$ERR" | diag
n=$(printf '%s\n' "$OUT" | grep -c '^watching ')
ok $([ "$n" -eq 5 ]; echo $?) "watch: five 'watching' lines ($n)"
ok $([ "$(reg_count)" -eq 5 ]; echo $?) "registry: five channels"
half=$("$PYTHON" -c 'import json,sys
print(sum(1 for l in open(sys.argv[1]) if l.strip() and not json.loads(l).get("resourceId")))' "$DATA/channels.jsonl")
ok $([ "$half" -eq 0 ]; echo $?) "registry: every channel has its resourceId"
w=$(grep -c '"gpushWatch":"https://127.0.0.1' "$DATA/channels.jsonl")
ok $([ "$w" -eq 5 ]; echo $?) "registry: every channel keeps its watch URL"
batch=$(SI GET /_standin/requests | jq_py 'sum(1 for r in x if r["path"].startswith("/batch"))')
ok $([ "$batch" -ge 1 ]; echo $?) "the two Drive channels went as one batch ($batch batch request)"
for i in $(seq 50); do
	s=$(grep -c '"resource_state":"sync"' "$DATA/notifications.ndjson" 2>/dev/null)
	[ "${s:-0}" -ge 5 ] && break
	sleep 0.2
done
ok $([ "${s:-0}" -eq 5 ]; echo $?) "the five sync messages are in notifications.ndjson (${s:-0})"
ID1=$(reg_ids | head -1)
r=$(SI POST /_standin/notify "{\"id\":\"$ID1\",\"state\":\"exists\"}" | jq_py 'x.get("status")')
ok $([ "$r" = 200 ]; echo $?) "a notification on a live channel is accepted (status $r)"
grep -q "\"channel_id\":\"$ID1\".*\"resource_state\":\"exists\"" "$DATA/notifications.ndjson"
ok $? "and logged"
gp check
ok $RC "check: no problem after watch"
gp stop $(reg_ids) "${GOPT[@]}"
ok $RC "stop: all five, exit 0"
[ "$RC" -eq 0 ] || echo "$ERR" | diag
ok $([ "$(reg_count)" -eq 0 ]; echo $?) "registry empty after stop"
st=$(ls "$DATA/state" | grep -c '^ch-')
ok $([ "$st" -eq 0 ]; echo $?) "no dedup state left in state/ ($st)"
stopped=$(SI GET /_standin/channels | jq_py 'sum(1 for c in x if c["stopped"])')
ok $([ "$stopped" -ge 5 ]; echo $?) "the stand-in shows the five channels stopped ($stopped)"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$G/ca.pem" -X POST \
    -H 'Content-Type: application/json' --data "{\"id\":\"$ID1\",\"state\":\"exists\"}" \
    "$B/_standin/notify")
ok $([ "$code" = 409 ]; echo $?) "no more deliveries to a stopped channel ($code)"

# ---- compared with Google's Node clients ----------------------------------------
if command -v node >/dev/null && [ -d "$REPO/tests/google/node_modules/@googleapis" ]; then
	G2=$T/google2
	start_standin "$G2"
	NODE_EXTRA_CA_CERTS="$G2/ca.pem" timeout 120 node "$REPO/tests/google/peer-node.js" \
	    "$G2" "$T/node.jsonl" >"$T/node.tap" 2>&1
	ok $? "the Node clients' calls succeed at the stand-in" || diag <"$T/node.tap"
	# gpush's requests on a stand-in of their own, for a log of them alone.
	G2=$T/google2b
	start_standin "$G2"
	cp "$G2/sa.json" "$T/sa.json"; chown "$RUN_USER" "$T/sa.json"; chmod 600 "$T/sa.json"
	cp "$G2/ca.pem" "$T/ca.pem"
	U2=("$B/admin/directory/v1/users/watch?domain=example.com&event=add"
	    "$B/admin/reports/v1/activity/users/all/applications/login/watch"
	    "$B/drive/v3/changes/watch?pageToken=1" "$B/drive/v3/files/FILEID/watch"
	    "$B/calendar/v3/calendars/primary/events/watch")
	ids=()
	for u in "${U2[@]}"; do
		gp watch "$u" --address https://hooks.example.com/gpush --ttl 1h \
		    --token peer-node-token "${GOPT[@]}"
		ids+=("$(printf '%s\n' "$OUT" | awk '/^watching /{print $2}')")
	done
	gp stop "${ids[0]}" --no-batch "${GOPT[@]}"
	gp stop "${ids[1]}" --no-batch "${GOPT[@]}"
	gp stop "${ids[2]}" --no-batch "${GOPT[@]}"
	gp stop "${ids[4]}" --no-batch "${GOPT[@]}"
	curl -s --cacert "$G2/ca.pem" "$B/_standin/requests" >"$T/gpush-requests.json"
	gp stop "${ids[3]}" --no-batch "${GOPT[@]}"    # one stop per API, as the peer
	"$PYTHON" "$REPO/tests/google/compare.py" "$T/node.jsonl" "$T/gpush-requests.json" \
	    >"$T/compare.out" 2>&1
	ok $? "gpush's watch and stop requests match the Node clients' (method, path, query, body keys)"
	diag <"$T/compare.out"
	G=$G2
else
	TAP_N=$((TAP_N + 1)); echo "ok $TAP_N # SKIP node or tests/google/node_modules missing"
	TAP_N=$((TAP_N + 1)); echo "ok $TAP_N # SKIP node or tests/google/node_modules missing"
fi

# ---- faults -----------------------------------------------------------------------
fault() { SI DELETE /_standin/faults >/dev/null; SI POST /_standin/faults "$1" >/dev/null; }
F=$B/drive/v3/files
fault '{"path":"/watch$","status":429,"times":1}'
gp watch "$F/R1/watch" --address "$ADDR" "${GOPT[@]}"
ok $([ "$RC" -eq 0 ] && [ "$(reg_count)" -eq 1 ]; echo $?) "429 then 200: retried, one channel"
gp stop $(reg_ids) "${GOPT[@]}"

SI POST /_standin/expire-tokens >/dev/null
SI DELETE /_standin/faults >/dev/null
gp watch "$F/R2/watch" --address "$ADDR" "${GOPT[@]}"
ok $([ "$RC" -eq 0 ] && [ "$(reg_count)" -eq 1 ]; echo $?) "401 with an expired (cached) token: refreshed once, made"
[ "$RC" -eq 0 ] || echo "$ERR" | diag
gp stop $(reg_ids) "${GOPT[@]}"

fault '{"path":"/watch$","status":400,"reason":"push.webhookUrlUnauthorized","times":1}'
gp watch "$F/R3/watch" --address "$ADDR" "${GOPT[@]}"
ok $([ "$RC" -eq 1 ] && [ "$(reg_count)" -eq 0 ]; echo $?) "push.webhookUrlUnauthorized: exit 1, channel removed"
like() { printf '%s\n' "$1" | grep -Eq -- "$2"; ok $? "$3"; }
like "$ERR" 'push\.webhookUrlUnauthorized.*verify its domain' "  the message names the reason and what to do"

fault '{"path":"^/drive/v3/files/BAD/watch$","status":400,"reason":"push.webhookUrlNotHttps","times":1}'
gp watch "$F/G1/watch" "$F/BAD/watch" "$F/G2/watch" --address "$ADDR" "${GOPT[@]}"
ok $([ "$RC" -eq 1 ] && [ "$(reg_count)" -eq 2 ]; echo $?) "a batch where one part fails: the others recorded, the failed one removed"
like "$ERR" 'push\.webhookUrlNotHttps' "  the failed part's reason is reported"
gp stop $(reg_ids) "${GOPT[@]}"
ok $([ "$RC" -eq 0 ] && [ "$(reg_count)" -eq 0 ]; echo $?) "  stop of the two as one batch"

fault '{"path":"^/batch","status":404,"times":1}'
gp watch "$F/H1/watch" "$F/H2/watch" --address "$ADDR" "${GOPT[@]}"
ok $([ "$RC" -eq 0 ] && [ "$(reg_count)" -eq 2 ]; echo $?) "batch endpoint refused (404): fallback to single calls, both made"
like "$ERR" 'batch of 2 refused' "  the fallback is said"
gp stop $(reg_ids) "${GOPT[@]}"

# half_ids -- the registry's channels without a resourceId
half_ids() { "$PYTHON" -c 'import json,sys
for l in open(sys.argv[1]):
    l = l.strip()
    if l and not json.loads(l).get("resourceId"): print(json.loads(l)["id"])' "$DATA/channels.jsonl"; }
# Sent and no usable answer: Google may have made the channel, so it is
# kept half made (the review: a dropped entry is a channel gpush cannot
# stop); stop then removes it here with a note.
for a in hang close huge notjson; do
	fault "{\"path\":\"/watch\$\",\"action\":\"$a\",\"seconds\":20,\"times\":10}"
	gp watch "$F/X-$a/watch" --address "$ADDR" --timeout 3s --retries 2 "${GOPT[@]}"
	ok $([ "$RC" -eq 1 ] && [ "$(reg_count)" -eq 1 ] && [ "$(half_ids | wc -l)" -eq 1 ]; echo $?) \
	    "$a: exit 1, the channel kept half made (Google may have it)"
	like "$ERR" 'failed: .+' "  $a: a message says why"
	like "$ERR" 'Google may already have channel .*kept, half made' "  $a: and that it was kept"
	SI DELETE /_standin/faults >/dev/null
	gp stop $(reg_ids) "${GOPT[@]}"
	ok $([ "$RC" -eq 0 ] && [ "$(reg_count)" -eq 0 ]; echo $?) "  $a: stop removes it here"
	like "$ERR" 'expires by itself' "  $a: with a note that Google's copy expires by itself"
done
SI DELETE /_standin/faults >/dev/null

# ---- the review's findings ---------------------------------------------------------------
# 1. A retry meets the channel its lost first attempt made: channelIdNotUnique.
fault '{"path":"^/drive/v3/files/MC/watch$","action":"made-close","times":1}'
gp watch "$F/MC/watch" --id mc-1 --address "$ADDR" --retries 3 "${GOPT[@]}"
ok $([ "$RC" -eq 1 ] && [ "$(half_ids)" = mc-1 ]; echo $?) \
    "made, answer lost, retry gets channelIdNotUnique: exit 1, the channel kept half made"
like "$ERR" 'Google may already have channel mc-1 \(an earlier attempt may have reached it\): kept' \
    "  the message says Google may already have it"
unlike() { printf '%s\n' "$1" | grep -Eq -- "$2"; ok $((! $?)) "$3"; }
unlike "$ERR" 'use another --id' "  and does not say to use another --id"
for i in $(seq 50); do grep -q '"channel_id":"mc-1"' "$DATA/notifications.ndjson" && break; sleep 0.2; done
grep -q '"channel_id":"mc-1".*"resource_state":"sync"' "$DATA/notifications.ndjson"
ok $? "  its sync message was accepted by the handler (id and token registered)"
gp check
like "$OUT$ERR" 'mc-1.*half made|half made.*mc-1' "  check names it"
gp stop mc-1 "${GOPT[@]}"
ok $([ "$RC" -eq 0 ] && [ "$(reg_count)" -eq 0 ]; echo $?) "  stop: exit 0, removed"
like "$ERR" 'resourceId .* from its sync message' "  stop says it used the resourceId from the log"
st=$(SI GET /_standin/channels | jq_py '[c["stopped"] for c in x if c["id"] == "mc-1"]')
ok $([ "$st" = "[True]" ]; echo $?) "  and Google's copy is stopped ($st)"

# The same in a batch whose answer is lost: the single-call fallback meets it.
fault '{"path":"^/batch","action":"made-close","times":1}'
gp watch "$F/MB1/watch" "$F/MB2/watch" --address "$ADDR" --retries 1 "${GOPT[@]}"
ok $([ "$RC" -eq 1 ] && [ "$(half_ids | wc -l)" -eq 2 ]; echo $?) \
    "batch made both, answer lost, fallback gets channelIdNotUnique: both kept half made"
like "$ERR" 'Google may already have channel' "  the message says Google may already have them"
gp stop $(reg_ids) "${GOPT[@]}"
ok $([ "$RC" -eq 0 ] && [ "$(reg_count)" -eq 0 ]; echo $?) "  stop clears both (resourceIds from the log)"
live=$(SI GET /_standin/channels | jq_py 'sum(1 for c in x if not c["stopped"])')
ok $([ "$live" -eq 0 ]; echo $?) "  and no channel is left live at Google ($live)"

# 1/#11. A 2xx that cannot be read: Google may have the channel.
fault '{"path":"/watch$","status":200,"body":"<html>ok</html>","times":1}'
gp watch "$F/U1/watch" --address "$ADDR" "${GOPT[@]}"
ok $([ "$RC" -eq 1 ] && [ "$(half_ids | wc -l)" -eq 1 ]; echo $?) "an unreadable 2xx: exit 1, kept half made"
like "$ERR" 'answered HTTP 200, but the answer is refused' "  says the answer was refused"
like "$ERR" 'Google may already have channel .* \(it answered success\): kept' "  and that Google may have it"
gp stop $(reg_ids) "${GOPT[@]}"

# 2. The answer cannot move the channel, or take a bad resourceId or expiration.
FUT=$(( ($(date +%s) + 3600) * 1000 ))
bad_answer() {  # bad_answer DESCRIPTION ERE JSON-BODY
	fault "{\"path\":\"/watch\$\",\"status\":200,\"body\":$3,\"times\":1}"
	gp watch "$F/A1/watch" --id ans-1 --token tok-sent --address "$ADDR" "${GOPT[@]}"
	ok $([ "$RC" -eq 1 ] && [ "$(half_ids)" = ans-1 ]; echo $?) "$1: exit 1, kept half made"
	like "$ERR" "$2" "  $1: says why"
	grep -q '"id":"ans-1","token":"tok-sent","type":"web_hook","address":"https://hooks.example.com/notifications"' \
	    "$DATA/channels.jsonl"
	ok $? "  $1: token and address are the ones sent"
	gp remove ans-1
}
bad_answer "another token" "token is not the one sent" \
    "{\"kind\":\"api#channel\",\"id\":\"ans-1\",\"resourceId\":\"R1\",\"token\":\"evil\",\"expiration\":\"$FUT\"}"
bad_answer "another address" "address is not the one sent" \
    "{\"id\":\"ans-1\",\"resourceId\":\"R1\",\"address\":\"https://evil.example/x\",\"expiration\":\"$FUT\"}"
bad_answer "a resourceId with a shell character" "resourceId .* characters" \
    "{\"id\":\"ans-1\",\"resourceId\":\"R1;rm -rf /\",\"expiration\":\"$FUT\"}"
bad_answer "a resourceId of 300 characters" "resourceId is too long" \
    "{\"id\":\"ans-1\",\"resourceId\":\"$(printf 'R%.0s' $(seq 300))\",\"expiration\":\"$FUT\"}"
bad_answer "a resourceUri with a control character" "resourceUri" \
    "{\"id\":\"ans-1\",\"resourceId\":\"R1\",\"resourceUri\":\"https://x/\\u0007\",\"expiration\":\"$FUT\"}"
bad_answer "an expiration in the past" "expiration is not in the future" \
    "{\"id\":\"ans-1\",\"resourceId\":\"R1\",\"expiration\":\"1000\"}"
bad_answer "an expiration past the maximum" "expiration is later than gpush allows" \
    "{\"id\":\"ans-1\",\"resourceId\":\"R1\",\"expiration\":\"999999999999999999\"}"
fault "{\"path\":\"/watch\$\",\"status\":200,\"body\":{\"id\":\"ans-2\",\"resourceId\":\"R2\",\"type\":\"other\",\"params\":{\"ttl\":\"1\"},\"expiration\":\"$FUT\"},\"times\":1}"
gp watch "$F/A2/watch" --id ans-2 --address "$ADDR" "${GOPT[@]}"
L=$(grep '"id":"ans-2"' "$DATA/channels.jsonl")
ok $([ "$RC" -eq 0 ] && printf '%s' "$L" | grep -q '"type":"web_hook"' && ! printf '%s' "$L" | grep -q params &&
    printf '%s' "$L" | grep -q "\"resourceId\":\"R2\".*\"expiration\":$FUT"; echo $?) \
    "a good answer: only resourceId and expiration merged, type and params stay as sent"
gp remove ans-2

# 4. A reader that goes away: every channel still recorded with its resourceId.
SI DELETE /_standin/faults >/dev/null
pre=()
[ "$(id -u)" -eq 0 ] && pre=(runuser -u "$RUN_USER" --)
"${pre[@]}" timeout 120 "$TOOL" -d "$DATA" watch "$F/P1/watch" "$F/P2/watch" "$F/P3/watch" \
    --address "$ADDR" "${GOPT[@]}" 2>"$T/pipe.err" </dev/null | true
cat "$T/pipe.err" >>"$ALL_OUT"
ok $([ "$(reg_count)" -eq 3 ] && [ -z "$(half_ids)" ]; echo $?) \
    "watch | true: all three channels recorded with their resourceId"
like "$(cat "$T/pipe.err")" 'writing to standard output failed' "  the failed write is reported on stderr"
gp stop $(reg_ids) "${GOPT[@]}" --no-batch

# 5. A 404 that is not Google's JSON error (a proxy's page): nothing changes.
gp watch "$F/N1/watch" --id nf-1 --address "$ADDR" "${GOPT[@]}"
fault '{"path":"/channels/stop$","status":404,"body":"<html>Not Found</html>","times":5}'
gp stop nf-1 "${GOPT[@]}"
ok $([ "$RC" -eq 1 ] && [ "$(reg_ids)" = nf-1 ]; echo $?) "stop meets a non-Google 404: exit 1, the channel kept"
like "$ERR" "failed, nothing changed" "  says nothing changed"
fault '{"path":"/channels/stop$","status":404,"times":1}'
gp stop nf-1 "${GOPT[@]}"
ok $([ "$RC" -eq 0 ] && [ "$(reg_count)" -eq 0 ]; echo $?) "Google's own 404 (notFound): removed here"

# The run's bound: a batch times out, then one single call: the rest not attempted.
fault '[{"path":"^/batch","action":"hang","seconds":15,"times":1},{"path":"^/drive/v3/files/T[0-9]/watch$","action":"hang","seconds":15,"times":5}]'
n0=$(SI GET /_standin/requests | jq_py 'sum(1 for r in x if r["path"].startswith("/drive/v3/files/T"))')
gp watch "$F/T1/watch" "$F/T2/watch" "$F/T3/watch" --address "$ADDR" --timeout 2s --retries 1 "${GOPT[@]}"
n1=$(SI GET /_standin/requests | jq_py 'sum(1 for r in x if r["path"].startswith("/drive/v3/files/T"))')
ok $([ "$RC" -eq 1 ] && [ $((n1 - n0)) -eq 1 ]; echo $?) \
    "batch timed out, then one single call: the fallback stops ($((n1 - n0)) single call)"
like "$ERR" 'not attempted alone' "  the rest are reported as not attempted"
ok $([ "$(half_ids | wc -l)" -eq 3 ]; echo $?) "  all three kept half made (each was sent in the batch)"
SI DELETE /_standin/faults >/dev/null
gp stop $(reg_ids) "${GOPT[@]}"
ok $([ "$RC" -eq 0 ] && [ "$(reg_count)" -eq 0 ]; echo $?) "  stop clears them"

# A certificate for another name: refused, nothing sent.
G3=$T/google3
SAVE_B=$B SAVE_G=$G
start_standin "$G3" --cert-name wrong.example.com
gp watch "$B/drive/v3/files/W/watch" --address "$ADDR" --credentials "$T/sa.json" --cacert "$G3/ca.pem"
ok $([ "$RC" -eq 1 ] && [ "$(reg_count)" -eq 0 ]; echo $?) "wrong certificate name: refused, registry as before"
B=$SAVE_B G=$SAVE_G

# ---- kill -9 between the registry write and the answer -------------------------------
fault '{"path":"/watch$","action":"hang","seconds":60,"times":1}'
pre=()
[ "$(id -u)" -eq 0 ] && pre=(runuser -u "$RUN_USER" --)
"${pre[@]}" "$TOOL" -d "$DATA" watch "$F/K/watch" --address "$ADDR" "${GOPT[@]}" \
    >"$T/k.out" 2>"$T/k.err" &
KP=$!
for i in $(seq 100); do [ "$(reg_count)" -eq 1 ] && break; sleep 0.1; done
sleep 0.5
pkill -KILL -P $KP 2>/dev/null; kill -KILL $KP 2>/dev/null; wait $KP 2>/dev/null
cat "$T/k.out" "$T/k.err" >>"$ALL_OUT"
ok $([ "$(reg_count)" -eq 1 ]; echo $?) "kill -9 while waiting for the answer: the channel is registered"
gp check
ok $([ "$RC" -eq 1 ]; echo $?) "check: exit 1"
like "$OUT$ERR" 'half made.*gpush stop' "check names the half-made channel and how to clear it"
gp stop $(reg_ids) "${GOPT[@]}"
ok $([ "$RC" -eq 0 ] && [ "$(reg_count)" -eq 0 ]; echo $?) "stop clears it"
SI DELETE /_standin/faults >/dev/null

# ---- a channel made by gpush new has no watch URL ------------------------------------
gp new --address "$ADDR"
NID=$("$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$OUT")
gp stop "$NID" "${GOPT[@]}"
ok $([ "$RC" -eq 1 ] && [ "$(reg_count)" -eq 1 ]; echo $?) "stop of a channel made by new: refused, kept"
like "$ERR" 'stop-body.*remove' "  the message says to use stop-body and remove"
gp remove "$NID"

# ---- secrets ----------------------------------------------------------------------------
secrets_check

done_testing
