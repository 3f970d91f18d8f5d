#!/bin/sh
# The fixtures again, through the ASan/UBSan build: any report fails.
[ -x tests/san/gpush.fcgi ] || { echo "1..0 # SKIP no sanitizer build"; exit 0; }
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
exec python3 tests/cgi/run.py tests/san/gpush.fcgi --sanitized --label asan+ubsan
