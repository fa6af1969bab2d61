"""The suite's base class: a fresh app, its tables created before and dropped after each test.

export TEST_DATABASE_URL=postgresql://blog:blog@localhost/blog_test
python -m unittest discover -s examples/legacy_flask -t .
"""

import os
import unittest

from examples.legacy_flask.app import create_app, db


class BlogTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not os.environ.get("TEST_DATABASE_URL"):
            raise unittest.SkipTest(
                "TEST_DATABASE_URL is not set: these tests need a PostgreSQL test database,"
                " e.g. TEST_DATABASE_URL=postgresql://blog:blog@localhost/blog_test"
            )

    def setUp(self):
        self.app = create_app("testing")
        self.app_context = self.app.app_context()
        self.app_context.push()
        db.create_all()
        self.client = self.app.test_client()

    def tearDown(self):
        db.session.remove()
        db.drop_all()
        self.app_context.pop()
