"""Node.js discovery and the npm package cache: installed once, safely, with clear errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

from pglite_testcase import PGliteStartError
from pglite_testcase.runtime.node_packages import COMPLETE_MARKER, NodePackages, default_postgres_version, find_node
from pglite_testcase.runtime.process import PGliteProcess

from .support import pglite_only

ROOT = Path(__file__).resolve().parents[1]
UNREACHABLE_REGISTRY = {"npm_config_registry": "http://127.0.0.1:9/", "npm_config_fetch_retries": "0"}


def python(code: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pglite_only
class PackageCache(unittest.TestCase):
    def setUp(self) -> None:
        self.cache = Path(tempfile.mkdtemp(prefix="pgtc-cache-test-"))
        self.env = {**os.environ, "PGLITE_TESTCASE_CACHE_DIR": str(self.cache)}

    def tearDown(self) -> None:
        shutil.rmtree(self.cache, ignore_errors=True)

    def install_command(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            # One major (this run's), so that the two installs race for the same directory.
            [sys.executable, "-m", "pglite_testcase", "install", f"--postgres-version={default_postgres_version()}"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def test_two_processes_filling_an_empty_cache_at_once(self) -> None:
        first, second = self.install_command(), self.install_command()
        outputs = [process.communicate(timeout=300) for process in (first, second)]
        self.assertEqual([first.returncode, second.returncode], [0, 0], outputs)
        packages = NodePackages(self.cache)
        self.assertTrue(packages.is_complete())
        entries = sorted(
            path.name for path in self.cache.iterdir() if not path.name.endswith(".lock") and path.name != "npm-cache"
        )
        self.assertEqual(entries, [packages.directory.name], "a staging directory was left behind")
        installs = sum("fetched PGlite" in err for _, err in outputs)
        self.assertEqual(installs, 1, "the second process should have waited and reused the install")

    def test_incomplete_cache_is_reinstalled(self) -> None:
        packages = NodePackages(self.cache)
        packages.ensure_installed(find_node())
        shutil.rmtree(packages.node_modules / "@electric-sql" / "pglite" / "dist")
        (packages.node_modules / "@electric-sql" / "pglite" / "package.json").unlink()
        self.assertFalse(packages.is_complete())
        with self.assertLogs("pglite_testcase", "WARNING") as logs:
            packages.ensure_installed(find_node())
        self.assertTrue(packages.is_complete())
        self.assertIn("is incomplete (@electric-sql/pglite/", "\n".join(logs.output))
        self.assertIn("reinstalling", "\n".join(logs.output))
        self.assertEqual(json.loads((packages.directory / COMPLETE_MARKER).read_text())["digest"], packages.digest)

    def test_unreachable_registry_on_first_use_says_how_to_preinstall(self) -> None:
        result = python(
            """
            from pglite_testcase.database.pglite import PGliteDatabase
            PGliteDatabase.start()
            """,
            {**self.env, **UNREACHABLE_REGISTRY},
        )
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("CacheInstallError", result.stderr)
        self.assertIn("python -m pglite_testcase install", result.stderr)
        left = [p.name for p in self.cache.iterdir() if not p.name.endswith(".lock") and p.name != "npm-cache"]
        self.assertEqual(left, [], "a failed install must leave no package directory")

    def test_warm_cache_needs_no_registry(self) -> None:
        NodePackages(self.cache).ensure_installed(find_node())
        result = python(
            """
            from sqlalchemy import text
            from pglite_testcase.database.pglite import PGliteDatabase
            database = PGliteDatabase.start()
            with database.create_engine().connect() as connection:
                print(connection.scalar(text("SELECT 40 + 2")))
            database.stop()
            """,
            {**self.env, **UNREACHABLE_REGISTRY},
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "42")


@pglite_only
class NodeDiscovery(unittest.TestCase):
    def run_without_real_node(self, fake_node: str | None) -> subprocess.CompletedProcess[str]:
        bin_dir = Path(tempfile.mkdtemp(prefix="pgtc-path-"))
        self.addCleanup(shutil.rmtree, bin_dir, True)
        if fake_node is not None:
            (bin_dir / "node").write_text(f"#!/bin/sh\necho {fake_node}\n")
            (bin_dir / "node").chmod(0o755)
        env = {**os.environ, "PATH": str(bin_dir)}
        return python(
            """
            from pglite_testcase.runtime.node_packages import find_node
            find_node()
            """,
            env,
        )

    def test_node_missing(self) -> None:
        result = self.run_without_real_node(None)
        self.assertIn("NodeNotFoundError", result.stderr)
        self.assertIn("No `node` on PATH", result.stderr)
        self.assertIn("pglite-testcase[node]", result.stderr)

    def test_node_too_old(self) -> None:
        result = self.run_without_real_node("v16.20.2")
        self.assertIn("Node.js 18 or newer", result.stderr)
        self.assertIn("(v16.20.2)", result.stderr)
        self.assertIn("pglite-testcase[node]", result.stderr)


@pglite_only
class StartFailure(unittest.TestCase):
    def test_failed_start_reports_pglite_output_and_cleans_up(self) -> None:
        runtime = find_node()
        node_modules = NodePackages().ensure_installed(runtime)
        missing = Path(tempfile.gettempdir()) / "pgtc-no-such-snapshot.tar"
        process = PGliteProcess(runtime, node_modules, load_data_dir=missing)
        self.addCleanup(process.stop)
        with self.assertRaises(PGliteStartError) as caught:
            process.start()
        self.assertIn("PGlite exited", str(caught.exception))
        self.assertIn("PGlite failed to start", str(caught.exception))
        self.assertIn("pgtc-no-such-snapshot.tar", str(caught.exception))
        self.assertIsNone(process.process)
        self.assertFalse(process.private_dir.exists())
