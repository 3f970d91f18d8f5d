#!/bin/bash
# HTTPS through Apache + mod_ssl: conf/apache-gpush.conf (the endpoint, with
# mod_fcgid) and conf/apache-gpush-ssl.conf (the HTTPS virtual host) as
# INSTALL (b) uses them, with a test CA's certificate (openssl CLI) in place
# of certbot's.  TAP.  A private Apache on free loopback ports (tests/server/
# apache.sh): plain http and https.
MODE=fcgid
LAYOUT=conf
APACHE_SETUP_ONLY=1
. "$(dirname "$0")/lib.sh"
need_pkgs openssl:openssl /usr/lib/apache2/modules/mod_ssl.so:apache2

# Called by apache.sh once $T is made: the test CA, and the shipped HTTPS
# site with its Define lines changed and its port the free one.
apache_extra_conf() {
	local mods=${APACHE_MODULES:-/usr/lib/apache2/modules} v
	HPORT=$(free_port)
	make_test_ca "$T/tls" >&2
	for v in HOST TLS_CERT TLS_KEY; do
		grep -q "^Define GPUSH_$v " "$REPO/conf/apache-gpush-ssl.conf" ||
		    bail "conf/apache-gpush-ssl.conf has no 'Define GPUSH_$v' line"
	done
	grep -q '<VirtualHost \*:443>' "$REPO/conf/apache-gpush-ssl.conf" ||
	    bail "conf/apache-gpush-ssl.conf has no <VirtualHost *:443>"
	mkdir -p "$T/www"
	sed -e "s|^Define GPUSH_HOST .*|Define GPUSH_HOST 127.0.0.1|" \
	    -e "s|^Define GPUSH_TLS_CERT .*|Define GPUSH_TLS_CERT $T/tls/fullchain.pem|" \
	    -e "s|^Define GPUSH_TLS_KEY .*|Define GPUSH_TLS_KEY $T/tls/privkey.pem|" \
	    -e "s|<VirtualHost \*:443>|<VirtualHost *:$HPORT>|" \
	    -e "s|DocumentRoot /var/www/html|DocumentRoot $T/www|" \
	    "$REPO/conf/apache-gpush-ssl.conf" >"$T/gpush-ssl.conf"
	# What Debian's ssl.load/ssl.conf and ports.conf give a2enmod ssl.
	echo "LoadModule socache_shmcb_module $mods/mod_socache_shmcb.so"
	echo "LoadModule ssl_module $mods/mod_ssl.so"
	echo "SSLSessionCache shmcb:$T/run/ssl_scache(512000)"
	echo "Listen 127.0.0.1:$HPORT"
	echo "Include $T/gpush-ssl.conf"
	echo "$HPORT" >"$T/hport"
}
. "$(dirname "$0")/apache.sh"
HURL="https://127.0.0.1:$(cat "$T/hport")/notifications"
https_notify "$HURL" "$T/tls/ca.pem"
refused_logged "$ACCESS_LOG"
done_testing
