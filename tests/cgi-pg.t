#!/bin/sh
# Every CGI fixture against the PostgreSQL store (issue 14), in plain CGI
# and FastCGI mode: a throw-away server, the same expected statuses and
# records (tests/cgi/run.py --database).
exec python3 tests/cgi/run.py cgi/gpush.fcgi --database --label fixtures-pg
