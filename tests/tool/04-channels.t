#!/bin/bash
# list, list --json, show, stop-body, due, remove, expire -- and that no
# token ever reaches their output.
. "$(dirname "$0")/lib.sh"
need_tool
PY3=${PY3:-python3}
fresh_dir channels
R=$D/channels.jsonl
NOW=$(($(date +%s) * 1000))

mk() {          # mk ID [new options...]
	local id=$1
	shift
	run -d "$D" new --address https://example.com/hook --id "$id" --token "tok-$id-SECRET" "$@"
	[ "$RC" = 0 ] || bail "new $id: $ERR"
}
upd() {         # upd JSON
	printf '%s' "$1" >"$T/u.json"
	run -d "$D" update "$T/u.json"
	[ "$RC" = 0 ] || bail "update: $ERR"
}

# Empty registry.
run -d "$D" list
is "$RC:$OUT" "0:" "list of an empty directory: nothing, exit 0"
run -d "$D" due
is "$RC:$OUT:$ERR" "0::" "due with no channels: nothing, exit 0"
run -d "$D" expire
is "$RC:$OUT" "0:" "expire with no channels: nothing, exit 0"

mk never
mk soon
upd "{\"id\":\"soon\",\"resourceId\":\"RS\",\"expiration\":$((NOW + 30 * 60 * 1000))}"
mk later
upd "{\"id\":\"later\",\"resourceId\":\"RL\",\"expiration\":$((NOW + 3 * 86400 * 1000))}"
mk dead
upd '{"id":"dead","resourceId":"RD","expiration":"1384823632000"}'

# list
run -d "$D" list
is "$RC" 0 "list: exit 0"
is "$(printf '%s\n' "$OUT" | wc -l)" 4 "list: one line per channel"
like "$OUT" '^never resource=- expires=never last=0 accepted=0$' "list: a channel without expiration"
like "$OUT" '^soon resource=RS expires=[0-9-]{10}T[0-9:.]{12}Z \(in (29|30)m[0-9s]*\) last=0 accepted=0$' \
    "list: absolute and relative expiry"
like "$OUT" '^later resource=RL expires=.* \(in (2d23h|3d)\)' "list: days and hours"
like "$OUT" '^dead resource=RD expires=2013-11-19T01:13:52.000Z \(expired\) last=0 accepted=0$' \
    "list: expired"
unlike "$OUT" SECRET "list: no token"

run -d "$D" list --json
is "$RC" 0 "list --json: exit 0"
is "$(printf '%s\n' "$OUT" | wc -l)" 4 "list --json: one line per channel"
L=$(printf '%s\n' "$OUT" | grep '"dead"')
is "$(json_get "$L" expiration)" 1384823632000 "list --json: expiration in ms"
is "$(json_get "$L" expired)" true "list --json: expired"
is "$(json_get "$L" resourceId)" RD "list --json: resourceId"
is "$(json_get "$L" accepted)" 0 "list --json: accepted"
is "$(json_get "$L" token_set)" true "list --json: token_set"
unlike "$OUT" SECRET "list --json: no token"
"$PY3" -c 'import json,sys
for l in sys.stdin: json.loads(l)' <<<"$OUT"
ok $? "list --json: every line is JSON"

# show
run -d "$D" show soon
is "$RC" 0 "show: exit 0"
unlike "$OUT" SECRET "show: no token"
is "$(json_get "$OUT" token)" "(set)" "show: token shown as (set)"
is "$(json_get "$OUT" resourceId)" RS "show: resourceId"
is "$(json_get "$OUT" state)" '{"last_number": 0, "accepted": 0, "last_at": null}' \
    "show: the handler's state"
run -d "$D" show nope
is "$RC" 1 "show of an unknown id: exit 1"
is "$ERR" "gpush: no channel nope in the registry" "show of an unknown id: message"

LONG=$(printf 'x%.0s' $(seq 100))
for c in show remove stop-body; do
	run -d "$D" "$c" "$LONG"
	is "$RC" 1 "$c of an id over 64 characters: exit 1"
	like "$ERR" "^gpush: no channel x+ in the registry$" "$c of an id over 64 characters: unknown"
done

# stop-body
run -d "$D" stop-body soon
is "$RC" 0 "stop-body: exit 0"
is "$OUT" '{"id":"soon","resourceId":"RS"}' "stop-body: id and resourceId only"
run -d "$D" stop-body never
is "$RC" 1 "stop-body without resourceId: exit 1"
like "$ERR" "^gpush: channel never has no resourceId yet" "stop-body without resourceId: message"
is "$OUT" "" "stop-body without resourceId: nothing on stdout"
run -d "$D" stop-body nope
is "$RC" 1 "stop-body of an unknown id: exit 1"

# due
run -d "$D" due
is "$RC" 0 "due: exit 0"
is "$(printf '%s\n' "$OUT" | cut -d' ' -f1 | sort | tr '\n' ' ')" "dead soon " \
    "due (1h): the expired and the one within the hour"
run -d "$D" due --within 10m
is "$(printf '%s\n' "$OUT" | cut -d' ' -f1 | tr '\n' ' ')" "dead " "due --within 10m"
run -d "$D" due --within 4d
is "$(printf '%s\n' "$OUT" | cut -d' ' -f1 | sort | tr '\n' ' ')" "dead later soon " \
    "due --within 4d"
run -d "$D" due --within=1h30m
is "$(printf '%s\n' "$OUT" | wc -l)" 2 "due --within=1h30m"
run -d "$D" due --within 90
is "$(printf '%s\n' "$OUT" | cut -d' ' -f1)" dead "due --within 90 (seconds)"
like "$OUT" '^dead expires=2013-11-19T01:13:52.000Z \(expired\)$' "due: line format"
unlike "$OUT" SECRET "due: no token"
for bad in 0 abc 5x -1 1h-; do
	run -d "$D" due --within "$bad"
	is "$RC" 2 "due --within $bad: exit 2"
done
like "$ERR" "^gpush: due: --within needs a duration" "due --within bad: message"
fresh_dir nodue
run -d "$D" new --address https://example.com/x --id n1
D=$T/channels
run -d "$T/nodue" due
is "$RC:$OUT" "0:" "due with nothing due: nothing, exit 0"

# remove
run -d "$D" remove never
is "$RC:$OUT:$ERR" "0::" "remove: exit 0, silent"
grep -q '"never"' "$R"
ok $(( $? == 0 )) "remove: the channel is gone"
is "$(wc -l <"$R")" 3 "remove: the others stay"
cp "$R" "$T/before"
run -d "$D" remove never
is "$RC" 1 "remove of an unknown id: exit 1"
is "$ERR" "gpush: no channel never in the registry" "remove of an unknown id: message"
cmp -s "$R" "$T/before"
ok $? "remove of an unknown id: registry unchanged"

# expire
run -d "$D" expire
is "$RC" 0 "expire: exit 0"
is "$OUT" "removed dead (expired 2013-11-19T01:13:52.000Z)" "expire: says which"
grep -q '"dead"' "$R"
ok $(( $? == 0 )) "expire: the expired channel is gone"
is "$(wc -l <"$R")" 2 "expire: the live ones stay"
run -d "$D" expire
is "$RC:$OUT" "0:" "expire again: nothing to do"
is "$(stat -c %a "$R")" 600 "registry still 0600"

# The handler refuses at now >= expiration: so does expire.
mk edge
upd "{\"id\":\"edge\",\"expiration\":$(($(date +%s) * 1000 + 1500))}"
sleep 2
run -d "$D" expire
like "$OUT" '^removed edge \(expired [0-9-]{10}T' "expire: a channel that just expired"

done_testing
