"""Every test runs in a transaction that is rolled back, whatever the code under test commits."""

from __future__ import annotations

import unittest

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError

from pglite_testcase import PGliteTestCase
from pglite_testcase.isolation.savepoints import SavepointStack

from .models import Author, Base, Book
from .support import problems, run_case


def count(session_or_connection: object, model: type = Author) -> int:
    return int(session_or_connection.scalar(select(func.count()).select_from(model)))  # type: ignore[attr-defined]


class CommitsLeaveNoTrace(PGliteTestCase):
    """Each test asserts an empty table, then commits a row: run in any order, each would fail
    if a previous test's commit had survived."""

    metadata = Base

    def test_session_commit(self) -> None:
        self.assertEqual(count(self.session), 0)
        self.session.add(Author(name="Ada"))
        self.session.commit()
        self.assertEqual(count(self.session), 1)

    def test_engine_begin_commit(self) -> None:
        self.assertEqual(count(self.session), 0)
        with self.engine.begin() as connection:
            connection.execute(insert(Author).values(name="Grace"))
        with self.engine.connect() as connection:
            self.assertEqual(count(connection), 1)

    def test_engine_connect_commit(self) -> None:
        self.assertEqual(count(self.session), 0)
        with self.engine.connect() as connection:
            connection.execute(insert(Author).values(name="Barbara"))
            connection.commit()
            connection.execute(insert(Author).values(name="Edsger"))
            connection.commit()
        self.assertEqual(count(self.session), 2)

    def test_sessionmaker_commit(self) -> None:
        self.assertEqual(count(self.session), 0)
        with self.sessionmaker() as session, session.begin():
            session.add(Author(name="Alan"))
        other = self.sessionmaker()
        other.add(Author(name="Donald"))
        other.commit()
        self.assertEqual(count(self.session), 2)

    def test_connection_write_without_commit(self) -> None:
        self.assertEqual(count(self.connection), 0)
        self.connection.execute(insert(Author).values(name="Niklaus"))
        self.assertEqual(count(self.connection), 1)


class RollbackInsideATest(PGliteTestCase):
    metadata = Base

    def test_session_rollback_keeps_session_usable(self) -> None:
        self.session.add(Author(name="kept"))
        self.session.commit()
        self.session.add(Author(name="discarded"))
        self.session.flush()
        self.session.rollback()
        self.assertEqual(self.session.scalars(select(Author.name)).all(), ["kept"])
        self.session.add(Author(name="after"))
        self.session.commit()
        self.assertEqual(count(self.session), 2)

    def test_caught_integrity_error(self) -> None:
        self.session.add(Author(name="dup"))
        self.session.commit()
        self.session.add(Author(name="dup"))
        with self.assertRaises(IntegrityError):
            self.session.commit()
        self.session.rollback()
        self.session.add(Book(title="Notes", author=self.session.scalars(select(Author)).one()))
        self.session.commit()
        self.assertEqual(count(self.session, Book), 1)

    def test_integrity_error_through_engine(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(insert(Author).values(name="x"))
        with self.assertRaises(IntegrityError):
            with self.engine.begin() as connection:
                connection.execute(insert(Author).values(name="y"))
                connection.execute(insert(Author).values(name="x"))
        # The failed block was rolled back to its savepoint: "y" is gone, "x" stays.
        self.assertEqual(self.session.scalars(select(Author.name)).all(), ["x"])

    def test_engine_rollback_undoes_only_its_block(self) -> None:
        self.session.add(Author(name="session row"))
        self.session.flush()
        with self.engine.connect() as connection:
            connection.execute(insert(Author).values(name="engine row"))
            connection.rollback()
        self.assertEqual(self.session.scalars(select(Author.name)).all(), ["session row"])

    def test_z_later_test_sees_nothing(self) -> None:
        self.assertEqual(count(self.session), 0)
        self.assertEqual(count(self.session, Book), 0)


class SchemaIsThereInEveryTest(PGliteTestCase):
    metadata = Base

    def test_tables_exist(self) -> None:
        names = self.connection.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        ).all()
        self.assertEqual(names, ["authors", "books"])

    def test_tables_exist_after_a_failed_statement(self) -> None:
        with self.assertRaises(Exception):
            self.connection.execute(text("SELECT * FROM no_such_table"))
        self.connection.rollback()
        self.assertEqual(count(self.connection), 0)


