#!/bin/bash
# gpush tail --exec: the at-least-once consumer (batches, retry of the
# same batch with the cursor not advanced, SIGTERM between batches, a
# command killed or closing its stdin early), the group-readable log
# (GPUSH_LOG_GROUP=1 through the handler) and rotate keeping what a
# registered cursor (DIR/cursors/) has not read.
. "$(dirname "$0")/lib.sh"
need_tool
need_handler
fresh_dir consume
LOG=$D/notifications.ndjson
C=$T/cursor
N=0
seqjson() { awk -v a="$1" -v b="$2" 'BEGIN { for (i = a; i <= b; i++) printf "{\"n\":%d}\n", i }'; }
add() { seqjson $((N + 1)) $((N + $1)) >>"$LOG"; N=$((N + $1)); }
wait_for() {    # wait_for COMMAND... -- up to 10 s for it to succeed
	local i
	for i in $(seq 1 100); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
# A command that keeps each batch it gets in its own file under $T/b.
mkdir "$T/b"
cat >"$T/keep.sh" <<'EOS'
#!/bin/sh
f=$(mktemp "$BATCHES/tmp.XXXXXX") && cat >"$f" && mv "$f" "$f.batch"
EOS
chmod +x "$T/keep.sh"
export BATCHES=$T/b
batches() { cat "$T"/b/*.batch 2>/dev/null | sort -t: -k2 -n; }

# Usage errors.
run -d "$D" tail --exec true
is "$RC" 2 "--exec without --cursor: exit 2"
like "$ERR" "--exec needs --cursor" "--exec without --cursor: says so"
run -d "$D" tail --cursor "$C" --exec true --batch 0
is "$RC" 2 "--batch 0: exit 2"
run -d "$D" tail --cursor "$C" --batch 5
is "$RC" 2 "--batch without --exec: exit 2"
run -d "$D" tail --cursor "$C" --exec true --batch-wait soon
is "$RC" 2 "--batch-wait soon: exit 2"

# A cursor whose folder is missing: said at once, with the path, and the
# command never runs (it once got the batch, then the save failed, and it
# got the batch again on every restart).
seqjson 1 2 >"$T/missing-folder.ndjson"
D2=$T/nocursors; mkdir -m 700 "$D2"; cp "$T/missing-folder.ndjson" "$D2/notifications.ndjson"
run -d "$D2" tail --cursor "$D2/cursors/app" --exec "touch $T/ran"
is "$RC" 1 "--cursor in a missing folder: exit 1"
like "$ERR" "cursor $D2/cursors/app: its folder $D2/cursors: No such file" "--cursor in a missing folder: names it"
ok $([ ! -e "$T/ran" ]; echo $?) "--cursor in a missing folder: the command never ran"
run -d "$D2" tail --cursor "$D2/cursors/app"
is "$RC" 1 "tail --cursor in a missing folder (no --exec): exit 1"

# Batches are bounded by --batch; every line once, in order.
add 7
run -d "$D" tail --cursor "$C" --exec "$T/keep.sh" --batch 3
is "$RC:$ERR" "0:" "--exec: exit 0, silent"
is "$(ls "$T"/b/*.batch | wc -l)" 3 "--batch 3 over 7 lines: 3 batches"
mx=0
for f in "$T"/b/*.batch; do n=$(wc -l <"$f"); [ "$n" -gt "$mx" ] && mx=$n; done
is "$mx" 3 "no batch over 3 lines"
is "$(batches)" "$(seqjson 1 7)" "every line reached the command once"
run -d "$D" tail --cursor "$C"
is "$OUT" "" "the cursor was saved past what the command took"
rm -f "$T"/b/*

# A failing command: one line on stderr each time, the same batch again,
# the cursor not advanced.
cp "$C" "$T/c.before"
add 3
cat >"$T/fail.sh" <<'EOS'
#!/bin/sh
n=$(ls "$BATCHES" | wc -l)
cat >"$BATCHES/try.$n"
exit 3
EOS
chmod +x "$T/fail.sh"
"$G" -d "$D" tail -f --cursor "$C" --exec "$T/fail.sh" 2>"$T/fail.err" &
FP=$!
BG_PIDS="$BG_PIDS $FP"
wait_for test -e "$T/b/try.1"
ok $? "a failing command is run again"
cmp -s "$T/b/try.0" "$T/b/try.1" && [ "$(cat "$T/b/try.0")" = "$(seqjson 8 10)" ]
ok $? "the retry gets the same batch"
cmp -s "$C" "$T/c.before"
ok $? "the cursor is not advanced while the command fails"
stop_bg "$FP" TERM
is "$BG_RC" 0 "SIGTERM while retrying: exit 0"
like "$(head -1 "$T/fail.err")" '^gpush: tail: the command exited with status 3; the same batch \(3 lines\) again in 1 s$' \
    "a failure: one clear line on stderr"
cmp -s "$C" "$T/c.before"
ok $? "SIGTERM while retrying: the unfinished batch is not saved"
rm -f "$T"/b/*
run -d "$D" tail --cursor "$C" --exec "$T/keep.sh"
is "$(batches)" "$(seqjson 8 10)" "the next run delivers the failed batch"
rm -f "$T"/b/*

# A command killed by a signal, one closing its stdin early (even with
# exit 0): failures, retried.
add 1
timeout 10 "$G" -d "$D" tail -f --cursor "$C" --exec 'kill -KILL $$' 2>"$T/kill.err" &
FP=$!
BG_PIDS="$BG_PIDS $FP"
wait_for grep -q 'killed by signal 9' "$T/kill.err"
ok $? "a command killed by a signal: said ($(head -1 "$T/kill.err"))"
stop_bg "$FP" TERM
add 20000                       # more than a pipe holds
timeout 10 "$G" -d "$D" tail -f --cursor "$C" --batch 100000 \
    --exec 'exec 0<&-; sleep 0.2; exit 0' 2>"$T/close.err" &
FP=$!
BG_PIDS="$BG_PIDS $FP"
wait_for grep -q 'closed its standard input' "$T/close.err"
ok $? "a command closing its stdin early: a failure, said"
stop_bg "$FP" TERM
run -d "$D" tail --cursor "$C" --exec "$T/keep.sh" --batch 100000
is "$(batches | wc -l)" 20001 "after those failures every line is still delivered"
rm -f "$T"/b/*

# SIGTERM while the command runs: it finishes, its batch is saved, the
# next batch is not started.
add 3
cat >"$T/slow.sh" <<'EOS'
#!/bin/sh
"$(dirname "$0")/keep.sh"
touch "$BATCHES/started"
sleep 1
EOS
chmod +x "$T/slow.sh"
"$G" -d "$D" tail -f --cursor "$C" --exec "$T/slow.sh" --batch 1 2>"$T/slow.err" &
FP=$!
BG_PIDS="$BG_PIDS $FP"
wait_for test -e "$T/b/started"
stop_bg "$FP" TERM
is "$BG_RC" 0 "SIGTERM during a batch: exit 0 after the command"
is "$(batches)" "$(seqjson $((N - 2)) $((N - 2)))" "the batch in hand finished, no other started"
rm -f "$T"/b/*
run -d "$D" tail --cursor "$C" --exec "$T/keep.sh"
is "$(batches)" "$(seqjson $((N - 1)) $N)" "it was saved: the next run starts after it"
rm -f "$T"/b/*

# --batch-wait: lines that come within the wait go in one batch.
"$G" -d "$D" tail -f --cursor "$C" --exec "$T/keep.sh" --batch 10 --batch-wait 3s &
FP=$!
BG_PIDS="$BG_PIDS $FP"
sleep 0.3
add 1
sleep 0.3
add 1
wait_for test -n "$(ls "$T"/b/*.batch 2>/dev/null)"
stop_bg "$FP" TERM
is "$(ls "$T"/b/*.batch | wc -l):$(batches | wc -l)" "1:2" "--batch-wait 3s: two lines 0.3 s apart in one batch"
rm -f "$T"/b/*

# The group-readable log, through the handler: 0640 log, 0600 registry,
# 0700 state/, whatever the umask.
fresh_dir group
run -d "$D" new --address https://example.com/gpush --ttl 3600
ID=$(json_get "$OUT" id)
TOKEN=$(json_get "$OUT" token)
post() {        # post DIR NUMBER [ENV...]
	local dir=$1 num=$2
	shift 2
	(umask 077; env -i PATH="$PATH" REQUEST_METHOD=POST CONTENT_LENGTH=0 \
	    GPUSH_DIR="$dir" HTTP_X_GOOG_CHANNEL_ID="$ID" \
	    HTTP_X_GOOG_CHANNEL_TOKEN="$TOKEN" HTTP_X_GOOG_RESOURCE_ID=r \
	    HTTP_X_GOOG_RESOURCE_URI=https://u HTTP_X_GOOG_RESOURCE_STATE=exists \
	    HTTP_X_GOOG_MESSAGE_NUMBER="$num" "$@" timeout 20 "$FCGI" </dev/null)
}
post "$D" 1 GPUSH_LOG_GROUP=1 >"$T/h.out" 2>&1
like "$(cat "$T/h.out")" '^Status: 200' "GPUSH_LOG_GROUP=1: accepted"
is "$(stat -c %a "$D/notifications.ndjson"):$(stat -c %a "$D/channels.jsonl"):$(stat -c %a "$D/state")" \
    "640:600:700" "GPUSH_LOG_GROUP=1 (umask 077): log 0640, registry 0600, state/ 0700"
run -d "$D" rotate
post "$D" 2 GPUSH_LOG_GROUP=1 >/dev/null 2>&1
is "$(stat -c %a "$D/notifications.ndjson.1"):$(stat -c %a "$D/notifications.ndjson")" "640:640" \
    "GPUSH_LOG_GROUP=1: the rotated and the new log 0640"
run -d "$D" check
is "$RC" 0 "check is content with a group-readable log"
fresh_dir nogroup
cp "$T/group/channels.jsonl" "$D/"
post "$D" 1 >/dev/null 2>&1
is "$(stat -c %a "$D/notifications.ndjson")" 600 "without GPUSH_LOG_GROUP: the log 0600"

# rotate --keep and a registered cursor that lags.
fresh_dir reg
LOG=$D/notifications.ndjson
N=0
mkdir "$D/cursors"
ln -s "$T/lag" "$D/cursors/app"
add 2
run -d "$D" tail --cursor "$T/lag" --exec "$T/keep.sh" --batch 1 </dev/null
rm -f "$T"/b/*
add 2                           # 3, 4: not read by the lagging cursor
run -d "$D" rotate --keep 1
add 2                           # 5, 6
run -d "$D" rotate --keep 1
like "$ERR" '^gpush: rotate: keeping notifications\.ndjson\.2 \(now \.1\) past --keep 1: cursor cursors/app has not finished it$' \
    "rotate --keep 1: the lagging cursor's file kept, said on stderr"
[ -f "$LOG.2" ]
ok $? "the file the registered cursor is in is still there"
add 1
run -d "$D" tail --cursor "$T/lag"
is "$RC:$ERR" "0:" "the lagging cursor reads on without a warning"
is "$OUT" "$(seqjson 3 7)" "... every line it had not read"
run -d "$D" rotate --keep 1
is "$RC:$ERR" "0:" "once it has caught up, --keep 1 again, silently"
is "$(cat "$LOG.1")" '{"n":7}' "... and .1 is replaced as usual"
printf 'rubbish\n' >"$D/cursors/bad"
add 1
run -d "$D" rotate --keep 1
like "$ERR" 'cursor cursors/bad cannot be read \(not a gpush tail cursor\); rotated logs it still needs may be dropped' \
    "an unreadable registered cursor: said loudly"

# A C program follows the log through libgpush (examples/follow.c, linked
# with the static library), with the same cursor format as tail.
if cc -std=c11 -Wall -Wextra -Werror -I"$REPO/lib" "$REPO/examples/follow.c" \
    "$REPO/lib/libgpush.a" $(pkg-config --libs json-c 2>/dev/null || echo -ljson-c) \
    -o "$T/follow" 2>"$T/cc.err"; then
	ok 0 "examples/follow.c builds against lib/libgpush.a"
	fresh_dir clib
	LOG=$D/notifications.ndjson
	N=0
	add 250
	"$T/follow" "$D" "$T/cc" >"$T/f1.out"
	is "$?:$(cat "$T/f1.out")" "0:$(seqjson 1 250)" "the C reader: every line once"
	add 2
	run -d "$D" rotate
	add 1
	"$T/follow" "$D" "$T/cc" >"$T/f2.out"
	is "$(cat "$T/f2.out")" "$(seqjson 251 253)" "the C reader: across a rotation, from its saved cursor"
	add 1
	run -d "$D" tail --cursor "$T/cc"
	is "$OUT" "$(seqjson 254 254)" "tail reads the cursor the C reader saved"
else
	ok 1 "examples/follow.c builds against lib/libgpush.a"
	diag <"$T/cc.err"
fi

done_testing
