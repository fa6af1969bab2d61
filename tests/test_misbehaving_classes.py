"""Failures stay where they happen: a misbehaving class or test, then a plain class that must pass.

Each case runs a hostile class the way unittest's runner would, then a plain class in the same
process. On PGlite a leaked connection would make the plain class wait 2 s and fail; on a real
server leaked rows or a leaked transaction would make it fail.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import unittest
import warnings
from typing import Any

from sqlalchemy import func, insert, select, text

from pglite_testcase import (
    AsyncPGliteMixin,
    AsyncPGliteTestCase,
    BaseOrderError,
    PGliteMixin,
    PGliteTestCase,
    PGliteTestCaseError,
)

from . import routing_app
from .models import Author, Base, Book
from .support import ALEMBIC_OK, problems, run_case


def count(connection: Any) -> int:
    return int(connection.scalar(select(func.count()).select_from(Author)))


class Plain(PGliteTestCase):
    """What must always work after a hostile class."""

    metadata = Base

    def test_starts_clean_and_works(self) -> None:
        self.assertEqual(count(self.connection), 0)
        self.session.add(Author(name="plain"))
        self.session.commit()
        self.assertEqual(count(self.session), 1)


class AsyncPlain(AsyncPGliteTestCase):
    metadata = Base

    async def test_starts_clean_and_works(self) -> None:
        self.assertEqual(await self.session.scalar(select(func.count()).select_from(Author)), 0)
        self.session.add(Author(name="plain"))
        await self.session.commit()


def plain_passes(test: unittest.TestCase) -> None:
    for case in (Plain, AsyncPlain):
        result = run_case(case)
        test.assertTrue(result.wasSuccessful(), problems(result))
        test.assertEqual(result.testsRun, 1)


class SetUpClassRaisesAfterSuper(unittest.TestCase):
    def _check(self, base: type, error: BaseException) -> None:
        class Hostile(base):  # type: ignore[valid-type,misc]
            metadata = Base

            @classmethod
            def setUpClass(cls) -> None:
                super().setUpClass()
                raise error

            def test_never_runs(self) -> None:
                raise AssertionError("setUpClass failed: no test runs")

        result = run_case(Hostile)
        if isinstance(error, unittest.SkipTest):
            self.assertEqual(len(result.skipped), 1, problems(result))
        else:
            self.assertEqual(len(result.errors), 1)
            self.assertIn(str(error), problems(result))
        plain_passes(self)

    def test_skip_test_after_super(self) -> None:
        self._check(PGliteTestCase, unittest.SkipTest("needs a feature flag"))

    def test_error_after_super(self) -> None:
        self._check(PGliteTestCase, RuntimeError("fixture file missing"))

    def test_async_skip_test_after_super(self) -> None:
        self._check(AsyncPGliteTestCase, unittest.SkipTest("needs a feature flag"))

    def test_async_error_after_super(self) -> None:
        self._check(AsyncPGliteTestCase, RuntimeError("fixture file missing"))

    def test_setup_test_data_raises(self) -> None:
        class Hostile(PGliteTestCase):
            metadata = Base

            @classmethod
            def setUpTestData(cls) -> None:
                cls.session.add(Author(name="half"))
                cls.session.flush()
                raise RuntimeError("class data failed half-way")

            def test_never_runs(self) -> None:
                raise AssertionError("no test runs")

        result = run_case(Hostile)
        self.assertIn("class data failed half-way", problems(result))
        plain_passes(self)


class SetUpRaisesAfterSuper(unittest.TestCase):
    def test_the_test_errors_its_work_is_rolled_back(self) -> None:
        class Hostile(PGliteTestCase):
            metadata = Base

            def setUp(self) -> None:
                super().setUp()
                self.session.add(Author(name="from setUp"))
                self.session.commit()
                self.connection.execute(text("SELECT * FROM no_such_table"))  # setUp dies after writing

            def test_1(self) -> None:
                raise AssertionError("setUp failed: the test does not run")

            def test_2(self) -> None:
                raise AssertionError("setUp failed: the test does not run")

        result = run_case(Hostile)
        self.assertEqual(len(result.errors), 2, problems(result))
        self.assertNotIn("does not run", problems(result))
        plain_passes(self)

    def test_async(self) -> None:
        class Hostile(AsyncPGliteTestCase):
            metadata = Base

            async def asyncSetUp(self) -> None:
                await super().asyncSetUp()
                self.session.add(Author(name="from asyncSetUp"))
                await self.session.commit()
                raise RuntimeError("asyncSetUp dies after writing")

            async def test_1(self) -> None:
                raise AssertionError("asyncSetUp failed: the test does not run")

        result = run_case(Hostile)
        self.assertEqual(len(result.errors), 1, problems(result))
        self.assertIn("asyncSetUp dies after writing", problems(result))
        plain_passes(self)


class TearDownForgetsSuper(unittest.TestCase):
    def test_next_test_still_starts_clean(self) -> None:
        class Hostile(PGliteTestCase):
            metadata = Base

            def tearDown(self) -> None:  # no super().tearDown()
                pass

            def test_1_writes(self) -> None:
                self.session.add(Author(name="one"))
                self.session.commit()

            def test_2_starts_clean(self) -> None:
                self.assertEqual(count(self.connection), 0)
                self.connection.execute(insert(Author).values(name="two"))

        result = run_case(Hostile)
        self.assertTrue(result.wasSuccessful(), problems(result))
        plain_passes(self)

    def test_async_next_test_still_starts_clean(self) -> None:
        class Hostile(AsyncPGliteTestCase):
            metadata = Base

            async def asyncTearDown(self) -> None:  # no super().asyncTearDown()
                pass

            def tearDown(self) -> None:  # and no super().tearDown()
                pass

            async def test_1_writes(self) -> None:
                self.session.add(Author(name="one"))
                await self.session.commit()

            async def test_2_starts_clean(self) -> None:
                self.assertEqual(await self.session.scalar(select(func.count()).select_from(Author)), 0)

        result = run_case(Hostile)
        self.assertTrue(result.wasSuccessful(), problems(result))
        plain_passes(self)


class TestLeavesItsConnectionInABadState(unittest.TestCase):
    def test_failed_transaction_left_open(self) -> None:
        class Hostile(PGliteTestCase):
            metadata = Base

            def test_1_fails_mid_transaction(self) -> None:
                self.session.add(Author(name="x"))
                self.session.flush()
                self.connection.execute(text("SELECT 1/0"))

        result = run_case(Hostile)
        self.assertEqual(len(result.errors), 1)
        plain_passes(self)

    def test_the_next_tests_of_the_class_are_not_failed_by_it(self) -> None:
        # Each later test reaches the test's connection another way first: a session, an engine
        # connection (SQLAlchemy's psycopg2 dialect looks up hstore as it connects, with a cursor of
        # psycopg2's own class) and, with psycopg2, a cursor of another class (RealDictCursor).
        class Hostile(PGliteTestCase):
            metadata = Base
            driver = "psycopg2" if importlib.util.find_spec("psycopg2") else "psycopg"

            def test_1_errors_with_an_uncaught_database_error(self) -> None:
                self.connection.execute(text("SELECT 1/0"))

            def test_2_session_first(self) -> None:
                self.session.add(Author(name="x"))
                self.session.flush()
                self.assertEqual(count(self.connection), 1)

            def test_3_errors_again(self) -> None:
                self.connection.execute(text("SELECT 1/0"))

            def test_4_engine_connection_first(self) -> None:
                with self.engine.connect() as connection:
                    self.assertEqual(count(connection), 0)

            def test_5_errors_again(self) -> None:
                self.connection.execute(text("SELECT 1/0"))

            def test_6_cursor_of_another_class_first(self) -> None:
                if self.driver != "psycopg2":
                    self.skipTest("a psycopg2 cursor class")
                from psycopg2.extras import RealDictCursor

                raw = self.connection.connection.dbapi_connection
                with raw.cursor(cursor_factory=RealDictCursor) as cursor:
                    cursor.execute("SELECT count(*) AS n FROM authors")
                    self.assertEqual(cursor.fetchone()["n"], 0)

        result = run_case(Hostile)
        failed = sorted(test.id().rsplit(".", 1)[1] for test, _ in result.errors + result.failures)
        self.assertEqual(
            failed,
            ["test_1_errors_with_an_uncaught_database_error", "test_3_errors_again", "test_5_errors_again"],
            problems(result),
        )
        plain_passes(self)


class SetUpForgetsSuper(unittest.TestCase):
    """Django's way: the test's transaction and routing begin before setUp, with or without super()."""

    def test_setup_without_super_gets_a_routed_rolled_back_test(self) -> None:
        class Hostile(PGliteTestCase):
            metadata = Base
            database_objects = routing_app.SYNC_OBJECTS

            def setUp(self) -> None:  # no super().setUp()
                routing_app.Session.add(Author(name="from setUp"))
                routing_app.Session.commit()

            def tearDown(self) -> None:  # no super().tearDown()
                pass

            def test_1_writes(self) -> None:
                self.assertEqual(count(self.connection), 1)
                self.session.add(Author(name="one"))
                self.session.commit()
                self.assertEqual(count(self.session), 2)

            def test_2_starts_clean(self) -> None:
                self.assertEqual(count(self.connection), 1)  # setUp's row only
                self.assertEqual(self.sessionmaker().scalar(select(func.count()).select_from(Author)), 1)

        result = run_case(Hostile)
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(result.testsRun, 2)
        plain_passes(self)

    def test_setup_with_super_begins_once(self) -> None:
        seen: list[Any] = []

        class Polite(PGliteTestCase):
            metadata = Base

            def setUp(self) -> None:
                seen.append(self.connection)  # begun before setUp
                super().setUp()
                seen.append(self.connection)

            def test(self) -> None:
                self.session.add(Author(name="one"))
                self.session.commit()

        result = run_case(Polite)
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(len(seen), 2)
        self.assertIs(seen[0], seen[1])
        plain_passes(self)

    def test_async_setup_without_super(self) -> None:
        class Hostile(AsyncPGliteTestCase):
            metadata = Base

            def setUp(self) -> None:  # no super().setUp()
                self.sync_session_seen = self.session is not None

            async def asyncSetUp(self) -> None:  # no super().asyncSetUp()
                self.session.add(Author(name="from asyncSetUp"))
                await self.session.commit()

            async def asyncTearDown(self) -> None:  # no super().asyncTearDown()
                pass

            async def test_1_writes(self) -> None:
                self.assertTrue(self.sync_session_seen)
                self.session.add(Author(name="one"))
                await self.session.commit()
                self.assertEqual(await self.session.scalar(select(func.count()).select_from(Author)), 2)

            async def test_2_starts_clean(self) -> None:
                self.assertEqual(await self.session.scalar(select(func.count()).select_from(Author)), 1)

        result = run_case(Hostile)
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(result.testsRun, 2)
        plain_passes(self)

    def test_setupclass_without_super_sets_up_with_the_first_test(self) -> None:
        class Hostile(PGliteTestCase):
            metadata = Base

            @classmethod
            def setUpClass(cls) -> None:  # no super().setUpClass()
                cls.marker = "mine"

            @classmethod
            def tearDownClass(cls) -> None:  # no super().tearDownClass()
                pass

            @classmethod
            def setUpTestData(cls) -> None:
                cls.session.add(Author(name="class data"))
                cls.session.commit()

            def test_1_writes(self) -> None:
                self.assertEqual(count(self.connection), 1)
                self.session.add(Author(name="one"))
                self.session.commit()

            def test_2_starts_clean(self) -> None:
                self.assertEqual(count(self.connection), 1)

        result = run_case(Hostile)
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(result.testsRun, 2)
        self.assertNotIn("_pglite_fixture", Hostile.__dict__, "the class cleanup closes it")
        plain_passes(self)

    def test_async_setupclass_without_super(self) -> None:
        class Hostile(AsyncPGliteTestCase):
            metadata = Base

            @classmethod
            def setUpClass(cls) -> None:  # no super().setUpClass()
                pass

            async def test_1_writes(self) -> None:
                self.session.add(Author(name="one"))
                await self.session.commit()

            async def test_2_starts_clean(self) -> None:
                self.assertEqual(await self.session.scalar(select(func.count()).select_from(Author)), 0)

        result = run_case(Hostile)
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertNotIn("_pglite_fixture", Hostile.__dict__)
        plain_passes(self)

    def test_setupclass_without_super_whose_database_fails_errors_each_test_once(self) -> None:
        class Hostile(PGliteTestCase):
            metadata = Base
            alembic_config = 3  # refused

            @classmethod
            def setUpClass(cls) -> None:  # no super().setUpClass()
                pass

            def test_1(self) -> None:
                raise AssertionError("no database: the test does not run")

            def test_2(self) -> None:
                raise AssertionError("no database: the test does not run")

        result = run_case(Hostile)
        self.assertEqual(len(result.errors), 2, problems(result))
        self.assertIn("Hostile.alembic_config", result.errors[0][1])
        self.assertIn("call super().setUpClass()", result.errors[1][1])
        self.assertNotIn("does not run", problems(result))
        plain_passes(self)


class BasesInTheWrongOrder(unittest.TestCase):
    """unittest.TestCase before the mixin: TestCase's setUpClass and setUp would shadow the mixin's."""

    def test_sync_mixin_after_test_case_is_refused_at_class_creation(self) -> None:
        with self.assertRaises(TypeError) as caught:

            class T(unittest.TestCase, PGliteMixin):
                metadata = Base

                def test(self) -> None:
                    raise AssertionError("never defined")

        message = str(caught.exception)
        self.assertIsInstance(caught.exception, BaseOrderError)
        self.assertIn("put PGliteMixin before unittest.TestCase in ", message)
        self.assertIn("in T's bases", message)
        plain_passes(self)

    def test_async_mixin_after_isolated_asyncio_test_case_is_refused(self) -> None:
        with self.assertRaises(TypeError) as caught:

            class T(unittest.IsolatedAsyncioTestCase, AsyncPGliteMixin):
                metadata = Base

        self.assertIn("put AsyncPGliteMixin before unittest.IsolatedAsyncioTestCase in ", str(caught.exception))
        plain_passes(self)

    def test_a_subclass_of_the_mixin_after_a_test_case_base_of_ones_own(self) -> None:
        class Mine(PGliteMixin):
            metadata = Base

        class MyTestCase(unittest.TestCase):
            pass

        with self.assertRaises(TypeError) as caught:

            class T(MyTestCase, Mine):
                pass

        self.assertIn("put Mine before ", str(caught.exception))
        self.assertIn("MyTestCase in ", str(caught.exception))

        class Right(Mine, MyTestCase):
            def test(self) -> None:
                self.session.add(Author(name="right"))
                self.session.commit()
                self.assertEqual(count(self.connection), 1)

        result = run_case(Right)
        self.assertTrue(result.wasSuccessful(), problems(result))
        plain_passes(self)


SESSION_SETTINGS = (
    "TimeZone",
    "search_path",
    "application_name",
    "statement_timeout",
    "session_replication_role",
    "role",
    "DateStyle",
    "client_min_messages",
)
SESSION_STATE_SQL = (
    "SELECT current_user, session_user, "
    "(SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()) AS temp_tables, "
    "(SELECT count(*) FROM pg_prepared_statements WHERE from_sql) AS prepared, "
    "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS advisory_locks"
)


def session_state(connection: Any) -> dict[str, Any]:
    state = {name: connection.exec_driver_sql(f"SHOW {name}").scalar() for name in SESSION_SETTINGS}
    state.update(connection.exec_driver_sql(SESSION_STATE_SQL).mappings().one())
    return state


async def async_session_state(connection: Any) -> dict[str, Any]:
    return dict(await connection.run_sync(session_state))


class TruncatingPlain(PGliteTestCase):
    metadata = Base
    isolation = "truncate"

    def test_starts_fresh_and_empty(self) -> None:
        state = session_state(self.connection)
        self.assertEqual((state["role"], state["session_replication_role"]), ("none", "origin"))
        self.assertEqual(state["current_user"], self.db_user)
        self.assertNotEqual(state["TimeZone"], "Pacific/Kiritimati")
        self.assertEqual(state["temp_tables"], 0)
        self.assertEqual(count(self.connection), 0)
        self.connection.execute(insert(Author).values(name="plain"))


class TruncateLeavesAFreshSession(unittest.TestCase):
    """isolation = 'truncate': after a test, the session is what a fresh connection gets, and rows
    written under session_replication_role = replica (which skips ordinary triggers) are emptied."""

    def test_a_test_that_changes_its_session_and_writes_as_replica(self) -> None:
        fresh: dict[str, dict[str, Any]] = {}

        class Hostile(PGliteTestCase):
            metadata = Base
            isolation = "truncate"

            def test_0_fresh(self) -> None:
                fresh["connection"] = session_state(self.connection)
                fresh["session"] = session_state(self.session.connection())
                self.session.rollback()

            def test_1_changes_everything(self) -> None:
                self.session.execute(text("SET TIME ZONE 'Asia/Tokyo'"))
                self.session.execute(text("SET application_name = 'session'"))
                self.session.add(Author(name="session"))
                self.session.commit()
                connection = self.connection
                for statement in (
                    "SET session_replication_role = replica",  # no ordinary trigger fires, foreign keys' neither
                    "INSERT INTO books (title, author_id) VALUES ('replica', 999)",
                    "SET TIME ZONE 'Pacific/Kiritimati'",
                    "SET application_name = 'hostile'",
                    "SET statement_timeout = '1234s'",
                    "SET DateStyle = 'German'",
                    "SET client_min_messages = 'error'",
                    "CREATE TEMP TABLE scratch (x int)",
                    "PREPARE leftover AS SELECT 1",
                    "SELECT pg_advisory_lock(42)",
                    "SET SESSION AUTHORIZATION pg_read_all_data",
                    "SET ROLE pg_read_all_data",
                    "SET search_path TO pg_catalog",
                ):
                    connection.exec_driver_sql(statement)

            def test_2_starts_fresh_and_empty(self) -> None:
                self.assertEqual(session_state(self.connection), fresh["connection"])
                self.assertEqual(session_state(self.session.connection()), fresh["session"])
                self.session.rollback()
                self.assertEqual(count(self.connection), 0)
                self.assertEqual(self.connection.scalar(select(func.count()).select_from(Book)), 0)

        result = run_case(Hostile)
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(result.testsRun, 3)
        for case in (TruncatingPlain, Plain, AsyncPlain):
            result = run_case(case)
            self.assertTrue(result.wasSuccessful(), problems(result))

    def test_async(self) -> None:
        fresh: dict[str, Any] = {}

        class Hostile(AsyncPGliteTestCase):
            metadata = Base
            isolation = "truncate"

            async def test_0_fresh(self) -> None:
                fresh.update(await async_session_state(self.connection))

            async def test_1_changes_everything(self) -> None:
                for statement in (
                    "SET session_replication_role = replica",
                    "INSERT INTO authors (name) VALUES ('replica')",
                    "SET TIME ZONE 'Pacific/Kiritimati'",
                    "SET statement_timeout = '1234s'",
                    "CREATE TEMP TABLE scratch (x int)",
                    "SET SESSION AUTHORIZATION pg_read_all_data",
                    "SET search_path TO pg_catalog",
                ):
                    await self.connection.exec_driver_sql(statement)

            async def test_2_starts_fresh_and_empty(self) -> None:
                self.assertEqual(await async_session_state(self.connection), fresh)
                self.assertEqual(await self.connection.scalar(select(func.count()).select_from(Author)), 0)

        result = run_case(Hostile)
        self.assertTrue(result.wasSuccessful(), problems(result))
        for case in (TruncatingPlain, Plain, AsyncPlain):
            result = run_case(case)
            self.assertTrue(result.wasSuccessful(), problems(result))

    def test_the_class_errors_naming_the_attribute_and_nothing_else_does(self) -> None:
        class Hostile(PGliteTestCase):
            alembic_config = ALEMBIC_OK
            alembic_revision = "nonexistent"

            def test_never_runs(self) -> None:
                raise AssertionError("no test runs")

        result = run_case(Hostile)
        self.assertEqual(len(result.errors), 1, problems(result))
        message = problems(result)
        self.assertIn("Hostile.alembic_revision = 'nonexistent' is not accepted", message)
        self.assertNotIn("no test runs", message)
        plain_passes(self)


class TasksLeftRunning(unittest.TestCase):
    """An asyncio task a test leaves running is cancelled and awaited at the test's end, with a warning
    naming the test; its exception is not reported later as never retrieved."""

    def test_tasks_are_cancelled_and_awaited_with_a_warning(self) -> None:
        cancelled: list[str] = []

        class Hostile(AsyncPGliteTestCase):
            metadata = Base
            isolation = "truncate"

            async def test_1_leaves_tasks(self) -> None:
                async def fails_when_cancelled() -> None:
                    try:
                        await asyncio.sleep(3600)
                    except asyncio.CancelledError:
                        cancelled.append("fails_when_cancelled")
                        raise RuntimeError("a left-over task failed") from None

                async def writes_later(session: Any) -> None:
                    try:
                        await asyncio.sleep(3600)
                        session.add(Author(name="late"))
                        await session.commit()
                    finally:
                        cancelled.append("writes_later")

                # (Referenced by the loop's timers only, as tasks left running usually are.)
                asyncio.create_task(fails_when_cancelled(), name="failing")
                asyncio.create_task(writes_later(self.session), name="writer")
                await asyncio.sleep(0)  # both start
                await self.connection.execute(insert(Author).values(name="one"))

            async def test_2_starts_clean(self) -> None:
                self.assertEqual(await self.connection.scalar(select(func.count()).select_from(Author)), 0)

        with warnings.catch_warnings(record=True) as heard, self.assertNoLogs("asyncio", level="ERROR"):
            warnings.simplefilter("always")
            result = run_case(Hostile)
            gc.collect()
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(sorted(cancelled), ["fails_when_cancelled", "writes_later"])
        messages = [str(warning.message) for warning in heard if issubclass(warning.category, RuntimeWarning)]
        self.assertEqual(len(messages), 1, messages)
        self.assertIn("Hostile.test_1_leaves_tasks left 2 asyncio task(s) running", messages[0])
        self.assertIn("failing (", messages[0])
        plain_passes(self)


class SyncCodeInAnAsyncTest(unittest.TestCase):
    """Sync database code in an async test fails with SQLAlchemy's MissingGreenlet; the library's
    own connection factory leaves no "coroutine '...creator' was never awaited"."""

    def test_only_missing_greenlet(self) -> None:
        raised: list[str] = []

        class Hostile(AsyncPGliteTestCase):
            metadata = Base

            async def test_sync_code(self) -> None:
                try:
                    with self.engine.sync_engine.connect() as connection:
                        connection.exec_driver_sql("SELECT 1")
                except Exception as exc:
                    raised.append(type(exc).__name__)

        with warnings.catch_warnings(record=True) as heard:
            warnings.simplefilter("always")
            result = run_case(Hostile)
            gc.collect()
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(raised, ["MissingGreenlet"])
        # (SQLAlchemy 1.4's own lock may still say so of itself: only the library's factory counts.)
        ours = [str(w.message) for w in heard if "never awaited" in str(w.message) and "creator" in str(w.message)]
        self.assertEqual(ours, [])
        plain_passes(self)


class TransactionsOfTheTestsOwnConnection(unittest.TestCase):
    """self.connection.begin() inside a test is a savepoint; an isolation level is refused, saying why."""

    def test_begin_is_a_nested_block(self) -> None:
        class Hostile(PGliteTestCase):
            metadata = Base

            def test_1_begin_blocks(self) -> None:
                with self.connection.begin():
                    self.connection.execute(insert(Author).values(name="kept"))
                self.assertEqual(count(self.connection), 1)
                with self.assertRaises(ZeroDivisionError), self.connection.begin():
                    self.connection.execute(insert(Author).values(name="undone"))
                    raise ZeroDivisionError
                self.assertEqual(count(self.connection), 1)

            def test_2_starts_clean(self) -> None:
                self.assertEqual(count(self.connection), 0)

        result = run_case(Hostile)
        self.assertTrue(result.wasSuccessful(), problems(result))
        plain_passes(self)

    def test_async_begin_is_a_nested_block(self) -> None:
        class Hostile(AsyncPGliteTestCase):
            metadata = Base

            async def test_1_begin_blocks(self) -> None:
                async with self.connection.begin():
                    await self.connection.execute(insert(Author).values(name="kept"))
                with self.assertRaises(ZeroDivisionError):
                    async with self.connection.begin():
                        await self.connection.execute(insert(Author).values(name="undone"))
                        raise ZeroDivisionError
                self.assertEqual(await self.connection.scalar(select(func.count()).select_from(Author)), 1)

            async def test_2_starts_clean(self) -> None:
                self.assertEqual(await self.connection.scalar(select(func.count()).select_from(Author)), 0)

        result = run_case(Hostile)
        self.assertTrue(result.wasSuccessful(), problems(result))
        plain_passes(self)

    def test_an_isolation_level_is_refused_saying_why(self) -> None:
        messages: list[str] = []

        class Hostile(PGliteTestCase):
            metadata = Base

            def test_1_asks_for_autocommit(self) -> None:
                for ask in (
                    lambda: self.connection.execution_options(isolation_level="AUTOCOMMIT"),
                    lambda: self.engine.connect().execution_options(isolation_level="AUTOCOMMIT"),
                    lambda: self.engine.execution_options(isolation_level="SERIALIZABLE"),
                    lambda: self.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"}),
                ):
                    with self.assertRaises(PGliteTestCaseError) as caught:
                        ask()
                    messages.append(str(caught.exception))
                self.connection.execute(insert(Author).values(name="still works"))
                self.assertEqual(count(self.connection), 1)

            def test_2_starts_clean(self) -> None:
                self.assertEqual(count(self.connection), 0)

        result = run_case(Hostile)
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(len(messages), 4)
        for message in messages:
            self.assertIn("Hostile: execution_options(isolation_level=", message)
            self.assertIn("cannot be honoured inside a test", message)
            self.assertIn("isolation = 'truncate'", message)
        plain_passes(self)

    def test_async_autocommit_is_refused(self) -> None:
        class Hostile(AsyncPGliteTestCase):
            metadata = Base

            async def test_asks_for_autocommit(self) -> None:
                with self.assertRaises(PGliteTestCaseError) as caught:
                    await self.connection.execution_options(isolation_level="AUTOCOMMIT")
                self.assertIn("isolation = 'truncate'", str(caught.exception))
                await self.connection.execute(insert(Author).values(name="still works"))

        result = run_case(Hostile)
        self.assertTrue(result.wasSuccessful(), problems(result))
        plain_passes(self)
