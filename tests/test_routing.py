"""database_objects: an application's module-level engines and sessions, routed into each test.

Every test writes through the application's own objects (whose URL names a database nobody runs),
commits the way the application does, and checks that it sees exactly the class data plus its own
row: a write that escaped a test's transaction, or objects left routed to a finished class, makes a
later test (or the restore checks) fail.
"""

from __future__ import annotations

import unittest
from typing import Any, ClassVar

from sqlalchemy import func, insert, select, text

from pglite_testcase import AsyncPGliteTestCase, PGliteTestCase

from . import routing_app
from .models import Author, Base
from .support import problems, run_case


def authors(connection: Any) -> list[str]:
    return sorted(connection.scalars(select(Author.name)))


class SyncObjectsRouted(PGliteTestCase):
    metadata = Base
    database_objects = routing_app.SYNC_OBJECTS

    @classmethod
    def setUpTestData(cls) -> None:
        # Class data made through the application's scoped_session, committed as the application does.
        routing_app.Session.add(Author(name="class"))
        routing_app.Session.commit()

    def test_engine_is_the_tests(self) -> None:
        self.assertEqual(routing_app.engine.url, self.engine.url)
        with routing_app.engine.begin() as connection:
            connection.execute(insert(Author).values(name="engine"))
        self.assertEqual(authors(self.connection), ["class", "engine"])

    def test_scoped_session_commits_stay_in_the_test(self) -> None:
        routing_app.Session.add(Author(name="scoped"))
        routing_app.Session.commit()
        self.assertEqual(authors(self.session), ["class", "scoped"])

    def test_unbound_sessionmaker_is_bound_to_the_test(self) -> None:
        with routing_app.unbound_factory() as session:
            session.add(Author(name="unbound"))
            session.commit()
        self.assertEqual(authors(self.connection), ["class", "unbound"])

    def test_failure_inside_the_application_transaction(self) -> None:
        with self.assertRaises(Exception):
            with routing_app.engine.begin() as connection:
                connection.execute(insert(Author).values(name="class"))  # unique name: fails
        routing_app.Session.add(Author(name="after"))
        routing_app.Session.commit()
        self.assertEqual(authors(self.connection), ["after", "class"])


class AsyncObjectsRouted(AsyncPGliteTestCase):
    metadata = Base
    database_objects = routing_app.ASYNC_OBJECTS

    @classmethod
    async def asyncSetUpTestData(cls) -> None:
        async with routing_app.AsyncSessionLocal() as session:
            session.add(Author(name="class"))
            await session.commit()

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        routing_app.async_session_scope[0] = self

    async def names(self) -> list[str]:
        return sorted(await self.session.scalars(select(Author.name)))

    async def test_async_engine_is_the_tests(self) -> None:
        async with routing_app.async_engine.begin() as connection:
            await connection.execute(insert(Author).values(name="engine"))
        self.assertEqual(await self.names(), ["class", "engine"])

    async def test_async_sessionmaker_commits_stay_in_the_test(self) -> None:
        async with routing_app.AsyncSessionLocal() as session:
            session.add(Author(name="factory"))
            await session.commit()
        self.assertEqual(await self.names(), ["class", "factory"])

    async def test_unbound_async_sessionmaker(self) -> None:
        async with routing_app.unbound_async_factory() as session:
            await session.execute(insert(Author).values(name="unbound"))
            await session.commit()
        self.assertEqual(await self.names(), ["class", "unbound"])

    async def test_async_scoped_session(self) -> None:
        routing_app.AsyncScoped.add(Author(name="scoped"))
        await routing_app.AsyncScoped.commit()
        await routing_app.AsyncScoped.remove()
        self.assertEqual(await self.names(), ["class", "scoped"])


class RoutingIsUndone(unittest.TestCase):
    """After a class, whatever its tests did, the objects are the application's again."""

    before: ClassVar[dict[str, object]]

    @classmethod
    def setUpClass(cls) -> None:
        cls.before = routing_app.state()

    def _check(self, base: type, objects: list[str], bodies: dict[str, Any]) -> None:
        hostile = type("Hostile", (base,), {"metadata": Base, "database_objects": objects, **bodies})
        result = run_case(hostile)
        self.assertEqual(result.testsRun, len(bodies))
        self.assertEqual(len(result.errors) + len(result.failures), len(bodies) - 1, problems(result))
        self.assertEqual(routing_app.state(), self.before)

    def test_sync_objects_after_failing_erroring_and_leftover_sessions(self) -> None:
        def fails(test: Any) -> None:
            routing_app.Session.add(Author(name="left in the scoped session"))
            routing_app.Session.flush()
            test.fail("on purpose")

        def errors(test: Any) -> None:
            routing_app.unbound_factory().execute(text("SELECT 1"))
            raise RuntimeError("on purpose")

        def passes(test: Any) -> None:
            self.assertEqual(routing_app.Session.scalar(select(func.count()).select_from(Author)), 0)

        self._check(PGliteTestCase, routing_app.SYNC_OBJECTS, {"test_1": fails, "test_2": errors, "test_3": passes})

    def test_async_objects_after_failing_and_erroring_tests(self) -> None:
        async def fails(test: Any) -> None:
            routing_app.async_session_scope[0] = test
            routing_app.AsyncScoped.add(Author(name="left in the scoped session"))
            await routing_app.AsyncScoped.flush()
            test.fail("on purpose")

        async def errors(test: Any) -> None:
            async with routing_app.async_engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            raise RuntimeError("on purpose")

        async def passes(test: Any) -> None:
            async with routing_app.AsyncSessionLocal() as session:
                self.assertEqual(await session.scalar(select(func.count()).select_from(Author)), 0)

        self._check(
            AsyncPGliteTestCase, routing_app.ASYNC_OBJECTS, {"test_1": fails, "test_2": errors, "test_3": passes}
        )

    def test_outside_a_class_the_application_database_is_used(self) -> None:
        # Nothing routes the objects between classes: they reach for the application's (absent) database.
        with self.assertRaises(Exception) as caught:
            with routing_app.engine.connect():
                pass
        self.assertIn("nonexistent-routing-app", str(caught.exception))
