"""Isolation strategies: how one test is kept from the next. Chosen once per class.

``transaction`` (the default): each test runs inside a transaction that is
rolled back. In sync classes one DBAPI connection holds a *class
transaction* for the whole class::

    BEGIN; <arm the commit guard>; <setUpTestData>; SAVEPOINT pglite_testcase_class

and each test gets a fresh SQLAlchemy ``Connection`` on it (fresh execution
options, no state carried over) whose end rolls back to that savepoint. The
rollback is queued and travels with the next test's first statement, so a
test costs about one round trip of isolation. Async classes open a
connection per test (every async test has an event loop of its own) and
begin and guard a transaction on it.

``truncate``: tests commit for real; after each, the tables are emptied.
For code that must open connections of its own.

Both serve sync and async classes: the async face runs the same steps on
its per-test connection (``AsyncConnection.run_sync``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from ..compat import create_joined_async_engine, new_async_engine, new_engine
from ..errors import PGliteTestCaseError
from . import truncation
from .commit_guard import ARM_SQL
from .join_test_transaction import CLASS_SAVEPOINT, TestOutcome, TestTransaction
from .sequences import reset_sequences, restore_sequences, sequence_positions

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from ..database.pglite import TestDatabase
    from ..drivers import Driver


class StrategySettings(Protocol):
    """The class settings a strategy reads (``testcase.settings.ClassSettings``)."""

    @property
    def driver(self) -> Driver: ...

    @property
    def admin_driver(self) -> Driver: ...

    @property
    def reset_sequences(self) -> bool: ...


class ClassFixture(Protocol):
    """What a strategy needs of the test class's fixture (``testcase.fixture.ClassFixture``)."""

    @property
    def owner(self) -> type: ...

    @property
    def database(self) -> TestDatabase: ...

    @property
    def settings(self) -> StrategySettings: ...

    def create_class_data(self, connection: Connection) -> None: ...

    def rebuild(self) -> None: ...


