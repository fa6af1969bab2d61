"""What the code under test reaches (issue 20, items 2 and 3): its own engines on the test database
run in the current transaction (the test's, or the class's in setUpClass / tearDownClass); any other
database is refused during a test, unless the class allows it.

Each misbehaving class runs inside a test (``run_case``); a plain class after it must pass, and the
listener must be gone: nothing global stays behind.
"""

from __future__ import annotations

import asyncio
import unittest
from typing import Any, ClassVar

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, event, func, insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from pglite_testcase import AsyncPGliteTestCase, PGliteTestCase
from pglite_testcase.compat import SQLALCHEMY_2
from pglite_testcase.isolation.reach import _ACTIVE, _before_connect, allows, connecting_url

from .models import Author, Base
from .support import problems, run_case

# A table the application makes itself in setUpClass (not part of the class's schema).
extra = MetaData()
notes = Table("reach_notes", extra, Column("id", Integer, primary_key=True), Column("body", String(50)))


def author_names(connection: Any) -> list[str]:
    return sorted(connection.scalars(select(Author.name)))


def make_app_engine(url: str) -> Engine:
    """What application code does: an engine of its own, built from a URL, inside a function."""
    return create_engine(url)


def nothing_left_behind(test: unittest.TestCase) -> None:
    test.assertEqual(_ACTIVE, [], "a class's guard is still active after the class")
    test.assertFalse(event.contains(Engine, "do_connect", _before_connect), "the do_connect listener stayed")


class PlainAfterwards(PGliteTestCase):
    """The plain class each misbehaving one is followed by."""

    metadata = Base

    def test_plain(self) -> None:
        self.session.add(Author(name="plain"))
        self.session.commit()
        self.assertEqual(author_names(self.connection), ["plain"])


def run_then_plain(test: unittest.TestCase, case: type[unittest.TestCase]) -> unittest.TestResult:
    result = run_case(case)
    nothing_left_behind(test)
    plain = run_case(PlainAfterwards)
    test.assertEqual(problems(plain), "")
    test.assertEqual(plain.testsRun, 1)
    return result


class OwnEngineIsRouted(unittest.TestCase):
    def test_an_engine_built_from_database_url_in_a_test_runs_in_the_tests_transaction(self) -> None:
        class OwnEngines(PGliteTestCase):
            metadata = Base

            def test_1_own_engine_sees_and_writes_the_tests_data(self) -> None:
                self.session.add(Author(name="through self.session"))
                self.session.commit()
                engine = make_app_engine(self.database_url)  # made in the test, no connect_args
                with engine.begin() as connection:
                    self.assertEqual(author_names(connection), ["through self.session"])
                    connection.execute(insert(Author).values(name="through its own engine"))
                with Session(engine) as session:
                    session.add(Author(name="through its own session"))
                    session.commit()
                self.assertEqual(
                    author_names(self.connection),
                    ["through its own engine", "through its own session", "through self.session"],
                )
                engine.dispose()

            def test_2_nothing_of_the_previous_test_remains(self) -> None:
                engine = make_app_engine(self.database_url)
                with engine.connect() as connection:
                    self.assertEqual(author_names(connection), [])
                engine.dispose()

            def test_3_a_rollback_of_its_own_undoes_only_its_own_block(self) -> None:
                self.session.add(Author(name="kept"))
                self.session.commit()
                engine = make_app_engine(self.database_url)
                with engine.connect() as connection:
                    transaction = connection.begin()  # (a legacy 1.4 engine has no Connection.rollback)
                    connection.execute(insert(Author).values(name="rolled back"))
                    transaction.rollback()
                self.assertEqual(author_names(self.connection), ["kept"])

        result = run_then_plain(self, OwnEngines)
        self.assertEqual(problems(result), "")
        self.assertEqual(result.testsRun, 3)

    def test_an_engine_kept_across_tests_follows_each_test(self) -> None:
        class KeptEngine(PGliteTestCase):
            metadata = Base
            app_engine: ClassVar[Engine]

            @classmethod
            def setUpClass(cls) -> None:
                super().setUpClass()
                cls.app_engine = make_app_engine(cls.database_url)

            @classmethod
            def tearDownClass(cls) -> None:
                cls.app_engine.dispose()
                super().tearDownClass()

            def test_1(self) -> None:
                with self.app_engine.begin() as connection:
                    connection.execute(insert(Author).values(name="one"))
                self.assertEqual(author_names(self.session), ["one"])

            def test_2(self) -> None:
                with self.app_engine.begin() as connection:
                    self.assertEqual(author_names(connection), [])
                    connection.execute(insert(Author).values(name="two"))
                self.assertEqual(author_names(self.session), ["two"])

        result = run_then_plain(self, KeptEngine)
        self.assertEqual(problems(result), "")
        self.assertEqual(result.testsRun, 2)


