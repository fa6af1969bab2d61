"""The suite's base class: a fresh app per test, on a migrated PostgreSQL (PGlite), each test rolled back.

Moved onto pglite_testcase by changing this file only (see ../MOVING.md): the class builds the
schema once from the Flask-Migrate migrations (their env.py runs in an application context, with
``db`` routed to the test database), and ``db`` is routed into each test's transaction, so what the
tests and the views commit, and even ``db.drop_all()`` below, is rolled back.

python -m unittest discover -s examples/legacy_flask -t .
"""

from contextlib import contextmanager
from pathlib import Path

from examples.legacy_flask.app import create_app, db
from pglite_testcase import PGliteTestCase


class BlogTestCase(PGliteTestCase):
    alembic_config = Path(__file__).resolve().parents[1] / "migrations" / "alembic.ini"
    database_objects = ["examples.legacy_flask.app.db"]

    @classmethod
    @contextmanager
    def alembic_environment(cls, url):
        with create_app("testing").app_context():  # Flask-Migrate's env.py reads current_app
            yield

    def setUp(self):
        super().setUp()
        self.app = create_app("testing")
        self.app_context = self.app.app_context()
        self.app_context.push()
        db.create_all()
        self.client = self.app.test_client()

    def tearDown(self):
        db.session.remove()
        db.drop_all()
        self.app_context.pop()
        super().tearDown()
