"""A running test database: how to reach it and which schema it holds.

By default one PGlite instance serves every test class of a process. It is
started on first need (or, to save time, as soon as a test class is
defined: see ``prestart_shared_database``) and stopped when the interpreter
exits. It holds one schema at a time:

- a class whose schema is the one loaded reuses it as it is;
- otherwise the database is reset and the class's schema built, and if the
  database was fresh, a snapshot of the result is saved in the cache;
- when a snapshot of the wanted schema exists and building it took longer
  than a restart, PGlite is restarted from the snapshot instead.
"""

from __future__ import annotations

import atexit
import logging
import os
import subprocess
import threading
import time
from typing import Any, Protocol

from sqlalchemy import URL, Engine, create_engine
from sqlalchemy.pool import NullPool

from .errors import PGliteStartError, SchemaBuildError
from .extensions import registrations
from .node_packages import NodePackages, NodeRuntime, find_node
from .pglite_process import DATABASE, PASSWORD, USER, PGliteProcess
from .schema import SchemaSource, reset_database
from .server_database import SERVER_URL_ENV
from .snapshots import EMPTY, Snapshot, SnapshotStore

log = logging.getLogger("pglite_testcase")

# PGlite has one backend session for every client connection, so psycopg's
# automatic prepared statements (_pg3_0, _pg3_1, ... per connection) would
# collide between connections. Every engine this library creates passes this.
PSYCOPG_CONNECT_ARGS: dict[str, Any] = {"prepare_threshold": None}

# A schema whose build took longer than this is loaded by restarting PGlite
# from its snapshot instead (about what a start from a snapshot costs).
RESTART_SECONDS = 0.6


class TestDatabase(Protocol):
    """What the test cases need of a database, PGlite or a real server's."""

    schema_fingerprint: str

    @property
    def url(self) -> URL: ...

    @property
    def connect_args(self) -> dict[str, Any]: ...

    def async_url(self, driver: str) -> URL: ...

    def async_connect_args(self, driver: str) -> dict[str, Any]: ...

    def create_engine(self, **kwargs: Any) -> Engine: ...

    def ensure_schema(self, source: SchemaSource) -> None: ...

    def rebuild(self, source: SchemaSource) -> None: ...

    def set_statement_timeout(self, seconds: float | None) -> None: ...

    def is_alive(self, grace: float = 0.0) -> bool: ...

    def death_notice(self) -> str: ...

    def stop(self) -> None: ...


