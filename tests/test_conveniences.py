"""setUpTestData, query assertions, database helpers."""

from __future__ import annotations

import unittest
from typing import ClassVar

from sqlalchemy import DDL, Column, ForeignKey, Integer, MetaData, String, Table, event, func, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from pglite_testcase import AsyncPGliteTestCase, PGliteTestCase

from .models import Author, Base, Book
from .support import ON_SERVER, pglite_only, problems, run_case


def _class_data_steps() -> type[PGliteTestCase]:
    """A new ClassData class, whose tests run in the order they are written (see run_case)."""

    class ClassData(PGliteTestCase):
        metadata = Base
        reset_sequences = True

        @classmethod
        def setUpTestData(cls) -> None:
            cls.ada = Author(name="Ada")
            cls.books = [Book(title="Notes", author=cls.ada), Book(title="Letters", author=cls.ada)]
            cls.session.add_all([cls.ada, *cls.books])
            cls.labels = {"lang": ["en"]}

        def test_1_sees_the_class_data_and_changes_its_copy(self) -> None:
            self.assertEqual(self.session.scalar(select(func.count()).select_from(Book)), 2)
            self.assertIn(self.ada, self.session)
            self.ada.name = "Ada Lovelace"
            self.books[0].title = "Changed"
            self.labels["lang"].append("fr")
            self.session.add(Author(name="Grace"))
            self.session.commit()
            self.assertEqual(self.session.scalar(select(Author.name).where(Author.id == self.ada.id)), "Ada Lovelace")

        def test_2_gets_fresh_copies_and_the_rows_as_created(self) -> None:
            self.assertEqual(self.ada.name, "Ada")
            self.assertEqual(self.books[0].title, "Notes")
            self.assertEqual(self.labels, {"lang": ["en"]})
            self.assertEqual(sorted(self.session.scalars(select(Author.name))), ["Ada"])
            self.assertEqual(self.session.get(Book, self.books[0].id).title, "Notes")  # type: ignore[union-attr]

        def test_3_sequences_continue_after_the_class_data(self) -> None:
            grace = Author(name="Grace")
            self.session.add(grace)
            self.session.flush()
            self.assertEqual(grace.id, self.ada.id + 1)

        def test_4_a_test_may_delete_class_rows(self) -> None:
            self.session.delete(self.books[1])
            self.session.commit()
            self.assertEqual(self.session.scalar(select(func.count()).select_from(Book)), 1)

        def test_5_they_are_back(self) -> None:
            self.assertEqual(self.session.scalar(select(func.count()).select_from(Book)), 2)

    return ClassData


class ClassData(unittest.TestCase):
    def test_each_step_in_order(self) -> None:
        result = run_case(_class_data_steps())
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(result.testsRun, 5)


class NothingRemainsAfterTheClass(unittest.TestCase):
    def test_class_data_is_gone_after_the_class(self) -> None:
        result = run_case(_class_data_steps())
        self.assertTrue(result.wasSuccessful(), problems(result))

        class After(PGliteTestCase):
            metadata = Base

            def test_empty(self) -> None:
                self.assertDatabaseEmpty()

        result = run_case(After)
        self.assertTrue(result.wasSuccessful(), problems(result))


class QueryAssertions(PGliteTestCase):
    metadata = Base

    def test_counts_statements_of_session_connection_and_engine(self) -> None:
        with self.assertNumQueries(3):
            self.session.add(Author(name="a"))
            self.session.commit()  # the INSERT (the savepoint release is the library's)
            self.connection.execute(select(func.count()).select_from(Author))
            with self.engine.begin() as connection:
                connection.execute(insert(Author).values(name="b"))

    def test_capture_shows_the_sql(self) -> None:
        with self.captureQueries() as queries:
            self.session.scalars(select(Author).where(Author.name == "x")).all()
        self.assertEqual(len(queries), 1)
        self.assertIn("FROM authors", queries[0].statement)

    def test_failure_lists_the_statements_numbered(self) -> None:
        with self.assertRaises(AssertionError) as caught:
            with self.assertNumQueries(1):
                self.connection.execute(text("SELECT 1"))
                self.connection.execute(text("SELECT 2"))
        message = str(caught.exception)
        self.assertIn("2 queries executed, 1 expected", message)
        self.assertIn("1. SELECT 1", message)
        self.assertIn("2. SELECT 2", message)


