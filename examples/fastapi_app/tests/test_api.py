"""The FastAPI app's endpoints through ``TestClient``, each test in a rolled-back transaction.

The app's only way to the database is its ``get_db`` dependency. ``setUp`` overrides it
so that every request uses the test's session, ``tearDown`` removes the override.

``TestClient`` runs the app in this process, on a worker thread: the requests and the
test take turns on the same session, one at a time, which is all PGlite's single
database session needs. What must not happen is the app opening a connection of its
own (its ``SessionLocal``): the override makes sure it never does.
"""

from __future__ import annotations

import unittest
from collections.abc import Iterator
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from examples.fastapi_app.app import app, get_db
from examples.inventory.models import Supplier
from pglite_testcase import PGliteTestCase

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "inventory" / "alembic.ini"


class SupplierApiTests(PGliteTestCase):
    """Every request's ``get_db`` yields ``self.session``."""

    alembic_config = str(ALEMBIC_INI)

    def setUp(self) -> None:
        super().setUp()

        def test_db() -> Iterator[Session]:
            # Yield the test's session and leave it open: the test case closes it.
            yield self.session

        app.dependency_overrides[get_db] = test_db
        self.client = TestClient(app)

    def tearDown(self) -> None:
        try:
            self.client.close()
            app.dependency_overrides.pop(get_db, None)
        finally:
            super().tearDown()

    def supplier_count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Supplier)) or 0

    def test_create_commits_and_the_supplier_can_be_fetched(self) -> None:
        response = self.client.post("/suppliers", json={"name": "Acme"})
        self.assertEqual(response.status_code, 201, response.text)
        created = response.json()
        self.assertEqual(created["name"], "Acme")

        # The endpoint committed: a fresh session sees the row.
        with self.sessionmaker() as other:
            self.assertEqual(other.get(Supplier, created["id"]).name, "Acme")

        response = self.client.get(f"/suppliers/{created['id']}")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json(), created)

    def test_list_is_ordered_by_name_and_sees_rows_the_test_added(self) -> None:
        self.session.add_all([Supplier(name="Globex"), Supplier(name="Acme")])
        self.session.commit()
        self.client.post("/suppliers", json={"name": "Initech"})

        response = self.client.get("/suppliers")
        self.assertEqual(response.status_code, 200)
        self.assertEqual([s["name"] for s in response.json()], ["Acme", "Globex", "Initech"])

    def test_missing_supplier_is_404(self) -> None:
        response = self.client.get("/suppliers/999999")
        self.assertEqual(response.status_code, 404)
        self.assertEqual(response.json(), {"detail": "no supplier with id 999999"})

    def test_duplicate_name_is_409_and_the_session_carries_on(self) -> None:
        self.assertEqual(self.client.post("/suppliers", json={"name": "Acme"}).status_code, 201)
        response = self.client.post("/suppliers", json={"name": "Acme"})
        self.assertEqual(response.status_code, 409)
        # The endpoint's rollback undid only its own failed insert.
        self.assertEqual(self.client.post("/suppliers", json={"name": "Globex"}).status_code, 201)
        self.assertEqual(self.supplier_count(), 2)

    def test_invalid_body_is_422_and_nothing_is_written(self) -> None:
        response = self.client.post("/suppliers", json={"name": ""})
        self.assertEqual(response.status_code, 422)
        self.assertEqual(self.supplier_count(), 0)

    # The two isolation tests commit through the API; whichever runs second still starts empty.

    def test_isolation_first_test_starts_empty(self) -> None:
        self.assertEqual(self.client.get("/suppliers").json(), [])
        self.assertEqual(self.client.post("/suppliers", json={"name": "First"}).status_code, 201)
        self.assertEqual(self.supplier_count(), 1)

    def test_isolation_second_test_starts_empty(self) -> None:
        self.assertEqual(self.client.get("/suppliers").json(), [])
        self.assertEqual(self.client.post("/suppliers", json={"name": "Second"}).status_code, 201)
        self.assertEqual(self.supplier_count(), 1)


class PerRequestSessionTests(PGliteTestCase):
    """The closer-to-production variant: each request gets a session of its own from
    ``self.sessionmaker`` (joined to the test's transaction), closed when the request ends,
    so nothing is shared with the test through the identity map."""

    alembic_config = str(ALEMBIC_INI)

    def setUp(self) -> None:
        super().setUp()

        def test_db() -> Iterator[Session]:
            with self.sessionmaker() as session:
                yield session

        app.dependency_overrides[get_db] = test_db
        self.client = TestClient(app)

    def tearDown(self) -> None:
        try:
            self.client.close()
            app.dependency_overrides.pop(get_db, None)
        finally:
            super().tearDown()

    def test_a_commit_in_one_request_is_seen_by_the_next_and_by_the_test(self) -> None:
        created = self.client.post("/suppliers", json={"name": "Acme"}).json()
        self.assertEqual(self.client.get(f"/suppliers/{created['id']}").json(), created)
        self.assertEqual(self.session.scalars(select(Supplier.name)).all(), ["Acme"])

    def test_starts_empty(self) -> None:
        self.assertEqual(self.client.get("/suppliers").json(), [])


if __name__ == "__main__":
    unittest.main()
