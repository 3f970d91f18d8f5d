# tests/lib/pg.sh -- a throw-away PostgreSQL server for shell tests
# (bash; source tests/lib/tap.sh first).  See tests/lib/pg.py.
#
#   pg_start           initdb + start; sets PG_DIR PG_PORT PG_CONNINFO
#                      (superuser, database postgres) and stops the server
#                      on any exit (on_exit); returns 1 when it cannot start
#   pg_available       0 when a server can run here, else prints the reason
#   pg_psql SQL [USER] [DB]   runs SQL as USER (default postgres)
#   pg_restart | pg_down | pg_up    pg_ctl restart -m fast / stop / start
PG_PY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/pg.py"
pg_available() { python3 "$PG_PY" available >/dev/null || python3 "$PG_PY" available; }
pg_start() {
	local out
	out=$(python3 "$PG_PY" start) || return 1
	read -r PG_DIR PG_PORT <<<"$out"
	PG_CONNINFO="host=127.0.0.1 port=$PG_PORT dbname=postgres user=postgres"
	on_exit "python3 '$PG_PY' stop '$PG_DIR'"
	export PG_DIR PG_PORT PG_CONNINFO
}
pg_psql() {
	psql -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" \
	    -U "${2:-postgres}" -d "${3:-postgres}" -c "$1"
}
pg_restart() { python3 "$PG_PY" restart "$PG_DIR"; }
pg_down() { python3 "$PG_PY" down "$PG_DIR"; }
pg_up() { python3 "$PG_PY" up "$PG_DIR"; }
