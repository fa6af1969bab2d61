"""What importing the sync classes, and running one, brings into a fresh interpreter.

``from pglite_testcase import PGliteTestCase`` is in every test module of a project, and what it
imports adds to every run's start-up: Alembic, SQLAlchemy's asyncio extension, the migration
checks, the command line and the drivers are imported only by what needs them (a class with
``alembic_config``, an async class, ``AlembicMigrationsTestCase``, the chosen driver). Each check
looks at ``sys.modules`` in a new interpreter, not at a time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import unittest
from pathlib import Path

from pglite_testcase.compat import SQLALCHEMY_2

ROOT = Path(__file__).resolve().parents[1]

# Modules (and their submodules) that no sync class without Alembic needs.
NEVER_FOR_A_SYNC_CLASS = (
    "alembic",
    "sqlalchemy.ext.asyncio",
    "greenlet",
    "asyncpg",
    "pglite_testcase.migrations",
    "pglite_testcase.cli",
    "pglite_testcase.testcase.async_case",
    "pglite_testcase.testcase.async_fixture",
    "pglite_testcase.drivers.async_drivers",
)
# Nor does importing the package choose a driver or set a class up.
NOT_AT_IMPORT = (
    *NEVER_FOR_A_SYNC_CLASS,
    "psycopg",
    "psycopg2",
    "pglite_testcase.drivers.psycopg3",
    "pglite_testcase.drivers.psycopg2",
    "pglite_testcase.testcase.fixture",
    "pglite_testcase.database",
    "pglite_testcase.isolation.join_test_transaction",
    "py_pglite",
)

REPORT = """
import json, sys
print(json.dumps(sorted(sys.modules)))
"""


def loaded(code: str, **env: str) -> list[str]:
    """The modules imported after running ``code`` in a new interpreter (from the checkout)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code) + REPORT],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise AssertionError(f"the interpreter failed:\n{done.stdout}\n{done.stderr}")
    modules: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return modules


def among(modules: list[str], names: tuple[str, ...], already: frozenset[str] = frozenset()) -> list[str]:
    """The modules of ``names`` (or their submodules) among ``modules``, beyond those in ``already``."""
    return sorted(
        m for m in modules if m not in already and any(m == name or m.startswith(f"{name}.") for name in names)
    )


class LazyImports(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        # What SQLAlchemy's ORM imports itself is no concern of the package (SQLAlchemy 1.4 imports greenlet).
        cls.orm = frozenset(loaded("import sqlalchemy.orm"))

    def test_importing_the_sync_classes_imports_no_driver_migration_or_async_module(self) -> None:
        modules = loaded("from pglite_testcase import PGliteMixin, PGliteTestCase")
        self.assertEqual(among(modules, NOT_AT_IMPORT, self.orm), [])

    def test_defining_a_class_imports_no_migration_or_async_module(self) -> None:
        modules = loaded(
            """
            from pglite_testcase import PGliteTestCase

            class Tests(PGliteTestCase):
                def test_nothing(self):
                    pass
            """,
            PGLITE_TESTCASE_PRESTART="0",
        )
        self.assertEqual(among(modules, NEVER_FOR_A_SYNC_CLASS, self.orm), [])

    def test_running_a_sync_class_imports_no_migration_async_or_other_driver_module(self) -> None:
        chosen, other = ("psycopg", "psycopg2") if SQLALCHEMY_2 else ("psycopg2", "psycopg")
        modules = loaded(
            f"""
            import unittest
            from sqlalchemy import text
            from pglite_testcase import PGliteTestCase

            class Tests(PGliteTestCase):
                driver = "{chosen}"

                def test_a_query(self):
                    self.assertEqual(self.connection.scalar(text("SELECT 1")), 1)

            result = unittest.TextTestRunner(stream=open(__import__("os").devnull, "w")).run(
                unittest.defaultTestLoader.loadTestsFromTestCase(Tests)
            )
            assert result.wasSuccessful(), result.errors + result.failures
            """
        )
        other_module = f"pglite_testcase.drivers.{'psycopg2' if other == 'psycopg2' else 'psycopg3'}"
        self.assertEqual(among(modules, (*NEVER_FOR_A_SYNC_CLASS, other, other_module), self.orm), [])
        self.assertIn(chosen, modules)  # the check sees the chosen driver, so it would see another


if __name__ == "__main__":
    unittest.main()
