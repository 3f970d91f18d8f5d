#!/bin/sh
# make bench's quick form, so the benchmark cannot rot: one ok per variant
# that ran and produced numbers.  No timing is asserted.
exec make -s --no-print-directory check-bench
