"""Schema snapshots: built once, loaded by later starts, invalidated by any change, rebuilt when damaged."""

from __future__ import annotations

import os
import shutil
import tempfile
import unittest
from pathlib import Path
from unittest import mock

from alembic.config import Config
from sqlalchemy import Column, Integer, MetaData, Table, text
from sqlalchemy.engine import Engine

from pglite_testcase.database import snapshots as snapshots_module
from pglite_testcase.database.pglite import PGliteDatabase
from pglite_testcase.database.schema import AlembicSchema, MetadataSchema
from pglite_testcase.database.snapshots import EMPTY, SnapshotStore
from pglite_testcase.environment import snapshots_kept
from pglite_testcase.errors import ConfigurationError

from . import RUN_DIR
from .models import Base, other_metadata
from .support import ALEMBIC_OK, pglite_only


class CountingSchema:
    """A schema source that counts its builds."""

    def __init__(self, inner: MetadataSchema) -> None:
        self.inner = inner
        self.fingerprint = inner.fingerprint
        self.builds = 0

    def build(self, engine: Engine, url: str) -> None:
        self.builds += 1
        self.inner.build(engine, url)

    def describe(self) -> str:
        return self.inner.describe()


def tables(database: PGliteDatabase) -> list[str]:
    engine = database.create_engine()
    try:
        with engine.connect() as connection:
            return list(
                connection.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"))
            )
    finally:
        engine.dispose()


