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

Every administrative statement goes through ``admin_connection`` with its
database names quoted by psycopg's ``sql.Identifier``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

from sqlalchemy import text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from .. import environment
from ..compat import new_engine
from ..drivers import Driver, driver_for_scheme, scheme_driver, sync_driver
from ..errors import ConfigurationError, SchemaBuildError, ServerUnreachableError
from ..urls import libpq_url, url_text
from .schema import SchemaSource

log = logging.getLogger("pglite_testcase")

# PostgreSQL's SSLRequest: every server answers it with one byte ('S' or 'N') before anything else.
_SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")
RUN_PREFIX = "pglite_testcase_run_"
TEMPLATE_PREFIX = "pglite_testcase_tpl_"
ACCEPTED_SCHEME_DRIVERS = ("psycopg", "psycopg2", "asyncpg")


def parse_server_url(value: object, where: str) -> URL:
    """A SQLAlchemy PostgreSQL URL, or a ConfigurationError naming ``where``."""
    accepted = (
        "a PostgreSQL URL such as 'postgresql+psycopg://user:password@host:5432/postgres' "
        "(postgresql+psycopg2:// or postgresql:// for psycopg2)"
    )
    if not isinstance(value, (str, URL)):
        raise ConfigurationError(f"{where} = {value!r} is not accepted: expected {accepted}.")
    try:
        url = make_url(value)
    except Exception as exc:
        raise ConfigurationError(f"{where} = {value!r} is not accepted ({exc}): expected {accepted}.") from exc
    if url.get_backend_name() != "postgresql" or scheme_driver(url) not in ACCEPTED_SCHEME_DRIVERS:
        raise ConfigurationError(f"{where} = {value!r} is not accepted: expected {accepted}.")
    return url


def check_server_answers(url: URL, where: str, timeout: float) -> None:
    """Fail within ``timeout`` seconds, naming ``where`` the URL came from, unless a server answers there.

    libpq waits for ever on a host that accepts the connection and never answers (a firewall that
    swallows packets, a proxy with nothing behind it, a port of another program). So before the
    first connection, one SSLRequest: any PostgreSQL server answers it at once with one byte.
    """
    host = url.host or url.query.get("host")
    if not isinstance(host, str) or not host or "," in host:
        return  # libpq's defaults, or several hosts: libpq's own rules apply
    port = url.port or 5432
    masked = unquote(url.render_as_string(hide_password=True))
    deadline = time.monotonic() + timeout

    def failed(reason: str) -> ServerUnreachableError:
        return ServerUnreachableError(
            f"{where} = {masked}: {reason}. Check that a PostgreSQL server runs there and that this machine "
            f"reaches it, or correct {where}."
        )

    try:
        if host.startswith("/"):
            if not os.path.isdir(host):
                raise failed(f"its socket directory {host} does not exist")
            path = os.path.join(host, f".s.PGSQL.{port}")
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.settimeout(timeout)
            try:
                connection.connect(path)
            except BaseException:
                connection.close()
                raise
        else:
            connection = socket.create_connection((host, port), timeout=timeout)
    except ServerUnreachableError:
        raise
    except FileNotFoundError as exc:
        raise failed(f"no server listens in {host} (no socket .s.PGSQL.{port})") from exc
    except ConnectionRefusedError as exc:
        raise failed(f"the connection was refused (no server listens on {host}, port {port})") from exc
    except socket.gaierror as exc:
        raise failed(f"the host name {host} cannot be resolved ({exc})") from exc
    except TimeoutError as exc:
        raise failed(f"no answer within {timeout:g} s (the connection was not even accepted)") from exc
    except OSError as exc:
        raise failed(f"cannot connect: {exc}") from exc
    try:
        with connection:
            connection.settimeout(max(0.001, deadline - time.monotonic()))
            connection.sendall(_SSL_REQUEST)
            answer = connection.recv(1)
    except TimeoutError as exc:
        raise failed(
            f"no answer within {timeout:g} s: something accepted the connection but never answered as a "
            f"PostgreSQL server does (set {environment.CONNECT_TIMEOUT}, or the class's connect_timeout, to wait "
            f"longer)"
        ) from exc
    except OSError as exc:
        raise failed(f"the connection broke before the server answered: {exc}") from exc
    if answer not in (b"S", b"N"):
        raise failed(
            "no answer a PostgreSQL server gives: " + ("it closed the connection" if not answer else f"{answer!r}")
        )


