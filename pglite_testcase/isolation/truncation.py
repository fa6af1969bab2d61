"""``isolation = "truncate"``: after each test, empty the tables the test wrote to, and only those.

Emptying every table costs one ``TRUNCATE`` of all of them per test, which grows
with the schema (tens of milliseconds at 100 tables). Instead, a statement-level
trigger on every user table records the tables a statement inserted into or
updated (``pglite_testcase_truncate.written``, in the test's own transaction, so
a rolled-back write leaves no record either), and the cleanup empties just those
with ``DELETE``, referencing tables before the tables they reference (an order
worked out once, from the foreign keys), restarting their owned sequences as
``RESTART IDENTITY`` would. A table grown past 1 MB (dead rows: nothing vacuums
in PGlite) is truncated instead. Tables created after the triggers were
installed (noticed by a higher ``pg_class`` OID) get a trigger and are emptied
at the next cleanup.

When the foreign keys form a cycle, or a table has DELETE triggers of its own
(which a TRUNCATE would not fire), the deletes run with
``session_replication_role = replica`` (superuser only; it also costs every
cached plan); without superuser rights, the written tables are then truncated
together (``TRUNCATE ... CASCADE``).

A transaction that rolled back records nothing, but may have advanced sequences
(a failed INSERT): when one did since the last cleanup (``pg_xact_status`` of the
transaction ids in between), every used sequence of the tracked tables is
restarted too. Not noticed: a statement that failed before it got a transaction
id (a NOT NULL violation after ``nextval``, within the 32 values a sequence
hands out without WAL); a TRUNCATE of tables with pages would not notice it either.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

SCHEMA = "pglite_testcase_truncate"

# (No '%' anywhere: psycopg would read it as a placeholder.)
INSTALL_SQL = f"""
DO $install$
BEGIN
  IF to_regclass('{SCHEMA}.state') IS NOT NULL THEN
    RETURN;
  END IF;
  CREATE SCHEMA {SCHEMA};
  CREATE TABLE {SCHEMA}.written (relid oid PRIMARY KEY);
  -- Every user table: its place in the delete order, and the sequences RESTART IDENTITY restarts.
  CREATE TABLE {SCHEMA}.tracked (relid oid PRIMARY KEY, ord integer NOT NULL, seqs regclass[], starts bigint[]);
  CREATE TABLE {SCHEMA}.state (
    max_class_oid oid NOT NULL, superuser boolean NOT NULL, cyclic boolean NOT NULL, replica boolean NOT NULL,
    last_xid bigint
  );
  INSERT INTO {SCHEMA}.state SELECT 0, rolsuper, false, false, NULL FROM pg_roles WHERE rolname = current_user;

  CREATE FUNCTION {SCHEMA}.record() RETURNS trigger LANGUAGE plpgsql AS $f$
  BEGIN
    INSERT INTO {SCHEMA}.written VALUES (TG_RELID) ON CONFLICT DO NOTHING;
    RETURN NULL;
  END $f$;

  CREATE FUNCTION {SCHEMA}.track_new_tables() RETURNS void LANGUAGE plpgsql AS $f$
  DECLARE
    t regclass;
    tables oid[];
    srcs oid[];
    dsts oid[];
    has_cycle boolean;
  BEGIN
    FOR t IN
      SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('information_schema', '{SCHEMA}') AND n.nspname !~ '^pg_'
        AND NOT EXISTS (SELECT FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgname = 'pglite_testcase_written')
    LOOP
      EXECUTE 'CREATE TRIGGER pglite_testcase_written AFTER INSERT OR UPDATE ON ' || t
        || ' FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.record()';
      -- ALWAYS: it records writes made with session_replication_role = replica too.
      EXECUTE 'ALTER TABLE ' || t || ' ENABLE ALWAYS TRIGGER pglite_testcase_written';
    END LOOP;
    tables := ARRAY(
      SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('information_schema', '{SCHEMA}') AND n.nspname !~ '^pg_');
    SELECT coalesce(array_agg(f.conrelid), '{{}}'), coalesce(array_agg(f.confrelid), '{{}}') INTO srcs, dsts
    FROM pg_constraint f
    WHERE f.contype = 'f' AND f.conrelid <> f.confrelid AND f.conrelid = ANY (tables) AND f.confrelid = ANY (tables);
    -- The delete order: a table's place is the longest chain of foreign keys that leads to it, so
    -- tables come before the tables they reference. A chain as long as the number of tables has
    -- gone round a cycle: the tables in a cycle, and those they lead to, share the last place.
    -- (One query: a statement per level cost 25 ms for a chain of 100 tables.)
    DELETE FROM {SCHEMA}.tracked;
    INSERT INTO {SCHEMA}.tracked (relid, ord, seqs, starts)
      SELECT o.relid, o.ord,
             array_agg(d.objid::regclass ORDER BY d.objid) FILTER (WHERE s.seqrelid IS NOT NULL),
             array_agg(s.seqstart ORDER BY d.objid) FILTER (WHERE s.seqrelid IS NOT NULL)
      FROM (
        WITH RECURSIVE chain (relid, level) AS (
          SELECT r, 0 FROM unnest(tables) AS r
          UNION
          SELECT e.dst, c.level + 1 FROM chain c JOIN unnest(srcs, dsts) AS e (src, dst) ON e.src = c.relid
          WHERE c.level < cardinality(tables))
        SELECT relid, max(level) AS ord FROM chain GROUP BY relid) AS o
      LEFT JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = o.relid
        AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
      LEFT JOIN pg_sequence s ON s.seqrelid = d.objid
      GROUP BY o.relid, o.ord;
    has_cycle := EXISTS (SELECT FROM {SCHEMA}.tracked k WHERE k.ord >= cardinality(tables));
    UPDATE {SCHEMA}.state SET
      max_class_oid = (SELECT max(oid) FROM pg_class),
      cyclic = has_cycle,
      replica = superuser AND (has_cycle OR EXISTS (
        SELECT FROM pg_trigger g JOIN {SCHEMA}.tracked k ON k.relid = g.tgrelid
        WHERE NOT g.tgisinternal AND g.tgname <> 'pglite_testcase_written' AND (g.tgtype & 8) <> 0));
  END $f$;

  CREATE FUNCTION {SCHEMA}.empty_written(excluded text[]) RETURNS void LANGUAGE plpgsql AS $f$
  DECLARE
    t regclass;
    seqs regclass[];
    starts bigint[];
    to_truncate text;
    tables oid[] := '{{}}';
    levels integer[] := '{{}}';
    level integer;
    st {SCHEMA}.state;
    xid bigint;
  BEGIN
    SELECT * INTO st FROM {SCHEMA}.state;
    -- No transaction has completed with an id since the last clean-up (that one's own): nothing was
    -- written, no table made, no write rolled back. Return without taking an id of its own.
    IF st.last_xid IS NOT NULL AND pg_snapshot_xmax(pg_current_snapshot())::text::bigint = st.last_xid + 1 THEN
      RETURN;
    END IF;
    xid := pg_current_xact_id()::text::bigint;
    -- A transaction that rolled back since the last cleanup recorded nothing, but may have
    -- advanced sequences (a failed INSERT): then every used sequence is restarted. On a server
    -- other sessions' transactions are in the range too; past 1,000 of them, restart anyway.
    IF st.last_xid IS NOT NULL AND xid - st.last_xid > 1 AND (xid - st.last_xid > 1000 OR EXISTS (
        SELECT FROM generate_series(st.last_xid + 1, xid - 1) x
        WHERE pg_xact_status(x::text::xid8) IS DISTINCT FROM 'committed')) THEN
      PERFORM setval(q.seq, q.start, false)
      FROM (SELECT unnest(k.seqs) AS seq, unnest(k.starts) AS start FROM {SCHEMA}.tracked k) q
      WHERE pg_sequence_last_value(q.seq) IS NOT NULL;
    END IF;
    UPDATE {SCHEMA}.state SET last_xid = xid;
    IF (SELECT max(oid) FROM pg_class) > st.max_class_oid THEN
      -- New tables since the last look: empty them now (they may hold rows), track them from now on.
      INSERT INTO {SCHEMA}.written
        SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('information_schema', '{SCHEMA}') AND n.nspname !~ '^pg_'
          AND NOT EXISTS (SELECT FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgname = 'pglite_testcase_written')
      ON CONFLICT DO NOTHING;
      PERFORM {SCHEMA}.track_new_tables();
      SELECT * INTO st FROM {SCHEMA}.state;
    END IF;
    IF st.replica THEN
      SET LOCAL session_replication_role = replica;
    END IF;
    -- Row by row, by index: written is small, tracked and pg_class are not (a join plans scans of both).
    FOR t IN DELETE FROM {SCHEMA}.written RETURNING relid LOOP
      SELECT k.ord INTO level FROM {SCHEMA}.tracked k WHERE k.relid = t;
      CONTINUE WHEN NOT FOUND OR NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = t);  -- dropped since
      tables := tables || t::oid;
      levels := levels || level;
    END LOOP;
    tables := ARRAY(SELECT x.relid FROM unnest(tables, levels) AS x (relid, level) ORDER BY x.level);
    FOREACH t IN ARRAY tables LOOP
      CONTINUE WHEN t::text = ANY (excluded);
      SELECT k.seqs, k.starts INTO seqs, starts FROM {SCHEMA}.tracked k WHERE k.relid = t;
      IF (st.cyclic AND NOT st.replica) OR pg_relation_size(t) > 1048576 THEN
        to_truncate := concat_ws(', ', to_truncate, t::text);
      ELSE
        EXECUTE 'DELETE FROM ' || t;
      END IF;
      FOR i IN 1 .. coalesce(array_length(seqs, 1), 0) LOOP
        PERFORM setval(seqs[i], starts[i], false);
      END LOOP;
    END LOOP;
    IF to_truncate IS NOT NULL THEN
      EXECUTE 'TRUNCATE ' || to_truncate || ' CASCADE';
    END IF;
  END $f$;

  -- What the first cleanup of a class empties: every table that has pages (rows, seed rows from
  -- migrations, or dead rows), and every used sequence is restarted, as TRUNCATE ... RESTART
  -- IDENTITY of every table would, at a fraction of its cost (it gives each table a new file).
  CREATE FUNCTION {SCHEMA}.mark_all_written() RETURNS void LANGUAGE plpgsql AS $f$
  BEGIN
    INSERT INTO {SCHEMA}.written SELECT k.relid FROM {SCHEMA}.tracked k WHERE pg_relation_size(k.relid) > 0
    ON CONFLICT DO NOTHING;
    PERFORM setval(q.seq, q.start, false)
    FROM (SELECT unnest(k.seqs) AS seq, unnest(k.starts) AS start FROM {SCHEMA}.tracked k) q
    WHERE pg_sequence_last_value(q.seq) IS NOT NULL;
  END $f$;

  PERFORM {SCHEMA}.track_new_tables();
