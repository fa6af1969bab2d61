"""A running test database: how to reach it and which schema it holds.

By default one PGlite instance serves every test class of a process. It is
started on first need and stopped when the interpreter exits. It holds one
schema at a time: a class whose schema differs from the one loaded gets the
database reset and its own schema built; a class with the same schema
reuses it as it is.
"""

from __future__ import annotations

import atexit
import logging
import threading
from typing import Any

from sqlalchemy import URL, Engine, create_engine
from sqlalchemy.pool import NullPool

from .errors import PGliteStartError, SchemaBuildError
from .node_packages import NodePackages, find_node
from .pglite_process import DATABASE, PASSWORD, USER, PGliteProcess
from .schema import EmptySchema, SchemaSource, reset_database

log = logging.getLogger("pglite_testcase")

# PGlite has one backend session for every client connection, so psycopg's
# automatic prepared statements (_pg3_0, _pg3_1, ... per connection) would
# collide between connections. Every engine this library creates passes this.
PSYCOPG_CONNECT_ARGS: dict[str, Any] = {"prepare_threshold": None}


class PGliteDatabase:
    """A PGlite process plus what the test classes need to know about it."""

    def __init__(self, process: PGliteProcess) -> None:
        self.process = process
        self.schema_fingerprint = EmptySchema.fingerprint

    @classmethod
    def start(cls, *, use_tcp: bool = False) -> PGliteDatabase:
        runtime = find_node()
        node_modules = NodePackages().ensure_installed(runtime)
        process = PGliteProcess(runtime, node_modules, use_tcp=use_tcp)
        try:
            process.start()
        except BaseException:
            process.stop()
            raise
        return cls(process)

    # -- reaching it -------------------------------------------------------------------

    @property
    def url(self) -> URL:
        config = self.process.config
        if config.use_tcp:
            return URL.create(
                "postgresql+psycopg", USER, PASSWORD, "127.0.0.1", config.tcp_port, DATABASE,
            )
        return URL.create(
            "postgresql+psycopg", USER, PASSWORD, database=DATABASE,
            query={"host": str(self.process.private_dir)},
        )

    @property
    def connect_args(self) -> dict[str, Any]:
        return dict(PSYCOPG_CONNECT_ARGS)

    def async_url(self, driver: str) -> URL:
        """The URL for ``create_async_engine``: psycopg's async mode, or asyncpg."""
        return self.url.set(drivername=f"postgresql+{driver}")

    def async_connect_args(self, driver: str) -> dict[str, Any]:
        return self.connect_args if driver == "psycopg" else {}

    def create_engine(self, **kwargs: Any) -> Engine:
        kwargs.setdefault("connect_args", self.connect_args)
        return create_engine(self.url, **kwargs)

    def is_alive(self) -> bool:
        return self.process.is_running()

    def stop(self) -> None:
        self.process.stop()

    # -- its schema --------------------------------------------------------------------

    def ensure_schema(self, source: SchemaSource) -> None:
        """Make the database hold ``source``'s schema, building it only if it does not."""
        if source.fingerprint == self.schema_fingerprint:
            return
        engine = self.create_engine(poolclass=NullPool)
        try:
            if self.schema_fingerprint != EmptySchema.fingerprint:
                with engine.begin() as connection:
                    reset_database(connection)
            self.schema_fingerprint = EmptySchema.fingerprint
            try:
                source.build(engine, self.url.render_as_string(hide_password=False))
            except SchemaBuildError:
                raise
            except Exception as exc:
                raise SchemaBuildError(f"Building {source.describe()} failed: {type(exc).__name__}: {exc}") from exc
            finally:
                # A failed build may have left part of a schema: never reuse it.
                self.schema_fingerprint = "unknown"
            self.schema_fingerprint = source.fingerprint
        finally:
            engine.dispose()


_shared: PGliteDatabase | None = None
_shared_lock = threading.Lock()


def shared_database() -> PGliteDatabase:
    """The process's PGlite, started on first need (and again if it died)."""
    global _shared
    with _shared_lock:
        if _shared is not None and not _shared.is_alive():
            log.warning("pglite_testcase: the shared PGlite process stopped; starting a new one")
            _shared.stop()
            _shared = None
        if _shared is None:
            _shared = PGliteDatabase.start()
        return _shared


def stop_shared_database() -> None:
    global _shared
    with _shared_lock:
        if _shared is not None:
            _shared.stop()
            _shared = None


atexit.register(stop_shared_database)

__all__ = ["PGliteDatabase", "PGliteStartError", "shared_database", "stop_shared_database", "PSYCOPG_CONNECT_ARGS"]
