"""Faults survived, bad input refused clearly, nothing left behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Integer, MetaData, Table, text

from pglite_testcase import AsyncPGliteTestCase, ConfigurationError, PGliteTestCase
from pglite_testcase.database.pglite import PGliteDatabase
from pglite_testcase.database.snapshots import SnapshotStore

from .models import Author, Base
from .support import (
    ALEMBIC_OK,
    SIGINT_AS_IN_A_TERMINAL,
    assert_death_stays_in_its_test,
    describe_process_tree,
    pglite_only,
    problems,
    process_running,
    run_case,
)

ROOT = Path(__file__).resolve().parents[1]
RUNAWAY = "SELECT count(*) FROM generate_series(1, 200000000)"


alive = process_running


@pglite_only
class NodeDiesDuringATest(unittest.TestCase):
    def test_the_test_says_pglite_stopped_and_later_tests_get_a_new_one(self) -> None:
        class Victim(PGliteTestCase):
            metadata = Base

            def test_1_kills_node(self) -> None:
                os.kill(type(self).database.process.process.pid, signal.SIGKILL)  # type: ignore[attr-defined]
                time.sleep(0.2)
                self.connection.execute(text("SELECT 1"))

            def test_2_next_test_works(self) -> None:
                self.session.add(Author(name="after"))
                self.session.commit()

        assert_death_stays_in_its_test(self, Victim, "test_1_kills_node", "was killed")


@pglite_only
class RunawayStatement(unittest.TestCase):
    def test_statement_timeout_ends_it_with_a_clear_error(self) -> None:
        class Runaway(PGliteTestCase):
            statement_timeout = 0.5

            def test_1_runaway(self) -> None:
                self.connection.execute(text(RUNAWAY))

            def test_2_next(self) -> None:
                self.assertEqual(self.connection.scalar(text("SELECT 1")), 1)

        started = time.monotonic()
        result = run_case(Runaway)
        self.assertLess(time.monotonic() - started, 120, "the runaway statement was not stopped")  # a bound
        failed = {test.id().rsplit(".", 1)[1] for test, _ in result.errors + result.failures}
        self.assertEqual(failed, {"test_1_runaway"}, problems(result))
        self.assertIn("ran longer than statement_timeout (500 ms)", problems(result))

    def test_async_runaway(self) -> None:
        class AsyncRunaway(AsyncPGliteTestCase):
            statement_timeout = 0.5

            async def test_1_runaway(self) -> None:
                await self.connection.execute(text(RUNAWAY))

            async def test_2_next(self) -> None:
                self.assertEqual(await self.connection.scalar(text("SELECT 1")), 1)

        result = run_case(AsyncRunaway)
        failed = {test.id().rsplit(".", 1)[1] for test, _ in result.errors + result.failures}
        self.assertEqual(failed, {"test_1_runaway"}, problems(result))
        self.assertIn("statement_timeout", problems(result))


SLEEPING_SUITE = f"""
{SIGINT_AS_IN_A_TERMINAL}
import sys, time, unittest
from pglite_testcase import PGliteTestCase

class Sleeps(PGliteTestCase):
    def test(self):
        self.connection.exec_driver_sql("SELECT 1")
        process = type(self).database.process
        print(process.process.pid, process.private_dir, flush=True)
        time.sleep(60)

unittest.main(argv=["sleeps"])
"""


@pglite_only
class Interrupted(unittest.TestCase):
    def interrupt(self, how: signal.Signals) -> None:
        process = subprocess.Popen(
            [sys.executable, "-c", SLEEPING_SUITE],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert process.stdout is not None
        pid, private_dir = process.stdout.readline().split()
        process.send_signal(how)
        try:
            process.wait(timeout=120)  # bounded, not timed: a loaded machine may be slow to stop
        except subprocess.TimeoutExpired:
            tree = describe_process_tree(process.pid)
            process.kill()
            process.communicate()
            self.fail(f"still running 120 s after {how.name}:\n{tree}")
        process.stdout.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (alive(int(pid)) or Path(private_dir).exists()):
            time.sleep(0.05)
        self.assertFalse(alive(int(pid)), f"node outlived a {how.name}")
        self.assertFalse(Path(private_dir).exists(), f"the private directory outlived a {how.name}")

    def test_sigint(self) -> None:
        self.interrupt(signal.SIGINT)

    def test_sigterm(self) -> None:
        self.interrupt(signal.SIGTERM)

    def test_sigkill(self) -> None:
        self.interrupt(signal.SIGKILL)


@pglite_only
class ManyClasses(unittest.TestCase):
    def test_200_classes_hold_a_fixed_number_of_resources(self) -> None:
        code = """
