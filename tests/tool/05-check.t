#!/bin/bash
# gpush check: silent and 0 on a good directory; one line per problem and
# exit 1 for each kind of problem it knows.
. "$(dirname "$0")/lib.sh"
need_tool

hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
good_dir() {    # good_dir NAME -- a directory with two channels; sets D, R
	fresh_dir "$1"
	R=$D/channels.jsonl
	run -d "$D" new --address https://example.com/a --id c1
	run -d "$D" new --address https://example.com/b --id c2
}
# expect_problem DESCRIPTION ERE -- check exits 1 with a matching line
expect_problem() {
	run -d "$D" check
	is "$RC" 1 "$1: exit 1"
	like "$OUT" "$2" "$1: reported"
}

good_dir clean
run -d "$D" check
is "$RC:$OUT:$ERR" "0::" "a good directory: exit 0, silent"
fresh_dir empty
run -d "$D" check
is "$RC:$OUT" "0:" "an empty directory: exit 0"

good_dir mode
chmod 644 "$R"
expect_problem "registry mode 0644" '^channels.jsonl: mode 0644 lets group or others at the channel tokens'
chmod 640 "$R"
expect_problem "registry mode 0640" 'mode 0640'

good_dir malformed
printf '%s\n' 'not json' >>"$R"
printf '%s\n' '{"token":"no id"}' >>"$R"
expect_problem "a line that is not JSON" '^channels.jsonl:3: not a channel'
like "$OUT" '^channels.jsonl:4: not a channel' "a channel without id: reported"
is "$(printf '%s\n' "$OUT" | wc -l)" 2 "one line per problem"

good_dir dup
head -1 "$R" >>"$R"
expect_problem "a duplicate id" '^channels.jsonl:3: duplicate id c1 \(first on line 1\)$'

good_dir notoken
printf '%s\n' '{"kind":"api#channel","id":"open","type":"web_hook","address":"https://e.com/"}' >>"$R"
expect_problem "a channel without token" '^channels.jsonl:3: channel open has no token'

good_dir state
chmod 755 "$D/state"
expect_problem "state/ mode 0755" '^state/: mode 0755, not 0700$'

good_dir torn
printf 'xxxxx' >"$D/state/ch-$(hex c1)"
expect_problem "a torn state record" '^state/: the state of channel c1 is inconsistent'
good_dir foreign
head -c 32 /dev/zero >"$D/state/ch-$(hex c2)"
expect_problem "a foreign state record" '^state/: the state of channel c2 is inconsistent'

good_dir loglink
ln -s /dev/null "$D/notifications.ndjson"
expect_problem "a log that is a symlink" '^notifications.ndjson: not a regular file'
good_dir logdir
mkdir "$D/notifications.ndjson"
expect_problem "a log that is a directory" '^notifications.ndjson: not a regular file'
if [ "$(id -u)" -ne 0 ]; then
	good_dir logro
	: >"$D/notifications.ndjson"
	chmod 444 "$D/notifications.ndjson"
	expect_problem "a read-only log" '^notifications.ndjson: not writable'
else
	skip "root writes read-only files: no read-only log test"
	skip "root writes read-only files: no read-only log test"
fi

good_dir reglink
mv "$R" "$D/real.jsonl"
ln -s real.jsonl "$R"
expect_problem "a registry that is a symlink" '^channels.jsonl: is a symbolic link'

# Several problems at once: all of them, one line each.
good_dir many
chmod 644 "$R"
printf '%s\n' 'junk' >>"$R"
chmod 711 "$D/state"
run -d "$D" check
is "$RC" 1 "three problems: exit 1"
is "$(printf '%s\n' "$OUT" | wc -l)" 3 "three problems: three lines"

# check itself fails when there is no directory (exit 1, stderr).
run -d "$T/absent" check
is "$RC" 1 "check of a missing directory: exit 1"
like "$ERR" "^gpush: .*absent: No such file" "check of a missing directory: message"

done_testing
