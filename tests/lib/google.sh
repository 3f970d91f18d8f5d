# tests/lib/google.sh -- the stand-in Google for a shell test (bash),
# after tests/server/lib.sh and lighttpd_start (it delivers to $PORT).
# The helpers of tests/google/watch.t, shared (issue 11).
#
#   start_standin DIR [ARGS]  starts tests/google/standin.py delivering
#                             https://hooks.example.com to lighttpd; sets B
#                             (its base URL) and SPID; stopped on exit
#   SI METHOD PATH [JSON]     the stand-in's control paths ($G/ca.pem)
#   jq_py EXPR < JSON         a python expression over x
#   gp ARGS                   gpush -d $DATA as the handler's user, bounded;
#                             sets OUT ERR RC; keeps every output and token
#                             for secrets_check
#   google_creds              copies $G's sa.json and CA for gpush; sets GOPT
#   five_urls                 URLS: issue 10's five watch URLs on $B
#   reg_ids, reg_count        the registry's ids / how many
#   secrets_check             two tests: no key, refresh token, client
#                             secret, access token on any output or file

GLPORT=${PORT:-}
start_standin() {
	local d=$1 i
	shift
	rm -f "$d/base"
	"$PYTHON" "$REPO/tests/google/standin.py" --dir "$d" --max-seconds 600 \
	    --deliver "https://hooks.example.com=http://127.0.0.1:$GLPORT" "$@" \
	    >"$d.out" 2>&1 &
	SPID=$!
	on_exit "kill -TERM $SPID 2>/dev/null"
	for i in $(seq 150); do [ -s "$d/base" ] && break; sleep 0.2; done
	B=$(cat "$d/base" 2>/dev/null)
}
SI() {
	curl -s --max-time 10 --cacert "$G/ca.pem" -X "$1" \
	    -H 'Content-Type: application/json' ${3:+--data "$3"} "$B$2"
}
jq_py() {
	"$PYTHON" -c "import json,sys; x=json.load(sys.stdin); print($1)"
}
ALL_OUT=$T/all-output
gp() {
	local pre=()
	[ "$(id -u)" -eq 0 ] && pre=(runuser -u "$RUN_USER" --)
	"${pre[@]}" timeout 120 "$TOOL" -d "$DATA" "$@" >"$T/out" 2>"$T/err" </dev/null
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
	# `gpush new` prints the watch request body for a user who calls
	# Google by hand; that body carries the channel token by design, so
	# its stdout is not searched for channel tokens.
	if [ "$1" = new ]; then cat "$T/err" >>"$ALL_OUT"
	else cat "$T/out" "$T/err" >>"$ALL_OUT"; fi
	collect_tokens
}
collect_tokens() {
	cat "$DATA"/state/token-*.json 2>/dev/null |
	    grep -o '"access_token" *: *"[^"]*"' | cut -d'"' -f4 >>"$T/access-tokens"
	grep -o '"token":"[^"]*"' "$DATA/channels.jsonl" 2>/dev/null | cut -d'"' -f4 \
	    >>"$T/channel-tokens"
}
google_creds() {
	cp "$G/sa.json" "$T/sa.json"
	chown "$RUN_USER" "$T/sa.json"
	chmod 600 "$T/sa.json"
	cp "$G/ca.pem" "$T/ca.pem"
	chmod 644 "$T/ca.pem"
	GOPT=(--credentials "$T/sa.json" --cacert "$T/ca.pem" --subject admin@example.com)
}
five_urls() {
	URLS=("$B/admin/directory/v1/users/watch?domain=example.com&event=add"
	    "$B/admin/reports/v1/activity/users/all/applications/login/watch"
	    "$B/drive/v3/changes/watch?pageToken=1"
	    "$B/drive/v3/files/FILEID/watch"
	    "$B/calendar/v3/calendars/primary/events/watch")
}
reg_ids() { "$PYTHON" -c 'import json,sys
for l in open(sys.argv[1]):
    l = l.strip()
    if l: print(json.loads(l)["id"])' "$DATA/channels.jsonl" 2>/dev/null; }
reg_count() { reg_ids | wc -l; }
secrets_check() {
	local s leak=0 n
	# The refresh token and client secret of every stand-in the test ran
	# ($T/google*: a test may start more than one).
	"$PYTHON" - "$T/sa.json" "$T"/google* >"$T/secrets" <<'EOF'
import json, sys, os
sa = json.load(open(sys.argv[1]))
key = "".join(l for l in sa["private_key"].splitlines() if "-----" not in l)
print(key[40:100])
for d in [d for d in sys.argv[2:] if os.path.isdir(d)]:
    p = os.path.join(d, "authorized_user.json")
    if os.path.exists(p):
        u = json.load(open(p))
        print(u["refresh_token"]); print(u["client_secret"])
EOF
	while read -r s; do
		[ -n "$s" ] || continue
		if grep -rqF -- "$s" "$ALL_OUT" "$DATA" 2>/dev/null; then
			leak=1; echo "leaked: ${s:0:8}..." | diag; fi
	done <"$T/secrets"
	ok $leak "no private key, refresh token or client secret on any output or in the data directory"
	leak=0
	n=$(sort -u "$T/access-tokens" 2>/dev/null | grep -c .)
	while read -r s; do
		[ -n "$s" ] || continue
		grep -qF -- "$s" "$ALL_OUT" && leak=1
		[ -z "$(grep -rlF --exclude='token-*.json' -- "$s" "$DATA")" ] || leak=1
	done < <(sort -u "$T/access-tokens" 2>/dev/null)
	while read -r s; do
		[ -n "$s" ] || continue
		grep -qF -- "$s" "$ALL_OUT" && leak=1
	done < <(sort -u "$T/channel-tokens" 2>/dev/null)
	ok $([ "$leak" -eq 0 ] && [ "$n" -ge 1 ]; echo $?) "none of the $n access tokens nor any channel token on any output (access tokens only in the token cache)"
}
