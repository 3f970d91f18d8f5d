#!/bin/bash
# gpush renew / health without Google: help, usage errors, an empty
# directory, the lock (a second run exits 0 at once), channels made with
# 'gpush new' (renew leaves them, health warns), expired and unsynced
# channels, the handler's files.  The calls themselves are tested against
# the stand-in in tests/google/renew.t.
. "$(dirname "$0")/lib.sh"
need_tool
fresh_dir renewcli

for c in renew health; do
	run "$c" --help
	is "$RC" 0 "$c --help: exit 0"
	like "$OUT" "^usage: gpush \[-d DIR\] $c" "$c --help: usage line"
done
for o in --within --sync-wait --dry-run --json --page-token-command --no-batch \
    --credentials --subject --cacert; do
	run renew --help
	like "$OUT" -- "$o" "renew --help documents $o"
done
run -d "$D" renew --within never
is "$RC" 2 "renew --within never: usage error"
run -d "$D" renew --sync-wait 2h
is "$RC" 2 "renew --sync-wait over 1h: usage error"
run -d "$D" renew extra
is "$RC" 2 "renew with an operand: usage error"
run -d "$D" health --max-silence soon
is "$RC" 2 "health --max-silence soon: usage error"

run -d "$D" renew
is "$RC" 0 "renew, empty registry: exit 0"
is "$OUT" "nothing is due" "  says nothing is due, on stdout"
is "$ERR" "" "  nothing on stderr (cron mails stderr)"
run -d "$D" renew --json
is "$RC:$OUT" "0:" "renew --json, nothing due: no object"
run -d "$D" health
is "$RC" 0 "health, empty registry: exit 0"
is "$OUT" "OK: 0 channel(s), no problem" "  the OK line"

# The lock: a second run exits 0 at once, saying so.
if command -v flock >/dev/null; then
	flock "$D/state/renew.lock" sleep 2 &
	FP=$!
	for i in $(seq 50); do
		flock -n "$D/state/renew.lock" true 2>/dev/null || break
		sleep 0.1
	done
	run -d "$D" renew
	is "$RC" 0 "renew while another holds state/renew.lock: exit 0"
	like "$ERR" "another 'gpush renew' is running" "  says so"
	run -d "$D" renew --dry-run
	is "$RC" 0 "renew --dry-run takes no lock: exit 0"
	is "$OUT" "nothing is due" "  and looks"
	wait "$FP"      # the lock is free again
else
	skip "no flock"; skip "no flock"; skip "no flock"; skip "no flock"
fi

# A channel made with 'gpush new' has no watch URL: renew leaves it alone.
run -d "$D" new --address https://hooks.example.com/n --id NEW1 --ttl 60
echo '{"kind":"api#channel","id":"NEW1","resourceId":"R1","expiration":"'$(( ($(date +%s) + 600) * 1000 ))'"}' >"$T/resp"
run -d "$D" update "$T/resp"
is "$RC" 0 "a channel made by new and update"
cp "$D/channels.jsonl" "$T/before"
run -d "$D" renew
is "$RC" 0 "renew: exit 0"
is "$OUT" "nothing is due" "  a channel without watch URL is not renewed"
cmp -s "$D/channels.jsonl" "$T/before"
ok $? "  the registry is unchanged"
run -d "$D" health
is "$RC" 1 "health: exit 1"
like "$OUT" "^WARNING: channel NEW1 expires in .*not made by 'gpush watch'" "  warns that renew cannot replace it"
run -d "$D" health --within 1m
is "$RC" 0 "health --within 1m: not due, OK"
run -d "$D" health --within 1m --max-silence 1s
is "$RC" 0 "  --max-silence: no message ever, nothing made by watch to compare: OK"

# Expired
echo '{"kind":"api#channel","id":"NEW1","expiration":"'$(( ($(date +%s) - 60) * 1000 ))'"}' >"$T/resp"
run -d "$D" update "$T/resp"
run -d "$D" health --json
is "$RC" 2 "an expired channel: exit 2"
like "$OUT" '"severity":"critical","problem":"expired","channel":"NEW1"' "  --json names it"
run -d "$D" remove NEW1

# A channel made by watch (gpushWatch, gpushMade) whose sync never came,
# and a half-made replacement: written as renew and watch write them.
NOW=$(( $(date +%s) * 1000 ))
W=https://www.googleapis.com/drive/v3/files/F/watch
printf '%s\n' \
  '{"kind":"api#channel","id":"OLD","token":"t1","type":"web_hook","address":"https://h.example/n","resourceId":"RF","expiration":'$((NOW + 3600000))',"gpushWatch":"'$W'","gpushMade":"'$((NOW - 600000))'","gpushReplacedBy":"NEW"}' \
  '{"kind":"api#channel","id":"NEW","token":"t2","type":"web_hook","address":"https://h.example/n","gpushWatch":"'$W'","gpushMade":"'$((NOW - 600000))'","gpushReplaces":"OLD"}' \
  >"$D/channels.jsonl"
chmod 600 "$D/channels.jsonl"
run -d "$D" list
like "$OUT" '^OLD .* replaced-by=NEW' "list: the old channel names its replacement"
like "$OUT" '^NEW .* replaces=OLD' "list: the replacement names the old one"
run -d "$D" list --json
like "$OUT" '"replacedBy":"NEW"' "list --json: replacedBy"
run -d "$D" health --within 1m
is "$RC" 2 "health: exit 2"
like "$OUT" '^CRITICAL: drive files OLD: not even its sync' "  the old channel never got its sync"
like "$OUT" '^WARNING: channel NEW, the replacement of OLD, is half made' "  the replacement is half made"
run -d "$D" check
like "$OUT" 'NEW is a half-made replacement of channel OLD: the next .gpush renew. clears it' "check: names the half-made replacement"
run -d "$D" renew --dry-run
is "$RC" 0 "renew --dry-run: exit 0"
like "$OUT" '^abandon OLD -> NEW: planned' "  plans to stop the half-made replacement"
# The handler's files
chmod 0755 "$D/state"
run -d "$D" health --within 1m --sync-wait 1h
is "$RC" 2 "state/ not 0700: exit 2"
like "$OUT" '^CRITICAL: .*state/: mode 0755' "  said"
chmod 0700 "$D/state"
run -d "$D" health --credentials "$T/none.json" --within 1m --sync-wait 1h
is "$RC" 2 "a credentials file that does not exist: exit 2"
like "$OUT" "^CRITICAL: the credentials file cannot be used" "  said"
unlike "$OUT" 't1|t2' "  no token in health's output"

done_testing
