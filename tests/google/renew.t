#!/bin/bash
# gpush renew and gpush health (issue 11) against the stand-in Google
# (tests/google/standin.py) delivering to lighttpd + gpush.fcgi on
# loopback.  Channels live minutes (the stand-in honours short --ttl), so
# every one is due at once under renew's default (a quarter of its life,
# at least 15 min).  TAP.  Every server is stopped on any exit.
. "$(dirname "$0")/../server/lib.sh"
LABEL=renew
need_handler
need_pkgs lighttpd:lighttpd curl:curl
TOOL=${GPUSH_TOOL:-$REPO/tool/gpush}
[ -x "$TOOL" ] || { echo "1..0 # SKIP no tool at $TOOL (run make first)"; exit 0; }
make_tmp renew

lighttpd_setup 2
: >"$DATA/channels.jsonl"
# The tool runs as the handler's user, who may not reach the clone (a
# clone in root's home): a copy beside the handler's, as watch.t does.
cp "$TOOL" "$T/bin/gpush" && chmod 755 "$T/bin/gpush" && TOOL=$T/bin/gpush
lighttpd_start
. "$REPO/tests/lib/google.sh"
G=$T/google
start_standin "$G"
[ -n "$B" ]
ok $? "the stand-in listens ($B)" || done_testing
google_creds
ADDR=https://hooks.example.com/notifications
five_urls                       # URLS: the five watch kinds of issue 10

# syncs N -- waits (bounded) until N sync lines are in the log; prints them
syncs() {
	local i s=0
	for i in $(seq 50); do
		s=$(grep -c '"resource_state":"sync"' "$DATA/notifications.ndjson" 2>/dev/null)
		[ "${s:-0}" -ge "$1" ] && break
		sleep 0.2
	done
	echo "${s:-0}"
}
# live -- the stand-in's live channels (not stopped, not expired): id resourceId
live() {
	SI GET /_standin/channels | "$PYTHON" -c 'import json,sys,time
now = time.time() * 1000
for c in json.load(sys.stdin):
    if not c["stopped"] and int(c["expiration"]) > now: print(c["id"], c["resourceId"])'
}
# consistent -- 0 when every resource has exactly one live channel at the
# stand-in, the registry holds exactly those channels, and no link is left
consistent() {
	live >"$T/live"
	"$PYTHON" - "$T/live" "$DATA/channels.jsonl" "$1" <<'EOF'
import json, sys, collections
live = [l.split() for l in open(sys.argv[1]) if l.strip()]
reg = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
want = int(sys.argv[3])
by_res = collections.Counter(r for _, r in live)
bad = []
if len(by_res) != want: bad.append("resources live: %d, want %d" % (len(by_res), want))
bad += ["resource %s has %d live channels" % (r, n) for r, n in by_res.items() if n != 1]
if sorted(i for i, _ in live) != sorted(c["id"] for c in reg):
    bad.append("live at the stand-in %s != registry %s" % (sorted(i for i, _ in live), sorted(c["id"] for c in reg)))
for c in reg:
    for k in ("gpushReplacedBy", "gpushReplaces"):
        if k in c: bad.append("%s still has %s" % (c["id"], k))
    if not c.get("resourceId"): bad.append("%s is half made" % c["id"])
for b in bad: print(b)
sys.exit(1 if bad else 0)
EOF
}
fault() { SI DELETE /_standin/faults >/dev/null; SI POST /_standin/faults "$1" >/dev/null; }
nbatch() { SI GET /_standin/requests | jq_py 'sum(1 for r in x if r["path"].startswith("/batch"))'; }

# ---- renewal of the five kinds, batched ---------------------------------------
gp watch "${URLS[@]}" --address "$ADDR" --ttl 10m "${GOPT[@]}"
ok $RC "watch: five channels with a 10 minute life" || echo "$ERR" | diag
OLD=$(reg_ids | sort)
s=$(syncs 5)
is "$s" 5 "their five syncs are logged"
gp renew --dry-run "${GOPT[@]}"
ok $RC "renew --dry-run: exit 0"
n=$(printf '%s\n' "$OUT" | grep -c '^watch .*: planned')
is "$n" 5 "dry run: five replacements planned"
is "$(reg_ids | sort)" "$OLD" "dry run: the registry is unchanged"

