"""The wiki's tests: the application is built once per class from its settings, as ``pserve`` does.

``main({}, **settings)`` with ``sqlalchemy.url`` set to ``cls.database_url``: the engine that
``wiki.models.includeme`` makes from those settings is on the test database, so pglite_testcase
routes it into the class's transaction, then into each test's. What ``setUpClass`` seeds (committed
through ``transaction.manager`` and zope.sqlalchemy, as the application writes) is the state every
test starts from; what a request commits through ``pyramid_tm`` is rolled back after the test.
"""

import unittest

import transaction
import webtest
from pyramid import testing
from sqlalchemy import func, select

from pglite_testcase import PGliteTestCase
from wiki import main
from wiki.models import Base, Page, get_tm_session
from wiki.views import count_a_view


class WikiTestCase(PGliteTestCase):
    metadata = Base

    @classmethod
    def setUpClass(cls):
        super().setUpClass()  # first: the database, cls.database_url and the class's transaction
        cls.app = main({}, **{"sqlalchemy.url": cls.database_url})
        cls.testapp = webtest.TestApp(cls.app)
        with transaction.manager:  # the seed, committed as the application commits
            dbsession = get_tm_session(cls.app.registry["dbsession_factory"], transaction.manager)
            dbsession.add_all([Page(name="FrontPage", body="Welcome"), Page(name="HelpPage", body="Ask")])


class FunctionalTests(WikiTestCase):
    def test_seeded_pages(self):
        self.assertEqual(self.testapp.get("/pages").json, ["FrontPage", "HelpPage"])
        self.assertEqual(self.testapp.get("/pages/FrontPage").json["body"], "Welcome")

    def test_unknown_page_is_404(self):
        self.testapp.get("/pages/NoSuchPage", status=404)

    def test_created_page_is_committed(self):
        response = self.testapp.post_json("/pages", {"name": "SandBox", "body": "play"}, status=201)
        self.assertEqual(response.json["views"], 0)
        self.assertEqual(self.testapp.get("/pages").json, ["FrontPage", "HelpPage", "SandBox"])
        # pyramid_tm committed it: the test's own session sees it too
        self.assertEqual(self.session.scalar(select(Page.body).filter_by(name="SandBox")), "play")

    def test_duplicate_page_is_refused_and_aborted(self):
        self.testapp.post_json("/pages", {"name": "FrontPage"}, status=409)
        self.testapp.post_json("/pages", {"name": "not a wiki word"}, status=409)
        self.assertEqual(self.session.scalar(select(func.count()).select_from(Page)), 2)

    def test_views_are_counted(self):
        self.testapp.post("/pages/FrontPage/views")
        self.assertEqual(self.testapp.post("/pages/FrontPage/views").json["views"], 2)

    def test_deleted_page_is_gone(self):
        self.testapp.delete("/pages/HelpPage")
        self.testapp.get("/pages/HelpPage", status=404)

    def test_each_test_starts_from_the_seed(self):
        self.assertEqual(self.session.scalar(select(func.count()).select_from(Page)), 2)
        self.assertEqual(self.session.scalar(select(Page.views).filter_by(name="FrontPage")), 0)


class ViewUnitTests(WikiTestCase):
    """A view called directly, with a DummyRequest whose dbsession is joined to a transaction manager."""

    def setUp(self):
        super().setUp()
        self.config = testing.setUp()
        self.addCleanup(testing.tearDown)
        self.tm = transaction.TransactionManager()
        self.addCleanup(self.tm.abort)
        self.dbsession = get_tm_session(self.sessionmaker, self.tm)

    def test_count_a_view(self):
        request = testing.DummyRequest(dbsession=self.dbsession, matchdict={"name": "HelpPage"})
        self.assertEqual(count_a_view(request)["views"], 1)
        self.tm.commit()
        self.assertEqual(self.session.scalar(select(Page.views).filter_by(name="HelpPage")), 1)


if __name__ == "__main__":
    unittest.main()
