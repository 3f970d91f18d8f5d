#!/bin/sh
# Every object is rebuilt when any header it includes changes: for each
# header of lib/, tool/ and cgi/, `make -n -W HEADER` (make as if HEADER
# had just been edited, without touching it) must recompile every source
# that includes it, directly or through another header (cc -MM).  A stale
# object linked after a change of a struct is the bug this guards.
cd "$(dirname "$0")/.." || exit 1
n=0; fail=0
# Up to date first: a test before this one may have changed the install
# paths (tests/install.t), which remakes lib/gpush.pc; a plan made on a
# stale tree would list every source and prove nothing.
if ! make -s all >/dev/null 2>&1 || ! make -q all >/dev/null 2>&1; then
	echo "Bail out! make all does not bring the tree up to date"
	exit 1
fi
cc=${CC:-cc}
for h in lib/*.h tool/*.h; do
	[ -f "$h" ] || continue
	plan=$(make -n -W "$h" all 2>/dev/null)
	for src in lib/*.c tool/*.c cgi/*.c; do
		$cc -MM -Ilib $(pkg-config --cflags json-c libpq 2>/dev/null) "$src" \
		    2>/dev/null | tr ' \\' '\n\n' | grep -qx "$h" || continue
		n=$((n + 1))
		if printf '%s\n' "$plan" | grep -q -- " $src "; then
			echo "ok $n - $src is rebuilt after a change of $h"
		else
			echo "not ok $n - $src is NOT rebuilt after a change of $h"
			fail=1
		fi
	done
done
echo "1..$n"
exit $fail
