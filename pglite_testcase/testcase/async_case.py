"""The public test case classes for asyncio code (``IsolatedAsyncioTestCase``): thin adapters.

``IsolatedAsyncioTestCase`` runs every test in an event loop of its own, so
nothing that belongs to a loop may outlive a test: each test opens its
connection in ``asyncSetUp`` and closes it in a cleanup, and the class's
engines hold no connection between tests (``NullPool``). The isolation is the
sync classes' (see ``isolation``), run on that connection.
"""

from __future__ import annotations

import asyncio
import unittest
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from . import helpers
from .async_fixture import AsyncClassFixture
from .fixture import ClassFixture, fixture_for_test
from .sync_case import PGliteDatabaseMixin

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

    class _AsyncTestCase(unittest.IsolatedAsyncioTestCase):
        """What the async mixin is mixed into, as the type checker sees it (``object`` when running)."""

        def _callAsync(self, function: Callable[..., Awaitable[Any]], /, *args: Any, **kwargs: Any) -> Any: ...
else:
    _AsyncTestCase = object


class AsyncPGliteMixin(PGliteDatabaseMixin, _AsyncTestCase):
    """Mix into a ``unittest.IsolatedAsyncioTestCase``: PGlite, a schema, a rolled-back transaction per test.

    Per test: ``self.connection`` (an ``AsyncConnection`` in the test's
    transaction), ``self.session`` and ``self.sessionmaker`` (``AsyncSession``s
    that join it with savepoints), and ``self.engine`` (an ``AsyncEngine``
    whose connections are the test's, commits becoming savepoint releases).
    """

    async_driver: ClassVar[str | None] = None
    """``"psycopg"`` (psycopg 3's async mode, SQLAlchemy 2 only) or ``"asyncpg"``; None: psycopg on
    SQLAlchemy 2, asyncpg on 1.4."""

    connection: AsyncConnection
    session: AsyncSession
    sessionmaker: async_sessionmaker[AsyncSession]
    engine: AsyncEngine

    @classmethod
    def _pglite_new_fixture(cls) -> ClassFixture:
        return AsyncClassFixture(cls)

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

    def _callSetUp(self) -> None:
        # Django's way: the test's transaction begins (in the test's event loop) before setUp and
        # asyncSetUp run, so that one that does not call super() still gets it.
        fixture_for_test(type(self))  # before the loop: class data runs in a loop of its own
        self._callAsync(self._pglite_begin_test)
        super()._callSetUp()

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        await self._pglite_begin_test()  # begun already when unittest's run() called asyncSetUp

    async def _pglite_begin_test(self) -> None:
        if "_pglite_test_connection" in self.__dict__:
            return
        fixture = fixture_for_test(type(self))
        assert isinstance(fixture, AsyncClassFixture)
        self.addAsyncCleanup(fixture.end_async_test, self)
        self.addAsyncCleanup(end_tasks_left_running, self)  # (runs just before)
        await fixture.begin_async_test(self)

    # -- conveniences --------------------------------------------------------------------

    async def rowCounts(self, exclude: Iterable[str] = helpers.DEFAULT_EXCLUDE) -> dict[str, int]:
        return await self.connection.run_sync(helpers.row_counts, exclude)

    async def assertDatabaseEmpty(self, exclude: Iterable[str] = helpers.DEFAULT_EXCLUDE) -> None:
        await self.connection.run_sync(helpers.assert_database_empty, exclude)

    async def deleteAllData(self, exclude: Iterable[str] = helpers.DEFAULT_EXCLUDE) -> None:
        await self.connection.run_sync(helpers.delete_all_data, exclude)

    async def restartSequences(self) -> None:
        await self.connection.run_sync(helpers.restart_sequences)


LEFT_TASK_GRACE = 5.0
"""Seconds the tasks a test left running get to end once cancelled."""


async def end_tasks_left_running(test: Any) -> None:
    """Cancel and await the asyncio tasks a test left running, with a warning naming the test.

    Runs after the test's own cleanups and before its transaction ends: a task left running would
    otherwise go on using the test's connection while it is rolled back (or, truncating, write after
    the tables were emptied), and its exception would be reported later as never retrieved.
    """
    current = asyncio.current_task()
    left = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    if not left:
        return
    for task in left:
        task.cancel()
    done, pending = await asyncio.wait(left, timeout=LEFT_TASK_GRACE)
    for task in done:
        if not task.cancelled():
            task.exception()  # retrieved: nothing is reported later as never retrieved
    names = ", ".join(f"{task.get_name()} ({getattr(task.get_coro(), '__qualname__', '?')})" for task in left)
    unended = f"; {len(pending)} did not end within {LEFT_TASK_GRACE:g} s of being cancelled" if pending else ""
    warnings.warn(
        f"{test.id()} left {len(left)} asyncio task(s) running at its end: {names}. pglite_testcase cancelled "
        f"and awaited them before ending the test's transaction{unended}. Await or cancel the tasks a test "
        f"starts (self.addAsyncCleanup can cancel one).",
        RuntimeWarning,
        stacklevel=1,
    )


class AsyncPGliteTestCase(AsyncPGliteMixin, unittest.IsolatedAsyncioTestCase):
    """An ``IsolatedAsyncioTestCase`` with PGlite, a schema, and a rolled-back transaction per test."""


__all__ = ["AsyncPGliteMixin", "AsyncPGliteTestCase"]