# The old channels' stop is refused (503) for this run: both stay, linked,
# and a notification on an old channel during the overlap is accepted.
fault '{"path":"/channels/stop$","status":503,"times":100}'
b0=$(nbatch)
gp renew --retries 1 "${GOPT[@]}"
ok $([ "$RC" -eq 1 ]; echo $?) "renew with the old channels' stop failing (503): exit 1"
like "$ERR" 'stopping it failed \(tried again next run' "  the message says it is retried"
is "$(reg_count)" 10 "  old and new are both registered (overlap)"
is "$(syncs 10)" 10 "  the five replacements' syncs are logged"
b1=$(nbatch)
ok $([ "$b1" -gt "$b0" ]; echo $?) "  the replacements of one API went as a batch ($((b1 - b0)) batch requests)"
gp list
like "$OUT" 'replaced-by=[0-9a-f-]{36}' "  list shows an old channel's replacement"
like "$OUT" 'replaces=[0-9a-f-]{36}' "  and a replacement's old channel"
ID1=$(printf '%s\n' "$OLD" | head -1)
r=$(SI POST /_standin/notify "{\"id\":\"$ID1\",\"state\":\"exists\"}" | jq_py 'x.get("status")')
is "$r" 200 "  a notification on an old channel during the overlap is accepted"
grep -q "\"channel_id\":\"$ID1\".*\"resource_state\":\"exists\"" "$DATA/notifications.ndjson"
ok $? "  and logged: nothing lost"
gp health --within 1m
is "$RC" 0 "  health during the overlap: OK (a working replacement is under way)"
echo "$OUT" | diag
SI DELETE /_standin/faults >/dev/null
gp renew --json "${GOPT[@]}"
ok $RC "the next renew completes the handover: exit 0" || echo "$ERR" | diag
n=$(printf '%s\n' "$OUT" | jq_py 'x["action"]' 2>/dev/null | head -1)
n=$(printf '%s\n' "$OUT" | "$PYTHON" -c 'import json,sys
print(sum(1 for l in sys.stdin if json.loads(l)["action"] == "replace" and json.loads(l)["result"] == "ok"))')
is "$n" 5 "  --json: five 'replace' objects with result ok"
ok $([ -z "$(comm -12 <(reg_ids | sort) <(printf '%s\n' "$OLD"))" ]; echo $?) "  no old channel is left in the registry"
consistent 5 >"$T/c.out"
ok $? "  every resource has exactly one live channel, the registry has exactly those" || diag <"$T/c.out"
st=$(ls "$DATA/state" | grep -c '^ch-')
ok $([ "$st" -le 5 ]; echo $?) "  the old channels' dedup state is gone ($st left)"

# ---- single calls (--no-batch) -------------------------------------------------
OLD=$(reg_ids | sort)
b0=$(nbatch)
gp renew --no-batch "${GOPT[@]}"
ok $RC "renew --no-batch: exit 0" || echo "$ERR" | diag
is "$(nbatch)" "$b0" "  no batch request"
is "$(syncs 15)" 15 "  five more syncs"
consistent 5 >"$T/c.out"
ok $? "  one live channel per resource, all new" || diag <"$T/c.out"
ok $([ -z "$(comm -12 <(reg_ids | sort) <(printf '%s\n' "$OLD"))" ]; echo $?) "  the old ones removed"
# the watch URLs, addresses and lifetimes were kept
w=$(grep -c '"gpushWatch":"https://127.0.0.1' "$DATA/channels.jsonl")
is "$w" 5 "  every replacement keeps its watch URL"
life=$("$PYTHON" -c 'import json,sys
for l in open(sys.argv[1]):
    c = json.loads(l); print(round((int(c["expiration"]) - int(c["gpushMade"])) / 60000))' "$DATA/channels.jsonl" | sort -u)
is "$life" 10 "  and its 10 minute lifetime"
gp stop $(reg_ids) "${GOPT[@]}"

# ---- a replacement whose sync never arrives --------------------------------------
F=$B/drive/v3/files
gp watch "$F/NOSYNC/watch" --address "$ADDR" --ttl 10m "${GOPT[@]}"
ok $RC "watch: one Drive file channel"
OLD=$(reg_ids)
syncs 16 >/dev/null
fault '{"method":"DELIVER","path":"^/_deliver/sync$","action":"drop","times":1}'
gp renew --sync-wait 2s "${GOPT[@]}"
is "$RC" 1 "renew, the replacement's sync dropped: exit 1"
like "$ERR" 'sync of its replacement .* never reached the handler.*old channel kept' "  the failure is reported"
is "$(reg_ids)" "$OLD" "  the old channel is kept, the replacement removed"
consistent 1 >"$T/c.out"
ok $? "  the dead replacement was stopped at the stand-in: no orphan" || diag <"$T/c.out"
grep -q '"gpushRenewState":"nosync"' "$DATA/channels.jsonl"
ok $? "  the old channel is marked (gpushRenewState nosync)"
gp list
like "$OUT" 'renew-failed=nosync' "  list shows it"
gp health --within 1m
is "$RC" 2 "  health: exit 2"
like "$OUT" '^CRITICAL: .*renewal failed last time \(nosync' "  health names the failed renewal"
gp health --within 1m --json
is "$(printf '%s\n' "$OUT" | jq_py 'x["severity"] + " " + x["problem"]')" "critical renew-failed" "  health --json: severity and problem"
gp renew --sync-wait 10s "${GOPT[@]}"
ok $RC "the next renew (sync delivered) replaces it: exit 0" || echo "$ERR" | diag
ok $([ "$(reg_ids)" != "$OLD" ] && [ "$(reg_count)" -eq 1 ]; echo $?) "  one channel, a new one"
gp health --within 1m
is "$RC" 0 "  health: OK again"
gp stop $(reg_ids) "${GOPT[@]}"

# ---- errors: permanent and transient ---------------------------------------------
gp watch "$F/ERR/watch" --address "$ADDR" --ttl 10m "${GOPT[@]}"
OLD=$(reg_ids)
# permanent: Google refuses the address, the resource is gone, the credentials
for f in 'push.webhookUrlUnauthorized:400:verify its domain' 'notFound:404:resource is gone' \
    'forbidden:403:gpush auth --api drive' 'authError:401:gpush auth --api drive'; do
	IFS=: read -r reason status want <<<"$f"
	fault "{\"path\":\"/watch\$\",\"status\":$status,\"reason\":\"$reason\",\"times\":5}"
	gp renew "${GOPT[@]}"
	is "$RC" 1 "permanent $status $reason: exit 1"
	like "$ERR" "$reason.*fix|fix.*$want" "  the message gives Google's reason and the fix ($want)"
	like "$ERR$OUT" "$want" "  ... $want"
	is "$(reg_ids)" "$OLD" "  the old channel kept, no replacement left"
	grep -q '"gpushRenewState":"permanent"' "$DATA/channels.jsonl"
	ok $? "  marked permanent"
	gp health --within 1m
	is "$RC" 2 "  health: exit 2"
done
consistent 1 >"$T/c.out"
ok $? "  no orphan at the stand-in after the permanent errors" || diag <"$T/c.out"
# transient: 429 (Google made nothing) and 500 (Google may have made it)
fault '{"path":"/watch$","status":429,"times":10}'
gp renew --retries 1 "${GOPT[@]}"
is "$RC" 1 "transient 429: exit 1"
like "$ERR" 'HTTP 429.*transient error: tried again next run' "  the message says transient, retried next run"
is "$(reg_ids)" "$OLD" "  the old channel kept, no replacement left"
gp health --within 1m
is "$RC" 1 "  health: exit 1 (warning)"
like "$OUT" '^WARNING: .*renewal failed last time \(transient' "  health says so"
fault '{"path":"/watch$","action":"hang","seconds":6,"times":1}'
gp renew --timeout 2s --retries 1 "${GOPT[@]}"
is "$RC" 1 "transient: a watch that times out: exit 1"
like "$ERR" 'transient error: tried again next run' "  the message says transient"
is "$(reg_count)" 2 "  the replacement is kept, half made (Google may have made it)"
SI DELETE /_standin/faults >/dev/null
gp renew "${GOPT[@]}"
ok $RC "  the next renew stops it and makes another: exit 0" || echo "$ERR" | diag
consistent 1 >"$T/c.out"
ok $? "  one live channel, no orphan" || diag <"$T/c.out"
fault '{"path":"/watch$","status":500,"times":10}'
gp renew --retries 1 "${GOPT[@]}"
is "$RC" 1 "transient 500: exit 1"
like "$ERR" 'HTTP 500.*transient' "  the message says transient"
is "$(reg_count)" 2 "  the replacement is kept, half made (Google may have made it)"
SI DELETE /_standin/faults >/dev/null
gp renew "${GOPT[@]}"
ok $RC "the next renew stops the half-made one and makes another: exit 0" || echo "$ERR" | diag
like "$OUT" '^abandon .*: ok' "  it says it abandoned the half-made replacement"
consistent 1 >"$T/c.out"
ok $? "  one live channel, known to the registry; no orphan" || diag <"$T/c.out"
gp health --within 1m
is "$RC" 0 "  health: OK"
# credentials
gp renew --credentials "$T/nonexistent.json" --cacert "$T/ca.pem"
is "$RC" 1 "credentials file missing: exit 1"
like "$ERR" 'credentials:.*nonexistent' "  the message names the file"
like "$ERR" 'gpush auth --api' "  and the fix"
gp health --within 1m --credentials "$T/nonexistent.json"
is "$RC" 2 "health: an unreadable credentials file: exit 2"
like "$OUT" '^CRITICAL: the credentials file cannot be used' "  health says so"
chmod 644 "$T/sa.json"
gp health --within 1m --credentials "$T/sa.json"
is "$RC" 2 "health: a credentials file readable by others: exit 2"
chmod 600 "$T/sa.json"
gp stop $(reg_ids) "${GOPT[@]}"

# ---- two renews at once ------------------------------------------------------------
gp watch "$F/TWO/watch" --address "$ADDR" --ttl 10m "${GOPT[@]}"
fault '{"path":"/watch$","action":"hang","seconds":4,"times":1}'
pre=()
[ "$(id -u)" -eq 0 ] && pre=(runuser -u "$RUN_USER" --)
"${pre[@]}" timeout 60 "$TOOL" -d "$DATA" renew --timeout 10s "${GOPT[@]}" \
    >"$T/r1.out" 2>"$T/r1.err" </dev/null &
R1=$!
for i in $(seq 100); do grep -q gpushReplaces "$DATA/channels.jsonl" && break; sleep 0.1; done
gp renew "${GOPT[@]}"
is "$RC" 0 "a second renew while one runs: exit 0"
like "$ERR" 'another .gpush renew. is running' "  it says so"
ok $([ "$(grep -c gpushReplaces "$DATA/channels.jsonl")" -eq 1 ]; echo $?) "  and did nothing (one replacement under way)"
wait $R1
is "$?" 0 "the first renew completes: exit 0"
cat "$T/r1.out" "$T/r1.err" >>"$ALL_OUT"
consistent 1 >"$T/c.out"
ok $? "  one live channel" || diag <"$T/c.out"
gp stop $(reg_ids) "${GOPT[@]}"

# ---- kill -9 at random points, then runs without kills ------------------------------
SI DELETE /_standin/faults >/dev/null
gp watch "${URLS[@]}" --address "$ADDR" --ttl 10m "${GOPT[@]}"
ok $RC "kill loop: five channels"
# kill9 PID -- kills a run started as "${pre[@]}" "$TOOL" ... & (gpush is
# PID, or under root the child of runuser PID); 0 when its lock is free at
# once after, i.e. gpush itself is dead, not just the process around it.
LOCKF=$DATA/state/renew.lock
kill9() {
	local i
	pkill -KILL -P "$1" 2>/dev/null
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	for i in $(seq 20); do
		flock -n "$LOCKF" true 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
# Two kills at chosen steps first: while a replacement's watch call hangs
# (the replacements registered, none answered), and while the old
# channel's stop hangs (the replacements synced, nothing stopped).
for step in watch stop; do
	case $step in
	watch) fault '{"path":"/watch$","action":"hang","seconds":20,"times":1}' ;;
	stop) fault '{"path":"/channels/stop$","action":"hang","seconds":20,"times":1}' ;;
	esac
	"${pre[@]}" "$TOOL" -d "$DATA" renew --no-batch --timeout 30s "${GOPT[@]}" \
	    >>"$ALL_OUT" 2>&1 </dev/null &
	KP=$!
	for i in $(seq 100); do
		[ "$(SI GET /_standin/faults | jq_py 'sum(f.get("used", 0) for f in x)')" -ge 1 ] && break
		sleep 0.1
	done
	sleep 0.3
	kill9 "$KP"
	ok $? "kill -9 while the $step call hangs: renew is dead (its lock is free)"
	SI DELETE /_standin/faults >/dev/null
	n=$(grep -c gpushReplaces "$DATA/channels.jsonl")
	is "$n" 5 "kill -9 while the $step call hangs: five replacements linked in the registry"
	gp renew --within 1m "${GOPT[@]}"
	ok $RC "  the next run completes it: exit 0" || echo "$ERR" | diag
	consistent 5 >"$T/c.out"
	ok $? "  one live channel per resource, none unknown to the registry" || diag <"$T/c.out"
done
# How long a whole run takes here: the kills fall within it.
t0=$(date +%s%N)
gp renew --sync-wait 5s "${GOPT[@]}"
ok $RC "a renew without kill: exit 0"
D=$(( ($(date +%s%N) - t0) / 1000000 ))
note "a whole renew of five channels: $D ms"
RUNS=0 KILLS=0 LIVE_AFTER_KILL=0 START=$SECONDS
while [ "$KILLS" -lt 30 ] && [ $((SECONDS - START)) -lt 90 ]; do
	"${pre[@]}" "$TOOL" -d "$DATA" renew --sync-wait 5s --timeout 20s "${GOPT[@]}" \
	    >>"$ALL_OUT" 2>&1 </dev/null &
	KP=$!
	RUNS=$((RUNS + 1))
	# 0 to 1.1 runs: before, during and after the watch batch, the sync wait,
	# the stops and the registry edits
	sleep "$("$PYTHON" -c 'import random,sys; print(random.uniform(0, int(sys.argv[1]) * 1.1 / 1000))' "$D")"
	if kill -0 "$KP" 2>/dev/null; then
		kill9 "$KP" || LIVE_AFTER_KILL=$((LIVE_AFTER_KILL + 1))
		KILLS=$((KILLS + 1))
	fi
	wait "$KP" 2>/dev/null
	collect_tokens
done
note "kill loop: $RUNS runs, $KILLS killed, $((SECONDS - START)) s"
ok $([ "$KILLS" -ge 10 ]; echo $?) "renew was killed $KILLS times in $RUNS runs"
is "$LIVE_AFTER_KILL" 0 "  every kill ended gpush itself (its lock was free at once)"
# Runs without kills, that start nothing new (--within 1m: a 10 minute
# channel is not due) but complete what the killed runs left.
for i in $(seq 10); do
	gp renew --within 1m --sync-wait 5s "${GOPT[@]}"
	[ "$RC" -eq 0 ] && ! grep -q 'gpushReplace' "$DATA/channels.jsonl" && break
done
is "$RC" 0 "the runs after the kills end with exit 0 (after $i)"
consistent 5 >"$T/c.out"
ok $? "every resource has exactly one live channel at the stand-in and in the registry" || diag <"$T/c.out"
ORPHANS=$(live | awk '{print $1}' | sort | comm -23 - <(reg_ids | sort) | wc -l)
is "$ORPHANS" 0 "no orphan at the stand-in"
note "half-made replacements the runs after a kill stopped and removed: $(grep -c '^abandon .*: ok' "$ALL_OUT")"
note "kill loop figures: runs $RUNS, kills $KILLS, channels in the end $(reg_count), orphans $ORPHANS"
gp check
ok $RC "check: no problem after the kill loop" || echo "$OUT" | diag
gp renew "${GOPT[@]}"
ok $RC "and a full renew after it: exit 0"
consistent 5 >"$T/c.out"
ok $? "  still one live channel per resource" || diag <"$T/c.out"
gp stop $(reg_ids) "${GOPT[@]}"

# ---- health, problem by problem -----------------------------------------------------
gp health
is "$RC" 0 "health with no channel: exit 0"
like "$OUT" '^OK: 0 channel' "  OK line"
# expired: a Directory channel of 2 s
gp watch "${URLS[0]}" --address "$ADDR" --ttl 2s "${GOPT[@]}"
syncs 1 >/dev/null
sleep 2.5
gp health
is "$RC" 2 "an expired channel: health exits 2"
like "$OUT" '^CRITICAL: directory users .* expired at .* without a working replacement' "  and names it"
gp renew --dry-run "${GOPT[@]}"
like "$OUT" '^watch .*: planned: expires expired' "renew --dry-run plans to replace the expired channel"
EXP=$(reg_ids)
gp renew "${GOPT[@]}"
ok $RC "renew replaces the expired channel" || echo "$ERR" | diag
like "$OUT" "^replace $EXP -> .*: ok" "  the expired one replaced and removed"
gp stop $(reg_ids) "${GOPT[@]}"
# due without a replacement under way (renew not run)
gp watch "$F/DUE/watch" --address "$ADDR" --ttl 10m "${GOPT[@]}"
gp health
is "$RC" 1 "a channel due, no renewal under way: health exits 1"
like "$OUT" "^WARNING: drive files .* expires in .* is 'gpush renew' scheduled" "  and asks whether renew is scheduled"
# silence
sleep 2
gp health --within 1m --max-silence 1s
is "$RC" 1 "no notification for longer than --max-silence: exit 1"
like "$OUT" '^WARNING: .*no notification for [0-9]+ s' "  said"
gp health --within 1m --max-silence 1h
is "$RC" 0 "  within --max-silence: OK"
gp stop $(reg_ids) "${GOPT[@]}"
# a channel whose sync never arrived
fault '{"method":"DELIVER","path":"^/_deliver/sync$","action":"drop","times":1}'
gp watch "$F/NEVER/watch" --address "$ADDR" --ttl 10m "${GOPT[@]}"
sleep 1.5
gp health --within 1m --sync-wait 1s
is "$RC" 2 "a channel whose sync never arrived: health exits 2"
like "$OUT" '^CRITICAL: .*not even its sync' "  said"
# the log not writable by the handler
if [ "$(id -u)" -eq 0 ]; then
	chmod 0400 "$DATA/notifications.ndjson"
	gp health --within 1m --sync-wait 1h
	is "$RC" 2 "the log not writable by the handler's user: health exits 2"
	like "$OUT" "^CRITICAL: the handler's files: notifications.ndjson: not writable" "  said"
	chmod 0600 "$DATA/notifications.ndjson"
	chmod 0755 "$DATA/state"
	gp health --within 1m --sync-wait 1h
	is "$RC" 2 "state/ not 0700: health exits 2"
	like "$OUT" '^CRITICAL: .*state/: mode 0755' "  said"
	chmod 0700 "$DATA/state"
else
	skip "not root: the log's mode cannot be changed under the handler"
	skip "not root"; skip "not root"; skip "not root"
fi
gp health --within 1m --sync-wait 1h --json
is "$RC" 0 "health --json: OK again"
like "$OUT" '^\{"severity":"ok","channels":1\}$' "  one ok object"
gp stop $(reg_ids) "${GOPT[@]}"

# ---- Drive changes: the stored pageToken, or --page-token-command ---------------------
SI DELETE /_standin/faults >/dev/null
gp watch "$B/drive/v3/changes/watch?pageToken=1" --address "$ADDR" --ttl 10m "${GOPT[@]}"
gp renew "${GOPT[@]}"
q=$(SI GET /_standin/requests | jq_py '[r for r in x if r["path"] == "/drive/v3/changes/watch"][-1]["query"]["pageToken"]')
is "$q" 1 "renew reuses the stored pageToken by default"
gp renew --page-token-command 'test -n "$GPUSH_CHANNEL_ID" && echo 4711' "${GOPT[@]}"
ok $RC "renew --page-token-command: exit 0" || echo "$ERR" | diag
q=$(SI GET /_standin/requests | jq_py '[r for r in x if r["path"] == "/drive/v3/changes/watch"][-1]["query"]["pageToken"]')
is "$q" 4711 "  the replacement is watched with the command's pageToken"
grep -q 'changes/watch?pageToken=4711"' "$DATA/channels.jsonl"
ok $? "  and keeps it in its watch URL"
gp renew --page-token-command 'exit 3' "${GOPT[@]}"
is "$RC" 1 "a failing --page-token-command: exit 1"
like "$ERR" 'page-token-command failed' "  said"
gp stop $(reg_ids) "${GOPT[@]}"

# ---- usage -----------------------------------------------------------------------------
gp renew --within soon
is "$RC" 2 "renew --within soon: usage error"
gp health --max-silence x
is "$RC" 2 "health --max-silence x: usage error"

# ---- the systemd units ---------------------------------------------------------------------
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$T/units"
	sed "s|/usr/local/bin/gpush|$TOOL|" "$REPO/conf/gpush-renew.service" >"$T/units/gpush-renew.service"
	cp "$REPO/conf/gpush-renew.timer" "$T/units/"
	# --man=no: gpush(1) is not installed here (Documentation=man:gpush(1))
	systemd-analyze verify --man=no "$T/units/gpush-renew.service" \
	    "$T/units/gpush-renew.timer" >"$T/sa.out" 2>&1
	ok $? "systemd-analyze verify accepts conf/gpush-renew.service and .timer" || diag <"$T/sa.out"
	grep -q '^ExecStart=/usr/local/bin/gpush ' "$REPO/conf/gpush-renew.service"
	ok $? "  the service runs gpush renew from the installed path"
else
	skip "no systemd-analyze"; skip "no systemd-analyze"
fi

secrets_check

done_testing
