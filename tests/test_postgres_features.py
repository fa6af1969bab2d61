"""PostgreSQL features work through the test's objects, on PGlite and on a real server."""

from __future__ import annotations

import threading
import unittest
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import func, insert, select, text

from pglite_testcase import PGliteTestCase
from pglite_testcase.isolation.join_test_transaction import ConcurrentUseError

from .models import Author, Base
from .support import problems, run_case
from .test_misbehaving_classes import plain_passes


def raw_of(test: PGliteTestCase) -> Any:
    return test.connection.connection.dbapi_connection


def is_psycopg3(raw: Any) -> bool:
    return type(raw).__module__.startswith(("psycopg.", "pglite_testcase.drivers.psycopg3"))


class Copy(PGliteTestCase):
    metadata = Base

    def test_copy_from_stdin_through_the_test_connection(self) -> None:
        raw = raw_of(self)
        if is_psycopg3(raw):
            with raw.cursor() as cursor, cursor.copy("COPY authors (name) FROM STDIN") as copy:
                for name in ("Ada", "Grace", "Barbara"):
                    copy.write_row((name,))
        else:  # psycopg2
            import io

            with raw.cursor() as cursor:
                cursor.copy_expert("COPY authors (name) FROM STDIN", io.StringIO("Ada\nGrace\nBarbara\n"))
        self.assertEqual(sorted(self.session.scalars(select(Author.name))), ["Ada", "Barbara", "Grace"])

    def test_copy_to_stdout(self) -> None:
        self.session.add(Author(name="Edsger"))
        self.session.flush()
        raw = raw_of(self)
        if is_psycopg3(raw):
            with raw.cursor() as cursor, cursor.copy("COPY authors (name) TO STDOUT") as copy:
                data = b"".join(bytes(block) for block in copy)
        else:
            import io

            buffer = io.StringIO()
            with raw.cursor() as cursor:
                cursor.copy_expert("COPY authors (name) TO STDOUT", buffer)
            data = buffer.getvalue().encode()
        self.assertEqual(data, b"Edsger\n")

    def test_z_later_test_works_and_sees_nothing(self) -> None:
        self.assertEqual(self.session.scalar(select(func.count()).select_from(Author)), 0)


class ServerSideCursors(PGliteTestCase):
    metadata = Base

    def setUp(self) -> None:
        super().setUp()
        self.session.add_all([Author(name=f"author {n:03}") for n in range(250)])
        self.session.flush()

    def test_yield_per(self) -> None:
        names = [author.name for author in self.session.scalars(select(Author).order_by(Author.id)).yield_per(40)]
        self.assertEqual(len(names), 250)

    def test_stream_results(self) -> None:
        result = self.connection.execution_options(stream_results=True, max_row_buffer=50).execute(
            select(Author.name).order_by(Author.id)
        )
        self.assertEqual(sum(1 for _ in result), 250)

    def test_named_cursor(self) -> None:
        raw = raw_of(self)
        cursor = raw.cursor(name="pglite_testcase_named")
        cursor.execute("SELECT name FROM authors ORDER BY id")
        self.assertEqual(len(cursor.fetchmany(100)), 100)
        self.assertEqual(len(cursor.fetchall()), 150)
        cursor.close()

    def test_z_plain_statement_after_them(self) -> None:
        self.assertEqual(self.connection.scalar(select(func.count()).select_from(Author)), 250)


class Threads(PGliteTestCase):
    metadata = Base

    def test_a_thread_pool_takes_turns_on_the_test_transaction(self) -> None:
        def add(number: int) -> None:
            with self.sessionmaker() as session, session.begin():
                session.add(Author(name=f"pooled {number}"))
                session.flush()
                session.execute(select(func.count()).select_from(Author))

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(add, range(24)))
        self.assertEqual(self.session.scalar(select(func.count()).select_from(Author)), 24)

    def test_engine_from_threads(self) -> None:
        def add(number: int) -> None:
            with self.engine.begin() as connection:
                connection.execute(insert(Author).values(name=f"engine {number}"))

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(add, range(12)))
        self.assertEqual(self.connection.scalar(select(func.count()).select_from(Author)), 12)

    def test_overlapping_use_fails_at_once_with_one_message(self) -> None:
        outer = self.engine.connect()
        in_outer = outer.begin()
        outer.execute(insert(Author).values(name="outer"))
        inside, finish = threading.Event(), threading.Event()
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                with self.engine.begin() as connection:
                    connection.execute(insert(Author).values(name="worker"))
                    inside.set()
                    finish.wait(10)
            except BaseException as exc:  # noqa: BLE001 - reported to the test thread
                errors.append(exc)

        thread = threading.Thread(target=worker)
        thread.start()
        self.assertTrue(inside.wait(10))
        with self.assertRaises(ConcurrentUseError) as caught:
            in_outer.commit()  # the worker's transaction, begun inside ours, is still open
        finish.set()
        thread.join(10)
        outer.close()
        self.assertIn("two threads at once", str(caught.exception))


