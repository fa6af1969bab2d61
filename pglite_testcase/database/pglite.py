"""PGlite as a test database: one node process, how each driver reaches it, the schema it holds.

It holds one schema at a time:

- a class whose schema is the one loaded uses it as it is;
- otherwise the database is reset and the class's schema built, and if the
  database was fresh, a snapshot of the result is saved in the cache;
- when a snapshot of the wanted schema exists and building it took longer
  than a restart, PGlite is restarted from the snapshot instead.

Which instance a test class gets (the process's shared one, or one of its
own) is decided in ``provision``.
"""

from __future__ import annotations

import logging
import subprocess
import time
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import NullPool

from ..compat import new_engine
from ..drivers import Driver, default_sync_driver, sync_driver
from ..errors import PGliteStartError, SchemaBuildError
from ..runtime.node_packages import NodePackages, NodeRuntime, find_node
from ..urls import libpq_url, url_text
from .snapshots import EMPTY, Snapshot, SnapshotStore

if TYPE_CHECKING:
    from ..runtime.process import PGliteProcess
    from .schema import SchemaSource

log = logging.getLogger("pglite_testcase")


# A schema whose build took longer than this is loaded by restarting PGlite
# from its snapshot instead (about what a start from a snapshot costs).
RESTART_SECONDS = 0.6
USER = PASSWORD = DATABASE = "postgres"


