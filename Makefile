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
# -Werror is for CI (.ci/run) and tests/build.t, not for packagers, whose
# newer compilers may warn of new things: make WERROR=-Werror.
WERROR  ?=
WARN     = -Wall -Wextra -Wshadow -Wmissing-prototypes -Wpointer-arith $(WERROR)
PKG_CONFIG ?= pkg-config
JSON_CFLAGS := $(shell $(PKG_CONFIG) --cflags json-c 2>/dev/null)
JSON_LIBS   := $(shell $(PKG_CONFIG) --libs json-c 2>/dev/null || echo -ljson-c)
FCGI_LIBS   ?= -lfcgi
# Talking to Google (libgpush.so and the tool; never the handler).
NET_CFLAGS  := $(shell $(PKG_CONFIG) --cflags libcurl libcrypto 2>/dev/null)
NET_LIBS    := $(shell $(PKG_CONFIG) --libs libcurl libcrypto 2>/dev/null || echo -lcurl -lcrypto)
# The PostgreSQL store (issue 14): its headers (Debian libpq-dev) for the
# build; libpq itself is not linked but loaded when a database is first
# used (lib/pqload.c, issue 12), so nothing here links -lpq.
PG_CFLAGS   := $(shell $(PKG_CONFIG) --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)

ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -fPIC $(WARN) $(CFLAGS) $(JSON_CFLAGS) $(NET_CFLAGS) $(PG_CFLAGS) -Ilib \
             -DGPUSH_VERSION='"$(VERSION)"'
# Every object also records the headers it includes (x.d, read below), so
# that a change of any of them -- lib/gpush_private.h under tool/, say --
# rebuilds it instead of linking a stale object (tests/make-deps.t).
DEPFLAGS   = -MMD -MP
# The one place the version is written: the .pc, the tool's --version and
# the installed man page take it from here.
VERSION    = 0.1.0
SOVERSION  = 0

LIB_SRCS = lib/err.c lib/text.c lib/date.c lib/fileio.c lib/json.c \
           lib/channel.c lib/notification.c lib/dedup.c lib/registry.c \
           lib/registry_index.c lib/registry_edit.c lib/store.c \
           lib/commit.c lib/logfile.c lib/logfollow.c lib/logshare.c \
           lib/dbfollow.c lib/journal.c lib/watch.c
