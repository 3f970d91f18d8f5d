#!/bin/bash
# gpush update: merging a watch response (file, -, stdin), what overwrites
# and what does not, and every refusal (exit 1, registry unchanged).
. "$(dirname "$0")/lib.sh"
need_tool
PY3=${PY3:-python3}
fresh_dir update
R=$D/channels.jsonl

run -d "$D" new --address https://example.com/hook --id ch1 --token secret-1 --ttl 3600
run -d "$D" new --address https://example.com/hook --id ch2 --token secret-2
line_of() { grep "\"id\":\"$1\"" "$R"; }

# The Directory guide's example response.
cat >"$T/resp.json" <<'EOF'
{"kind":"api#channel","id":"ch1","resourceId":"B4ibMJiIhTjAQd7Ff2K2bexk8G4","resourceUri":"https://admin.googleapis.com/admin/directory/v1/users?domain=domain&event=event","token":"secret-1","expiration":1384823632000}
EOF
run -d "$D" update "$T/resp.json"
is "$RC" 0 "update FILE: exit 0"
is "$OUT$ERR" "" "update: silent"
L=$(line_of ch1)
is "$(json_get "$L" resourceId)" B4ibMJiIhTjAQd7Ff2K2bexk8G4 "resourceId merged"
is "$(json_get "$L" resourceUri)" \
    "https://admin.googleapis.com/admin/directory/v1/users?domain=domain&event=event" \
    "resourceUri merged (slashes and & kept)"
is "$(json_get "$L" expiration)" 1384823632000 "expiration merged"
is "$(json_get "$L" params)" '{"ttl": "3600"}' "params not in the response: kept"
is "$(json_get "$L" address)" https://example.com/hook "address not in the response: kept"
is "$(json_get "$L" token)" secret-1 "token kept"
is "$(line_of ch2)" '{"kind":"api#channel","id":"ch2","token":"secret-2","type":"web_hook","address":"https://example.com/hook"}' \
    "the other channel is untouched"
is "$(stat -c %a "$R")" 600 "registry still 0600"

# Expiration as a string: stored as a number.
printf '%s' '{"id":"ch1","expiration":"1384823632001"}' >"$T/resp2.json"
run -i "$T/resp2.json" -d "$D" update -
is "$RC" 0 "update - (stdin): exit 0"
is "$(json_get "$(line_of ch1)" expiration)" 1384823632001 \
    "a string expiration is stored as a number"

# null does not overwrite; present keys do; unknown keys are ignored.
printf '%s' '{"id":"ch1","resourceId":null,"token":null,"address":"https://example.com/new","params":{"x":"y"},"etag":"ignored"}' >"$T/resp3.json"
run -i "$T/resp3.json" -d "$D" update
is "$RC" 0 "update (stdin, no operand): exit 0"
L=$(line_of ch1)
is "$(json_get "$L" resourceId)" B4ibMJiIhTjAQd7Ff2K2bexk8G4 "null resourceId: not overwritten"
is "$(json_get "$L" token)" secret-1 "null token: not overwritten"
is "$(json_get "$L" address)" https://example.com/new "address overwritten"
is "$(json_get "$L" params)" '{"x": "y"}' "params replaced as a whole"
unlike "$L" etag "unknown keys are not stored"

# Refusals: exit 1, one line, registry byte for byte the same.
cp "$R" "$T/before"
refuse() {      # refuse DESCRIPTION ERE JSON
	printf '%s' "$3" >"$T/bad.json"
	run -d "$D" update "$T/bad.json"
	is "$RC" 1 "$1: exit 1"
	like "$ERR" "$2" "$1: message"
	is "$(printf '%s\n' "$ERR" | wc -l)" 1 "$1: one line on stderr"
	cmp -s "$R" "$T/before"
	ok $? "$1: registry unchanged"
}
refuse "unknown id" "^gpush: no channel nope in the registry$" '{"id":"nope","resourceId":"r"}'
refuse "no id" "has no channel \"id\"" '{"resourceId":"r"}'
refuse "not JSON" "not a watch response" 'this is not json'
refuse "an array" "not a watch response" '[1,2]'
refuse "empty input" "not a watch response" ''
refuse "resourceId a number" "wrong type" '{"id":"ch1","resourceId":5}'
refuse "expiration a float" "wrong type" '{"id":"ch1","expiration":1.5}'
refuse "expiration negative" "wrong type" '{"id":"ch1","expiration":-1}'
refuse "expiration not digits" "wrong type" '{"id":"ch1","expiration":"12abc"}'
refuse "params not an object" "wrong type" '{"id":"ch1","params":"x"}'
refuse "token over 256" "wrong type" "{\"id\":\"ch1\",\"token\":\"$(printf 'x%.0s' $(seq 257))\"}"
refuse "the show mask as token" "is the mask" '{"id":"ch1","token":"(set)"}'
unlike "$ERR" "secret" "refusals: no token in messages"
run -d "$D" update "$T/no-such-file"
is "$RC" 1 "missing FILE: exit 1"
like "$ERR" "no-such-file: No such file or directory" "missing FILE: message"

# "gpush show ID | gpush update" cannot replace the token by the mask.
timeout 10 "$G" -d "$D" show ch1 | timeout 10 "$G" -d "$D" update 2>/dev/null
ok $(( $? == 0 )) "show | update is refused"
is "$(json_get "$(line_of ch1)" token)" secret-1 "show | update: token intact"

# Unparseable registry lines survive an update.
printf '%s\n' 'garbage line' >>"$R"
printf '%s' '{"id":"ch2","resourceId":"R2"}' >"$T/r.json"
run -d "$D" update "$T/r.json"
is "$RC" 0 "update next to a malformed line: exit 0"
is "$(tail -1 "$R")" "garbage line" "the malformed line is kept"
is "$(json_get "$(line_of ch2)" resourceId)" R2 "ch2 updated"

# Parallel updates of different channels and parallel new: nothing lost.
for i in $(seq 1 10); do
	timeout 10 "$G" -d "$D" new --address https://example.com/u --id "pu-$i" >/dev/null
done
pids=
for i in $(seq 1 10); do
	printf '{"id":"pu-%s","resourceId":"res-%s"}' "$i" "$i" >"$T/pu-$i.json"
	timeout -k 5 60 "$G" -d "$D" update "$T/pu-$i.json" &
	pids="$pids $!"
	timeout -k 5 60 "$G" -d "$D" new --address https://example.com/u --id "pn-$i" >/dev/null &
	pids="$pids $!"
done
fails=0
for p in $pids; do wait "$p" || fails=$((fails + 1)); done
is "$fails" 0 "10 updates and 10 new in parallel: all exit 0"
bad=0
for i in $(seq 1 10); do
	[ "$(json_get "$(line_of "pu-$i")" resourceId)" = "res-$i" ] || bad=$((bad + 1))
	line_of "pn-$i" >/dev/null || bad=$((bad + 1))
done
is "$bad" 0 "10 updates and 10 new in parallel: every change is there"

done_testing
