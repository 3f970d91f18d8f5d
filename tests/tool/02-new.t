#!/bin/bash
# gpush new: the body, the registry entry, generated ids and tokens, every
# refusal (exit 2, nothing written), duplicates (exit 1), and 20 parallel
# runs that must all be in the registry afterwards.
. "$(dirname "$0")/lib.sh"
need_tool
PY3=${PY3:-python3}
fresh_dir new
R=$D/channels.jsonl

# keys JSON -- the top-level keys, sorted, comma-separated
keys() { "$PY3" -c 'import json,sys; print(",".join(sorted(json.loads(sys.argv[1]))))' "$1"; }

run -d "$D" new --address https://example.com/hook
is "$RC" 0 "new: exit 0"
is "$ERR" "" "new: nothing on stderr"
BODY=$OUT
is "$(keys "$BODY")" "address,id,token,type" "body: id, token, type, address only"
is "$(json_get "$BODY" type)" web_hook "body: type web_hook"
is "$(json_get "$BODY" address)" https://example.com/hook "body: the address"
ID=$(json_get "$BODY" id)
like "$ID" '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' \
    "id: a UUID version 4"
TOK=$(json_get "$BODY" token)
like "$TOK" '^[A-Za-z0-9_-]{43}$' "token: 32 bytes base64url, no padding (43 chars)"
is "$(wc -l <"$T/.out")" 1 "body: one line"

is "$(wc -l <"$R")" 1 "registry: one line"
LINE=$(head -1 "$R")
is "$(json_get "$LINE" kind)" "api#channel" "registry: kind api#channel"
is "$(json_get "$LINE" id)" "$ID" "registry: the same id"
is "$(json_get "$LINE" token)" "$TOK" "registry: the same token"
is "$(json_get "$LINE" address)" https://example.com/hook "registry: the address"
is "$(stat -c %a "$R")" 600 "registry: mode 0600"
is "$(stat -c %a "$D/state")" 700 "state/: mode 0700"

run -d "$D" new --address https://example.com/hook
ID2=$(json_get "$OUT" id)
TOK2=$(json_get "$OUT" token)
[ "$ID2" != "$ID" ] && [ "$TOK2" != "$TOK" ]
ok $? "a second channel: another id and token"
is "$(wc -l <"$R")" 2 "registry: two lines"

# Given fields.
run -d "$D" new --address https://example.com/x --id given-id --token given-token \
    --ttl 3600 --param a=b --param empty=
is "$RC" 0 "new with --id --token --ttl --param: exit 0"
is "$(json_get "$OUT" id)" given-id "body: the given id"
is "$(json_get "$OUT" token)" given-token "body: the given token"
is "$(json_get "$OUT" params)" '{"a": "b", "empty": "", "ttl": "3600"}' \
    "body: --ttl is params.ttl, a string; --param entries"
unlike "$OUT" expiration "body: --ttl sets no expiration"
run -d "$D" new --address https://example.com/x --id ttl-2h --ttl 2h
is "$(json_get "$OUT" params)" '{"ttl": "7200"}' "--ttl 2h is 7200 seconds"
run -d "$D" new --address https://example.com/x --id with-exp --expiration 4102444800000
is "$(json_get "$OUT" expiration)" 4102444800000 "body: --expiration as a number"
is "$(json_get "$(grep '"with-exp"' "$R")" expiration)" 4102444800000 \
    "registry: the expiration"
run -d "$D" new --address HTTPS://Example.COM/y --id upper-scheme
is "$RC" 0 "the scheme is case-insensitive"
L64=$(printf 'a%.0s' $(seq 64))
run -d "$D" new --address https://example.com/x --id "$L64"
is "$RC" 0 "an id of 64 characters is taken"
T256=$(printf 't%.0s' $(seq 256))
run -d "$D" new --address https://example.com/x --token "$T256"
is "$RC" 0 "a token of 256 characters is taken"
run -d "$D" new --address https://example.com/x --expiration 1000
is "$RC" 0 "an expiration in the past is taken ..."
like "$ERR" "^gpush: warning: --expiration is in the past" "... with a warning"

