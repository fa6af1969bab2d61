"""The PGlite server answers like PostgreSQL: each test here checks one difference found with
psycopg's own test suite, run against this package's server and (in the server pass) against a
real PostgreSQL, where the same assertions must hold."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import psycopg

from .fidelity_support import FidelityTestCase

ROW = ("n1000", 1000)
INSERT_ROWS = "INSERT INTO rows (name, n) VALUES (%s::VARCHAR, %s::INTEGER)"


class BulkInsertsNeverHang(FidelityTestCase):
    """PGlite 0.3 drops the rest of a batch after a message that ends at byte 8192·k: these
    exact statements (a table named ``rows``: 128-byte messages) hung forever."""

    def setUp(self) -> None:
        self.conn = self.connect(prepare_threshold=None)
        self.conn.execute("DROP TABLE IF EXISTS rows")
        self.conn.execute("CREATE TABLE rows (name varchar(40), n int)")

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM rows").fetchone()[0])

    def test_executemany_of_1000_rows_into_rows(self) -> None:
        self.within(120, lambda: self.conn.cursor().executemany(INSERT_ROWS, [ROW] * 1000))
        self.assertEqual(self.count(), 1000)

    def test_pipeline_of_1000_inserts(self) -> None:
        def insert() -> None:
            with self.conn.pipeline():
                for _ in range(1000):
                    self.conn.execute(INSERT_ROWS, ROW)

        self.within(120, insert)
        self.assertEqual(self.count(), 1000)

    def test_executemany_of_100000_rows(self) -> None:
        self.within(600, lambda: self.conn.cursor().executemany(INSERT_ROWS, [ROW] * 100_000))
        self.assertEqual(self.count(), 100_000)

    def test_insert_returning_of_1000_rows_in_a_transaction(self) -> None:
        def insert() -> list[int]:
            with self.conn.transaction():
                cursor = self.conn.cursor()
                cursor.executemany(
                    "INSERT INTO rows (name, n) VALUES (%s, %s) RETURNING n", [ROW] * 1000, returning=True
                )
                values = []
                while True:
                    values.extend(row[0] for row in cursor.fetchall())
                    if not cursor.nextset():
                        return values

        self.assertEqual(self.within(120, insert), [1000] * 1000)


class ClientEncodings(FidelityTestCase):
    """A client_encoding other than UTF8 is served as PostgreSQL serves it (PGlite cannot load
    PostgreSQL's conversions: it died on the first one, then refused every one)."""

    EURO = "\u20ac"

    def test_latin1_set_by_the_client_converts_queries_parameters_results_and_names(self) -> None:
        conn = self.connect()
        conn.execute("SET client_encoding TO 'latin1'")
        self.assertEqual(conn.info.parameter_status("client_encoding"), "LATIN1")
        self.assertEqual(conn.info.encoding, "iso8859-1")
        cursor = conn.execute("SELECT 'é' AS \"nämé\", %s::text, %s::varchar", ["ü", "ß"])
        self.assertEqual(cursor.fetchone(), ("é", "ü", "ß"))
        assert cursor.description is not None
        self.assertEqual(cursor.description[0].name, "nämé")
        binary = conn.cursor(binary=True)
        row = binary.execute("SELECT %s::text, %s::name, ARRAY['ä', NULL, 'b']::text[], 7::int8", ["à", "ñ"]).fetchone()
        self.assertEqual(row, ("à", "ñ", ["ä", None, "b"], 7))
        self.assertEqual(conn.execute("SHOW client_encoding").fetchone(), ("LATIN1",))

    def test_a_character_the_encoding_cannot_hold_is_postgresqls_error(self) -> None:
        conn = self.connect()
        conn.execute("SET client_encoding TO 'LATIN1'")
        for binary in (False, True):
            with self.assertRaises(psycopg.errors.UntranslatableCharacter) as caught:
                conn.cursor(binary=binary).execute("SELECT chr(8364)::text")
            self.assertIn('has no equivalent in encoding "LATIN1"', str(caught.exception))
        conn.autocommit = False
        conn.execute("SELECT 1")
        with self.assertRaises(psycopg.errors.UntranslatableCharacter):
            conn.execute("SELECT chr(8364)")
        self.assertEqual(conn.info.transaction_status, psycopg.pq.TransactionStatus.INERROR)
        conn.rollback()
        self.assertEqual(conn.execute("SELECT 'ok'").fetchone(), ("ok",))

    def test_startup_encoding_reset_and_transactions(self) -> None:
        conn = self.connect(client_encoding="LATIN9")
        self.assertEqual(conn.info.parameter_status("client_encoding"), "LATIN9")
        self.assertEqual(conn.execute("SELECT %s::text, chr(8364)", [self.EURO]).fetchone(), (self.EURO, self.EURO))
        conn.execute("SELECT set_config('client_encoding', 'euc-jp', false)")
        self.assertEqual(conn.info.parameter_status("client_encoding"), "EUC_JP")
        self.assertEqual(conn.execute("SELECT 'あい', %s::text", ["日本"]).fetchone(), ("あい", "日本"))
        conn.execute("RESET client_encoding")  # back to what the connection asked for
        self.assertEqual(conn.info.parameter_status("client_encoding"), "LATIN9")
        with conn.transaction():
            conn.execute("SET LOCAL client_encoding TO 'UTF8'")
            self.assertEqual(conn.info.parameter_status("client_encoding"), "UTF8")
        self.assertEqual(conn.info.parameter_status("client_encoding"), "LATIN9")
        conn.autocommit = False
        conn.execute("SET client_encoding TO 'UTF8'")
        conn.rollback()
        self.assertEqual(conn.info.parameter_status("client_encoding"), "LATIN9")
        self.assertEqual(conn.execute("SELECT chr(8364)").fetchone(), (self.EURO,))

    def test_each_connection_keeps_its_own_encoding(self) -> None:
        latin = self.connect(client_encoding="LATIN1")
        utf8 = self.connect()
        self.assertEqual(utf8.execute("SELECT chr(8364)").fetchone(), (self.EURO,))
        self.assertEqual(latin.execute("SELECT 'é'").fetchone(), ("é",))
        self.assertEqual(utf8.info.parameter_status("client_encoding"), "UTF8")
        self.assertEqual(utf8.execute("SELECT 'é', chr(8364)").fetchone(), ("é", self.EURO))

    def test_copy_in_and_out_text_and_binary(self) -> None:
        conn = self.connect(client_encoding="LATIN9")
        conn.execute("CREATE TEMP TABLE words (word text, n int, tags varchar[])")
        for form in ("text", "binary"):
            with conn.cursor().copy(f"COPY words FROM STDIN (FORMAT {form})") as copy:
                copy.set_types(["text", "int4", "varchar[]"])
                copy.write_row([f"{form} {self.EURO}", 1, ["é", self.EURO]])
        for form in ("text", "binary"):
            with conn.cursor().copy(
                f"COPY (SELECT word, n, tags FROM words ORDER BY word) TO STDOUT (FORMAT {form})"
            ) as copy:
                copy.set_types(["text", "int4", "varchar[]"])
                rows = list(copy.rows())
            self.assertEqual(
                rows, [(f"binary {self.EURO}", 1, ["é", self.EURO]), (f"text {self.EURO}", 1, ["é", self.EURO])]
            )

    def test_an_unknown_encoding_is_refused_and_the_server_stays_up(self) -> None:
        conn = self.connect()
        with self.assertRaises(psycopg.errors.InvalidParameterValue) as caught:
            conn.execute("SET client_encoding TO 'nosuch'")
        self.assertIn('invalid value for parameter "client_encoding": "nosuch"', str(caught.exception))
        with self.assertRaises(psycopg.OperationalError) as startup:
            self.connect(options="-c client_encoding=nosuch")
        self.assertIn('"client_encoding"', str(startup.exception))
        self.assertEqual(self.connect().execute("SELECT 1").fetchone(), (1,), "the server is still up")

    def test_sql_ascii_and_utf8_are_served(self) -> None:
        conn = self.connect()
        conn.execute("SET client_encoding TO 'SQL_ASCII'")
        self.assertEqual(conn.execute("SELECT 'abc'").fetchone(), (b"abc",))  # SQL_ASCII: psycopg gives bytes
        conn.execute("SET client_encoding TO 'UTF8'")
        self.assertEqual(conn.execute("SELECT 'é'").fetchone(), ("é",))

    def test_psycopg2_set_client_encoding(self) -> None:
        try:
            import psycopg2
        except ImportError:
            self.skipTest("psycopg2 is not installed")
        info = self.target.conninfo()
        conn = psycopg2.connect(**{("dbname" if k == "dbname" else k): v for k, v in info.items()})
        self.addCleanup(conn.close)
        conn.set_client_encoding("LATIN1")
        self.assertEqual(conn.encoding, "LATIN1")
        cursor = conn.cursor()
        cursor.execute("SELECT %s::text, 'é'", ["ü"])
        self.assertEqual(cursor.fetchone(), ("ü", "é"))
        with self.assertRaises(psycopg2.errors.UntranslatableCharacter):
            cursor.execute("SELECT chr(8364)")


class ParameterStatusAfterSet(FidelityTestCase):
    """The driver learns of a setting change, as PostgreSQL tells it: ParameterStatus."""

    def test_time_zone_reaches_the_driver(self) -> None:
        conn = self.connect()
        conn.execute("SET TIME ZONE 'Asia/Tokyo'")
        self.assertEqual(conn.info.parameter_status("TimeZone"), "Asia/Tokyo")
        value = conn.execute("SELECT '2026-12-03 20:00:00-05'::timestamptz").fetchone()[0]
        self.assertEqual((value.date().isoformat(), value.hour), ("2026-12-04", 10))

    def test_datestyle_reaches_the_driver(self) -> None:
        conn = self.connect()
        conn.execute("SET DateStyle TO 'SQL, DMY'")
        self.assertEqual(conn.info.parameter_status("DateStyle"), "SQL, DMY")
        self.assertEqual(str(conn.execute("SELECT '2026-12-03'::date").fetchone()[0]), "2026-12-03")

    def test_application_name_and_set_config(self) -> None:
        conn = self.connect()
        conn.execute("SET application_name TO 'fidelity'")
        self.assertEqual(conn.info.parameter_status("application_name"), "fidelity")
        conn.execute("SELECT set_config('application_name', 'by function', false)")
        self.assertEqual(conn.info.parameter_status("application_name"), "by function")

    def test_set_local_is_reported_and_undone_at_commit(self) -> None:
        conn = self.connect()
        before = conn.info.parameter_status("TimeZone")
        with conn.transaction():
            conn.execute("SET LOCAL TIME ZONE 'America/New_York'")
            self.assertEqual(conn.info.parameter_status("TimeZone"), "America/New_York")
        self.assertEqual(conn.info.parameter_status("TimeZone"), before)

    def test_a_set_in_a_rolled_back_transaction_is_undone(self) -> None:
        conn = self.connect(autocommit=False)
        before = conn.info.parameter_status("TimeZone")
        conn.execute("SET TIME ZONE 'Europe/Paris'")
        self.assertEqual(conn.info.parameter_status("TimeZone"), "Europe/Paris")
        conn.rollback()
        conn.execute("SELECT 1")
        self.assertEqual(conn.info.parameter_status("TimeZone"), before)
        conn.rollback()

    def test_reset_all_and_discard_all_give_the_defaults(self) -> None:
        conn = self.connect()
        fresh = self.connect().execute("SHOW search_path").fetchone()
        conn.execute("SET search_path TO pg_catalog, public")
        conn.execute("RESET ALL")
        self.assertEqual(conn.execute("SHOW search_path").fetchone(), fresh)
        conn.execute("SET application_name TO 'x'")
        conn.execute("DISCARD ALL")
        self.assertEqual(conn.execute("SHOW search_path").fetchone(), fresh)
        self.assertEqual(conn.info.parameter_status("application_name"), "")
        self.assertEqual(conn.execute("SHOW client_min_messages").fetchone(), ("notice",))


class StartupParameters(FidelityTestCase):
    def test_options_application_name_and_time_zone(self) -> None:
        conn = self.connect(
            application_name="from startup",
            options="-c DateStyle=SQL,DMY --statement-timeout=12345 -c search_path=pg_catalog",
        )
        self.assertEqual(conn.info.parameter_status("application_name"), "from startup")
        self.assertEqual(conn.info.parameter_status("DateStyle"), "SQL, DMY")
        self.assertEqual(conn.execute("SHOW statement_timeout").fetchone(), ("12345ms",))
        self.assertEqual(conn.execute("SHOW search_path").fetchone(), ("pg_catalog",))
        tz = self.connect(options="-c TimeZone=Asia/Tokyo")
        self.assertEqual(tz.info.parameter_status("TimeZone"), "Asia/Tokyo")

    def test_a_bad_setting_at_startup_is_fatal(self) -> None:
        with self.assertRaisesRegex(psycopg.OperationalError, 'invalid value for parameter "TimeZone"'):
            self.connect(options="-c TimeZone=Nowhere/Special")
        with self.assertRaisesRegex(psycopg.OperationalError, 'unrecognized configuration parameter "no_such_thing"'):
            self.connect(options="-c no_such_thing=1")

    def test_an_unknown_database_is_fatal_3D000(self) -> None:
        with self.assertRaises(psycopg.OperationalError) as caught:
            self.connect(dbname="nosuchdb")
        self.assertIn('database "nosuchdb" does not exist', str(caught.exception))

    def test_an_unknown_role_is_fatal(self) -> None:
        with self.assertRaisesRegex(psycopg.OperationalError, 'role "nosuchrole" does not exist'):
            self.connect(user="nosuchrole")

    def test_a_role_that_exists_is_the_session_user(self) -> None:
        admin = self.connect()
        admin.execute("DROP ROLE IF EXISTS fidelity_user")
        admin.execute("CREATE ROLE fidelity_user LOGIN")
        conn = self.connect(user="fidelity_user")
        self.addCleanup(admin.execute, "DROP ROLE IF EXISTS fidelity_user")
        self.assertEqual(conn.execute("SELECT session_user, current_user").fetchone(), ("fidelity_user",) * 2)
        self.assertEqual(conn.info.parameter_status("is_superuser"), "off")
        conn.close()
        self.assertEqual(self.connect().execute("SELECT session_user").fetchone(), ("postgres",))


class EachConnectionItsOwnSession(FidelityTestCase):
    def test_a_set_on_one_connection_is_not_seen_by_another(self) -> None:
        a, b = self.connect(), self.connect()
        a.execute("SET TIME ZONE 'Asia/Tokyo'")
        a.execute("SET search_path TO pg_catalog")
        a.execute("SET statement_timeout TO 4321")
        self.assertNotEqual(b.execute("SHOW TimeZone").fetchone(), ("Asia/Tokyo",))
        self.assertNotEqual(b.execute("SHOW search_path").fetchone(), ("pg_catalog",))
        self.assertEqual(b.execute("SHOW statement_timeout").fetchone(), ("0",))
        b.execute("SET TIME ZONE 'Europe/Paris'")
        self.assertEqual(a.execute("SHOW TimeZone").fetchone(), ("Asia/Tokyo",))
        self.assertEqual(a.execute("SHOW statement_timeout").fetchone(), ("4321ms",))
        self.assertEqual(b.execute("SHOW TimeZone").fetchone(), ("Europe/Paris",))

    def test_role_stays_with_its_connection(self) -> None:
        a, b = self.connect(), self.connect()
        a.execute("DROP ROLE IF EXISTS fidelity_reader")
        a.execute("CREATE ROLE fidelity_reader")
        self.addCleanup(b.execute, "DROP ROLE IF EXISTS fidelity_reader")
        a.execute("SET ROLE fidelity_reader")
        self.assertEqual(b.execute("SELECT current_user").fetchone(), ("postgres",))
        self.assertEqual(a.execute("SELECT current_user").fetchone(), ("fidelity_reader",))
        a.execute("RESET ROLE")

    def test_custom_settings_stay_with_their_connection(self) -> None:
        # (Row-level security set-ups keep the tenant in one: SET app.tenant, current_setting('app.tenant').)
        a, b = self.connect(), self.connect()
        a.execute("SET app.tenant = 'a'")
        a.execute(
            "CREATE FUNCTION pg_temp.choose_region() RETURNS void LANGUAGE sql "
            "AS $$ SELECT set_config('app.region', 'north', false) $$"
        )
        a.execute("SELECT pg_temp.choose_region()")
        tenant = "SELECT current_setting('app.tenant', true), current_setting('app.region', true)"
        self.assertIn(b.execute(tenant).fetchone(), [(None, None), ("", "")])  # ('': PGlite's one session)
        self.assertEqual(a.execute(tenant).fetchone(), ("a", "north"))
        b.execute("SELECT set_config('app.tenant', 'b', false)")
        self.assertEqual(a.execute(tenant).fetchone(), ("a", "north"))
        a.execute("RESET app.tenant")
        self.assertIn(a.execute(tenant).fetchone(), [("", "north")])
        self.assertEqual(b.execute("SHOW app.tenant").fetchone(), ("b",))

    def test_a_closed_connections_settings_are_gone(self) -> None:
        a = self.connect()
        a.execute("SET application_name TO 'left behind'")
        a.close()
        self.assertEqual(self.connect().execute("SHOW application_name").fetchone(), ("",))


class ListenNotifyAcrossConnections(FidelityTestCase):
    def test_a_notification_reaches_another_connection_with_the_senders_pid(self) -> None:
        listener, sender = self.connect(), self.connect()
        listener.execute("LISTEN fidelity_channel")
        sender.execute("NOTIFY fidelity_channel, 'hello'")
        sender_pid = sender.execute("SELECT pg_backend_pid()").fetchone()[0]
        self.assertEqual(sender_pid, sender.info.backend_pid)
        received = list(listener.notifies(timeout=5, stop_after=1))
        self.assertEqual([(n.channel, n.payload, n.pid) for n in received], [("fidelity_channel", "hello", sender_pid)])

    def test_each_connection_has_its_own_backend_pid(self) -> None:
        a, b = self.connect(), self.connect()
        pids = {a.execute("SELECT pg_backend_pid()").fetchone()[0], b.execute("SELECT pg_backend_pid()").fetchone()[0]}
        self.assertEqual(pids, {a.info.backend_pid, b.info.backend_pid})
        self.assertEqual(len(pids), 2)

    def test_a_notification_inside_the_listeners_transaction_waits_for_its_end(self) -> None:
        listener, sender = self.connect(), self.connect()
        listener.execute("LISTEN fidelity_later")
        sender.execute("SELECT pg_notify('fidelity_later', 'after commit')")
        self.assertEqual([n.payload for n in listener.notifies(timeout=5, stop_after=1)], ["after commit"])

    def test_unlisten_on_one_connection_leaves_the_others_listening(self) -> None:
        a, b, sender = self.connect(), self.connect(), self.connect()
        a.execute('LISTEN "Mixed Case"')
        b.execute('LISTEN "Mixed Case"')
        a.execute('UNLISTEN "Mixed Case"')
        sender.execute("""NOTIFY "Mixed Case", 'still here'""")
        self.assertEqual([n.payload for n in b.notifies(timeout=5, stop_after=1)], ["still here"])
        self.assertEqual(list(a.notifies(timeout=0.5)), [])

    def test_a_transactions_notifications_arrive_together(self) -> None:
        listener, sender = self.connect(), self.connect()
        listener.execute("LISTEN fidelity_batch")

        def notify() -> None:
            time.sleep(0.5)  # the listener is waiting by then (an order, not a timing)
            with sender.transaction():
                sender.execute("NOTIFY fidelity_batch, '1'")
                sender.execute("NOTIFY fidelity_batch, '2'")

        worker = threading.Thread(target=notify)
        worker.start()
        self.addCleanup(worker.join)
        # stop_after=1: what arrived with the first one; PostgreSQL sends a commit's notifications at once.
        self.assertEqual([n.payload for n in listener.notifies(timeout=30, stop_after=1)], ["1", "2"])


class SessionTimeouts(FidelityTestCase):
    """idle_in_transaction_session_timeout, idle_session_timeout and transaction_timeout end the
    connection with PostgreSQL's FATAL error; on PGlite 0.5 the backend's own timers left the server
    answering no one."""

    def assert_ended(self, conn: psycopg.Connection[Any], error: type[Exception], fragment: str) -> None:
        time.sleep(1.5)  # well past the 100 ms limit (an order, not a timing)
        with self.assertRaises(error) as caught:
            conn.execute("SELECT 1")
        self.assertIn(fragment, str(caught.exception))
        self.assertEqual(self.connect().execute("SELECT 2").fetchone(), (2,), "the server still answers")

    def test_idle_in_transaction(self) -> None:
        conn = self.connect(autocommit=False)
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS kept (n int)")
        conn.commit()
        conn.execute("SET SESSION idle_in_transaction_session_timeout = 100")
        conn.execute("INSERT INTO kept VALUES (1)")
        self.assert_ended(
            conn,
            psycopg.errors.IdleInTransactionSessionTimeout,
            "terminating connection due to idle-in-transaction timeout",
        )

    def test_idle_session(self) -> None:
        conn = self.connect()
        conn.execute("SET idle_session_timeout TO '100ms'")
        self.assertEqual(
            conn.execute("SHOW idle_session_timeout").fetchone(), ("100ms",) if not self.target.on_pglite else ("100",)
        )
        self.assert_ended(conn, psycopg.errors.IdleSessionTimeout, "terminating connection due to idle-session timeout")

    def test_transaction_timeout(self) -> None:
        conn = self.connect(autocommit=False)
        if conn.info.server_version < 170000:
            self.skipTest("transaction_timeout is PostgreSQL 17's")
        conn.execute("SET transaction_timeout = 100")
        conn.commit()
        conn.execute("SELECT 1")  # a transaction begins
        self.assert_ended(conn, psycopg.errors.lookup("25P04"), "terminating connection due to transaction timeout")

    def test_a_bad_value_is_refused_and_a_reset_disarms(self) -> None:
        conn = self.connect()
        with self.assertRaises(psycopg.errors.InvalidParameterValue):
            conn.execute("SET idle_session_timeout = 'soon'")
        conn.execute("SET idle_session_timeout = 100")
        conn.execute("RESET idle_session_timeout")
        time.sleep(0.5)
        self.assertEqual(conn.execute("SELECT 3").fetchone(), (3,))


class PgSleep(FidelityTestCase):
    """`SELECT pg_sleep(n)` lets other connections run and ends with QueryCanceled when cancelled
    (PGlite runs on the server's one thread: it stopped everyone for n seconds, and no cancel
    could end it)."""

    def test_other_connections_run_while_one_sleeps(self) -> None:
        sleeper, other = self.connect(), self.connect()
        worker = threading.Thread(target=lambda: sleeper.execute("SELECT pg_sleep(5)"))
        worker.start()
        self.addCleanup(worker.join)
        time.sleep(0.3)  # the sleep has begun (an order, not a timing)
        self.assertEqual(other.execute("SELECT 42").fetchone(), (42,))
        self.assertTrue(worker.is_alive(), "the other connection's statement waited for the sleep to end")

    def test_cancel_ends_a_sleep_with_query_canceled(self) -> None:
        conn = self.connect()
        threading.Timer(0.3, conn.cancel_safe).start()
        with self.assertRaises(psycopg.errors.QueryCanceled) as caught:
            conn.execute("SELECT pg_sleep(%s)", [30])
        self.assertIn("canceling statement due to user request", str(caught.exception))
        self.assertEqual(conn.execute("SELECT pg_sleep(0.01), 1").fetchone(), ("", 1))

    def test_a_cancelled_sleep_fails_its_transaction(self) -> None:
        conn = self.connect(autocommit=False)
        conn.execute("SELECT 1")
        threading.Timer(0.3, conn.cancel_safe).start()
        with self.assertRaises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(30)")
        self.assertEqual(conn.info.transaction_status, psycopg.pq.TransactionStatus.INERROR)
        conn.rollback()
        self.assertEqual(conn.execute("SELECT 'after'").fetchone(), ("after",))

    def test_the_packages_statement_timeout_ends_a_long_sleep_and_pglite_stays(self) -> None:
        if not self.target.on_pglite:
            self.skipTest("the package's own statement timeout is PGlite's")
        process = self.target.process
        assert process is not None and process.process is not None
        process.set_statement_timeout(0.5)
        self.addCleanup(process.set_statement_timeout, None)
        conn = self.connect()
        with self.assertRaises(psycopg.errors.QueryCanceled) as caught:
            conn.execute("SELECT pg_sleep(600)")
        self.assertIn("canceling statement due to statement timeout", str(caught.exception))
        self.assertIsNone(process.process.poll(), "PGlite was stopped")
        self.assertEqual(conn.execute("SELECT 1").fetchone(), (1,))

    def test_an_asyncio_timeout_cancels_the_sleep(self) -> None:
        async def run() -> tuple[Any, ...] | None:
            conn = await psycopg.AsyncConnection.connect(autocommit=True, **self.target.conninfo())
            try:
                with self.assertRaises((asyncio.TimeoutError, TimeoutError)):
                    await asyncio.wait_for(conn.execute("SELECT pg_sleep(30)"), 0.5)
                return await (await conn.execute("SELECT 7")).fetchone()
            finally:
                await conn.close()

        self.assertEqual(self.within(60, lambda: asyncio.run(run())), (7,))


class PreparedStatements(FidelityTestCase):
    def test_sql_deallocate_of_a_statement_the_driver_prepared(self) -> None:
        conn = self.connect()
        conn.execute("SELECT 1", prepare=True)
        name = conn.execute("SELECT name FROM pg_prepared_statements WHERE statement = 'SELECT 1'").fetchone()
        self.assertIsNotNone(name)
        conn.execute("DEALLOCATE _pg3_0")  # psycopg's first name; libpq < 17 makes psycopg send this
        self.assertEqual(
            conn.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement = 'SELECT 1'").fetchone(), (0,)
        )
        with self.assertRaises(psycopg.errors.InvalidSqlStatementName):
            conn.execute("DEALLOCATE _pg3_0")

    def test_discard_all_through_a_prepared_statement_gives_the_defaults(self) -> None:
        conn = self.connect()
        conn.prepare_threshold = 0  # every statement prepared: DISCARD ALL runs at its Bind, later
        conn.execute("DROP TABLE IF EXISTS testdisc")
        conn.execute("CREATE TABLE testdisc (id serial primary key, data text)")
        conn.execute("INSERT INTO testdisc (data) VALUES (%s)", ["foo"])
        conn.execute("DISCARD ALL")
        conn.execute("INSERT INTO testdisc (data) VALUES (%s)", ["bar"])  # search_path as before
        self.assertEqual(conn.execute("SELECT count(*) FROM testdisc").fetchone(), (2,))
        conn.execute("DROP TABLE testdisc")

    def test_a_prepared_set_is_reported(self) -> None:
        conn = self.connect()
        conn.execute("SET TIME ZONE 'Asia/Tokyo'", prepare=True)
        self.assertEqual(conn.info.parameter_status("TimeZone"), "Asia/Tokyo")
        conn.execute("SET TIME ZONE 'Europe/Rome'", prepare=True)
        self.assertEqual(conn.info.parameter_status("TimeZone"), "Europe/Rome")

    def test_two_connections_prepare_the_same_name(self) -> None:
        a, b = self.connect(), self.connect()
        for conn in (a, b):
            self.assertEqual(conn.execute("SELECT 42", prepare=True).fetchone(), (42,))
            self.assertEqual(conn.execute("SELECT 42", prepare=True).fetchone(), (42,))


class PostgresDefaults(FidelityTestCase):
    """PGlite boots with settings of its own (enable_seqscan off, DEBUG messages): a client sees
    PostgreSQL's defaults, also after RESET ALL."""

    def test_a_new_connection_and_reset_all_see_postgresqls_defaults(self) -> None:
        conn = self.connect()
        for when in ("new", "after RESET ALL"):
            with self.subTest(when):
                self.assertEqual(conn.execute("SHOW enable_seqscan").fetchone(), ("on",))
                self.assertEqual(conn.execute("SHOW client_min_messages").fetchone(), ("notice",))
                self.assertEqual(conn.execute("SHOW search_path").fetchone(), ('"$user", public',))
            conn.execute("RESET ALL")


class WaitingForAnotherTransaction(FidelityTestCase):
    process_options = {"grace_seconds": 0.5}

    def test_a_statement_that_waits_too_long_fails_and_its_connection_stays_usable(self) -> None:
        holder, waiter = self.connect(autocommit=False), self.connect()
        holder.execute("SELECT 1")  # a transaction is open on holder
        if self.target.on_pglite:
            with self.assertRaisesRegex(psycopg.errors.LockNotAvailable, "waited 500 ms .* and was not run"):
                waiter.execute("SELECT 2")
        else:
            self.assertEqual(waiter.execute("SELECT 2").fetchone(), (2,))  # PostgreSQL runs both
        holder.commit()
        self.assertEqual(waiter.execute("SELECT 3").fetchone(), (3,))
        self.assertFalse(waiter.closed)