def libpq_connect_timeout() -> int:
    """libpq's ``connect_timeout`` for the library's administrative connections: whole seconds, at
    least 2 (libpq's minimum); ``PGLITE_TESTCASE_CONNECT_TIMEOUT`` or 10."""
    try:
        seconds = environment.connect_timeout() or environment.DEFAULT_CONNECT_TIMEOUT
    except ConfigurationError:  # refused, naming the variable, by the class's settings
        seconds = environment.DEFAULT_CONNECT_TIMEOUT
    return max(2, math.ceil(seconds))


@contextmanager
def admin_connection(server_url: URL, driver: Driver, where: str = "") -> Iterator[Connection]:
    """An autocommit connection to the server's administration database (``where``: what the URL
    came from, named if the connection cannot be made)."""
    # libpq's own connect timeout too, for a server that answers the SSLRequest of
    # check_server_answers and then stalls (a pooler whose backend is gone).
    connect_args = {**driver.connect_args({}), "connect_timeout": libpq_connect_timeout()}
    engine = new_engine(
        driver.url(server_url), poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args=connect_args
    )
    try:
        try:
            connection = engine.connect()
        except DBAPIError as exc:
            if not where:
                raise
            reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
            raise ServerUnreachableError(
                f"{where} = {unquote(server_url.render_as_string(hide_password=True))}: cannot connect ({reason}). "
                f"Check the URL's user, password and database, that the server accepts connections, or "
                f"correct {where}."
            ) from exc
        with connection:
            yield connection
    finally:
        engine.dispose()


def _admin(connection: Connection, template: str, *names: str) -> None:
    """``template`` with its ``{}`` replaced by ``names`` as quoted identifiers (any driver's)."""
    quote = connection.dialect.identifier_preparer.quote_identifier
    connection.exec_driver_sql(template.format(*(quote(name) for name in names)))


class ServerDatabase:
    """A database of this process's own on a real server, made from its schema's template."""

    def __init__(self, server_url: URL, name: str, fingerprint: str, admin_driver: Driver) -> None:
        self.server_url = server_url
        self.name = name
        self.schema_fingerprint = fingerprint
        self.admin_driver = admin_driver
        self._lease: Any = None
        self._lease_engine: Engine | None = None
        self._timeout_ms = 0
        self._take_lease()

    def _take_lease(self) -> None:
        # An idle connection held for the process's life: `cleanup` drops only
        # databases nobody is connected to, so it never drops a live run's.
        connect_args = {**self.admin_driver.connect_args({}), "application_name": "pglite_testcase lease"}
        engine = new_engine(self.url_for(self.admin_driver), poolclass=NullPool, connect_args=connect_args)
        self._lease = engine.raw_connection()
        self._lease_engine = engine

    def _drop_lease(self) -> None:
        if self._lease is not None and self._lease_engine is not None:
            self._lease.close()
            self._lease_engine.dispose()
            self._lease = None

    def url_for(self, driver: Driver) -> URL:
        return driver.url(self.server_url).set(database=self.name)

    def libpq_url(self) -> str:
        """The database's URL for libpq (psql, ``psycopg.connect``)."""
        return libpq_url(self.url_for(self.admin_driver))

    def debug_libpq_url(self) -> str | None:
        """None: on a real server no connection joins another's transaction."""
        return None

    def connect_args_for(self, driver: Driver) -> dict[str, Any]:
        return driver.connect_args({"statement_timeout": str(self._timeout_ms)})

    @property
    def url(self) -> URL:
        return self.url_for(self.admin_driver)

    @property
    def connect_args(self) -> dict[str, Any]:
        return self.connect_args_for(self.admin_driver)

    def create_engine(self, driver: Driver | None = None, **kwargs: Any) -> Engine:
        driver = driver or self.admin_driver
        kwargs.setdefault("connect_args", self.connect_args_for(driver))
        return new_engine(self.url_for(driver), **kwargs)

    def set_statement_timeout(self, seconds: float | None) -> None:
        """A server cancels a statement itself: set PostgreSQL's statement_timeout on every connection."""
        self._timeout_ms = 0 if seconds is None else max(1, int(seconds * 1000))

    def is_alive(self, grace: float = 0.0) -> bool:
        return True

    def death_notice(self) -> str:
        return "the PostgreSQL server is still running"

    def cancel_statement(self) -> None:
        return None  # a server cancels statements itself: the driver's own cancel works

    def ensure_schema(self, source: SchemaSource, driver: Driver | None = None) -> None:
        if source.fingerprint != self.schema_fingerprint:
            raise SchemaBuildError(f"database {self.name} holds another schema than {source.describe()}")

    def rebuild(self, source: SchemaSource, driver: Driver | None = None) -> None:
        """Start again from the template (after a test's writes escaped its transaction)."""
        self._drop_lease()
        with admin_connection(self.server_url, self.admin_driver) as connection:
            _admin(connection, "DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)
            if not _exists(connection, template_name(source)):  # dropped meanwhile (cleanup --templates, eviction)
                build_template(self.server_url, source, driver or self.admin_driver)
            _create_from_template(connection, self.name, template_name(source))
        self._take_lease()

    def stop(self) -> None:
        """Drop the database (the server itself belongs to the user)."""
        self._drop_lease()
        try:
            with admin_connection(self.server_url, self.admin_driver) as connection:
                _admin(connection, "DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)
        except Exception as exc:  # at exit: say so, never raise
            log.warning("pglite_testcase: could not drop test database %s: %s", self.name, exc)


def template_name(source: SchemaSource) -> str:
    return TEMPLATE_PREFIX + hashlib.sha256(source.fingerprint.encode()).hexdigest()[:40]


def _exists(connection: Connection, name: str) -> bool:
    return bool(connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}))


