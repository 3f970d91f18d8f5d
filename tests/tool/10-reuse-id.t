#!/bin/bash
# A channel removed (or expired) and made again with the same id starts
# afresh: its first sync is logged, not taken for a duplicate of the old
# channel's (the dedup state of an id goes with the channel).
. "$(dirname "$0")/lib.sh"
need_tool
need_handler
fresh_dir reuse
LOG=$D/notifications.ndjson

post() {        # post NUMBER TOKEN
	HOUT=$(env -i PATH="$PATH" REQUEST_METHOD=POST CONTENT_LENGTH=0 \
	    GPUSH_DIR="$D" HTTP_X_GOOG_CHANNEL_ID=selftest \
	    HTTP_X_GOOG_CHANNEL_TOKEN="$2" HTTP_X_GOOG_RESOURCE_ID=r \
	    HTTP_X_GOOG_RESOURCE_URI=https://u HTTP_X_GOOG_RESOURCE_STATE=sync \
	    HTTP_X_GOOG_MESSAGE_NUMBER="$1" timeout 20 "$FCGI" </dev/null 2>/dev/null)
}
lines() { [ -f "$LOG" ] && wc -l <"$LOG" | tr -d ' ' || echo 0; }

for how in remove expire; do
	run -d "$D" new --id selftest --token tok-one-xyzzy --address https://example.com/n
	is "$RC" 0 "$how: new selftest"
	post 1 tok-one-xyzzy
	like "$HOUT" '^Status: 200' "$how: first channel's sync accepted"
	before=$(lines)
	if [ "$how" = remove ]; then
		run -d "$D" remove selftest
	else
		# expire: make it expired first, through a watch response
		printf '{"id":"selftest","expiration":"1384823632000"}' >"$T/w.json"
		run -d "$D" update "$T/w.json"
		run -d "$D" expire
	fi
	is "$RC" 0 "$how: exit 0"
	run -d "$D" new --id selftest --token tok-two-xyzzy --address https://example.com/n
	is "$RC" 0 "$how: the same id made again"
	post 1 tok-two-xyzzy
	like "$HOUT" '^Status: 200' "$how: the new channel's sync accepted"
	is "$(lines)" "$((before + 1))" "$how: and logged, not taken for a duplicate"
	run -d "$D" remove selftest
done
done_testing
