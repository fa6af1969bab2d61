"""Schema builds cannot lie, and Alembic env.py files as projects write them work unedited."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import tempfile
import unittest
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from sqlalchemy import MetaData, text

from pglite_testcase import AlembicMigrationsTestCase, PGliteTestCase
from pglite_testcase.database.schema import AlembicSchema
from pglite_testcase.database.snapshots import SnapshotStore

from . import alembic_styles
from .support import ON_SERVER, problems, run_case
from .test_misbehaving_classes import plain_passes


class StyledSchema(unittest.TestCase):
    def styled(self, style: str) -> Path:
        ini = alembic_styles.script_directory(style)
        self.addCleanup(shutil.rmtree, ini.parent, ignore_errors=True)
        return ini

    def run_class(self, ini: Path, **attributes: Any) -> unittest.TestResult:
        def test_table_is_there(self: PGliteTestCase) -> None:
            self.assertEqual(self.connection.scalar(text("SELECT count(*) FROM styled")), 0)

        case = type(
            "Styled",
            (PGliteTestCase,),
            {"alembic_config": str(ini), "test_table_is_there": test_table_is_there, **attributes},
        )
        return run_case(case)


class EnvPyConnectingElsewhere(StyledSchema):
    def test_migrations_on_another_database_fail_set_up_class_and_cache_nothing(self) -> None:
        ini = self.styled("elsewhere")
        with tempfile.TemporaryDirectory() as directory:
            sqlite_file = Path(directory) / "developer.db"
            with mock.patch.dict(os.environ, {"ELSEWHERE_URL": f"sqlite:///{sqlite_file}"}):
                result = self.run_class(ini)
            self.assertEqual(result.testsRun, 0)
            message = problems(result)
            self.assertIn("env.py connected to sqlite://", message)
            self.assertIn("not to the test database", message)
            self.assertIn("alembic_environment", message)
            if sqlite_file.exists():  # the guard stopped it before its first statement there
                tables = sqlite3.connect(sqlite_file).execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                self.assertEqual(tables, 0)
        from alembic.config import Config

        fingerprint = AlembicSchema(Config(str(ini)), "head").fingerprint
        self.assertIsNone(SnapshotStore().find(fingerprint), "an unverified schema was cached")
        plain_passes(self)

    def test_env_py_that_never_migrates_the_test_database(self) -> None:
        result = self.run_class(self.styled("offline_only"))
        self.assertEqual(result.testsRun, 0)
        self.assertIn("not the revision ['s1']", problems(result))
        self.assertIn("env.py ran the migrations on another database", problems(result))
        plain_passes(self)

    def test_migration_checks_fail_when_the_migrations_ran_elsewhere(self) -> None:
        ini = self.styled("elsewhere")
        checks = type("Checks", (AlembicMigrationsTestCase,), {"alembic_config": str(ini)})
        with tempfile.TemporaryDirectory() as directory:
            with mock.patch.dict(os.environ, {"ELSEWHERE_URL": f"sqlite:///{directory}/developer.db"}):
                result = run_case(checks)
        failed = {test.id().rsplit(".", 1)[1] for test, _ in result.failures + result.errors}
        self.assertEqual(failed, {"test_upgrade", "test_stairway", "test_downgrade_to_base"}, problems(result))


class EnvPyStyles(StyledSchema):
    """An env.py that reads its own settings is pointed at the test database through one hook."""

    def test_environment_variable_read_inside_env_py(self) -> None:
        @contextmanager
        def environment(cls: type, url: str) -> Iterator[None]:
            with mock.patch.dict(os.environ, {"APP_DATABASE_URL": url}):
                yield

        result = self.run_class(self.styled("environment_variable"), alembic_environment=classmethod(environment))
        self.assertTrue(result.wasSuccessful(), problems(result))

    def test_settings_object_built_at_import(self) -> None:
        @contextmanager
        def environment(cls: type, url: str) -> Iterator[None]:
            with mock.patch.object(alembic_styles.settings, "DATABASE_URL", url):
                yield

        result = self.run_class(self.styled("settings_object"), alembic_environment=classmethod(environment))
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(alembic_styles.settings.DATABASE_URL, "postgresql://app:app@localhost/app_dev")

    def test_a_changed_hook_is_run_not_hidden_by_the_snapshot_of_the_working_one(self) -> None:
        ini = self.styled("environment_variable")

        @contextmanager
        def working(cls: type, url: str) -> Iterator[None]:
            with mock.patch.dict(os.environ, {"APP_DATABASE_URL": url}):
                yield

        @contextmanager
        def broken(cls: type, url: str) -> Iterator[None]:
            raise RuntimeError("the settings module moved")
            yield  # (a generator, as the working one)

        result = self.run_class(ini, alembic_environment=classmethod(working))
        self.assertTrue(result.wasSuccessful(), problems(result))  # its schema is now a snapshot
        result = self.run_class(ini, alembic_environment=classmethod(broken))
        self.assertEqual(result.testsRun, 0)
        self.assertIn("the settings module moved", problems(result))
        result = self.run_class(ini, alembic_environment=classmethod(working))
        self.assertTrue(result.wasSuccessful(), problems(result))

    def test_without_the_hook_it_is_refused_not_run_elsewhere(self) -> None:
        result = self.run_class(self.styled("settings_object"))
        self.assertIn("env.py connected to postgresql://localhost/app_dev", problems(result))

    def test_url_read_back_and_set_again(self) -> None:
        # Alembic's Config interpolates '%': the URL the library hands out has none to trip on.
        result = self.run_class(self.styled("round_trip_and_file_config"))
        self.assertTrue(result.wasSuccessful(), problems(result))

    def test_file_config_does_not_silence_the_library_logger(self) -> None:
        logger = logging.getLogger("pglite_testcase")
        result = self.run_class(self.styled("round_trip_and_file_config"))
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertFalse(logger.disabled)
        with self.assertLogs("pglite_testcase", level="WARNING"):
            logger.warning("still heard after an env.py called fileConfig")


class MetadataWithoutTables(unittest.TestCase):
    def test_is_refused_with_what_to_do(self) -> None:
        class Early(PGliteTestCase):
            metadata = MetaData()

            def test_never_runs(self) -> None:
                raise AssertionError("no schema: no test")

        result = run_case(Early)
        self.assertIn("Early.metadata = MetaData() has no tables yet", problems(result))
        self.assertIn("Import them in the test module", problems(result))


@unittest.skipIf(ON_SERVER, "extension bundles are PGlite's")
class ExtensionsAreDeterministic(unittest.TestCase):
    def test_a_class_that_forgot_an_extension_fails_whatever_ran_before(self) -> None:
        def uses_uuid(self: PGliteTestCase) -> None:
            self.connection.execute(text('CREATE EXTENSION IF NOT EXISTS "uuid-ossp"'))
            self.assertEqual(len(str(self.connection.scalar(text("SELECT uuid_generate_v4()")))), 36)

        asks = type("Asks", (PGliteTestCase,), {"extensions": ["uuid-ossp"], "test_uuid": uses_uuid})
        forgot = type("Forgot", (PGliteTestCase,), {"test_uuid": uses_uuid})
        first = run_case(asks)
        self.assertTrue(first.wasSuccessful(), problems(first))
        second = run_case(forgot)  # runs right after a class that had the bundle registered
        self.assertFalse(second.wasSuccessful())

    def test_a_schema_that_needs_an_extension_names_the_attribute(self) -> None:
        ini = alembic_styles.script_directory("recipe")
        self.addCleanup(shutil.rmtree, ini.parent, ignore_errors=True)
        (ini.parent / "versions" / "s1_styled.py").write_text(
            alembic_styles.REVISION.replace(
                'op.create_table("styled"',
                'op.execute(\'CREATE EXTENSION IF NOT EXISTS "uuid-ossp"\')\n    op.create_table("styled"',
            )
        )
        case = type("NeedsUuid", (PGliteTestCase,), {"alembic_config": str(ini), "test_runs": lambda self: None})
        result = run_case(case)
        self.assertIn("extensions = ['uuid-ossp']", problems(result))
        checks = type("Checks", (AlembicMigrationsTestCase,), {"alembic_config": str(ini), "extensions": ["uuid-ossp"]})
        checked = run_case(checks)
        self.assertTrue(checked.wasSuccessful(), problems(checked))


@unittest.skipIf(ON_SERVER, "PGlite's snapshots")
class EmptySnapshotIsOnlyEverAFreshDatabase(unittest.TestCase):
    def test_building_the_empty_schema_never_saves_the_empty_snapshot(self) -> None:
        from pglite_testcase.database.pglite import PGliteDatabase
        from pglite_testcase.database.schema import EmptySchema, MetadataSchema
        from pglite_testcase.database.snapshots import EMPTY

        from .models import Base

        with tempfile.TemporaryDirectory() as directory:
            store = SnapshotStore(Path(directory))
            database = PGliteDatabase.start(store=store)
            try:
                database.ensure_schema(MetadataSchema(Base.metadata))
                for path in store._paths(EMPTY):  # evicted, say, by many other schemas
                    path.unlink()
                database.ensure_schema(EmptySchema())
                self.assertIsNone(store.find(EMPTY))
                database.ensure_schema(MetadataSchema(Base.metadata))
                database.wait_until_ready()  # what every class's provisioning of a shared instance runs
                database.set_statement_timeout(5)
                self.assertIsNone(store.find(EMPTY), "a database holding tables was saved as the empty snapshot")
            finally:
                database.stop()
