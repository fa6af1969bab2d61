"""The test base class: a migrated PostgreSQL (PGlite) per class, each test rolled back.

Moved onto pglite_testcase by changing this file only (see ../MOVING.md): the application's
module-level ``engine`` and ``Session`` are routed into each test's transaction, and the
migrations' env.py, which reads the URL from the settings, is pointed at the test database.

python -m unittest discover -s examples/legacy_globals -t .
"""

from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from examples.legacy_globals.settings import settings
from pglite_testcase import PGliteTestCase

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"


class DatabaseTestCase(PGliteTestCase):
    alembic_config = str(ALEMBIC_INI)
    database_objects = ["examples.legacy_globals.db.engine", "examples.legacy_globals.db.Session"]
    reset_sequences = True  # test_first_member_gets_id_1 counts on fresh sequences, as TRUNCATE gave it

    @classmethod
    @contextmanager
    def alembic_environment(cls, url):
        with mock.patch.object(settings, "DATABASE_URL", url):
            yield
