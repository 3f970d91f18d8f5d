# gpush -- Google API push notification receiver.
# Plain make: PREFIX, DESTDIR, GPUSH_DIR (the data directory compiled in).

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
PCDIR      ?= $(LIBDIR)/pkgconfig
LIBEXECDIR ?= $(PREFIX)/libexec/gpush
GPUSH_DIR  ?=

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -Wall -Wextra -Werror
PKG_CONFIG ?= pkg-config
JSON_CFLAGS := $(shell $(PKG_CONFIG) --cflags json-c 2>/dev/null)
JSON_LIBS   := $(shell $(PKG_CONFIG) --libs json-c 2>/dev/null || echo -ljson-c)
FCGI_LIBS   ?= -lfcgi

ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -fPIC $(WARN) $(CFLAGS) $(JSON_CFLAGS) -Ilib
VERSION    = 0.1.0
SOVERSION  = 0

LIB_SRCS = lib/err.c lib/util.c lib/channel.c lib/notification.c \
           lib/registry.c lib/dedup.c lib/store.c lib/admin.c
LIB_OBJS = $(LIB_SRCS:.c=.o)
TOOL_SRCS = $(wildcard tool/*.c)
TOOL_OBJS = $(TOOL_SRCS:.c=.o)
UNIT_SRCS = $(wildcard tests/unit/*.c)
UNIT_BINS = $(UNIT_SRCS:.c=)

TARGETS = lib/libgpush.a lib/libgpush.so cgi/gpush.fcgi lib/gpush.pc
ifneq ($(TOOL_SRCS),)
TARGETS += tool/gpush
endif

all: $(TARGETS)

lib/%.o: lib/%.c lib/gpush.h lib/gpush_private.h
	$(CC) $(ALL_CFLAGS) -c $< -o $@

lib/libgpush.a: $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $(LIB_OBJS)

lib/libgpush.so: $(LIB_OBJS)
	$(CC) -shared -Wl,-soname,libgpush.so.$(SOVERSION) $(LDFLAGS) -o $@ \
	    $(LIB_OBJS) $(JSON_LIBS)

lib/gpush.pc: lib/gpush.pc.in Makefile
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    lib/gpush.pc.in > $@

cgi/gpush.fcgi: cgi/gpush_fcgi.c lib/gpush.h lib/libgpush.a
	$(CC) $(ALL_CFLAGS) -DGPUSH_DEFAULT_DIR='"$(GPUSH_DIR)"' \
	    cgi/gpush_fcgi.c -o $@ $(LDFLAGS) lib/libgpush.a $(JSON_LIBS) $(FCGI_LIBS)

tool/%.o: tool/%.c lib/gpush.h $(wildcard tool/*.h)
	$(CC) $(ALL_CFLAGS) -DGPUSH_DEFAULT_DIR='"$(GPUSH_DIR)"' -c $< -o $@

tool/gpush: $(TOOL_OBJS) lib/libgpush.a
	$(CC) $(ALL_CFLAGS) -o $@ $(TOOL_OBJS) $(LDFLAGS) lib/libgpush.a $(JSON_LIBS)

tests/unit/%: tests/unit/%.c tests/unit/tap.h $(LIB_SRCS) lib/gpush_private.h
	$(CC) $(ALL_CFLAGS) -Itests/unit $< -o $@ $(JSON_LIBS)

# Sanitizer build of the handler, used by tests/run-sanitized.sh.
SAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer
tests/san/gpush.fcgi: cgi/gpush_fcgi.c $(LIB_SRCS) lib/gpush.h lib/gpush_private.h
	@mkdir -p tests/san
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) $(SAN_FLAGS) $(JSON_CFLAGS) -Ilib \
	    cgi/gpush_fcgi.c $(LIB_SRCS) -o $@ $(JSON_LIBS) $(FCGI_LIBS)

-include mk/server.mk
-include mk/bench.mk
-include mk/fuzz.mk

# The fault suite, long: about a minute per test, then the summary table.
torture: all
	python3 tests/fault/suite.py --long

deps:
	sh tests/deps.sh

check: deps
	$(MAKE) all $(UNIT_BINS) tests/san/gpush.fcgi
	sh tests/run-all.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(PCDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0755 cgi/gpush.fcgi $(DESTDIR)$(LIBEXECDIR)/gpush.fcgi
	install -m 0644 lib/libgpush.a $(DESTDIR)$(LIBDIR)/libgpush.a
	install -m 0755 lib/libgpush.so $(DESTDIR)$(LIBDIR)/libgpush.so.$(VERSION)
	ln -sf libgpush.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgpush.so.$(SOVERSION)
	ln -sf libgpush.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libgpush.so
	install -m 0644 lib/gpush.h $(DESTDIR)$(INCLUDEDIR)/gpush.h
	install -m 0644 lib/gpush.pc $(DESTDIR)$(PCDIR)/gpush.pc
	if [ -f tool/gpush ]; then install -m 0755 tool/gpush $(DESTDIR)$(BINDIR)/gpush; fi
	if [ -f tool/gpush.1 ]; then install -m 0644 tool/gpush.1 $(DESTDIR)$(MANDIR)/man1/gpush.1; fi
	install -d $(DESTDIR)$(PREFIX)/share/gpush/htdocs $(DESTDIR)$(PREFIX)/share/gpush/conf
	for f in htdocs/* htdocs/.htaccess; do [ -f "$$f" ] && install -m 0644 "$$f" $(DESTDIR)$(PREFIX)/share/gpush/htdocs/; done; true
	for f in conf/*; do [ -f "$$f" ] && install -m 0644 "$$f" $(DESTDIR)$(PREFIX)/share/gpush/conf/; done; true

uninstall:
	rm -f $(DESTDIR)$(LIBEXECDIR)/gpush.fcgi $(DESTDIR)$(BINDIR)/gpush \
	    $(DESTDIR)$(LIBDIR)/libgpush.a $(DESTDIR)$(LIBDIR)/libgpush.so \
	    $(DESTDIR)$(LIBDIR)/libgpush.so.$(SOVERSION) \
	    $(DESTDIR)$(LIBDIR)/libgpush.so.$(VERSION) \
	    $(DESTDIR)$(INCLUDEDIR)/gpush.h $(DESTDIR)$(PCDIR)/gpush.pc \
	    $(DESTDIR)$(MANDIR)/man1/gpush.1
	rm -rf $(DESTDIR)$(PREFIX)/share/gpush
	-rmdir $(DESTDIR)$(LIBEXECDIR)

clean:
	rm -f lib/*.o lib/*.a lib/*.so lib/gpush.pc cgi/gpush.fcgi tool/*.o \
	    tool/gpush $(UNIT_BINS)
	rm -rf tests/san tests/tmp

.PHONY: all check deps install uninstall clean torture
