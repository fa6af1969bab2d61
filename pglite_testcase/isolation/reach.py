"""What the code under test reaches: the test database, always through the current transaction; no other one.

While a class of this library runs (from the end of its ``super().setUpClass()``
to its class cleanup), one listener on SQLAlchemy's ``do_connect`` event, on
the ``Engine`` class, sees every new DBAPI connection any engine is about to
make (the library's own engines excepted), before it is made:

- **to the test database** (the host, port and database of ``cls.database_url``,
  whatever the engine was built from: the URL itself, settings built from it,
  ``alembic_environment``'s): while the class holds a transaction, the engine's
  dialect gets the behaviour of ``self.engine`` (its ``begin``/``commit``/
  ``rollback`` become savepoints) and the new connection *is* the current
  transaction's connection: the test's during a test, in sync classes the class
  transaction's during ``setUpClass`` and ``tearDownClass``. Nothing is
  connected: the engine's pool holds the test's connection, which is handed back
  (its pool entry invalidated) when it changes, and the dialect is put back when
  the class ends. With ``isolation = "truncate"`` (no transaction to join),
  and outside any transaction, the engine connects for real.
- **to another database** during a test: refused at once with
  ``OtherDatabaseError``, naming the URL (password masked), the class and the
  remedies; the test fails even if the code under test swallows the error. A class
  lists what it may reach in ``allowed_databases`` (``["sqlite://", ...]``).

The listener is added when the first class opens and removed when the last one
closes; the dialects it changed are put back then. Nothing stays behind.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url

from ..compat import OWN_DIALECTS, adapt_async_connection, own
from ..errors import ConfigurationError, PGliteTestCaseError
from .join_test_transaction import CLASS_SAVEPOINT

# The dialect attributes a routed engine gets (what ``TestTransaction.install_on_dialect`` sets, and more).
_ROUTED_ATTRIBUTES = (
    "do_execute",
    "do_execute_no_params",
    "do_executemany",
    "do_begin",
    "do_commit",
    "do_rollback",
    "do_close",
    "do_terminate",
    "do_savepoint",
    "do_release_savepoint",
    "do_rollback_to_savepoint",
    "do_ping",
    "set_isolation_level",
    "reset_isolation_level",
)
_MISSING = object()

REMEDIES = (
    "Route it into the test's transaction: name the application's engine or session factory in "
    "database_objects, or build the engine with cls.database_url (an engine on the test database is "
    "routed automatically). Or, if the test may really use that database, list it in the class "
    "attribute allowed_databases, e.g. allowed_databases = ['sqlite://']."
)


class OtherDatabaseError(PGliteTestCaseError):
    """Code under test connected to another database than the test database during a test."""


_ACTIVE: list[Reach] = []


def _before_connect(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
    if not _ACTIVE or dialect in OWN_DIALECTS:
        return None
    return _ACTIVE[-1].connecting(dialect, record, cargs, cparams)


def _where(url: URL) -> tuple[str, str, str]:
    host = url.host or url.query.get("host") or ""
    return (str(host), str(url.port or ""), url.database or "")


def _where_connecting(cparams: dict[str, Any]) -> tuple[str, str, str]:
    database = cparams.get("dbname") or cparams.get("database") or ""
    return (str(cparams.get("host") or ""), str(cparams.get("port") or ""), str(database))


def connecting_url(dialect: Any, cargs: Sequence[Any], cparams: dict[str, Any]) -> URL:
    """The URL a connection is being made to, from what its dialect hands the driver."""
    drivername = f"{dialect.name}+{dialect.driver}" if dialect.driver else dialect.name
    if dialect.name == "sqlite":
        database = cargs[0] if cargs else cparams.get("database")
        return URL.create(drivername, database=str(database) if database is not None else None)
    host = cparams.get("host")
    query = {}
    if isinstance(host, str) and host.startswith("/"):
        query, host = {"host": host}, None
    port = cparams.get("port")
    return URL.create(
        drivername,
        username=cparams.get("user") or cparams.get("username"),
        password=cparams.get("password"),
        host=host,
        port=int(port) if port not in (None, "") else None,
        database=cparams.get("dbname") or cparams.get("database"),
        query=query,
    )


def shown(url: URL) -> str:
    """The URL with its password masked, and readable (no percent-encoded slashes or colons)."""
    return unquote(url.render_as_string(hide_password=True))


def parse_allowed(value: object, where: str) -> tuple[URL, ...]:
    accepted = "a list of database URLs (or URL prefixes such as 'sqlite://' for every SQLite database)"
    if isinstance(value, (str, URL)) or not isinstance(value, (list, tuple, set, frozenset)):
        raise ConfigurationError.refused(value, where, accepted)
    urls = []
    for item in value:
        try:
            urls.append(make_url(item))
        except Exception as exc:
            raise ConfigurationError.refused(value, where, f"{accepted} ({exc})") from exc
    return tuple(urls)


def allows(allowed: URL, url: URL) -> bool:
    """Whether ``allowed`` covers ``url``: same backend (and driver, if named), and each of the
    username, host, port and database it names."""
    backend, _, driver = allowed.drivername.partition("+")
    if backend != url.get_backend_name() or (driver and driver != url.get_driver_name()):
        return False
    if allowed.database and allowed.database != url.database:
        return False
    if allowed.username and allowed.username != url.username:
        return False
    if allowed.port and allowed.port != url.port:
        return False
    host = allowed.host or allowed.query.get("host")
    return not host or host == (url.host or url.query.get("host"))


def _driver_connection(dbapi_connection: Any) -> Any:
    return getattr(dbapi_connection, "driver_connection", dbapi_connection)


class Reach:
    """One class's reach: made when its fixture opens, closed with it."""

    def __init__(self, fixture: Any) -> None:
        self.fixture = fixture
        owner = fixture.owner
        self.allowed = parse_allowed(getattr(owner, "allowed_databases", ()), f"{owner.__qualname__}.allowed_databases")
        self.test: Any = None  # the running test
        self.refusals: list[str] = []  # this test's
        self._expected: tuple[Any, tuple[str, str, str]] | None = None
        self._dialects: dict[int, tuple[Any, Any, dict[str, Any]]] = {}  # id -> dialect, transaction, saved
        self._records: list[weakref.ref[Any]] = []  # pool entries holding a transaction's connection
        self.closed = False
        # Class-level work (sync classes in transaction isolation): setUpClass / tearDownClass.
        self._class_work = False
        self._class_attributes: list[str] = []

    # -- the class's lifetime ----------------------------------------------------------

    def open(self) -> None:
        if not _ACTIVE:
            event.listen(Engine, "do_connect", _before_connect)
        _ACTIVE.append(self)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.end_class_work(keep=False)
            self._hand_back(everything=True)
            for dialect, _, saved in self._dialects.values():
                _restore(dialect, saved)
            self._dialects.clear()
        finally:
            if self in _ACTIVE:
                _ACTIVE.remove(self)
            if not _ACTIVE and event.contains(Engine, "do_connect", _before_connect):
                event.remove(Engine, "do_connect", _before_connect)

    # -- tests ---------------------------------------------------------------------------

    def test_begins(self, test: Any) -> None:
        self.test = test
        self.refusals = []
        self._hand_back(everything=False)

    def test_ends(self) -> list[str]:
        refusals, self.refusals, self.test = self.refusals, [], None
        if self.fixture.strategy.connection_per_test:
            self._hand_back(everything=True)
        return refusals

    # -- a new connection ------------------------------------------------------------------

    def _transaction(self) -> Any:
        strategy = self.fixture.strategy
        transaction = getattr(strategy, "transaction", None)
        if transaction is None or transaction._driver_connection is None:
            return None
        return transaction

    def _is_test_database(self, dialect: Any, cparams: dict[str, Any]) -> bool:
        if dialect.name != "postgresql" or self.fixture.lease is None:
            return False
        database = self.fixture.database
        if self._expected is None or self._expected[0] is not database:
            self._expected = (database, _where(database.url_for(self.fixture.settings.admin_driver)))
        return _where_connecting(cparams) == self._expected[1]

    def connecting(self, dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        if self._is_test_database(dialect, cparams):
            transaction = self._transaction()
            if transaction is None:
                return None  # no transaction to join (truncating, or between classes' steps): connect
            return self._route(dialect, record, transaction)
        if self.test is None:
            return None
        url = connecting_url(dialect, cargs, cparams)
        if any(allows(allowed, url) for allowed in self.allowed):
            return None
        owner = self.fixture.owner
        test_url = shown(self.fixture.database.url_for(self.fixture.settings.admin_driver))
        message = (
            f"{self.test.id()} tried to connect to {shown(url)}, which is not the test database of "
            f"{owner.__qualname__} ({test_url}); pglite_testcase refused the "
            f"connection before it was made. {REMEDIES}"
        )
        self.refusals.append(message)
        raise OtherDatabaseError(message)

    def _route(self, dialect: Any, record: Any, transaction: Any) -> Any:
        target = getattr(self.fixture.strategy.joined_engine, "sync_engine", self.fixture.strategy.joined_engine)
        if dialect.driver != target.dialect.driver or bool(dialect.is_async) != bool(target.dialect.is_async):
            message = (
                f"{self.test.id() + ': ' if self.test is not None else ''}an engine tried to connect to the test "
                f"database of {self.fixture.owner.__qualname__} through "
                f"{dialect.name}+{dialect.driver}{' (asyncio)' if dialect.is_async else ''}, but the "
                f"transaction it must join is on a {target.dialect.driver}"
                f"{' (asyncio)' if target.dialect.is_async else ''} connection, so it cannot be routed into "
                f"it. Build the engine with cls.database_url (it names the class's driver), or name it in "
                f"database_objects (routed whatever its driver)."
            )
            if self.test is not None:
                self.refusals.append(message)
            raise OtherDatabaseError(message)
        known = self._dialects.get(id(dialect))
        if known is None or known[1] is not transaction:
            if known is not None:
                _restore(dialect, known[2])
            saved = {name: dialect.__dict__.get(name, _MISSING) for name in _ROUTED_ATTRIBUTES}
            transaction.install_on_dialect(dialect)
            dialect.do_ping = _always_alive
            dialect.set_isolation_level = _no_isolation_level  # one transaction: its level is the test's
            dialect.reset_isolation_level = _no_reset
            self._dialects[id(dialect)] = (dialect, transaction, saved)
        driver_connection = transaction.current_driver_connection()
        self._records.append(weakref.ref(record))
        if not dialect.is_async:
            return driver_connection
        adapted = adapt_async_connection(dialect, driver_connection)
        if dialect.driver == "asyncpg":
            adapted.autocommit = True  # leave the transaction calls to the savepoint dialect (see joining)
        return adapted

    def _hand_back(self, *, everything: bool) -> None:
        """Invalidate the pool entries that hold a connection other than the current transaction's
        (all of them with ``everything``), so that their next checkout connects again."""
        transaction = self._transaction()
        current = transaction._driver_connection if transaction is not None else None
        kept = []
        for ref in self._records:
            record = ref()
            if record is None:
                continue
            held = getattr(record, "dbapi_connection", None)
            if held is None:
                continue
            if everything or current is None or _driver_connection(held) is not current:
                try:
                    record.invalidate()  # closes through the routed dialect: the connection stays open
                except Exception:
                    pass
            else:
                kept.append(ref)
        self._records = kept

    # -- class-level work (setUpClass, tearDownClass) -------------------------------------

    def begin_class_work(self) -> None:
        """Sync classes in a class transaction: until the next test, what the class's code does
        (``cls.engine``, ``cls.session``, its own engines on the test database, ``database_objects``)
        runs in the class transaction."""
        fixture = self.fixture
        strategy = fixture.strategy
        if self._class_work or getattr(strategy, "class_connection", None) is None:
            return
        if not strategy.class_transaction_ok:
            return
        transaction = strategy.transaction
        transaction.begin_test(strategy.class_connection)
        transaction.at_class_savepoint = True  # nothing has run since the class savepoint
        self._class_work = True
        owner = fixture.owner
        maker = fixture.sessionmaker()
        # cls.session is made on first use: after every test the class is back in class work, and a
        # session made there for nothing would cost every test.
        for name, value in (("engine", strategy.joined_engine), ("session", _ClassSession(maker))):
            if name not in owner.__dict__ or name in self._class_attributes:
                setattr(owner, name, value)
                if name not in self._class_attributes:
                    self._class_attributes.append(name)
        if fixture.routing.paths:
            fixture.routing.route(strategy.joined_engine, maker)

    def end_class_work(self, *, keep: bool = True) -> None:
        """Before a test (``keep``: what the class's code wrote becomes part of the class's state, under a
        new class savepoint) or at the class's end (everything is rolled back anyway)."""
        if not self._class_work:
            return
        self._class_work = False
        fixture, owner = self.fixture, self.fixture.owner
        strategy = fixture.strategy
        transaction = strategy.transaction
        made = owner.__dict__.get("session")
        session = made.session if isinstance(made, _ClassSession) else None
        try:
            fixture.routing.restore()
            if keep and session is not None:
                session.commit()
        finally:
            for name in self._class_attributes:
                if name in owner.__dict__:
                    delattr(owner, name)
            self._class_attributes = []
            if session is not None:
                session.expunge_all()
                session.close()
            worked = not transaction.at_class_savepoint or bool(transaction.pending)
            outcome = transaction.end_test(keep_queue=True)
        problems = outcome.refused_commits + outcome.committed
        if keep and (problems or outcome.ended):
            strategy.class_transaction_ok = False
            raise PGliteTestCaseError(
                f"{owner.__qualname__}.setUpClass (or tearDownClass) ended the class's transaction "
                f"({', '.join(problems) or 'a ROLLBACK'}): what the class's own code writes outside its tests "
                f"lives in that transaction, and each test is rolled back to it. Commit through cls.session, "
                f"cls.engine or an engine built with cls.database_url, whose commits stay inside it."
            )
        if keep and worked:
            # What the class's code wrote is part of the class's state: a new class savepoint after it
            # (each test rolls back to the newest), and the sequences as they are now.
            connection = strategy.class_engine.connect()
            try:
                connection.exec_driver_sql(f"SAVEPOINT {CLASS_SAVEPOINT}")
                if fixture.settings.reset_sequences:
                    from .sequences import sequence_positions

                    strategy.sequences = sequence_positions(connection)
            finally:
                connection.close()


class _ClassSession:
    """``cls.session`` in class work: a Session in the class transaction, made on first use."""

    def __init__(self, maker: Any) -> None:
        self.maker = maker
        self.session: Any = None

    def __get__(self, instance: Any, owner: Any) -> Any:
        if self.session is None:
            self.session = self.maker(expire_on_commit=False)
        return self.session


def _restore(dialect: Any, saved: dict[str, Any]) -> None:
    for name, value in saved.items():
        if value is _MISSING:
            dialect.__dict__.pop(name, None)
        else:
            setattr(dialect, name, value)


def _always_alive(dbapi_connection: Any) -> bool:
    return True


def _no_isolation_level(dbapi_connection: Any, level: Any) -> None:
    return None


def _no_reset(dbapi_connection: Any) -> None:
    return None


__all__ = ["REMEDIES", "OtherDatabaseError", "Reach", "allows", "connecting_url", "own"]
