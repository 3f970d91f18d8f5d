#!/bin/bash
# The consumer killed at random points: `gpush tail -f --exec` and its
# command are killed (SIGKILL) and restarted, in a bounded loop, while
# the handler appends notifications and `gpush rotate --keep 1` runs with
# the consumer's cursor registered in DIR/cursors/.  At the end every
# accepted notification reached the command at least once: none skipped,
# across rotations.
. "$(dirname "$0")/lib.sh"
need_tool
need_handler
PY3=${PY3:-python3}
ROUNDS=${KILL_ROUNDS:-30}       # kills, at most ~40
NOTES=${KILL_NOTES:-400}
fresh_dir kill
mkdir "$D/cursors" "$T/got"
CUR=$D/cursors/app
run -d "$D" new --address https://example.com/gpush --ttl 3600
ID=$(json_get "$OUT" id)
TOKEN=$(json_get "$OUT" token)

# The producer: notifications FIRST..LAST through the handler (plain
# CGI); the numbers answered 200 are the ones the log must hold.
produce() {
	local n
	for n in $(seq "$1" "$2"); do
		env -i PATH="$PATH" REQUEST_METHOD=POST CONTENT_LENGTH=0 GPUSH_SYNC=0 \
		    GPUSH_DIR="$D" HTTP_X_GOOG_CHANNEL_ID="$ID" \
		    HTTP_X_GOOG_CHANNEL_TOKEN="$TOKEN" HTTP_X_GOOG_RESOURCE_ID=r \
		    HTTP_X_GOOG_RESOURCE_URI=https://u \
		    HTTP_X_GOOG_RESOURCE_STATE=$([ "$n" = 1 ] && echo sync || echo exists) \
		    HTTP_X_GOOG_MESSAGE_NUMBER="$n" timeout 20 "$FCGI" </dev/null 2>/dev/null |
		    head -1 | grep -q '^Status: 200' && echo "$n" >>"$T/accepted"
		sleep 0.0$((RANDOM % 3))
	done
}
# The rotator: rotate --keep 1 now and then, until told to stop.
rotator() {
	while [ ! -e "$T/stop-rotating" ]; do
		"$G" -d "$D" rotate --keep 1 2>>"$T/rotate.err"
		sleep 0.$((RANDOM % 5 + 1))
	done
}
# The command: a batch is delivered once it is whole in $T/got; a slow
# step after it widens the window where a kill makes it come again.
cat >"$T/cmd.sh" <<'EOS'
#!/bin/sh
echo $$ >"$GOT/cmd.pid"
f=$(mktemp "$GOT/tmp.XXXXXX") && cat >"$f" && mv "$f" "$f.batch" || exit 1
sleep 0.0$(( $(od -An -N1 -tu1 /dev/urandom) % 8 ))
EOS
chmod +x "$T/cmd.sh"
export GOT=$T/got
consumer() {
	"$G" -d "$D" tail -f --cursor "$CUR" --exec "$T/cmd.sh" --batch 7 \
	    2>>"$T/consumer.err" &
	TP=$!
	BG_PIDS="$BG_PIDS $TP"
}

# The consumer's cursor is registered before anything rotates: a cursor
# that does not exist yet holds no rotated file back, so under load two
# rotations before the first consumer ran dropped the file with
# notification 1 (6 of 24 runs, 3 at a time), which no consumer had
# claimed.  Notification 1 first, and one run that delivers it and saves
# the cursor in its file.
produce 1 1
timeout -k 5 30 "$G" -d "$D" tail --cursor "$CUR" --exec "$T/cmd.sh" --batch 7 \
    2>>"$T/consumer.err"
