#!/bin/sh
# make check's runner: every test prints TAP; prove gathers it and closes
# with its summary (and a non-zero exit when anything failed).
cd "$(dirname "$0")/.." || exit 1
set -- tests/unit/t_err tests/unit/t_text tests/unit/t_date tests/unit/t_json \
    tests/unit/t_notification tests/unit/t_channel \
    tests/unit/t_store tests/unit/t_auth tests/unit/t_api tests/unit/t_batch tests/*.t
for d in tests/tool tests/sender tests/server tests/google; do
	for t in "$d"/*.t; do [ -f "$t" ] && set -- "$@" "$t"; done
done
exec prove --timer "$@"
