#!/bin/sh
# The libFuzzer targets (tests/fuzz/fuzz_*.c), briefly: builds them with
# clang -fsanitize=fuzzer,address,undefined (mk/fuzz.mk), then runs the
# fuzzing loop of make fuzz, tests/fuzz/run.sh, FUZZ_T_SECONDS (8) each
# over a copy of each corpus in a temporary directory, so the corpus in
# the repository is not changed, and replays every input in
# tests/fuzz/regress/<target>/.  TAP: one line per target and per
# regression input.  Skipped when clang cannot build a fuzzer.
cd "$(dirname "$0")/.." || exit 1
CC=${FUZZ_CC:-clang}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gpush-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' \
    > "$tmp/probe.c"
if ! command -v "$CC" >/dev/null 2>&1 ||
   ! "$CC" -fsanitize=fuzzer,address,undefined "$tmp/probe.c" -o "$tmp/probe" \
       >/dev/null 2>&1; then
	echo "1..0 # SKIP $CC cannot build with -fsanitize=fuzzer (libclang-rt-14-dev)"
	exit 0
fi

if ! make -s -f mk/fuzz.mk fuzz-build FUZZ_CC="$CC" > "$tmp/build.log" 2>&1; then
	echo "not ok 1 - build the fuzz targets"
	sed 's/^/#   /' "$tmp/build.log" | head -40
	echo "1..1"
	exit 1
fi
sh tests/fuzz/run.sh -s "${FUZZ_T_SECONDS:-8}"
