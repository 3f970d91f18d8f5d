"""make bench, in parts (bench/bench.py is the entry point):

  config.py     the run's settings, from the environment, once
  output.py     the progress line, notes, number formats
  procs.py      cleanup, stopping processes, ports
  packages.py   what each part needs, installed with apt-get under root
  data.py       registries, requests, data directories
  variants.py   the variants and the rows of the table
  servers.py    lighttpd, gunicorn, Apache, started from the stage
  measure.py    wrk runs, interleaved rounds, CGI handler time
  profiles.py   perf, callgrind, strace, massif
  parsers.py    their output, and /proc
  report.py     the table, targets, scaling, chart, TAP
  main.py       the order of it all
  fcgi.py       FastCGI spawn and request, on the tests' client
"""
import os
import sys

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(BENCH)
# The tests' shared modules: tests/lib/stage.py (what runs as another user
# goes outside the clone) and the FastCGI client (see fcgi.py).
for _d in (os.path.join(REPO, 'tests', 'lib'), os.path.join(REPO, 'tests', 'cgi')):
    if _d not in sys.path:
        sys.path.insert(0, _d)