class Helpers(PGliteTestCase):
    metadata = Base

    def test_row_counts_and_empty(self) -> None:
        self.assertDatabaseEmpty()
        self.session.add_all([Author(name="a"), Author(name="b")])
        self.session.flush()
        self.assertEqual(self.rowCounts(), {"authors": 2, "books": 0})
        with self.assertRaises(AssertionError) as caught:
            self.assertDatabaseEmpty()
        self.assertIn("authors (2 rows)", str(caught.exception))
        self.assertDatabaseEmpty(exclude=["authors"])

    def test_delete_all_data_and_restart_sequences(self) -> None:
        self.session.add(Author(name="a"))
        self.session.flush()
        self.deleteAllData()
        self.assertEqual(self.rowCounts(), {"authors": 0, "books": 0})
        self.restartSequences()
        author = Author(name="again")
        self.session.add(author)
        self.session.flush()
        self.assertEqual(author.id, 1)


def _async_class_data_steps() -> type[AsyncPGliteTestCase]:
    """A new AsyncClassData class, whose tests run in the order they are written (see run_case)."""

    class AsyncClassData(AsyncPGliteTestCase):
        metadata = Base
        reset_sequences = True

        @classmethod
        async def asyncSetUpTestData(cls) -> None:
            cls.ada = Author(name="Ada")
            cls.session.add_all([cls.ada, Book(title="Notes", author=cls.ada)])

        async def test_1_changes(self) -> None:
            self.assertEqual(await self.session.scalar(select(func.count()).select_from(Book)), 1)
            self.ada.name = "Changed"
            grace = Author(name="Grace")
            self.session.add(grace)
            await self.session.flush()
            self.assertEqual(grace.id, self.ada.id + 1)
            await self.session.commit()

        async def test_2_sees_the_original(self) -> None:
            self.assertEqual(self.ada.name, "Ada")
            self.assertEqual(await self.rowCounts(), {"authors": 1, "books": 1})
            with self.assertNumQueries(1):
                await self.session.scalar(select(Author.name).where(Author.id == self.ada.id))

    return AsyncClassData


class AsyncClassData(unittest.TestCase):
    def test_each_step_in_order(self) -> None:
        result = run_case(_async_class_data_steps())
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(result.testsRun, 2)


class AsyncNothingRemains(unittest.TestCase):
    def test_async_class_data_is_gone_after_the_class(self) -> None:
        result = run_case(_async_class_data_steps())
        self.assertTrue(result.wasSuccessful(), problems(result))

        class After(AsyncPGliteTestCase):
            metadata = Base

            async def test_empty(self) -> None:
                await self.assertDatabaseEmpty()

        result = run_case(After)
        self.assertTrue(result.wasSuccessful(), problems(result))


