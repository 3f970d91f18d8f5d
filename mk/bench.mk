# mk/bench.mk -- make bench, make check-bench (project issue 6).
# Included from the top Makefile (-include mk/bench.mk).
#
#   make bench          the full benchmark, interleaved, ~10 s per variant
#                       (BENCH_QUICK=1: a few seconds per variant); the
#                       table goes to stdout and bench/out/results.txt,
#                       the chart to bench/out/bench.png
#   make check-bench    the quick form as TAP: one ok per variant that ran
#                       and produced numbers, # SKIP when a package is
#                       unavailable; no test asserts a timing; its files go
#                       to bench/out/check/, so a full run's stay
#
# bench/gpushbench/config.py documents its variables (BENCH_ROUNDS,
# BENCH_SECONDS, BENCH_PROCS, BENCH_SIZES, BENCH_ONLY, GPUSH_FCGI,
# GPUSH_STAGE_DIR, ...); bench/README.md
# says how to read the results.  Missing Debian packages (wrk, lighttpd,
# apache2, python3-flask, gunicorn, gnuplot-nox, valgrind, linux-perf) are
# installed with apt-get when root.

BENCH_PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
BENCH_OUT    ?= bench/out
BENCH_CHECK_OUT ?= $(BENCH_OUT)/check
BENCH_CC     ?= $(CC)
BENCH_CFLAGS ?= -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror
BENCH_FCGI_LIBS ?= $(if $(FCGI_LIBS),$(FCGI_LIBS),-lfcgi)
BENCH_HANDLER ?= cgi/gpush.fcgi
BENCH_BINS = $(BENCH_OUT)/bin/noop.fcgi $(BENCH_OUT)/bin/append.fcgi \
	$(BENCH_OUT)/bin/cgiloop

$(BENCH_OUT)/bin/noop.fcgi: bench/c/noop.c
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) $< -o $@ $(BENCH_FCGI_LIBS)

$(BENCH_OUT)/bin/append.fcgi: bench/c/append.c
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) $< -o $@ $(BENCH_FCGI_LIBS)

$(BENCH_OUT)/bin/cgiloop: bench/c/cgiloop.c
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) $< -o $@

# Dependencies first (libfcgi-dev is needed to build the responders),
# then the handler and the reference responders, then the run.
bench:
	@$(BENCH_PYTHON) bench/bench.py --deps
	@$(MAKE) --no-print-directory $(BENCH_HANDLER) tool/gpush $(BENCH_BINS)
	@BENCH_OUT='$(abspath $(BENCH_OUT))' BENCH_BIN='$(abspath $(BENCH_OUT))/bin' \
	    $(BENCH_PYTHON) bench/bench.py

check-bench:
	@BENCH_QUICK=1 $(BENCH_PYTHON) bench/bench.py --deps
	@$(MAKE) --no-print-directory $(BENCH_HANDLER) $(BENCH_BINS) >&2
	@BENCH_QUICK=1 BENCH_OUT='$(abspath $(BENCH_CHECK_OUT))' \
	    BENCH_BIN='$(abspath $(BENCH_OUT))/bin' $(BENCH_PYTHON) bench/bench.py --tap

.PHONY: bench check-bench
