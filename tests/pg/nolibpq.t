#!/bin/bash
# tests/pg/nolibpq.t -- libpq is loaded when a database store is first used
# (lib/pqload.c, issue 12), not linked.  When it cannot be loaded, opening
# a database fails with a message that says so and how to fix it: the
# handler answers 503 (Google retries) and logs it, the tool prints it and
# exits non-zero.  "Missing" is simulated with GPUSH_LIBPQ, the override
# for a libpq elsewhere.  The file store never needs libpq: a broken
# GPUSH_LIBPQ changes nothing there.  No server is needed: every case
# fails before connecting (port 1 on loopback would refuse anyway).
. "$(dirname "$0")/../tool/lib.sh"
need_tool
need_handler
DB="host=127.0.0.1 port=1 dbname=gpush user=nobody password=s3cret-pw connect_timeout=2"
NOLIB='cannot open shared object file'
HOWTO="set GPUSH_LIBPQ to libpq's path, or unset it"

# who | GPUSH_LIBPQ | arguments | expected exit status (tool) or Status
# (handler) | what stderr must say (an ERE)
cases() {
	cat <<EOF
handler|/nonexistent/libpq.so.5||503|database: a database store needs libpq, but GPUSH_LIBPQ=/nonexistent/libpq.so.5 could not be loaded \\(/nonexistent/libpq.so.5: $NOLIB.*\\): $HOWTO
handler|libpq.so.999||503|GPUSH_LIBPQ=libpq.so.999 could not be loaded \\(libpq.so.999: $NOLIB.*\\): $HOWTO
handler|libc.so.6||503|libc.so.6 has no PQ[a-z]+ \\(not libpq, or too old\\): install Debian's libpq5, or set GPUSH_LIBPQ to its path
tool|/nonexistent/libpq.so.5|list|1|cannot open the database: a database store needs libpq, but GPUSH_LIBPQ=/nonexistent/libpq.so.5 could not be loaded .*$NOLIB.*: $HOWTO
tool|/nonexistent/libpq.so.5|new --address https://example.com/g --id ch-x|1|GPUSH_LIBPQ=/nonexistent/libpq.so.5 could not be loaded .*: $HOWTO
tool|/nonexistent/libpq.so.5|db init|1|db init: a database store needs libpq, but GPUSH_LIBPQ=/nonexistent/libpq.so.5 could not be loaded
tool|/nonexistent/libpq.so.5|tail|1|database: a database store needs libpq, but GPUSH_LIBPQ=/nonexistent/libpq.so.5 could not be loaded
tool|libc.so.6|list|1|libc.so.6 has no PQ[a-z]+ \\(not libpq, or too old\\)
EOF
}

# cgi GPUSH_LIBPQ VAR=VALUE... -- one plain-CGI request (a sync message);
# HOUT its output, HERR its stderr
cgi() {
	local lib=$1
	shift
	HOUT=$(env -i PATH="$PATH" GPUSH_LIBPQ="$lib" "$@" REQUEST_METHOD=POST \
	    CONTENT_LENGTH=0 HTTP_X_GOOG_CHANNEL_ID=ch-a \
	    HTTP_X_GOOG_CHANNEL_TOKEN="${TOKEN:-t}" HTTP_X_GOOG_RESOURCE_ID=r1 \
	    HTTP_X_GOOG_RESOURCE_URI=https://example.com/r \
	    HTTP_X_GOOG_RESOURCE_STATE=sync HTTP_X_GOOG_MESSAGE_NUMBER=1 \
	    timeout 20 "$FCGI" </dev/null 2>"$T/handler.err")
	HERR=$(cat "$T/handler.err")
}

while IFS='|' read -r who lib args want re; do
	if [ "$who" = handler ]; then
		cgi "$lib" GPUSH_DATABASE="$DB"
		like "$HOUT" "^Status: $want " "handler, GPUSH_LIBPQ=$lib: $want"
		like "$HERR" "$re" "... and its log says why and how to fix it"
		unlike "$HOUT$HERR" 's3cret-pw' "... and never the password"
	else
		# shellcheck disable=SC2086 # args is a word list
		GPUSH_LIBPQ=$lib run --database "$DB" $args
		is "$RC" "$want" "gpush $args, GPUSH_LIBPQ=$lib: exit $want"
		like "$ERR" "$re" "... and it says why and how to fix it"
	fi
done < <(cases)

# The file store never loads libpq: the same broken GPUSH_LIBPQ, a data
# directory, and the notification is accepted.
fresh_dir files
run -d "$D" new --address https://example.com/g --id ch-a
is "$RC" 0 "the file store: a channel made"
TOKEN=$(json_get "$OUT" token)
cgi /nonexistent/libpq.so.5 GPUSH_DIR="$D"
like "$HOUT" '^Status: 200 ' "the file store with a libpq that cannot be loaded: 200"
is "$(wc -l <"$D/notifications.ndjson")" 1 "... and the notification is in the log"
GPUSH_LIBPQ=/nonexistent/libpq.so.5 run -d "$D" list
is "$RC" 0 "the tool on a data directory: libpq not needed"
# And it is not even loaded: the dynamic loader's own trace of the files
# it opens (LD_DEBUG=files, on stderr) names no libpq for a file-store
# request, and does for a database request (that the trace can tell).
TOKEN=$TOKEN cgi "" GPUSH_DIR="$D" LD_DEBUG=files
like "$HOUT" '^Status: 200 ' "a file-store request under LD_DEBUG=files: 200"
unlike "$HERR" 'libpq' "... and the loader never opened libpq"
cgi "" GPUSH_DATABASE="$DB" LD_DEBUG=files
like "$HERR" 'file=libpq\.so\.5 .*dynamically loaded by' "a database request: the loader opens libpq.so.5 (dlopen)"
done_testing
