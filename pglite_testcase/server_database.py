"""A real PostgreSQL server as the test database (``PGLITE_TESTCASE_DATABASE_URL``).

The URL names a server (and a database to connect to for administration)
that the user owns. On it this library only ever creates and drops
databases of its own, recognisable by name:

- ``pglite_testcase_tpl_<key>``: a schema built once (``create_all`` or the
  migrations) and kept as a template, keyed by the schema's fingerprint like
  the PGlite snapshots; a changed schema gets a new template;
- ``pglite_testcase_run_<pid>_<random>``: one per test process and schema,
  created with ``CREATE DATABASE ... TEMPLATE``, dropped when the process
  exits. A crashed run's leftovers are removed by
  ``python -m pglite_testcase cleanup --url ...``.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import secrets
import threading
import time
from typing import Any

from sqlalchemy import URL, Engine, create_engine, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from .errors import ConfigurationError, SchemaBuildError
from .schema import SchemaSource

log = logging.getLogger("pglite_testcase")

SERVER_URL_ENV = "PGLITE_TESTCASE_DATABASE_URL"
RUN_PREFIX = "pglite_testcase_run_"
TEMPLATE_PREFIX = "pglite_testcase_tpl_"


def parse_server_url(value: object, where: str) -> URL:
    """A SQLAlchemy URL for psycopg, or a ConfigurationError naming ``where``."""
    accepted = "a PostgreSQL URL such as 'postgresql+psycopg://user:password@host:5432/postgres'"
    if not isinstance(value, (str, URL)):
        raise ConfigurationError(f"{where} = {value!r} is not accepted: expected {accepted}.")
    try:
        url = make_url(value)
    except Exception as exc:
        raise ConfigurationError(f"{where} = {value!r} is not accepted ({exc}): expected {accepted}.") from exc
    if url.get_backend_name() != "postgresql":
        raise ConfigurationError(f"{where} = {value!r} is not accepted: expected {accepted}.")
    return url.set(drivername="postgresql+psycopg")


def _admin_engine(url: URL) -> Engine:
    return create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class ServerDatabase:
    """A database of this process's own on a real server, made from its schema's template."""

    def __init__(self, server_url: URL, name: str, fingerprint: str) -> None:
        self.server_url = server_url
        self.name = name
        self.schema_fingerprint = fingerprint
        self._lease: Any = None
        self._timeout_ms = 0
        self._take_lease()

    def _take_lease(self) -> None:
        # An idle connection held for the process's life: `cleanup` drops only
        # databases nobody is connected to, so it never drops a live run's.
        engine = create_engine(self.url, poolclass=NullPool, connect_args={"application_name": "pglite_testcase lease"})
        self._lease = engine.raw_connection()
        self._lease_engine = engine

    def _drop_lease(self) -> None:
        if self._lease is not None:
            self._lease.close()
            self._lease_engine.dispose()
            self._lease = None

    @property
    def url(self) -> URL:
        return self.server_url.set(database=self.name)

    @property
    def connect_args(self) -> dict[str, Any]:
        return {"options": f"-c statement_timeout={self._timeout_ms}"}

    def async_url(self, driver: str) -> URL:
        return self.url.set(drivername=f"postgresql+{driver}")

    def async_connect_args(self, driver: str) -> dict[str, Any]:
        if driver == "asyncpg":
            return {"server_settings": {"statement_timeout": str(self._timeout_ms)}}
        return self.connect_args

    def create_engine(self, **kwargs: Any) -> Engine:
        kwargs.setdefault("connect_args", self.connect_args)
        return create_engine(self.url, **kwargs)

    def set_statement_timeout(self, seconds: float | None) -> None:
        """A server cancels a statement itself: set PostgreSQL's statement_timeout on every connection."""
        self._timeout_ms = 0 if seconds is None else max(1, int(seconds * 1000))

    def is_alive(self, grace: float = 0.0) -> bool:
        return True

    def death_notice(self) -> str:
        return "the PostgreSQL server is still running"

    def ensure_schema(self, source: SchemaSource) -> None:
        if source.fingerprint != self.schema_fingerprint:
            raise SchemaBuildError(f"database {self.name} holds another schema than {source.describe()}")

    def rebuild(self, source: SchemaSource) -> None:
        """Start again from the template (after a test's writes escaped its transaction)."""
        self._drop_lease()
        admin = _admin_engine(self.server_url)
        try:
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {_quote(self.name)} WITH (FORCE)"))
                _create_from_template(connection, self.name, _template_name(source))
        finally:
            admin.dispose()
        self._take_lease()

    def stop(self) -> None:
        """Drop the database (the server itself belongs to the user)."""
        self._drop_lease()
        admin = _admin_engine(self.server_url)
        try:
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {_quote(self.name)} WITH (FORCE)"))
        except Exception as exc:  # at exit: say so, never raise
            log.warning("pglite_testcase: could not drop test database %s: %s", self.name, exc)
        finally:
            admin.dispose()