class OtherDatabasesAreRefused(unittest.TestCase):
    def test_sqlite_and_another_postgresql_fail_the_test_naming_the_url_the_class_and_the_remedies(self) -> None:
        class ReachesElsewhere(PGliteTestCase):
            metadata = Base

            def test_sqlite(self) -> None:
                with create_engine("sqlite://").connect() as connection:
                    connection.execute(text("SELECT 1"))

            def test_swallowed(self) -> None:
                engine = create_engine("postgresql+psycopg2://app:s3cret@127.0.0.1:1/app_production")
                try:
                    engine.connect()
                except Exception:
                    pass  # the code under test swallows it: the test fails all the same

        result = run_then_plain(self, ReachesElsewhere)
        self.assertEqual(result.testsRun, 2)
        self.assertEqual(len(result.errors) + len(result.failures), 2, problems(result))
        text_ = problems(result)
        self.assertIn("tried to connect to sqlite+pysqlite:///:memory:", text_)
        self.assertIn("postgresql+psycopg2://app:***@127.0.0.1:1/app_production", text_)
        self.assertNotIn("s3cret", text_)
        self.assertIn("not the test database of OtherDatabasesAreRefused.", text_)
        self.assertIn("ReachesElsewhere", text_)
        self.assertIn("database_objects", text_)
        self.assertIn("cls.database_url", text_)
        self.assertIn("allowed_databases", text_)
        # After the class, every engine connects as usual.
        with create_engine("sqlite://").connect() as connection:
            self.assertEqual(connection.scalar(text("SELECT 1")), 1)

    def test_an_engine_on_the_test_database_with_another_driver_is_refused_saying_why(self) -> None:
        from sqlalchemy.engine import make_url
        from sqlalchemy.ext.asyncio import create_async_engine

        class OtherDriver(PGliteTestCase):
            metadata = Base

            async def reach(self) -> None:
                url = make_url(self.database_url).set(drivername="postgresql+asyncpg")
                engine = create_async_engine(url, poolclass=NullPool)  # asyncio, in a sync class
                try:
                    async with engine.connect() as connection:
                        await connection.execute(text("SELECT 1"))
                finally:
                    await engine.dispose()

            def test_async_engine_in_a_sync_test(self) -> None:
                import asyncio

                asyncio.run(self.reach())

        result = run_then_plain(self, OtherDriver)
        message = problems(result)
        self.assertIn("OtherDatabaseError", message)
        self.assertIn("postgresql+asyncpg (asyncio)", message)
        self.assertIn("cannot be routed", message)
        self.assertIn("cls.database_url", message)

    def test_allowed_databases_let_a_test_reach_them(self) -> None:
        class AllowsSqlite(PGliteTestCase):
            metadata = Base
            allowed_databases = ["sqlite://"]

            def test_sqlite(self) -> None:
                with create_engine("sqlite://").connect() as connection:
                    self.assertEqual(connection.scalar(text("SELECT 2")), 2)

        result = run_then_plain(self, AllowsSqlite)
        self.assertEqual(problems(result), "")

    def test_a_bad_allowed_databases_is_refused(self) -> None:
        class BadAllowed(PGliteTestCase):
            metadata = Base
            allowed_databases = "sqlite://"  # type: ignore[assignment]

            def test_never_runs(self) -> None:
                pass

        result = run_then_plain(self, BadAllowed)
        self.assertIn("BadAllowed.allowed_databases = 'sqlite://' is not accepted", problems(result))


class AllowedUrls(unittest.TestCase):
    def test_matching(self) -> None:
        from sqlalchemy.engine import make_url

        self.assertTrue(allows(make_url("sqlite://"), make_url("sqlite:////tmp/x.db")))
        self.assertTrue(allows(make_url("sqlite://"), make_url("sqlite+pysqlite:///:memory:")))
        self.assertFalse(allows(make_url("sqlite:///a.db"), make_url("sqlite:///b.db")))
        self.assertTrue(allows(make_url("postgresql://h/db"), make_url("postgresql+psycopg://u:p@h:5432/db")))
        self.assertFalse(allows(make_url("postgresql://h/db"), make_url("postgresql+psycopg://u:p@h/other")))
        self.assertFalse(allows(make_url("postgresql+psycopg2://h/db"), make_url("postgresql+psycopg://h/db")))

    def test_connecting_url_masks_nothing_itself_and_reads_a_socket_directory(self) -> None:
        class Dialect:
            name, driver = "postgresql", "psycopg"

        url = connecting_url(Dialect(), (), {"host": "/tmp/sock", "dbname": "d", "user": "u", "password": "p"})
        self.assertEqual(url.query["host"], "/tmp/sock")
        self.assertEqual((url.database, url.username, url.password), ("d", "u", "p"))