@pglite_only
class Snapshots(unittest.TestCase):
    def setUp(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="pgtc-snapshots-"))
        self.addCleanup(shutil.rmtree, self.root, True)
        self.store = SnapshotStore(self.root)

    def start(self, fingerprint: str | None = None) -> PGliteDatabase:
        database = PGliteDatabase.start(fingerprint, store=self.store)
        self.addCleanup(database.stop)
        return database

    def test_miss_then_hit(self) -> None:
        first = self.start()
        self.assertIsNotNone(self.store.find(EMPTY), "the first start saves the empty database")
        schema = CountingSchema(MetadataSchema(Base.metadata))
        first.ensure_schema(schema)
        self.assertEqual(schema.builds, 1)
        snapshot = self.store.find(schema.fingerprint)
        assert snapshot is not None
        self.assertTrue(snapshot.is_intact())
        first.stop()

        second = self.start(schema.fingerprint)
        self.assertEqual(second.schema_fingerprint, schema.fingerprint)
        second.ensure_schema(schema)
        self.assertEqual(schema.builds, 1, "a start from the snapshot must not run the DDL again")
        self.assertEqual(tables(second), ["authors", "books"])

    def test_damaged_snapshot_is_detected_and_rebuilt(self) -> None:
        database = self.start()
        schema = CountingSchema(MetadataSchema(Base.metadata))
        database.ensure_schema(schema)
        database.stop()
        snapshot = self.store.find(schema.fingerprint)
        assert snapshot is not None
        with open(snapshot.path, "r+b") as tar:
            tar.truncate(snapshot.size // 2)

        with self.assertLogs("pglite_testcase", "WARNING") as logs:
            again = self.start(schema.fingerprint)
        self.assertIn("damaged", "\n".join(logs.output))
        self.assertEqual(again.schema_fingerprint, EMPTY)
        again.ensure_schema(schema)
        self.assertEqual(schema.builds, 2)
        self.assertEqual(tables(again), ["authors", "books"])
        rebuilt = self.store.find(schema.fingerprint)
        assert rebuilt is not None
        self.assertTrue(rebuilt.is_intact())

    def test_slow_schema_is_loaded_by_restarting_from_its_snapshot(self) -> None:
        database = self.start()
        slow = CountingSchema(MetadataSchema(Base.metadata))
        database.ensure_schema(slow)
        # Pretend the build was slow: a restart is cheaper than running it again.
        self.store.record(slow.fingerprint, build_seconds=30.0)
        database.ensure_schema(MetadataSchema(other_metadata))
        pid = database.process.process.pid  # type: ignore[union-attr]
        database.ensure_schema(slow)
        self.assertEqual(slow.builds, 1)
        self.assertNotEqual(database.process.process.pid, pid)  # type: ignore[union-attr]
        self.assertEqual(tables(database), ["authors", "books"])


@pglite_only
class Fingerprints(unittest.TestCase):
    """Every input that changes the built database changes the snapshot's key."""

    def test_metadata_changes(self) -> None:
        def metadata(*columns: str) -> MetaData:
            result = MetaData()
            Table("t", result, Column("id", Integer, primary_key=True), *(Column(c, Integer) for c in columns))
            return result

        self.assertEqual(MetadataSchema(metadata("a")).fingerprint, MetadataSchema(metadata("a")).fingerprint)
        self.assertNotEqual(MetadataSchema(metadata("a")).fingerprint, MetadataSchema(metadata("b")).fingerprint)

    def test_migration_file_and_revision_changes(self) -> None:
        copy = Path(tempfile.mkdtemp(prefix="pgtc-alembic-"))
        self.addCleanup(shutil.rmtree, copy, True)
        shutil.copytree(ALEMBIC_OK.parent, copy / "alembic", ignore=shutil.ignore_patterns("__pycache__"))
        config = Config(str(copy / "alembic" / "alembic.ini"))
        before = AlembicSchema(config, "head").fingerprint
        self.assertEqual(before, AlembicSchema(Config(str(ALEMBIC_OK)), "head").fingerprint)
        self.assertNotEqual(before, AlembicSchema(config, "a2").fingerprint)
        migration = copy / "alembic" / "versions" / "a2_invoices.py"
        migration.write_text(migration.read_text().replace("nullable=False)", "nullable=True)", 1))
        self.assertNotEqual(before, AlembicSchema(config, "head").fingerprint)

    def test_a_migration_outside_the_script_directory_counts(self) -> None:
        # alembic_own_engine keeps env.py at home and its migrations in alembic_ok/versions.
        copy = Path(tempfile.mkdtemp(prefix="pgtc-alembic-"))
        self.addCleanup(shutil.rmtree, copy, True)
        for name in ("alembic_ok", "alembic_own_engine"):
            shutil.copytree(ALEMBIC_OK.parent.parent / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        config = Config(str(copy / "alembic_own_engine" / "alembic.ini"))
        before = AlembicSchema(config, "head").fingerprint
        migration = copy / "alembic_ok" / "versions" / "a3_account_name.py"
        migration.write_text(migration.read_text().replace("'Seed'", "'Seeded'"))
        self.assertNotEqual(before, AlembicSchema(config, "head").fingerprint)

    def test_pglite_version_changes(self) -> None:
        root = Path(tempfile.mkdtemp(prefix="pgtc-snapshots-"))
        self.addCleanup(shutil.rmtree, root, True)
        store = SnapshotStore(root)
        path = store.path_for("metadata-x")
        store.runtime = "another-lockfile-digest"
        self.assertNotEqual(store.path_for("metadata-x"), path)


class Eviction(unittest.TestCase):
    """Many schemas must not cost every start an initdb: eviction spares the empty database's
    snapshot and those this run used; its limit is PGLITE_TESTCASE_SNAPSHOTS_KEPT."""

    def setUp(self) -> None:
        self.root = Path(tempfile.mkdtemp(dir=RUN_DIR))
        self.addCleanup(shutil.rmtree, self.root, True)
        self.store = SnapshotStore(self.root)
        self.clock = 1_000_000.0

    def save(self, fingerprint: str) -> Path:
        self.store.path_for(fingerprint).write_bytes(fingerprint.encode())
        snapshot = self.store.record(fingerprint, 0.1)
        self.clock += 10
        os.utime(snapshot.path, (self.clock, self.clock))  # each saved later than the one before
        return snapshot.path

    def test_the_empty_snapshot_and_this_runs_are_kept_beyond_the_limit(self) -> None:
        with mock.patch.dict(os.environ, {"PGLITE_TESTCASE_SNAPSHOTS_KEPT": "6"}):
            empty = self.save(EMPTY)  # the oldest of all
            old = [self.save(f"old-{i}") for i in range(4)]
            snapshots_module._USED_THIS_RUN.difference_update(old)  # as if a previous run used them
            new = [self.save(f"new-{i}") for i in range(4)]  # this run's: 9 in all, 3 too many
        self.assertTrue(empty.exists(), "the empty database's snapshot was evicted")
        self.assertTrue(all(path.exists() for path in new), "a snapshot this run used was evicted")
        self.assertEqual([path.exists() for path in old], [False, False, False, True], "least recently used first")
        snapshots_module._USED_THIS_RUN.difference_update(new)

    def test_a_bad_limit_is_refused_naming_the_variable(self) -> None:
        for value in ("0", "many", "-2"):
            with self.subTest(value), mock.patch.dict(os.environ, {"PGLITE_TESTCASE_SNAPSHOTS_KEPT": value}):
                with self.assertRaisesRegex(
                    ConfigurationError, f"PGLITE_TESTCASE_SNAPSHOTS_KEPT = '{value}' is not accepted"
                ):
                    snapshots_kept()
