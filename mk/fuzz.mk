# mk/fuzz.mk -- libFuzzer targets of libgpush (tests/fuzz/fuzz_*.c).
# The top Makefile includes it; it also works alone (make -f mk/fuzz.mk).
#
#   make fuzz-build      build tests/fuzz/bin/fuzz_* (clang, ASan + UBSan)
#   make fuzz            run each target FUZZ_SECONDS (300) in turn, merge
#                        the inputs that add coverage into tests/fuzz/corpus,
#                        then replay tests/fuzz/regress; crash files go to
#                        tests/fuzz/artifacts/ (tests/fuzz/run.sh -k; TAP)
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
# lib_all.h includes the PostgreSQL store too (issue 14): libpq's headers;
# libpq itself is loaded on first use (lib/pqload.c), never linked.
FUZZ_PG_CFLAGS   := $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
FUZZ_DEPS     = $(FUZZ_DIR)/fuzz_common.h tests/unit/lib_all.h \
                $(wildcard lib/*.c) lib/gpush.h lib/gpush_private.h \
                lib/schema_sql.h lib/roles_sql.h

fuzz-build: $(addprefix $(FUZZ_BIN)/,$(FUZZ_TARGETS))

# Each target includes the library's sources (tests/unit/lib_all.h).
$(FUZZ_BIN)/fuzz_%: $(FUZZ_DIR)/fuzz_%.c $(FUZZ_DEPS)
	@mkdir -p $(FUZZ_BIN)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(FUZZ_CFLAGS) \
	    $(FUZZ_SANITIZE) $(FUZZ_JSON_CFLAGS) $(FUZZ_PG_CFLAGS) -Ilib $< -o $@ \
	    $(FUZZ_JSON_LIBS)

# The loop itself is tests/fuzz/run.sh, which tests/fuzz.t runs too: -k
# keeps what it finds (the corpus merge, tests/fuzz/artifacts/).
fuzz: fuzz-build
	@FUZZ_RSS_MB=$(FUZZ_RSS_MB) sh $(FUZZ_DIR)/run.sh -k -s $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-regress: fuzz-build
	@FUZZ_RSS_MB=$(FUZZ_RSS_MB) sh $(FUZZ_DIR)/run.sh -r $(FUZZ_TARGETS)

fuzz-clean:
	rm -rf $(FUZZ_BIN) $(FUZZ_DIR)/artifacts

.PHONY: fuzz fuzz-build fuzz-regress fuzz-clean
