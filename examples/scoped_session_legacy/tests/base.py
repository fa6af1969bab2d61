"""The suite's base class. Before: a unittest.TestCase that needed DATABASE_URL to name a test
database, ran ``Base.metadata.create_all(engine)`` in setUpClass and dropped everything in
tearDownClass. Now the only change is the base class and two attributes: the module-level
``engine`` and ``Session`` are routed into each test's transaction, so everything the
application commits (``Session.commit()``, ``engine.execute``, ``engine.begin()``) is rolled back.
"""

from pglite_testcase import PGliteTestCase
from shop.db import Base


class DatabaseTestCase(PGliteTestCase):
    metadata = Base  # create_all once per class, from the models
    database_objects = ["shop.db.engine", "shop.db.Session"]
