#!/bin/bash
# tests/anywhere.t -- a clone works anywhere (issue 15): a copy of the tree
# below a fresh mode-0700 directory whose path has a space in it (as a
# clone in root's home is), built there, then the parts that start servers
# as another user: a short quick bench (lighttpd with every FastCGI kind,
# gunicorn behind it, Apache mod_cgi) and make run.  Fails if anything
# there cannot start.  TAP; no timing is asserted.
#
# Environment: ANYWHERE_KEEP=1 keeps the copy (its path is printed).
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
N=0
FAILED=0
ok() {          # ok EXIT-STATUS DESCRIPTION
	N=$((N + 1))
	if [ "$1" -eq 0 ]; then echo "ok $N - $2"; else
		echo "not ok $N - $2"; FAILED=$((FAILED + 1)); fi
}
skip() { N=$((N + 1)); echo "ok $N # SKIP $1"; }
diag() { sed 's/^/# /'; }
finish() { echo "1..$N"; exit $((FAILED > 100 ? 100 : FAILED)); }

TOP=$(mktemp -d "${TMPDIR:-/tmp}/gpush-anywhere.XXXXXX") || { echo "Bail out! mktemp"; exit 1; }
chmod 700 "$TOP"
RUNPID=""
cleanup() {
	if [ -n "$RUNPID" ]; then
		kill -TERM -- "-$RUNPID" 2>/dev/null
		for _ in $(seq 50); do kill -0 -- "-$RUNPID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL -- "-$RUNPID" 2>/dev/null
	fi
	if [ "${ANYWHERE_KEEP:-0}" = 1 ]; then echo "# kept $TOP" >&2; else rm -rf "$TOP"; fi
}
trap 'rc=$?; cleanup; exit $rc' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The tree as a clone has it: tracked files and new ones not ignored (no
# build output, no bench/out).
DEST="$TOP/a clone/gpush"
mkdir -p "$DEST"
if git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$REPO" && git ls-files -co --exclude-standard -z |
	    tar --null -T - -cf -) | tar -xf - -C "$DEST"
else
	(cd "$REPO" && tar --exclude=./bench/out --exclude=./tests/tmp \
	    --exclude='*.o' -cf - .) | tar -xf - -C "$DEST"
fi
ok $([ -f "$DEST/Makefile" ] && [ -f "$DEST/bench/bench.py" ]; echo $?) \
    "the tree copied below a 0700 directory with a space: $DEST"

make -C "$DEST" -j2 all >"$TOP/build.log" 2>&1
rc=$?
ok $rc "make all builds there"
[ $rc -eq 0 ] || { tail -n 20 "$TOP/build.log" | diag; finish; }

# The quick bench, cut short: one registry size, no callgrind, a second a
# run, the variants that start each server kind (lighttpd: (a) and (c),
# gunicorn: (e), Apache: (f)).
(cd "$DEST" && BENCH_QUICK=1 BENCH_ONLY='a c e f' BENCH_SIZES=1000 \
    BENCH_MAIN_SIZE=1000 BENCH_SCALE= BENCH_CALLGRIND=0 BENCH_SECONDS=1 \
    make -s --no-print-directory check-bench) >"$TOP/bench.tap" 2>"$TOP/bench.err"
rc=$?
ran=$(grep '^ok [0-9]* - ([a-f])' "$TOP/bench.tap" | grep -vc '# SKIP')
bad=$(grep -c '^not ok' "$TOP/bench.tap")
if [ "$ran" -eq 0 ] && [ "$bad" -eq 0 ] && [ $rc -eq 0 ]; then
	skip "the quick bench ran nothing here (missing packages)"
else
	ok $([ $rc -eq 0 ] && [ "$bad" -eq 0 ] && [ "$ran" -gt 0 ]; echo $?) \
	    "the quick bench starts its servers there ($ran variants ran, $bad failed, rc $rc)"
fi
grep -E '^(not ok|ok)' "$TOP/bench.tap" | diag
[ "$bad" -eq 0 ] && [ $rc -eq 0 ] || tail -n 15 "$TOP/bench.err" | diag

# make run: lighttpd in the foreground; one sync message through it.
if ! command -v lighttpd >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
	skip "make run: lighttpd or curl missing"
	finish
fi
PORT=$("$PYTHON" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$DEST" && exec setsid make -s --no-print-directory run PORT="$PORT") \
    >"$TOP/run.log" 2>&1 &
RUNPID=$!
got=000
for _ in $(seq 300); do     # at most 30 s
	got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
	    "http://127.0.0.1:$PORT/notifications" \
	    -H 'Content-Type: application/json; utf-8' \
	    -H 'X-Goog-Channel-ID: demo' -H 'X-Goog-Channel-Token: demo-token' \
	    -H 'X-Goog-Resource-ID: ret08u3rv24htgh289g' \
	    -H 'X-Goog-Resource-URI: https://admin.googleapis.com/admin/directory/v1/users?domain=domain&event=event' \
	    -H 'X-Goog-Resource-State: sync' -H 'X-Goog-Message-Number: 1' \
	    --data-binary '')
	[ "$got" != 000 ] && break
	kill -0 "$RUNPID" 2>/dev/null || break
	sleep 0.1
done
ok $([ "$got" = 200 ]; echo $?) "make run serves the demo channel there (sync: $got)"
[ "$got" = 200 ] || tail -n 15 "$TOP/run.log" | diag
grep -qs '"channel_id":"demo"' "$DEST/var/notifications.ndjson"
ok $? "make run's log has the sync message"
finish
