"""Per-test isolation, shared by the sync and async test cases.

Each test runs inside one outer transaction on the class's connection,
rolled back when the test ends. Code under test reaches the database through
objects that join that transaction:

- sessions bound to the test connection with
  ``join_transaction_mode="create_savepoint"`` (SQLAlchemy's "joining a
  Session into an external transaction" recipe), and
- an engine whose connections are the test connection itself, with the
  transaction calls its dialect makes turned into savepoint calls: ``begin``
  becomes ``SAVEPOINT``, ``commit`` ``RELEASE SAVEPOINT``, ``rollback``
  ``ROLLBACK TO SAVEPOINT``, and ``close`` leaves the connection open.

The savepoint dialect works at the level of the DBAPI connection SQLAlchemy
holds, which offers the same blocking interface in sync and asyncio engines
(the asyncio adapters run inside SQLAlchemy's greenlet), so one
implementation serves both.
"""

from __future__ import annotations

import itertools
import json
import weakref
from collections.abc import Callable
from typing import Any

import psycopg
import psycopg.pq
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine.interfaces import Dialect

from .errors import PGliteTestCaseError

_LOG_NOTICES: Callable[[Any], Any] | None
try:
    from sqlalchemy.dialects.postgresql.psycopg import _log_notices as _LOG_NOTICES
except ImportError:  # a SQLAlchemy without it adds no handler either
    _LOG_NOTICES = None

RESET_SEQUENCES_SQL = (
    "SELECT setval(quote_ident(schemaname) || '.' || quote_ident(sequencename), start_value, false) "
    "FROM pg_sequences WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
)

_savepoint_names = (f"pglite_testcase_{n}" for n in itertools.count(1))


def reset_sequences(connection: Connection) -> None:
    """Restart every sequence (sequences are not rolled back with a transaction)."""
    connection.exec_driver_sql(RESET_SEQUENCES_SQL).close()


