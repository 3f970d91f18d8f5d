"""The shared test library of gpush (tests/lib/): what every Python test,
the fault suite and the CGI fixture runner use to drive the handler.

    fcgi.py     the FastCGI client (one request per connection)
    handler.py  the handler under test: a FastCGI pool on a Unix socket or
                plain CGI per request; start, send, stop
    datadir.py  a data directory (registry of channels) and reading its log
    tap.py      TAP output

A script puts tests/ on sys.path and imports the package:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
    from lib import fcgi, handler, datadir, tap

A package, not loose modules, so that its names (fcgi) cannot shadow a
caller's own module of the same name."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The programs under test: the environment names another build.
HANDLER = os.path.abspath(os.environ.get('GPUSH_FCGI', os.path.join(ROOT, 'cgi', 'gpush.fcgi')))
TOOL = os.path.abspath(os.environ.get('GPUSH_TOOL', os.path.join(ROOT, 'tool', 'gpush')))
