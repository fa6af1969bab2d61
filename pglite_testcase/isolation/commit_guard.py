"""The commit guard: the database itself refuses to COMMIT a test's transaction.

A test's writes must never outlive it, whatever path a COMMIT takes:
``session.execute(text("COMMIT"))``, the DBAPI connection's ``commit()``, a
procedure that commits. So each test transaction holds one row in a
temporary table whose deferred constraint trigger raises at commit time:
PostgreSQL then rolls the transaction back instead of committing it, and
nothing escapes. Before raising, the trigger sends a WARNING that names the
statement, so the test case hears of the attempt even if the code under
test swallows the error.

The objects are temporary (they live in the session's own ``pg_temp``
schema, invisible to the application's schema and its migrations) and are
created on first need in each session. A test that runs ``SET CONSTRAINTS
ALL IMMEDIATE`` fires the trigger early; it then lets that statement pass.
"""

from __future__ import annotations

REFUSAL_NOTICE = "pglite_testcase: refused to commit the test's transaction"

# One statement, idempotent, and free of '%' (psycopg2 may send it in front of a
# statement with client-side parameters).
ARM_SQL = f"""DO $pglite_testcase$
BEGIN
  IF to_regclass('pg_temp.pglite_testcase_guard') IS NULL THEN
    CREATE TEMP TABLE pglite_testcase_guard (armed boolean);
    GRANT INSERT ON pglite_testcase_guard TO PUBLIC;
    CREATE FUNCTION pg_temp.pglite_testcase_refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $refuse$
    BEGIN
      IF current_query() ~* '^\\s*set\\s+constraints' THEN
        RETURN NULL;
      END IF;
      RAISE WARNING USING MESSAGE = '{REFUSAL_NOTICE.replace("'", "''")} (' || left(current_query(), 300) || ')';
      RAISE EXCEPTION USING
        ERRCODE = '25000',
        MESSAGE = 'pglite_testcase: the test''s transaction cannot be committed (' || left(current_query(), 300)
          || '); it was rolled back, and nothing was committed',
        HINT = 'Each test runs in a transaction that is rolled back. Commit through self.session, '
          || 'self.sessionmaker() or self.engine, whose commits stay inside it; code that must really '
          || 'commit needs isolation = ''truncate''.';
    END
    $refuse$;
    CREATE CONSTRAINT TRIGGER pglite_testcase_guard AFTER INSERT ON pglite_testcase_guard
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pg_temp.pglite_testcase_refuse_commit();
  END IF;
  INSERT INTO pglite_testcase_guard VALUES (true);
END
$pglite_testcase$"""


def refused_statement(severity: str, message: str) -> str | None:
    """The statement a guard notice says was refused, or None if the notice is not the guard's."""
    if severity.upper() != "WARNING" or not message.startswith(REFUSAL_NOTICE):
        return None
    return message[len(REFUSAL_NOTICE) :].strip().removeprefix("(").removesuffix(")")
