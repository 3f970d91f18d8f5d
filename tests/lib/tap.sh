# tests/lib/tap.sh -- TAP and clean-up for the shell tests (bash), sourced
# by tests/tool/lib.sh and tests/server/lib.sh.
#
#   ok STATUS DESC      a test: STATUS 0 passes; returns 1 when it failed
#   pass DESC, fail DESC
#   is GOT WANT DESC, like TEXT ERE DESC, unlike TEXT ERE DESC
#   skip REASON         a test that could not run here
#   diag (stdin as # lines), note TEXT, bail TEXT
#   done_testing        the plan, then exit: non-zero when a test failed
#   on_exit CMD         CMD runs on any exit, the last registered first
#
# TAP_N_START / TAP_STATE: tests/server/hostile.t runs several set-ups in
# subshells as one TAP stream; each continues the numbering and, instead
# of printing a plan, leaves "N FAILED" in $TAP_STATE for the parent.

TAP_N=${TAP_N_START:-0}
TAP_FAILED=0
ok() {
	TAP_N=$((TAP_N + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $TAP_N - $2"
	else
		echo "not ok $TAP_N - $2"
		TAP_FAILED=$((TAP_FAILED + 1))
		return 1
	fi
}
pass() { ok 0 "$1"; }
fail() { ok 1 "$1"; }
is() {
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		printf '%s\n' "got:  $1" "want: $2" | diag
	fi
}
like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		ok 0 "$3"
	else
		ok 1 "$3"
		printf '%s\n' "no match for /$2/ in:" "$1" | diag
	fi
}
unlike() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		ok 1 "$3"
		printf '%s\n' "unexpected match for /$2/ in:" "$1" | diag
	else
		ok 0 "$3"
	fi
}
skip() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N # SKIP $1"
}
diag() { sed 's/^/# /'; }
note() { echo "# $*"; }
done_testing() {
	if [ -n "${TAP_STATE:-}" ]; then
		echo "$TAP_N $TAP_FAILED" >"$TAP_STATE"
		exit 0
	fi
	echo "1..$TAP_N"
	exit $((TAP_FAILED > 100 ? 100 : TAP_FAILED))
}
bail() { echo "Bail out! $*"; exit 1; }

# ---- clean-up ---------------------------------------------------------------
EXIT_CMDS=()
on_exit() { EXIT_CMDS+=("$1"); }
run_exit_cmds() {
	local _x
	for ((_x = ${#EXIT_CMDS[@]} - 1; _x >= 0; _x--)); do
		eval "${EXIT_CMDS[$_x]}" || true
	done
	EXIT_CMDS=()
}
trap 'rc=$?; run_exit_cmds; exit $rc' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