def sequence_positions(connection: Connection) -> list[tuple[str, int, bool]]:
    """Where every sequence stands now, for ``restore_sequences``."""
    rows = connection.exec_driver_sql(
        "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename), "
        "coalesce(last_value, start_value), last_value IS NOT NULL "
        "FROM pg_sequences WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    ).all()
    return [(str(name), int(value), bool(called)) for name, value, called in rows]


def restore_sequences(connection: Connection, positions: list[tuple[str, int, bool]]) -> None:
    """Put every sequence back where ``sequence_positions`` found it (one statement)."""
    if positions:
        connection.execute(
            text(
                "SELECT setval(name, value, called) FROM jsonb_to_recordset(CAST(:rows AS jsonb)) "
                "AS t(name text, value bigint, called boolean)"
            ),
            {"rows": json.dumps([{"name": n, "value": v, "called": c} for n, v, c in positions])},
        ).close()


class TestTransactionJoin:
    """The running test's transaction, as seen by the engines that join it.

    It knows the test's DBAPI connection (so that ``self.engine`` can hand it
    out) and keeps the savepoint statements of sessions and engine
    connections in a queue: they are sent together with the next statement
    that reaches the database (in one psycopg pipeline, one round trip), and
    the ones still queued when the test ends are never sent, since the
    test's rollback discards them anyway. A session that begins, commits and
    closes around one statement costs that statement's round trip and no more.

    ``generation`` changes whenever a test starts or ends, so a connection
    left open by one test (and closed later by the garbage collector) never
    touches the next test's transaction.
    """

    def __init__(self) -> None:
        self.generation = 0
        self._dbapi_connection: Any = None
        self.pending: list[str] = []  # savepoint statements: dropped when the test ends
        self.rollback: list[str] = []  # the last test's rollback: always sent, first
        # Set when the class has test data: each test then runs inside this savepoint
        # of the class's transaction, and ends by rolling back to it.
        self.class_savepoint: str | None = None

    def begin_test(self, dbapi_connection: Any) -> None:
        self.generation += 1
        self._dbapi_connection = dbapi_connection

    def end_test(self) -> None:
        """Forget the test's queued statements: the test's rollback discards what they would do."""
        self.generation += 1
        self._dbapi_connection = None
        self.pending.clear()

    async def current_async_connection(self) -> Any:
        return self.current_connection()

    def current_connection(self) -> Any:
        if self._dbapi_connection is None:
            raise PGliteTestCaseError(
                "self.engine can be used only while a test runs (between setUp and tearDown); "
                "it hands out the test's own connection."
            )
        return self._dbapi_connection

    # -- the queue -----------------------------------------------------------------------

    def take_queue(self) -> list[str]:
        statements = self.rollback + self.pending
        self.rollback, self.pending = [], []
        return statements

    def forget_queue(self) -> None:
        """The connection is rolled back for good: nothing queued matters any more."""
        self.rollback, self.pending = [], []

    def _queue(self, sql: str) -> None:
        if self._dbapi_connection is not None:
            self.pending.append(sql)

    def _flush_then(self, cursor: Any, run: Callable[[], Any]) -> Any:
        if not self.pending and not self.rollback:
            return run()
        statements = self.take_queue()
        if isinstance(cursor, psycopg.Cursor):
            with cursor.connection.pipeline():
                for sql in statements:
                    cursor.connection.execute(sql)
                return run()
        for sql in statements:  # asyncio adapters: one round trip each
            cursor.execute(sql)
        return run()

    def _wrap_execution(self, dialect: Dialect) -> None:
        execute, execute_no_params, executemany = (
            dialect.do_execute,
            dialect.do_execute_no_params,
            dialect.do_executemany,
        )

        def do_execute(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
            self._flush_then(cursor, lambda: execute(cursor, statement, parameters, context))

        def do_execute_no_params(cursor: Any, statement: str, context: Any = None) -> None:
            self._flush_then(cursor, lambda: execute_no_params(cursor, statement, context))

        def do_executemany(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
            self._flush_then(cursor, lambda: executemany(cursor, statement, parameters, context))

        setattr(dialect, "do_execute", do_execute)
        setattr(dialect, "do_execute_no_params", do_execute_no_params)
        setattr(dialect, "do_executemany", do_executemany)

    # -- the engine that runs the test's own connection -------------------------------------

    def install_on_test_engine(self, engine: Engine) -> None:
        """Queue the savepoints of sessions joined to ``self.connection``.

        With sync psycopg, the test's rollback and the next test's BEGIN are
        queued too, and sent with the next test's first statement.
        """
        dialect = engine.dialect
        self._wrap_execution(dialect)
        commit: Callable[[Any], None] = dialect.do_commit
        rollback: Callable[[Any], None] = dialect.do_rollback
        if dialect.driver == "psycopg" and not dialect.is_async:
            rollback = self._rollback_and_begin

        def do_commit(pooled: Any) -> None:
            # Queued savepoint statements belong to the transaction being committed:
            # what they undo must be undone before it commits.
            statements = self.take_queue()
            cursor = pooled.cursor()
            try:
                for sql in statements:
                    cursor.execute(sql)
            finally:
                cursor.close()
            commit(pooled)

        def do_rollback(pooled: Any) -> None:
            self.pending.clear()
            rollback(pooled)

        setattr(dialect, "do_commit", do_commit)
        setattr(dialect, "do_rollback", do_rollback)
        setattr(dialect, "do_savepoint", lambda connection, name: self._queue(f"SAVEPOINT {name}"))
        setattr(dialect, "do_release_savepoint", lambda connection, name: self._queue(f"RELEASE SAVEPOINT {name}"))
        setattr(
            dialect, "do_rollback_to_savepoint", lambda connection, name: self._queue(f"ROLLBACK TO SAVEPOINT {name}")
        )

    def _rollback_and_begin(self, pooled: Any) -> None:
        # Not sent now: queued, so that the rollback (and the next transaction's BEGIN)
        # travel with the next statement, in its round trip. Until then nothing else
        # reaches this session: every statement, commit and class teardown goes
        # through the queue first.
        raw = pooled.dbapi_connection if hasattr(pooled, "dbapi_connection") else pooled
        if self.class_savepoint is not None:
            # The class's test data lives in this transaction: go back to it, not before it.
            self.rollback = [f"ROLLBACK TO SAVEPOINT {self.class_savepoint}"]
        elif raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self.rollback = ["ROLLBACK", "BEGIN"]

    @staticmethod
    def end_transaction(raw: Any) -> None:
        """Roll back for good (no next test): what ``_rollback_and_begin`` left open."""
        if isinstance(raw, psycopg.Connection) and not raw.closed:
            raw.rollback()

    # -- the engine handed to the code under test (self.engine) -------------------------

    def install(self, engine: Engine) -> None:
        """Turn ``engine``'s transaction calls into savepoint calls on the test connection."""
        dialect = engine.dialect
        if dialect.driver == "asyncpg":
            # SQLAlchemy's asyncpg adapter opens an asyncpg transaction of its own
            # (a nested one here: another savepoint) before the first statement, and
            # never ends it once our calls replace its commit and rollback. Marking the
            # adapter autocommit (no I/O) leaves the transaction calls to us.
            event.listen(engine, "first_connect", _asyncpg_leave_transactions_to_us, insert=True)
            event.listen(engine, "connect", _asyncpg_leave_transactions_to_us, insert=True)
        self._wrap_execution(dialect)
        setattr(dialect, "do_begin", self._begin)
        setattr(dialect, "do_commit", self._commit)
        setattr(dialect, "do_rollback", self._rollback)
        setattr(dialect, "do_close", self._close)
        # asyncio engines terminate (not close) a connection the garbage collector finds.
        setattr(dialect, "do_terminate", self._close)

    @staticmethod
    def _info(pooled: Any) -> dict[str, Any]:
        try:
            info: dict[str, Any] = pooled.info
        except NotImplementedError:  # the ad-hoc proxy SQLAlchemy uses on an engine's first connect
            info = pooled._connection_record.info
        return info

    def _begin(self, pooled: Any) -> None:
        name = next(_savepoint_names)
        self._queue(f"SAVEPOINT {name}")
        self._info(pooled)["pglite_testcase_savepoint"] = (self.generation, name)

    def _take_savepoint(self, pooled: Any) -> str | None:
        generation, name = self._info(pooled).pop("pglite_testcase_savepoint", (None, None))
        return name if generation == self.generation else None

    def _commit(self, pooled: Any) -> None:
        name = self._take_savepoint(pooled)
        if name is not None:
            self._queue(f"RELEASE SAVEPOINT {name}")

    def _rollback(self, pooled: Any) -> None:
        name = self._take_savepoint(pooled)
        if name is not None:
            self._queue(f"ROLLBACK TO SAVEPOINT {name}")
            self._queue(f"RELEASE SAVEPOINT {name}")

    def _close(self, dbapi_connection: Any) -> None:
        # The test connection belongs to the test case: leave it open. SQLAlchemy's
        # psycopg dialect adds a notice handler each time the engine "connects";
        # take it off again, or they pile up on the long-lived test connection.
        driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
        if _LOG_NOTICES is not None and hasattr(driver, "remove_notice_handler"):
            try:
                driver.remove_notice_handler(_LOG_NOTICES)
            except ValueError:
                pass


def joined_engine_options(join: TestTransactionJoin) -> dict[str, Any]:
    """``create_engine`` options for an engine whose connections join the test's transaction."""
    from sqlalchemy.pool import NullPool

    return {"poolclass": NullPool, "creator": join.current_connection}


class CommitWatch:
    """Notices a test committing its outer transaction (``self.connection.commit()``)."""

    def __init__(self) -> None:
        self.committed = False

    def __call__(self, connection: Connection) -> None:
        self.committed = True

    def take(self) -> bool:
        committed, self.committed = self.committed, False
        return committed


OUTER_COMMIT_MESSAGE = (
    "{test} committed the test's outer transaction (self.connection.commit()), so its writes "
    "were kept. pglite_testcase rebuilt the schema so that later tests start clean. Commit through "
    "self.session, self.sessionmaker() or self.engine instead: their commits stay inside the test's "
    "transaction."
)


def _asyncpg_leave_transactions_to_us(dbapi_connection: Any, connection_record: Any) -> None:
    dbapi_connection.autocommit = True


class RemembersSessions:
    """For session factories: remembers the sessions made, so the test can close them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sessions: weakref.WeakSet[Any] = weakref.WeakSet()

    def __call__(self, **local_kw: Any) -> Any:
        session = super().__call__(**local_kw)  # type: ignore[misc]
        self.sessions.add(session)
        return session
