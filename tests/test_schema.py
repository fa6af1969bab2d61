"""Where the schema comes from: create_all, Alembic migrations, or nothing; built once, reused."""

from __future__ import annotations

import unittest
from unittest import mock

from alembic.config import Config
from sqlalchemy import Column, Integer, MetaData, String, Table, text

from pglite_testcase import ConfigurationError, PGliteTestCase, SchemaBuildError
from pglite_testcase.database import schema
from pglite_testcase.database.provision import shared_database

from .models import Base, other_metadata
from .support import (
    ALEMBIC_BROKEN,
    ALEMBIC_OK,
    ALEMBIC_OWN_ENGINE,
    node_children,
    pglite_only,
    private_dirs,
    problems,
    run_case,
)


def public_tables(connection: object) -> list[str]:
    return list(
        connection.scalars(  # type: ignore[attr-defined]
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        ).all()
    )


def table_oid(connection: object, name: str) -> int:
    return int(connection.scalar(text(f"SELECT '{name}'::regclass::oid")))  # type: ignore[attr-defined]


class EmptyDatabase(PGliteTestCase):
    def test_no_tables(self) -> None:
        self.assertEqual(public_tables(self.connection), [])
        self.assertEqual(self.connection.scalar(text("SELECT 1")), 1)


class FromMetadataMetaDataObject(PGliteTestCase):
    metadata = other_metadata

    def test_tables(self) -> None:
        self.assertEqual(public_tables(self.connection), ["notes"])


class FromAlembic(PGliteTestCase):
    alembic_config = str(ALEMBIC_OK)

    def test_migrated_to_head(self) -> None:
        self.assertEqual(public_tables(self.connection), ["accounts", "alembic_version", "invoices"])
        self.assertEqual(self.connection.scalar(text("SELECT version_num FROM alembic_version")), "a3")

    def test_data_migration_ran(self) -> None:
        self.assertEqual(self.connection.scalar(text("SELECT name FROM accounts")), "Seed")


class FromAlembicConfigObjectAtRevision(PGliteTestCase):
    alembic_config = Config(str(ALEMBIC_OK))
    alembic_revision = "a2"

    def test_migrated_to_a2(self) -> None:
        self.assertEqual(self.connection.scalar(text("SELECT version_num FROM alembic_version")), "a2")
        columns = self.connection.scalars(
            text("SELECT column_name FROM information_schema.columns WHERE table_name = 'accounts' ORDER BY 1")
        ).all()
        self.assertEqual(columns, ["email", "id"])


class FromAlembicEnvWithItsOwnEngine(PGliteTestCase):
    """env.py builds its engine from sqlalchemy.url: the library points that at the test database."""

    alembic_config = str(ALEMBIC_OWN_ENGINE)

    def test_migrated(self) -> None:
        self.assertEqual(self.connection.scalar(text("SELECT version_num FROM alembic_version")), "a3")


@pglite_only
class SchemaReuseAndRebuild(unittest.TestCase):
    def test_same_schema_is_reused_without_ddl_and_another_one_rebuilds(self) -> None:
        seen: dict[str, int] = {}

        class First(PGliteTestCase):
            metadata = Base

            def test_oid(self) -> None:
                seen["first"] = table_oid(self.connection, "authors")

        class Second(PGliteTestCase):
            metadata = Base.metadata  # the same tables given another way: same schema

            def test_oid(self) -> None:
                seen["second"] = table_oid(self.connection, "authors")

        class Other(PGliteTestCase):
            metadata = other_metadata

            def test_tables(self) -> None:
                self.assertEqual(public_tables(self.connection), ["notes"])

        class Back(PGliteTestCase):
            metadata = Base

            def test_oid(self) -> None:
                seen["back"] = table_oid(self.connection, "authors")
                self.assertEqual(public_tables(self.connection), ["authors", "books"])

        for case in (First, Second, Other, Back):
            result = run_case(case)
            self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(seen["first"], seen["second"], "an identical schema was built again")
        self.assertNotEqual(seen["second"], seen["back"], "a changed schema was not rebuilt")

    def test_metadata_compiled_once_and_again_when_it_changes(self) -> None:
        metadata = MetaData()
        Table("first", metadata, Column("id", Integer, primary_key=True))
        seen: list[list[str]] = []

        def case() -> type[PGliteTestCase]:
            class Tables(PGliteTestCase):
                def test_tables(self) -> None:
                    seen.append(public_tables(self.connection))

            Tables.metadata = metadata
            return Tables

        with mock.patch.object(schema, "metadata_ddl", wraps=schema.metadata_ddl) as compiled:
            for _ in range(3):
                self.assertTrue(run_case(case()).wasSuccessful())
            self.assertEqual(compiled.call_count, 1, "create_all's DDL was compiled for every class")
            Table("second", metadata, Column("id", Integer, primary_key=True))
            self.assertTrue(run_case(case()).wasSuccessful())
            metadata.tables["second"].append_column(Column("name", String))
            result = run_case(case())
            self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(seen[2], ["first"])
        self.assertEqual(seen[3], ["first", "second"], "a table added later was not built")
        self.assertEqual(compiled.call_count, 3)


