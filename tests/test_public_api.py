"""The public API: ``pglite_testcase.__all__`` is what the package offers, each name documented, and
the old module paths still import (with a DeprecationWarning) for one release."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
import unittest
from pathlib import Path

import pglite_testcase
from pglite_testcase import errors

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pglite_testcase"


def documentation() -> str:
    return "\n".join(path.read_text() for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


class PublicNames(unittest.TestCase):
    def test_every_name_in_all_is_there(self) -> None:
        for name in pglite_testcase.__all__:
            with self.subTest(name):
                self.assertIsNotNone(getattr(pglite_testcase, name))

    def test_every_exception_the_package_raises_is_public(self) -> None:
        raised = {
            name
            for name, value in vars(errors).items()
            if inspect.isclass(value) and value.__module__ == errors.__name__
        }
        self.assertLessEqual(raised, set(pglite_testcase.__all__))

    def test_every_name_in_all_is_documented(self) -> None:
        text = documentation()
        missing = [name for name in pglite_testcase.__all__ if not re.search(rf"\b{re.escape(name)}\b", text)]
        self.assertEqual(missing, [], "names of pglite_testcase.__all__ that README.md and docs/*.md do not mention")

    def test_importing_the_package_imports_no_test_case_module(self) -> None:
        code = "import sys, pglite_testcase; print(sorted(m for m in sys.modules if m.startswith('pglite_testcase')))"
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
        self.assertEqual(done.stdout.strip(), "['pglite_testcase', 'pglite_testcase.errors']", done.stderr)


class ModulePaths(unittest.TestCase):
    def test_no_module_of_the_package_looks_like_a_test_module(self) -> None:
        # unittest discover, run from a project's root, imports any test*.py of an importable package.
        found = [str(path.relative_to(ROOT)) for path in PACKAGE.rglob("test*.py") if "node" not in path.parts]
        self.assertEqual(found, [])

    def test_the_old_paths_import_with_a_deprecation_warning(self) -> None:
        moved = {
            "pglite_testcase.helpers": ("pglite_testcase.testcase.helpers", "row_counts"),
            "pglite_testcase.async_testcase": ("pglite_testcase.testcase.async_case", "AsyncPGliteTestCase"),
            "pglite_testcase.migration_checks": ("pglite_testcase.migrations.checks", "AlembicMigrationsTestCase"),
            "pglite_testcase.node_packages": ("pglite_testcase.runtime.node_packages", "NodePackages"),
            "pglite_testcase.pglite_process": ("pglite_testcase.runtime.process", "PGliteProcess"),
        }
        for old, (new, name) in moved.items():
            with self.subTest(old):
                sys.modules.pop(old, None)
                with self.assertWarnsRegex(DeprecationWarning, f"{re.escape(old)} moved to {re.escape(new)}"):
                    module = importlib.import_module(old)
                self.assertIs(getattr(module, name), getattr(importlib.import_module(new), name))

    def test_the_testcase_package_keeps_the_sync_classes(self) -> None:
        from pglite_testcase.testcase import PGliteDatabaseMixin, PGliteMixin, PGliteTestCase

        self.assertIs(PGliteTestCase, pglite_testcase.PGliteTestCase)
        self.assertIs(PGliteMixin, pglite_testcase.PGliteMixin)
        self.assertTrue(issubclass(PGliteMixin, PGliteDatabaseMixin))

    def test_database_keeps_its_old_names_with_a_warning(self) -> None:
        import pglite_testcase.database as database
        from pglite_testcase.database.pglite import PGliteDatabase

        database.__dict__.pop("PGliteDatabase", None)
        with self.assertWarnsRegex(DeprecationWarning, "pglite_testcase.database.PGliteDatabase moved"):
            self.assertIs(database.PGliteDatabase, PGliteDatabase)


class SourceRules(unittest.TestCase):
    def test_few_type_ignores_each_with_its_code_and_reason(self) -> None:
        ignores = [
            (path, line.strip())
            for path in sorted(PACKAGE.rglob("*.py"))
            for line in path.read_text().splitlines()
            if "type: ignore" in line
        ]
        self.assertLessEqual(len(ignores), 10, ignores)
        for path, line in ignores:
            self.assertRegex(line, r"# type: ignore\[[a-z-]+(, [a-z-]+)*\]  # \S", f"{path}: code and reason")

    def test_no_pytest_in_the_package(self) -> None:
        for path in sorted(PACKAGE.rglob("*.py")):
            self.assertNotRegex(path.read_text(), r"(?m)^\s*(import pytest|from pytest)", str(path))
