"""The real-PostgreSQL backend: own databases per process, templates, cleanup of leftovers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import unittest
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from pglite_testcase import PGliteTestCase
from pglite_testcase.database.server import RUN_PREFIX, parse_server_url
from pglite_testcase.environment import DATABASE_URL as SERVER_URL_ENV

from .models import Author, Base
from .support import server_only

ROOT = Path(__file__).resolve().parents[1]


def admin_scalars(sql: str, **params: object) -> list[object]:
    engine = create_engine(parse_server_url(os.environ[SERVER_URL_ENV], "test"), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return list(connection.scalars(text(sql), params))
    finally:
        engine.dispose()


def database_exists(name: str) -> bool:
    return bool(admin_scalars("SELECT 1 FROM pg_database WHERE datname = :name", name=name))


@server_only
class OwnConnectionOnARealServer(PGliteTestCase):
    metadata = Base

    def test_runs_in_a_database_of_its_own(self) -> None:
        self.assertTrue(self.db_name.startswith(RUN_PREFIX))
        self.assertIn(str(os.getpid()), self.db_name)

    def test_own_engine_is_routed_a_raw_connection_does_not_see_the_tests_uncommitted_data(self) -> None:
        self.session.add(Author(name="uncommitted, for other connections"))
        self.session.commit()  # a savepoint release: still inside the test's transaction
        own = create_engine(self.database_url, poolclass=NullPool)  # routed into the test's transaction
        try:
            with own.connect() as connection:
                self.assertEqual(connection.scalar(select(func.count()).select_from(Author)), 1)
        finally:
            own.dispose()
        url = make_url(self.database_url)
        with psycopg.connect(
            host=url.host or url.query.get("host"),
            port=url.port,
            user=url.username,
            password=url.password,
            dbname=url.database,
        ) as raw:  # outside SQLAlchemy: a connection of its own
            self.assertEqual(raw.execute("SELECT count(*) FROM authors").fetchone(), (0,))
        self.assertEqual(self.session.scalar(select(func.count()).select_from(Author)), 1)


@server_only
class ProcessDatabases(unittest.TestCase):
    SUITE = """
        import unittest
        from sqlalchemy import insert
        from pglite_testcase import PGliteTestCase
        from tests.models import Author, Base

        class InChild(PGliteTestCase):
            metadata = Base
            def test(self):
                print("DB", type(self).db_name, flush=True)
                self.connection.execute(insert(Author).values(name="x"))

        unittest.main(argv=["child"], exit=False)
        """

    def run_child(self) -> str:
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(self.SUITE)], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        return next(line.split()[1] for line in result.stdout.splitlines() if line.startswith("DB "))

    def test_each_process_gets_its_own_database_dropped_at_exit(self) -> None:
        first, second = self.run_child(), self.run_child()
        self.assertNotEqual(first, second)
        self.assertFalse(database_exists(first))
        self.assertFalse(database_exists(second))

    def test_the_schema_template_is_reused(self) -> None:
        self.run_child()
        templates = set(
            admin_scalars("SELECT datname FROM pg_database WHERE datname LIKE 'pglite\\_testcase\\_tpl\\_%'")
        )
        self.run_child()
        self.assertTrue(templates)
        self.assertEqual(
            set(admin_scalars("SELECT datname FROM pg_database WHERE datname LIKE 'pglite\\_testcase\\_tpl\\_%'")),
            templates,
            "the second process should have used the existing template",
        )

    def test_cleanup_drops_leftovers_only(self) -> None:
        leftover = f"{RUN_PREFIX}999999_deadbeef"
        engine = create_engine(
            parse_server_url(os.environ[SERVER_URL_ENV], "test"), poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
        try:
            with engine.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{leftover}"'))
                connection.execute(text(f'CREATE DATABASE "{leftover}"'))
            result = subprocess.run(
                [sys.executable, "-m", "pglite_testcase", "cleanup", "--url", os.environ[SERVER_URL_ENV]],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
            )
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn(f"dropped {leftover}", result.stdout)
            self.assertFalse(database_exists(leftover))
        finally:
            engine.dispose()

    def test_cleanup_leaves_a_database_in_use(self) -> None:
        class InUse(PGliteTestCase):
            metadata = Base

        InUse.setUpClass()
        try:
            name = InUse.db_name
            result = subprocess.run(
                [sys.executable, "-m", "pglite_testcase", "cleanup", "--url", os.environ[SERVER_URL_ENV]],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
            )
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertTrue(database_exists(name), "cleanup dropped a database that a running process uses")
        finally:
            InUse.tearDownClass()


class ServerUrlValidation(unittest.TestCase):
    def test_bad_urls_are_refused(self) -> None:
        from pglite_testcase import ConfigurationError

        for bad in ("mysql://u@h/db", "not a url", 42):

            class Bad(PGliteTestCase):
                server_url = bad  # type: ignore[assignment]

            with self.subTest(bad=bad), self.assertRaises(ConfigurationError) as caught:
                Bad.setUpClass()
            self.assertIn("Bad.server_url", str(caught.exception))
            self.assertIn("postgresql+psycopg://", str(caught.exception))
