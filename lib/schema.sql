-- schema.sql -- gpush's PostgreSQL store, schema version 1 (issue 14).
--
-- Run by `gpush --database CONNINFO db init` (gpush_db_migrate(), in one
-- transaction under an advisory lock), never by the handler.  Everything
-- lives in the schema "gpush".  The library embeds this file.
--
-- Tables:
--   schema_version    one row per version applied; the handler and the tool
--                     refuse a database whose highest version is not theirs.
--   channels          the registry: one row per channel.  line is the
--                     registry line exactly as channels.jsonl would hold it
--                     (every key of Google's channel resource and gpush's
--                     own "gpush..." keys), record the same as jsonb; id,
--                     token, resource_id, resource_uri, expiration are
--                     copies for queries.  generation is drawn afresh when
--                     a channel row is made, so a channel made again with
--                     the same id starts a fresh dedup (gpush_store_forget
--                     has nothing to do); it also orders the registry.
--   registry_version  one row, bumped by a statement trigger on every
--                     change of channels: a FastCGI process keeps the
--                     channels it has read and reads this one value per
--                     request to know when to drop them.
--   notifications     one row per accepted notification: the log record's
--                     keys as columns, record the record as jsonb, line the
--                     log line exactly as notifications.ndjson would hold
--                     it (without the newline).  One exception: jsonb cannot
--                     hold U+0000, so a body with \u0000 (valid JSON)
--                     leaves body NULL and record without "body"; line
--                     always has the whole record.  id orders rows by insert
--                     start; xact (the inserting transaction's id) with id
--                     gives an order that a reader can follow without
--                     skipping rows of transactions that commit late: read
--                     only rows whose xact is below the snapshot's xmin
--                     (pg_snapshot_xmin(pg_current_snapshot())), in (xact,
--                     id) order, after the last (xact, id) seen.
--                     unique (channel_id, channel_generation,
--                     message_number) is the exactly-once key: the handler
--                     inserts with ON CONFLICT DO NOTHING, so of two hosts
--                     inserting the same notification at the same moment
--                     one waits for the other and inserts nothing.  The
--                     replay window (the 1024 newest numbers of a channel)
--                     is read from that same index.
--
-- Roles (lib/roles.sql makes them; `gpush db roles` prints it):
--   gpush_handler  the receiver: SELECT on channels, registry_version and
--                  schema_version; SELECT and INSERT on notifications (its
--                  dedup bookkeeping is the unique index) and USAGE on its
--                  id sequence.  Nothing else: no UPDATE or DELETE
--                  anywhere, no change to channels.
--   gpush_tool     the channel tool: channels read and written, the
--                  registry_version bumped by the trigger, notifications
--                  read (tail, export) and inserted (import).
-- The owner of the schema is whoever ran `db init` (an administrator).

CREATE SCHEMA IF NOT EXISTS gpush;

CREATE TABLE gpush.schema_version (
	version    integer PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE SEQUENCE gpush.channel_generation;

CREATE TABLE gpush.channels (
	id           text PRIMARY KEY
	             CHECK (length(id) BETWEEN 1 AND 64),
	generation   bigint NOT NULL UNIQUE
	             DEFAULT nextval('gpush.channel_generation'),
	token        text,
	resource_id  text,
	resource_uri text,
	expiration   bigint NOT NULL DEFAULT 0,   -- ms since the epoch; 0: none
	record       jsonb NOT NULL,
	line         text NOT NULL,
	updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE gpush.registry_version (
	one     boolean PRIMARY KEY DEFAULT true CHECK (one),
	version bigint NOT NULL
);
INSERT INTO gpush.registry_version VALUES (true, 1);

CREATE FUNCTION gpush.registry_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	UPDATE gpush.registry_version SET version = version + 1;
	RETURN NULL;
END $$;

CREATE TRIGGER channels_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON gpush.channels
	FOR EACH STATEMENT EXECUTE FUNCTION gpush.registry_changed();

CREATE TABLE gpush.notifications (
	id                 bigserial PRIMARY KEY,
	xact               xid8 NOT NULL DEFAULT pg_current_xact_id(),
	channel_id         text NOT NULL,
	channel_generation bigint NOT NULL,
	message_number     bigint NOT NULL CHECK (message_number > 0),
	received_at        timestamptz NOT NULL,
	resource_state     text NOT NULL,
	resource_id        text NOT NULL,
	resource_uri       text NOT NULL,
	channel_expiration bigint,                -- ms; NULL when not sent
	changed            jsonb,                 -- NULL when not sent
	body               jsonb,                 -- NULL when empty
	record             jsonb NOT NULL,
	line               text NOT NULL,
	UNIQUE (channel_id, channel_generation, message_number)
);
CREATE INDEX notifications_order ON gpush.notifications (xact, id);

-- The grants of the two roles, to those of them that exist (made by
-- lib/roles.sql before or after `db init`; it calls this too).
CREATE FUNCTION gpush.grant_roles() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gpush_handler') THEN
		GRANT USAGE ON SCHEMA gpush TO gpush_handler;
		GRANT SELECT ON gpush.channels, gpush.registry_version,
		    gpush.schema_version TO gpush_handler;
		GRANT SELECT, INSERT ON gpush.notifications TO gpush_handler;
		GRANT USAGE ON SEQUENCE gpush.notifications_id_seq TO gpush_handler;
	END IF;
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gpush_tool') THEN
		GRANT USAGE ON SCHEMA gpush TO gpush_tool;
		GRANT SELECT, INSERT, UPDATE, DELETE ON gpush.channels TO gpush_tool;
		GRANT SELECT, UPDATE ON gpush.registry_version TO gpush_tool;
		GRANT SELECT ON gpush.schema_version TO gpush_tool;
		GRANT USAGE ON SEQUENCE gpush.channel_generation TO gpush_tool;
		GRANT SELECT, INSERT ON gpush.notifications TO gpush_tool;
		GRANT USAGE ON SEQUENCE gpush.notifications_id_seq TO gpush_tool;
	END IF;
END $$;
SELECT gpush.grant_roles();

INSERT INTO gpush.schema_version (version) VALUES (1);
