"""The Flask-SQLAlchemy app through ``app.test_client()``, each test in a rolled-back transaction.

How the app is made to use the test's transaction
--------------------------------------------------
SQLAlchemy's recipe binds the session to the test's connection
(``Session(bind=connection, join_transaction_mode="create_savepoint")``). With
Flask-SQLAlchemy 3.x that does not work: its ``Session.get_bind`` returns the app's
engine from ``db.engines`` before it looks at the session's own ``bind``, so
``db.session.configure(bind=self.connection, ...)`` is silently ignored and the app
opens a connection of its own (on PGlite it is refused after 2 s; on a real server its
commits are real and outlive the test). See pallets-eco/flask-sqlalchemy#1167.

What works is to replace the engine Flask-SQLAlchemy chose: ``db.engines`` is the
app's own dict of engines by bind key (typed as a read-only mapping, but a plain dict
in 3.x; the maintainers point to this route in #1167 and #1171), and ``setUp`` puts
``self.engine`` in it for the default key ``None``, the one the inventory tables use.
``self.engine``'s connections are the test's connection and its ``BEGIN``/``COMMIT``/
``ROLLBACK`` are savepoint statements, so ``db.session`` (and any ``db.engine.begin()``
in the app) behaves as in production and stays inside the test's transaction. Putting
``self.connection`` there instead would also need ``join_transaction_mode=
"create_savepoint"`` on ``db.session``: with SQLAlchemy's default mode, the app's
``db.session.rollback()`` would roll back the whole test transaction.

The app is configured with the test database's URL and ``connect_args`` all the same,
so that anything slipping past the replacement reaches the test database (and on
PGlite is refused loudly), never another one.
"""

from __future__ import annotations

import unittest
from pathlib import Path

from sqlalchemy import func, select

from examples.flask_sqlalchemy_app.app import create_app, db
from examples.inventory.models import Supplier
from pglite_testcase import PGliteTestCase

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "inventory" / "alembic.ini"


class SupplierApiTests(PGliteTestCase):
    alembic_config = str(ALEMBIC_INI)

    def setUp(self) -> None:
        super().setUp()
        self.app = create_app(
            {
                "TESTING": True,
                "SQLALCHEMY_DATABASE_URI": self.database_url,
                "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": self.connect_args},
            }
        )
        with self.app.app_context():
            engines = db.engines  # this app's engines (a dict), by bind key
        app_engine = engines[None]
        engines[None] = self.engine
        self.addCleanup(app_engine.dispose)  # it never connected; dispose() for tidiness
        self.client = self.app.test_client()

    def supplier_count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Supplier)) or 0

    def test_db_session_uses_the_test_engine(self) -> None:
        with self.app.app_context():
            self.assertIs(db.session.get_bind(), self.engine)
            self.assertIs(db.engine, self.engine)

    def test_create_commits_and_the_supplier_can_be_fetched(self) -> None:
        response = self.client.post("/suppliers", json={"name": "Acme"})
        self.assertEqual(response.status_code, 201, response.get_data(as_text=True))
        created = response.get_json()

        # Committed by the request's db.session, which was removed at the end of the request.
        self.assertEqual(self.session.get(Supplier, created["id"]).name, "Acme")
        with self.app.app_context():
            self.assertEqual(db.session.get(Supplier, created["id"]).name, "Acme")

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

    def test_duplicate_name_is_409_and_later_requests_work(self) -> None:
        self.assertEqual(self.client.post("/suppliers", json={"name": "Acme"}).status_code, 201)
        self.assertEqual(self.client.post("/suppliers", json={"name": "Acme"}).status_code, 409)
        self.assertEqual(self.client.post("/suppliers", json={"name": "Globex"}).status_code, 201)
        self.assertEqual(self.supplier_count(), 2)

    def test_rollback_in_the_app_undoes_only_its_own_work(self) -> None:
        self.client.post("/suppliers", json={"name": "Acme"})
        with self.app.app_context():
            db.session.add(Supplier(name="Globex"))
            db.session.flush()
            db.session.rollback()
            self.assertEqual(db.session.scalars(select(Supplier.name)).all(), ["Acme"])

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
