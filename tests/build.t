#!/bin/sh
# Warning-free under gcc and clang with the Makefile's warnings, as errors
# (-Werror is here and in CI, not in the default flags).
n=0; fail=0
srcs="lib/*.c cgi/*.c $(ls tool/*.c 2>/dev/null)"
for cc in gcc clang; do
	n=$((n + 1))
	if ! command -v $cc >/dev/null; then echo "ok $n - $cc # SKIP not installed"; continue; fi
	out=$(for f in $srcs; do $cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow \
	    -Wmissing-prototypes -Wpointer-arith -Werror -O2 \
	    $(pkg-config --cflags json-c) -Ilib -fsyntax-only "$f" 2>&1 || echo "FAILED $f"; done)
	if [ -z "$out" ]; then echo "ok $n - $cc: no warnings"; else
		echo "not ok $n - $cc: warnings"; echo "$out" | sed 's/^/# /'; fail=1; fi
done
echo "1..$n"
exit $fail