def _create_from_template(connection: Connection, name: str, template: str) -> None:
    # CREATE DATABASE refuses a template that another session is copying or using
    # at that moment (55006): several test processes may start at once.
    deadline = time.monotonic() + 30
    while True:
        try:
            _admin(connection, "CREATE DATABASE {} TEMPLATE {}", name, template)
            return
        except DBAPIError as exc:
            code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
            if code != "55006" or time.monotonic() > deadline:
                raise
            time.sleep(0.05 + secrets.randbelow(100) / 1000)


def build_template(server_url: URL, source: SchemaSource, driver: Driver, where: str = "") -> str:
    """The template database holding ``source``'s schema, built now unless it exists."""
    template = template_name(source)
    with admin_connection(server_url, driver, where) as connection:
        if _exists(connection, template):
            return template
        building = f"{TEMPLATE_PREFIX}new_{os.getpid()}_{secrets.token_hex(4)}"
        _admin(connection, "CREATE DATABASE {} TEMPLATE template0", building)
        try:
            url = driver.url(server_url).set(database=building)
            engine = new_engine(url, poolclass=NullPool, connect_args=driver.connect_args({}))
            try:
                source.build(engine, url_text(url))
            finally:
                engine.dispose()
        except BaseException as exc:
            _admin(connection, "DROP DATABASE IF EXISTS {} WITH (FORCE)", building)
            if isinstance(exc, SchemaBuildError) or not isinstance(exc, Exception):
                raise
            raise SchemaBuildError(f"Building {source.describe()} failed: {type(exc).__name__}: {exc}") from exc
        if _exists(connection, template):  # another process finished first: use its template
            _admin(connection, "DROP DATABASE IF EXISTS {} WITH (FORCE)", building)
        else:
            _admin(connection, "ALTER DATABASE {} RENAME TO {}", building, template)
    return template


def create_run_database(
    server_url: URL, driver: Driver, template: str | None, fingerprint: str = "empty", where: str = ""
) -> ServerDatabase:
    """A new database of this process's own, from ``template`` (None: empty) holding ``fingerprint``'s schema."""
    name = f"{RUN_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    with admin_connection(server_url, driver, where) as connection:
        if template is None:
            _admin(connection, "CREATE DATABASE {} TEMPLATE template0", name)
        else:
            _create_from_template(connection, name, template)
    return ServerDatabase(server_url, name, fingerprint, driver)


def cleanup(server_url: URL, *, templates: bool = False) -> list[str]:
    """Drop the run databases nobody is connected to (a crashed run's); templates too if asked."""
    prefixes = [RUN_PREFIX] + ([TEMPLATE_PREFIX] if templates else [])
    dropped = []
    driver = sync_driver(driver_for_scheme(server_url) or "psycopg")
    with admin_connection(server_url, driver) as connection:
        for prefix in prefixes:
            names = connection.scalars(
                text(
                    "SELECT datname FROM pg_database d WHERE left(datname, length(:prefix)) = :prefix "
                    "AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)"
                ),
                {"prefix": prefix},
            ).all()
            for name in names:
                _admin(connection, "DROP DATABASE IF EXISTS {}", name)
                dropped.append(name)
    return dropped
