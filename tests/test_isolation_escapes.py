"""Nothing escapes the test's transaction unnoticed, and no session state reaches the next test."""

from __future__ import annotations

import unittest
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from pglite_testcase import AsyncPGliteTestCase, PGliteTestCase

from .models import Author, Base
from .support import ON_SERVER, problems, run_case
from .test_misbehaving_classes import plain_passes


def count(connection: Any) -> int:
    return int(connection.scalar(select(func.count()).select_from(Author)))


def failures_by_test(result: unittest.TestResult) -> dict[str, str]:
    return {test.id().rsplit(".", 1)[1]: text for test, text in result.errors + result.failures}


class CommitsOutsideTheTestObjects(unittest.TestCase):
    """A COMMIT that does not go through the test's objects: refused, reported, nothing kept."""

    def _run(self, commit: Any, expected: str) -> None:
        class Hostile(PGliteTestCase):
            metadata = Base

            @classmethod
            def setUpTestData(cls) -> None:
                cls.session.add(Author(name="class data"))

            def test_1_commits(self) -> None:
                self.session.add(Author(name="escaped?"))
                self.session.flush()
                try:
                    commit(self)
                except Exception:  # the application swallows the error: the test must still fail
                    pass

            def test_2_clean(self) -> None:
                self.assertEqual(sorted(self.session.scalars(select(Author.name))), ["class data"])

        result = run_case(Hostile)
        failed = failures_by_test(result)
        self.assertEqual(set(failed), {"test_1_commits"}, problems(result))
        self.assertIn(expected, failed["test_1_commits"])
        self.assertIn("nothing was committed", failed["test_1_commits"])
        plain_passes(self)

    def test_commit_statement_through_the_session(self) -> None:
        self._run(lambda test: test.session.execute(text("COMMIT")), "(COMMIT)")

    def test_commit_statement_through_the_connection(self) -> None:
        self._run(lambda test: test.connection.exec_driver_sql("commit"), "(commit)")

    def test_dbapi_connection_commit(self) -> None:
        self._run(lambda test: test.connection.connection.dbapi_connection.commit(), "COMMIT")

    def test_end_statement(self) -> None:
        self._run(lambda test: test.connection.exec_driver_sql("END"), "(END)")

    def test_commit_then_keep_writing_then_commit_again(self) -> None:
        def twice(test: Any) -> None:
            raw = test.connection.connection.dbapi_connection
            try:
                raw.commit()
            except Exception:
                raw.rollback()
            with raw.cursor() as cursor:
                cursor.execute("INSERT INTO authors (name) VALUES ('after the refusal')")
            raw.commit()  # the guard is armed again in the new transaction

        self._run(twice, "COMMIT")

    def test_async_commit_statement(self) -> None:
        class Hostile(AsyncPGliteTestCase):
            metadata = Base

            async def test_1_commits(self) -> None:
                self.session.add(Author(name="escaped?"))
                await self.session.flush()
                try:
                    await self.session.execute(text("COMMIT"))
                except Exception:
                    pass

            async def test_2_clean(self) -> None:
                self.assertEqual(await self.session.scalar(select(func.count()).select_from(Author)), 0)

        result = run_case(Hostile)
        failed = failures_by_test(result)
        self.assertEqual(set(failed), {"test_1_commits"}, problems(result))
        self.assertIn("nothing was committed", failed["test_1_commits"])
        plain_passes(self)


def _raw_work_before_the_first_statement_steps() -> type[PGliteTestCase]:
    """A new RawWorkBeforeTheFirstStatement class, whose tests run in the order they are written (see run_case)."""

    class RawWorkBeforeTheFirstStatement(PGliteTestCase):
        """Work on the DBAPI connection before any SQLAlchemy statement is the test's own (tests run in order)."""

        metadata = Base

        def test_1_writes_through_sqlalchemy(self) -> None:
            self.connection.execute(insert(Author).values(name="first"))

        def test_2_raw_cursor_first(self) -> None:
            with self.connection.connection.dbapi_connection.cursor() as cursor:
                cursor.execute("INSERT INTO authors (name) VALUES ('raw')")
            self.assertEqual(list(self.connection.scalars(select(Author.name))), ["raw"])

        def test_3_raw_cursor_first_again(self) -> None:
            raw = self.connection.connection.dbapi_connection
            cursor = raw.cursor()
            cursor.execute("INSERT INTO authors (name) VALUES ('raw again')")
            cursor.close()
            self.assertEqual(list(self.connection.scalars(select(Author.name))), ["raw again"])

    return RawWorkBeforeTheFirstStatement


class RawWorkBeforeTheFirstStatement(unittest.TestCase):
    def test_each_step_in_order(self) -> None:
        result = run_case(_raw_work_before_the_first_statement_steps())
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(result.testsRun, 3)


