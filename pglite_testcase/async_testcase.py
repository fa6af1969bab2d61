"""The public test case classes for asyncio code (``IsolatedAsyncioTestCase``).

``IsolatedAsyncioTestCase`` runs every test in an event loop of its own, so
nothing that belongs to a loop may outlive a test: the class keeps engines
with ``NullPool`` (engines hold no connection between tests), and each test
opens its connection in ``asyncSetUp`` and closes it in ``asyncTearDown``.
The isolation itself is the sync classes': the same outer transaction, the
same savepoint engine (see ``isolation``).
"""

from __future__ import annotations

import unittest
from typing import Any, ClassVar

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

from .isolation import OUTER_COMMIT_MESSAGE, CommitWatch, RemembersSessions, TestTransactionJoin, reset_sequences
from .settings import ASYNC_DRIVERS, read_async_driver
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

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()  # type: ignore[misc]
        try:
            cls._pglite_driver = read_async_driver(cls)
            cls._start_database()
            cls._create_class_engines()
        except BaseException:
            cls._forget_class_engines()
            cls._stop_database()
            super().tearDownClass()  # type: ignore[misc]
            raise

    @classmethod
    def _create_class_engines(cls) -> None:
        driver = cls._pglite_driver
        url, connect_args = cls.database.async_url(driver), cls.database.async_connect_args(driver)
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
        """After PGlite died: a new instance, the schema, new engines."""
        cls._forget_class_engines()
        cls._stop_database()
        cls._start_database()
        cls._create_class_engines()

    @classmethod
    def tearDownClass(cls) -> None:
        try:
            cls._forget_class_engines()
            cls._stop_database()
        finally:
            super().tearDownClass()  # type: ignore[misc]

    @classmethod
    def _forget_class_engines(cls) -> None:
        # NullPool engines hold no connection: there is nothing to dispose outside a loop.
        for name in ("_pglite_joined_engine", "_pglite_class_engine"):
            if name in cls.__dict__:
                delattr(cls, name)

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()  # type: ignore[misc]
        cls = type(self)
        if not cls.database.is_alive():
            cls._recover()  # an earlier test's PGlite died
        self.connection = await cls._pglite_class_engine.connect()
        try:
            self._pglite_transaction: AsyncTransaction = await self.connection.begin()
            if self.connection.dialect.driver == "asyncpg":
                # SQLAlchemy's asyncpg adapter sends BEGIN with the first statement; the
                # savepoints of self.engine need it sent before they run.
                await self.connection.exec_driver_sql("SELECT 1")
            if cls._pglite_settings.reset_sequences:
                await self.connection.run_sync(reset_sequences)
            raw = await self.connection.get_raw_connection()
            cls._pglite_join.begin_test(raw.driver_connection)
            self.engine = cls._pglite_joined_engine
            self.sessionmaker = _TrackingAsyncSessionmaker(
                bind=self.connection, join_transaction_mode="create_savepoint", **cls._pglite_settings.session_options
            )
            self.session = self.sessionmaker()
        except BaseException:
            await self._end_test_transaction()
            await super().asyncTearDown()  # type: ignore[misc]
            raise

    async def asyncTearDown(self) -> None:
        try:
            if not type(self).database.is_alive(grace=2.0 if self.connection.invalidated else 0.0):
                await self.connection.invalidate()
                type(self)._check_database_alive()
            await self._end_test_transaction()
            if type(self)._pglite_commit_watch.take():
                type(self)._rebuild_schema()
                self.fail(OUTER_COMMIT_MESSAGE.format(test=self.id()))  # type: ignore[attr-defined]
        finally:
            await super().asyncTearDown()  # type: ignore[misc]

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
