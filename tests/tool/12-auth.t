#!/bin/bash
# gpush auth against the stand-in Google (tests/google/standin.py, HTTPS on
# 127.0.0.1 with a test CA): service-account and authorized_user tokens,
# the token cache (one /token call for two runs; separate by scope and
# subject; mode 0600), the 401 refresh, a token endpoint that fails (500
# then 200, closes, hangs, 10 MiB, not JSON), unauthorized_client
# explained, a certificate for another name, a group-readable key file,
# a token command -- and then no secret anywhere: stdout, stderr, and every
# file of the data directory but the token cache.
. "$(dirname "$0")/lib.sh"
need_tool
PY=/usr/bin/python3
T_AUTH=$REPO/tests/unit/t_auth
$PY -c 'import cryptography' 2>/dev/null ||
	{ echo "1..0 # SKIP python3-cryptography missing (the stand-in needs it)"; exit 0; }
command -v curl >/dev/null || { echo "1..0 # SKIP no curl"; exit 0; }
unset GOOGLE_APPLICATION_CREDENTIALS CLOUDSDK_CONFIG GPUSH_SUBJECT GPUSH_CACERT
export HOME=$T/home          # no gcloud file of the machine's user
mkdir -p "$HOME"

# start_standin DIR [ARGS] -- starts a stand-in, waits for DIR/base (15 s)
start_standin() {
	local dir=$1 i; shift
	$PY "$REPO/tests/google/standin.py" --dir "$dir" --max-seconds 300 "$@" \
	    >"$dir.log" 2>&1 &
	BG_PIDS="$BG_PIDS $!"
	LAST_PID=$!
	for i in $(seq 1 150); do [ -s "$dir/base" ] && return 0; sleep 0.1; done
	bail "the stand-in did not start: $(cat "$dir.log")"
}
start_standin "$T/g"
G_DIR=$T/g
BASE=$(cat "$G_DIR/base")
CA=$G_DIR/ca.pem
SA=$G_DIR/sa.json
AU=$G_DIR/authorized_user.json
ctl() {         # ctl METHOD PATH [JSON] -- the stand-in's control paths
	curl -sS --max-time 10 --cacert "$CA" -X "$1" ${3:+-H 'Content-Type: application/json' --data "$3"} "$BASE$2"
}
token_calls() {
	ctl GET /_standin/requests | $PY -c 'import json,sys; print(sum(r["path"] == "/token" for r in json.load(sys.stdin)))'
}
fault() { ctl POST /_standin/faults "$1" >/dev/null; }
: >"$T/all.out"; : >"$T/all.err"
ga() {          # ga ARGS -- gpush auth ARGS --cacert CA, output kept for the grep
	run "$@" --cacert "$CA"
	printf '%s\n' "$OUT" >>"$T/all.out"
	printf '%s\n' "$ERR" >>"$T/all.err"
}
fresh_dir data

# ---- tokens and the cache ----------------------------------------------------
ga -d "$D" auth --api directory --credentials "$SA" --subject admin@example.com
is "$RC" 0 "service account + subject: exit 0 (the stand-in verified the JWT)"
like "$OUT" "^ok: service account gpush-test@.* \(client id [0-9]+\) from $SA, token valid for (59|60) min$" \
    "... says whose and for how long"
is "$(token_calls)" 1 "... one /token call"
ga -d "$D" auth --api directory --credentials "$SA" --subject admin@example.com
is "$RC" 0 "the same again: exit 0"
is "$(token_calls)" 1 "... from the cache: still one /token call"
set -- "$D"/state/token-*.json
is "$#" 1 "one cache file in state/"
is "$(stat -c %a "$1")" 600 "... mode 0600"
is "$(stat -c %a "$D/state")" 700 "state/ mode 0700"
is "$($PY -c 'import json,sys; print(",".join(sorted(json.load(open(sys.argv[1])))))' "$1")" \
    "access_token,expires_at" "... holds the token and its expiry only"
