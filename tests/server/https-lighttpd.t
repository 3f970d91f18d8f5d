#!/bin/bash
# HTTPS through lighttpd + mod_openssl, from conf/lighttpd.conf and
# conf/lighttpd-ssl.conf as INSTALL (c) uses them, with a test CA's
# certificate (openssl CLI) in place of certbot's.  TAP.  A private lighttpd
# on free loopback ports: plain http and https.
. "$(dirname "$0")/lib.sh"
LABEL=https-lighttpd
need_handler
need_pkgs lighttpd:lighttpd /usr/lib/lighttpd/mod_openssl.so:lighttpd-mod-openssl \
    openssl:openssl curl:curl
make_tmp https-lighttpd

lighttpd_setup 2
cp "$REPO/htdocs/robots.txt" "$DOC/"
make_test_ca "$T/tls"
lighttpd_tls "$T/tls/fullchain.pem" "$T/tls/privkey.pem"
lighttpd_start
https_notify "$HURL" "$T/tls/ca.pem"
refused_logged "$ACCESS_LOG"
# certbot --webroot's challenge files are served (the CA fetches them over
# plain http), nothing else of .well-known.
mkdir -p "$DOC/.well-known/acme-challenge"
echo challenge-answer >"$DOC/.well-known/acme-challenge/Tok_en-1"
echo secret >"$DOC/.well-known/other"
got=$(status GET "http://127.0.0.1:$PORT/.well-known/acme-challenge/Tok_en-1")
ok $([ "$got" = 200 ] && grep -q challenge-answer "$T/probe.body"; echo $?) \
    "an ACME http-01 challenge file is served ($got)"
not_served /.well-known/other /.well-known/ /.well-known/acme-challenge/ \
    /.well-known/acme-challenge/../other
done_testing
