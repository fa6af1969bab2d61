"""The test base class: the PostgreSQL test database named by DATABASE_URL, migrated, emptied after each test.

export DATABASE_URL=postgresql://postgres@localhost/library_test
python -m unittest discover -s examples/legacy_globals -t .
"""

import os
import unittest
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from examples.legacy_globals.db import Base, Session, engine

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"


class DatabaseTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not os.environ.get("DATABASE_URL"):
            raise unittest.SkipTest(
                "DATABASE_URL is not set: these tests need a PostgreSQL test database,"
                " e.g. DATABASE_URL=postgresql://postgres@localhost/library_test"
            )
        if "test" not in (engine.url.database or ""):
            raise unittest.SkipTest(
                f"DATABASE_URL names the database {engine.url.database!r}: these tests empty every table,"
                " so they only run on a database whose name contains 'test'"
            )
        command.upgrade(Config(str(ALEMBIC_INI)), "head")

    def tearDown(self):
        Session.remove()
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        super().tearDown()
