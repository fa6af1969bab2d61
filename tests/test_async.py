"""The async test cases: the sync semantics, on both drivers, one event loop per test."""

from __future__ import annotations

import unittest
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError, MissingGreenlet, StatementError
from sqlalchemy.orm import selectinload

from pglite_testcase import AsyncPGliteTestCase, ConfigurationError, PGliteTestCase
from pglite_testcase.compat import SQLALCHEMY_2

from .models import Author, Base, Book
from .support import ALEMBIC_OK, problems, run_case

if TYPE_CHECKING:
    _Checks = AsyncPGliteTestCase
else:
    _Checks = object


class AsyncSemantics(_Checks):
    """Checks shared by the psycopg and asyncpg classes below. Each asserts an empty table first."""

    metadata = Base

    async def count(self, model: type = Author) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(model)))

    async def test_session_commit(self) -> None:
        self.assertEqual(await self.count(), 0)
        self.session.add(Author(name="Ada"))
        await self.session.commit()
        self.assertEqual(await self.count(), 1)

    async def test_engine_begin_commit(self) -> None:
        self.assertEqual(await self.count(), 0)
        async with self.engine.begin() as connection:
            await connection.execute(insert(Author).values(name="Grace"))
        async with self.engine.connect() as connection:
            self.assertEqual(await connection.scalar(select(func.count()).select_from(Author)), 1)

    async def test_engine_rollback_undoes_only_its_block(self) -> None:
        self.assertEqual(await self.count(), 0)
        self.session.add(Author(name="session row"))
        await self.session.flush()
        async with self.engine.connect() as connection:
            await connection.execute(insert(Author).values(name="engine row"))
            await connection.rollback()
        self.assertEqual((await self.session.scalars(select(Author.name))).all(), ["session row"])

    async def test_sessionmaker_commit(self) -> None:
        self.assertEqual(await self.count(), 0)
        async with self.sessionmaker() as session, session.begin():
            session.add(Author(name="Alan"))
        other = self.sessionmaker()
        other.add(Author(name="Donald"))
        await other.commit()
        self.assertEqual(await self.count(), 2)

    async def test_session_rollback(self) -> None:
        self.assertEqual(await self.count(), 0)
        self.session.add(Author(name="kept"))
        await self.session.commit()
        self.session.add(Author(name="discarded"))
        await self.session.flush()
        await self.session.rollback()
        self.assertEqual((await self.session.scalars(select(Author.name))).all(), ["kept"])

    async def test_caught_integrity_error(self) -> None:
        self.assertEqual(await self.count(), 0)
        self.session.add(Author(name="dup"))
        await self.session.commit()
        self.session.add(Author(name="dup"))
        with self.assertRaises(IntegrityError):
            await self.session.commit()
        await self.session.rollback()
        author = (await self.session.scalars(select(Author))).one()
        self.session.add(Book(title="Notes", author=author))
        await self.session.commit()
        self.assertEqual(await self.count(Book), 1)

    async def test_connection_sees_the_schema(self) -> None:
        tables = (
            await self.connection.scalars(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            )
        ).all()
        self.assertEqual(tables, ["authors", "books"])


NEEDS_SQLALCHEMY_2 = unittest.skipUnless(SQLALCHEMY_2, "psycopg 3's async mode needs SQLAlchemy 2")


@NEEDS_SQLALCHEMY_2
class PsycopgAsync(AsyncSemantics, AsyncPGliteTestCase):
    async def test_driver(self) -> None:
        self.assertEqual(self.connection.dialect.driver, "psycopg")


class AsyncpgAsync(AsyncSemantics, AsyncPGliteTestCase):
    async_driver = "asyncpg"

    async def test_driver(self) -> None:
        self.assertEqual(self.connection.dialect.driver, "asyncpg")


class AsyncFromAlembic(AsyncPGliteTestCase):
    alembic_config = str(ALEMBIC_OK)

    async def test_migrated(self) -> None:
        self.assertEqual(await self.connection.scalar(text("SELECT version_num FROM alembic_version")), "a3")


class AsyncResetSequences(AsyncPGliteTestCase):
    metadata = Base
    reset_sequences = True

    async def test_a(self) -> None:
        await self.assert_first_id_is_one()

    async def test_b(self) -> None:
        await self.assert_first_id_is_one()

    async def assert_first_id_is_one(self) -> None:
        author = Author(name="x")
        self.session.add(author)
        await self.session.flush()
        self.assertEqual(author.id, 1)


