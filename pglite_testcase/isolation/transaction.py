"""The ``transaction`` strategy (the default): each test in a transaction that is rolled back.

In sync classes one DBAPI connection holds a *class transaction* for the whole class::

    BEGIN; <arm the commit guard>; <setUpTestData>; SAVEPOINT pglite_testcase_class

and each test gets a fresh SQLAlchemy ``Connection`` on it (fresh execution
options, no state carried over) whose end rolls back to that savepoint. The
rollback is queued and travels with the next test's first statement, so a
test costs about one round trip of isolation. Async classes open a
connection per test (every async test has an event loop of its own) and
begin and guard a transaction on it, running the same steps on it
(``AsyncConnection.run_sync``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from ..compat import create_joined_async_engine, new_async_engine, new_engine
from ..errors import PGliteTestCaseError
from .commit_guard import ARM_SQL
from .join_test_transaction import CLASS_SAVEPOINT, TestOutcome, TestTransaction
from .sequences import reset_sequences, restore_sequences, sequence_positions

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from .owner import ClassFixture


class TransactionIsolation:
    """Each test in a transaction that is rolled back; the commit guard refuses any COMMIT of it."""

    name = "transaction"
    connection_per_test = False  # the tests share the class's connection

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

    def open(self) -> None:
        fixture, driver = self.fixture, self.fixture.settings.driver
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
        if self.fixture.settings.debug_connection and not outcome.ended:
            self._roll_back_now()
        if outcome.committed:
            self.fixture.rebuild()  # what was committed is in the database: start it afresh
        return outcome

    def _roll_back_now(self) -> None:
        """The test's rollback sent now, not with the next test's first statement: a debug connection
        looking between two tests (or before a test's first statement) sees the class's data, not the
        last test's rows."""
        raw = self.class_connection
        if raw is None:
            return
        with self.transaction.lock:
            statements = self.transaction.take_queue()
            if not statements:
                return
            try:
                cursor = raw.cursor()
                try:
                    for sql in statements:
                        cursor.execute(sql)
                finally:
                    cursor.close()
            except Exception:  # the connection broke: the next test begins the class transaction again
                self.class_transaction_ok = False
                return
            self.transaction.at_class_savepoint = True

    def close(self) -> None:
        transaction = self.transaction
        transaction.forget_queue()
        if self.class_engine is not None:
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
        if self.joined_engine is not None:
            self.joined_engine.dispose()
        self.class_engine = self.joined_engine = self.class_connection = None


class AsyncTransactionIsolation(TransactionIsolation):
    """The transaction strategy of async classes: a connection per test (each async test has an event
    loop of its own), its transaction begun and guarded as the test begins; nothing is disposed (NullPool)."""

    connection_per_test = True

    def open(self) -> None:
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

    def close(self) -> None:
        self.transaction.forget_queue()
        self.class_engine = self.joined_engine = self.class_connection = None


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


def _joined_engine_options(current: Any) -> dict[str, Any]:
    """``create_engine`` options for an engine whose connections are the test's own.

    One pool record for the class's connection (``StaticPool``): a checkout costs no
    connect hooks, and every connection object is still a checkout of its own.
    """
    from sqlalchemy.pool import StaticPool

    return {"poolclass": StaticPool, "creator": current}


__all__ = ["AsyncTransactionIsolation", "TransactionIsolation"]
