# tests/server/lib.sh -- shared by the server integration tests (bash).
#
# Each test sources this, then: need_handler; need_pkgs ...; make_tmp;
# starts its own server from the repo's conf/ and htdocs/ templates on a free
# loopback port; runs the sender and the checks; done_testing.
# Every server started is registered with on_exit and stopped on any exit.
#
# Environment:
#   GPUSH_FCGI   the handler (default cgi/gpush.fcgi, relative to the repo)
#   GPUSH_KEEP   1: keep the temporary directory (its path is printed)
#   GPUSH_TEST_TMP  where it is made (default /tmp; tests/lib/stage.py)
#   PYTHON       python3 to run the sender with (default python3)
#   SENDER_CHANNELS, SENDER_EVENTS, SENDER_THREADS   the load (20, 25, 8)

set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PYTHON=${PYTHON:-python3}
SENDER="$REPO/tests/sender/gsender.py"
CHECKLOG="$REPO/tests/server/checklog.py"
SENDER_CHANNELS=${SENDER_CHANNELS:-20}
SENDER_EVENTS=${SENDER_EVENTS:-25}
SENDER_THREADS=${SENDER_THREADS:-8}
BASE=""        # the URL path of the folder that holds the endpoint

# TAP, and on_exit: tests/lib/tap.sh; a private lighttpd: tests/lib/lighttpd.sh.
. "$REPO/tests/lib/tap.sh"
. "$REPO/tests/lib/lighttpd.sh"

