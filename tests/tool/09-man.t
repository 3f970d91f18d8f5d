#!/bin/bash
# The man page: renders without warnings, and documents every command,
# the files and the log's keys.
. "$(dirname "$0")/lib.sh"
need_tool
PAGE=$REPO/tool/gpush.1
if [ ! -f "$PAGE" ]; then
	echo "1..0 # SKIP no tool/gpush.1"
	exit 0
fi
if ! command -v groff >/dev/null; then
	echo "1..0 # SKIP no groff (apt-get install groff-base)"
	exit 0
fi

W=$(LC_ALL=C.UTF-8 groff -mandoc -ww -z -Tutf8 "$PAGE" 2>&1)
is "$W" "" "groff -ww: no warnings"
TEXT=$(LC_ALL=C.UTF-8 MANWIDTH=80 groff -mandoc -Tutf8 -P-c "$PAGE" 2>/dev/null | col -b 2>/dev/null ||
    LC_ALL=C.UTF-8 groff -mandoc -Tascii -P-cbou "$PAGE")
[ -n "$TEXT" ]
ok $? "the page renders"
if command -v man >/dev/null; then
	timeout 20 man -l "$PAGE" >/dev/null 2>"$T/man.err"
	is "$?:$(cat "$T/man.err")" "0:" "man -l tool/gpush.1"
else
	skip "no man"
fi

for c in new update list show remove stop-body due expire rotate check tail auth watch stop renew health import export; do
	like "$TEXT" "^     $c( |$)" "documents the command $c"
done
for o in --address --id --token --ttl --expiration --param --json --within \
    --keep --follow --cursor --dir --help --version --credentials --token-command \
    --subject --scope --cacert --proxy --timeout --retries --api \
    --sync-wait --dry-run --page-token-command --max-silence --database; do
	like "$TEXT" "$o" "documents $o"
done
for f in channels.jsonl notifications.ndjson state/ GPUSH_DIR GPUSH_DATABASE gpush-db-cursor pg_snapshot_xmin; do
	like "$TEXT" "$f" "documents $f"
done
for k in received_at channel_id message_number resource_state resource_id \
    resource_uri channel_expiration changed body; do
	like "$TEXT" "‘$k’|'$k'|\`$k'" "documents the log key $k"
done
like "$TEXT" "EXIT STATUS" "has EXIT STATUS"
# remove drops the channel's dedup state (cmd_edit.c; INSTALL says so too).
REMOVE=$(printf '%s\n' "$TEXT" | sed -n '/^     remove id/,/^     stop-body/p')
like "$REMOVE" "state/" "remove's entry speaks of state/"
unlike "$REMOVE" "left in" "remove's entry does not say the state is left"
like "$TEXT" 'params.*ttl' "documents what --ttl sends"

done_testing
