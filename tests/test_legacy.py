"""What legacy projects hit: hash-seed fingerprints, uncopyable class data, SQLModel, a quiet import."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import unittest
from pathlib import Path
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, Integer, MetaData, String, Table

from pglite_testcase import PGliteTestCase

from .models import Author, Base
from .support import problems, run_case

ROOT = Path(__file__).resolve().parents[1]


def many_indexes() -> MetaData:
    metadata = MetaData()
    parent = Table("parent", metadata, Column("id", Integer, primary_key=True))
    child = Table(
        "child",
        metadata,
        Column("id", Integer, primary_key=True),
        *(Column(f"c{n}", String(20), index=True) for n in range(12)),
        Column("parent_id", ForeignKey(parent.c.id), index=True),
    )
    Index("ix_child_pair", child.c.c0, child.c.c1)
    return metadata


FINGERPRINT = """
from tests.test_legacy import many_indexes
from pglite_testcase.database.schema import MetadataSchema
print(MetadataSchema(many_indexes()).fingerprint)
"""


class FingerprintIgnoresTheHashSeed(unittest.TestCase):
    def test_same_schema_same_fingerprint_under_every_seed(self) -> None:
        fingerprints = set()
        for seed in ("0", "1", "2", "3", "4", "5"):
            result = subprocess.run(
                [sys.executable, "-c", FINGERPRINT],
                cwd=ROOT,
                env={**os.environ, "PYTHONHASHSEED": seed},
                capture_output=True,
                text=True,
                timeout=60,
            )
            self.assertEqual(result.returncode, 0, result.stderr)
            fingerprints.add(result.stdout.strip())
        self.assertEqual(len(fingerprints), 1, fingerprints)


class Unpicklable:
    """A value whose own __getattr__ recurses while being copied (as some clients' do)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.missing, name)


class UncopyableClassData(unittest.TestCase):
    def test_refused_naming_the_attribute(self) -> None:
        class Holds(PGliteTestCase):
            metadata = Base

            @classmethod
            def setUpTestData(cls) -> None:
                cls.client = Unpicklable()

            def test_never_runs(self) -> None:
                raise AssertionError("refused in setUpClass")

        result = run_case(Holds)
        self.assertIn("Holds.client, set in setUpTestData, cannot be copied for each test", problems(result))
        self.assertIn("shared_test_data = {'client'}", problems(result))

    def test_shared_when_the_class_says_so(self) -> None:
        class Shares(PGliteTestCase):
            metadata = Base
            shared_test_data = {"client"}

            @classmethod
            def setUpTestData(cls) -> None:
                cls.client = Unpicklable()
                cls.author = Author(name="copied")
                cls.session.add(cls.author)

            def test_reads_the_one_client_and_its_own_author(self) -> None:
                self.assertIs(self.client, type(self).__dict__["client"])
                self.assertIsNot(self.author, type(self).__dict__["author"].value)
                self.assertEqual(self.author.name, "copied")

        result = run_case(Shares)
        self.assertTrue(result.wasSuccessful(), problems(result))


@unittest.skipUnless(
    __import__("importlib").util.find_spec("sqlmodel") is not None, "sqlmodel is not installed (the dev extra has it)"
)
class SQLModelSessions(unittest.TestCase):
    def test_session_class_is_used_by_every_session(self) -> None:
        from sqlmodel import Field, SQLModel
        from sqlmodel import Session as SQLModelSession
        from sqlmodel import select as sqlmodel_select

        class Hero(SQLModel, table=True):  # type: ignore[call-arg]
            __tablename__ = "heroes_legacy_test"
            id: int | None = Field(default=None, primary_key=True)
            name: str

        class Heroes(PGliteTestCase):
            metadata = SQLModel
            session_class = SQLModelSession

            @classmethod
            def setUpTestData(cls) -> None:
                assert isinstance(cls.session, SQLModelSession)
                cls.session.add(Hero(name="Deadpond"))

            def test_exec(self) -> None:
                self.assertIsInstance(self.session, SQLModelSession)
                self.assertIsInstance(self.sessionmaker(), SQLModelSession)
                self.assertEqual([hero.name for hero in self.session.exec(sqlmodel_select(Hero))], ["Deadpond"])

        try:
            result = run_case(Heroes)
        finally:
            SQLModel.metadata.remove(Hero.__table__)  # type: ignore[attr-defined]
        self.assertTrue(result.wasSuccessful(), problems(result))

    def test_session_options_class_still_works_with_a_deprecation_warning(self) -> None:
        # 0.1.0's spelling: accepted for one release, with a warning naming session_class.
        from sqlmodel import Session as SQLModelSession

        class OldSpelling(PGliteTestCase):
            session_options = {"class_": SQLModelSession, "expire_on_commit": False}

            def test_sessions(self) -> None:
                self.assertIsInstance(self.session, SQLModelSession)
                self.assertFalse(self.session.expire_on_commit)

        with self.assertWarns(DeprecationWarning) as caught:
            result = run_case(OldSpelling)
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertIn("OldSpelling.session_class = Session instead", str(caught.warning))


QUIET_IMPORT = """
import atexit, logging, sys
registered = []
real_register = atexit.register
def spy(function, *args, **kwargs):
    owner = getattr(function, "__module__", "") or type(getattr(function, "__self__", None)).__module__
    if owner.startswith("pglite_testcase"):
        registered.append(function)
    return real_register(function, *args, **kwargs)
atexit.register = spy
before = {name: list(logger.handlers) for name, logger in logging.Logger.manager.loggerDict.items()
          if isinstance(logger, logging.Logger)}
import pglite_testcase
from pglite_testcase import PGliteTestCase, AsyncPGliteTestCase, AlembicMigrationsTestCase

class OnAServer(PGliteTestCase):
    server_url = "postgresql+psycopg://nobody@/nowhere?host=/nonexistent"

after = {name: list(logger.handlers) for name, logger in logging.Logger.manager.loggerDict.items()
         if isinstance(logger, logging.Logger)}
import psutil
children = [p for p in psutil.Process().children(recursive=True)]
print("atexit", len(registered))
print("handlers", sorted(name for name in after if after[name] != before.get(name, [])))
print("children", len(children))
print("pglite_process imported", "pglite_testcase.runtime.process" in sys.modules)
"""


class ImportIsQuiet(unittest.TestCase):
    def test_import_and_a_server_class_start_nothing(self) -> None:
        result = subprocess.run(
            [sys.executable, "-c", QUIET_IMPORT],
            cwd=ROOT,
            env={key: value for key, value in os.environ.items() if not key.startswith("PGLITE_TESTCASE_")},
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(
            result.stdout.split("\n")[:4],
            ["atexit 0", "handlers []", "children 0", "pglite_process imported False"],
            result.stdout,
        )
