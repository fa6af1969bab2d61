"""The public test case classes for asyncio code (``IsolatedAsyncioTestCase``).

``IsolatedAsyncioTestCase`` runs every test in an event loop of its own, so
nothing that belongs to a loop may outlive a test: the class keeps engines
with ``NullPool`` (engines hold no connection between tests), and each test
opens its connection in ``asyncSetUp`` and closes it in ``asyncTearDown``.
The isolation itself is the sync classes': the same outer transaction, the
same savepoint engine (see ``isolation``).
"""

from __future__ import annotations

import asyncio
import unittest
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import ClassVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    AsyncTransaction,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from . import helpers
from .factories import BoundFactories
from .isolation import (
    OUTER_COMMIT_MESSAGE,
    CommitWatch,
    RemembersSessions,
    TestTransactionJoin,
    reset_sequences,
    restore_sequences,
    sequence_positions,
)
from .queries import Query, capture_queries, expect_num_queries
from .settings import ASYNC_DRIVERS, read_async_driver, refuse_class_data_when_truncating
from .test_data import unwrap_attributes, wrap_new_attributes
from .testcase import PGliteDatabaseMixin


class _TrackingAsyncSessionmaker(RemembersSessions, async_sessionmaker[AsyncSession]):
    pass


class AsyncPGliteMixin(PGliteDatabaseMixin):
    """Mix into a ``unittest.IsolatedAsyncioTestCase``: PGlite, a schema, a rolled-back transaction per test.

    Per test: ``self.connection`` (an ``AsyncConnection`` in the test's outer
    transaction), ``self.session`` and ``self.sessionmaker`` (``AsyncSession``s
    that join it with savepoints), and ``self.engine`` (an ``AsyncEngine``
    whose connections are the test's, commits becoming savepoint releases).
    """

    async_driver: ClassVar[str] = "psycopg"

    connection: AsyncConnection
    session: AsyncSession
    sessionmaker: async_sessionmaker[AsyncSession]
    engine: AsyncEngine

    _pglite_class_engine: ClassVar[AsyncEngine]
    _pglite_join: ClassVar[TestTransactionJoin]
    _pglite_joined_engine: ClassVar[AsyncEngine]
    _pglite_commit_watch: ClassVar[CommitWatch]
    _pglite_driver: ClassVar[str]
    _pglite_sequences: ClassVar[list[tuple[str, int, bool]] | None]
    _pglite_committed_data: ClassVar[bool]
    _pglite_plain_engine: ClassVar[AsyncEngine]

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()  # type: ignore[misc]
        try:
            cls._pglite_driver = read_async_driver(cls)
            cls._start_database()
            cls._create_class_engines()
            cls._create_test_data()
        except BaseException:
            cls._drop_test_data()
            cls._forget_class_engines()
            cls._stop_database()
            super().tearDownClass()  # type: ignore[misc]
            raise

    @classmethod
    def _create_class_engines(cls) -> None:
        driver = cls._pglite_driver
        url, connect_args = cls.database.async_url(driver), cls.database.async_connect_args(driver)
        if cls._pglite_settings.isolation == "truncate":
            cls._pglite_plain_engine = create_async_engine(url, poolclass=NullPool, connect_args=connect_args)
            return
        cls._pglite_join = TestTransactionJoin()
        cls._pglite_class_engine = create_async_engine(url, poolclass=NullPool, connect_args=connect_args)
        cls._pglite_join.install_on_test_engine(cls._pglite_class_engine.sync_engine)
        cls._pglite_commit_watch = CommitWatch()
        event.listen(cls._pglite_class_engine.sync_engine, "commit", cls._pglite_commit_watch)
        cls._pglite_joined_engine = create_async_engine(
            url, poolclass=NullPool, async_creator=cls._pglite_join.current_async_connection
        )
        cls._pglite_join.install(cls._pglite_joined_engine.sync_engine)

    @classmethod
    def _recover(cls) -> None:
        """After PGlite died: a new instance, the schema, new engines, the class's test data again."""
        unwrap_attributes(cls)
        cls._forget_class_engines()
        cls._stop_database()
        cls._start_database()
        cls._create_class_engines()
        cls._create_test_data()

    @classmethod
    async def asyncSetUpTestData(cls) -> None:
        """Override to create data once for the whole class (Django's ``setUpTestData``, async).

        Inside it, ``cls.session`` (an ``AsyncSession``) and ``cls.connection``
        reach the database. Each test reads what it stores on the class as its
        own copy, sees the rows, and has its changes rolled back to them. The
        event loop of each async test is its own, so the data cannot wait in an
        open class transaction as in the sync classes: it is committed, and the
        schema is rebuilt after the class so that none of it remains.
        """

    @classmethod
    def _create_test_data(cls) -> None:
        cls._pglite_sequences = None
        cls._pglite_committed_data = False
        base = getattr(AsyncPGliteMixin.asyncSetUpTestData, "__func__", None)
        if getattr(cls.asyncSetUpTestData, "__func__", None) is base:
            return
        refuse_class_data_when_truncating(cls)
        before = set(cls.__dict__)

        async def create() -> list[tuple[str, int, bool]]:
            engine = create_async_engine(
                cls.database.async_url(cls._pglite_driver),
                poolclass=NullPool,
                connect_args=cls.database.async_connect_args(cls._pglite_driver),
            )
            try:
                async with engine.connect() as connection:
                    session = AsyncSession(bind=connection, expire_on_commit=False)
                    cls.session, cls.connection = session, connection
                    cls._pglite_committed_data = True
                    try:
                        await cls.asyncSetUpTestData()
                        await session.commit()
                        await connection.commit()
                        return await connection.run_sync(sequence_positions)
                    finally:
                        del cls.session, cls.connection
                        session.expunge_all()
                        await session.close()
            finally:
                await engine.dispose()

        positions = asyncio.run(create())
        wrap_new_attributes(cls, before)
        if cls._pglite_settings.reset_sequences:
            cls._pglite_sequences = positions

    @classmethod
    def _drop_test_data(cls) -> None:
        unwrap_attributes(cls)
        if cls.__dict__.get("_pglite_committed_data") and "database" in cls.__dict__:
            cls.database.rebuild(cls._pglite_settings.schema)
            cls._pglite_committed_data = False

    @classmethod
    def tearDownClass(cls) -> None:
        try:
            cls._drop_test_data()
            cls._forget_class_engines()
            cls._stop_database()
        finally:
            super().tearDownClass()  # type: ignore[misc]

    @classmethod
    def _forget_class_engines(cls) -> None:
        # NullPool engines hold no connection: there is nothing to dispose outside a loop.
        for name in ("_pglite_joined_engine", "_pglite_class_engine", "_pglite_plain_engine"):
            if name in cls.__dict__:
                delattr(cls, name)

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()  # type: ignore[misc]
        cls = type(self)
        if not cls.database.is_alive():
            cls._recover()  # an earlier test's PGlite died
        if cls._pglite_settings.isolation == "truncate":
            # Nothing wraps the test: what it commits is committed; tearDown empties every table.
            self.engine = cls._pglite_plain_engine
            self.sessionmaker = _TrackingAsyncSessionmaker(bind=self.engine, **cls._pglite_settings.session_options)
            self.session = self.sessionmaker()
            self.connection = await self.engine.connect()
            await self.connection.execution_options(isolation_level="AUTOCOMMIT")
            self._bind_factories()
            return
        self.connection = await cls._pglite_class_engine.connect()
        try:
            self._pglite_transaction: AsyncTransaction = await self.connection.begin()
            if self.connection.dialect.driver == "asyncpg":
                # SQLAlchemy's asyncpg adapter sends BEGIN with the first statement; the
                # savepoints of self.engine need it sent before they run.
                await self.connection.exec_driver_sql("SELECT 1")
            if cls._pglite_sequences is not None:
                await self.connection.run_sync(restore_sequences, cls._pglite_sequences)
            elif cls._pglite_settings.reset_sequences:
                await self.connection.run_sync(reset_sequences)
            raw = await self.connection.get_raw_connection()
            cls._pglite_join.begin_test(raw.driver_connection)
            self.engine = cls._pglite_joined_engine
            self.sessionmaker = _TrackingAsyncSessionmaker(
                bind=self.connection, join_transaction_mode="create_savepoint", **cls._pglite_settings.session_options
            )
            self.session = self.sessionmaker()
            self._bind_factories()
        except BaseException:
            await self._end_test_transaction()
            await super().asyncTearDown()  # type: ignore[misc]
            raise

    # -- conveniences --------------------------------------------------------------------

    def captureQueries(self) -> AbstractContextManager[list[Query]]:
        """``with self.captureQueries() as queries:`` collects the SQL the block runs."""
        cls = type(self)
        return capture_queries(cls._pglite_class_engine.sync_engine, cls._pglite_joined_engine.sync_engine)

    def assertNumQueries(self, number: int) -> AbstractContextManager[list[Query]]:
        """Fail, listing the statements, unless the block runs exactly ``number`` of them."""
        cls = type(self)
        engines = (cls._pglite_class_engine.sync_engine, cls._pglite_joined_engine.sync_engine)
        return expect_num_queries(number, engines, self.fail)  # type: ignore[attr-defined]

    async def rowCounts(self, exclude: Iterable[str] = helpers.DEFAULT_EXCLUDE) -> dict[str, int]:
        return await self.connection.run_sync(helpers.row_counts, exclude)

    async def assertDatabaseEmpty(self, exclude: Iterable[str] = helpers.DEFAULT_EXCLUDE) -> None:
        await self.connection.run_sync(helpers.assert_database_empty, exclude)

    async def deleteAllData(self, exclude: Iterable[str] = helpers.DEFAULT_EXCLUDE) -> None:
        await self.connection.run_sync(helpers.delete_all_data, exclude)

    async def restartSequences(self) -> None:
        await self.connection.run_sync(helpers.restart_sequences)

    def _bind_factories(self) -> None:
        # Factory Boy is synchronous: it adds to the AsyncSession's sync core, and the
        # test awaits the flush.
        settings = type(self)._pglite_settings
        if settings.factories or settings.faker_seed is not None:
            self._pglite_factories = BoundFactories(
                settings.factories, self.session.sync_session, settings.faker_seed, only_add=True
            )

    async def asyncTearDown(self) -> None:
        bound = self.__dict__.pop("_pglite_factories", None)
        if bound is not None:
            bound.release()
        try:
            if not type(self).database.is_alive(grace=2.0 if self.connection.invalidated else 0.0):
                await self.connection.invalidate()
                type(self)._check_database_alive()
            if type(self)._pglite_settings.isolation == "truncate":
                await self._end_truncated_test()
                return
            await self._end_test_transaction()
            if type(self)._pglite_commit_watch.take():
                type(self)._rebuild_schema()
                self.fail(OUTER_COMMIT_MESSAGE.format(test=self.id()))  # type: ignore[attr-defined]
        finally:
            await super().asyncTearDown()  # type: ignore[misc]

    async def _end_truncated_test(self) -> None:
        for session in list(self.sessionmaker.sessions):  # type: ignore[attr-defined]
            await session.close()
        await self.connection.close()
        async with self.engine.begin() as connection:
            await connection.run_sync(helpers.delete_all_data)

    async def _end_test_transaction(self) -> None:
        type(self)._pglite_join.end_test()
        maker = self.__dict__.get("sessionmaker")
        if maker is not None:
            for session in list(maker.sessions):
                await session.close()
        transaction = self.__dict__.get("_pglite_transaction")
        if transaction is not None and transaction.is_active:
            await transaction.rollback()
        await self.connection.close()


class AsyncPGliteTestCase(AsyncPGliteMixin, unittest.IsolatedAsyncioTestCase):
    """An ``IsolatedAsyncioTestCase`` with PGlite, a schema, and a rolled-back transaction per test."""


__all__ = ["AsyncPGliteMixin", "AsyncPGliteTestCase", "ASYNC_DRIVERS"]