class TransactionIsolation:
    """Each test in a transaction that is rolled back; the commit guard refuses any COMMIT of it."""

    name = "transaction"

    def __init__(self, fixture: ClassFixture) -> None:
        self.fixture = fixture
        self.transaction = TestTransaction(on_cancel=fixture.database.cancel_statement)
        self.transaction.guarded = True
        self.transaction.session_user = fixture.database.url_for(fixture.settings.driver).username or "postgres"
        self.class_engine: Any = None
        self.joined_engine: Any = None
        self.class_connection: Any = None  # the DBAPI connection holding the class transaction
        self.class_transaction_ok = False
        self.sequences: list[tuple[str, int, bool]] | None = None

    @property
    def engines(self) -> tuple[Engine, ...]:
        return tuple(getattr(engine, "sync_engine", engine) for engine in (self.class_engine, self.joined_engine))

    # -- sync classes -----------------------------------------------------------------

    def open(self) -> None:
        fixture, driver = self.fixture, self.fixture.settings.driver
        if driver.is_async:
            return self._open_async()
        # One DBAPI connection serves the class's tests; the test case ends each
        # transaction itself, so the pool must not reset it.
        self.class_engine = fixture.database.create_engine(
            driver, pool_size=1, max_overflow=0, pool_timeout=5, pool_reset_on_return=None
        )
        self.transaction.install_on_test_engine(self.class_engine, keeps_class_transaction=True)
        driver.carry_queue(self.class_engine, self.transaction)
        # 2.0-style on both lines (an application's own legacy engine, routed, stays legacy).
        self.joined_engine = new_engine(
            fixture.database.url_for(driver), **_joined_engine_options(self.transaction.current_driver_connection)
        )
        self.transaction.install(self.joined_engine)
        self._within_the_test_transaction(self.class_engine, self.joined_engine)
        self.establish()

    def _within_the_test_transaction(self, test_engine: Engine, joined_engine: Engine) -> None:
        """``self.connection.begin()`` inside a test opens a savepoint (the test's transaction is
        begun already, as a connection handed to code in production is not); an isolation level
        asked of the test's connections is refused with a message saying why and what to use."""
        test_engine._connection_cls = _nesting(test_engine._connection_cls)
        owner = self.fixture.owner.__qualname__

        def refuse(target: Any, options: dict[str, Any]) -> None:
            if "isolation_level" in options:
                raise PGliteTestCaseError(
                    f"{owner}: execution_options(isolation_level={options['isolation_level']!r}) cannot be "
                    f"honoured inside a test: self.connection, self.engine and self.session all run in the "
                    f"test's one transaction, which is rolled back at its end, so they can neither commit each "
                    f"statement (AUTOCOMMIT) nor change its isolation level. Code that needs its own isolation "
                    f"level (AUTOCOMMIT for CREATE INDEX CONCURRENTLY or VACUUM, SERIALIZABLE) needs "
                    f"isolation = 'truncate' on the class, whose tests commit for real."
                )

        for engine in (test_engine, joined_engine):
            event.listen(engine, "set_connection_execution_options", refuse)
            event.listen(engine, "set_engine_execution_options", refuse)

    def establish(self) -> None:
        """Begin the class transaction on a clean connection: guard, class data, savepoint."""
        transaction, fixture = self.transaction, self.fixture
        transaction.class_savepoint = None
        transaction.forget_queue()
        connection = self.class_engine.connect()
        try:
            raw = connection.connection.dbapi_connection
            if raw is not self.class_connection:
                fixture.settings.driver.watch_notices(raw, transaction.heard)
                if self.class_connection is not None:
                    self.joined_engine.dispose()  # its pool still holds the connection that broke
                self.class_connection = raw
            raw.rollback()  # whatever the connection was in
            connection.begin()
            connection.exec_driver_sql(ARM_SQL)
            if fixture.settings.reset_sequences:
                reset_sequences(connection)  # class data gets the same ids, whatever ran before
            fixture.create_class_data(connection)
            connection.exec_driver_sql(f"SAVEPOINT {CLASS_SAVEPOINT}")
            self.sequences = sequence_positions(connection) if fixture.settings.reset_sequences else None
            transaction.class_savepoint = CLASS_SAVEPOINT
            self.class_transaction_ok = True
        finally:
            connection.close()

    def begin_test(self) -> Connection:
        connection: Connection = self.class_engine.connect()
        try:
            if not self.class_transaction_ok or connection.connection.dbapi_connection is not self.class_connection:
                connection.close()
                self.establish()  # an earlier test ended it (or its connection broke)
                connection = self.class_engine.connect()
            connection.begin()
            self._prepare(connection)
            return connection
        except BaseException:
            connection.close()
            raise

    def _prepare(self, connection: Connection) -> None:
        if self.sequences is not None:
            restore_sequences(connection, self.sequences)
        elif self.fixture.settings.reset_sequences:
            reset_sequences(connection)
        self.transaction.begin_test(connection.connection.driver_connection)

    def end_test(self, connection: Connection) -> TestOutcome:
        outcome = self.transaction.end_test()
        if outcome.ended:
            self.class_transaction_ok = False
        elif self.transaction.class_savepoint is not None:
            # Whatever SQLAlchemy thinks of its own transaction (a refused commit ends it):
            # the test's work is undone back to the class's savepoint.
            self.transaction.queue_class_rollback()
        if not connection.closed and not connection.invalidated:
            connection.close()  # rolls back: queued back to the class savepoint, or for real if it ended
        if outcome.committed:
            self.fixture.rebuild()  # what was committed is in the database: start it afresh
        return outcome

    def close(self) -> None:
        transaction = self.transaction
        transaction.forget_queue()
        if self.class_engine is not None and not self.fixture.settings.driver.is_async:
            if self.fixture.database.is_alive() and self.class_connection is not None:
                try:
                    # The last test's rollback is still queued: end the class transaction for good.
                    connection = self.class_engine.connect()
                    transaction.class_savepoint = None
                    connection.connection.dbapi_connection.rollback()
                    connection.close()
                except Exception:  # the connection broke: disposing is all that is left
                    pass
            self.class_engine.dispose()
        if self.joined_engine is not None and not self.fixture.settings.driver.is_async:
            self.joined_engine.dispose()
        self.class_engine = self.joined_engine = self.class_connection = None

    # -- async classes ----------------------------------------------------------------

    def _open_async(self) -> None:
        fixture, driver = self.fixture, self.fixture.settings.driver
        url, connect_args = fixture.database.url_for(driver), fixture.database.connect_args_for(driver)
        self.class_engine = new_async_engine(url, connect_args=connect_args)
        self.transaction.install_on_test_engine(self.class_engine.sync_engine, keeps_class_transaction=False)
        self.joined_engine = create_joined_async_engine(url, self.transaction.current_driver_connection)
        self.transaction.install(self.joined_engine.sync_engine)
        self._within_the_test_transaction(self.class_engine.sync_engine, self.joined_engine.sync_engine)

    async def begin_async_test(self) -> AsyncConnection:
        connection: AsyncConnection = await self.class_engine.connect()
        try:
            await connection.begin()
            raw = await connection.get_raw_connection()
            self.fixture.settings.driver.watch_notices(raw.driver_connection, self.transaction.heard)
            await connection.exec_driver_sql(ARM_SQL)  # also sends asyncpg's deferred BEGIN
            await connection.run_sync(self._prepare)
            return connection
        except BaseException:
            await connection.close()
            raise

    async def end_async_test(self, connection: AsyncConnection) -> TestOutcome:
        outcome = self.transaction.end_test()
        sync_connection = connection.sync_connection
        if not connection.closed and sync_connection is not None and not sync_connection.invalidated:
            await connection.close()  # rolls back
        if outcome.committed:
            self.fixture.rebuild()
        return outcome


