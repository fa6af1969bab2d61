"""The running test's transaction, as the engines and sessions that join it see it.

Each test runs inside a transaction on one DBAPI connection. Code under
test reaches it through objects that join that transaction:

- sessions bound to the test connection with
  ``join_transaction_mode="create_savepoint"`` (SQLAlchemy's "joining a
  Session into an external transaction" recipe), and
- an engine (``self.engine``) whose connections are the test connection
  itself, with the transaction calls of its dialect turned into savepoint
  calls: ``begin`` becomes ``SAVEPOINT``, ``commit`` ``RELEASE SAVEPOINT``,
  ``rollback`` ``ROLLBACK TO SAVEPOINT``, and ``close`` leaves the connection open.

Savepoint statements cost no round trip of their own: they wait in a queue
and travel with the next statement that reaches the database (how they
travel is the driver's business, see ``drivers``). The end of a test is
queued the same way. Everything that can reach the connection flushes the
queue first, so nothing ever runs out of order.

The savepoint dialect works on the DBAPI connection SQLAlchemy holds, which
offers the same blocking interface in sync and asyncio engines (the asyncio
adapters run inside SQLAlchemy's greenlet), so one implementation serves both.
"""

from __future__ import annotations

import itertools
import re
import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import Dialect

from ..errors import PGliteTestCaseError
from .commit_guard import ARM_SQL, refused_statement
from .savepoints import CONNECTION, ConcurrentUseError, SavepointStack


def _psycopg_dialect_notice_handler() -> Callable[[Any], Any] | None:
    """The notice handler SQLAlchemy's psycopg dialect adds, if that dialect is loaded (if it is not,
    no connection has the handler; SQLAlchemy 1.4 has neither). Not imported here: the dialect
    package loads every PostgreSQL dialect, which a class on another driver never needs."""
    handler: Callable[[Any], Any] | None = getattr(
        sys.modules.get("sqlalchemy.dialects.postgresql.psycopg"), "_log_notices", None
    )
    return handler


CLASS_SAVEPOINT = "pglite_testcase_class"

_savepoint_names = (f"pglite_testcase_{n}" for n in itertools.count(1))

# Session state that a rollback to the class savepoint does not undo, the statement that
# reveals it, and what puts it back. (SET, SET ROLE, LISTEN and WITH HOLD cursors are
# undone by the rollback itself.)
_SESSION_STATE = {
    "advisory locks": (re.compile(r"pg_(?:try_)?advisory_lock", re.I), "SELECT pg_advisory_unlock_all()"),
    "prepared statements": (re.compile(r"\bprepare\b", re.I), "DEALLOCATE ALL"),
    # (to the connecting user by name: PGlite keeps the test's role on RESET and on DEFAULT)
    "session authorization": (re.compile(r"session\s+authorization", re.I), "SET SESSION AUTHORIZATION {user}"),
}
_ENDS_TRANSACTION = re.compile(
    r"^\s*(?:(?P<commit>commit|end)\b|(?P<rollback>rollback|abort)\b(?!\s+(?:transaction\s+|work\s+)?to\b))",
    re.I,
)


@dataclass
class TestOutcome:
    """What happened to the test's transaction, learnt without asking the database."""

    refused_commits: list[str] = field(default_factory=list)  # COMMITs the guard refused (nothing escaped)
    committed: list[str] = field(default_factory=list)  # COMMITs that went through: data escaped
    ended: bool = False  # the transaction ended (rolled back or refused): the class's must be made again