import os, threading, unittest, psutil
from sqlalchemy import text
from pglite_testcase import PGliteTestCase
from tests.models import Base

def resources():
    me = psutil.Process()
    return len(os.listdir("/proc/self/fd")), threading.active_count(), len(me.children(recursive=True))

seen = {}
for n in range(200):
    case = type(f"C{n}", (PGliteTestCase,), {"metadata": Base, "test": lambda self: self.session.execute(text("SELECT 1"))})
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(case).run(result)
    assert result.wasSuccessful(), result.errors
    if n in (10, 199):
        seen[n] = resources()
print(seen[10], seen[199])
"""
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
        self.assertEqual(result.returncode, 0, result.stderr)
        after_10, after_200 = result.stdout.strip().split(") (")
        self.assertEqual(after_10 + ")", "(" + after_200, "fds, threads or child processes grew")


@pglite_only
class StartupFailures(unittest.TestCase):
    def test_unwritable_socket_directory(self) -> None:
        code = """
import tempfile
tempfile.tempdir = "/proc/no-such-directory"
from pglite_testcase.database.pglite import PGliteDatabase
PGliteDatabase.start()
"""
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("PGliteStartError", result.stderr)
        self.assertIn("/proc/no-such-directory", result.stderr)
        self.assertIn("TMPDIR", result.stderr)

    def test_disk_full_while_writing_a_snapshot(self) -> None:
        mount_point = Path(tempfile.mkdtemp(prefix="pgtc-full-"))
        self.addCleanup(shutil.rmtree, mount_point, True)
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], capture_output=True
        )
        if mounted.returncode != 0:
            self.skipTest(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
        self.addCleanup(subprocess.run, ["umount", str(mount_point)], check=False)
        store = SnapshotStore(mount_point / "snapshots")
        with self.assertLogs("pglite_testcase", "WARNING") as logs:
            database = PGliteDatabase.start(store=store)
        self.addCleanup(database.stop)
        message = "\n".join(logs.output)
        self.assertIn("could not save a snapshot", message)
        self.assertIn("no space left on device", message.lower())
        self.assertIn("Free some disk space", message)
        engine = database.create_engine()
        with engine.connect() as connection:
            self.assertEqual(connection.scalar(text("SELECT 1")), 1)
        engine.dispose()
        self.assertEqual([path.name for path in (mount_point / "snapshots").glob("*.tmp")], [])


@pglite_only
class NothingWrittenElsewhere(unittest.TestCase):
    def test_a_run_writes_only_to_the_cache_and_removed_temp_dirs(self) -> None:
        workdir, home = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, workdir, True)
        self.addCleanup(shutil.rmtree, home, True)
        before = set(Path(tempfile.gettempdir()).iterdir())
        code = """
import unittest
from sqlalchemy import text
from pglite_testcase import PGliteTestCase
from tests.models import Base

class Writes(PGliteTestCase):
    metadata = Base
    def test(self):
        self.connection.execute(text("INSERT INTO authors (name) VALUES ('x')"))

