#!/bin/sh
# The libFuzzer targets (tests/fuzz/fuzz_*.c), briefly: builds them with
# clang -fsanitize=fuzzer,address,undefined (mk/fuzz.mk), runs each for
# FUZZ_T_SECONDS (8) over a copy of its corpus in a temporary directory, so
# the corpus in the repository is not changed, then replays every input in
# tests/fuzz/regress/<target>/.  TAP: one line per target and per
# regression input; a failure shows the sanitizer's report and the input
# in hex.  Skipped when clang cannot build a fuzzer.
#
# The fuzzing runs with FUZZ_SKIP_KNOWN=1: the checks of bugs reported
# already (each kept as a regression input) do not stop it, so it looks for
# new ones.  The replays run without it and fail until the bugs are fixed.
cd "$(dirname "$0")/.." || exit 1
CC=${FUZZ_CC:-clang}
SECONDS_EACH=${FUZZ_T_SECONDS:-8}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gpush-fuzz.XXXXXX") || exit 1
# fuzz_seen's scratch directory for compaction: a tmpfs when there is one
shm=/dev/shm
[ -d "$shm" ] && [ -w "$shm" ] || shm=$tmp
FUZZ_STATE_DIR=$(mktemp -d "$shm/gpush-fuzz-state.XXXXXX") || exit 1
export FUZZ_STATE_DIR
trap 'rm -rf "$tmp" "$FUZZ_STATE_DIR"' EXIT
trap 'exit 1' INT TERM

printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' \
    > "$tmp/probe.c"
if ! command -v "$CC" >/dev/null 2>&1 ||
   ! "$CC" -fsanitize=fuzzer,address,undefined "$tmp/probe.c" -o "$tmp/probe" \
       >/dev/null 2>&1; then
	echo "1..0 # SKIP $CC cannot build with -fsanitize=fuzzer (libclang-rt-14-dev)"
	exit 0
fi

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

if ! make -s -f mk/fuzz.mk fuzz-build FUZZ_CC="$CC" > "$tmp/build.log" 2>&1; then
	echo "not ok 1 - build the fuzz targets"
	sed 's/^/#   /' "$tmp/build.log" | head -40
	echo "1..1"
	exit 1
fi

for src in tests/fuzz/fuzz_*.c; do
	t=$(basename "$src" .c)
	bin=tests/fuzz/bin/$t
	d=$tmp/$t
	mkdir -p "$d/corpus" "$d/art"
	if [ -d "tests/fuzz/corpus/$t" ]; then
		cp tests/fuzz/corpus/"$t"/* "$d/corpus/" 2>/dev/null
	fi
	n=$((n + 1))
	FUZZ_SKIP_KNOWN=1 timeout $((SECONDS_EACH * 4 + 60)) "$bin" \
	    -max_total_time="$SECONDS_EACH" -rss_limit_mb=1024 -timeout=20 \
	    -print_final_stats=1 -artifact_prefix="$d/art/" "$d/corpus" \
	    > "$d/log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$d/log")
	if [ $rc -eq 0 ]; then
		echo "ok $n - $t: ${SECONDS_EACH} s, ${execs:-?} execs"
	else
		fail=1
		echo "not ok $n - $t: exit $rc after ${execs:-?} execs"
		report "$d/log"
		for f in "$d"/art/*; do
			[ -f "$f" ] || continue
			echo "#   $(basename "$f") ($(wc -c < "$f") bytes):"
			hexdump_comment "$f"
		done
	fi
	for f in tests/fuzz/regress/"$t"/*; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		if timeout 120 "$bin" -rss_limit_mb=1024 -artifact_prefix="$d/art/" \
		    "$f" > "$d/regress.log" 2>&1; then
			echo "ok $n - $t replays ${f#tests/fuzz/}"
		else
			fail=1
			echo "not ok $n - $t replays ${f#tests/fuzz/}"
			report "$d/regress.log"
			echo "#   input ($(wc -c < "$f") bytes):"
			hexdump_comment "$f"
		fi
	done
done
echo "1..$n"
exit $fail