ga -d "$D" auth --api drive --credentials "$SA" --subject admin@example.com
is "$RC:$(token_calls)" "0:2" "another scope: a token of its own"
ga -d "$D" auth --api directory --credentials "$SA" --subject other@example.com
is "$RC:$(token_calls)" "0:3" "another subject: a token of its own"
ga -d "$D" auth --api drive --credentials "$SA" --subject admin@example.com
is "$RC:$(token_calls)" "0:3" "the drive token again: cached"
ga -d "$D" auth --api drive --credentials "$AU"
is "$RC" 0 "authorized_user: exit 0"
like "$OUT" "^ok: authorized user \(client id .*\) from $AU, token valid" "... says so"
is "$(token_calls)" 4 "... its own /token call (refresh-token grant)"
GOOGLE_APPLICATION_CREDENTIALS=$AU ga -d "$D" auth --api drive
like "$RC:$OUT" "^0:ok: authorized user" "GOOGLE_APPLICATION_CREDENTIALS is used"

# ---- a 401 refreshes the token once ---------------------------------------------
if [ -x "$T_AUTH" ]; then
	STOP='{"id":"no-such-channel","resourceId":"r"}'
	R=$("$T_AUTH" request "$SA" "$CA" "$D" https://www.googleapis.com/auth/drive.readonly \
	    "$BASE/drive/v3/channels/stop" "$STOP")
	is "$R" "status 404" "a stop with the cached token: 404 (the channel is unknown)"
	N=$(token_calls)
	ctl POST /_standin/expire-tokens >/dev/null
	R=$("$T_AUTH" request "$SA" "$CA" "$D" https://www.googleapis.com/auth/drive.readonly \
	    "$BASE/drive/v3/channels/stop" "$STOP")
	is "$R" "status 404" "after expire-tokens: 401, a new token, then the answer"
	is "$(token_calls)" $((N + 1)) "... one /token call for it"
	AUTHS=$(ctl GET /_standin/requests | $PY -c 'import json,sys
print(" ".join(r["headers"].get("authorization","").split(":")[-1].rstrip(">") for r in json.load(sys.stdin) if r["path"].endswith("/stop"))[-25:])')
	like "$AUTHS" "valid invalid valid$" "... the stop went with the old token, then the new"
else
	skip "tests/unit/t_auth not built"; skip "-"; skip "-"; skip "-"
fi

# ---- the token endpoint failing (no data directory: no cache) ----------------------
DRIVE="--api drive --credentials $SA"
N=$(token_calls)
fault '{"path":"^/token$","status":500,"times":1}'
ga auth $DRIVE
is "$RC" 0 "token endpoint 500 then 200: retried, exit 0"
is "$(token_calls)" $((N + 2)) "... two /token calls"
fault '{"path":"^/token$","status":503,"times":10}'
ga auth $DRIVE --retries 2
is "$RC" 1 "503 every time: exit 1 after --retries 2"
like "$ERR" "HTTP 503 after 2 tries" "... says so"
ctl DELETE /_standin/faults >/dev/null
fault '{"path":"^/token$","action":"close","times":1}'
ga auth $DRIVE
is "$RC" 0 "a connection closed without an answer: retried, exit 0"
fault '{"path":"^/token$","action":"hang","seconds":20,"times":1}'
ga auth $DRIVE --timeout 2s --retries 1
is "$RC" 1 "a hang: exit 1 within --timeout"
like "$ERR" "no answer in time" "... says so"
fault '{"path":"^/token$","action":"huge","times":1}'
ga auth $DRIVE
is "$RC" 1 "a 10 MiB answer: exit 1, no crash"
like "$ERR" "larger than 1048576 bytes" "... says so"
fault '{"path":"^/token$","action":"notjson","times":1}'
ga auth $DRIVE
is "$RC" 1 "an answer that is not JSON: exit 1"
like "$ERR" "not JSON" "... says so"

# ---- OAuth errors explained --------------------------------------------------------
CID=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_id"])' "$SA")
ga auth --api directory --credentials "$SA" --subject undelegated@example.com
is "$RC" 1 "unauthorized_client: exit 1"
like "$ERR" "domain-wide delegation is missing for client id $CID" "... explained: delegation, client id"
like "$ERR" "Security > Access and data control > API controls > Manage Domain Wide Delegation" \
    "... and where to set it"
like "$ERR" "unauthorized_client" "... Google's error code given too"
ga auth --api directory --credentials "$SA" --subject unknown@example.com
like "$RC:$ERR" "^1:.*subject unknown@example.com is not a user" "invalid_grant Invalid email: the subject"

# ---- refusals before any request ---------------------------------------------------
cp "$SA" "$T/open.json"; chmod 640 "$T/open.json"
N=$(token_calls)
ga auth $DRIVE --credentials "$T/open.json"
is "$RC" 1 "a group-readable credentials file: exit 1"
like "$ERR" "run chmod 600 $T/open.json" "... with the chmod to run"
is "$(token_calls)" "$N" "... and nothing sent"
run auth --api drive --credentials "$SA"
printf '%s\n' "$OUT" >>"$T/all.out"; printf '%s\n' "$ERR" >>"$T/all.err"
like "$RC:$ERR" "^1:.*certificate was refused.*--cacert" "the test CA not given: refused, with the hint"
mkdir -p "$T/w"
start_standin "$T/w" --cert-name wrong.example
W_PID=$LAST_PID
run auth --api drive --credentials "$T/w/sa.json" --cacert "$T/w/ca.pem"
printf '%s\n' "$ERR" >>"$T/all.err"
is "$RC" 1 "a certificate for another name: exit 1"
like "$ERR" "certificate was refused" "... refused as a certificate problem"
is "$(curl -s --cacert "$T/w/ca.pem" --resolve wrong.example:$(cat "$T/w/port"):127.0.0.1 \
    "https://wrong.example:$(cat "$T/w/port")/_standin/requests")" "[]" \
    "... and that stand-in saw no request"
stop_bg "$W_PID" TERM
ga auth --api drive --token-command "printf 'ya29.from-a-command\n'"
like "$RC:$OUT" "^0:ok: access token from --token-command, token obtained \(expiry unknown\)" \
    "--token-command: a token, expiry unknown"
ga auth --api drive --token-command "exit 4"
like "$RC:$ERR" "^1:.*exited with status 4" "--token-command failing: exit 1, the status"
run auth --api drive --token-command x --credentials "$SA"
is "$RC" 1 "--token-command with --credentials: refused"
run auth --credentials "$SA"
is "$RC" 2 "no scope: usage error"

# ---- SSLKEYLOGFILE: libcurl+OpenSSL would write the TLS secrets there ------------------
fresh_dir keylog
SSLKEYLOGFILE=$T/keylog.txt ga -d "$D" auth --api drive --credentials "$SA"
is "$RC" 0 "SSLKEYLOGFILE set: auth still works"
[ ! -e "$T/keylog.txt" ]
ok $? "... and no TLS key log file was written"

# ---- no secret anywhere -------------------------------------------------------------
secrets() {     # one fixed string a line: the key's lines, refresh token, secret
	$PY - "$SA" "$AU" <<'PY'
import json, sys
sa, au = (json.load(open(f)) for f in sys.argv[1:3])
for line in sa["private_key"].splitlines():
    if "-----" not in line and len(line) > 20: print(line)
print(au["refresh_token"]); print(au["client_secret"])
PY
	# Every access token the stand-in issued: they start so.  And the ones
	# cached (read from the cache files themselves).
	echo "ya29.standin-"
	for f in "$D"/state/token-*.json; do
		$PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$f"
	done
}
secrets >"$T/secrets"
[ "$(wc -l <"$T/secrets")" -gt 20 ]; ok $? "the secrets to look for ($(wc -l <"$T/secrets") strings)"
find "$D" -type f ! -path "$D/state/token-*.json" >"$T/files"
echo "$T/all.out" >>"$T/files"; echo "$T/all.err" >>"$T/files"
LEAKS=$(xargs -d '\n' grep -l -F -f "$T/secrets" <"$T/files")
is "$LEAKS" "" "no key, refresh token, client secret or access token in stdout, stderr or the data directory"
[ -s "$T/all.err" ] && [ -s "$T/all.out" ]; ok $? "... (and there was output to look at)"
grep -q -F -f "$T/secrets" "$D"/state/token-*.json; ok $? "... while the cache files do hold tokens (the grep can find them)"
done_testing
