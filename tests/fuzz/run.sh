#!/bin/sh
# tests/fuzz/run.sh -- the one fuzzing loop, for tests/fuzz.t (a few
# seconds each) and make fuzz / make fuzz-regress (mk/fuzz.mk).  TAP.
#
#     sh tests/fuzz/run.sh [-s SECONDS] [-k] [-r] [TARGET...]
#
# Runs each target (default: every tests/fuzz/fuzz_*.c, built into
# tests/fuzz/bin/ by mk/fuzz.mk) SECONDS (8), then replays every input in
# tests/fuzz/regress/<target>/.  One TAP line per target and per
# regression input; a failure shows the sanitizer's report and the input
# in hex.
#
#   -k  keep what fuzzing finds (make fuzz): the inputs that add coverage
#       are merged into tests/fuzz/corpus/<target>/, crash files and logs
#       go to tests/fuzz/artifacts/.  Without -k a temporary copy of the
#       corpus is fuzzed and the repository is not changed (make check).
#   -r  replay the regression inputs only (make fuzz-regress)
#
# Fuzzing runs with FUZZ_SKIP_KNOWN=1: the checks of bugs reported already
# (each kept as a regression input) do not stop it, so it looks for new
# ones.  The replays run without it and fail until the bugs are fixed.
# Every run is bounded: libFuzzer's -max_total_time, -timeout per input
# (FUZZ_INPUT_TIMEOUT, 30 s), and timeout(1) around it all.
cd "$(dirname "$0")/../.." || exit 1
SECONDS_EACH=8
KEEP=0
REPLAY_ONLY=0
while getopts s:kr o; do
	case $o in
	s) SECONDS_EACH=$OPTARG ;;
	k) KEEP=1 ;;
	r) REPLAY_ONLY=1 ;;
	*) echo "usage: $0 [-s SECONDS] [-k] [-r] [TARGET...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -eq 0 ]; then
	for src in tests/fuzz/fuzz_*.c; do set -- "$@" "$(basename "$src" .c)"; done
fi
RSS_MB=${FUZZ_RSS_MB:-1024}
INPUT_TIMEOUT=${FUZZ_INPUT_TIMEOUT:-30}
ART=tests/fuzz/artifacts

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gpush-fuzz.XXXXXX") || exit 1
# fuzz_seen's scratch directory for compaction: a tmpfs when there is one
shm=/dev/shm
[ -d "$shm" ] && [ -w "$shm" ] || shm=$tmp
FUZZ_STATE_DIR=$(mktemp -d "$shm/gpush-fuzz-state.XXXXXX") || exit 1
export FUZZ_STATE_DIR
trap 'rm -rf "$tmp" "$FUZZ_STATE_DIR"' EXIT
trap 'exit 1' INT TERM

n=0
fail=0
# hex of a file, as TAP comments
hexdump_comment() {
	od -An -tx1 -v "$1" | sed 's/^ */#     /' | head -64
}
report() { # log file: the lines that say what broke
	grep -E '==FUZZ==|^SUMMARY|ERROR: |runtime error|^    #[0-9]+ .* in ' "$1" |
	    grep -v 'in fuzzer::' | head -40 | sed 's/^/#   /'
}

# fuzz TARGET -- one fuzzing run, one TAP line
fuzz() {
	t=$1
	bin=tests/fuzz/bin/$t
	d=$tmp/$t
	mkdir -p "$d/corpus" "$d/art"
	if [ $KEEP = 1 ]; then
		# new inputs into $d/corpus, read the repository's corpus too
		mkdir -p "tests/fuzz/corpus/$t" "$ART"
		corpora="$d/corpus tests/fuzz/corpus/$t"
		art=$ART/$t-
		log=$ART/$t.log
	else
		if [ -d "tests/fuzz/corpus/$t" ]; then
			cp tests/fuzz/corpus/"$t"/* "$d/corpus/" 2>/dev/null
		fi
		corpora=$d/corpus
		art=$d/art/
		log=$d/log
	fi
	n=$((n + 1))
	# shellcheck disable=SC2086 # corpora: one or two directories
	FUZZ_SKIP_KNOWN=1 timeout $((SECONDS_EACH * 4 + 60)) "$bin" \
	    -max_total_time="$SECONDS_EACH" -rss_limit_mb="$RSS_MB" \
	    -timeout="$INPUT_TIMEOUT" -print_final_stats=1 \
	    -artifact_prefix="$art" $corpora > "$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	if [ $rc -eq 0 ]; then
		echo "ok $n - $t: ${SECONDS_EACH} s, ${execs:-?} execs"
	else
		fail=1
		echo "not ok $n - $t: exit $rc after ${execs:-?} execs"
		report "$log"
		for f in "$art"*; do
			[ -f "$f" ] && [ "$f" != "$log" ] || continue
			echo "#   $(basename "$f") ($(wc -c < "$f") bytes):"
			hexdump_comment "$f"
		done
	fi
	if [ $KEEP = 1 ]; then
		"$bin" -merge=1 -rss_limit_mb="$RSS_MB" "tests/fuzz/corpus/$t" \
		    "$d/corpus" 2>&1 | sed -n 's/^.*MERGE-OUTER: \([0-9][0-9]*\) new files.*/# \1 new inputs merged into the corpus/p'
	fi
}

# replay TARGET -- one TAP line per regression input
replay() {
	t=$1
	bin=tests/fuzz/bin/$t
	mkdir -p "$tmp/$t/art"
	for f in tests/fuzz/regress/"$t"/*; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		if timeout 120 "$bin" -rss_limit_mb="$RSS_MB" -artifact_prefix="$tmp/$t/art/" \
		    "$f" > "$tmp/regress.log" 2>&1; then
			echo "ok $n - $t replays ${f#tests/fuzz/}"
		else
			fail=1
			echo "not ok $n - $t replays ${f#tests/fuzz/}"
			report "$tmp/regress.log"
			echo "#   input ($(wc -c < "$f") bytes):"
			hexdump_comment "$f"
		fi
	done
}

for t in "$@"; do
	[ $REPLAY_ONLY = 1 ] || fuzz "$t"
	replay "$t"
done
echo "1..$n"
exit $fail