def _session_state_does_not_reach_the_next_test_steps() -> type[PGliteTestCase]:
    """A new SessionStateDoesNotReachTheNextTest class, whose tests run in the order they are written (see run_case)."""

    class SessionStateDoesNotReachTheNextTest(PGliteTestCase):
        """What PostgreSQL keeps across a rollback is put back between tests (steps in the order written)."""

        metadata = Base

        def test_1_leaves_session_state(self) -> None:
            self.connection.execute(text("SELECT pg_advisory_lock(4242)"))
            self.connection.execute(text("PREPARE pglite_testcase_probe AS SELECT 1"))
            self.connection.execute(text("DROP ROLE IF EXISTS pglite_testcase_probe_role"))
            self.connection.execute(text("CREATE ROLE pglite_testcase_probe_role"))
            self.connection.execute(text("SET SESSION AUTHORIZATION pglite_testcase_probe_role"))
            self.connection.execution_options(stream_results=True, max_row_buffer=10)

        def test_2_sees_none_of_it(self) -> None:
            self.assertEqual(self.connection.scalar(text("SELECT current_user")), "postgres")
            self.assertEqual(self.connection.scalar(text("SELECT session_user")), "postgres")
            locks = self.connection.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"))
            self.assertEqual(locks, 0)
            prepared = self.connection.scalar(
                text("SELECT count(*) FROM pg_prepared_statements WHERE name = 'pglite_testcase_probe'")
            )
            self.assertEqual(prepared, 0)
            self.assertNotIn("stream_results", self.connection.get_execution_options())
            self.assertEqual(self.connection.scalar(text("SELECT 1")), 1)

    return SessionStateDoesNotReachTheNextTest


class SessionStateDoesNotReachTheNextTest(unittest.TestCase):
    def test_each_step_in_order(self) -> None:
        result = run_case(_session_state_does_not_reach_the_next_test_steps())
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(result.testsRun, 2)


@unittest.skipIf(ON_SERVER, "PGlite's watchdog enforces statement_timeout; a server cancels per connection")
class StatementTimeoutOfThePreviousClass(unittest.TestCase):
    def test_next_class_builds_its_schema_under_its_own_limit(self) -> None:
        import tempfile
        from pathlib import Path

        class Strict(PGliteTestCase):
            statement_timeout = 1

            def test_quick(self) -> None:
                self.assertEqual(self.connection.scalar(text("SELECT 1")), 1)

        with tempfile.TemporaryDirectory() as directory:
            slow = Path(directory)
            (slow / "versions").mkdir()
            (slow / "alembic.ini").write_text(f"[alembic]\nscript_location = {slow}\n")
            (slow / "env.py").write_text(
                "from alembic import context\n"
                "connection = context.config.attributes['connection']\n"
                "context.configure(connection=connection)\n"
                "with context.begin_transaction():\n"
                "    context.run_migrations()\n"
            )
            (slow / "versions" / "a1_slow.py").write_text(
                "from alembic import op\n"
                "revision = 'a1'\ndown_revision = None\n"
                "def upgrade():\n"
                "    op.execute('SELECT pg_sleep(1.5)')\n"
                "    op.execute('CREATE TABLE slow_built (id int)')\n"
                "def downgrade():\n"
                "    op.execute('DROP TABLE slow_built')\n"
            )

            class SlowSchema(PGliteTestCase):
                alembic_config = str(slow / "alembic.ini")

                def test_built(self) -> None:
                    self.assertEqual(self.connection.scalar(text("SELECT count(*) FROM slow_built")), 0)

            first = run_case(Strict)
            self.assertTrue(first.wasSuccessful(), problems(first))
            second = run_case(SlowSchema)
            self.assertTrue(second.wasSuccessful(), problems(second))


class TwoPhaseTransactionsInATest(unittest.TestCase):
    """A two-phase transaction (Session(twophase=True), Connection.begin_twophase(); zope.sqlalchemy's
    choice) is one more transaction inside the test's: its PREPARE and COMMIT stay inside it."""

    def test_prepared_commits_and_rollbacks_stay_inside_the_test(self) -> None:
        class TwoPhase(PGliteTestCase):
            metadata = Base

            def test_session_commits_in_two_phases(self) -> None:
                session = Session(bind=self.engine, twophase=True)
                session.add(Author(name="two-phase"))
                session.commit()
                session.close()
                self.assertEqual(count(self.connection), 1)

            def test_connection_prepares_then_rolls_back(self) -> None:
                with self.engine.connect() as connection:
                    transaction = connection.begin_twophase()
                    connection.execute(insert(Author).values(name="prepared, then rolled back"))
                    transaction.prepare()
                    transaction.rollback()
                self.assertEqual(count(self.connection), 0)
                with self.engine.connect() as connection:
                    transaction = connection.begin_twophase()
                    connection.execute(insert(Author).values(name="prepared and committed"))
                    transaction.prepare()
                    transaction.commit()
                self.assertEqual(count(self.connection), 1)

        result = run_case(TwoPhase)
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(result.testsRun, 2)
        plain_passes(self)