class ExpireOnCommitTrap(AsyncPGliteTestCase):
    """After a commit, attributes are expired; under asyncio a lazy load raises MissingGreenlet."""

    metadata = Base

    async def test_the_trap(self) -> None:
        author = Author(name="Ada")
        self.session.add(author)
        await self.session.commit()
        # SQLAlchemy raises MissingGreenlet, or a StatementError wrapping it.
        with self.assertRaisesRegex((MissingGreenlet, StatementError), "greenlet_spawn has not been called"):
            author.name  # noqa: B018 - the attribute access is the point

    async def test_recommended_patterns(self) -> None:
        author = Author(name="Ada", books=[Book(title="Notes")])
        self.session.add(author)
        await self.session.commit()
        # 1. refresh what you read after a commit
        await self.session.refresh(author)
        self.assertEqual(author.name, "Ada")
        # 2. load relationships eagerly
        loaded = (await self.session.scalars(select(Author).options(selectinload(Author.books)))).one()
        self.assertEqual([book.title for book in loaded.books], ["Notes"])
        # 3. or keep attributes after commit, as asyncio applications usually do
        async with self.sessionmaker(expire_on_commit=False) as session:
            other = Author(name="Grace")
            session.add(other)
            await session.commit()
            self.assertEqual(other.name, "Grace")


class SessionOptions(AsyncPGliteTestCase):
    metadata = Base
    session_options = {"expire_on_commit": False}

    async def test_attributes_survive_commit(self) -> None:
        author = Author(name="Ada")
        self.session.add(author)
        await self.session.commit()
        self.assertEqual(author.name, "Ada")


def many_tests_class(name: str, driver: str, count: int = 50) -> type[AsyncPGliteTestCase]:
    """A class of ``count`` async tests, each writing, committing and counting one row."""

    async def body(self: Any) -> None:
        self.assertEqual(await self.session.scalar(select(func.count()).select_from(Author)), 0)
        self.session.add(Author(name=self.id()))
        await self.session.commit()
        async with self.engine.begin() as connection:
            await connection.execute(insert(Book).values(title="t", author_id=select(Author.id).scalar_subquery()))
        self.assertEqual(await self.session.scalar(select(func.count()).select_from(Book)), 1)

    attributes: dict[str, Any] = {"metadata": Base, "async_driver": driver}
    attributes.update({f"test_{n:03}": body for n in range(count)})
    return type(name, (AsyncPGliteTestCase,), attributes)


ManyPsycopg1 = NEEDS_SQLALCHEMY_2(many_tests_class("ManyPsycopg1", "psycopg"))
ManyPsycopg2 = NEEDS_SQLALCHEMY_2(many_tests_class("ManyPsycopg2", "psycopg"))
ManyPsycopg3 = NEEDS_SQLALCHEMY_2(many_tests_class("ManyPsycopg3", "psycopg"))
ManyAsyncpg1 = many_tests_class("ManyAsyncpg1", "asyncpg")
ManyAsyncpg2 = many_tests_class("ManyAsyncpg2", "asyncpg")


class SyncAndAsyncShareOneInstance(unittest.TestCase):
    def test_alternating_classes_share_the_instance(self) -> None:
        seen: list[object] = []

        class SyncOne(PGliteTestCase):
            metadata = Base

            def test(self) -> None:
                seen.append(type(self).database)
                self.session.add(Author(name="sync"))
                self.session.commit()

        class AsyncOne(AsyncPGliteTestCase):
            metadata = Base

            async def test(self) -> None:
                seen.append(type(self).database)
                self.assertEqual(await self.session.scalar(select(func.count()).select_from(Author)), 0)

        class SyncTwo(PGliteTestCase):
            metadata = Base

            def test(self) -> None:
                seen.append(type(self).database)
                self.assertEqual(self.session.scalar(select(func.count()).select_from(Author)), 0)

        for case in (SyncOne, AsyncOne, SyncTwo, AsyncOne):
            result = run_case(case)
            self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(len({id(database) for database in seen}), 1)


class BadAsyncAttributes(unittest.TestCase):
    def test_unknown_driver(self) -> None:
        class WrongDriver(AsyncPGliteTestCase):
            async_driver = "aiopg"

        with self.assertRaises(ConfigurationError) as caught:
            WrongDriver.setUpClass()
        self.assertIn("WrongDriver.async_driver = 'aiopg'", str(caught.exception))
        self.assertIn("'psycopg' or 'asyncpg'", str(caught.exception))

    def test_bad_session_options(self) -> None:
        class WrongOptions(AsyncPGliteTestCase):
            session_options = {"bind": None}

        with self.assertRaises(ConfigurationError) as caught:
            WrongOptions.setUpClass()
        self.assertIn("WrongOptions.session_options", str(caught.exception))


class LeakedEngineConnection(AsyncPGliteTestCase):
    """A self.engine connection dropped without close() must not take the test's connection with it."""

    metadata = Base
    async_driver = "asyncpg"

    async def test_garbage_collected_engine_connection(self) -> None:
        import gc
        import warnings

        connection = await self.engine.connect()
        await connection.execute(text("SELECT 1"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SQLAlchemy warns about the unclosed connection
            del connection
            gc.collect()
        self.assertEqual(await self.session.scalar(text("SELECT 2")), 2)