class ResetSequences(PGliteTestCase):
    metadata = Base
    reset_sequences = True

    def test_a_first_id_is_one(self) -> None:
        author = Author(name="a")
        self.session.add(author)
        self.session.commit()
        self.assertEqual(author.id, 1)

    def test_b_first_id_is_one_again(self) -> None:
        author = Author(name="b")
        self.session.add(author)
        self.session.commit()
        self.assertEqual(author.id, 1)


class SequencesAreNotResetByDefault(PGliteTestCase):
    metadata = Base

    def test_ids_keep_growing(self) -> None:
        ids = []
        for name in ("a", "b"):
            author = Author(name=name)
            self.session.add(author)
            self.session.commit()
            ids.append(author.id)
            self.session.rollback()
        self.assertEqual(ids[1], ids[0] + 1)


class OuterCommitIsCaught(unittest.TestCase):
    """A test that commits self.connection's own transaction is refused at the call, and nothing escapes."""

    def test_outer_commit_is_refused_and_later_tests_start_clean(self) -> None:
        class Committing(PGliteTestCase):
            metadata = Base

            def test_1_commit_outer(self) -> None:
                self.connection.execute(insert(Author).values(name="escaped"))
                self.connection.commit()

            def test_2_clean(self) -> None:
                self.assertEqual(count(self.session), 0)

        result = run_case(Committing)
        self.assertEqual(result.testsRun, 2)
        problems = result.errors + result.failures
        self.assertEqual(len(problems), 1, problems)
        failed, message = problems[0]
        self.assertIn("test_1_commit_outer", failed.id())
        self.assertIn("self.connection.commit()", message)
        self.assertIn("nothing was committed", message)


def _tests_that_handle_the_connection_themselves_steps() -> type[PGliteTestCase]:
    """A new TestsThatHandleTheConnectionThemselves class, whose tests run in the order they are written (see run_case)."""

    class TestsThatHandleTheConnectionThemselves(PGliteTestCase):
        """Whatever a test does to its connection, the next test starts clean (steps in the order written)."""

        metadata = Base

        def test_1_closes_the_connection(self) -> None:
            self.connection.execute(insert(Author).values(name="before close"))
            self.connection.close()

        def test_2_rolls_back_the_outer_transaction_and_goes_on(self) -> None:
            self.assertEqual(count(self.connection), 0)
            self.connection.execute(insert(Author).values(name="rolled back"))
            self.connection.rollback()
            self.connection.execute(insert(Author).values(name="after rollback"))
            self.assertEqual(count(self.connection), 1)

        def test_3_leaves_a_savepoint_open(self) -> None:
            self.assertEqual(count(self.connection), 0)
            self.connection.begin_nested()
            self.connection.execute(insert(Author).values(name="in a savepoint"))

        def test_4_leaves_the_transaction_failed(self) -> None:
            self.assertEqual(count(self.connection), 0)
            self.session.add(Author(name="x"))
            self.session.flush()
            with self.assertRaises(Exception):
                self.connection.execute(text("SELECT * FROM no_such_table"))

        def test_5_sees_nothing_of_all_that(self) -> None:
            self.assertEqual(count(self.connection), 0)
            self.session.add(Author(name="y"))
            self.session.commit()
            self.assertEqual(count(self.session), 1)

    return TestsThatHandleTheConnectionThemselves


class TestsThatHandleTheConnectionThemselves(unittest.TestCase):
    def test_each_step_in_order(self) -> None:
        result = run_case(_tests_that_handle_the_connection_themselves_steps())
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(result.testsRun, 5)