# ---- prerequisites --------------------------------------------------------
need_handler() {
	GPUSH_FCGI=${GPUSH_FCGI:-cgi/gpush.fcgi}
	case $GPUSH_FCGI in /*) ;; *) GPUSH_FCGI="$REPO/$GPUSH_FCGI" ;; esac
	if [ ! -x "$GPUSH_FCGI" ]; then
		echo "1..0 # SKIP no handler at $GPUSH_FCGI (run make first)"
		exit 0
	fi
}

# need_pkgs CMD:PACKAGE ... -- installs what is missing when root.
need_pkgs() {
	local item cmd pkg missing=()
	for item in "$@"; do
		cmd=${item%%:*}
		pkg=${item#*:}
		if [ -e "$cmd" ] || command -v "$cmd" >/dev/null 2>&1; then
			continue
		fi
		missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
		echo "1..0 # SKIP missing ${missing[*]} (not root: cannot install)"
		exit 0
	fi
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y --no-install-recommends "${missing[@]}" \
	    >"${TMPDIR:-/tmp}/gpush-apt.$$.log" 2>&1; then
		apt-get update >>"${TMPDIR:-/tmp}/gpush-apt.$$.log" 2>&1
		if ! apt-get install -y --no-install-recommends \
		    "${missing[@]}" >>"${TMPDIR:-/tmp}/gpush-apt.$$.log" 2>&1
		then
			tail -20 "${TMPDIR:-/tmp}/gpush-apt.$$.log" | diag
			echo "1..0 # SKIP cannot install ${missing[*]}"
			exit 0
		fi
	fi
	rm -f "${TMPDIR:-/tmp}/gpush-apt.$$.log"
	note "installed ${missing[*]}"
}

# ---- places -------------------------------------------------------------
# The user the server runs handlers as (www-data under root, else us) and
# where its files go: tests/lib/stage.py, the rule every harness shares.
STAGE="$REPO/tests/lib/stage.py"
read -r RUN_USER RUN_GROUP < <("$PYTHON" "$STAGE" --print-user) ||
    { echo "Bail out! tests/lib/stage.py --print-user"; exit 1; }

make_tmp() {    # make_tmp NAME -- sets T
	# Not $TMPDIR nor the clone: the servers run handlers as www-data,
	# who must reach it (stage.py checks that it can).
	T=$("$PYTHON" "$STAGE" --base "${GPUSH_TEST_TMP:-/tmp}" --name "gpushsrv-$1") ||
	    bail "stage.py: no directory $RUN_USER can reach"
	if [ "${GPUSH_KEEP:-0}" = 1 ]; then
		on_exit "echo '# kept $T' >&2"
	else
		on_exit "rm -rf '$T'"
	fi
}

free_port() {
	"$PYTHON" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL SECONDS -- until the server answers at all
wait_http() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		curl -s -o /dev/null --max-time 2 "$1" && return 0
		sleep 0.1
	done
	return 1
}

# make_data DIR -- a data directory with a registry of test channels,
# owned by the user the handler runs as.
make_data() {
	mkdir -p "$1"
	"$PYTHON" "$SENDER" registry --out "$1/channels.jsonl" \
	    --channels "$SENDER_CHANNELS" --prefix "${2:-ch}" || bail "registry"
	# One channel that has expired already, for the 410 probe.
	printf '%s\n' '{"kind":"api#channel","id":"old","resourceId":"r-old","resourceUri":"https://x/old","token":"old-token-secret","expiration":"1384823632000"}' \
	    >>"$1/channels.jsonl"
	chown -R "$RUN_USER:$RUN_GROUP" "$1"
	chmod 700 "$1"
	chmod 600 "$1/channels.jsonl"
}

# first_channel FIELD -- a field of the registry's first channel
chan_field() {
	"$PYTHON" -c 'import json,sys
c = json.loads(open(sys.argv[1]).readline()); print(c[sys.argv[2]])' \
	    "$DATA/channels.jsonl" "$1"
}

# make_test_ca DIR -- a test CA (openssl CLI) and a certificate it signed
# for 127.0.0.1 and localhost: DIR/ca.pem, DIR/fullchain.pem (the server's
# certificate, then the CA's, as certbot's fullchain.pem has its chain),
# DIR/privkey.pem.  Readable by the server only after it reads them as
# root, like certbot's (mode 0600 key).
make_test_ca() {
	local d=$1
	mkdir -p "$d"
	{
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
		    -subj '/CN=gpush test CA' -keyout "$d/ca.key" -out "$d/ca.pem" \
		    -addext 'basicConstraints=critical,CA:TRUE' \
		    -addext 'keyUsage=critical,keyCertSign,cRLSign' &&
		openssl req -newkey rsa:2048 -nodes -subj '/CN=127.0.0.1' \
		    -keyout "$d/privkey.pem" -out "$d/server.csr" &&
		printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
		    'basicConstraints=CA:FALSE' 'extendedKeyUsage=serverAuth' >"$d/ext" &&
		openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" \
		    -CAkey "$d/ca.key" -CAcreateserial -days 2 -extfile "$d/ext" \
		    -out "$d/cert.pem" &&
		cat "$d/cert.pem" "$d/ca.pem" >"$d/fullchain.pem"
	} >"$d/openssl.log" 2>&1 || { diag <"$d/openssl.log"; bail "openssl: no test CA"; }
	chmod 600 "$d/privkey.pem" "$d/ca.key"
}

# https_notify URL CACERT -- over HTTPS: a client that does not know the
# test CA is refused (as Google refuses a self-signed certificate), one
# that does (curl --cacert) posts a notification of the registry's first
# channel and gets 200, and its line is in the log.  Four tests.
https_notify() {
	local url=$1 ca=$2 id tok n got
	id=$(chan_field id)
	tok=$(chan_field token)
	n=$(( $(date +%s) % 100000 + 2 ))
	local H=(-H "X-Goog-Channel-ID: $id" -H "X-Goog-Channel-Token: $tok"
	    -H "X-Goog-Resource-ID: $(chan_field resourceId)"
	    -H "X-Goog-Resource-URI: $(chan_field resourceUri)"
	    -H 'X-Goog-Resource-State: exists' -H "X-Goog-Message-Number: $n"
	    -H 'Content-Type: application/json' --data-binary '{}')
	curl -s -o /dev/null --max-time 10 "${H[@]}" "$url" 2>"$T/curl-untrusted.err"
	got=$?
	ok $([ "$got" = 60 ] || [ "$got" = 35 ]; echo $?) \
	    "https: a client without the CA refuses the certificate (curl exit $got)"
	got=$(curl -s -o "$T/probe.body" -w '%{http_code} %{scheme}' --max-time 10 \
	    --cacert "$ca" "${H[@]}" "$url")
	ok $([ "$got" = "200 HTTPS" ]; echo $?) "https: a notification over HTTPS with --cacert: 200 (got $got)"
	grep -q "\"channel_id\":\"$id\",\"message_number\":$n," "$DATA/notifications.ndjson"
	ok $? "https: its line is in the log (channel $id, message $n)"
	tail -n 1 "$DATA/notifications.ndjson" | cut -c1-200 | diag
	got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$ca" \
	    -X POST -H "X-Goog-Channel-ID: $id" -H 'X-Goog-Channel-Token: wrong' \
	    -H "X-Goog-Resource-ID: r" -H "X-Goog-Resource-URI: https://x" \
	    -H 'X-Goog-Resource-State: exists' -H "X-Goog-Message-Number: $((n + 1))" \
	    --data-binary '' "$url")
	ok $([ "$got" = 401 ]; echo $?) "https: a wrong token over HTTPS: 401 (got $got)"
}

# ---- checks -------------------------------------------------------------
# status METHOD URL [curl args...] -- prints the HTTP status
status() {
	local m=$1 u=$2
	shift 2
	if [ "$m" = HEAD ]; then set -- -I "$@"; else set -- -X "$m" "$@"; fi
	curl -s -o "$T/probe.body" -D "$T/probe.head" -w '%{http_code}' \
	    --max-time 10 "$@" "$u"
}

# post_probe EXPECTED DESCRIPTION [header args] -- one crafted POST
post_probe() {
	local want=$1 what=$2 got
	shift 2
	case " $* " in *" --data-binary "*) ;; *) set -- "$@" --data-binary '' ;; esac
	got=$(status POST "$URL" -H 'Content-Type: application/json' "$@")
	ok $([ "$got" = "$want" ]; echo $?) "$what: $want (got $got)"
	[ "$got" = "$want" ] || head -c 300 "$T/probe.body" | diag
}

# probes -- the handler's statuses as they come through this server
probes() {
	local id tok rid ruri exp big
	id=$(chan_field id)
	tok=$(chan_field token)
	rid=$(chan_field resourceId)
	ruri=$(chan_field resourceUri)
	local H=(-H "X-Goog-Channel-ID: $id" -H "X-Goog-Resource-ID: $rid"
	    -H "X-Goog-Resource-URI: $ruri" -H "X-Goog-Resource-State: sync")
	local got
	got=$(status GET "$URL")
	ok $([ "$got" = 405 ] && grep -qi '^Allow: *POST' "$T/probe.head"
	    echo $?) "GET endpoint: 405 with Allow: POST (got $got)"
	post_probe 401 "wrong token" "${H[@]}" \
	    -H "X-Goog-Channel-Token: not-$tok" -H "X-Goog-Message-Number: 1"
	post_probe 404 "unknown channel" -H "X-Goog-Channel-ID: nosuch" \
	    -H "X-Goog-Channel-Token: x" -H "X-Goog-Resource-ID: r" \
	    -H "X-Goog-Resource-URI: https://x" -H "X-Goog-Resource-State: sync" \
	    -H "X-Goog-Message-Number: 1"
	post_probe 400 "malformed message number" "${H[@]}" \
	    -H "X-Goog-Channel-Token: $tok" -H "X-Goog-Message-Number: 1x"
	post_probe 410 "expired channel" -H "X-Goog-Channel-ID: old" \
	    -H "X-Goog-Channel-Token: old-token-secret" \
	    -H "X-Goog-Resource-ID: r-old" -H "X-Goog-Resource-URI: https://x/old" \
	    -H "X-Goog-Resource-State: sync" -H "X-Goog-Message-Number: 1"
	big="$T/big.json"
	"$PYTHON" -c 'import sys; sys.stdout.write("{\"a\":\"" + "x"*70000 + "\"}")' >"$big"
	post_probe 413 "body over 64 KiB" "${H[@]}" \
	    -H "X-Goog-Channel-Token: $tok" -H "X-Goog-Message-Number: 1" \
	    --data-binary "@$big"
}

# refused_logged FILE -- the wrong-token probe of probes() (a 401, which
# leaves nothing in notifications.ndjson) left its line in the endpoint's
# access log FILE, as INSTALL's troubleshooting says.  Servers may write
# the line a moment after the answer: waits up to 5 s.
refused_logged() {
	local i
	for i in $(seq 50); do
		grep -qE '"POST [^"]*/notifications HTTP/[0-9.]+" 401 ' "$1" 2>/dev/null && break
		sleep 0.1
	done
	grep -qE '"POST [^"]*/notifications HTTP/[0-9.]+" 401 ' "$1" 2>/dev/null
	ok $? "the refused request (401) is in the access log ${1##*/}"
	[ -f "$1" ] && tail -n 3 "$1" | diag
}

