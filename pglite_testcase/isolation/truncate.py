"""The ``truncate`` strategy: tests commit for real; after each, the tables they wrote are emptied.

For code that must open connections of its own. What a test changed in its connections' sessions
is put back too (``truncation``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from ..compat import new_async_engine, new_engine
from . import truncation
from .join_test_transaction import TestOutcome

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from .owner import ClassFixture


class TruncateIsolation:
    """Tests commit for real; after each, every table the tests may have written is emptied."""

    name = "truncate"
    connection_per_test = False  # the tests' connections come from the class's pool

    def __init__(self, fixture: ClassFixture) -> None:
        self.fixture = fixture
        self.plain_engine: Any = None
        self._autocommit: Engine | None = None  # sync classes: the tests' and the clean-ups' connections
        self._held: Connection | None = None  # the clean-ups' connection
        # What puts a session back to a fresh connection's state after each test: each connection the
        # test used (PGlite's server keeps each connection's session state apart, as PostgreSQL does).
        self._reset_sql = ""
        self._changed_session = False  # the test ran a statement that changes its session's state
        self._used: dict[int, Any] = {}  # sync classes: pool records the test checked out
        self._last: Any = None  # the DBAPI connection of the test's last statement

    @property
    def engines(self) -> tuple[Engine, ...]:
        return (getattr(self.plain_engine, "sync_engine", self.plain_engine),)

    @property
    def joined_engine(self) -> Any:
        return self.plain_engine

    def open(self) -> None:
        fixture, driver = self.fixture, self.fixture.settings.driver
        self.plain_engine = new_engine(
            fixture.database.url_for(driver), connect_args=fixture.database.connect_args_for(driver)
        )
        event.listen(self.plain_engine, "checkout", self._checked_out)
        event.listen(self.plain_engine, "before_cursor_execute", self._heard)
        self._prepare_reset()

    def _prepare_reset(self) -> None:
        database, driver = self.fixture.database, self.fixture.settings.driver
        user = database.url_for(driver).username or "postgres"
        # What a fresh session has set (RESET ALL would undo it): PGlite's host sets some in each; a
        # driver may, as it connects. Read now, on a new connection.
        engine = database.create_engine(driver, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                fresh = [(str(n), str(v)) for n, v in connection.exec_driver_sql(truncation.FRESH_SETTINGS_SQL)]
        finally:
            engine.dispose()
        self._reset_sql = truncation.reset_session_sql(user, fresh)

    def _checked_out(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        self._used[id(record)] = record

    def _heard(self, connection: Any, cursor: Any, statement: str, *rest: Any) -> None:
        self._last = connection.connection.dbapi_connection
        if not self._changed_session and truncation.CHANGES_SESSION.search(statement):
            self._changed_session = True

    def _reset_used_connections(self) -> None:
        """Each pooled connection the test used, back to a fresh connection's session state."""
        used, self._used = list(self._used.values()), {}
        for record in used:
            raw = _dbapi_connection(record)
            if raw is None or record.fairy_ref is not None:
                continue  # closed; or checked out still (the clean-ups' own, or one the test left open)
            try:
                cursor = raw.cursor()
                try:
                    cursor.execute(self._reset_sql)
                finally:
                    cursor.close()
                if not raw.autocommit:
                    raw.commit()
            except Exception as exc:  # a broken connection: the pool makes a new one
                record.invalidate(exc)

    def _autocommit_engine(self) -> Engine:
        engine = self._autocommit
        if engine is None:
            fixture, driver = self.fixture, self.fixture.settings.driver
            engine = self._autocommit = new_engine(
                fixture.database.url_for(driver),
                connect_args=fixture.database.connect_args_for(driver),
                isolation_level="AUTOCOMMIT",
            )
            event.listen(engine, "checkout", self._checked_out)
            event.listen(engine, "before_cursor_execute", self._heard)
        return engine

    def begin_test(self) -> Connection:
        connection: Connection = self._autocommit_engine().connect()
        return connection

    def _cleanup_connection(self) -> Connection:
        """The class's own connection for the clean-ups, kept from test to test (not the test's: that
        one may carry the test's session settings, such as a role)."""
        held = self._held
        if held is None or held.closed or held.invalidated:
            held = self._held = self._autocommit_engine().connect()
        return held

    def end_test(self, connection: Connection) -> TestOutcome:
        reset, self._changed_session = self._changed_session, False
        connection.close()
        if not reset and self._emptied_on_last_used():
            self._used.clear()
            return TestOutcome()
        cleanup_connection = self._cleanup_connection()
        if reset:
            self._reset_used_connections()
        else:
            self._used.clear()
        self._empty(cleanup_connection)
        return TestOutcome()

    def _emptied_on_last_used(self) -> bool:
        """Empty the written tables on the connection that ran the test's last statement, if it is
        back in its pool, its session unchanged and no transaction block open. (On PGlite, where
        connections take turns in one backend, another connection costs two hand-overs a test.)"""
        last, self._last = self._last, None
        record = next((r for r in self._used.values() if _dbapi_connection(r) is last), None)
        if last is None or record is None or record.fairy_ref is not None or getattr(last, "closed", True):
            return False
        if not self.fixture.settings.driver.idle(last):
            return False
        autocommit = last.autocommit
        try:
            last.autocommit = True  # (the driver's own setting: no round trip, and no BEGIN and COMMIT)
            cursor = last.cursor()
            try:
                cursor.execute(truncation.empty_written_sql())
            finally:
                cursor.close()
                last.autocommit = autocommit
        except Exception:
            try:
                last.rollback()
            except Exception as exc:
                record.invalidate(exc)
            return False  # the clean-up connection tries again, and knows what to do when tracking is missing
        return True

    def _empty(self, cleanup_connection: Connection) -> None:
        try:
            truncation.empty_written_tables(cleanup_connection)
        except DBAPIError as exc:
            cleanup_connection.rollback()  # SQLAlchemy's side of it: the connection is autocommit
            if not truncation.tracking_missing(exc):
                raise
            with self.plain_engine.begin() as cleanup:
                truncation.empty_every_table(cleanup)

    def close(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            try:
                held.close()
            except Exception:  # its database died: disposing the engine below is all that is left
                pass
        engine, self._autocommit = self._autocommit, None
        if engine is not None:
            engine.dispose()
        database = self.fixture.database
        if self.plain_engine is not None and database.is_alive():
            admin = database.create_engine(self.fixture.settings.admin_driver, poolclass=NullPool)
            try:
                with admin.begin() as connection:
                    truncation.remove_write_tracking(connection)
            finally:
                admin.dispose()
        if self.plain_engine is not None:
            self._dispose(self.plain_engine)
        self.plain_engine = None

    def _dispose(self, engine: Any) -> None:
        engine.dispose()


def _dbapi_connection(record: Any) -> Any:
    return getattr(record, "dbapi_connection", None) or getattr(record, "connection", None)  # (1.4: connection)


class AsyncTruncateIsolation(TruncateIsolation):
    """The truncate strategy of async classes: each test's connections are new (NullPool) and gone
    after it, so no session needs resetting."""

    connection_per_test = True

    def open(self) -> None:
        fixture, driver = self.fixture, self.fixture.settings.driver
        self.plain_engine = new_async_engine(
            fixture.database.url_for(driver), connect_args=fixture.database.connect_args_for(driver)
        )
        event.listen(self.plain_engine.sync_engine, "before_cursor_execute", self._heard)

    async def begin_async_test(self) -> AsyncConnection:
        connection: AsyncConnection = await self.plain_engine.connect()
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        return connection

    async def end_async_test(self, connection: AsyncConnection) -> TestOutcome:
        await connection.close()
        try:
            async with self.plain_engine.connect() as cleanup:
                await cleanup.execution_options(isolation_level="AUTOCOMMIT")
                self._changed_session = False  # the test's connections are gone (NullPool): nothing to reset
                await cleanup.run_sync(truncation.empty_written_tables)
        except DBAPIError as exc:
            if not truncation.tracking_missing(exc):
                raise
            async with self.plain_engine.begin() as cleanup:
                await cleanup.run_sync(truncation.empty_every_table)
        return TestOutcome()

    def _dispose(self, engine: Any) -> None:
        return None  # NullPool: it holds no connection


__all__ = ["AsyncTruncateIsolation", "TruncateIsolation"]
