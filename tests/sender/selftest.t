#!/bin/bash
# TAP: gsender against a scripted flaky receiver on 127.0.0.1.
exec "${PYTHON:-python3}" "$(dirname "$0")/selftest.py"