class ClassLevelWork(unittest.TestCase):
    def test_setupclass_creates_and_seeds_tests_see_it_teardownclass_drops_it_and_nothing_remains(self) -> None:
        seen: list[object] = []

        class SeedsInSetUpClass(PGliteTestCase):
            metadata = Base
            reset_sequences = True

            @classmethod
            def setUpClass(cls) -> None:
                super().setUpClass()
                engine = make_app_engine(cls.database_url)
                extra.create_all(engine)
                with engine.begin() as connection:
                    connection.execute(insert(notes).values(body="seeded by setUpClass"))
                engine.dispose()
                cls.session.add(Author(name="class author"))  # cls.session: in the class transaction
                cls.session.commit()
                seen.append(cls.engine.url)

            @classmethod
            def tearDownClass(cls) -> None:
                with cls.engine.begin() as connection:
                    seen.append(connection.scalar(select(func.count()).select_from(notes)))
                engine = make_app_engine(cls.database_url)
                extra.drop_all(engine)
                engine.dispose()
                super().tearDownClass()

            def test_1_sees_the_class_data_and_writes(self) -> None:
                self.assertEqual(self.connection.scalar(select(notes.c.body)), "seeded by setUpClass")
                self.assertEqual(author_names(self.session), ["class author"])
                self.session.add(Author(name="test 1"))
                self.session.commit()
                self.connection.execute(insert(notes).values(body="test 1"))

            def test_2_is_rolled_back_to_the_class_data(self) -> None:
                self.assertEqual(list(self.connection.scalars(select(notes.c.body))), ["seeded by setUpClass"])
                self.assertEqual(author_names(self.session), ["class author"])
                self.session.add(Author(name="test 2"))
                self.session.flush()  # reset_sequences: the ids go on from the class data's

        result = run_then_plain(self, SeedsInSetUpClass)
        self.assertEqual(problems(result), "")
        self.assertEqual(result.testsRun, 2)
        self.assertEqual(seen[1], 1)
        self.assertNotIn("engine", SeedsInSetUpClass.__dict__)
        self.assertNotIn("session", SeedsInSetUpClass.__dict__)

        class TableIsGone(PGliteTestCase):
            metadata = Base

            def test_no_table(self) -> None:
                exists = self.connection.scalar(text("SELECT to_regclass('reach_notes') IS NOT NULL"))
                self.assertFalse(exists, "setUpClass's table outlived its class")

        self.assertEqual(problems(run_case(TableIsGone)), "")

    def test_a_setupclass_that_commits_for_real_fails_the_class_saying_so(self) -> None:
        class CommitsInSetUpClass(PGliteTestCase):
            metadata = Base

            @classmethod
            def setUpClass(cls) -> None:
                super().setUpClass()
                cls.session.add(Author(name="escapes?"))
                cls.session.flush()
                try:
                    cls.session.execute(text("COMMIT"))
                except Exception:
                    pass  # swallowed: the class fails all the same, before its first test

            def test_never_sees_it(self) -> None:
                self.assertEqual(author_names(self.connection), [])

        result = run_then_plain(self, CommitsInSetUpClass)
        self.assertIn("ended the class's transaction", problems(result))


class AsyncOwnEngineIsRouted(unittest.TestCase):
    def check(self, driver: str) -> None:
        from sqlalchemy.engine import make_url
        from sqlalchemy.ext.asyncio import create_async_engine

        class AsyncOwnEngine(AsyncPGliteTestCase):
            metadata = Base
            async_driver = driver

            def app_url(self) -> Any:
                return make_url(self.database_url).set(drivername=f"postgresql+{driver}")

            async def test_1(self) -> None:
                engine = create_async_engine(self.app_url(), poolclass=NullPool)
                async with engine.begin() as connection:
                    await connection.execute(insert(Author).values(name="async own"))
                names = sorted((await self.session.scalars(select(Author.name))).all())
                self.assertEqual(names, ["async own"])
                await engine.dispose()

            async def test_2(self) -> None:
                engine = create_async_engine(self.app_url())
                async with engine.connect() as connection:
                    self.assertEqual((await connection.scalars(select(Author.name))).all(), [])
                await engine.dispose()

            async def test_3_an_engine_kept_across_tests(self) -> None:
                kept.append(kept[0] if kept else create_async_engine(self.app_url()))
                async with kept[-1].begin() as connection:
                    self.assertEqual((await connection.scalars(select(Author.name))).all(), [])
                    await connection.execute(insert(Author).values(name="kept"))
                names = sorted((await self.session.scalars(select(Author.name))).all())
                self.assertEqual(names, ["kept"])

            test_4_the_same_engine_in_the_next_test = test_3_an_engine_kept_across_tests

        kept: list[Any] = []
        result = run_then_plain(self, AsyncOwnEngine)
        self.assertEqual(problems(result), "")
        self.assertEqual(result.testsRun, 4)
        self.assertEqual(len(kept), 2)
        asyncio.run(kept[0].dispose())

    @unittest.skipUnless(SQLALCHEMY_2, "async psycopg: SQLAlchemy 2")
    def test_psycopg(self) -> None:
        self.check("psycopg")

    def test_asyncpg(self) -> None:
        self.check("asyncpg")