# not_served PATH... -- nothing but the endpoint can be fetched
not_served() {
	local p got bad=() secrets
	secrets=$("$PYTHON" -c 'import json,sys
for l in open(sys.argv[1]):
    l = l.strip()
    if l: print(json.loads(l)["token"])' "$DATA/channels.jsonl")
	for p in "$@"; do
		for m in GET HEAD; do
			got=$(status "$m" "http://127.0.0.1:$PORT$BASE$p" --path-as-is)
			if [ "$got" = 200 ] && [ -s "$T/probe.body" ]; then
				bad+=("$m $p: 200 with $(wc -c <"$T/probe.body") bytes")
			elif [ "$m" = HEAD ] && [ "$got" = 200 ]; then
				bad+=("HEAD $p: 200")
			elif grep -qaF "$secrets" "$T/probe.body" 2>/dev/null ||
			    grep -qa $'\x7fELF' "$T/probe.body" 2>/dev/null ||
			    grep -qa 'channel_id' "$T/probe.body" 2>/dev/null; then
				bad+=("$m $p: $got with a secret, binary or log")
			fi
		done
		note "GET $BASE$p -> $(status GET "http://127.0.0.1:$PORT$BASE$p" --path-as-is)"
	done
	ok ${#bad[@]} "nothing but the endpoint is served (${#} paths)"
	[ ${#bad[@]} -eq 0 ] || printf '%s\n' "${bad[@]}" | diag
}

# The data directory (kept in the web root's var/ by the tests on purpose).
DATA_LEAK_PATHS=(/channels.jsonl /notifications.ndjson /var/channels.jsonl
	/var/notifications.ndjson /var/ /var/state/ /var /VAR/CHANNELS.JSONL
	/var%2fchannels.jsonl /%76ar/channels.jsonl
	/notifications/../var/channels.jsonl /./var/channels.jsonl
	/var/channels.jsonl%00 /notifications.ndjson/ /state/ /var/state
	/var/state/shared /var/state/log.lock /var/state/registry.lock
	/gpush.fcgi/../var/channels.jsonl)
# Everything in the endpoint's folder but the endpoint and robots.txt.
LEAK_PATHS=("${DATA_LEAK_PATHS[@]}" /gpush.fcgi /.htaccess /lighttpd.conf
	/ /index.html /cgi/gpush.fcgi /notifications/x /robots.txt/x)

robots() {
	local got
	got=$(status GET "http://127.0.0.1:$PORT$BASE/robots.txt")
	ok $([ "$got" = 200 ] && grep -q '^User-agent: APIs-Google' \
	    "$T/probe.body"; echo $?) "robots.txt admits APIs-Google ($got)"
}

# run_sender RESTART-CMD -- the Google-like load, then the log checks
run_sender() {
	local rc
	"$PYTHON" "$SENDER" send --url "$URL" --registry "$DATA/channels.jsonl" \
	    --max-channels "$SENDER_CHANNELS" --events "$SENDER_EVENTS" \
	    --threads "$SENDER_THREADS" --report "$T/report.json" \
	    --max-time 35 --delivery-time 20 --pace "${SENDER_PACE:-0.05}" \
	    --at-half "$1" \
	    2>"$T/sender.err"
	rc=$?
	diag <"$T/sender.err"
	ok $([ -s "$T/report.json" ]; echo $?) "sender finished (rc $rc)"
	[ -s "$T/report.json" ] || return 1
	"$PYTHON" -c 'import json,sys
h = json.load(open(sys.argv[1])).get("at_half") or {}
sys.exit(0 if h.get("rc") == 0 else 1)' "$T/report.json"
	ok $? "graceful restart in the middle of the run succeeded"
	checklog "$1"
}

checklog() {
	local line
	while IFS= read -r line; do
		case $line in
		PASS:*) pass "${line#PASS: }" ;;
		FAIL:*) fail "${line#FAIL: }" ;;
		*) echo "$line" ;;
		esac
	done < <("$PYTHON" "$CHECKLOG" --report "$T/report.json" \
	    --log "$DATA/notifications.ndjson" --registry "$DATA/channels.jsonl" \
	    --label "$LABEL")
}

# data_modes -- how the handler left the data directory (a note only)
data_modes() {
	(cd "$DATA" && find . -maxdepth 2 -printf '%M %u:%g %p\n' | sort) | diag
}
