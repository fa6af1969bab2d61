"""The public test case classes for synchronous code: thin adapters over ``fixture.ClassFixture``."""

from __future__ import annotations

import unittest
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, cast

from ..errors import BaseOrderError
from . import helpers
from .failure_reports import StatementsOnFailure
from .queries import Query, capture_queries, expect_num_queries

# The class fixture (and with it the database, isolation and driver modules) is imported when a
# class is set up, not with this module: a test module then loads without them, and a PGlite
# started when its class was defined boots while they load.
if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.orm import Session, sessionmaker

    from ..database.pglite import TestDatabase
    from .fixture import ClassFixture

    class _TestCase(unittest.TestCase):
        """What the mixins are mixed into, as the type checker sees them (``object`` when running)."""

        def _callSetUp(self) -> None: ...
else:
    _TestCase = object


class PGliteDatabaseMixin(_TestCase):
    """The class attributes the sync and async mixins share, and what they publish after ``setUpClass``."""

    metadata: ClassVar[Any] = None
    alembic_config: ClassVar[str | Config | None] = None
    alembic_revision: ClassVar[str] = "head"
    reset_sequences: ClassVar[bool] = False
    pglite_isolated: ClassVar[bool] = False
    backend: ClassVar[str | None] = None
    """``"pglite"`` (PGlite, the default) or ``"postgres"`` (the package's own PostgreSQL server, from the
    ``[postgres]`` extra); None: ``PGLITE_TESTCASE_BACKEND``, else ``"pglite"``."""
    isolation: ClassVar[str] = "transaction"
    """``"transaction"``: each test in a rolled-back transaction. ``"truncate"``: tests commit for
    real and the tables are emptied after each test (for code that needs its own connections)."""
    factories: ClassVar[Sequence[Any]] = ()
    """Factory Boy ``SQLAlchemyModelFactory`` classes to bind to each test's session."""
    faker_seed: ClassVar[int | None] = None
    """Reseed Factory Boy's and Faker's random generators with this before every test."""
    extensions: ClassVar[Sequence[str]] = ()
    """PostgreSQL extensions to load and create, e.g. ``["pgvector", "pg_trgm", "uuid-ossp"]``."""
    statement_timeout: ClassVar[float | None] = 30.0
    """Seconds one statement may run before the test fails (None: no limit). PGlite cannot cancel a
    statement, so on PGlite the instance is stopped and the next test gets a new one."""
    server_url: ClassVar[str | None] = None
    """A real PostgreSQL server for this class instead of PGlite (see ``PGLITE_TESTCASE_DATABASE_URL``)."""
    connect_timeout: ClassVar[float | None] = None
    """Seconds the first contact with the server may wait for an answer; None: ``PGLITE_TESTCASE_CONNECT_TIMEOUT``,
    else 10."""
    allowed_databases: ClassVar[Sequence[str]] = ()
    """URLs (or prefixes such as ``"sqlite://"``) of databases other than the test database that the code
    under test may reach during a test; any other is refused (see ``reach``)."""
    session_options: ClassVar[dict[str, Any]] = {}
    """Extra options for every session the test case makes, e.g. ``{"expire_on_commit": False}``."""
    session_class: ClassVar[type | None] = None
    """The Session class of every session the test case makes (e.g. ``sqlmodel.Session``)."""
    database_objects: ClassVar[Sequence[str]] = ()
    """Dotted paths of the application's module-level engines, session factories, scoped sessions or
    Flask-SQLAlchemy ``db``, routed into each test's transaction (see ``routing``)."""
    shared_test_data: ClassVar[Iterable[str]] = ()
    """Names of ``setUpTestData`` attributes every test reads as they are, not as its own copy."""
    debug_connection: ClassVar[bool | None] = None
    """True: ``debug_url`` is set and a ``psql`` command line printed, to look inside a test paused at a
    breakpoint (see ``testcase.debugging``); None follows ``PGLITE_TESTCASE_DEBUG``."""
    show_sql_on_failure: ClassVar[bool | None] = None
    """True: a failing test's report ends with the last SQL statements it ran (see ``failure_reports``);
    None follows ``PGLITE_TESTCASE_SHOW_SQL`` (off unless it is 1)."""

    database: ClassVar[TestDatabase]
    database_url: ClassVar[str]
    """SQLAlchemy URL (password included) of the running test database."""
    connect_args: ClassVar[dict[str, Any]]
    """What an engine of your own must pass: ``create_engine(url, connect_args=cls.connect_args)``."""
    db_host: ClassVar[str | None]
    """Host name, or for a Unix socket its directory."""
    db_port: ClassVar[int | None]
    db_user: ClassVar[str]
    db_password: ClassVar[str]
    db_name: ClassVar[str]
    debug_url: ClassVar[str | None]
    """With ``debug_connection``: the libpq URL (psql) of a connection that looks inside the running test."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _refuse_test_case_before_mixin(cls)
        # A test class being defined means a test run is coming: start PGlite now, in the
        # background, while the other test modules are imported (not for a real server).
        if not cls.__module__.startswith("pglite_testcase") and not (
            getattr(cls, "server_url", None)
            or getattr(cls, "pglite_isolated", False) is not False
            or getattr(cls, "backend", None) not in (None, "pglite")
        ):
            from ..database.provision import REGISTRY

            REGISTRY.prestart()

    @classmethod
    def _pglite_new_fixture(cls) -> ClassFixture:
        """A new fixture for this class (the async classes' differs)."""
        from .fixture import ClassFixture

        return ClassFixture(cls)

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        fixture = cls._pglite_new_fixture()
        cls.addClassCleanup(fixture.close)
        fixture.open()

    def run(self, result: unittest.TestResult | None = None) -> unittest.TestResult | None:
        from .fixture import shows_sql_on_failure

        if result is not None and shows_sql_on_failure(type(self)):
            # What this test records as a failure or an error ends with its last statements.
            super().run(cast("unittest.TestResult", StatementsOnFailure(result, self)))  # it passes as the result
            return result
        return super().run(result)

    @classmethod
    def tearDownClass(cls) -> None:
        from .fixture import close_fixture_of

        # The class cleanup closes the fixture too (when tearDownClass is overridden without
        # super(), or setUpClass failed); closing here serves code that calls this by hand.
        try:
            super().tearDownClass()
        finally:
            close_fixture_of(cls)

    def captureQueries(self) -> AbstractContextManager[list[Query]]:
        """``with self.captureQueries() as queries:`` collects the SQL the block runs."""
        return capture_queries(*_engines(self))

    def assertNumQueries(self, number: int) -> AbstractContextManager[list[Query]]:
        """Fail, listing the statements, unless the block runs exactly ``number`` of them."""
        return expect_num_queries(number, _engines(self), self.fail)

    @classmethod
    @contextmanager
    def alembic_environment(cls, url: str) -> Iterator[None]:
        """Override to point an ``env.py`` that reads its own settings at the test database ``url``.

        While the migrations build the class's schema, the library offers
        ``url`` as ``sqlalchemy.url`` and an open connection as
        ``config.attributes["connection"]``. An ``env.py`` that takes its URL
        from the application's settings instead needs those settings pointed at
        ``url`` for the duration, e.g.::

            @classmethod
            @contextmanager
            def alembic_environment(cls, url):
                with mock.patch.dict(os.environ, {"DATABASE_URL": url}):
                    yield
        """
        yield


def _refuse_test_case_before_mixin(cls: type) -> None:
    """``class T(unittest.TestCase, PGliteMixin)``: TestCase's setUpClass and setUp do not call
    super(), so the mixin's would never run. Refused when the class is made."""
    mro = cls.__mro__
    if unittest.TestCase not in mro or mro.index(unittest.TestCase) > mro.index(PGliteDatabaseMixin):
        return
    mixin = next(base for base in cls.__bases__ if issubclass(base, PGliteDatabaseMixin))
    case = next(base for base in cls.__bases__ if issubclass(base, unittest.TestCase))
    case_name = f"unittest.{case.__name__}" if case.__module__.startswith("unittest") else case.__name__
    raise BaseOrderError(
        f"{cls.__qualname__} lists {case_name} before {mixin.__name__} in its bases, so unittest's setUpClass "
        f"and setUp would run instead of the mixin's and its tests would get no database: put "
        f"{mixin.__name__} before {case_name} in {cls.__name__}'s bases."
    )


class PGliteMixin(PGliteDatabaseMixin):
    """Mix into a ``unittest.TestCase``: PGlite, a schema, and a rolled-back transaction per test.

    Per test: ``self.connection`` (in the test's transaction),
    ``self.session`` and ``self.sessionmaker`` (sessions that join it with
    savepoints), and ``self.engine`` (an engine whose connections are the
    test's, commits becoming savepoint releases).
    """

    driver: ClassVar[str | None] = None
    """``"psycopg"`` (psycopg 3) or ``"psycopg2"``; None follows ``PGLITE_TESTCASE_DRIVER``, then the
    server URL's scheme, then the default (psycopg 3 on SQLAlchemy 2, psycopg2 on 1.4)."""

    connection: Connection
    sessionmaker: sessionmaker[Session]
    engine: Engine

    @classmethod
    def setUpTestData(cls) -> None:
        """Override to create data once for the whole class (Django's ``setUpTestData``).

        Inside it, ``cls.session`` and ``cls.connection`` reach the database.
        What it stores on the class (``cls.author = Author(...)``) each test
        reads as its own copy (see ``class_data``); the rows are there in every
        test, each test's changes are rolled back to them, and none remain
        after the class.
        """

    def _callSetUp(self) -> None:
        # Django's way: the test's transaction begins before setUp runs, so that a setUp that does
        # not call super().setUp() (or uses the database before calling it) still gets it.
        self._pglite_begin_test()
        super()._callSetUp()

    def setUp(self) -> None:
        super().setUp()
        self._pglite_begin_test()  # begun already when unittest's run() called setUp

    def _pglite_begin_test(self) -> None:
        if "_pglite_test_connection" in self.__dict__:
            return
        from .fixture import fixture_for_test

        fixture = fixture_for_test(type(self))
        self.addCleanup(fixture.end_test, self)
        fixture.begin_test(self)

    @property
    def session(self) -> Session:
        """The test's ``Session``, made on first use."""
        session: Session | None = self.__dict__.get("_pglite_session")
        if session is None:
            from .fixture import fixture_of

            session = self.__dict__["_pglite_session"] = fixture_of(type(self)).test_session(self)
        return session

    @session.setter
    def session(self, session: Session) -> None:
        self.__dict__["_pglite_session"] = session

    # -- conveniences --------------------------------------------------------------------

    def rowCounts(self, exclude: Iterable[str] = helpers.DEFAULT_EXCLUDE) -> dict[str, int]:
        return helpers.row_counts(self.connection, exclude)

    def assertDatabaseEmpty(self, exclude: Iterable[str] = helpers.DEFAULT_EXCLUDE) -> None:
        helpers.assert_database_empty(self.connection, exclude)

    def deleteAllData(self, exclude: Iterable[str] = helpers.DEFAULT_EXCLUDE) -> None:
        helpers.delete_all_data(self.connection, exclude)

    def restartSequences(self) -> None:
        helpers.restart_sequences(self.connection)


def _engines(test: Any) -> tuple[Engine, ...]:
    from .fixture import fixture_of

    strategy = fixture_of(type(test)).strategy
    assert strategy is not None
    return strategy.engines


class PGliteTestCase(PGliteMixin, unittest.TestCase):
    """A ``unittest.TestCase`` with PGlite, a schema, and a rolled-back transaction per test."""


__all__ = ["PGliteDatabaseMixin", "PGliteMixin", "PGliteTestCase"]
