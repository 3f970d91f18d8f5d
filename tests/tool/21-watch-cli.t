#!/bin/bash
# gpush watch / stop without Google: help, the man page, usage errors
# (nothing written, nothing sent), short names, and update keeping the
# watch URL stored with a channel.  The calls themselves are tested
# against the stand-in in tests/google/watch.t.
. "$(dirname "$0")/lib.sh"
need_tool
fresh_dir watchcli

for c in watch stop; do
	run "$c" --help
	is "$RC" 0 "$c --help: exit 0"
	like "$OUT" "^usage: gpush \[-d DIR\] $c" "$c --help: usage line"
done
for o in --address --id --token --ttl --expiration --param --from --no-batch \
    --domain --customer --event --page-token --user --credentials --token-command \
    --subject --scope --cacert; do
	run watch --help
	like "$OUT" -- "$o" "watch --help documents $o"
done
if command -v groff >/dev/null; then
	TEXT=$(LC_ALL=C.UTF-8 groff -mandoc -Tascii -P-cbou "$REPO/tool/gpush.1" 2>/dev/null)
	for w in watch stop gpushWatch --from --no-batch --page-token half-made \
	    directory-users drive-changes drive-file calendar-events reports-activity; do
		like "$TEXT" -- "$w" "the man page mentions $w"
	done
else
	skip "no groff"
fi

A=https://hooks.example.com/n
U=https://www.googleapis.com/drive/v3/files/F/watch
run -d "$D" watch "$U"
is "$RC" 2 "watch without --address: usage error"
run -d "$D" watch "https://www.googleapis.com/gmail/v1/users/me/watch" --address "$A"
is "$RC" 2 "watch of an unknown API: usage error"
like "$ERR" "not a watch URL gpush knows" "  says why"
run -d "$D" watch "http://www.googleapis.com/drive/v3/files/F/watch" --address "$A"
is "$RC" 2 "watch of an http:// URL: usage error"
run -d "$D" watch "$U" --address http://x.example/n
is "$RC" 2 "an http:// address: usage error"
run -d "$D" watch "$U" "$U" --address "$A" --id x
is "$RC" 2 "--id with two URLs: usage error"
run -d "$D" watch drive-changes --address "$A"
is "$RC" 2 "drive-changes without --page-token: usage error"
like "$ERR" "page-token" "  names the option"
run -d "$D" watch directory-users --address "$A"
is "$RC" 2 "directory-users without --domain/--customer: usage error"
run -d "$D" watch nosuch --address "$A"
is "$RC" 2 "an unknown short name: usage error"
run -d "$D" watch "$U" --address "$A" --ttl 1h --expiration 99999999999999
is "$RC" 2 "--ttl with --expiration: usage error"
printf '# comment\n\nhttps://www.googleapis.com/gmail/v1/x/watch\n' >"$T/from"
run -d "$D" watch --from "$T/from" --address "$A"
is "$RC" 2 "--from with a bad line: usage error"
is "$(cat "$D/channels.jsonl" 2>/dev/null | wc -l)" 0 "no usage error wrote the registry"

# No credentials: the channel is registered, the call cannot be made, and
# the channel is removed again.
run -d "$D" watch drive-file F --address "$A" --credentials "$T/none.json"
is "$RC" 1 "watch without usable credentials: exit 1"
like "$ERR" "credentials" "  says it is the credentials"
is "$(cat "$D/channels.jsonl" 2>/dev/null | grep -c .)" 0 "  and the channel is removed again"

# stop refuses before sending anything.
run -d "$D" stop nosuch
is "$RC" 1 "stop of an unknown id: exit 1"
run -d "$D" stop
is "$RC" 2 "stop without id: usage error"

# The watch URL is kept by update, never sent to Google, and check names
# a half-made channel.
printf '%s\n' '{"kind":"api#channel","id":"w1","token":"secret-token-w1","type":"web_hook","address":"https://h.example/n","gpushWatch":"https://www.googleapis.com/drive/v3/files/F/watch"}' \
    >"$D/channels.jsonl"
chmod 600 "$D/channels.jsonl"
run -d "$D" check
is "$RC" 1 "check: a half-made channel is a problem"
like "$OUT$ERR" "w1 is half made.*gpush stop w1.*gpush remove w1" "check names it and how to clear it"
printf '{"kind":"api#channel","id":"w1","resourceId":"R1","expiration":"4102444800000"}' >"$T/resp.json"
run -d "$D" update "$T/resp.json"
is "$RC" 0 "update merges a watch answer"
like "$(cat "$D/channels.jsonl")" '"resourceId":"R1".*"gpushWatch":"https://www.googleapis.com/drive/v3/files/F/watch"' \
    "update keeps gpushWatch"
run -d "$D" stop-body w1
unlike "$OUT" "gpush" "stop-body does not carry gpush's keys"
run -d "$D" check
is "$RC" 0 "check: a channel with its resourceId is fine"
done_testing
