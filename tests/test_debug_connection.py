"""The debug connection: psql (or psycopg) on the database of a test paused at a breakpoint.

On PGlite a connection to ``self.debug_url`` joins the running test's transaction: it sees the
test's uncommitted rows, and cannot end or break that transaction; the test then goes on and is
rolled back. On a real server the same setting gives the test database's URL and says what
another connection can see there.
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import shutil
import subprocess
import unittest
from typing import Any
from unittest import mock

import psycopg
from sqlalchemy import Column, Integer, String, func, select, text
from sqlalchemy.orm import declarative_base

from pglite_testcase import AsyncPGliteTestCase, ConfigurationError, PGliteTestCase, environment

from .support import problems, run_case

Base: Any = declarative_base()


class Note(Base):
    __tablename__ = "debug_notes"
    id = Column(Integer, primary_key=True)
    text = Column(String(50))


PSQL = shutil.which("psql")
COUNT = "SELECT count(*) FROM debug_notes"


def connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True, connect_timeout=30)


def psql(url: str, *commands: str) -> subprocess.CompletedProcess[str]:
    arguments = [str(PSQL), "-X", url]
    for command in commands:
        arguments += ["-c", command]
    return subprocess.run(arguments, capture_output=True, text=True, timeout=120, env={**os.environ, "PAGER": ""})


class LeavesNothing:
    """tearDownClass checks that nothing the tests (or a debug connection) wrote was committed."""

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()  # type: ignore[misc]
        with connect(getattr(cls, "database").libpq_url()) as connection:
            row = connection.execute(COUNT).fetchone()
        if row != (0,):
            raise AssertionError(f"{cls.__qualname__}: rows of its tests were committed: {row}")


class PrintsOnce:
    """setUpClass with what it printed on stderr kept in ``printed``."""

    printed = ""

    @classmethod
    def setUpClass(cls) -> None:
        with contextlib.redirect_stderr(io.StringIO()) as printed:
            super().setUpClass()  # type: ignore[misc]
        cls.printed = printed.getvalue()


class DebugConnection(LeavesNothing, PrintsOnce, PGliteTestCase):
    """Its tests run in the order written (test_1..., test_2...): the second sees what the first left."""

    metadata = Base
    debug_connection = True

    @property
    def joins(self) -> bool:
        return self.database.debug_libpq_url() is not None

    def test_0_the_class_prints_a_psql_command_line_once(self) -> None:
        assert self.debug_url is not None
        self.assertEqual(self.printed.count("\n    psql "), 1, self.printed)
        self.assertIn(f"    psql {shlex.quote(self.debug_url)}\n", self.printed)
        self.assertTrue(self.debug_url.startswith("postgresql://"), "a libpq URL, not SQLAlchemy's")
        if self.joins:
            self.assertIn("joins the running test's transaction", self.printed)
        else:
            self.assertIn("runs on a real PostgreSQL server", self.printed)
            self.assertIn("uncommitted rows are not visible from another connection on a real server", self.printed)
            self.assertEqual(self.debug_url, self.database.libpq_url())

    def test_1_a_second_connection_sees_the_paused_tests_uncommitted_row(self) -> None:
        assert self.debug_url is not None
        self.session.add(Note(id=1, text="uncommitted"))
        self.session.flush()  # in the test's transaction, not committed
        # Here the test would be paused at breakpoint(); this is the user's second connection.
        with connect(self.debug_url) as debug:
            seen = debug.execute("SELECT id, text FROM debug_notes").fetchall()
            if not self.joins:
                self.assertEqual(seen, [], "a real server shows no connection another's uncommitted rows")
                return
            self.assertEqual(seen, [(1, "uncommitted")])
            # Told it is idle: a driver commits nothing on its own (psycopg's `with` block included).
            self.assertEqual(debug.info.transaction_status, psycopg.pq.TransactionStatus.IDLE)
            for statement in ("COMMIT", "ROLLBACK", "ROLLBACK TO SAVEPOINT pglite_testcase_class"):
                with self.subTest(statement), self.assertRaises(psycopg.errors.InvalidTransactionState) as refused:
                    debug.execute(statement)
                self.assertIn(
                    f"{statement.split()[0]} refused: a debug connection runs inside the running test's transaction",
                    str(refused.exception),
                )
            with self.assertRaises(psycopg.errors.SyntaxError):
                debug.execute("SELEC * FROM debug_notes")  # a typo does not abort the test's transaction
            debug.execute("INSERT INTO debug_notes VALUES (2, 'from the debug connection')")
        # The test goes on, its transaction intact, and sees what the debug connection wrote.
        self.assertEqual(self.session.scalar(select(func.count()).select_from(Note)), 2)
        self.session.add(Note(id=3, text="after the pause"))
        self.session.commit()  # a savepoint: rolled back with the test

    @unittest.skipIf(PSQL is None, "psql is not installed")
    def test_1_psql_sees_it_too_and_describes_the_table(self) -> None:
        assert self.debug_url is not None
        self.session.add(Note(id=1, text="seen by psql"))
        self.session.flush()
        shown = psql(self.debug_url, "SELECT text FROM debug_notes", r"\d debug_notes", "COMMIT", COUNT)
        self.assertEqual(shown.returncode, 0, shown.stderr)
        self.assertIn('Table "public.debug_notes"', shown.stdout)
        if not self.joins:
            self.assertNotIn("seen by psql", shown.stdout)
            return
        self.assertIn("seen by psql", shown.stdout)
        self.assertIn("COMMIT refused: a debug connection runs inside the running test's transaction", shown.stderr)
        self.assertEqual(self.session.scalar(select(func.count()).select_from(Note)), 1)

    def test_2_the_next_test_starts_from_the_class_data(self) -> None:
        assert self.debug_url is not None
        # Before this test's first statement: the last test's rows are rolled back already.
        with connect(self.debug_url) as debug:
            self.assertEqual(debug.execute(COUNT).fetchone(), (0,))
        self.assertEqual(self.session.scalar(select(func.count()).select_from(Note)), 0)

    def test_3_an_ordinary_connection_still_waits_for_the_test(self) -> None:
        self.connection.execute(text("INSERT INTO debug_notes VALUES (1, 'held')"))
        assert self.debug_url is not None
        with connect(self.debug_url):
            if not self.joins:
                with connect(self.database.libpq_url()) as other:  # a real server: a connection of its own
                    self.assertEqual(other.execute(COUNT).fetchone(), (0,))
                return
            with self.assertRaises(psycopg.OperationalError) as refused:
                connect(self.database.libpq_url())
            self.assertIn(
                "waited 2000 ms for another connection's transaction to end and was refused", str(refused.exception)
            )


class AsyncDebugConnection(LeavesNothing, PrintsOnce, AsyncPGliteTestCase):
    metadata = Base
    debug_connection = True

    async def test_1_a_second_connection_sees_the_paused_tests_uncommitted_row(self) -> None:
        assert self.debug_url is not None
        self.session.add(Note(id=1, text="uncommitted"))
        await self.session.flush()
        joins = self.database.debug_libpq_url() is not None
        async with await psycopg.AsyncConnection.connect(self.debug_url, autocommit=True) as debug:
            cursor = await debug.execute("SELECT id, text FROM debug_notes")
            seen = await cursor.fetchall()
            if not joins:
                self.assertEqual(seen, [])
                return
            self.assertEqual(seen, [(1, "uncommitted")])
            with self.assertRaises(psycopg.errors.InvalidTransactionState):
                await debug.execute("COMMIT")
        self.assertEqual(await self.session.scalar(select(func.count()).select_from(Note)), 1)

    async def test_2_between_tests_it_sees_the_class_data(self) -> None:
        assert self.debug_url is not None
        async with await psycopg.AsyncConnection.connect(self.debug_url, autocommit=True) as debug:
            cursor = await debug.execute(COUNT)
            self.assertEqual(await cursor.fetchone(), (0,))


class TruncatingDebugConnection(PrintsOnce, PGliteTestCase):
    """isolation = 'truncate': the tests commit, so the debug URL is the database's own."""

    metadata = Base
    debug_connection = True
    isolation = "truncate"

    def test_the_debug_url_is_the_databases_and_sees_what_the_test_committed(self) -> None:
        self.assertEqual(self.debug_url, self.database.libpq_url())
        self.assertIn("'truncate'", self.printed)
        self.session.add(Note(id=1, text="committed"))
        self.session.commit()
        assert self.debug_url is not None
        with connect(self.debug_url) as other:
            self.assertEqual(other.execute("SELECT text FROM debug_notes").fetchall(), [("committed",)])