def _truncate_isolation_steps() -> type[PGliteTestCase]:
    """A new TruncateIsolation class, whose tests run in the order they are written (see run_case)."""

    class TruncateIsolation(PGliteTestCase):
        """Code that commits for real (own connections on a real server): tables are emptied after each test."""

        metadata = Base
        isolation = "truncate"

        def test_1_commits_for_real(self) -> None:
            self.assertDatabaseEmpty()
            with self.engine.begin() as connection:
                connection.execute(insert(Author).values(name="committed"))
            self.session.add(Author(name="also committed"))
            self.session.commit()
            with self.engine.connect() as connection:  # a connection of its own sees it: it was committed
                self.assertEqual(connection.scalar(select(func.count()).select_from(Author)), 2)

        def test_2_starts_empty_with_sequences_restarted(self) -> None:
            self.assertDatabaseEmpty()
            author = Author(name="first")
            self.session.add(author)
            self.session.commit()
            self.assertEqual(author.id, 1)

        def test_3_a_failed_insert_still_uses_a_sequence_value(self) -> None:
            self.session.add(Book(title="orphan", author_id=999))
            with self.assertRaises(IntegrityError):
                self.session.commit()
            self.session.rollback()

        def test_4_that_table_is_emptied_and_restarted_too(self) -> None:
            self.assertDatabaseEmpty()
            book = Book(title="first", author=Author(name="a"))
            self.session.add(book)
            self.session.commit()
            self.assertEqual((book.id, book.author_id), (1, 1))

    return TruncateIsolation


class TruncateIsolation(unittest.TestCase):
    def test_each_step_in_order(self) -> None:
        result = run_case(_truncate_isolation_steps())
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(result.testsRun, 4)


NEXT_XID = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"


def _truncate_cleanup_connection_steps() -> type[PGliteTestCase]:
    """A new TruncateCleanupConnections class, whose tests run in the order they are written (see run_case)."""

    class TruncateCleanupConnections(PGliteTestCase):
        """The clean-up runs on the connection of the test's last statement when it can, and on a
        connection of its own when that one is still checked out, invalidated or ended badly."""

        metadata = Base
        isolation = "truncate"
        left_open: ClassVar[Connection | None] = None
        next_xid: ClassVar[int | None] = None

        def test_1_installs_the_tracking(self) -> None:
            self.session.add(Author(name="committed"))
            self.session.commit()

        def test_2_last_statement_on_a_connection_left_checked_out(self) -> None:
            self.assertDatabaseEmpty()
            connection = type(self).left_open = self.engine.connect()
            connection.execute(insert(Author).values(name="left open"))
            connection.commit()

        def test_3_last_statement_on_an_invalidated_connection(self) -> None:
            self.assertDatabaseEmpty()
            assert type(self).left_open is not None
            type(self).left_open.close()
            connection = self.engine.connect()
            connection.execute(insert(Author).values(name="invalidated"))
            connection.commit()
            connection.invalidate()

        def test_4_last_statement_failed_on_the_session(self) -> None:
            self.assertDatabaseEmpty()
            self.session.add(Author(name="committed"))
            self.session.commit()
            with self.assertRaises(DBAPIError):
                self.session.execute(text("SELECT 1 / 0"))

        def test_5_last_statement_on_the_test_connection(self) -> None:
            self.assertDatabaseEmpty()
            self.connection.execute(insert(Author).values(name="autocommit"))

        def test_6_all_emptied_and_restarted(self) -> None:
            self.assertDatabaseEmpty()
            author = Author(name="first")
            self.session.add(author)
            self.session.commit()
            self.assertEqual(author.id, 1)

        def test_7_only_reads(self) -> None:
            self.assertDatabaseEmpty()
            type(self).next_xid = self.connection.scalar(text(NEXT_XID))

        def test_8_the_clean_up_after_reads_took_no_transaction_id(self) -> None:
            if not ON_SERVER:  # (a server's other sessions take ids too)
                self.assertEqual(self.connection.scalar(text(NEXT_XID)), type(self).next_xid)
            self.session.add(Author(name="written after reads"))
            self.session.commit()

        def test_9_and_what_comes_after_is_emptied(self) -> None:
            self.assertDatabaseEmpty()

    return TruncateCleanupConnections


class TruncateCleanupConnections(unittest.TestCase):
    def test_each_step_in_order(self) -> None:
        result = run_case(_truncate_cleanup_connection_steps())
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(result.testsRun, 9)