if TYPE_CHECKING:
    _Connection = Connection
else:
    _Connection = object  # a mixin: _nesting puts it before the engine's own Connection class


class _BeginNests(_Connection):
    """The test's connection: ``begin()`` while the test's transaction is open is a nested block, a
    savepoint, as ``begin_nested()`` (where SQLAlchemy would refuse it)."""

    def begin(self) -> Any:
        if self.in_transaction():
            return self.begin_nested()
        return super().begin()


def _nesting(connection_class: type[Connection]) -> type[Connection]:
    """``connection_class`` (2.x's Connection, 1.4's future one) with ``_BeginNests``."""
    if issubclass(connection_class, _BeginNests):
        return connection_class
    return type(f"Test{connection_class.__name__}", (_BeginNests, connection_class), {})


class TruncateIsolation:
    """Tests commit for real; after each, every table the tests may have written is emptied."""

    name = "truncate"

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

    @property
    def engines(self) -> tuple[Engine, ...]:
        return (getattr(self.plain_engine, "sync_engine", self.plain_engine),)

    @property
    def joined_engine(self) -> Any:
        return self.plain_engine

    def open(self) -> None:
        fixture, driver = self.fixture, self.fixture.settings.driver
        if driver.is_async:
            self.plain_engine = new_async_engine(
                fixture.database.url_for(driver), connect_args=fixture.database.connect_args_for(driver)
            )
        else:
            self.plain_engine = new_engine(
                fixture.database.url_for(driver), connect_args=fixture.database.connect_args_for(driver)
            )
            event.listen(self.plain_engine, "checkout", self._checked_out)
        event.listen(getattr(self.plain_engine, "sync_engine", self.plain_engine), "before_cursor_execute", self._heard)
        self._prepare_reset()

    def _prepare_reset(self) -> None:
        database, settings = self.fixture.database, self.fixture.settings
        driver = settings.admin_driver if settings.driver.is_async else settings.driver
        user = database.url_for(driver).username or "postgres"
        if settings.driver.is_async:
            return  # async tests: each connection is new (NullPool), and gone after the test
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
        if not self._changed_session and truncation.CHANGES_SESSION.search(statement):
            self._changed_session = True

    def _reset_used_connections(self) -> None:
        """Each pooled connection the test used, back to a fresh connection's session state."""
        used, self._used = list(self._used.values()), {}
        for record in used:
            raw = getattr(record, "dbapi_connection", None) or getattr(record, "connection", None)
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
        connection.close()
        cleanup_connection = self._cleanup_connection()
        reset, self._changed_session = self._changed_session, False
        if reset:
            self._reset_used_connections()
        else:
            self._used.clear()
        self._empty(cleanup_connection)
        return TestOutcome()

    def _empty(self, cleanup_connection: Connection) -> None:
        try:
            truncation.empty_written_tables(cleanup_connection)
        except DBAPIError as exc:
            cleanup_connection.rollback()  # SQLAlchemy's side of it: the connection is autocommit
            if not truncation.tracking_missing(exc):
                raise
            with self.plain_engine.begin() as cleanup:
                truncation.empty_every_table(cleanup)

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
        if self.plain_engine is not None and not self.fixture.settings.driver.is_async:
            self.plain_engine.dispose()
        self.plain_engine = None


STRATEGIES: dict[str, type[TransactionIsolation] | type[TruncateIsolation]] = {
    "transaction": TransactionIsolation,
    "truncate": TruncateIsolation,
}


def _joined_engine_options(current: Any) -> dict[str, Any]:
    """``create_engine`` options for an engine whose connections are the test's own.

    One pool record for the class's connection (``StaticPool``): a checkout costs no
    connect hooks, and every connection object is still a checkout of its own.
    """
    from sqlalchemy.pool import StaticPool

    return {"poolclass": StaticPool, "creator": current}


__all__ = [
    "STRATEGIES",
    "TransactionIsolation",
    "TruncateIsolation",
]
