#!/bin/sh
# The fault suite, short: a few seconds per test (make torture: the long run).
exec python3 tests/fault/suite.py