class TestDatabase(Protocol):
    """What the test cases need of a database, PGlite or a real server's."""

    schema_fingerprint: str

    def url_for(self, driver: Driver) -> URL: ...

    def connect_args_for(self, driver: Driver) -> dict[str, Any]: ...

    def libpq_url(self) -> str: ...

    def debug_libpq_url(self) -> str | None: ...

    def create_engine(self, driver: Driver | None = None, **kwargs: Any) -> Engine: ...

    def ensure_schema(self, source: SchemaSource, driver: Driver | None = None) -> None: ...

    def rebuild(self, source: SchemaSource, driver: Driver | None = None) -> None: ...

    def set_statement_timeout(self, seconds: float | None) -> None: ...

    def is_alive(self, grace: float = 0.0) -> bool: ...

    def death_notice(self) -> str: ...

    def cancel_statement(self) -> None: ...

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
        port: int = 0,
        keep_warm: bool = False,
    ) -> None:
        self.port = port  # on TCP: 0 for a free port at each start
        # Take the keeper's spare instead of starting node, when it has one like it (runtime.keeper).
        self.keep_warm = keep_warm
        self.extensions = extensions  # registered with PGlite at start: they cannot be added later
        self.postgres_version = store.postgres_version  # the major of the packages and snapshots it uses
        self.runtime = runtime
        self.node_modules = node_modules
        self.store = store
        self.use_tcp = use_tcp
        self.process: PGliteProcess
        self.schema_fingerprint = EMPTY
        self._loading: Snapshot | None = None
        self._fresh = False  # started by initdb, not from a snapshot, and not yet waited for
        self._adopted = False  # the keeper's spare, not yet waited for
        self._spawned_for: str | None = None
        self._statement_timeout: float | None = None

    @classmethod
    def start(
        cls,
        fingerprint: str | None = None,
        *,
        use_tcp: bool = False,
        store: SnapshotStore | None = None,
        extensions: frozenset[str] = frozenset(),
        port: int = 0,
        postgres_version: int | None = None,
    ) -> PGliteDatabase:
        database = cls.launch(
            fingerprint,
            use_tcp=use_tcp,
            store=store,
            extensions=extensions,
            port=port,
            postgres_version=postgres_version,
        )
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
        port: int = 0,
        postgres_version: int | None = None,
        keep_warm: bool = False,
    ) -> PGliteDatabase:
        """Start PGlite, from the snapshot of ``fingerprint`` if there is one, without waiting.

        ``postgres_version``: the major (17, 18; default ``PGLITE_TESTCASE_POSTGRES_VERSION``, else 17);
        a ``store`` given must be of the same major.
        """
        if store is None:
            store = SnapshotStore(postgres_version=postgres_version)
        elif postgres_version is not None and store.postgres_version != postgres_version:
            raise ValueError(
                f"a snapshot store of PostgreSQL {store.postgres_version} for PostgreSQL {postgres_version}"
            )
        runtime = find_node()
        node_modules = NodePackages(postgres_version=store.postgres_version).ensure_installed(runtime)
        database = cls(runtime, node_modules, store, use_tcp, extensions, port, keep_warm)
        database.spawn(fingerprint)
        return database

    def snapshot_key(self, fingerprint: str) -> str:
        """A schema's snapshot, for this instance: a database made with other extension bundles
        registered may hold extensions this one cannot load (nor should a class that forgot one pass)."""
        if fingerprint == EMPTY or not self.extensions:
            return fingerprint
        return f"{fingerprint}+bundles:{','.join(sorted(self.extensions))}"

    def spawn(self, fingerprint: str | None, *, warm: bool = True) -> None:
        """Start node on the snapshot of ``fingerprint`` (else the empty one), or take the keeper's spare
        started on it (with ``keep_warm``; ``warm=False``: not this time)."""
        from ..runtime.process import PGliteProcess

        registered: dict[str, dict[str, str]] = {}
        if self.extensions:  # (the extensions module is not needed on the way to node's start otherwise)
            from .extensions import registrations

            registered = registrations(self.extensions, self.postgres_version)

        snapshot = (self.store.find(self.snapshot_key(fingerprint)) if fingerprint else None) or self.store.find(EMPTY)

        def new_process() -> PGliteProcess:
            process = PGliteProcess(
                self.runtime,
                self.node_modules,
                load_data_dir=snapshot.path if snapshot else None,
                use_tcp=self.use_tcp,
                port=self.port,
                extensions=registered,
            )
            # A restarted instance keeps the limit, passed at start (a request now would race node's "ready").
            process.statement_timeout_ms = 0 if self._statement_timeout is None else int(self._statement_timeout * 1000)
            return process

        self.process = new_process()
        self._spawned_for = fingerprint
        self._adopted = False
        if warm and self.keep_warm and snapshot is not None and self.port == 0:
            from ..runtime.keeper import take_spare

            try:
                self._adopted = take_spare(self.process, f"{snapshot.size}:{snapshot.crc32}")
            except OSError:  # a spare taken over half-way, and stopped
                self.process = new_process()
        if not self._adopted:
            self.process.spawn()
        self._loading = snapshot
        self._fresh = snapshot is None
        self.schema_fingerprint = EMPTY if snapshot is None or snapshot.fingerprint == EMPTY else str(fingerprint)

    def wait_until_ready(self) -> None:
        snapshot, self._loading = self._loading, None
        fresh, self._fresh = self._fresh, False
        adopted, self._adopted = self._adopted, False
        # The snapshot is checked while node loads it, off the start's critical path (the keeper
        # checked a spare's when it started it).
        if snapshot is not None and not adopted and not snapshot.is_intact():
            self.process.stop()
            self.store.discard(snapshot, "damaged (its size or checksum changed)")
            self.spawn(None if snapshot.fingerprint == EMPTY else EMPTY)
            return self.wait_until_ready()
        try:
            self.process.wait_until_ready()
        except PGliteStartError as exc:
            if adopted:  # the spare's fault, not the snapshot's: a start of this run's own
                log.warning("pglite_testcase: the warm spare did not start (%s); starting PGlite here", exc)
                self.spawn(self._spawned_for, warm=False)
                return self.wait_until_ready()
            if snapshot is None:
                raise
            self.store.discard(snapshot, "not loadable by PGlite")
            self.spawn(None if snapshot.fingerprint == EMPTY else EMPTY)
            return self.wait_until_ready()
        # Only a database fresh from initdb is the empty snapshot (this runs again on every
        # class's provisioning, when the database may hold anything).
        if fresh and self.store.find(EMPTY) is None:
            self._save_snapshot(EMPTY, build_seconds=0.0)

    # -- reaching it -------------------------------------------------------------------

    def url_for(self, driver: Driver) -> URL:
        return self._url(f"postgresql+{driver.dialect}")

    def _url(self, scheme: str) -> URL:
        config = self.process.config
        password = getattr(self.process, "password", None) or PASSWORD
        if config.use_tcp:
            return URL.create(scheme, USER, password, "127.0.0.1", config.tcp_port, DATABASE)
        return URL.create(scheme, USER, password, database=DATABASE, query={"host": str(self.process.private_dir)})

    def connect_args_for(self, driver: Driver) -> dict[str, Any]:
        return driver.connect_args({})

    def _libpq_url(self) -> URL:
        """On the Unix socket without the password, which nobody asks for there."""
        url = self._url("postgresql")
        return url if self.process.config.use_tcp else url._replace(password=None)

    def libpq_url(self) -> str:
        """The database's URL for libpq (psql, ``psycopg.connect``)."""
        return libpq_url(self._libpq_url())

    def debug_libpq_url(self) -> str | None:
        """The URL of a debug connection: one that joins the running test's transaction (node/lib/debug.js)."""
        return libpq_url(self._libpq_url().set(database=self.process.debug_database))

    @property
    def url(self) -> URL:
        """The URL for the default sync driver."""
        return self.url_for(sync_driver(default_sync_driver()))

    @property
    def connect_args(self) -> dict[str, Any]:
        return self.connect_args_for(sync_driver(default_sync_driver()))

    def create_engine(self, driver: Driver | None = None, **kwargs: Any) -> Engine:
        driver = driver or sync_driver(default_sync_driver())
        kwargs.setdefault("connect_args", self.connect_args_for(driver))
        return new_engine(self.url_for(driver), **kwargs)

    def is_alive(self, grace: float = 0.0) -> bool:
        """Whether node still runs; with ``grace``, a process that is exiting gets that long to finish."""
        if grace and self.process.process is not None:
            try:
                self.process.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        return bool(self.process.is_running())

    def set_statement_timeout(self, seconds: float | None) -> None:
        self._statement_timeout = seconds
        self.wait_until_ready()  # a prestarted instance answers requests only once it is up
        self.process.set_statement_timeout(seconds)

    def cancel_statement(self) -> None:
        cancel = getattr(self.process, "cancel_statement", None)
        if cancel is not None:
            cancel()

    def death_notice(self) -> str:
        process = self.process.process
        code = process.poll() if process is not None else None
        how = "was killed" if code is not None and code < 0 else f"exited (code {code})"
        if process is not None and not isinstance(process, subprocess.Popen):
            how = "stopped"  # the keeper's spare: its parent, the keeper, has its exit status
        output = self.process.output_tail() or "(no output)"
        return (
            f"PGlite stopped during this test: its node process {how}. Its last output:\n{output}\n"
            f"The next test starts a new PGlite."
        )

    def stop(self) -> None:
        self.process.stop()

    # -- its schema --------------------------------------------------------------------

    def ensure_schema(self, source: SchemaSource, driver: Driver | None = None) -> None:
        """Make the database hold ``source``'s schema, building it only if it does not."""
        if source.fingerprint == self.schema_fingerprint:
            return
        snapshot = self.store.find(self.snapshot_key(source.fingerprint))
        if snapshot is not None and snapshot.build_seconds > RESTART_SECONDS and snapshot.is_intact():
            self.process.stop()
            self.spawn(source.fingerprint)
            self.wait_until_ready()
            return
        self._build(source, driver, save_snapshot=snapshot is None)

    def rebuild(self, source: SchemaSource, driver: Driver | None = None) -> None:
        """Reset the database and build ``source`` again (after a test's writes escaped its transaction)."""
        self.schema_fingerprint = "unknown"
        self._build(source, driver, save_snapshot=False)

    def _build(self, source: SchemaSource, driver: Driver | None, *, save_snapshot: bool) -> None:
        from .extension_hints import missing_extension_hint
        from .schema import reset_database

        driver = driver or sync_driver(default_sync_driver())
        engine = self.create_engine(driver, poolclass=NullPool)
        try:
            if self.schema_fingerprint != EMPTY:
                with engine.begin() as connection:
                    reset_database(connection)
            # Until the build succeeds, the database holds an unknown schema: never reuse it.
            self.schema_fingerprint = "unknown"
            started = time.perf_counter()
            try:
                source.build(engine, url_text(self.url_for(driver)))
            except Exception as exc:
                message = (
                    str(exc)
                    if isinstance(exc, SchemaBuildError)
                    else (f"Building {source.describe()} failed: {type(exc).__name__}: {exc}")
                )
                hint = missing_extension_hint(message)
                raise SchemaBuildError(f"{message}\n{hint}" if hint else message) from exc
            build_seconds = time.perf_counter() - started
        finally:
            engine.dispose()
        self.schema_fingerprint = source.fingerprint
        # The empty snapshot is only ever saved from a fresh initdb (wait_until_ready), never from a build.
        if save_snapshot and source.fingerprint != EMPTY:
            self._save_snapshot(self.snapshot_key(source.fingerprint), build_seconds)

    def _save_snapshot(self, fingerprint: str, build_seconds: float) -> None:
        # A snapshot only saves time: on failure the store says why, once, and the run goes on.
        self.store.save(self.process.dump_data_dir, fingerprint, build_seconds)
