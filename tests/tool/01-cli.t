#!/bin/bash
# The command line as a whole: --help, --version, the data directory
# rule (-d, GPUSH_DIR, none), usage errors (exit 2) vs failures (exit 1),
# and every subcommand's --help.
. "$(dirname "$0")/lib.sh"
need_tool

CMDS="new update list show remove stop-body due expire rotate check tail"

run --help
is "$RC" 0 "--help exits 0"
for c in $CMDS; do
	like "$OUT" "^  $c " "--help lists $c"
done
# The built-in data directory: named when there is one, else "none" (it
# once printed 'the one built in: ""').
unlike "$OUT" '""' "--help prints no empty built-in directory"
like "$OUT" 'none is built in|the one built in: /' "--help says which directory is built in, if any"
run -h
is "$RC" 0 "-h exits 0"

run --version
is "$RC" 0 "--version exits 0"
like "$OUT" '^gpush [0-9]+\.[0-9]+\.[0-9]+' "--version prints the version"

for c in $CMDS; do
	run "$c" --help
	is "$RC" 0 "$c --help exits 0"
	like "$OUT" "^usage: gpush \[-d DIR\] $c" "$c --help prints its usage"
	is "$ERR" "" "$c --help writes nothing on stderr"
done
run help new
like "$OUT" "^usage: gpush \[-d DIR\] new" "help new is new --help"

# Usage errors: exit 2, the message and the usage line on stderr.
run
is "$RC" 2 "no command: exit 2"
like "$ERR" "usage: gpush" "no command: usage on stderr"
run frobnicate
is "$RC" 2 "unknown command: exit 2"
like "$ERR" "^gpush: unknown command 'frobnicate'" "unknown command: message"
run --bogus list
is "$RC" 2 "unknown global option: exit 2"
run -d
is "$RC" 2 "-d without a value: exit 2"
like "$ERR" "needs a value" "-d without a value: message"
for c in $CMDS; do
	run -d "$T" "$c" --no-such-option
	is "$RC" 2 "$c --no-such-option: exit 2"
	like "$ERR" "^gpush: $c: unknown option '--no-such-option'" \
	    "$c --no-such-option: message names the option"
	like "$ERR" "^usage: gpush \[-d DIR\] $c" "$c --no-such-option: usage"
	is "$OUT" "" "$c --no-such-option: nothing on stdout"
done
for c in list expire rotate check due tail; do
	run -d "$T" "$c" extra-operand
	is "$RC" 2 "$c with an extra operand: exit 2"
done
for c in show remove stop-body; do
	run -d "$T" "$c"
	is "$RC" 2 "$c without ID: exit 2"
	like "$ERR" "missing operand" "$c without ID: message"
	run -d "$T" "$c" a b
	is "$RC" 2 "$c with two IDs: exit 2"
done
run -d "$T" update a b
is "$RC" 2 "update with two files: exit 2"

# No data directory anywhere: exit 1 and a clear line.  (The tool may be
# built with a default; then this cannot be tested.)
if "$G" --help | grep -q 'built in: "")'; then
	run list
	is "$RC" 1 "no data directory: exit 1"
	is "$ERR" "gpush: no data directory: use -d DIR or set GPUSH_DIR" \
	    "no data directory: one clear line"
else
	skip "built with a default data directory"
	skip "built with a default data directory"
fi

# -d, --dir=, GPUSH_DIR; -d wins over GPUSH_DIR.
fresh_dir a
A=$D
fresh_dir b
B=$D
run -d "$A" new --address https://example.com/a --id in-a
is "$RC" 0 "-d DIR new"
grep -q '"in-a"' "$A/channels.jsonl"
ok $? "-d DIR: the channel is in DIR"
run "--dir=$B" new --address https://example.com/b --id in-b
grep -q '"in-b"' "$B/channels.jsonl"
ok $? "--dir=DIR: the channel is in DIR"
GPUSH_DIR=$B timeout 10 "$G" new --address https://example.com/b --id env-b >/dev/null
grep -q '"env-b"' "$B/channels.jsonl"
ok $? "GPUSH_DIR: used without -d"
GPUSH_DIR=$B timeout 10 "$G" -d "$A" new --address https://example.com/a --id opt-a >/dev/null
grep -q '"opt-a"' "$A/channels.jsonl" && ! grep -q '"opt-a"' "$B/channels.jsonl"
ok $? "-d wins over GPUSH_DIR"

run -d "$T/does-not-exist" list
is "$RC" 1 "missing data directory: exit 1"
like "$ERR" "^gpush: .*does-not-exist: No such file or directory$" \
    "missing data directory: message"
run -d "$A/channels.jsonl" list
is "$RC" 1 "data directory that is a file: exit 1"
like "$ERR" "not a directory" "data directory that is a file: message"

# stdout closed: a failure, not a silent success.
if [ -e /dev/full ]; then
	timeout 10 "$G" -d "$A" list >/dev/full 2>"$T/full.err"
	is "$?" 1 "writing to a full stdout: exit 1"
	like "$(cat "$T/full.err")" "^gpush: .*No space left" "full stdout: message"
fi

done_testing
