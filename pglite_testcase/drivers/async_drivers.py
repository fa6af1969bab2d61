"""The asyncio drivers: psycopg 3's async mode and asyncpg.

Async test cases open a connection per test (each test has an event loop of
its own), so no test's end waits in the queue: only the savepoints of the
test's sessions and engine do, and SQLAlchemy's asyncio adapters have no
pipeline, so they are sent one round trip each, just before the statement
that needs them (see ``TestTransaction.wrap_execution``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .base import Driver, JoinedTransaction

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


class _AsyncDriver(Driver):
    is_async = True

    def carry_queue(self, engine: Engine, transaction: JoinedTransaction) -> None:
        return None  # the test transaction's execution wrapper sends the queue first (wrap_execution)


class PsycopgAsync(_AsyncDriver):
    name = "psycopg"
    dialect = "psycopg"
    package = "psycopg"

    def connect_args(self, server_settings: Mapping[str, str]) -> dict[str, Any]:
        return {**super().connect_args(server_settings), "prepare_threshold": None}

    def watch_notices(self, driver_connection: Any, heard: Callable[[str, str], None]) -> None:
        driver_connection.add_notice_handler(
            lambda diagnostic: heard(
                str(diagnostic.severity_nonlocalized or diagnostic.severity), str(diagnostic.message_primary)
            )
        )


class Asyncpg(_AsyncDriver):
    name = "asyncpg"
    dialect = "asyncpg"
    package = "asyncpg"
    extra = "asyncpg"

    def connect_args(self, server_settings: Mapping[str, str]) -> dict[str, Any]:
        return {"server_settings": dict(server_settings)} if server_settings else {}

    def watch_notices(self, driver_connection: Any, heard: Callable[[str, str], None]) -> None:
        driver_connection.add_log_listener(lambda connection, message: heard(message.severity, message.message))
