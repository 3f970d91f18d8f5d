# mk/server.mk -- web server integration tests and a local demo server.
# Included from the top Makefile.
#
#   make check-server   the lighttpd (mod_fastcgi), Apache + mod_fcgid,
#                       Apache + mod_cgi and Apache server-config tests in
#                       tests/server/ (TAP; each starts a private server on
#                       a free loopback port; installs missing Debian
#                       packages when root), and the sender's self-test
#   make run            lighttpd in the foreground on 127.0.0.1:$(PORT),
#                       the handler at /notifications, data in ./var; builds
#                       the tool too and says how to use it on ./var
#
# Variables: GPUSH_FCGI (the handler), PORT (make run), PROVE, PROVE_FLAGS,
# RUN_DIR (make run's data directory).

GPUSH_FCGI ?= cgi/gpush.fcgi
PORT ?= 8080
RUN_DIR ?= var
RUN_PYTHON ?= python3
PROVE ?= prove
PROVE_FLAGS ?= -v
SERVER_TESTS = tests/sender/selftest.t tests/server/lighttpd.t tests/server/hostile.t \
	tests/server/apache-fcgid.t tests/server/apache-cgi.t \
	tests/server/apache-conf.t tests/server/https-lighttpd.t tests/server/https-apache.t

.PHONY: check-server run

check-server: $(GPUSH_FCGI)
	@if command -v $(PROVE) >/dev/null 2>&1; then \
		GPUSH_FCGI='$(abspath $(GPUSH_FCGI))' \
		    $(PROVE) $(PROVE_FLAGS) --exec bash $(SERVER_TESTS); \
	else \
		GPUSH_FCGI='$(abspath $(GPUSH_FCGI))' \
		    bash tests/server/runtap.sh $(SERVER_TESTS); \
	fi

# The demo channel of make run: id demo, token demo-token, the resource of
# the Directory API guide's sync message.
RUN_CHANNEL = {"kind":"api\#channel","id":"demo","resourceId":"ret08u3rv24htgh289g","resourceUri":"https://admin.googleapis.com/admin/directory/v1/users?domain=domain&event=event","token":"demo-token"}
RUN_ABS = $(abspath $(RUN_DIR))

# A fresh machine has neither the build's packages nor lighttpd: as root,
# tests/deps.sh installs them first.  The handler, its socket and the
# configuration go to a directory outside the clone (tests/lib/stage.py,
# removed on exit): lighttpd splits bin-path at spaces, and a socket path
# is limited to 107 bytes.  lighttpd runs as us here (no server.username),
# so the data stay in ./var.
run:
	@sh tests/deps.sh run
	@$(MAKE) -s --no-print-directory $(GPUSH_FCGI) tool/gpush
	@command -v lighttpd >/dev/null 2>&1 || { \
		echo "make run needs lighttpd (apt-get install lighttpd)" >&2; \
		exit 1; }
	@mkdir -p '$(RUN_ABS)' && chmod 700 '$(RUN_ABS)'
	@grep -qs '"id":"demo"' '$(RUN_ABS)/channels.jsonl' || { \
		echo '$(RUN_CHANNEL)' >>'$(RUN_ABS)/channels.jsonl' && \
		chmod 600 '$(RUN_ABS)/channels.jsonl' && \
		echo "wrote the demo channel into $(RUN_DIR)/channels.jsonl"; }
	@S=$$($(RUN_PYTHON) tests/lib/stage.py --name gpush-run --user "$$(id -un)" \
	    --copy '$(GPUSH_FCGI)') || exit 1; \
	trap 'rm -rf "$$S"' EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; \
	sed -e "s|^var.gpush_bin .*|var.gpush_bin = \"$$S/gpush.fcgi\"|" \
	    -e 's|^var.gpush_dir .*|var.gpush_dir = "$(RUN_ABS)"|' \
	    -e "s|^var.gpush_socket .*|var.gpush_socket = \"$$S/gpush.sock\"|" \
	    -e 's|^var.gpush_procs .*|var.gpush_procs = 2|' \
	    -e "s|^var.gpush_accesslog .*|var.gpush_accesslog = \"$$S/gpush-access.log\"|" \
	    conf/lighttpd.conf >"$$S/gpush.conf" && \
	{ echo 'server.document-root = "$(abspath htdocs)"'; \
	   echo 'server.bind = "127.0.0.1"'; \
	   echo 'server.port = $(PORT)'; \
	   echo 'mimetype.assign = ( ".txt" => "text/plain" )'; \
	   echo "include \"$$S/gpush.conf\""; \
	} >"$$S/lighttpd.conf" && \
	lighttpd -tt -f "$$S/lighttpd.conf" || exit 1; \
	exp=$$(LC_ALL=C date -u -d '+7 days' '+%a, %d %b %Y %H:%M:%S GMT'); \
	echo; \
	echo "gpush on http://127.0.0.1:$(PORT)/notifications (data in $(RUN_DIR)/; Ctrl-C stops)"; \
	echo; \
	echo "Post the sync message of the Directory API guide (channel demo):"; \
	echo; \
	echo "  curl -i http://127.0.0.1:$(PORT)/notifications \\"; \
	echo "    -H 'Content-Type: application/json; utf-8' \\"; \
	echo "    -H 'X-Goog-Channel-ID: demo' \\"; \
	echo "    -H 'X-Goog-Channel-Token: demo-token' \\"; \
	echo "    -H 'X-Goog-Channel-Expiration: $$exp' \\"; \
	echo "    -H 'X-Goog-Resource-ID: ret08u3rv24htgh289g' \\"; \
	echo "    -H 'X-Goog-Resource-URI: https://admin.googleapis.com/admin/directory/v1/users?domain=domain&event=event' \\"; \
	echo "    -H 'X-Goog-Resource-State: sync' \\"; \
	echo "    -H 'X-Goog-Message-Number: 1' \\"; \
	echo "    --data-binary ''"; \
	echo; \
	echo "The channel tool on the demo data (another terminal, in this folder):"; \
	echo; \
	echo "  tool/gpush -d $(RUN_DIR) list              # the demo channel: last=1 accepted=1 after the curl"; \
	echo "  tool/gpush -d $(RUN_DIR) tail              # the log from its start"; \
	echo "  tool/gpush -d $(RUN_DIR) tail -f --cursor $(RUN_DIR)/my.cursor   # follow; resumes where it stopped"; \
	echo "  tool/gpush -d $(RUN_DIR) tail -f --cursor $(RUN_DIR)/my.cursor --exec 'cat >>seen.ndjson'"; \
	echo "                                        # the consumer: at least once (gpush(1))"; \
	echo "  tool/gpush -d $(RUN_DIR) new --address https://example.com/notifications   # another channel"; \
	echo "  man tool/gpush.1"; \
	echo; \
	echo "Every request, refused ones too (try a wrong token: 401): $$S/gpush-access.log"; \
	echo; \
	lighttpd -D -f "$$S/lighttpd.conf"
