# tests/tool/lib.sh -- shared by the channel tool's TAP tests (bash).
#
# Each test sources this, calls need_tool (and need_handler when it runs
# the handler), then uses: run (a bounded run of the tool, capturing
# OUT, ERR, RC), ok/is/like, fresh_dir, done_testing (TAP:
# tests/lib/tap.sh).  Every temporary directory lives under $T, removed
# on exit.
#
# Environment:
#   GPUSH_TOOL   the tool (default tool/gpush, relative to the repo root)
#   GPUSH_FCGI   the handler (default cgi/gpush.fcgi)
#   GPUSH_KEEP   1: keep the temporary directory (its path is printed)
#   PYTHON       a python3 that has googleapiclient (default: found)

set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUN_TIMEOUT=${RUN_TIMEOUT:-30}

. "$REPO/tests/lib/tap.sh"

# ---- cleanup ---------------------------------------------------------------
T=$(mktemp -d "${TMPDIR:-/tmp}/gpush-tool-test.XXXXXX") || bail "mktemp"
cleanup() {
	local pid
	for pid in ${BG_PIDS:-}; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if [ "${GPUSH_KEEP:-0}" = 1 ]; then
		echo "# kept $T"
	else
		rm -rf "$T"
	fi
}
BG_PIDS=
on_exit cleanup

# ---- prerequisites -----------------------------------------------------------
abs() {         # abs PATH -- PATH made absolute against the repo root
	case $1 in /*) echo "$1" ;; *) echo "$REPO/$1" ;; esac
}
need_tool() {
	G=$(abs "${GPUSH_TOOL:-tool/gpush}")
	if [ ! -x "$G" ]; then
		echo "1..0 # SKIP no tool at $G (run make first)"
		exit 0
	fi
	# The tests say where the data is; a caller's GPUSH_DIR must not leak.
	unset GPUSH_DIR
}
need_handler() {
	FCGI=$(abs "${GPUSH_FCGI:-cgi/gpush.fcgi}")
	if [ ! -x "$FCGI" ]; then
		echo "1..0 # SKIP no handler at $FCGI (run make first)"
		exit 0
	fi
}
# need_google -- sets PY to a python3 with googleapiclient.channel
need_google() {
	local p
	for p in ${PYTHON:-} python3 /usr/bin/python3; do
		if "$p" -c 'import googleapiclient.channel' 2>/dev/null; then
			PY=$p
			return 0
		fi
	done
	echo "1..0 # SKIP no python3 with googleapiclient (apt-get install python3-googleapi)"
	exit 0
}

# stop_bg PID SIGNAL -- sends SIGNAL, waits for PID (5 s, then SIGKILL);
# sets BG_RC to its exit status (137 when it had to be killed)
stop_bg() {
	local i
	kill -"$2" "$1" 2>/dev/null
	for i in $(seq 1 50); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$1" 2>/dev/null && kill -KILL "$1" 2>/dev/null
	wait "$1"
	BG_RC=$?
}

# ---- running the tool ----------------------------------------------------------
# run [-i INPUT-FILE] ARGS... -- runs the tool, bounded in time; sets OUT,
# ERR (without trailing newlines) and RC.
run() {
	local in=/dev/null
	if [ "${1:-}" = -i ]; then in=$2; shift 2; fi
	timeout -k 5 "$RUN_TIMEOUT" "$G" "$@" <"$in" >"$T/.out" 2>"$T/.err"
	RC=$?
	OUT=$(cat "$T/.out")
	ERR=$(cat "$T/.err")
}
# fresh_dir NAME -- a new empty data directory $T/NAME; sets D
fresh_dir() {
	D=$T/$1
	mkdir -p "$D"
	chmod 700 "$D"
}
# json_get JSON KEY -- one top-level value (strings unquoted), via python3
json_get() {
	"${PY3:-python3}" -c 'import json,sys
v = json.loads(sys.argv[1]).get(sys.argv[2])
print("" if v is None else (v if isinstance(v, str) else json.dumps(v)))' "$1" "$2"
}
