"""The suite's base class: the Flask-Migrate migrations build a PostgreSQL (PGlite) per class.

The migrations' env.py (Flask-Migrate 2.x's) reads ``current_app.config["SQLALCHEMY_DATABASE_URI"]``
and builds its own engine with ``engine_from_config``. So the answer is a config subclass whose
``SQLALCHEMY_DATABASE_URI`` is the URL pglite_testcase hands out: one for the database the
migrations build (in ``alembic_environment``), one for the tests (``cls.database_url``). Engines
built from the test database's URL are routed into each test's transaction by themselves: no
``database_objects`` needed, and what the views commit is rolled back after each test.
"""

from contextlib import contextmanager
from pathlib import Path

from app import create_app, db
from config import Config
from pglite_testcase import PGliteTestCase

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def config_for(url):
    class TestConfig(Config):
        TESTING = True
        SQLALCHEMY_DATABASE_URI = url

    return TestConfig


class AppTestCase(PGliteTestCase):
    alembic_config = str(MIGRATIONS / "alembic.ini")  # Flask-Migrate's: the scripts beside it

    @classmethod
    @contextmanager
    def alembic_environment(cls, url):
        with create_app(config_for(url)).app_context():  # env.py: current_app.config[...] is url
            yield

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.app = create_app(config_for(cls.database_url))

    def setUp(self):
        super().setUp()
        self.app_context = self.app.app_context()
        self.app_context.push()
        self.client = self.app.test_client()

    def tearDown(self):
        db.session.remove()
        self.app_context.pop()
        super().tearDown()
