#!/bin/sh
# Installs what building and testing gpush needs, from Debian, when it is
# missing and we are root; otherwise says what is missing and goes on (the
# tests that need it skip).
set -u
# "run": only what make run needs (build, lighttpd); else all for make check.
if [ "${1:-}" = run ]; then
need="make gcc pkg-config libjson-c-dev libfcgi-dev libcurl4-openssl-dev libssl-dev libpq-dev
lighttpd"
else
need="make gcc clang libclang-rt-14-dev pkg-config libjson-c-dev libfcgi-dev
libfcgi-bin perl python3 python3-googleapi valgrind curl lighttpd apache2
libapache2-mod-fcgid man-db groff-base strace faketime logrotate slowhttptest
python3-cryptography python3-google-auth python3-requests nodejs
libcurl4-openssl-dev libssl-dev openssl lighttpd-mod-openssl libpq-dev postgresql
haproxy"
# The stand-in Google's Node peer (tests/google/peer-node.js) needs npm; NodeSource's
# nodejs bundles it, Debian's ships it apart.
command -v npm >/dev/null 2>&1 || need="$need npm"
fi
missing=""
for p in $need; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: missing:$missing (not root: install them by hand)" >&2
	exit 0
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# The server packages must not start system services on port 80.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1 || {
	apt-get update -qq >/dev/null 2>&1
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}
rc=$?
rm -f /usr/sbin/policy-rc.d
exit $rc
