#!/bin/bash
# tests/server/runtap.sh -- a plain TAP runner for machines without prove.
#     tests/server/runtap.sh TEST.t...
# Runs each test with bash, echoes its output, checks its plan, and ends
# with "N passed, N failed" (tests; a skipped file counts as skipped).
pass=0 failed=0 skipped=0 bad=()
for t in "$@"; do
	echo "=== $t"
	out=$(bash "$t" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	plan=$(printf '%s\n' "$out" | sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' | tail -1)
	if printf '%s\n' "$out" | grep -q '^1\.\.0 # SKIP'; then
		skipped=$((skipped + 1))
		continue
	fi
	p=$(printf '%s\n' "$out" | grep -c '^ok ')
	f=$(printf '%s\n' "$out" | grep '^not ok ' | grep -vc '# TODO')
	pass=$((pass + p))
	failed=$((failed + f))
	if [ -z "$plan" ] || [ "$plan" -ne $((p + f)) ] || [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		failed=$((failed + 1))      # the file itself went wrong
		bad+=("$t (rc $rc, plan ${plan:-none}, ran $((p + f)))")
	elif [ "$f" -gt 0 ]; then
		bad+=("$t ($f failed)")
	fi
done
for b in "${bad[@]}"; do echo "FAILED: $b"; done
echo "server: $pass passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
