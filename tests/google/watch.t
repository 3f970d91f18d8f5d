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
LPORT=$PORT
lighttpd_start

# ---- the stand-in ------------------------------------------------------------
# start_standin DIR [ARGS] -- sets B (its base URL) and SPID
start_standin() {
	local d=$1 i
	shift
	rm -f "$d/base"
	"$PYTHON" "$REPO/tests/google/standin.py" --dir "$d" --max-seconds 500 \
	    --deliver "https://hooks.example.com=http://127.0.0.1:$LPORT" "$@" \
	    >"$d.out" 2>&1 &
	SPID=$!
	on_exit "kill -TERM $SPID 2>/dev/null"
	for i in $(seq 150); do [ -s "$d/base" ] && break; sleep 0.2; done
	B=$(cat "$d/base" 2>/dev/null)
}
G=$T/google
start_standin "$G"
[ -n "$B" ]
ok $? "the stand-in listens ($B)" || done_testing
SI() {          # SI METHOD PATH [JSON] -- the stand-in's control paths
	curl -s --max-time 10 --cacert "$G/ca.pem" -X "$1" \
	    -H 'Content-Type: application/json' ${3:+--data "$3"} "$B$2"
}
jq_py() {       # jq_py EXPR < JSON -- a python expression over x
	"$PYTHON" -c "import json,sys; x=json.load(sys.stdin); print($1)"
}

# gp ARGS -- gpush as the handler's user (the registry must stay readable
# by the handler), bounded; sets OUT, ERR, RC.  Everything is kept for the
# secrets check at the end.
ALL_OUT=$T/all-output
gp() {
	local pre=()
	[ "$(id -u)" -eq 0 ] && pre=(runuser -u "$RUN_USER" --)
	"${pre[@]}" timeout 120 "$TOOL" -d "$DATA" "$@" >"$T/out" 2>"$T/err" </dev/null
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
	cat "$T/out" "$T/err" >>"$ALL_OUT"
	# The access tokens issued so far, from the auth layer's cache (which
	# holds them by design, 0600 in state/): for the secrets check.
	cat "$DATA"/state/token-*.json 2>/dev/null |
	    grep -o '"access_token" *: *"[^"]*"' | cut -d'"' -f4 >>"$T/access-tokens"
	grep -o '"token":"[^"]*"' "$DATA/channels.jsonl" 2>/dev/null | cut -d'"' -f4 \
	    >>"$T/channel-tokens"
}
cp "$G/sa.json" "$T/sa.json"
chown "$RUN_USER" "$T/sa.json"
chmod 600 "$T/sa.json"
cp "$G/ca.pem" "$T/ca.pem"
chmod 644 "$T/ca.pem"
GOPT=(--credentials "$T/sa.json" --cacert "$T/ca.pem" --subject admin@example.com)
ADDR=https://hooks.example.com/notifications
reg_ids() { "$PYTHON" -c 'import json,sys
for l in open(sys.argv[1]):
    l = l.strip()
    if l: print(json.loads(l)["id"])' "$DATA/channels.jsonl" 2>/dev/null; }
reg_count() { reg_ids | wc -l; }

# ---- end to end: the five URL kinds ---------------------------------------------
URLS=("$B/admin/directory/v1/users/watch?domain=example.com&event=add"
    "$B/admin/reports/v1/activity/users/all/applications/login/watch"
    "$B/drive/v3/changes/watch?pageToken=1"
    "$B/drive/v3/files/FILEID/watch"
    "$B/calendar/v3/calendars/primary/events/watch")
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

for a in hang close huge notjson; do
	fault "{\"path\":\"/watch\$\",\"action\":\"$a\",\"seconds\":20,\"times\":10}"
	gp watch "$F/X-$a/watch" --address "$ADDR" --timeout 3s --retries 2 "${GOPT[@]}"
	ok $([ "$RC" -eq 1 ] && [ "$(reg_count)" -eq 0 ]; echo $?) "$a: exit 1, registry as before"
	like "$ERR" 'failed: .+' "  $a: a message says why"
done
SI DELETE /_standin/faults >/dev/null

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
SECRETS=$T/secrets
"$PYTHON" - "$T/sa.json" "$T"/google* >"$SECRETS" <<'EOF'
import json, sys, re, glob, os
sa = json.load(open(sys.argv[1]))
key = "".join(l for l in sa["private_key"].splitlines() if "-----" not in l)
print(key[40:100])
for d in [d for d in sys.argv[2:] if os.path.isdir(d)]:
    for f in ("authorized_user.json",):
        p = os.path.join(d, f)
        if os.path.exists(p):
            u = json.load(open(p))
            print(u["refresh_token"]); print(u["client_secret"])
EOF
leak=0
while read -r s; do
	[ -n "$s" ] || continue
	if grep -rqF -- "$s" "$ALL_OUT" "$DATA" 2>/dev/null; then leak=1; echo "leaked: ${s:0:8}..." | diag; fi
done <"$SECRETS"
ok $leak "no private key, refresh token or client secret on any output or in the data directory"
leak=0
n=$(sort -u "$T/access-tokens" 2>/dev/null | grep -c .)
while read -r s; do
	[ -n "$s" ] || continue
	grep -qF -- "$s" "$ALL_OUT" && leak=1
	# anywhere in the data directory but the token cache itself
	[ -z "$(grep -rlF --exclude='token-*.json' -- "$s" "$DATA")" ] || leak=1
done < <(sort -u "$T/access-tokens" 2>/dev/null)
ok $([ "$leak" -eq 0 ] && [ "$n" -ge 1 ]; echo $?) "none of the $n access tokens issued on any output, nor in the data directory outside the token cache"

done_testing