# Refusals: exit 2, a message, nothing on stdout, registry unchanged.
cp "$R" "$T/before"
refuse() {      # refuse DESCRIPTION ERE ARGS...
	local what=$1 re=$2
	shift 2
	run -d "$D" new "$@"
	is "$RC" 2 "$what: exit 2"
	like "$ERR" "$re" "$what: message"
	like "$ERR" "^usage: gpush" "$what: usage on stderr"
	is "$OUT" "" "$what: nothing on stdout"
}
refuse "no --address" "--address is required"
refuse "http:// address" "https:// URL" --address http://example.com/hook
refuse "ftp address" "https:// URL" --address ftp://example.com/
refuse "https:// without host" "https:// URL" --address https://
refuse "address with a space" "https:// URL" --address "https://example.com/a b"
refuse "id of 65 characters" "--id must be 1..64" --address https://e.com/ --id "a$L64"
refuse "id with a space" "--id must be" --address https://e.com/ --id "a b"
refuse "empty id" "--id must be" --address https://e.com/ --id ""
refuse "token of 257 characters" "--token must be 1..256" --address https://e.com/ --token "t$T256"
refuse "empty token" "--token must be" --address https://e.com/ --token ""
refuse "token with a control character" "--token must be" --address https://e.com/ --token "$(printf 'a\tb')"
refuse "--ttl 0" "--ttl must be" --address https://e.com/ --ttl 0
refuse "--ttl abc" "--ttl must be" --address https://e.com/ --ttl abc
refuse "--ttl -5" "--ttl must be" --address https://e.com/ --ttl -5
refuse "--expiration abc" "--expiration must be" --address https://e.com/ --expiration abc
refuse "--expiration -1" "--expiration must be" --address https://e.com/ --expiration -1
refuse "--expiration past the year 9999" "--expiration must be" --address https://e.com/ --expiration 253402300800000
refuse "--expiration INT64_MAX" "--expiration must be" --address https://e.com/ --expiration 9223372036854775807
refuse "--ttl with --expiration" "exclude each other" --address https://e.com/ --ttl 60 --expiration 4102444800000
refuse "--ttl with --param ttl=" "exclude each other" --address https://e.com/ --ttl 60 --param ttl=5
refuse "--param without =" "KEY=VALUE" --address https://e.com/ --param novalue
refuse "--param with empty key" "KEY=VALUE" --address https://e.com/ --param =v
refuse "an operand" "unexpected argument" --address https://e.com/ stray
cmp -s "$R" "$T/before"
ok $? "refusals: the registry is unchanged"
unlike "$(cat "$T/.err")" "t$T256" "refusals: the token is not echoed"

# A duplicate id: exit 1, nothing printed, registry unchanged.
run -d "$D" new --address https://example.com/x --id given-id
is "$RC" 1 "duplicate id: exit 1"
is "$ERR" "gpush: channel given-id exists already" "duplicate id: one line"
is "$OUT" "" "duplicate id: no body"
cmp -s "$R" "$T/before"
ok $? "duplicate id: the registry is unchanged"

# A line new does not understand is kept as it is.
fresh_dir keep
printf '%s\n' 'this is not json' '{"id":"old","token":"x","extra":1}' >"$D/channels.jsonl"
run -d "$D" new --address https://example.com/x --id added
is "$RC" 0 "new next to a malformed line: exit 0"
is "$(sed -n 1p "$D/channels.jsonl")" "this is not json" "the malformed line is kept verbatim"
is "$(sed -n 2p "$D/channels.jsonl")" '{"id":"old","token":"x","extra":1}' \
    "other lines are kept verbatim"
like "$(sed -n 3p "$D/channels.jsonl")" '"id":"added"' "the new line is appended"

# 20 parallel runs: every one of them is in the registry afterwards.
fresh_dir parallel
pids=
for i in $(seq 1 20); do
	timeout -k 5 60 "$G" -d "$D" new --address "https://example.com/p$i" \
	    --id "par-$i" >"$T/par-$i.out" 2>"$T/par-$i.err" &
	pids="$pids $!"
done
fails=0
for p in $pids; do wait "$p" || fails=$((fails + 1)); done
is "$fails" 0 "20 parallel new: all exit 0"
is "$(wc -l <"$D/channels.jsonl")" 20 "20 parallel new: 20 registry lines"
missing=0
for i in $(seq 1 20); do
	grep -q "\"id\":\"par-$i\"" "$D/channels.jsonl" || missing=$((missing + 1))
done
is "$missing" 0 "20 parallel new: every id is there"
"$PY3" -c 'import json,sys
for l in open(sys.argv[1]): json.loads(l)' "$D/channels.jsonl"
ok $? "20 parallel new: every line is JSON"
is "$(ls -A "$D" | grep -c tmp)" 0 "20 parallel new: no temporary file left"
is "$(stat -c %a "$D/channels.jsonl")" 600 "20 parallel new: registry mode 0600"

# 20 parallel runs with generated ids.
fresh_dir parallel2
pids=
for i in $(seq 1 20); do
	timeout -k 5 60 "$G" -d "$D" new --address "https://example.com/g$i" \
	    >"$T/gen-$i.out" 2>/dev/null &
	pids="$pids $!"
done
for p in $pids; do wait "$p"; done
lost=0
for i in $(seq 1 20); do
	id=$(json_get "$(cat "$T/gen-$i.out")" id)
	grep -q "\"id\":\"$id\"" "$D/channels.jsonl" || lost=$((lost + 1))
done
is "$lost" 0 "20 parallel new with generated ids: none lost"
is "$(cut -d, -f2 "$D/channels.jsonl" | sort -u | wc -l)" 20 \
    "20 parallel new with generated ids: 20 distinct ids"

done_testing
