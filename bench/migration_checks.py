"""``python -m bench.migration_checks``: how long AlembicMigrationsTestCase takes, whole class and per check.

Two projects: a generated 50-revision chain (``workloads.write_alembic_chain``,
with models that match it) and the inventory example's three migrations.
Each class runs ``--rounds`` times in this process, as a suite would run it;
every check starts its own fresh database, so every round pays those starts.
The backend is PGlite, or the server in ``PGLITE_TESTCASE_DATABASE_URL``.
``python -m bench`` runs it on both (scenario 7) and reads its ``class_seconds`` lines.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import unittest
from pathlib import Path

from sqlalchemy import Column, Index, Integer, MetaData, String, Table

from examples.inventory.models import Base as InventoryBase
from pglite_testcase import AlembicMigrationsTestCase

from . import workloads
from .measure import ROOT


def chain_metadata(revisions: int) -> MetaData:
    """The models a ``write_alembic_chain`` of ``revisions`` builds: table, then a column, then an index."""
    metadata = MetaData()
    for first in range(0, revisions, 3):
        table = Table(f"m{first // 3}", metadata, Column("id", Integer, primary_key=True))
        if first + 1 < revisions:
            table.append_column(Column("name", String(50)))
        if first + 2 < revisions:
            Index(f"ix_{table.name}_name", table.c.name)
    return metadata


class TimedResult(unittest.TestResult):
    """A result that also keeps each test's wall time."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: dict[str, float] = {}
        self._started = 0.0

    def startTest(self, test: unittest.TestCase) -> None:
        super().startTest(test)
        self._started = time.perf_counter()

    def stopTest(self, test: unittest.TestCase) -> None:
        self.seconds[test._testMethodName.removeprefix("test_")] = time.perf_counter() - self._started
        super().stopTest(test)


def run_class(case: type[unittest.TestCase]) -> tuple[float, dict[str, float]]:
    result = TimedResult()
    started = time.perf_counter()
    unittest.defaultTestLoader.loadTestsFromTestCase(case).run(result)
    elapsed = time.perf_counter() - started
    if not result.wasSuccessful() or result.skipped:
        problems = "\n".join(text for _, text in result.errors + result.failures + result.skipped)
        raise SystemExit(f"{case.__name__} did not pass every check:\n{problems}")
    return elapsed, result.seconds


def summary(samples: list[float]) -> str:
    return f"{statistics.median(samples):6.2f} s  (min {min(samples):.2f}, max {max(samples):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--revisions", type=int, default=50)
    parser.add_argument("--project", choices=["chain", "inventory"], help="only this project (default: both)")
    arguments = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="pgtc-bench-migration-checks-"))
    try:
        projects = {
            "chain": type(
                "ChainChecks",
                (AlembicMigrationsTestCase,),
                {
                    "alembic_config": str(workloads.write_alembic_chain(directory, arguments.revisions)),
                    "metadata": chain_metadata(arguments.revisions),
                },
            ),
            "inventory": type(
                "InventoryChecks",
                (AlembicMigrationsTestCase,),
                {
                    "alembic_config": str(ROOT / "examples" / "inventory" / "alembic.ini"),
                    "metadata": InventoryBase,
                },
            ),
        }
        server = os.environ.get("PGLITE_TESTCASE_DATABASE_URL")
        print(f"backend: {'PostgreSQL server ' + server if server else 'PGlite'}")
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"load average {os.getloadavg()[0]:.2f} at start; {arguments.rounds} rounds"
        )
        for name, case in projects.items():
            if arguments.project not in (None, name):
                continue
            checks = [test.removeprefix("test_") for test in unittest.defaultTestLoader.getTestCaseNames(case)]
            totals: list[float] = []
            per_check: dict[str, list[float]] = {check: [] for check in checks}
            for _ in range(arguments.rounds):
                elapsed, seconds = run_class(case)
                totals.append(elapsed)
                for check in checks:
                    per_check[check].append(seconds[check])
            print(f"\n{name}: whole class {summary(totals)}; rounds: {', '.join(f'{t:.2f}' for t in totals)}")
            for check in checks:
                print(f"  {check:<28} {summary(per_check[check])}")
            print("class_seconds", name, *totals)
        print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
