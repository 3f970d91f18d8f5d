#!/bin/sh
# make check's runner: every test prints TAP; prove gathers it and closes
# with its summary (and a non-zero exit when anything failed).
cd "$(dirname "$0")/.." || exit 1
set -- tests/unit/t_util tests/unit/t_notification tests/unit/t_channel \
    tests/unit/t_store tests/unit/t_auth tests/*.t
for d in tests/tool tests/sender tests/server; do
	for t in "$d"/*.t; do [ -f "$t" ] && set -- "$@" "$t"; done
done
# issue 10: the channel's API and batch bodies
set -- tests/unit/t_api tests/unit/t_batch "$@" tests/google/watch.t
exec prove --timer "$@"
