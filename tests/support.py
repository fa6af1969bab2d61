"""Helpers for the library's own tests."""

from __future__ import annotations

import os
import tempfile
import unittest
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ALEMBIC_OK = HERE / "alembic_ok" / "alembic.ini"
ALEMBIC_BROKEN = HERE / "alembic_broken" / "alembic.ini"
ALEMBIC_OWN_ENGINE = HERE / "alembic_own_engine" / "alembic.ini"


def run_case(case: type[unittest.TestCase]) -> unittest.TestResult:
    """Run a test class defined inside a test, the way unittest's runner would."""
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(case).run(result)
    return result


def problems(result: unittest.TestResult) -> str:
    return "\n".join(text for _, text in result.errors + result.failures)


def node_children() -> set[int]:
    """PIDs of the node processes this test process started and that still run."""
    return {
        child.pid
        for child in psutil.Process().children(recursive=True)
        if child.is_running() and child.status() != psutil.STATUS_ZOMBIE and "node" in child.name()
    }


def private_dirs() -> set[str]:
    """The per-instance directories PGlite processes of this machine use."""
    return {path.name for path in Path(tempfile.gettempdir()).glob("pglite-testcase-*")}


ON_SERVER = bool(os.environ.get("PGLITE_TESTCASE_DATABASE_URL"))
pglite_only = unittest.skipIf(ON_SERVER, "about PGlite itself; this run uses a real PostgreSQL server")
server_only = unittest.skipUnless(ON_SERVER, "needs a real PostgreSQL server (PGLITE_TESTCASE_DATABASE_URL)")
