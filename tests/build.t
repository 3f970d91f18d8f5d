#!/bin/sh
# Warning-free under gcc and clang with -Wall -Wextra -Werror.
n=0; fail=0
srcs="lib/*.c cgi/*.c $(ls tool/*.c 2>/dev/null)"
for cc in gcc clang; do
	n=$((n + 1))
	if ! command -v $cc >/dev/null; then echo "ok $n - $cc # SKIP not installed"; continue; fi
	out=$(for f in $srcs; do $cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 \
	    $(pkg-config --cflags json-c) -Ilib -fsyntax-only "$f" 2>&1 || echo "FAILED $f"; done)
	if [ -z "$out" ]; then echo "ok $n - $cc: no warnings"; else
		echo "not ok $n - $cc: warnings"; echo "$out" | sed 's/^/# /'; fail=1; fi
done
# The handler links neither libcurl nor libcrypto (issue 10): only the
# tool and libgpush.so talk to Google.
n=$((n + 1))
if [ ! -x cgi/gpush.fcgi ] || ! command -v ldd >/dev/null; then
	echo "ok $n - handler links no libcurl/libcrypto # SKIP not built"
elif ldd cgi/gpush.fcgi | grep -Eq 'libcurl|libcrypto|libssl'; then
	echo "not ok $n - handler links libcurl/libcrypto"; ldd cgi/gpush.fcgi | sed 's/^/# /'; fail=1
else echo "ok $n - handler links no libcurl/libcrypto"; fi
n=$((n + 1))
if [ ! -f lib/libgpush.so ]; then echo "ok $n - libgpush.so links libcurl # SKIP not built"
elif ldd lib/libgpush.so | grep -q libcurl && ldd lib/libgpush.so | grep -q libcrypto; then
	echo "ok $n - libgpush.so links libcurl and libcrypto"
else echo "not ok $n - libgpush.so links libcurl and libcrypto"; fail=1; fi
echo "1..$n"
exit $fail
