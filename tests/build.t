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
	    $(pkg-config --cflags json-c libcurl libcrypto libpq) -Ilib -fsyntax-only "$f" 2>&1 || echo "FAILED $f"; done)
	if [ -z "$out" ]; then echo "ok $n - $cc: no warnings"; else
		echo "not ok $n - $cc: warnings"; echo "$out" | sed 's/^/# /'; fail=1; fi
done
# The handler links neither libcurl nor libcrypto (issue 10): only the
# tool and libgpush.so talk to Google.  Nothing links libpq (issue 12): it
# is loaded when a database store is first used (lib/pqload.c), so the
# handler's start-up, for the file store most sites use, no longer loads
# and relocates it and its ~22 libraries (libssl, libcrypto, Kerberos,
# LDAP...).  So ldd, which lists what the loader loads with the handler
# whatever brings it, has none of them either.
n=$((n + 1))
if [ ! -x cgi/gpush.fcgi ] || ! command -v readelf >/dev/null; then
	echo "ok $n - handler loads no libcurl/libcrypto/libssl/libkrb5/libpq # SKIP not built"
elif out=$({ readelf -d cgi/gpush.fcgi | grep NEEDED; ldd cgi/gpush.fcgi; } |
    grep -E 'libcurl|libcrypto|libssl|libkrb5|libgssapi|libpq'); then
	echo "not ok $n - handler loads libcurl/libcrypto/libssl/libkrb5/libpq"
	echo "$out" | sed 's/^/# /'; fail=1
else echo "ok $n - handler loads no libcurl/libcrypto/libssl/libkrb5/libpq"; fi
for f in cgi/gpush.fcgi tool/gpush lib/libgpush.so; do
	n=$((n + 1))
	if [ ! -f "$f" ] || ! command -v readelf >/dev/null; then
		echo "ok $n - $f does not link libpq # SKIP not built"
	elif readelf -d "$f" | grep NEEDED | grep -q 'libpq'; then
		echo "not ok $n - $f links libpq (it must be loaded on first use)"
		readelf -d "$f" | grep NEEDED | sed 's/^/# /'; fail=1
	else echo "ok $n - $f does not link libpq"; fi
done
n=$((n + 1))
if [ ! -f lib/libgpush.so ]; then echo "ok $n - libgpush.so links libcurl # SKIP not built"
elif ldd lib/libgpush.so | grep -q libcurl && ldd lib/libgpush.so | grep -q libcrypto; then
	echo "ok $n - libgpush.so links libcurl and libcrypto"
else echo "not ok $n - libgpush.so links libcurl and libcrypto"; fail=1; fi
# Every function gpush.h declares is exported by libgpush.so, and nothing
# internal (gpush__) is: a declaration without GPUSH_API would be hidden.
n=$((n + 1))
if [ ! -f lib/libgpush.so ]; then echo "ok $n - exports # SKIP not built"; else
	decl=$(grep -o 'gpush_[a-z0-9_]*(' lib/gpush.h | tr -d '(' | sort -u)
	exp=$(nm -D --defined-only lib/libgpush.so | awk '{print $3}' | sort -u)
	missing=$(printf '%s\n' "$decl" | grep -vxF "$exp")
	internal=$(printf '%s\n' "$exp" | grep -c '^gpush__')
	if [ -z "$missing" ] && [ "$internal" = 0 ]; then
		echo "ok $n - libgpush.so exports every gpush.h function and no gpush__"
	else echo "not ok $n - exports: missing [$missing], $internal internal"; fail=1; fi
fi
echo "1..$n"
exit $fail
