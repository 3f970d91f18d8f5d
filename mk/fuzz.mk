# mk/fuzz.mk -- libFuzzer targets of libgpush (tests/fuzz/fuzz_*.c).
# The top Makefile includes it; it also works alone (make -f mk/fuzz.mk).
#
#   make fuzz-build      build tests/fuzz/bin/fuzz_* (clang, ASan + UBSan)
#   make fuzz            run each target FUZZ_SECONDS (300) in turn, merge
#                        the inputs that add coverage into tests/fuzz/corpus,
#                        then replay tests/fuzz/regress; crash files go to
#                        tests/fuzz/artifacts/
#   make fuzz-regress    replay tests/fuzz/regress/<target>/* only
#   make fuzz FUZZ_TARGETS=fuzz_seen FUZZ_SECONDS=60
#
# Fuzzing runs with FUZZ_SKIP_KNOWN=1, so that the checks of bugs already
# reported (each with an input in tests/fuzz/regress/) do not stop it; the
# replay runs without it, so those inputs fail until the bugs are fixed.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 300
FUZZ_RSS_MB  ?= 1024
FUZZ_SANITIZE ?= -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS  ?= -g -O1 -fno-omit-frame-pointer
FUZZ_DIR      = tests/fuzz
FUZZ_BIN      = $(FUZZ_DIR)/bin
FUZZ_ALL     := $(notdir $(basename $(wildcard $(FUZZ_DIR)/fuzz_*.c)))
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_JSON_CFLAGS := $(shell pkg-config --cflags json-c 2>/dev/null)
FUZZ_JSON_LIBS   := $(shell pkg-config --libs json-c 2>/dev/null || echo -ljson-c)
FUZZ_DEPS     = $(FUZZ_DIR)/fuzz_common.h tests/unit/lib_all.h \
                $(wildcard lib/*.c) lib/gpush.h lib/gpush_private.h

fuzz-build: $(addprefix $(FUZZ_BIN)/,$(FUZZ_TARGETS))

# Each target includes the library's sources (tests/unit/lib_all.h).
$(FUZZ_BIN)/fuzz_%: $(FUZZ_DIR)/fuzz_%.c $(FUZZ_DEPS)
	@mkdir -p $(FUZZ_BIN)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(FUZZ_CFLAGS) \
	    $(FUZZ_SANITIZE) $(FUZZ_JSON_CFLAGS) -Ilib $< -o $@ $(FUZZ_JSON_LIBS)

# FUZZ_STATE_DIR: fuzz_seen's scratch directory, removed even after a crash.
fuzz: fuzz-build
	@status=0; \
	FUZZ_STATE_DIR=$$(mktemp -d $$( [ -w /dev/shm ] && echo /dev/shm || \
	    echo $${TMPDIR:-/tmp})/gpush-fuzz-state.XXXXXX); \
	export FUZZ_STATE_DIR; \
	for t in $(FUZZ_TARGETS); do \
	    corpus=$(FUZZ_DIR)/corpus/$$t; new=$$(mktemp -d); \
	    mkdir -p $$corpus $(FUZZ_DIR)/artifacts; \
	    echo "== $$t: $(FUZZ_SECONDS) s"; \
	    FUZZ_SKIP_KNOWN=1 $(FUZZ_BIN)/$$t -max_total_time=$(FUZZ_SECONDS) \
	        -rss_limit_mb=$(FUZZ_RSS_MB) -timeout=30 -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_DIR)/artifacts/$$t- $$new $$corpus \
	        > $(FUZZ_DIR)/artifacts/$$t.log 2>&1 || { status=1; \
	        echo "$$t FAILED: see $(FUZZ_DIR)/artifacts/$$t.log"; \
	        grep -E '==FUZZ==|^SUMMARY|Test unit written' \
	            $(FUZZ_DIR)/artifacts/$$t.log; }; \
	    grep -E 'stat::number_of_executed_units' $(FUZZ_DIR)/artifacts/$$t.log; \
	    $(FUZZ_BIN)/$$t -merge=1 -rss_limit_mb=$(FUZZ_RSS_MB) $$corpus $$new \
	        2>&1 | grep -E 'MERGE-OUTER: [0-9]+ new files'; \
	    rm -rf $$new; \
	done; \
	rm -rf "$$FUZZ_STATE_DIR"; \
	$(MAKE) -s -f mk/fuzz.mk fuzz-regress FUZZ_TARGETS="$(FUZZ_TARGETS)" \
	    || status=1; \
	exit $$status

fuzz-regress: fuzz-build
	@status=0; \
	FUZZ_STATE_DIR=$$(mktemp -d); export FUZZ_STATE_DIR; \
	for t in $(FUZZ_TARGETS); do \
	    for f in $(FUZZ_DIR)/regress/$$t/*; do \
	        [ -f "$$f" ] || continue; \
	        if $(FUZZ_BIN)/$$t -rss_limit_mb=$(FUZZ_RSS_MB) "$$f" \
	            > $(FUZZ_DIR)/bin/regress.log 2>&1; then \
	            echo "fixed:  $$f"; \
	        else \
	            echo "FAILS:  $$f"; status=1; \
	            grep -E '==FUZZ==|^SUMMARY' $(FUZZ_DIR)/bin/regress.log; \
	        fi; \
	    done; \
	done; \
	rm -rf "$$FUZZ_STATE_DIR"; \
	exit $$status

fuzz-clean:
	rm -rf $(FUZZ_BIN) $(FUZZ_DIR)/artifacts

.PHONY: fuzz fuzz-build fuzz-regress fuzz-clean