class PGliteDatabase:
    """A PGlite process plus what the test classes need to know about it."""

    def __init__(
        self,
        runtime: NodeRuntime,
        node_modules: Any,
        store: SnapshotStore,
        use_tcp: bool,
        extensions: frozenset[str] = frozenset(),
    ) -> None:
        self.extensions = extensions  # registered with PGlite at start: they cannot be added later
        self.runtime = runtime
        self.node_modules = node_modules
        self.store = store
        self.use_tcp = use_tcp
        self.process: PGliteProcess
        self.schema_fingerprint = EMPTY
        self._loading: Snapshot | None = None

    @classmethod
    def start(
        cls,
        fingerprint: str | None = None,
        *,
        use_tcp: bool = False,
        store: SnapshotStore | None = None,
        extensions: frozenset[str] = frozenset(),
    ) -> PGliteDatabase:
        database = cls.launch(fingerprint, use_tcp=use_tcp, store=store, extensions=extensions)
        database.wait_until_ready()
        return database

    @classmethod
    def launch(
        cls,
        fingerprint: str | None = None,
        *,
        use_tcp: bool = False,
        store: SnapshotStore | None = None,
        extensions: frozenset[str] = frozenset(),
    ) -> PGliteDatabase:
        """Start PGlite, from the snapshot of ``fingerprint`` if there is one, without waiting."""
        runtime = find_node()
        node_modules = NodePackages().ensure_installed(runtime)
        database = cls(runtime, node_modules, store if store is not None else SnapshotStore(), use_tcp, extensions)
        database._spawn(fingerprint)
        return database

    def _spawn(self, fingerprint: str | None) -> None:
        snapshot = (self.store.find(fingerprint) if fingerprint else None) or self.store.find(EMPTY)
        self.process = PGliteProcess(
            self.runtime,
            self.node_modules,
            load_data_dir=snapshot.path if snapshot else None,
            use_tcp=self.use_tcp,
            extensions=registrations(self.extensions),
        )
        self.process.spawn()
        self._loading = snapshot
        self.schema_fingerprint = snapshot.fingerprint if snapshot else EMPTY

    def wait_until_ready(self) -> None:
        snapshot, self._loading = self._loading, None
        # The snapshot is checked while node loads it, off the start's critical path.
        if snapshot is not None and not snapshot.is_intact():
            self.process.stop()
            self.store.discard(snapshot, "damaged (its size or checksum changed)")
            self._spawn(None if snapshot.fingerprint == EMPTY else EMPTY)
            return self.wait_until_ready()
        try:
            self.process.wait_until_ready()
        except PGliteStartError:
            if snapshot is None:
                raise
            self.store.discard(snapshot, "not loadable by PGlite")
            self._spawn(None if snapshot.fingerprint == EMPTY else EMPTY)
            return self.wait_until_ready()
        if snapshot is None and self.store.find(EMPTY) is None:
            self._save_snapshot(EMPTY, build_seconds=0.0)

    # -- reaching it -------------------------------------------------------------------

    @property
    def url(self) -> URL:
        config = self.process.config
        if config.use_tcp:
            return URL.create("postgresql+psycopg", USER, PASSWORD, "127.0.0.1", config.tcp_port, DATABASE)
        return URL.create(
            "postgresql+psycopg", USER, PASSWORD, database=DATABASE, query={"host": str(self.process.private_dir)}
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

    def is_alive(self, grace: float = 0.0) -> bool:
        """Whether node still runs; with ``grace``, a process that is exiting gets that long to finish."""
        if grace and self.process.process is not None:
            try:
                self.process.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        return bool(self.process.is_running())

    def set_statement_timeout(self, seconds: float | None) -> None:
        self.process.set_statement_timeout(seconds)

    def death_notice(self) -> str:
        process = self.process.process
        code = process.poll() if process is not None else None
        how = "was killed" if code is not None and code < 0 else f"exited (code {code})"
        output = self.process.output_tail() or "(no output)"
        return (
            f"PGlite stopped during this test: its node process {how}. Its last output:\n{output}\n"
            f"The next test starts a new PGlite."
        )

    def stop(self) -> None:
        self.process.stop()

    # -- its schema --------------------------------------------------------------------

    def ensure_schema(self, source: SchemaSource) -> None:
        """Make the database hold ``source``'s schema, building it only if it does not."""
        global _first_schema_remembered
        if not _first_schema_remembered:
            # What the next run's prestart loads: the schema its first class needs.
            self.store.remember_last_used(source.fingerprint, sorted(self.extensions))
            _first_schema_remembered = True
        if source.fingerprint == self.schema_fingerprint:
            return
        snapshot = self.store.find(source.fingerprint)
        if snapshot is not None and snapshot.build_seconds > RESTART_SECONDS and snapshot.is_intact():
            self.process.stop()
            self._spawn(source.fingerprint)
            self.wait_until_ready()
            return
        self._build(source, save_snapshot=snapshot is None)

    def rebuild(self, source: SchemaSource) -> None:
        """Reset the database and build ``source`` again (after a test's writes escaped its transaction)."""
        self.schema_fingerprint = "unknown"
        self._build(source, save_snapshot=False)

    def _build(self, source: SchemaSource, *, save_snapshot: bool) -> None:
        engine = self.create_engine(poolclass=NullPool)
        try:
            if self.schema_fingerprint != EMPTY:
                with engine.begin() as connection:
                    reset_database(connection)
            # Until the build succeeds, the database holds an unknown schema: never reuse it.
            self.schema_fingerprint = "unknown"
            started = time.perf_counter()
            try:
                source.build(engine, self.url.render_as_string(hide_password=False))
            except SchemaBuildError:
                raise
            except Exception as exc:
                raise SchemaBuildError(f"Building {source.describe()} failed: {type(exc).__name__}: {exc}") from exc
            build_seconds = time.perf_counter() - started
        finally:
            engine.dispose()
        self.schema_fingerprint = source.fingerprint
        if save_snapshot:
            self._save_snapshot(source.fingerprint, build_seconds)

    def _save_snapshot(self, fingerprint: str, build_seconds: float) -> None:
        try:
            self.process.dump_data_dir(self.store.path_for(fingerprint))
            self.store.record(fingerprint, build_seconds)
        except OSError as exc:
            # A snapshot only saves time: go on without it, and say why.
            log.warning(
                "pglite_testcase: could not save a snapshot in %s (%s); the next run builds this schema "
                "again. Free some disk space there, or point PGLITE_TESTCASE_CACHE_DIR elsewhere.",
                self.store.root,
                exc,
            )


_shared: PGliteDatabase | None = None
_shared_lock = threading.Lock()
_first_schema_remembered = False


def shared_database(fingerprint: str | None = None, extensions: frozenset[str] = frozenset()) -> PGliteDatabase:
    """The process's PGlite, started on first need (and again if it died, or lacks an extension)."""
    global _shared
    with _shared_lock:
        if _shared is not None and not _shared.is_alive():
            log.warning("pglite_testcase: the shared PGlite process stopped; starting a new one")
            _shared.stop()
            _shared = None
        if _shared is not None and not extensions <= _shared.extensions:
            # Extension bundles are registered when PGlite starts: start again with all of them.
            extensions = extensions | _shared.extensions
            _shared.stop()
            _shared = None
        if _shared is None:
            _shared = PGliteDatabase.launch(fingerprint, use_tcp=use_tcp(), extensions=extensions)
        try:
            _shared.wait_until_ready()
        except BaseException:
            _shared.stop()
            _shared = None
            raise
        return _shared


PRESTART_ENV = "PGLITE_TESTCASE_PRESTART"
TCP_ENV = "PGLITE_TESTCASE_TCP"


def use_tcp() -> bool:
    """``PGLITE_TESTCASE_TCP=1``: PGlite listens on a free port of 127.0.0.1 instead of a Unix socket."""
    return os.environ.get(TCP_ENV, "0") == "1"


def prestart_shared_database() -> None:
    """Start the shared PGlite in the background, while the test modules are still being imported.

    Called when the first test class is defined. It starts from the snapshot
    of the schema this project used last, so that the first class usually
    finds its schema loaded. Failures are left for ``setUpClass`` to report.
    """
    global _shared
    if os.environ.get(PRESTART_ENV, "1") == "0" or os.environ.get(SERVER_URL_ENV):
        return
    with _shared_lock:
        if _shared is not None:
            return
        try:
            runtime = find_node()
            packages = NodePackages()
            if not packages.is_complete():
                return  # the first install prints progress: leave it to setUpClass
            store = SnapshotStore()
            fingerprint, extensions = store.last_used()
            database = PGliteDatabase(runtime, packages.node_modules, store, use_tcp(), frozenset(extensions))
            database._spawn(fingerprint)
        except Exception as exc:  # reported again, properly, by setUpClass
            log.debug("pglite_testcase: prestart skipped: %s", exc)
            return
        _shared = database


def stop_shared_database() -> None:
    global _shared
    with _shared_lock:
        if _shared is not None:
            _shared.stop()
            _shared = None


atexit.register(stop_shared_database)
