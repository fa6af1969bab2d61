"""One test class's fixture: its settings, database, isolation strategy and class data.

``PGliteMixin`` and ``AsyncPGliteMixin`` are thin adapters over this: each
``setUpClass`` makes a fixture and registers its ``close`` as a class
cleanup (so it runs even when the rest of ``setUpClass`` fails; a
``setUpClass`` that does not call super gets its fixture before the first
test), and each test begins before ``setUp`` runs (unittest's ``_callSetUp``,
as Django does; ``setUp`` calling super finds it begun), its end registered
as a test cleanup (so it runs even when ``setUp`` fails later or a subclass
forgets ``super().tearDown()``).
"""

from __future__ import annotations

import unittest
from typing import TYPE_CHECKING, Any

from ..compat import SQLALCHEMY_2, session_kwargs, sessionmaker_class
from ..database.extension_hints import ExtensionHints
from ..database.provision import Lease, provision
from ..errors import ConfigurationError, PGliteStoppedError, PGliteTestCaseError, SchemaBuildError
from ..isolation.join_test_transaction import RemembersSessions, TestOutcome
from ..isolation.reach import Reach
from ..isolation.routing import Routing
from ..isolation.strategies import (
    STRATEGIES,
    TransactionIsolation,
    TruncateIsolation,
)
from ..urls import url_text
from . import debugging
from .class_data import unwrap_attributes, wrap_new_attributes
from .factories import BoundFactories
from .failure_reports import RECORDER_ATTRIBUTE, new_recorder
from .settings import (
    ClassSettings,
    read_class_settings,
    read_show_sql_on_failure,
    refuse_class_data_when_truncating,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from ..database.pglite import TestDatabase
    from .queries import QueryRecorder

FIXTURE_ATTRIBUTE = "_pglite_fixture"


def fixture_of(owner: type) -> ClassFixture:
    """The fixture ``owner`` made in its own ``setUpClass`` (never a parent class's)."""
    fixture: ClassFixture | None = owner.__dict__.get(FIXTURE_ATTRIBUTE)
    if fixture is None or fixture.closed:
        raise PGliteTestCaseError(
            f"{owner.__qualname__} has no database: its setUpClass did not run (or failed). A subclass that "
            f"overrides setUpClass must call super().setUpClass()."
        )
    return fixture


def fixture_for_test(owner: type[unittest.TestCase]) -> ClassFixture:
    """The class's fixture for a test about to begin. A class whose ``setUpClass`` does not call
    ``super().setUpClass()`` gets its fixture here, before its first test, closed by a class cleanup
    as usual (unittest's suite runs class cleanups whatever ``setUpClass`` did)."""
    fixture: ClassFixture | None = owner.__dict__.get(FIXTURE_ATTRIBUTE)
    if fixture is not None and not fixture.closed:
        return fixture
    failed: BaseException | None = owner.__dict__.get(_LATE_OPEN_FAILED)
    if failed is not None:
        raise PGliteTestCaseError(
            f"{owner.__qualname__} has no database: setting it up before its first test failed ({failed}). "
            f"Its setUpClass does not call super().setUpClass(), so the database is set up with the first test."
        )
    owner.addClassCleanup(_forget_late_failure, owner)
    try:
        made: ClassFixture = getattr(owner, "_pglite_new_fixture")()
        owner.addClassCleanup(made.close)
        made.open()
    except BaseException as exc:
        setattr(owner, _LATE_OPEN_FAILED, exc)
        raise
    return made


_LATE_OPEN_FAILED = "_pglite_late_open_failed"


def _forget_late_failure(owner: type) -> None:
    if _LATE_OPEN_FAILED in owner.__dict__:
        delattr(owner, _LATE_OPEN_FAILED)


def shows_sql_on_failure(owner: type) -> bool:
    """Whether a failing test of ``owner`` reports its last statements (the fixture's setting; before a
    late fixture exists, the same setting read now; a bad value is refused by the fixture, not here)."""
    fixture: ClassFixture | None = owner.__dict__.get(FIXTURE_ATTRIBUTE)
    if fixture is not None and not fixture.closed:
        return fixture.settings.show_sql_on_failure
    try:
        return read_show_sql_on_failure(owner)
    except ConfigurationError:
        return False


def close_fixture_of(owner: type) -> None:
    fixture: ClassFixture | None = owner.__dict__.get(FIXTURE_ATTRIBUTE)
    if fixture is not None:
        fixture.close()


def _tracking(maker_class: type) -> type:
    return type(f"Tracking{maker_class.__name__}", (RemembersSessions, maker_class), {})


class ClassFixture:
    """Everything one test class holds. Made in ``setUpClass``, closed by a class cleanup.

    This is the sync classes' fixture; ``async_fixture.AsyncClassFixture`` changes what differs
    for async classes (the hooks below), nothing else."""

    is_async = False  # which drivers, strategies and session factories the class gets
    class_data_hook = "setUpTestData"
    factories_only_add = False  # async sessions cannot flush from a factory's sync call

    def __init__(self, owner: type[unittest.TestCase]) -> None:
        self.owner = owner
        self.closed = False
        self.settings: ClassSettings = read_class_settings(owner, is_async=self.is_async)
        self.lease: Lease | None = None
        self.strategy: TransactionIsolation | TruncateIsolation | None = None
        self.routing = Routing(self.settings.database_objects)
        self.routing.on_reroute = self._engine_routed
        settings = self.settings
        self.hints = ExtensionHints.on(
            owner.__qualname__, settings.extensions, settings.server_url, settings.backend, settings.backend_source
        )
        self._recorder: QueryRecorder | None = None  # the running test's statements (show_sql_on_failure)
        self.committed_class_data = False  # async classes: setUpTestData committed, the schema is rebuilt after
        self.maker_class = _tracking(sessionmaker_class(self.is_async))
        self._maker: Any = None
        self._maker_for: Any = None
        self.reach = Reach(self)  # what the code under test may reach (reach.py)
        self.announced_debug_url: str | None = None  # the debug connection printed for this class

    @property
    def database(self) -> TestDatabase:
        assert self.lease is not None, "open() first"
        return self.lease.database

    # -- the class's lifetime ----------------------------------------------------------

    def open(self) -> None:
        setattr(self.owner, FIXTURE_ATTRIBUTE, self)
        self.lease = self._provision()
        self._publish()
        if self.settings.isolation == "truncate" and self.has_class_data():
            refuse_class_data_when_truncating(self.owner, self.settings)
        self.strategy = STRATEGIES[self.settings.isolation, self.is_async](self)
        self.strategy.open()
        self.hints.listen(*self.strategy.engines)
        self.strategy_opened()
        self.reach.open()
        self.reach.begin_class_work()

    def close(self) -> None:
        """End of the class: nothing it made stays (idempotent; runs even after a failed setUpClass)."""
        if self.closed:
            return
        self.closed = True
        try:
            self.reach.close()
            unwrap_attributes(self.owner)
            self.routing.restore()
            if self.strategy is not None:
                self.strategy.close()
            if self.committed_class_data and self.lease is not None and self.database.is_alive():
                self.database.rebuild(self.settings.schema, self.settings.admin_driver)
        finally:
            self.hints.close()
            if self.lease is not None:
                self.lease.release()
            if self.owner.__dict__.get(FIXTURE_ATTRIBUTE) is self:
                delattr(self.owner, FIXTURE_ATTRIBUTE)

    def _publish(self) -> None:
        """What code may need to reach the database itself, on the class (``database_url``, ...)."""
        owner, database, driver = self.owner, self.database, self.settings.admin_driver
        url = database.url_for(driver)
        published = {
            "database": database,
            "database_url": url_text(url),
            "connect_args": database.connect_args_for(driver),
            "db_host": url.host or str(url.query.get("host")),
            "db_port": url.port,
            "db_user": url.username or "",
            "db_password": url.password or "",
            "db_name": url.database or "",
        }
        for name, value in published.items():
            setattr(owner, name, value)
        self._publish_debug_url()

    def _publish_debug_url(self) -> None:
        """``debug_url``, and the psql command line printed once (again if a new PGlite moved it)."""
        settings = self.settings
        url = debugging.debug_url(self.database, settings.isolation) if settings.debug_connection else None
        setattr(self.owner, "debug_url", url)
        if url is not None and url != self.announced_debug_url:
            self.announced_debug_url = url
            debugging.announce(self.owner, self.database, settings.isolation, url)

    def _provision(self) -> Lease:
        try:
            return provision(self.settings.request())
        except SchemaBuildError as error:
            self.hints.explain(error)  # an extension's function or type the schema uses, and which to add
            raise

    def recover(self) -> None:
        """After PGlite died: a new instance, the schema, new engines, the class's data again."""
        unwrap_attributes(self.owner)
        if self.strategy is not None:
            self.strategy.close()
        if self.lease is not None:
            self.lease.release()
        self.committed_class_data = False
        self.lease = self._provision()
        self._publish()
        self.strategy = STRATEGIES[self.settings.isolation, self.is_async](self)
        self.strategy.open()
        self.hints.listen(*self.strategy.engines)
        self.strategy_opened()

    def rebuild(self) -> None:
        """A test's writes escaped: the schema afresh, and the class data again."""
        self.database.rebuild(self.settings.schema, self.settings.admin_driver)
        self.class_data_lost()

    # -- what async classes do differently (async_fixture) ------------------------------

    def strategy_opened(self) -> None:
        """After the strategy opened (sync classes: the class data is made in its class transaction)."""

    def class_data_lost(self) -> None:
        """The schema was rebuilt: the class transaction is begun again, class data included."""
        if isinstance(self.strategy, TransactionIsolation):
            self.strategy.class_transaction_ok = False

    def default_session_class(self) -> type | None:
        """The session class when the class names none (None: the session factory's own)."""
        return None

    def hand_out_session(self, test: Any) -> None:
        """Sync classes make ``self.session`` on first use."""

    def check_alive(self, connection_broke: bool) -> None:
        """Raise, with PGlite's last words, if it died during the test."""
        if not self.database.is_alive(grace=2.0 if connection_broke else 0.0):
            raise PGliteStoppedError(self.database.death_notice())

    # -- sessions ----------------------------------------------------------------------

    def session_options(self) -> dict[str, Any]:
        """What every session the test case makes is made with (its class, the class's options)."""
        options = {**session_kwargs(), **self.settings.session_options}
        if self.settings.session_class is not None:
            options["class_"] = self.settings.session_class
        elif self.default_session_class() is not None:
            options["class_"] = self.default_session_class()
        return options

    def test_session(self, test: Any) -> Any:
        """``self.session``: on SQLAlchemy 2, joined to the test's connection itself (SQLAlchemy's
        recipe: no connection object of its own to check out, the cheapest session there is);
        sessions from ``self.sessionmaker`` each get one from the savepoint engine instead, so that
        several can be open at once."""
        maker = test.sessionmaker
        if SQLALCHEMY_2 and isinstance(self.strategy, TransactionIsolation):
            return maker(bind=test.__dict__["_pglite_test_connection"], join_transaction_mode="create_savepoint")
        return maker()

    def sessionmaker(self) -> Any:
        """The class's session factory, made once (a sessionmaker makes a Session subclass of its own,
        which is not cheap): its sessions join the running test's transaction (or, truncating, are
        plain ones), and it remembers them so that each test's end can close them."""
        assert self.strategy is not None
        if self._maker is None or self._maker_for is not self.strategy:
            # Sessions go through the savepoint engine (self.engine): each gets a connection object
            # of its own, so sessions open at the same time, and threads, keep their transactions
            # apart (see savepoints). With truncating, that engine is a plain one.
            self._maker = self.maker_class(bind=self.strategy.joined_engine, **self.session_options())
            self._maker_for = self.strategy
        return self._maker

    # -- class data (setUpTestData) ----------------------------------------------------

    def has_class_data(self) -> bool:
        """Whether the class overrides the class-data hook of its kind (the mixins' own do nothing)."""
        name = self.class_data_hook
        definer = next((klass for klass in self.owner.__mro__ if name in vars(klass)), None)
        return definer is not None and definer.__module__.rpartition(".")[0] != __package__

    def create_class_data(self, connection: Connection) -> None:
        """Run ``setUpTestData`` inside the class transaction (sync classes)."""
        owner = self.owner
        unwrap_attributes(owner)
        if not self.has_class_data():
            return
        refuse_class_data_when_truncating(owner, self.settings)
        assert isinstance(self.strategy, TransactionIsolation)
        self.hints.listen(*self.strategy.engines)  # during the strategy's open: its engines are made
        transaction = self.strategy.transaction
        maker = self.sessionmaker()
        session = maker(expire_on_commit=False)
        before = set(owner.__dict__)
        lend_class_objects(owner, session, connection)
        transaction.begin_test(connection.connection.driver_connection)
        try:
            with self.routing.routed(self.strategy.joined_engine, maker):
                getattr(owner, "setUpTestData")()
                for made in list(maker.sessions):
                    made.commit()
        finally:
            outcome = transaction.end_test(keep_queue=True)
            take_class_objects_back(owner)
            for made in list(maker.sessions):
                made.expunge_all()
                made.close()
            maker.sessions.clear()
        self.raise_for_class_data(outcome)
        wrap_new_attributes(owner, before, self.settings.shared_test_data)

    def raise_for_class_data(self, outcome: TestOutcome) -> None:
        problems = outcome.refused_commits + outcome.committed
        if problems or outcome.ended:
            raise PGliteTestCaseError(
                f"{self.owner.__qualname__}.setUpTestData ended the class's transaction "
                f"({', '.join(problems) or 'a ROLLBACK'}): class data lives in that transaction, and each test "
                f"is rolled back to it. Commit through cls.session (or the test case's engine and "
                f"sessionmaker), which stays inside it."
            )

    # -- one test -----------------------------------------------------------------------

    def bind_factories(self, test: Any, session: Any) -> None:
        settings = self.settings
        if settings.factories or settings.faker_seed is not None:
            test._pglite_factories = BoundFactories(
                settings.factories, session, settings.faker_seed, only_add=self.factories_only_add
            )

    def release_factories(self, test: Any) -> None:
        bound = test.__dict__.pop("_pglite_factories", None)
        if bound is not None:
            bound.release()

    def begin_test(self, test: Any) -> None:
        """Sync classes: the test's connection, engine and session factory, its transaction begun."""
        assert self.strategy is not None
        self.reach.end_class_work()
        if not self.database.is_alive():
            self.recover()  # an earlier test's PGlite died
        connection = self.strategy.begin_test()
        test.__dict__["_pglite_test_connection"] = connection
        if self.settings.show_sql_on_failure:
            self.start_recording(test)
        self._hand_out(test, connection)
        self.reach.test_begins(test)

    # -- the statements a failing test's report shows (show_sql_on_failure) ------------

    def start_recording(self, test: Any) -> None:
        """Keep the test's last statements: its connections', sessions', engines' and routed engines'."""
        assert self.strategy is not None
        recorder = self._recorder = test.__dict__[RECORDER_ATTRIBUTE] = new_recorder()
        recorder.listen(*self.strategy.engines)

    def stop_recording(self) -> None:
        """Before the test's end: the library's own clean-up is not the test's (what was kept stays on the test)."""
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            recorder.close()

    def _engine_routed(self, engine: Engine) -> None:
        """An application's engine was routed into the test (or the class data)."""
        self.hints.listen_routed(engine)
        if self._recorder is not None:
            self._recorder.listen(engine)

    def _hand_out(self, test: Any, connection: Any) -> None:
        assert self.strategy is not None
        test.connection = connection
        test.engine = self.strategy.joined_engine
        test.sessionmaker = self.sessionmaker()
        self.hand_out_session(test)
        self.routing.route(test.engine, test.sessionmaker)
        if self.settings.factories or self.settings.faker_seed is not None:
            session = test.session
            self.bind_factories(test, getattr(session, "sync_session", session))

    def end_test(self, test: Any) -> None:
        """Sync classes: close what the test opened, roll it back, fail it if it ended its transaction."""
        if self.settings.show_sql_on_failure:
            self.stop_recording()
        connection = test.__dict__.pop("_pglite_test_connection", None)
        if connection is None or self.strategy is None:
            return  # the test never began (its setUp failed before ours)
        self.release_factories(test)
        self.routing.restore()
        try:
            self.check_alive(connection.invalidated)
        except PGliteStoppedError:
            if not connection.closed:
                connection.invalidate()
            self.strategy.end_test(connection)
            raise
        try:
            for session in list(test.sessionmaker.sessions):
                session.close()
            test.sessionmaker.sessions.clear()
        finally:
            test.__dict__.pop("_pglite_session", None)
            outcome = self.strategy.end_test(connection)
            refusals = self.reach.test_ends()
            self.reach.begin_class_work()
        self._report(test, outcome, refusals)

    def _report(self, test: Any, outcome: TestOutcome, refusals: list[str] | None = None) -> None:
        message = self.failure(test, outcome)
        if message is None and refusals:
            message = refusals[0]  # the code under test swallowed the refusal: the test fails all the same
        if message is None:
            return
        if _failed_already(test):
            return  # the refused COMMIT raised in the test: one failure is enough
        test.fail(message)

    def failure(self, test: Any, outcome: TestOutcome) -> str | None:
        """What the test did to its transaction that makes it fail, or None."""
        if outcome.committed:
            return (
                f"{test.id()} committed the test's transaction ({'; '.join(outcome.committed)}), so its writes "
                f"were kept; pglite_testcase rebuilt the schema so that later tests start clean. Commit through "
                f"self.session, self.sessionmaker() or self.engine: their commits stay inside the test's "
                f"transaction."
            )
        if outcome.refused_commits:
            return (
                f"{test.id()} tried to commit the test's transaction ({'; '.join(outcome.refused_commits)}). "
                f"pglite_testcase refused it, and nothing was committed: each test runs in a transaction that "
                f"is rolled back. Commit through self.session, self.sessionmaker() or self.engine, whose commits "
                f"stay inside it; code that must really commit needs isolation = 'truncate'."
            )
        return None


def lend_class_objects(owner: type, session: Any, connection: Any) -> None:
    """``cls.session`` and ``cls.connection`` for the class-data hook, only while it runs."""
    setattr(owner, "session", session)
    setattr(owner, "connection", connection)


def take_class_objects_back(owner: type) -> None:
    delattr(owner, "session")
    delattr(owner, "connection")


def _failed_already(test: Any) -> bool:
    """Whether the running test has an error or failure recorded already (when the result says)."""
    outcome = getattr(test, "_outcome", None)
    result = getattr(outcome, "result", None)
    recorded = list(getattr(result, "errors", [])) + list(getattr(result, "failures", []))
    if any(failed is test for failed, _ in recorded):
        return True
    # Python 3.10 keeps the running test's errors on its outcome until the test ends.
    return any(failed is test and exc_info is not None for failed, exc_info in getattr(outcome, "errors", []))


__all__ = ["ClassFixture", "fixture_for_test", "fixture_of", "shows_sql_on_failure"]
