-- roles.sql -- the two roles of gpush's PostgreSQL store (issue 14).
-- Run it once as an administrator (CREATEROLE), before or after
-- `gpush db init`:  psql -v ON_ERROR_STOP=1 -f roles.sql  (or: gpush db roles | psql)
--
--   gpush_handler  what gpush.fcgi needs: read channels (and the registry
--                  and schema versions), read and insert notifications.
--                  It can change no channel and update or delete no row.
--   gpush_tool     what the gpush tool needs: read and write channels, read
--                  and insert notifications.
--
-- Both are NOLOGIN groups; give each host's login role one of them, e.g.
--   CREATE ROLE gpush_web LOGIN PASSWORD '...' IN ROLE gpush_handler;
--   CREATE ROLE gpush_admin LOGIN PASSWORD '...' IN ROLE gpush_tool;
-- and keep the password out of the connection string (~/.pgpass).
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gpush_handler') THEN
		CREATE ROLE gpush_handler NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gpush_tool') THEN
		CREATE ROLE gpush_tool NOLOGIN;
	END IF;
	IF EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
	    WHERE n.nspname = 'gpush' AND p.proname = 'grant_roles') THEN
		PERFORM gpush.grant_roles();
	END IF;
END $$;