unittest.main(argv=["writes"])
"""
        cache = Path(tempfile.mkdtemp())  # empty: the run installs the npm packages too
        self.addCleanup(shutil.rmtree, cache, True)
        env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT), "PGLITE_TESTCASE_CACHE_DIR": str(cache)}
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(list(workdir.iterdir()), [], "something was written to the working directory")
        self.assertEqual(list(home.iterdir()), [], "something was written to HOME (npm's cache or logs?)")
        left = {path.name for path in set(Path(tempfile.gettempdir()).iterdir()) - before}
        self.assertEqual({name for name in left if name.startswith(("pglite-testcase-", "py-pglite-"))}, set())


def bad_class(**attributes: Any) -> type[PGliteTestCase]:
    return type("Bad", (PGliteTestCase,), attributes)


def bad_async_class(**attributes: Any) -> type[AsyncPGliteTestCase]:
    return type("BadAsync", (AsyncPGliteTestCase,), attributes)


class BadInput(unittest.TestCase):
    """Each bad value fails setUpClass with one message: the class, the attribute, the value, what is accepted."""

    CASES: list[tuple[str, Any, dict[str, str], tuple[str, ...]]] = [
        ("metadata = a string", bad_class(metadata="models.Base"), {}, ("Bad.metadata", "'models.Base'", "MetaData")),
        (
            "metadata = a Table",
            bad_class(metadata=Table("t", MetaData(), Column("id", Integer))),
            {},
            ("Bad.metadata", "MetaData"),
        ),
        ("metadata = an instance", bad_class(metadata=Author(name="x")), {}, ("Bad.metadata", "DeclarativeBase")),
        ("metadata = a class", bad_class(metadata=int), {}, ("Bad.metadata", "<class 'int'>")),
        ("alembic_config = a number", bad_class(alembic_config=3), {}, ("Bad.alembic_config", "3", "alembic.ini")),
        (
            "alembic_config = missing file",
            bad_class(alembic_config="nope.ini"),
            {},
            ("Bad.alembic_config", "'nope.ini'", "existing"),
        ),
        (
            "alembic_config = a directory",
            bad_class(alembic_config=str(ROOT)),
            {},
            ("Bad.alembic_config", "existing alembic.ini"),
        ),
        (
            "alembic_config = ini without scripts",
            bad_class(alembic_config=str(ROOT / "setup.cfg")),
            {},
            ("Bad.alembic_config", "script directory"),
        ),
        (
            "both schema sources",
            bad_class(metadata=Base, alembic_config=str(ALEMBIC_OK)),
            {},
            ("Bad", "both metadata and alembic_config"),
        ),
        (
            "alembic_revision = None",
            bad_class(alembic_config=str(ALEMBIC_OK), alembic_revision=None),
            {},
            ("Bad.alembic_revision", "None"),
        ),
        (
            "alembic_revision = ''",
            bad_class(alembic_config=str(ALEMBIC_OK), alembic_revision=""),
            {},
            ("Bad.alembic_revision", "''"),
        ),
        (
            "alembic_revision = 3",
            bad_class(alembic_config=str(ALEMBIC_OK), alembic_revision=3),
            {},
            ("Bad.alembic_revision", "3"),
        ),
        (
            "alembic_revision = a revision the migrations do not have",
            bad_class(alembic_config=str(ALEMBIC_OK), alembic_revision="nonexistent"),
            {},
            ("Bad.alembic_revision", "'nonexistent'", "'head'", "heads:"),
        ),
        (
            "reset_sequences = 'yes'",
            bad_class(reset_sequences="yes"),
            {},
            ("Bad.reset_sequences", "'yes'", "True or False"),
        ),
        ("pglite_isolated = 1", bad_class(pglite_isolated=1), {}, ("Bad.pglite_isolated", "1", "True or False")),
        (
            "session_options = a list",
            bad_class(session_options=["expire_on_commit"]),
            {},
            ("Bad.session_options", "dict"),
        ),
        ("session_options sets bind", bad_class(session_options={"bind": None}), {}, ("Bad.session_options", "'bind'")),
        ("statement_timeout = 0", bad_class(statement_timeout=0), {}, ("Bad.statement_timeout", "0", "greater than 0")),
        ("statement_timeout = '5s'", bad_class(statement_timeout="5s"), {}, ("Bad.statement_timeout", "'5s'")),
        ("statement_timeout = True", bad_class(statement_timeout=True), {}, ("Bad.statement_timeout", "True")),
        (
            "server_url = mysql",
            bad_class(server_url="mysql://u@h/db"),
            {},
            ("Bad.server_url", "mysql://", "postgresql+psycopg://"),
        ),
        (
            "isolation = 'rollback'",
            bad_class(isolation="rollback"),
            {},
            ("Bad.isolation", "'rollback'", "'transaction' or 'truncate'"),
        ),
        (
            "extensions = a string",
            bad_class(extensions="pgvector"),
            {},
            ("Bad.extensions", "'pgvector'", "a list of extension names"),
        ),
        ("extensions = unknown", bad_class(extensions=["postgis"]), {}, ("Bad.extensions", "postgis", "pg_trgm")),
        ("factories = models", bad_class(factories=[Author]), {}, ("Bad.factories", "SQLAlchemyModelFactory")),
        ("faker_seed = '1'", bad_class(faker_seed="1"), {}, ("Bad.faker_seed", "'1'", "an int")),
        (
            "async_driver = aiopg",
            bad_async_class(async_driver="aiopg"),
            {},
            ("BadAsync.async_driver", "'aiopg'", "'psycopg' or 'asyncpg'"),
        ),
        ("async_driver = 3", bad_async_class(async_driver=3), {}, ("BadAsync.async_driver", "3")),
        ("driver = pg8000", bad_class(driver="pg8000"), {}, ("Bad.driver", "'pg8000'", "'psycopg2'")),
        (
            "PGLITE_TESTCASE_DRIVER = pg8000",
            bad_class(),
            {"PGLITE_TESTCASE_DRIVER": "pg8000"},
            ("PGLITE_TESTCASE_DRIVER", "'pg8000'", "'psycopg2'"),
        ),
        (
            "statement_timeout = inf",
            bad_class(statement_timeout=float("inf")),
            {},
            ("Bad.statement_timeout", "inf", "at most"),
        ),
        (
            "statement_timeout = nan",
            bad_class(statement_timeout=float("nan")),
            {},
            ("Bad.statement_timeout", "nan"),
        ),
        (
            "statement_timeout = 10**9",
            bad_class(statement_timeout=10**9),
            {},
            ("Bad.statement_timeout", "1000000000", "at most"),
        ),
        ("session_class = int", bad_class(session_class=int), {}, ("Bad.session_class", "int", "Session")),
        (
            "session_options sets class_",
            bad_class(session_options={"class_": object}),
            {},
            ("Bad.session_options", "session_class"),
        ),
        (
            "database_objects = a string",
            bad_class(database_objects="myapp.db.engine"),
            {},
            ("Bad.database_objects", "'myapp.db.engine'", "dotted paths"),
        ),
        (
            "database_objects = a missing module",
            bad_class(database_objects=["no_such_app.db.engine"]),
            {},
            ("Bad.database_objects", "'no_such_app.db.engine'", "cannot be imported"),
        ),
        (
            "database_objects = a model",
            bad_class(database_objects=["tests.models.Author"]),
            {},
            ("Bad.database_objects", "'tests.models.Author'", "sessionmaker"),
        ),
        (
            "shared_test_data = a string",
            bad_class(shared_test_data="api"),
            {},
            ("Bad.shared_test_data", "'api'", "collection of attribute names"),
        ),
        (
            "PGLITE_TESTCASE_TCP = yes",
            bad_class(),
            {"PGLITE_TESTCASE_TCP": "yes"},
            ("PGLITE_TESTCASE_TCP", "'yes'", "'1' or '0'"),
        ),
        (
            "PGLITE_TESTCASE_PRESTART = no",
            bad_class(),
            {"PGLITE_TESTCASE_PRESTART": "no"},
            ("PGLITE_TESTCASE_PRESTART", "'no'"),
        ),
        (
            "PGLITE_TESTCASE_LOG = loud",
            bad_class(),
            {"PGLITE_TESTCASE_LOG": "loud"},
            ("PGLITE_TESTCASE_LOG", "'loud'", "debug"),
        ),
        (
            "PGLITE_TESTCASE_CACHE_DIR = a file",
            bad_class(),
            {"PGLITE_TESTCASE_CACHE_DIR": str(ROOT / "setup.cfg")},
            ("PGLITE_TESTCASE_CACHE_DIR", "setup.cfg", "directory"),
        ),
        (
            "PGLITE_TESTCASE_DATABASE_URL = junk",
            bad_class(),
            {"PGLITE_TESTCASE_DATABASE_URL": "junk"},
            ("PGLITE_TESTCASE_DATABASE_URL", "'junk'", "postgresql+psycopg://"),
        ),
    ]

    def test_every_bad_value_is_refused_clearly_and_starts_nothing(self) -> None:
        self.assertGreaterEqual(len(self.CASES), 20)
        for label, case, environment, fragments in self.CASES:
            with self.subTest(label):
                saved = {name: os.environ.get(name) for name in environment}
                os.environ.update(environment)
                try:
                    with self.assertRaises(ConfigurationError) as caught:
                        case.setUpClass()
                finally:
                    for name, value in saved.items():
                        if value is None:
                            os.environ.pop(name, None)
                        else:
                            os.environ[name] = value
                message = str(caught.exception)
                self.assertEqual(len(message.splitlines()), 1, message)
                for fragment in fragments:
                    self.assertIn(fragment, message)
                self.assertNotIn("database", case.__dict__, "a refused class must not keep a database")