class ClassDataIdsDoNotDependOnEarlierClasses(unittest.TestCase):
    def test_reset_sequences_gives_class_data_the_same_ids(self) -> None:
        class Earlier(PGliteTestCase):
            metadata = Base

            def test_consumes_ids(self) -> None:
                self.session.add_all([Author(name=f"a{n}") for n in range(7)])
                self.session.flush()

        class WithData(PGliteTestCase):
            metadata = Base
            reset_sequences = True

            @classmethod
            def setUpTestData(cls) -> None:
                cls.first = Author(name="first")
                cls.session.add(cls.first)
                cls.session.flush()
                cls.first_id = cls.first.id

            def test_class_data_ids_start_at_one(self) -> None:
                self.assertEqual(self.first_id, 1)

            def test_and_tests_continue_after_them(self) -> None:
                added = Author(name="second")
                self.session.add(added)
                self.session.flush()
                self.assertEqual(added.id, 2)

        for case in (Earlier, WithData):
            result = run_case(case)
            self.assertTrue(result.wasSuccessful(), problems(result))
        plain_passes(self)


def _raw_sql_still_works_after_the_queue_steps() -> type[PGliteTestCase]:
    """A new RawSqlStillWorksAfterTheQueue class, whose tests run in the order they are written (see run_case)."""

    class RawSqlStillWorksAfterTheQueue(PGliteTestCase):
        """psycopg2 sends the queue as text in front of the next statement: '%' must survive."""

        metadata = Base

        def test_1_writes(self) -> None:
            self.connection.execute(insert(Author).values(name="100%"))

        def test_2_percent_signs_in_the_first_statement(self) -> None:
            names = self.connection.execute(text("SELECT name FROM authors WHERE name LIKE :pattern"), {"pattern": "%"})
            self.assertEqual(list(names), [])
            self.assertEqual(self.connection.exec_driver_sql("SELECT '50%%'").scalar(), "50%")

    return RawSqlStillWorksAfterTheQueue


class RawSqlStillWorksAfterTheQueue(unittest.TestCase):
    def test_each_step_in_order(self) -> None:
        result = run_case(_raw_sql_still_works_after_the_queue_steps())
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(result.testsRun, 2)


class OverlappingSessions(PGliteTestCase):
    """Sessions and engine connections open at the same time, as legacy code keeps them (one connection)."""

    metadata = Base

    def names(self) -> list[str]:
        return sorted(self.session.scalars(select(Author.name)))

    def test_sessions_interleave(self) -> None:
        first, second = self.sessionmaker(), self.sessionmaker()
        first.add(Author(name="one"))
        first.flush()
        second.scalar(select(func.count()).select_from(Author))
        first.commit()  # released later, when second's newer savepoint has ended
        second.add(Author(name="two"))
        second.commit()
        first.add(Author(name="three"))
        first.flush()
        second.rollback()  # second holds nothing of its own now
        first.commit()
        self.assertEqual(self.names(), ["one", "three", "two"])

    def test_engine_connections_interleave(self) -> None:
        a, b = self.engine.connect(), self.engine.connect()
        in_a, in_b = a.begin(), b.begin()
        a.execute(insert(Author).values(name="a1"))
        b.execute(insert(Author).values(name="b1"))
        in_a.commit()
        b.execute(insert(Author).values(name="b2"))
        in_b.commit()
        a.close()
        b.close()
        self.assertEqual(self.names(), ["a1", "b1", "b2"])

    def test_a_read_only_rollback_keeps_what_was_written_inside_it(self) -> None:
        a, b = self.engine.connect(), self.engine.connect()
        in_a, in_b = a.begin(), b.begin()
        a.execute(select(1))
        b.execute(insert(Author).values(name="b"))
        in_a.rollback()
        in_b.commit()
        self.assertEqual(self.names(), ["b"])
        a.close()
        b.close()

    def test_rolling_back_writes_under_another_open_transaction_is_refused_with_one_message(self) -> None:
        a, b = self.engine.connect(), self.engine.connect()
        in_a, in_b = a.begin(), b.begin()
        a.execute(insert(Author).values(name="a"))
        b.execute(insert(Author).values(name="b"))
        with self.assertRaises(ConcurrentUseError) as caught:
            in_a.rollback()
        self.assertIn("is still open", str(caught.exception))
        in_b.commit()
        b.close()
        a.close()