class FirstSavepointOfATest(PGliteTestCase):
    """A transaction begun before anything ran in the test marks the class's state: its savepoint is
    never sent, and rolling it back goes back to the class's savepoint. These tests check the
    state it goes back to, and that work done before it is never taken for the class's state."""

    metadata = Base

    @classmethod
    def setUpTestData(cls) -> None:
        cls.session.add(Author(name="class"))

    def names(self) -> list[str]:
        return sorted(self.connection.scalars(select(Author.name)))

    def test_session_rollback_keeps_the_class_data_and_the_session_usable(self) -> None:
        self.session.add(Author(name="rolled back"))
        self.session.flush()
        self.session.rollback()
        self.assertEqual(self.names(), ["class"])
        self.session.add(Author(name="kept"))
        self.session.commit()
        self.assertEqual(self.names(), ["class", "kept"])

    def test_engine_block_rolled_back_first_thing(self) -> None:
        with self.engine.connect() as connection:
            with connection.begin() as transaction:
                connection.execute(insert(Author).values(name="rolled back"))
                transaction.rollback()
        self.assertEqual(self.names(), ["class"])

    def test_work_on_the_connection_before_the_session_is_kept(self) -> None:
        self.connection.execute(insert(Author).values(name="connection"))
        self.session.add(Author(name="rolled back"))
        self.session.flush()
        self.session.rollback()
        self.assertEqual(self.names(), ["class", "connection"])

    def test_raw_work_before_the_session_is_kept(self) -> None:
        cursor = self.connection.connection.dbapi_connection.cursor()
        cursor.execute("INSERT INTO authors (name) VALUES ('raw')")
        cursor.close()
        self.session.add(Author(name="rolled back"))
        self.session.flush()
        self.session.rollback()
        self.assertEqual(self.names(), ["class", "raw"])

    def test_connection_work_inside_a_session_that_only_read_survives_its_rollback(self) -> None:
        with self.sessionmaker() as session:  # a session of its own (self.session shares self.connection's)
            self.assertEqual(session.scalar(select(func.count()).select_from(Author)), 1)
            self.connection.execute(insert(Author).values(name="connection"))
            session.rollback()
        self.assertEqual(self.names(), ["class", "connection"])

    def test_a_committed_session_then_a_rolled_back_one(self) -> None:
        first, second = self.sessionmaker(), self.sessionmaker()
        first.add(Author(name="first"))
        first.commit()
        second.add(Author(name="second"))
        second.flush()
        second.rollback()
        first.close()
        second.close()
        self.assertEqual(self.names(), ["class", "first"])


class SavepointStatements(unittest.TestCase):
    """What the savepoint stack sends, when a new savepoint would mark the class's savepoint's state."""

    def stack(self) -> tuple[SavepointStack, list[str]]:
        sent: list[str] = []
        return SavepointStack(sent.append, lambda: None, lambda: "cls"), sent

    def test_the_first_savepoint_is_not_sent_and_its_rollback_goes_to_the_class_savepoint(self) -> None:
        stack, sent = self.stack()
        stack.push("s1", "session")
        self.assertEqual(sent, [])
        stack.statement("session", "INSERT INTO t VALUES (1)")
        stack.rollback("s1")
        self.assertEqual(sent, ["ROLLBACK TO SAVEPOINT cls"])

    def test_its_release_sends_nothing_and_newer_savepoints_are_real(self) -> None:
        stack, sent = self.stack()
        stack.push("s1", "session")
        stack.push("s2", "engine")
        stack.statement("engine", "INSERT INTO t VALUES (1)")
        stack.release("s2")
        stack.release("s1")
        self.assertEqual(sent, ["SAVEPOINT s2", "RELEASE SAVEPOINT s2"])

    def test_without_the_class_state_every_savepoint_is_sent(self) -> None:
        sent: list[str] = []
        stack = SavepointStack(sent.append, lambda: None)
        stack.push("s1", "session")
        stack.statement("session", "INSERT INTO t VALUES (1)")
        stack.rollback("s1")
        self.assertEqual(sent, ["SAVEPOINT s1", "ROLLBACK TO SAVEPOINT s1", "RELEASE SAVEPOINT s1"])


class SessionsAndEngineShareTheTransaction(PGliteTestCase):
    """Savepoint statements are queued and sent with the next statement: their order must hold."""

    metadata = Base

    def test_engine_block_inside_a_session_transaction(self) -> None:
        self.session.add(Author(name="session"))
        self.session.flush()
        with self.engine.begin() as connection:
            connection.execute(insert(Author).values(name="engine"))
        with self.assertRaises(IntegrityError):
            with self.engine.begin() as connection:
                connection.execute(insert(Author).values(name="engine"))
        self.assertEqual(sorted(self.session.scalars(select(Author.name)).all()), ["engine", "session"])
        self.session.rollback()  # back to before the session's first flush: the engine rows were inside it
        self.assertEqual(self.session.scalars(select(Author.name)).all(), [])

    def test_two_sessions_in_turn(self) -> None:
        first, second = self.sessionmaker(), self.sessionmaker()
        first.add(Author(name="first"))
        first.commit()
        second.add(Author(name="second"))
        second.rollback()
        first.close()
        second.close()
        self.assertEqual(self.session.scalars(select(Author.name)).all(), ["first"])

    def test_notice_handlers_do_not_pile_up(self) -> None:
        raw = self.connection.connection.dbapi_connection
        if not hasattr(raw, "_notice_handlers"):
            self.skipTest("psycopg 3's notice handlers (this run uses another driver)")
        before = len(raw._notice_handlers)
        for _ in range(20):
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        self.assertEqual(len(raw._notice_handlers), before)