END
$install$
"""


def reset_session_sql(user: str, settings: Sequence[tuple[str, str]] = ()) -> str:
    """One statement that puts a session back to what a fresh connection gets: the connecting user
    (whatever ``SET SESSION AUTHORIZATION`` / ``SET ROLE`` did), every setting as it was at the start
    (``RESET ALL``, then ``settings``: what a fresh session had set, by PGlite's host or the driver), no temporary
    tables, SQL-level prepared statements, open cursors, LISTENs or advisory locks. (``DISCARD ALL``
    less its ``DEALLOCATE ALL``: a driver's own prepared statements stay, and on PGlite, whose
    clients share one session, other connections' too; and it can run in a transaction.)"""

    def literal(value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    fresh = ", ".join(literal(f"{name}={value}") for name, value in sorted(settings))  # (code point order)
    restore = ""
    if settings:
        rows = ", ".join(f"({literal(name)}, {literal(value)})" for name, value in settings)
        restore = f"    PERFORM set_config(s.name, s.setting, false) FROM (VALUES {rows}) AS s(name, setting);\n"
    # Each part only when needed: RESET ALL costs (it makes PGlite replan what depends on search_path).
    return (
        "DO $pglite_testcase_reset$\nDECLARE\n  statement text;\nBEGIN\n"
        f"  IF session_user <> {literal(user)} OR current_user <> {literal(user)} THEN\n"
        f"    EXECUTE 'SET SESSION AUTHORIZATION ' || quote_ident({literal(user)});\n"
        "    EXECUTE 'RESET ROLE';\n"
        "  END IF;\n"
        "  IF (SELECT coalesce(array_agg(name || '=' || setting ORDER BY name COLLATE \"C\"), '{}') FROM pg_settings\n"
        f"      WHERE source = 'session') IS DISTINCT FROM ARRAY[{fresh}]::text[] THEN\n"
        "    EXECUTE 'RESET ALL';\n"
        f"{restore}"
        "  END IF;\n"
        "  FOR statement IN SELECT name FROM pg_prepared_statements WHERE from_sql LOOP\n"
        "    EXECUTE 'DEALLOCATE ' || quote_ident(statement);\n"
        "  END LOOP;\n"
        "  IF EXISTS (SELECT FROM pg_class WHERE relnamespace = pg_my_temp_schema()) THEN\n"
        "    EXECUTE 'DISCARD TEMP';\n"
        "  END IF;\n"
        "  EXECUTE 'CLOSE ALL';\n"
        "  EXECUTE 'UNLISTEN *';\n"
        "  PERFORM pg_advisory_unlock_all();\n"
        "  EXECUTE 'DISCARD SEQUENCES';\n"
        "END\n$pglite_testcase_reset$"
    )


# Statements that change a session's state beyond the transaction: when a test ran one (through the
# test case's engines), its session is reset after it (the check costs too much to run after every test).
CHANGES_SESSION = re.compile(
    r"^\s*(?:set|reset|prepare|listen|declare|discard|load)\b|\bset_config\s*\(|\bpg_(?:try_)?advisory_lock"
    r"|\bcreate\s+(?:(?:global|local)\s+)?temp(?:orary)?\b|\bsession\s+authorization\b",
    re.I,
)

FRESH_SETTINGS_SQL = "SELECT name, setting FROM pg_settings WHERE source = 'session'"


def install_write_tracking(connection: Connection) -> None:
    """Put the triggers and the cleanup function in place (once per database; later calls return at once)."""
    connection.exec_driver_sql(INSTALL_SQL)


def remove_write_tracking(connection: Connection) -> None:
    """Take the triggers and the schema away again (when the truncating class ends): classes that
    come after it on the same database must find the schema as it was built."""
    connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def empty_every_table(connection: Connection, exclude: tuple[str, ...] = ("alembic_version",)) -> None:
    """Install the tracking if it is not there, and empty every table (the first cleanup of a class)."""
    install_write_tracking(connection)
    connection.exec_driver_sql(f"SELECT {SCHEMA}.mark_all_written()")
    empty_written_tables(connection, exclude)


def empty_written_tables(connection: Connection, exclude: tuple[str, ...] = ("alembic_version",)) -> None:
    """Empty the tables written since the last call. Raises ``DBAPIError`` if the tracking is not installed."""
    connection.exec_driver_sql(empty_written_sql(exclude))


def empty_written_sql(exclude: tuple[str, ...] = ("alembic_version",)) -> str:
    # As literal text, not a bound array: the extended protocol's extra messages cost PGlite about
    # half a millisecond a test here.
    names = ", ".join("'" + name.replace("'", "''") + "'" for name in exclude)
    return f"SELECT {SCHEMA}.empty_written(ARRAY[{names}]::text[])"


def _sqlstate(exc: DBAPIError) -> str | None:
    original = exc.orig
    code = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if code is None and original is not None:  # asyncpg, behind SQLAlchemy's adapter
        code = getattr(original.__cause__, "sqlstate", None)
    return code


def tracking_missing(exc: DBAPIError) -> bool:
    """Whether ``exc`` says the tracking is gone (a test reset the database, or it was never installed)."""
    return _sqlstate(exc) in ("42883", "3F000", "42P01")  # undefined function, schema, table
