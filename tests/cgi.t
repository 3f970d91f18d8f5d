#!/bin/sh
# Every CGI fixture, in plain CGI and in FastCGI mode.
exec python3 tests/cgi/run.py cgi/gpush.fcgi --label fixtures