def _template_name(source: SchemaSource) -> str:
    return TEMPLATE_PREFIX + hashlib.sha256(source.fingerprint.encode()).hexdigest()[:40]


def _exists(connection: Any, name: str) -> bool:
    return bool(connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}))


def _create_from_template(connection: Any, name: str, template: str) -> None:
    # CREATE DATABASE refuses a template that another session is copying or using
    # at that moment (55006): several test processes may start at once.
    deadline = time.monotonic() + 30
    while True:
        try:
            connection.execute(text(f"CREATE DATABASE {_quote(name)} TEMPLATE {_quote(template)}"))
            return
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != "55006" or time.monotonic() > deadline:
                raise
            time.sleep(0.05 + secrets.randbelow(100) / 1000)


def _build_template(server_url: URL, source: SchemaSource) -> str:
    template = _template_name(source)
    admin = _admin_engine(server_url)
    try:
        with admin.connect() as connection:
            if _exists(connection, template):
                return template
            building = f"{TEMPLATE_PREFIX}new_{os.getpid()}_{secrets.token_hex(4)}"
            connection.execute(text(f"CREATE DATABASE {_quote(building)} TEMPLATE template0"))
        try:
            engine = create_engine(server_url.set(database=building), poolclass=NullPool)
            try:
                source.build(engine, server_url.set(database=building).render_as_string(hide_password=False))
            finally:
                engine.dispose()
        except BaseException as exc:
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {_quote(building)} WITH (FORCE)"))
            if isinstance(exc, SchemaBuildError) or not isinstance(exc, Exception):
                raise
            raise SchemaBuildError(f"Building {source.describe()} failed: {type(exc).__name__}: {exc}") from exc
        with admin.connect() as connection:
            if _exists(connection, template):  # another process finished first: use its template
                connection.execute(text(f"DROP DATABASE IF EXISTS {_quote(building)} WITH (FORCE)"))
            else:
                connection.execute(text(f"ALTER DATABASE {_quote(building)} RENAME TO {_quote(template)}"))
        return template
    finally:
        admin.dispose()


_databases: dict[tuple[str, str], ServerDatabase] = {}
_lock = threading.Lock()


def server_database(server_url: URL, source: SchemaSource) -> ServerDatabase:
    """This process's database for ``source`` on the server, made on first need."""
    key = (server_url.render_as_string(hide_password=False), source.fingerprint)
    with _lock:
        database = _databases.get(key)
        if database is None:
            template = _build_template(server_url, source)
            name = f"{RUN_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
            admin = _admin_engine(server_url)
            try:
                with admin.connect() as connection:
                    _create_from_template(connection, name, template)
            finally:
                admin.dispose()
            database = _databases[key] = ServerDatabase(server_url, name, source.fingerprint)
        return database


def drop_run_databases() -> None:
    with _lock:
        for database in _databases.values():
            database.stop()
        _databases.clear()


atexit.register(drop_run_databases)


def cleanup(server_url: URL, *, templates: bool = False) -> list[str]:
    """Drop the run databases nobody is connected to (a crashed run's); templates too if asked."""
    prefixes = [RUN_PREFIX] + ([TEMPLATE_PREFIX] if templates else [])
    dropped = []
    admin = _admin_engine(server_url)
    try:
        with admin.connect() as connection:
            for prefix in prefixes:
                names = connection.scalars(
                    text(
                        "SELECT datname FROM pg_database d WHERE left(datname, length(:prefix)) = :prefix "
                        "AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)"
                    ),
                    {"prefix": prefix},
                ).all()
                for name in names:
                    connection.execute(text(f"DROP DATABASE IF EXISTS {_quote(name)}"))
                    dropped.append(name)
    finally:
        admin.dispose()
    return dropped


def create_empty_database(server_url: URL) -> ServerDatabase:
    """A new, empty database of this process's own on the server (dropped by ``stop()`` or at exit)."""
    name = f"{RUN_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    admin = _admin_engine(server_url)
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {_quote(name)} TEMPLATE template0"))
    finally:
        admin.dispose()
    database = ServerDatabase(server_url, name, "empty")
    with _lock:
        _databases[(server_url.render_as_string(hide_password=False), f"fresh-{name}")] = database
    return database
