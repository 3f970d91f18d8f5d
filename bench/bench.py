#!/usr/bin/python3
"""make bench -- gpush against its ceilings and the usual alternative.

Everything runs on 127.0.0.1, side by side and interleaved, in one run:
one lighttpd serves every FastCGI variant (and proxies the Flask one), one
wrk with bench/notify.lua drives each in turn, round after round, so a
noisy neighbour slows all variants alike and the ratios hold.  Read
bench/README.md for what the rows are and how to read them; the parts are
in bench/gpushbench/ (its __init__.py lists them), the settings and their
environment variables in bench/gpushbench/config.py.

  bench.py            the full benchmark (about 10 s per variant)
  bench.py --tap      TAP, one test per variant (make check-bench)
  bench.py --deps     only install what is missing (root, Debian)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpushbench.main import entry  # noqa: E402

if __name__ == '__main__':
    sys.exit(entry(sys.argv[1:]))