@pglite_only
class PGliteIsolatedInstance(unittest.TestCase):
    def test_own_instance_is_separate_and_stopped_after_the_class(self) -> None:
        seen = {}

        class Isolated(PGliteTestCase):
            metadata = Base
            pglite_isolated = True

            def test_where(self) -> None:
                seen["database"] = type(self).database
                seen["url"] = type(self).database_url

        result = run_case(Isolated)
        self.assertTrue(result.wasSuccessful(), problems(result))
        database = seen["database"]
        self.assertIsNot(database, shared_database())
        self.assertNotEqual(seen["url"], shared_database().url.render_as_string(hide_password=False))
        self.assertFalse(database.is_alive())
        self.assertFalse(database.process.private_dir.exists())


class BadClassAttributes(unittest.TestCase):
    def assert_setup_refused(self, case: type[PGliteTestCase], *fragments: str) -> None:
        with self.assertRaises(ConfigurationError) as caught:
            case.setUpClass()
        for fragment in fragments:
            self.assertIn(fragment, str(caught.exception))
        self.assertNotIn("database", case.__dict__)

    def test_both_metadata_and_alembic(self) -> None:
        class Both(PGliteTestCase):
            metadata = Base
            alembic_config = str(ALEMBIC_OK)

        self.assert_setup_refused(Both, "Both", "metadata", "alembic_config")

    def test_metadata_of_the_wrong_type(self) -> None:
        class WrongMetadata(PGliteTestCase):
            metadata = "models.Base"

        self.assert_setup_refused(WrongMetadata, "WrongMetadata.metadata", "'models.Base'", "MetaData")

    def test_missing_alembic_ini(self) -> None:
        class Missing(PGliteTestCase):
            alembic_config = "no/such/alembic.ini"

        self.assert_setup_refused(Missing, "Missing.alembic_config", "'no/such/alembic.ini'", "existing alembic.ini")

    def test_alembic_config_of_the_wrong_type(self) -> None:
        class WrongType(PGliteTestCase):
            alembic_config = 42

        self.assert_setup_refused(WrongType, "WrongType.alembic_config", "42")

    def test_revision_of_the_wrong_type(self) -> None:
        class WrongRevision(PGliteTestCase):
            alembic_config = str(ALEMBIC_OK)
            alembic_revision = None

        self.assert_setup_refused(WrongRevision, "WrongRevision.alembic_revision", "None")

    def test_flag_of_the_wrong_type(self) -> None:
        class WrongFlag(PGliteTestCase):
            reset_sequences = "yes"

        self.assert_setup_refused(WrongFlag, "WrongFlag.reset_sequences", "'yes'", "True or False")


class FailingMigration(unittest.TestCase):
    def test_error_names_the_revision_and_the_next_class_is_fine(self) -> None:
        class Broken(PGliteTestCase):
            alembic_config = str(ALEMBIC_BROKEN)

            def test_never_runs(self) -> None:
                raise AssertionError("setUpClass should have failed")

        with self.assertRaises(SchemaBuildError) as caught:
            Broken.setUpClass()
        message = str(caught.exception)
        self.assertIn("revision 'b2'", message)
        self.assertIn("b2_fails.py", message)
        self.assertIn("no_such_table", message)

        class AfterIt(PGliteTestCase):
            metadata = Base

            def test_clean(self) -> None:
                self.assertEqual(public_tables(self.connection), ["authors", "books"])

        result = run_case(AfterIt)
        self.assertTrue(result.wasSuccessful(), problems(result))

    @pglite_only
    def test_failing_isolated_class_leaves_no_process(self) -> None:
        class BrokenIsolated(PGliteTestCase):
            alembic_config = str(ALEMBIC_BROKEN)
            pglite_isolated = True

        before_children = node_children()
        before_dirs = private_dirs()
        with self.assertRaises(SchemaBuildError):
            BrokenIsolated.setUpClass()
        self.assertNotIn("database", BrokenIsolated.__dict__)
        self.assertEqual(node_children(), before_children)
        self.assertEqual(private_dirs(), before_dirs)