class TestTransaction:
    """The test's transaction on one DBAPI connection: its queue, its savepoints, what ended it.

    ``generation`` changes whenever a test starts or ends, so a connection
    left open by one test (and closed later by the garbage collector) never
    touches the next test's transaction.
    """

    def __init__(self, on_cancel: Callable[[], None] | None = None) -> None:
        self.generation = 0
        self.on_cancel = on_cancel
        self._driver_connection: Any = None
        self.test_thread: int | None = None
        self.pending: list[str] = []  # this test's savepoint statements: dropped when it ends
        self.after_test: list[str] = []  # the last test's end: always sent, first
        self.class_savepoint: str | None = None
        # Nothing has run since the class's savepoint was made or went back to (queued or not).
        self.at_class_savepoint = False
        self.lock = threading.RLock()  # one statement at a time on the wire, queue included
        self._turn = threading.Lock()  # one transaction at a time for threads other than the test's
        self.savepoints = SavepointStack(self.queue, self._turn.release, self._unchanged_since_class_savepoint)
        self._connections: weakref.WeakKeyDictionary[Any, tuple[int, str]] = weakref.WeakKeyDictionary()
        self.turn_timeout = 30.0
        self.guarded = False  # whether each transaction carries the commit guard (see guard.py)
        self.session_user = (
            "postgres"  # who the connection logs in as: what a test's SET SESSION AUTHORIZATION undoes to
        )
        self._state: set[str] = set()
        self.outcome = TestOutcome()

    # -- the test's lifetime -----------------------------------------------------------

    def begin_test(self, driver_connection: Any) -> None:
        self.generation += 1
        self._driver_connection = driver_connection
        self.test_thread = threading.get_ident()
        self.outcome = TestOutcome()
        self._state.clear()
        self.savepoints.clear()

    def end_test(self, *, keep_queue: bool = False) -> TestOutcome:
        """Forget the test's queued savepoints (its rollback discards them); say what became of it.

        ``keep_queue``: the transaction goes on (class data), so its savepoint statements must still be sent.
        """
        self.generation += 1
        self._driver_connection = None
        self.test_thread = None
        if not keep_queue:
            self.pending.clear()
        self.savepoints.clear()
        return self.outcome

    def queue_class_rollback(self) -> None:
        """End the test: back to the class's savepoint, and undo what a rollback leaves behind."""
        assert self.class_savepoint is not None
        user = '"' + self.session_user.replace('"', '""') + '"'
        resets = [reset.format(user=user) for name, (_, reset) in _SESSION_STATE.items() if name in self._state]
        self.after_test = [f"ROLLBACK TO SAVEPOINT {self.class_savepoint}", *resets]
        self.pending.clear()
        self.at_class_savepoint = True

    def _unchanged_since_class_savepoint(self) -> str | None:
        if self.at_class_savepoint and not self.pending and self._driver_connection is not None:
            return self.class_savepoint
        return None

    def current_driver_connection(self) -> Any:
        if self._driver_connection is None:
            raise PGliteTestCaseError(
                "self.engine can be used only while a test runs (between setUp and tearDown, or in "
                "setUpTestData); it hands out the test's own connection."
            )
        return self._driver_connection

    # -- the queue -----------------------------------------------------------------------

    def take_queue(self) -> list[str]:
        """The queued statements, taken by a driver to send before the statement it is about to run."""
        self.at_class_savepoint = False
        statements = self.after_test + self.pending
        self.after_test, self.pending = [], []
        return statements

    def forget_queue(self) -> None:
        """The connection is rolled back for good: nothing queued matters any more."""
        self.at_class_savepoint = False
        self.after_test, self.pending = [], []

    def queue(self, sql: str) -> None:
        if self._driver_connection is not None:
            self.pending.append(sql)

    # -- what drivers report -------------------------------------------------------------

    def saw_statement(self, statement: str) -> str | None:
        """Note session state the statement may leave; return 'commit'/'rollback' if it ends the transaction."""
        for name, (pattern, _) in _SESSION_STATE.items():
            if name not in self._state and pattern.search(statement):
                self._state.add(name)
        match = _ENDS_TRANSACTION.match(statement)
        if match is None:
            return None
        return "commit" if match.group("commit") else "rollback"

    def observe(self, statement: str, run: Callable[[], Any]) -> Any:
        """Run a statement on the test connection, noting whether it ended the test's transaction."""
        ends = self.saw_statement(statement) if statement else None
        try:
            result = run()
        except BaseException:
            if ends is not None:
                self.transaction_ended("rollback", statement.strip())
            raise
        if ends is not None:
            self.transaction_ended("committed" if ends == "commit" else "rollback", statement.strip())
        return result

    def transaction_ended(self, how: str, what: str) -> None:
        """The test's transaction ended: ``how`` is 'rollback', 'refused' or 'committed'."""
        if self._driver_connection is None:
            return  # the library's own doing, between tests
        self.outcome.ended = True
        self.at_class_savepoint = False
        if how == "committed" and what not in self.outcome.committed:
            self.outcome.committed.append(what)
        if how == "refused":
            self.outcome.refused_commits.append(what)
        # The class's savepoint, and every other, went with the transaction. Whatever the test
        # does next runs in a transaction of its own: guard that one too, from its first statement.
        self.after_test = [ARM_SQL] if self.guarded else []
        self.pending.clear()
        self.savepoints.clear()

    def heard(self, severity: str, message: str) -> None:
        """A notice from the server: the commit guard says when it refused a COMMIT."""
        refused = refused_statement(severity, message)
        if refused is not None:
            self.transaction_ended("refused", refused)

    def cancel(self) -> None:
        """Ctrl-C during a statement: let the database stop it at once, if it knows how."""
        if self.on_cancel is not None:
            self.on_cancel()

    # -- threads -------------------------------------------------------------------------

    def _take_turn(self) -> bool:
        """Wait until no other thread's transaction is open; True if this savepoint now holds the turn.

        The turn belongs to the savepoint that took it, not to a thread: frameworks run
        one request's transaction across several worker threads (FastAPI's TestClient
        ends it in another thread than the endpoint's).
        """
        me = threading.get_ident()
        if me == self.test_thread or self.savepoints.owned_by_thread(me):
            return False
        if not self._turn.acquire(timeout=self.turn_timeout):
            raise ConcurrentUseError(
                f"a thread waited {self.turn_timeout:g} s for another thread's transaction on the test's "
                f"connection to end. Threads take turns on it (one transaction at a time); this one never "
                f"ended - is the other thread waiting for this one?"
            )
        return True

    # -- the engine that runs the test's own connection -----------------------------------

    def install_on_test_engine(self, engine: Engine, *, keeps_class_transaction: bool) -> None:
        """Queue the savepoints of ``self.connection``; refuse its commit.

        With ``keeps_class_transaction`` (sync classes), ending the test's
        SQLAlchemy transaction goes back to the class's savepoint, queued so
        that it travels with the next statement.
        """
        dialect = engine.dialect
        self.wrap_execution(dialect, owner=lambda context: CONNECTION, flush=dialect.is_async)
        rollback: Callable[[Any], None] = dialect.do_rollback

        def do_commit(pooled: Any) -> None:
            self.outcome.refused_commits.append("self.connection.commit()")
            raise PGliteTestCaseError(OUTER_COMMIT_MESSAGE)

        def do_rollback(pooled: Any) -> None:
            if keeps_class_transaction and self.class_savepoint is not None and not self.outcome.ended:
                self.queue_class_rollback()
            else:
                self.forget_queue()
                rollback(pooled)

        setattr(dialect, "do_commit", do_commit)
        setattr(dialect, "do_rollback", do_rollback)
        self._savepoints_through_the_stack(dialect, lambda connection: CONNECTION)

    def _savepoints_through_the_stack(self, dialect: Dialect, owner: Callable[[Any], str]) -> None:
        setattr(dialect, "do_savepoint", lambda connection, name: self.savepoints.push(name, owner(connection)))
        setattr(dialect, "do_release_savepoint", lambda connection, name: self.savepoints.release(name))
        setattr(dialect, "do_rollback_to_savepoint", lambda connection, name: self.savepoints.rollback(name))

    def wrap_execution(self, dialect: Dialect, *, owner: Callable[[Any], str], flush: bool) -> None:
        """Tell the savepoint stack whose work each statement is; for drivers whose connections
        cannot flush the queue themselves (the asyncio adapters), flush it first."""
        execute, execute_no_params, executemany = (
            dialect.do_execute,
            dialect.do_execute_no_params,
            dialect.do_executemany,
        )

        def observed(cursor: Any, statement: str, context: Any, run: Callable[[], Any]) -> Any:
            with self.lock:
                if flush:
                    for sql in self.take_queue():  # one round trip each: the adapters have no pipeline
                        cursor.execute(sql)
                try:
                    # Sync drivers' cursors observe their statements themselves (they see raw ones too).
                    result = self.observe(statement, run) if flush else run()
                except BaseException:
                    self.savepoints.statement(owner(context), statement, failed=True)
                    raise
            self.savepoints.statement(owner(context), statement)
            return result

        def do_execute(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
            observed(cursor, statement, context, lambda: execute(cursor, statement, parameters, context))

        def do_execute_no_params(cursor: Any, statement: str, context: Any = None) -> None:
            observed(cursor, statement, context, lambda: execute_no_params(cursor, statement, context))

        def do_executemany(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
            observed(cursor, statement, context, lambda: executemany(cursor, statement, parameters, context))

        setattr(dialect, "do_execute", do_execute)
        setattr(dialect, "do_execute_no_params", do_execute_no_params)
        setattr(dialect, "do_executemany", do_executemany)

    # -- the engine handed to the code under test (self.engine) -------------------------

    def install(self, engine: Engine) -> None:
        """Turn ``engine``'s transaction calls into savepoints on the test connection.

        Each SQLAlchemy connection of the engine (each session) owns the
        savepoints it opens; see ``savepoints`` for how interleaved ones end.
        """
        dialect = engine.dialect
        if dialect.driver == "asyncpg":
            # SQLAlchemy's asyncpg adapter opens an asyncpg transaction of its own
            # (a nested one here: another savepoint) before the first statement, and
            # never ends it once our calls replace its commit and rollback. Marking the
            # adapter autocommit (no I/O) leaves the transaction calls to us.
            from sqlalchemy import event

            event.listen(engine, "first_connect", _asyncpg_leave_transactions_to_us, insert=True)
            event.listen(engine, "connect", _asyncpg_leave_transactions_to_us, insert=True)
        self.install_on_dialect(dialect)

    def install_on_dialect(self, dialect: Dialect) -> None:
        """What ``install`` does to an engine's dialect (also applied to the dialect of an application's
        engine that connects to the test database, see ``reach``)."""
        self.wrap_execution(
            dialect, owner=lambda context: self._owner(context.root_connection.connection), flush=dialect.is_async
        )
        setattr(dialect, "do_begin", self._begin)
        setattr(dialect, "do_commit", self._commit)
        setattr(dialect, "do_rollback", self._rollback)
        # A two-phase transaction is a transaction like the others here: a savepoint, its PREPARE
        # TRANSACTION a step with nothing to do (its commit or rollback is the savepoint's).
        setattr(dialect, "do_begin_twophase", lambda connection, xid: self._begin(connection.connection))
        setattr(dialect, "do_prepare_twophase", lambda connection, xid: None)
        setattr(dialect, "do_commit_twophase", self._commit_twophase)
        setattr(dialect, "do_rollback_twophase", self._rollback_twophase)
        setattr(dialect, "do_recover_twophase", lambda connection: [])
        setattr(dialect, "do_close", self._close)
        # asyncio engines terminate (not close) a connection the garbage collector finds.
        setattr(dialect, "do_terminate", self._close)
        self._savepoints_through_the_stack(dialect, lambda connection: self._owner(connection.connection))

    def _owner(self, pooled: Any) -> str:
        """The connection's outermost savepoint: what its statements' work belongs to."""
        try:
            generation, name = self._connections.get(pooled, (None, ""))
        except TypeError:  # an object that cannot be weakly referenced (SQLAlchemy's first-connect proxy)
            return ""
        return name if generation == self.generation else ""

    def _begin(self, pooled: Any) -> None:
        holds_turn = self._take_turn()
        name = next(_savepoint_names)
        self.savepoints.push(name, name, holds_turn=holds_turn)
        try:
            self._connections[pooled] = (self.generation, name)
        except TypeError:
            pass

    def _take_savepoint(self, pooled: Any) -> str | None:
        try:
            generation, name = self._connections.pop(pooled, (None, None))
        except TypeError:
            return None
        return name if generation == self.generation else None

    def _commit(self, pooled: Any) -> None:
        name = self._take_savepoint(pooled)
        if name is not None:
            self.savepoints.release(name)

    def _rollback(self, pooled: Any) -> None:
        name = self._take_savepoint(pooled)
        if name is not None:
            self.savepoints.rollback(name)

    def _commit_twophase(self, connection: Any, xid: Any, is_prepared: bool = True, recover: bool = False) -> None:
        if not recover:  # (recovered transactions: there are none, see do_recover_twophase)
            self._commit(connection.connection)

    def _rollback_twophase(self, connection: Any, xid: Any, is_prepared: bool = True, recover: bool = False) -> None:
        if not recover:
            self._rollback(connection.connection)

    def _close(self, dbapi_connection: Any) -> None:
        # The test connection belongs to the test case: leave it open. SQLAlchemy's
        # psycopg dialect adds a notice handler each time the engine "connects";
        # take it off again, or they pile up on the long-lived test connection.
        driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
        handler = _psycopg_dialect_notice_handler()
        if handler is not None and hasattr(driver, "remove_notice_handler"):
            try:
                driver.remove_notice_handler(handler)
            except ValueError:
                pass


OUTER_COMMIT_MESSAGE = (
    "self.connection.commit() would commit the test's own transaction, and with it everything the test "
    "and the class's setUpTestData wrote; pglite_testcase refused it, and nothing was committed. Commit "
    "through self.session, self.sessionmaker() or self.engine instead: their commits stay inside the "
    "test's transaction. (Code that must really commit needs isolation = 'truncate'.)"
)


def _asyncpg_leave_transactions_to_us(dbapi_connection: Any, connection_record: Any) -> None:
    dbapi_connection.autocommit = True


if TYPE_CHECKING:
    from sqlalchemy.orm import sessionmaker

    _SessionMaker = sessionmaker[Any]
else:
    _SessionMaker = object  # a mixin: put before sessionmaker or async_sessionmaker (fixture._tracking)


class RemembersSessions(_SessionMaker):
    """For session factories: remembers the sessions made, so the test can close them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sessions: weakref.WeakSet[Any] = weakref.WeakSet()

    def __call__(self, **local_kw: Any) -> Any:
        session = super().__call__(**local_kw)
        self.sessions.add(session)
        return session