# Created in the order that makes an id-ordered delete fail: each table references the one before.
chained = MetaData()
chain_parent = Table("chain_parent", chained, Column("id", Integer, primary_key=True), Column("name", String))
chain_child = Table(
    "chain_child", chained, Column("id", Integer, primary_key=True), Column("parent_id", ForeignKey("chain_parent.id"))
)
chain_grandchild = Table(
    "chain_grandchild",
    chained,
    Column("id", Integer, primary_key=True),
    Column("child_id", ForeignKey("chain_child.id")),
)
event.listen(chain_parent, "after_create", DDL("INSERT INTO chain_parent (name) VALUES ('seeded by the schema')"))

cyclic = MetaData()
cycle_a = Table(
    "cycle_a",
    cyclic,
    Column("id", Integer, primary_key=True),
    Column("b_id", Integer, ForeignKey("cycle_b.id", use_alter=True, name="cycle_a_b")),
)
cycle_b = Table("cycle_b", cyclic, Column("id", Integer, primary_key=True), Column("a_id", ForeignKey("cycle_a.id")))


def _truncate_isolation_foreign_key_chain_steps() -> type[PGliteTestCase]:
    """A new TruncateIsolationForeignKeyChain class, whose tests run in the order they are written (see run_case)."""

    class TruncateIsolationForeignKeyChain(PGliteTestCase):
        """Tables are emptied referencing tables first, seed rows included."""

        metadata = chained
        isolation = "truncate"

        def test_1_sees_the_seed_row_and_commits_a_chain(self) -> None:
            self.assertEqual(self.connection.scalar(select(func.count()).select_from(chain_parent)), 1)
            with self.engine.begin() as connection:
                parent = connection.scalar(insert(chain_parent).values(name="p").returning(chain_parent.c.id))
                child = connection.scalar(insert(chain_child).values(parent_id=parent).returning(chain_child.c.id))
                connection.execute(insert(chain_grandchild).values(child_id=child))

        def test_2_starts_empty_with_sequences_restarted(self) -> None:
            self.assertDatabaseEmpty()
            with self.engine.begin() as connection:
                self.assertEqual(
                    connection.scalar(insert(chain_parent).values(name="p").returning(chain_parent.c.id)), 1
                )
                connection.execute(insert(chain_child).values(parent_id=1))
                connection.execute(insert(chain_grandchild).values(child_id=1))

        def test_3_the_chain_was_emptied_again(self) -> None:
            self.assertDatabaseEmpty()

    return TruncateIsolationForeignKeyChain


class TruncateIsolationForeignKeyChain(unittest.TestCase):
    def test_each_step_in_order(self) -> None:
        result = run_case(_truncate_isolation_foreign_key_chain_steps())
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(result.testsRun, 3)


def _truncate_isolation_foreign_key_cycle_steps() -> type[PGliteTestCase]:
    """A new TruncateIsolationForeignKeyCycle class, whose tests run in the order they are written (see run_case)."""

    class TruncateIsolationForeignKeyCycle(PGliteTestCase):
        metadata = cyclic
        isolation = "truncate"

        def test_1_commits_rows_that_reference_each_other(self) -> None:
            with self.engine.begin() as connection:
                a = connection.scalar(insert(cycle_a).values().returning(cycle_a.c.id))
                b = connection.scalar(insert(cycle_b).values(a_id=a).returning(cycle_b.c.id))
                connection.execute(cycle_a.update().values(b_id=b))

        def test_2_starts_empty(self) -> None:
            self.assertDatabaseEmpty()

    return TruncateIsolationForeignKeyCycle


class TruncateIsolationForeignKeyCycle(unittest.TestCase):
    def test_each_step_in_order(self) -> None:
        result = run_case(_truncate_isolation_foreign_key_cycle_steps())
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(result.testsRun, 2)


