"""Factory Boy bound to each test's session; Faker seeded per test."""

from __future__ import annotations

import unittest
from typing import ClassVar

from sqlalchemy import func, select

from pglite_testcase import AsyncPGliteTestCase, PGliteTestCase

from .factories import AuthorFactory, BookFactory
from .models import Author, Base, Book
from .support import problems, run_case


class WithFactories(PGliteTestCase):
    metadata = Base
    factories = [AuthorFactory, BookFactory]
    faker_seed = 1234
    names: ClassVar[list[str]] = []

    def test_create_batch_and_subfactory(self) -> None:
        books = BookFactory.create_batch(3)
        self.assertEqual(self.session.scalar(select(func.count()).select_from(Book)), 3)
        self.assertEqual(self.session.scalar(select(func.count()).select_from(Author)), 3)
        self.assertTrue(all(book.author.id for book in books))
        self.assertIs(AuthorFactory._meta.sqlalchemy_session, self.session)

    def test_seeded_a(self) -> None:
        type(self).names.append(AuthorFactory().name)

    def test_seeded_b(self) -> None:
        type(self).names.append(AuthorFactory().name)


class FactoryBehaviour(unittest.TestCase):
    def test_seeded_output_repeats_and_sessions_are_restored(self) -> None:
        WithFactories.names = []
        before = AuthorFactory._meta.sqlalchemy_session
        result = run_case(WithFactories)
        self.assertTrue(result.wasSuccessful(), problems(result))
        first, second = WithFactories.names
        self.assertEqual(first, second, "the same seed before each test gives the same name")
        self.assertIs(AuthorFactory._meta.sqlalchemy_session, before)

    def test_nothing_remains(self) -> None:
        class After(PGliteTestCase):
            metadata = Base

            def test_empty(self) -> None:
                self.assertDatabaseEmpty()

        run_case(WithFactories)
        result = run_case(After)
        self.assertTrue(result.wasSuccessful(), problems(result))

    def test_bad_factories_are_refused(self) -> None:
        from pglite_testcase import ConfigurationError

        class NotFactories(PGliteTestCase):
            factories = [Author]

        with self.assertRaises(ConfigurationError) as caught:
            NotFactories.setUpClass()
        self.assertIn("NotFactories.factories", str(caught.exception))
        self.assertIn("SQLAlchemyModelFactory", str(caught.exception))


class AsyncWithFactories(AsyncPGliteTestCase):
    metadata = Base
    factories = [AuthorFactory, BookFactory]
    faker_seed = 7

    async def test_create_batch_then_flush(self) -> None:
        # Under asyncio the factories only add (no flush of their own); the test awaits it.
        books = BookFactory.create_batch(2)
        await self.session.flush()
        self.assertEqual(await self.session.scalar(select(func.count()).select_from(Book)), 2)
        self.assertTrue(all(book.author.id for book in books))
        self.assertEqual(BookFactory._meta.sqlalchemy_session_persistence, None)

    async def test_persistence_is_restored_after(self) -> None:
        self.assertIsNone(AuthorFactory._meta.sqlalchemy_session_persistence)


class AsyncRestores(unittest.TestCase):
    def test_restored(self) -> None:
        result = run_case(AsyncWithFactories)
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(AuthorFactory._meta.sqlalchemy_session_persistence, "flush")
