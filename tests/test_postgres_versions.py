"""The PostgreSQL major is a choice: postgres_version = 17 | 18, or PGLITE_TESTCASE_POSTGRES_VERSION."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import unittest
from pathlib import Path
from unittest import mock

from sqlalchemy import text
from sqlalchemy.pool import NullPool

from pglite_testcase import ConfigurationError, PGliteTestCase
from pglite_testcase.database.provision import fresh_database
from pglite_testcase.database.snapshots import SnapshotStore
from pglite_testcase.environment import POSTGRES_VERSION as POSTGRES_VERSION_ENV
from pglite_testcase.runtime.node_packages import (
    NodePackages,
    default_postgres_version,
    find_node,
    installed_version,
)

from .models import Base
from .support import pglite_only, problems, run_case

SEEN: dict[int, object] = {}  # the database each major's class got


@pglite_only
class OnPostgres17(PGliteTestCase):
    metadata = Base
    postgres_version = 17

    def test_the_server_is_postgresql_17(self) -> None:
        number = int(self.connection.scalar(text("SHOW server_version_num")))
        self.assertGreaterEqual(number, 170000)
        self.assertLess(number, 180000)
        SEEN[17] = self.database
        if 18 in SEEN:
            self.assertIsNot(SEEN[18], self.database)


@pglite_only
class OnPostgres18(PGliteTestCase):
    metadata = Base
    postgres_version = 18

    def test_the_server_is_postgresql_18(self) -> None:
        self.assertGreaterEqual(int(self.connection.scalar(text("SHOW server_version_num"))), 180000)
        self.assertEqual(self.connection.scalar(text("SELECT current_database()")), "postgres")
        SEEN[18] = self.database
        if 17 in SEEN:
            self.assertIsNot(SEEN[17], self.database)

    def test_the_schema_is_built(self) -> None:
        self.assertEqual(self.connection.scalar(text("SELECT count(*) FROM authors")), 0)


@pglite_only
class ExtensionPackagesOn18(PGliteTestCase):
    # On PGlite 0.5 pgvector and pg_uuidv7 are packages of their own (node/pg18/package.json).
    postgres_version = 18
    extensions = ["pgvector", "pg_uuidv7", "uuid-ossp"]

    def test_they_load(self) -> None:
        distance = self.connection.scalar(text("SELECT '[1,2,3]'::vector <-> '[1,2,4]'::vector"))
        self.assertEqual(distance, 1.0)
        self.assertIsNotNone(self.connection.scalar(text("SELECT uuid_generate_v7()")))
        self.assertIsNotNone(self.connection.scalar(text("SELECT uuid_generate_v4()")))


@pglite_only
class FreshDatabases(unittest.TestCase):
    def test_a_fresh_database_of_each_major(self) -> None:
        # What AlembicMigrationsTestCase checks run on (its postgres_version goes here).
        for version in (17, 18):
            with fresh_database(postgres_version=version) as database:
                engine = database.create_engine(poolclass=NullPool)
                with engine.connect() as connection:
                    number = int(connection.scalar(text("SHOW server_version_num")))
                engine.dispose()
                self.assertEqual(number // 10000, version)


class BadValues(unittest.TestCase):
    def test_a_bad_class_attribute_names_the_class_the_value_and_what_is_accepted(self) -> None:
        for value in (16, "18", 18.0, True):

            class Wrong(PGliteTestCase):
                postgres_version = value

                def test_nothing(self) -> None:
                    pass

            with self.subTest(value=value):
                message = problems(run_case(Wrong))
                self.assertIn(f"Wrong.postgres_version = {value!r} is not accepted: expected 17 or 18", message)

    def test_a_bad_environment_variable_names_it_the_value_and_what_is_accepted(self) -> None:
        for value in ("16", "eighteen", "18.0"):
            with self.subTest(value=value), mock.patch.dict(os.environ, {POSTGRES_VERSION_ENV: value}):
                with self.assertRaises(ConfigurationError) as raised:
                    default_postgres_version()
                self.assertIn(
                    f"{POSTGRES_VERSION_ENV} = {value!r} is not accepted: expected 17 or 18", str(raised.exception)
                )

                class Default(PGliteTestCase):
                    def test_nothing(self) -> None:
                        pass

                self.assertIn(f"{POSTGRES_VERSION_ENV} = {value!r}", problems(run_case(Default)))

    def test_the_environment_variable_chooses_and_the_default_is_17(self) -> None:
        with mock.patch.dict(os.environ):
            os.environ.pop(POSTGRES_VERSION_ENV, None)
            self.assertEqual(default_postgres_version(), 17)
            os.environ[POSTGRES_VERSION_ENV] = "18"
            self.assertEqual(default_postgres_version(), 18)
            self.assertEqual(NodePackages().postgres_version, 18)
            self.assertEqual(SnapshotStore(Path(tempfile.gettempdir())).postgres_version, 18)


@pglite_only
class TheCacheKeepsBothLines(unittest.TestCase):
    def test_each_major_has_its_own_install(self) -> None:
        runtime = find_node()
        lines = {version: NodePackages(postgres_version=version) for version in (17, 18)}
        for packages in lines.values():
            packages.ensure_installed(runtime)
        self.assertNotEqual(lines[17].directory, lines[18].directory)
        self.assertTrue(all(packages.is_complete() for packages in lines.values()))
        self.assertEqual(installed_version(lines[17].directory), "0.3.15")
        self.assertEqual(installed_version(lines[18].directory), "0.5.17")
        self.assertEqual(NodePackages.holding(lines[18].node_modules).postgres_version, 18)

    def test_each_major_has_its_own_snapshots(self) -> None:
        root = Path(tempfile.mkdtemp(prefix="pgtc-snapshots-"))
        self.addCleanup(shutil.rmtree, root, True)
        stores = {version: SnapshotStore(root, version) for version in (17, 18)}
        self.assertNotEqual(stores[17].path_for("schema-x").name, stores[18].path_for("schema-x").name)

        def dump(path: Path) -> None:
            path.write_bytes(b"a data directory")

        stores[18].save(dump, "schema-x", 1.0)
        self.assertIsNone(stores[17].find("schema-x"), "a PostgreSQL 18 data directory offered to 17")
        snapshot = stores[18].find("schema-x")
        assert snapshot is not None
        self.assertEqual(json.loads(snapshot.path.with_suffix(".json").read_text())["postgres_version"], 18)
        self.assertEqual(stores[17].count_by_line(), {18: 1})


if __name__ == "__main__":
    unittest.main()