is "$?" 0 "the first run delivers notification 1 and registers the cursor"
[ -s "$CUR" ]
ok $? "the cursor is registered before the log is rotated"
produce 2 "$NOTES" &
PP=$!
BG_PIDS="$BG_PIDS $PP"
rotator &
RP=$!
BG_PIDS="$BG_PIDS $RP"
START=$SECONDS
runs=0 kills_tail=0 kills_cmd=0
for i in $(seq 1 "$ROUNDS"); do
	[ $((SECONDS - START)) -ge 45 ] && break
	consumer
	runs=$((runs + 1))
	sleep 0.$((RANDOM % 6 + 1))
	case $((RANDOM % 3)) in
	0)      kill -KILL "$TP" 2>/dev/null && kills_tail=$((kills_tail + 1)) ;;
	1)      c=$(cat "$GOT/cmd.pid" 2>/dev/null)
		# only a command of this consumer (its child) is killed
		if [ -n "$c" ] && [ "$(ps -o ppid= -p "$c" 2>/dev/null | tr -d ' ')" = "$TP" ]; then
			kill -KILL "$c" 2>/dev/null && kills_cmd=$((kills_cmd + 1))
		fi
		sleep 0.$((RANDOM % 3 + 1))
		kill -KILL "$TP" 2>/dev/null && kills_tail=$((kills_tail + 1)) ;;
	2)      # both at once
		c=$(cat "$GOT/cmd.pid" 2>/dev/null)
		kill -KILL "$TP" 2>/dev/null && kills_tail=$((kills_tail + 1))
		if [ -n "$c" ] && kill -KILL "$c" 2>/dev/null; then kills_cmd=$((kills_cmd + 1)); fi ;;
	esac
	wait "$TP" 2>/dev/null
done
wait "$PP"
touch "$T/stop-rotating"
wait "$RP"
"$G" -d "$D" rotate --keep 1 2>>"$T/rotate.err"
# Caught up: one last run without -f delivers what is left, then stops.
timeout -k 5 30 "$G" -d "$D" tail --cursor "$CUR" --exec "$T/cmd.sh" --batch 7 \
    2>>"$T/consumer.err"
is "$?" 0 "the last run catches up and exits 0"
sleep 1                         # orphaned commands of killed consumers end

acc=$(sort -n "$T/accepted" | uniq)
# A command orphaned by a killed consumer saw its stdin cut short: its
# batch file can end in a partial line, which was never a delivery (the
# consumer saves nothing without a whole batch and exit 0; the batch comes
# again).  Each file is read alone, and only its whole lines count.
got=$("$PY3" -c 'import json, sys
for p in sys.argv[1:]:
    data = open(p, "rb").read()
    for l in data.split(b"\n")[:-1]:
        try:
            o = json.loads(l)
        except ValueError:
            continue
        print(o["channel_id"], o["message_number"])' "$GOT"/*.batch | sort -k2n)
delivered=$(printf '%s\n' "$got" | awk -v id="$ID" '$1 == id { print $2 }' | sort -n | uniq)
nacc=$(printf '%s\n' "$acc" | grep -c .)
ndel=$(printf '%s\n' "$delivered" | grep -c .)
missing=$(comm -23 <(printf '%s\n' "$acc" | sort) <(printf '%s\n' "$delivered" | sort) | grep -c .)
extra=$(comm -13 <(printf '%s\n' "$acc" | sort) <(printf '%s\n' "$delivered" | sort) | grep -c .)
dups=$(( $(printf '%s\n' "$got" | grep -c .) - ndel ))
rot=$(grep -c 'keeping' "$T/rotate.err")
note "runs=$runs kills: tail=$kills_tail cmd=$kills_cmd; accepted=$nacc delivered=$ndel skipped=$missing redelivered=$dups rotations-kept-for-cursor=$rot; $((SECONDS - START)) s"
[ "$nacc" -eq "$NOTES" ]
ok $? "the handler accepted all $NOTES notifications ($nacc)"
[ $((kills_tail + kills_cmd)) -ge $((runs / 2)) ] && [ "$runs" -ge 5 ]
ok $? "the consumer was killed and restarted ($runs runs, $kills_tail + $kills_cmd kills)"
is "$missing" 0 "every accepted notification reached the command at least once (none skipped)"
is "$extra" 0 "the command got nothing that was not accepted"
[ -f "$D/notifications.ndjson.1" ]
ok $? "the log was rotated meanwhile"
unlike "$(cat "$T/consumer.err")" 'cursor was in is gone|truncated or replaced' \
    "the consumer never lost its place across rotations"
done_testing