def _async_truncate_isolation_steps() -> type[AsyncPGliteTestCase]:
    """A new AsyncTruncateIsolation class, whose tests run in the order they are written (see run_case)."""

    class AsyncTruncateIsolation(AsyncPGliteTestCase):
        metadata = Base
        isolation = "truncate"

        async def test_1_commits(self) -> None:
            await self.assertDatabaseEmpty()
            self.session.add(Author(name="committed"))
            await self.session.commit()
            async with self.engine.connect() as connection:
                self.assertEqual(await connection.scalar(select(func.count()).select_from(Author)), 1)

        async def test_2_empty(self) -> None:
            await self.assertDatabaseEmpty()

    return AsyncTruncateIsolation


class AsyncTruncateIsolation(unittest.TestCase):
    def test_each_step_in_order(self) -> None:
        result = run_case(_async_truncate_isolation_steps())
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(result.testsRun, 2)


class TruncateRefusesClassData(unittest.TestCase):
    def test_refused(self) -> None:
        from pglite_testcase import ConfigurationError

        class Both(PGliteTestCase):
            metadata = Base
            isolation = "truncate"

            @classmethod
            def setUpTestData(cls) -> None:
                cls.session.add(Author(name="x"))

        with self.assertRaises(ConfigurationError) as caught:
            Both.setUpClass()
        self.assertIn("Both has class-level test data and isolation = 'truncate'", str(caught.exception))


@pglite_only
class Extensions(PGliteTestCase):
    metadata = Base
    extensions = ["pgvector", "pg_trgm", "uuid-ossp"]

    def test_vector_column(self) -> None:
        self.connection.execute(text("CREATE TABLE items (id serial PRIMARY KEY, embedding vector(3))"))
        self.connection.execute(text("INSERT INTO items (embedding) VALUES ('[1,2,3]'), ('[9,9,9]'), ('[1,2,4]')"))
        nearest = self.connection.scalars(text("SELECT id FROM items ORDER BY embedding <-> '[1,2,3]' LIMIT 2")).all()
        self.assertEqual(nearest, [1, 3])

    def test_trigram_similarity(self) -> None:
        self.session.add_all([Author(name="Ada Lovelace"), Author(name="Grace Hopper")])
        self.session.flush()
        best = self.session.scalar(
            text("SELECT name FROM authors ORDER BY similarity(name, 'Ada Lovelase') DESC LIMIT 1")
        )
        self.assertEqual(best, "Ada Lovelace")

    def test_uuid_ossp(self) -> None:
        self.assertEqual(len(str(self.connection.scalar(text("SELECT uuid_generate_v4()")))), 36)


class BadExtensions(unittest.TestCase):
    def test_unknown_extension(self) -> None:
        from pglite_testcase import ConfigurationError

        class Unknown(PGliteTestCase):
            extensions = ["postgis"]

        with self.assertRaises(ConfigurationError) as caught:
            Unknown.setUpClass()
        self.assertIn("Unknown.extensions", str(caught.exception))
        self.assertIn("postgis", str(caught.exception))
        self.assertIn("pgvector", str(caught.exception))


class TruncateLeavesNothingBehind(unittest.TestCase):
    def test_a_later_class_finds_the_schema_as_built(self) -> None:
        class Truncating(PGliteTestCase):
            metadata = Base
            isolation = "truncate"

            def test_writes(self) -> None:
                self.session.add(Author(name="committed"))
                self.session.commit()

        class After(PGliteTestCase):
            metadata = Base

            def test_no_tracking_left(self) -> None:
                triggers = self.connection.scalar(
                    text("SELECT count(*) FROM pg_trigger WHERE tgname = 'pglite_testcase_written'")
                )
                self.assertEqual(triggers, 0)
                schemas = self.connection.scalar(
                    text("SELECT count(*) FROM pg_namespace WHERE nspname = 'pglite_testcase_truncate'")
                )
                self.assertEqual(schemas, 0)
                self.assertDatabaseEmpty()

        for case in (Truncating, After):
            result = run_case(case)
            self.assertTrue(result.wasSuccessful(), problems(result))
