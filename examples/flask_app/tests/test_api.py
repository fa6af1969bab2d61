"""The Flask app's endpoints through ``app.test_client()``, each test in a rolled-back transaction.

The app is made with ``create_app(self.sessionmaker)``: every request's session comes
from the test case's session factory, so it joins the test's transaction (a savepoint
per session). A request's ``commit()`` releases its savepoint, and a request that does
not commit is undone when its session is closed at the end of the request; all of it
is rolled back when the test ends.
"""

from __future__ import annotations

import unittest
from pathlib import Path

from sqlalchemy import func, select

from examples.flask_app.app import create_app
from examples.inventory.models import Supplier
from pglite_testcase import PGliteTestCase

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "inventory" / "alembic.ini"


class SupplierApiTests(PGliteTestCase):
    alembic_config = str(ALEMBIC_INI)

    def setUp(self) -> None:
        super().setUp()
        self.app = create_app(self.sessionmaker)
        self.app.config["TESTING"] = True
        self.client = self.app.test_client()

    def supplier_count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Supplier)) or 0

    def test_create_commits_and_the_supplier_can_be_fetched(self) -> None:
        response = self.client.post("/suppliers", json={"name": "Acme"})
        self.assertEqual(response.status_code, 201, response.get_data(as_text=True))
        created = response.get_json()
        self.assertEqual(created["name"], "Acme")

        # Committed by the request's own session, which is closed by now: the test sees it.
        self.assertEqual(self.session.get(Supplier, created["id"]).name, "Acme")

        response = self.client.get(f"/suppliers/{created['id']}")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.get_json(), created)

    def test_list_is_ordered_by_name_and_sees_rows_the_test_added(self) -> None:
        self.session.add_all([Supplier(name="Globex"), Supplier(name="Acme")])
        self.session.commit()
        self.client.post("/suppliers", json={"name": "Initech"})

        response = self.client.get("/suppliers")
        self.assertEqual([s["name"] for s in response.get_json()], ["Acme", "Globex", "Initech"])

    def test_missing_supplier_is_404(self) -> None:
        response = self.client.get("/suppliers/999999")
        self.assertEqual(response.status_code, 404)
        self.assertEqual(response.get_json(), {"error": "no supplier with id 999999"})

    def test_uncommitted_request_leaves_nothing_behind(self) -> None:
        response = self.client.post("/suppliers?dry_run=1", json={"name": "Acme"})
        self.assertEqual(response.status_code, 201)
        self.assertIsInstance(response.get_json()["id"], int)  # flushed: it got an id
        # The request's session was closed without a commit: its savepoint was rolled back.
        self.assertEqual(self.client.get("/suppliers").get_json(), [])
        self.assertEqual(self.supplier_count(), 0)

    def test_duplicate_name_is_409_and_later_requests_work(self) -> None:
        self.assertEqual(self.client.post("/suppliers", json={"name": "Acme"}).status_code, 201)
        self.assertEqual(self.client.post("/suppliers", json={"name": "Acme"}).status_code, 409)
        self.assertEqual(self.client.post("/suppliers", json={"name": "Globex"}).status_code, 201)
        self.assertEqual(self.supplier_count(), 2)

    def test_invalid_body_is_400(self) -> None:
        self.assertEqual(self.client.post("/suppliers", json={"name": ""}).status_code, 400)
        self.assertEqual(self.client.post("/suppliers", data="not json").status_code, 400)

    # The two isolation tests commit through the API; whichever runs second still starts empty.

    def test_isolation_first_test_starts_empty(self) -> None:
        self.assertEqual(self.client.get("/suppliers").get_json(), [])
        self.assertEqual(self.client.post("/suppliers", json={"name": "First"}).status_code, 201)
        self.assertEqual(self.supplier_count(), 1)

    def test_isolation_second_test_starts_empty(self) -> None:
        self.assertEqual(self.client.get("/suppliers").get_json(), [])
        self.assertEqual(self.client.post("/suppliers", json={"name": "Second"}).status_code, 201)
        self.assertEqual(self.supplier_count(), 1)


if __name__ == "__main__":
    unittest.main()