# issue 10: the Google side (the channel's API, batch bodies)
LIB_SRCS += lib/api.c lib/batch.c
# issue 14: the PostgreSQL store; libpq loaded on first use (issue 12)
LIB_SRCS += lib/pgstore.c lib/pgschema.c lib/pqload.c
# The files that use libcurl/libcrypto: the handler must reference none.
NET_SRCS = lib/credentials.c lib/jwt.c lib/http.c lib/oauth.c
LIB_SRCS += $(NET_SRCS)
LIB_OBJS = $(LIB_SRCS:.c=.o)
TOOL_SRCS = $(wildcard tool/*.c)
TOOL_OBJS = $(TOOL_SRCS:.c=.o)
UNIT_SRCS = $(wildcard tests/unit/*.c)
UNIT_BINS = $(UNIT_SRCS:.c=)

TARGETS = lib/libgpush.a lib/libgpush.so cgi/gpush.fcgi lib/gpush.pc tool/gpush

all: $(TARGETS)

# Only what lib/gpush.h marks GPUSH_API is exported from libgpush.so; the
# tool, the handler and the tests use the static library (or the sources).
lib/%.o: lib/%.c lib/gpush.h lib/gpush_private.h
	$(CC) $(ALL_CFLAGS) -fvisibility=hidden $(DEPFLAGS) -c $< -o $@

lib/libgpush.a: $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $(LIB_OBJS)

lib/libgpush.so: $(LIB_OBJS)
	$(CC) -shared -Wl,-soname,libgpush.so.$(SOVERSION) $(LDFLAGS) -o $@ \
	    $(LIB_OBJS) $(JSON_LIBS) $(NET_LIBS)

# The schema and the roles' SQL, embedded as C strings (pgschema.c).
lib/%_sql.h: lib/%.sql
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $< > $@
lib/pgschema.o: lib/schema_sql.h lib/roles_sql.h

# The .pc names the install paths, so it depends on them, not only on its
# template: `make` then `make install PREFIX=/opt/gpush` must not install a
# .pc that still says /usr/local (tests/install.t).  lib/gpush.pc.vars
# holds the values it was made with; it is rewritten (and the .pc remade)
# only when they change, at parse time, so `make -q all` stays true when
# nothing changed (tests/make-deps.t).
PC_VARS := $(PREFIX)|$(LIBDIR)|$(INCLUDEDIR)|$(NET_LIBS)|$(VERSION)
PC_STAMP := $(shell printf '%s\n' '$(PC_VARS)' | cmp -s - lib/gpush.pc.vars || \
    printf '%s\n' '$(PC_VARS)' >lib/gpush.pc.vars)

lib/gpush.pc: lib/gpush.pc.in lib/gpush.pc.vars Makefile
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@NET_LIBS@|$(NET_LIBS)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    lib/gpush.pc.in > $@

cgi/gpush.fcgi: cgi/gpush_fcgi.c lib/gpush.h lib/libgpush.a
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -DGPUSH_DEFAULT_DIR='"$(GPUSH_DIR)"' \
	    cgi/gpush_fcgi.c -o $@ $(LDFLAGS) lib/libgpush.a $(JSON_LIBS) \
	    $(FCGI_LIBS)

tool/%.o: tool/%.c lib/gpush.h lib/gpush_private.h $(wildcard tool/*.h)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -DGPUSH_DEFAULT_DIR='"$(GPUSH_DIR)"' \
	    -c $< -o $@

tool/gpush: $(TOOL_OBJS) lib/libgpush.a
	$(CC) $(ALL_CFLAGS) -o $@ $(TOOL_OBJS) $(LDFLAGS) lib/libgpush.a $(JSON_LIBS) \
	    $(NET_LIBS)

tests/unit/%: tests/unit/%.c tests/unit/tap.h tests/unit/lib_all.h $(LIB_SRCS) \
    lib/gpush.h lib/gpush_private.h lib/schema_sql.h lib/roles_sql.h
	$(CC) $(ALL_CFLAGS) -Itests/unit $< -o $@ $(JSON_LIBS)

# The unit test of the Google side includes NET_SRCS too, so it links more.
tests/unit/t_auth: tests/unit/t_auth.c tests/unit/tap.h tests/unit/lib_all.h $(LIB_SRCS) \
    lib/gpush.h lib/gpush_private.h lib/schema_sql.h lib/roles_sql.h
	$(CC) $(ALL_CFLAGS) -Itests/unit $< -o $@ $(JSON_LIBS) $(NET_LIBS)

# Sanitizer build of the handler, used by tests/cgi-sanitized.t.
SAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer
HANDLER_SRCS = $(filter-out $(NET_SRCS),$(LIB_SRCS))
tests/san/gpush.fcgi: cgi/gpush_fcgi.c $(HANDLER_SRCS) lib/gpush.h lib/gpush_private.h \
    lib/schema_sql.h lib/roles_sql.h
	@mkdir -p tests/san
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) $(SAN_FLAGS) $(JSON_CFLAGS) $(PG_CFLAGS) -Ilib \
	    cgi/gpush_fcgi.c $(HANDLER_SRCS) -o $@ $(JSON_LIBS) $(FCGI_LIBS)

-include $(wildcard lib/*.d tool/*.d cgi/*.d)
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
	install -m 0755 tool/gpush $(DESTDIR)$(BINDIR)/gpush
	sed 's/^\.Os gpush$$/.Os gpush $(VERSION)/' tool/gpush.1 > $(DESTDIR)$(MANDIR)/man1/gpush.1
	chmod 0644 $(DESTDIR)$(MANDIR)/man1/gpush.1
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
	rm -f lib/*.o lib/*.a lib/*.so lib/gpush.pc lib/gpush.pc.vars lib/*_sql.h cgi/gpush.fcgi tool/*.o \
	    lib/*.d tool/*.d cgi/*.d \
	    tool/gpush $(UNIT_BINS)
	rm -rf tests/san tests/tmp

.PHONY: all check deps install uninstall clean torture
