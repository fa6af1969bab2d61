"""The class fixture of async classes: what differs from the sync classes' one, nothing else.

Every async test runs in an event loop of its own, so nothing that belongs to a loop outlives a test:
the class data (``asyncSetUpTestData``) is made in a loop of its own and committed, then removed by
a schema rebuild after the class; each test opens its own connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..compat import SQLALCHEMY_2, new_async_engine
from ..errors import PGliteStoppedError
from ..isolation.sequences import reset_sequences, sequence_positions
from ..isolation.strategies import AsyncTransactionIsolation, AsyncTruncateIsolation, TransactionIsolation
from .class_data import unwrap_attributes, wrap_new_attributes
from .fixture import ClassFixture, lend_class_objects, take_class_objects_back
from .settings import refuse_class_data_when_truncating


class AsyncClassFixture(ClassFixture):
    is_async = True
    class_data_hook = "asyncSetUpTestData"
    factories_only_add = True

    def strategy_opened(self) -> None:
        self.create_class_data_in_a_loop()

    def class_data_lost(self) -> None:
        self.committed_class_data = False
        unwrap_attributes(self.owner)
        self.create_class_data_in_a_loop()

    def default_session_class(self) -> type | None:
        if SQLALCHEMY_2:
            return None  # async_sessionmaker makes AsyncSessions
        from sqlalchemy.ext.asyncio import AsyncSession

        return AsyncSession

    def hand_out_session(self, test: Any) -> None:
        test.session = self.test_session(test)

    def create_class_data_in_a_loop(self) -> None:
        """Run ``asyncSetUpTestData`` and commit it (async classes: no transaction outlives a test's loop)."""
        owner = self.owner
        if not self.has_class_data():
            return
        refuse_class_data_when_truncating(owner, self.settings)
        before = set(owner.__dict__)
        driver = self.settings.driver

        async def create() -> list[tuple[str, int, bool]]:
            engine = new_async_engine(
                self.database.url_for(driver), connect_args=self.database.connect_args_for(driver)
            )
            self.hints.listen(engine.sync_engine)
            try:
                async with engine.connect() as connection:
                    maker = self.maker_class(bind=connection, **{**self.session_options(), "expire_on_commit": False})
                    session = maker()
                    lend_class_objects(owner, session, connection)
                    self.committed_class_data = True
                    try:
                        if self.settings.reset_sequences:
                            await connection.run_sync(reset_sequences)
                        with self.routing.routed(engine, maker):
                            await getattr(owner, "asyncSetUpTestData")()
                        await session.commit()
                        await connection.commit()
                        return await connection.run_sync(sequence_positions)
                    finally:
                        take_class_objects_back(owner)
                        session.expunge_all()
                        await session.close()
            finally:
                await engine.dispose()

        positions = asyncio.run(create())
        wrap_new_attributes(owner, before, self.settings.shared_test_data)
        if self.settings.reset_sequences and isinstance(self.strategy, TransactionIsolation):
            self.strategy.sequences = positions

    # -- one test -----------------------------------------------------------------------

    def _async_strategy(self) -> AsyncTransactionIsolation | AsyncTruncateIsolation:
        assert isinstance(self.strategy, (AsyncTransactionIsolation, AsyncTruncateIsolation)), "an async class's"
        return self.strategy

    async def begin_async_test(self, test: Any) -> None:
        assert self.strategy is not None
        if not self.database.is_alive():
            self.recover()
        connection = await self._async_strategy().begin_async_test()
        test.__dict__["_pglite_test_connection"] = connection
        if self.settings.show_sql_on_failure:
            self.start_recording(test)
        self._hand_out(test, connection)
        self.reach.test_begins(test)

    async def end_async_test(self, test: Any) -> None:
        if self.settings.show_sql_on_failure:
            self.stop_recording()
        connection = test.__dict__.pop("_pglite_test_connection", None)
        if connection is None or self.strategy is None:
            return
        self.release_factories(test)
        self.routing.restore()
        try:
            self.check_alive(connection.sync_connection.invalidated)
        except PGliteStoppedError:
            await connection.invalidate()
            await self._async_strategy().end_async_test(connection)
            raise
        try:
            for session in list(test.sessionmaker.sessions):
                await session.close()
            test.sessionmaker.sessions.clear()
        finally:
            outcome = await self._async_strategy().end_async_test(connection)
            refusals = self.reach.test_ends()
        self._report(test, outcome, refusals)


__all__ = ["AsyncClassFixture"]
