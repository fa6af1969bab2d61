"""psycopg 3, sync: queued statements travel in one pipeline with the next statement.

The test's DBAPI connection is a ``psycopg.Connection`` subclass whose cursors
flush the test transaction's queue before their statement, in the same
pipeline, so the queue costs no round trip. Everything else that can reach
the server through the connection (``commit()``, ``rollback()``,
``transaction()``, COPY, server-side cursors, streaming) flushes it first too,
so work done on the raw connection is never undone by a statement queued
before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import psycopg
import psycopg.pq

from .base import Driver, JoinedTransaction

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

_IN_TRANSACTION = (psycopg.pq.TransactionStatus.INTRANS, psycopg.pq.TransactionStatus.INERROR)


def _text(query: Any) -> str:
    if isinstance(query, str):
        return query
    if isinstance(query, bytes):
        return query.decode(errors="replace")
    return ""  # a psycopg.sql.Composable: not looked into


def _flush_alone(connection: psycopg.Connection[Any], transaction: JoinedTransaction) -> None:
    queued = transaction.take_queue()
    if queued:
        with connection.pipeline():
            for sql in queued:
                psycopg.Cursor(connection).execute(sql)


class QueueingCursor(psycopg.Cursor[Any]):
    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> Any:
        connection = self.connection
        transaction: JoinedTransaction | None = getattr(connection, "pglite_transaction", None)
        if transaction is None:
            return super().execute(query, params, prepare=prepare, binary=binary)

        def run() -> Any:
            queued = transaction.take_queue()
            if not queued:
                return psycopg.Cursor.execute(self, query, params, prepare=prepare, binary=binary)
            with connection.pipeline():
                for sql in queued:
                    psycopg.Cursor(connection).execute(sql)
                return psycopg.Cursor.execute(self, query, params, prepare=prepare, binary=binary)

        with transaction.lock:
            return transaction.observe(_text(query), run)

    def executemany(self, query: Any, params_seq: Any, *, returning: bool = False) -> None:
        transaction: JoinedTransaction | None = getattr(self.connection, "pglite_transaction", None)
        if transaction is not None:
            with transaction.lock:
                _flush_alone(self.connection, transaction)
                return super().executemany(query, params_seq, returning=returning)
        return super().executemany(query, params_seq, returning=returning)

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        transaction: JoinedTransaction | None = getattr(self.connection, "pglite_transaction", None)
        if transaction is not None:
            _flush_alone(self.connection, transaction)  # COPY cannot run in a pipeline
        return super().copy(*args, **kwargs)

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        transaction: JoinedTransaction | None = getattr(self.connection, "pglite_transaction", None)
        if transaction is not None:
            _flush_alone(self.connection, transaction)  # streaming cannot run in a pipeline
        yield from super().stream(*args, **kwargs)


class QueueingServerCursor(psycopg.ServerCursor[Any]):
    def execute(self, query: Any, params: Any = None, *, binary: bool | None = None, **kwargs: Any) -> Any:
        transaction: JoinedTransaction | None = getattr(self.connection, "pglite_transaction", None)
        if transaction is not None:
            _flush_alone(self.connection, transaction)  # server-side cursors cannot run in a pipeline
        return super().execute(query, params, binary=binary, **kwargs)


class QueueingConnection(psycopg.Connection[Any]):
    pglite_transaction: JoinedTransaction | None = None

    def commit(self) -> None:
        transaction = self.pglite_transaction
        if transaction is None:
            return super().commit()
        with transaction.lock:
            _flush_alone(self, transaction)
            transaction.observe("COMMIT", super().commit)

    def rollback(self) -> None:
        transaction = self.pglite_transaction
        if transaction is None:
            return super().rollback()
        with transaction.lock:
            transaction.forget_queue()  # a rollback discards whatever the queue would do
            transaction.observe("ROLLBACK", super().rollback)

    def transaction(self, *args: Any, **kwargs: Any) -> Any:
        if self.pglite_transaction is not None:
            _flush_alone(self, self.pglite_transaction)
        return super().transaction(*args, **kwargs)

    def cancel_safe(self, *, timeout: float = 30.0) -> None:
        # Ctrl-C: psycopg asks the server to cancel the statement. PGlite cannot; the
        # database stops it its own way, at once, instead of psycopg waiting seconds.
        if self.pglite_transaction is not None and self.pglite_transaction.on_cancel is not None:
            self.pglite_transaction.cancel()
            return
        super().cancel_safe(timeout=timeout)


class Psycopg3(Driver):
    name = "psycopg"
    dialect = "psycopg"
    package = "psycopg"

    def connect_args(self, server_settings: Mapping[str, str]) -> dict[str, Any]:
        # PGlite has one backend session for every client: psycopg's automatic prepared
        # statements are no gain there, and a URL handed to other code cannot carry this.
        return {**super().connect_args(server_settings), "prepare_threshold": None}

    def idle(self, driver_connection: Any) -> bool:
        return bool(driver_connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE)

    def carry_queue(self, engine: Engine, transaction: JoinedTransaction) -> None:
        from sqlalchemy import event

        @event.listens_for(engine, "do_connect")
        def connect(dialect: Any, record: Any, cargs: Any, cparams: Any) -> Any:
            connection = QueueingConnection.connect(*cargs, cursor_factory=QueueingCursor, **cparams)
            connection.server_cursor_factory = QueueingServerCursor
            connection.pglite_transaction = transaction
            return connection

    def watch_notices(self, driver_connection: Any, heard: Callable[[str, str], None]) -> None:
        def handler(diagnostic: psycopg.errors.Diagnostic) -> None:
            heard(str(diagnostic.severity_nonlocalized or diagnostic.severity), str(diagnostic.message_primary))

        driver_connection.add_notice_handler(handler)
