"""The public test case classes for synchronous code."""

from __future__ import annotations

import unittest
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import URL, Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from . import helpers
from .database import PGliteDatabase, TestDatabase, prestart_shared_database, shared_database, use_tcp
from .errors import PGliteStoppedError
from .factories import BoundFactories
from .isolation import (
    OUTER_COMMIT_MESSAGE,
    CommitWatch,
    RemembersSessions,
    TestTransactionJoin,
    joined_engine_options,
    reset_sequences,
    restore_sequences,
    sequence_positions,
)
from .queries import Query, capture_queries, expect_num_queries
from .server_database import server_database
from .settings import ClassSettings, read_class_settings, refuse_class_data_when_truncating
from .test_data import unwrap_attributes, wrap_new_attributes

if TYPE_CHECKING:
    from alembic.config import Config

CLASS_SAVEPOINT = "pglite_testcase_class_data"


class _TrackingSessionmaker(RemembersSessions, sessionmaker[Session]):
    pass


class PGliteDatabaseMixin:
    """What the sync and async mixins share: class attributes and the database's life per class."""

    metadata: ClassVar[Any] = None
    alembic_config: ClassVar[str | Config | None] = None
    alembic_revision: ClassVar[str] = "head"
    reset_sequences: ClassVar[bool] = False
    pglite_isolated: ClassVar[bool] = False
    isolation: ClassVar[str] = "transaction"
    """``"transaction"``: each test in a rolled-back transaction. ``"truncate"``: tests commit for
    real and every table is emptied after each test (for code that needs its own connections)."""
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
    session_options: ClassVar[dict[str, Any]] = {}
    """Extra options for ``self.session`` and ``self.sessionmaker``, e.g. ``{"expire_on_commit": False}``."""

    database_url: ClassVar[str]
    """SQLAlchemy URL (psycopg driver, password included) of the running test database."""
    database: ClassVar[TestDatabase]
    connect_args: ClassVar[dict[str, Any]]
    """What an engine of your own must pass: ``create_engine(url, connect_args=cls.connect_args)``."""
    db_host: ClassVar[str | None]
    """Host name, or for a Unix socket its directory."""
    db_port: ClassVar[int | None]
    db_user: ClassVar[str]
    db_password: ClassVar[str]
    db_name: ClassVar[str]

    _pglite_settings: ClassVar[ClassSettings]
    _pglite_owns_database: ClassVar[bool]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A test class being defined means a test run is coming: start PGlite now,
        # in the background, while the other test modules are imported.
        if not cls.__module__.startswith("pglite_testcase") and getattr(cls, "pglite_isolated", False) is False:
            prestart_shared_database()

    @classmethod
    def _start_database(cls) -> None:
        cls._pglite_settings = read_class_settings(cls)
        fingerprint = cls._pglite_settings.schema.fingerprint
        extensions = frozenset(cls._pglite_settings.extensions)
        if cls._pglite_settings.server_url is not None:
            cls.database = server_database(cls._pglite_settings.server_url, cls._pglite_settings.schema)
            cls._pglite_owns_database = False
        elif cls._pglite_settings.pglite_isolated:
            cls.database = PGliteDatabase.start(fingerprint, use_tcp=use_tcp(), extensions=extensions)
            cls._pglite_owns_database = True
        else:
            cls.database = shared_database(fingerprint, extensions)
            cls._pglite_owns_database = False
        try:
            cls.database.ensure_schema(cls._pglite_settings.schema)
            cls.database.set_statement_timeout(cls._pglite_settings.statement_timeout)
        except BaseException:
            cls._stop_database()
            raise
        url: URL = cls.database.url
        cls.database_url = url.render_as_string(hide_password=False)
        cls.connect_args = cls.database.connect_args
        cls.db_host = url.host or str(url.query.get("host"))
        cls.db_port = url.port
        cls.db_user = url.username or ""
        cls.db_password = url.password or ""
        cls.db_name = url.database or ""

    @classmethod
    def _check_database_alive(cls) -> None:
        """Raise, with PGlite's last words, if it died during the test."""
        connection = cls.__dict__.get("_pglite_connection")
        # A connection SQLAlchemy saw break may mean node is dying right now: let it finish.
        broken = connection is not None and connection.invalidated
        if not cls.database.is_alive(grace=2.0 if broken else 0.0):
            if connection is not None and not connection.closed:
                connection.invalidate()
            raise PGliteStoppedError(cls.database.death_notice())

    @classmethod
    def _stop_database(cls) -> None:
        if cls.__dict__.get("_pglite_owns_database"):
            cls.database.stop()
        for name in ("database", "_pglite_owns_database"):
            if name in cls.__dict__:
                delattr(cls, name)

    @classmethod
    def _rebuild_schema(cls) -> None:
        """Start the schema afresh after a test's writes escaped its transaction."""
        cls.database.rebuild(cls._pglite_settings.schema)