class Settings(unittest.TestCase):
    def test_off_by_default(self) -> None:
        class Plain(PrintsOnce, PGliteTestCase):
            def test_no_debug_url(self) -> None:
                self.assertIsNone(self.debug_url)
                self.assertNotIn("psql", self.printed)

        with mock.patch.dict(os.environ, {environment.DEBUG: ""}):
            result = run_case(Plain)
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(result.testsRun, 1)

    def test_the_environment_variable_turns_it_on_and_the_class_attribute_wins(self) -> None:
        class FromEnvironment(PrintsOnce, PGliteTestCase):
            def test_debug_url(self) -> None:
                self.assertIsNotNone(self.debug_url)
                self.assertIn("psql", self.printed)

        class Off(PrintsOnce, PGliteTestCase):
            debug_connection = False

            def test_no_debug_url(self) -> None:
                self.assertIsNone(self.debug_url)

        with mock.patch.dict(os.environ, {environment.DEBUG: "1"}):
            for case in (FromEnvironment, Off):
                result = run_case(case)
                self.assertTrue(result.wasSuccessful(), problems(result))
                self.assertEqual(result.testsRun, 1)

    def test_a_bad_value_names_the_class_the_value_and_what_is_accepted(self) -> None:
        class Wrong(PGliteTestCase):
            debug_connection = "yes"

            def test_nothing(self) -> None:
                pass

        message = problems(run_case(Wrong))
        self.assertIn("Wrong.debug_connection = 'yes' is not accepted: expected True", message)
        self.assertIn("PGLITE_TESTCASE_DEBUG", message)
        self.assertIn(ConfigurationError.__name__, message)


if __name__ == "__main__":
    unittest.main()
