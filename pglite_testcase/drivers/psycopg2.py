"""psycopg2: queued statements travel as text in the same message as the next statement.

psycopg2 sends each statement as text in a simple-query message (parameters
are interpolated client-side), and a simple query may hold several
statements: the queue is prefixed to the next statement, one message, one
round trip. Server-side (named) cursors, ``executemany``, COPY and
``callproc`` send the queue in a message of its own first. Like the psycopg 3
driver, the connection's ``commit()`` and ``rollback()`` flush or discard the
queue before they reach the server.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .base import Driver, JoinedTransaction

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def _classes() -> tuple[type, type, type]:
    """The psycopg2 subclasses, made on first use (psycopg2 is an optional dependency)."""
    global _CLASSES
    if _CLASSES is not None:
        return _CLASSES
    import psycopg2.extensions

    def send(connection: Any, statements: list[str]) -> None:
        if statements:
            with psycopg2.extensions.cursor(connection) as cursor:
                cursor.execute("; ".join(statements))

    def flush_alone(connection: Any, transaction: JoinedTransaction) -> None:
        send(connection, transaction.take_queue())

    class QueueingCursor(psycopg2.extensions.cursor):  # type: ignore[misc]  # psycopg2 ships no types: a subclass of Any
        def execute(self, query: Any, vars: Any = None) -> Any:
            transaction: JoinedTransaction | None = getattr(self.connection, "pglite_transaction", None)
            if transaction is None:
                return super().execute(query, vars)
            statement = query if isinstance(query, str) else query.decode() if isinstance(query, bytes) else ""

            def run() -> Any:
                queued = transaction.take_queue()
                if queued and self.name is None and isinstance(query, (str, bytes)):
                    prefix = "; ".join(queued) + "; "
                    combined = prefix + query if isinstance(query, str) else prefix.encode() + query
                    return psycopg2.extensions.cursor.execute(self, combined, vars)
                send(self.connection, queued)
                return psycopg2.extensions.cursor.execute(self, query, vars)

            with transaction.lock:
                return transaction.observe(statement, run)

        def _flushing(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            transaction: JoinedTransaction | None = getattr(self.connection, "pglite_transaction", None)
            if transaction is None:
                return method(*args, **kwargs)
            with transaction.lock:
                flush_alone(self.connection, transaction)
                return method(*args, **kwargs)

        def executemany(self, query: Any, vars_list: Any) -> Any:
            return self._flushing(super().executemany, query, vars_list)

        def callproc(self, *args: Any, **kwargs: Any) -> Any:
            return self._flushing(super().callproc, *args, **kwargs)

        def copy_expert(self, *args: Any, **kwargs: Any) -> Any:
            return self._flushing(super().copy_expert, *args, **kwargs)

        def copy_from(self, *args: Any, **kwargs: Any) -> Any:
            return self._flushing(super().copy_from, *args, **kwargs)

        def copy_to(self, *args: Any, **kwargs: Any) -> Any:
            return self._flushing(super().copy_to, *args, **kwargs)

    class NoticeSink:
        """``connection.notices``: kept as psycopg2 keeps them (the last 50), and heard as they come."""

        def __init__(self) -> None:
            self.kept: deque[str] = deque(maxlen=50)
            self.heard: Callable[[str, str], None] | None = None

        def append(self, notice: str) -> None:
            self.kept.append(notice)
            if self.heard is not None:
                severity, _, message = notice.partition(":")
                self.heard(severity.strip(), message.strip())

        def __iter__(self) -> Iterator[str]:
            return iter(self.kept)

        def __len__(self) -> int:
            return len(self.kept)

        def __getitem__(self, index: Any) -> Any:
            return list(self.kept)[index]

        def __setitem__(self, index: Any, value: Any) -> None:  # SQLAlchemy clears them: notices[:] = []
            kept = list(self.kept)
            kept[index] = value
            self.kept = deque(kept, maxlen=50)

        def __delitem__(self, index: Any) -> None:
            kept = list(self.kept)
            del kept[index]
            self.kept = deque(kept, maxlen=50)

        def clear(self) -> None:
            self.kept.clear()

    class QueueingConnection(psycopg2.extensions.connection):  # type: ignore[misc]  # psycopg2 ships no types: a subclass of Any
        pglite_transaction: JoinedTransaction | None = None

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.cursor_factory = QueueingCursor
            self.notices = NoticeSink()

        def commit(self) -> None:
            transaction = self.pglite_transaction
            if transaction is None:
                super().commit()
                return
            with transaction.lock:
                flush_alone(self, transaction)
                transaction.observe("COMMIT", super().commit)

        def rollback(self) -> None:
            transaction = self.pglite_transaction
            if transaction is None:
                super().rollback()
                return
            with transaction.lock:
                transaction.forget_queue()
                transaction.observe("ROLLBACK", super().rollback)

        def cancel(self) -> None:
            if self.pglite_transaction is not None and self.pglite_transaction.on_cancel is not None:
                self.pglite_transaction.cancel()
                return
            super().cancel()

    _CLASSES = (QueueingConnection, QueueingCursor, NoticeSink)
    return _CLASSES


_CLASSES: tuple[type, type, type] | None = None


class Psycopg2(Driver):
    name = "psycopg2"
    dialect = "psycopg2"
    package = "psycopg2"
    extra = "psycopg2"

    def idle(self, driver_connection: Any) -> bool:
        import psycopg2.extensions

        return bool(driver_connection.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE)

    def carry_queue(self, engine: Engine, transaction: JoinedTransaction) -> None:
        from sqlalchemy import event

        connection_class = _classes()[0]

        @event.listens_for(engine, "do_connect")
        def connect(dialect: Any, record: Any, cargs: Any, cparams: Any) -> None:
            cparams["connection_factory"] = connection_class

        @event.listens_for(engine, "connect", insert=True)
        def joined(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.pglite_transaction = transaction

    def watch_notices(self, driver_connection: Any, heard: Callable[[str, str], None]) -> None:
        sink = driver_connection.notices
        if not hasattr(sink, "heard"):  # a connection of our own always has one; others get one now
            sink = driver_connection.notices = _classes()[2]()
        sink.heard = heard