class PGliteMixin(PGliteDatabaseMixin):
    """Mix into a ``unittest.TestCase``: PGlite, a schema, and a rolled-back transaction per test.

    Per test: ``self.connection`` (in the test's outer transaction),
    ``self.session`` and ``self.sessionmaker`` (sessions that join it with
    savepoints), and ``self.engine`` (an engine whose connections are the
    test's, commits becoming savepoint releases).
    """

    connection: Connection
    sessionmaker: sessionmaker[Session]
    engine: Engine

    _pglite_class_engine: ClassVar[Engine]
    _pglite_connection: ClassVar[Connection]
    _pglite_sessionmaker: ClassVar[_TrackingSessionmaker]
    _pglite_join: ClassVar[TestTransactionJoin]
    _pglite_joined_engine: ClassVar[Engine]
    _pglite_commit_watch: ClassVar[CommitWatch]
    _pglite_sequences: ClassVar[list[tuple[str, int, bool]] | None]
    _pglite_plain_engine: ClassVar[Engine]

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()  # type: ignore[misc]
        try:
            cls._start_database()
            cls._create_class_engines()
            cls._create_test_data()
        except BaseException:
            cls._release_class_connection()
            cls._stop_database()
            super().tearDownClass()  # type: ignore[misc]
            raise

    @classmethod
    def _create_class_engines(cls) -> None:
        if cls._pglite_settings.isolation == "truncate":
            cls._pglite_plain_engine = cls.database.create_engine()
            cls._pglite_sessionmaker = _TrackingSessionmaker(
                bind=cls._pglite_plain_engine, **cls._pglite_settings.session_options
            )
            return
        cls._pglite_join = TestTransactionJoin()
        # One connection serves the class's tests, one test at a time; the test
        # case ends each transaction itself, so the pool need not reset it.
        cls._pglite_class_engine = cls.database.create_engine(
            pool_size=1, max_overflow=0, pool_timeout=5, pool_reset_on_return=None
        )
        cls._pglite_join.install_on_test_engine(cls._pglite_class_engine)
        cls._pglite_commit_watch = CommitWatch()
        event.listen(cls._pglite_class_engine, "commit", cls._pglite_commit_watch)
        cls._pglite_joined_engine = create_engine(cls.database.url, **joined_engine_options(cls._pglite_join))
        cls._pglite_join.install(cls._pglite_joined_engine)
        cls._connect_class()

    @classmethod
    def _recover(cls) -> None:
        """After PGlite died: a new instance, the schema, new engines, the class's test data again."""
        cls._release_class_connection()
        cls._stop_database()
        cls._start_database()
        cls._create_class_engines()
        unwrap_attributes(cls)
        cls._create_test_data()

    @classmethod
    def setUpTestData(cls) -> None:
        """Override to create data once for the whole class (Django's ``setUpTestData``).

        Inside it, ``cls.session`` and ``cls.connection`` reach the database.
        What it stores on the class (``cls.author = Author(...)``) each test
        reads as its own copy (see ``test_data``); the rows are there in every
        test, each test's changes are rolled back to them, and none remain
        after the class.
        """

    @classmethod
    def _create_test_data(cls) -> None:
        cls._pglite_sequences = None
        if getattr(cls.setUpTestData, "__func__", None) is getattr(PGliteMixin.setUpTestData, "__func__", None):
            return
        refuse_class_data_when_truncating(cls)
        connection = cls._pglite_connection
        if not connection.in_transaction():
            connection.begin()  # the class's transaction: it holds the data until tearDownClass
        session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
        before = set(cls.__dict__)
        cls.session, cls.connection = session, connection  # type: ignore[assignment]
        cls._pglite_join.begin_test(connection.connection.dbapi_connection)
        try:
            cls.setUpTestData()
            session.commit()
            # The tests run inside a savepoint of the class's transaction, which holds the data.
            connection.exec_driver_sql(f"SAVEPOINT {CLASS_SAVEPOINT}")
        finally:
            cls._pglite_join.end_test()
            del cls.session, cls.connection
            session.expunge_all()
            session.close()
        wrap_new_attributes(cls, before)
        cls._pglite_join.class_savepoint = CLASS_SAVEPOINT
        cls._pglite_sequences = sequence_positions(connection) if cls._pglite_settings.reset_sequences else None

    @classmethod
    def tearDownClass(cls) -> None:
        try:
            unwrap_attributes(cls)
            cls._release_class_connection()
            cls._stop_database()
        finally:
            super().tearDownClass()  # type: ignore[misc]

    @classmethod
    def _connect_class(cls) -> None:
        cls._pglite_connection = cls._pglite_class_engine.connect()
        cls._pglite_sessionmaker = _TrackingSessionmaker(
            bind=cls._pglite_connection,
            join_transaction_mode="create_savepoint",
            **cls._pglite_settings.session_options,
        )

    @classmethod
    def _rebuild_schema(cls) -> None:
        # The class's connection would stand in the way (its transaction on PGlite;
        # on a server, the database is dropped and made again): reconnect after.
        cls._release_class_connection(keep_engines=True)
        super()._rebuild_schema()
        cls._connect_class()
        cls._pglite_join.class_savepoint = None
        unwrap_attributes(cls)
        cls._create_test_data()

    @classmethod
    def _release_class_connection(cls, keep_engines: bool = False) -> None:
        connection = cls.__dict__.get("_pglite_connection")
        if connection is not None and not connection.closed and not connection.invalidated:
            if cls.database.is_alive():
                # The last test's rollback is still queued (and began the next transaction): end it.
                cls._pglite_join.forget_queue()
                TestTransactionJoin.end_transaction(connection.connection.dbapi_connection)
                connection.close()
            else:
                connection.invalidate()
        for name in ("_pglite_joined_engine", "_pglite_class_engine", "_pglite_plain_engine"):
            engine = cls.__dict__.get(name)
            if engine is not None:
                engine.dispose()
        names = ["_pglite_connection", "_pglite_sessionmaker"]
        if not keep_engines:
            names += ["_pglite_joined_engine", "_pglite_class_engine", "_pglite_plain_engine"]
        for name in names:
            if name in cls.__dict__:
                delattr(cls, name)

    @property
    def session(self) -> Session:
        """The test's ``Session``, made on first use."""
        session: Session | None = self.__dict__.get("_pglite_session")
        if session is None:
            session = self.__dict__["_pglite_session"] = self.sessionmaker()
        return session

    @session.setter
    def session(self, session: Session) -> None:
        self.__dict__["_pglite_session"] = session

    # -- conveniences --------------------------------------------------------------------

    def captureQueries(self) -> AbstractContextManager[list[Query]]:
        """``with self.captureQueries() as queries:`` collects the SQL the block runs."""
        cls = type(self)
        return capture_queries(cls._pglite_class_engine, cls._pglite_joined_engine)

    def assertNumQueries(self, number: int) -> AbstractContextManager[list[Query]]:
        """Fail, listing the statements, unless the block runs exactly ``number`` of them."""
        cls = type(self)
        return expect_num_queries(number, (cls._pglite_class_engine, cls._pglite_joined_engine), self.fail)  # type: ignore[attr-defined]

    def rowCounts(self, exclude: Iterable[str] = helpers.DEFAULT_EXCLUDE) -> dict[str, int]:
        return helpers.row_counts(self.connection, exclude)

    def assertDatabaseEmpty(self, exclude: Iterable[str] = helpers.DEFAULT_EXCLUDE) -> None:
        helpers.assert_database_empty(self.connection, exclude)

    def deleteAllData(self, exclude: Iterable[str] = helpers.DEFAULT_EXCLUDE) -> None:
        helpers.delete_all_data(self.connection, exclude)

    def restartSequences(self) -> None:
        helpers.restart_sequences(self.connection)

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        cls = type(self)
        if not cls.database.is_alive():
            cls._recover()  # an earlier test's PGlite died
        if cls._pglite_settings.isolation == "truncate":
            self._begin_truncated_test()
            return
        if cls._pglite_connection.closed or cls._pglite_connection.invalidated:
            cls._connect_class()  # an earlier test closed it
        self.connection = cls._pglite_connection
        try:
            if not self.connection.in_transaction():
                self.connection.begin()
            if cls._pglite_sequences is not None:
                restore_sequences(self.connection, cls._pglite_sequences)
            elif cls._pglite_settings.reset_sequences:
                reset_sequences(self.connection)
            cls._pglite_join.begin_test(self.connection.connection.dbapi_connection)
            self.engine = cls._pglite_joined_engine
            self.sessionmaker = cls._pglite_sessionmaker
            self._bind_factories()
        except BaseException:
            self._end_test_transaction()
            super().tearDown()  # type: ignore[misc]
            raise

    def _begin_truncated_test(self) -> None:
        # isolation = "truncate": nothing wraps the test; what it commits is committed,
        # and tearDown empties every table.
        cls = type(self)
        self.engine = cls._pglite_plain_engine
        self.sessionmaker = cls._pglite_sessionmaker
        self.connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self._bind_factories()

    def _end_truncated_test(self) -> None:
        maker = type(self)._pglite_sessionmaker
        for session in list(maker.sessions):
            session.close()
        maker.sessions.clear()
        self.__dict__.pop("_pglite_session", None)
        self.connection.close()
        with self.engine.begin() as connection:
            helpers.delete_all_data(connection)

    def _bind_factories(self) -> None:
        settings = type(self)._pglite_settings
        if settings.factories or settings.faker_seed is not None:
            self._pglite_factories = BoundFactories(settings.factories, self.session, settings.faker_seed)

    def tearDown(self) -> None:
        bound = self.__dict__.pop("_pglite_factories", None)
        if bound is not None:
            bound.release()
        try:
            type(self)._check_database_alive()
            if type(self)._pglite_settings.isolation == "truncate":
                self._end_truncated_test()
                return
            self._end_test_transaction()
            if type(self)._pglite_commit_watch.take():
                type(self)._rebuild_schema()
                self.fail(OUTER_COMMIT_MESSAGE.format(test=self.id()))  # type: ignore[attr-defined]
        finally:
            super().tearDown()  # type: ignore[misc]

    def _end_test_transaction(self) -> None:
        cls = type(self)
        cls._pglite_join.end_test()
        maker = cls._pglite_sessionmaker
        for session in list(maker.sessions):
            session.close()
        maker.sessions.clear()
        self.__dict__.pop("_pglite_session", None)
        connection = self.connection
        if not connection.closed and connection.in_transaction():
            connection.rollback()


class PGliteTestCase(PGliteMixin, unittest.TestCase):
    """A ``unittest.TestCase`` with PGlite, a schema, and a rolled-back transaction per test."""


__all__ = ["PGliteMixin", "PGliteTestCase"]
