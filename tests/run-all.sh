#!/bin/sh
# make check's runner: every test prints TAP; prove gathers it and closes
# with its summary (and a non-zero exit when anything failed).
# The unit binaries are found by their sources (tests/unit/t_*.c), so a new
# t_*.c is run without being listed here; make check builds every one
# (UNIT_BINS in the Makefile), and a binary missing here fails in prove.
cd "$(dirname "$0")/.." || exit 1
set --
for c in tests/unit/t_*.c; do
	[ -f "$c" ] && set -- "$@" "${c%.c}"
done
set -- "$@" tests/*.t
for d in tests/tool tests/sender tests/server tests/google tests/pg; do
	for t in "$d"/*.t; do [ -f "$t" ] && set -- "$@" "$t"; done
done
exec prove --timer "$@"
