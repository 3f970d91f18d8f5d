#!/bin/bash
# gpush rotate and gpush tail: the cursor, complete lines only, following
# across one and several rotations without duplicates or gaps, -f with
# SIGTERM and SIGINT, and the failures.  The log is written by hand here
# (06 is about the reader); 07 has the handler write it.
. "$(dirname "$0")/lib.sh"
need_tool
fresh_dir tail
LOG=$D/notifications.ndjson
C=$T/cursor
N=0
seqjson() {     # seqjson FROM TO -- the numbered lines FROM..TO
	awk -v a="$1" -v b="$2" 'BEGIN { for (i = a; i <= b; i++) printf "{\"n\":%d}\n", i }'
}
add() {         # add COUNT -- appends COUNT numbered lines to the log
	seqjson $((N + 1)) $((N + $1)) >>"$LOG"
	N=$((N + $1))
}
# wait_lines FILE COUNT -- waits (10 s at most) for FILE to have COUNT lines
wait_lines() {
	local i
	for i in $(seq 1 100); do
		[ "$(wc -l <"$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# No log yet.
run -d "$D" tail --cursor "$C"
is "$RC:$OUT:$ERR" "0::" "tail with no log: nothing, exit 0"
like "$(cat "$C")" '^gpush-tail 1 0 0 0 0 0{16}$' "tail with no log: a cursor for the next log"

add 3
run -d "$D" tail --cursor "$C"
is "$RC" 0 "tail: exit 0"
is "$OUT" "$(seqjson 1 3)" "tail: the lines after the cursor"
like "$(cat "$C")" "^gpush-tail 1 [0-9]+ $(stat -c %i "$LOG") $(stat -c %s "$LOG") [0-9]+ [0-9a-f]{16}\$" \
    "the cursor: device, inode, offset, head"
run -d "$D" tail --cursor "$C"
is "$RC:$OUT" "0:" "tail again: nothing new"
add 2
run -d "$D" tail --cursor "$C"
is "$OUT" "$(seqjson 4 5)" "tail: only the new lines"
is "$(ls -A "$T" | grep -c 'cursor\.tmp')" 0 "no temporary cursor file left"

# Without --cursor: the whole current log, nothing saved.
run -d "$D" tail
is "$OUT" "$(seqjson 1 5)" "tail without --cursor: the whole log"

# Never a partial last line.
printf '{"n":"par' >>"$LOG"
run -d "$D" tail --cursor "$C"
is "$RC:$OUT" "0:" "a partial last line is not printed"
printf 'tial"}\n' >>"$LOG"
run -d "$D" tail --cursor "$C"
is "$OUT" '{"n":"partial"}' "it is printed whole once complete"

# One rotation between two runs: the rest of .1, then the new log.
add 2                           # 6, 7: in the log that rotates
run -d "$D" rotate
is "$RC:$OUT:$ERR" "0::" "rotate: exit 0, silent"
[ -f "$LOG.1" ] && [ ! -e "$LOG" ]
ok $? "rotate: the log is now notifications.ndjson.1"
add 2                           # 8, 9: in the new log
run -d "$D" tail --cursor "$C"
is "$OUT" "$(seqjson 6 9)" "across a rotation: the rest of .1, then the new log"
run -d "$D" tail --cursor "$C"
is "$OUT" "" "across a rotation: nothing twice"

# Cursor in .1, log not yet recreated.
add 1                           # 10
run -d "$D" tail --cursor "$C"
run -d "$D" rotate
run -d "$D" tail --cursor "$C"
is "$RC:$OUT:$ERR" "0::" "rotated, no new log yet: nothing, no complaint"
add 1                           # 11
run -d "$D" tail --cursor "$C"
is "$OUT" '{"n":11}' "then the new log from its start"

# A run while there is no log, then a whole log comes and goes before the
# next run: its lines are not skipped.
add 1                           # 12
run -d "$D" rotate
run -d "$D" tail --cursor "$C"
is "$OUT" '{"n":12}' "rotated, no log yet: the rest of .1"
add 2                           # 13, 14: a log that lives between two runs
run -d "$D" rotate
add 1                           # 15
run -d "$D" tail --cursor "$C"
is "$OUT" "$(seqjson 13 15)" "a log made and rotated between two runs is read whole"

# Three rotations between two runs: .3, .2, .1, log, in order.
from=$((N + 1))
add 2
run -d "$D" rotate --keep 10
add 2
run -d "$D" rotate --keep 10
add 2
run -d "$D" rotate --keep 10
add 2
run -d "$D" tail --cursor "$C"
is "$OUT" "$(seqjson $from $N)" "three rotations: every line once, in order"
[ -f "$LOG.3" ]
ok $? "rotate --keep 10 keeps older logs"

# The cursor's file dropped (--keep 1): a warning, then the current log.
add 1
run -d "$D" tail --cursor "$C"
add 1                           # in the file that will be dropped
run -d "$D" rotate --keep 1
add 1
run -d "$D" rotate --keep 1
add 1
run -d "$D" tail --cursor "$C"
like "$ERR" "^gpush: tail: (the log the cursor was in is gone|.* was truncated or replaced)" "cursor's file dropped: warned"
is "$OUT" "{\"n\":$N}" "cursor's file dropped: goes on with the current log"

# A truncated log (copytruncate): a warning, then from its start.
add 3
run -d "$D" tail --cursor "$C"
: >"$LOG"
printf '{"n":"after truncation"}\n' >>"$LOG"
run -d "$D" tail --cursor "$C"
like "$ERR" "truncated" "a truncated log: warned"
is "$OUT" '{"n":"after truncation"}' "a truncated log: read from its start"

# Failures.
printf 'rubbish\n' >"$T/badcursor"
run -d "$D" tail --cursor "$T/badcursor"
is "$RC" 1 "a cursor file that is not one: exit 1"
like "$ERR" "^gpush: .*badcursor: not a gpush tail cursor$" "a bad cursor: message"
run -d "$D" tail --cursor ""
is "$RC" 2 "--cursor '': exit 2"
run -d "$D" tail --cursor
is "$RC" 2 "--cursor without a value: exit 2"
run -d "$D" tail --cursor "$T/no/such/dir/c"
is "$RC" 1 "a cursor that cannot be saved: exit 1"
like "$ERR" "^gpush: cursor .*/no/such/dir/c: its folder .*: No such file or directory" "a cursor that cannot be saved: message (before any line is printed)"
is "$OUT" "" "a cursor that cannot be saved: no line printed"
fresh_dir keep
for i in 1 2 3 4; do
	printf '{"r":%d}\n' "$i" >>"$D/notifications.ndjson"
	run -d "$D" rotate --keep 2
done
[ -f "$D/notifications.ndjson.2" ] && [ ! -e "$D/notifications.ndjson.3" ]
ok $? "rotate --keep 2: .1 and .2 only"
is "$(cat "$D/notifications.ndjson.2" "$D/notifications.ndjson.1")" \
    "$(printf '{"r":3}\n{"r":4}')" "rotate --keep 2: the two newest, .1 the newest"
rm "$D/notifications.ndjson.2"
run -d "$D" rotate --keep 2
is "$RC:$OUT:$ERR" "0::" "rotate with no log: exit 0, silent"
[ ! -e "$D/notifications.ndjson" ] && [ ! -e "$D/notifications.ndjson.2" ] &&
    [ "$(cat "$D/notifications.ndjson.1")" = '{"r":4}' ]
ok $? "rotate with no log: nothing done (no empty log pushes .1 out)"
D=$T/tail
for k in 0 1001 x -1; do
	run -d "$D" rotate --keep "$k"
	is "$RC" 2 "rotate --keep $k: exit 2"
done
run -d "$T/absent" rotate
is "$RC" 1 "rotate of a missing directory: exit 1"

# The reader goes away (EPIPE): the cursor covers only lines written whole.
fresh_dir pipe
LOG=$D/notifications.ndjson
N=0
add 30000
timeout 20 "$G" -d "$D" tail --cursor "$T/pc" 2>/dev/null | head -n 1 >/dev/null
run -d "$D" tail --cursor "$T/pc"
first=$(printf '%s\n' "$OUT" | head -1 | tr -dc 0-9)
cnt=$(printf '%s\n' "$OUT" | grep -c .)
is "$(printf '%s\n' "$OUT" | tail -1)" '{"n":30000}' "after EPIPE: the next run reaches the end"
is "$((first + cnt - 1))" 30000 "after EPIPE: the next run is one contiguous run of lines"
[ "${first:-0}" -gt 1 ]
ok $? "after EPIPE: what went into the pipe is not repeated (starts at $first)"

# -f whose reader does not read: SIGTERM still ends it, and the cursor
# covers only what went out whole.
fresh_dir stuck
LOG=$D/notifications.ndjson
N=0
add 30000
mkfifo "$T/fifo"
sleep 60 <"$T/fifo" &
SP=$!
BG_PIDS="$BG_PIDS $SP"
"$G" -d "$D" tail -f --cursor "$T/sc" >"$T/fifo" 2>"$T/stuck.err" &
FP=$!
BG_PIDS="$BG_PIDS $FP"
sleep 0.5
stop_bg "$FP" TERM
is "$BG_RC" 0 "tail -f blocked on stdout: SIGTERM ends it, exit 0"
kill "$SP" 2>/dev/null
run -d "$D" tail --cursor "$T/sc"
first=$(printf '%s\n' "$OUT" | head -1 | tr -dc 0-9)
cnt=$(printf '%s\n' "$OUT" | grep -c .)
[ "${first:-0}" -gt 1 ] && [ "$((first + cnt - 1))" = 30000 ] &&
    printf '%s\n' "$OUT" | head -1 | grep -q '^{"n":[0-9]*}$'
ok $? "tail -f blocked on stdout: the cursor was saved at a line boundary"

# -f: follows, then SIGTERM saves the cursor and exits 0.
fresh_dir follow
LOG=$D/notifications.ndjson
N=0
add 2
"$G" -d "$D" tail -f --cursor "$T/fc" >"$T/f.out" 2>"$T/f.err" &
FP=$!
BG_PIDS="$BG_PIDS $FP"
wait_lines "$T/f.out" 2
ok $? "tail -f: prints what is there"
add 3
wait_lines "$T/f.out" 5
ok $? "tail -f: prints new lines as they come"
printf '{"n":"half' >>"$LOG"
run -d "$D" rotate 2>/dev/null   # rotation cuts the partial line: it was never whole
add 2                           # 6, 7 in the new log
wait_lines "$T/f.out" 7
ok $? "tail -f: follows across a rotation"
stop_bg "$FP" TERM
is "$BG_RC" 0 "tail -f: SIGTERM ends it with exit 0"
is "$(cat "$T/f.out")" "$(seqjson 1 7)" "tail -f: every line once, no partial one"
add 1
run -d "$D" tail --cursor "$T/fc"
is "$OUT" '{"n":8}' "tail -f: the cursor was saved on SIGTERM"

"$G" -d "$D" tail -f --cursor "$T/fc" >"$T/g.out" 2>&1 &
FP=$!
BG_PIDS="$BG_PIDS $FP"
add 1
wait_lines "$T/g.out" 1
stop_bg "$FP" INT
is "$BG_RC" 0 "tail -f: SIGINT ends it with exit 0"
is "$(cat "$T/g.out")" '{"n":9}' "tail -f after SIGINT: only the new line"
run -d "$D" tail --cursor "$T/fc"
is "$OUT" "" "tail -f: the cursor was saved on SIGINT"

done_testing
