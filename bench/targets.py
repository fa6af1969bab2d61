"""The project's performance targets, by row key: each is written into the results with its row.

A target with a limit is met when its row's median is at or under the limit; a target without one
asks only for the row to be measured (docs/performance.md reports its figure).
"""

from __future__ import annotations

from .measure import Row, Target

TARGETS: dict[str, Target] = {
    # Robustness must not cost the one-round-trip design (containment), on either driver.
    **{
        f"isolation.{backend}.{tables}.{via}": Target(
            f"isolation overhead, {label}, {tables} tables, via self.{via} (x SELECT 1)", 1.5
        )
        for backend, label in (("pglite", "psycopg 3"), ("pglite-psycopg2", "psycopg2"))
        for tables in (1, 20, 100)
        for via in ("connection", "session")
    },
    # What a user waits for: the whole one-test process, against the same process on a running server.
    "startup.process.ratio": Target("1. one-test process (20-table schema): PGlite / PostgreSQL server", 1.25),
    "startup.after_class": Target("1. first query after the test class is defined (PGlite, warm cache)", 0.15),
    "startup.imports.package": Target("1. `from pglite_testcase import PGliteTestCase` beyond SQLAlchemy's ORM", 0.15),
    "startup.process": Target("1. one-test process on PGlite (20-table schema), interpreter start to exit"),
    # The same with the opt-in warm spare (a PGlite the keeper started before the run).
    "startup.process.keep_warm.ratio": Target("1. the same with PGLITE_TESTCASE_KEEP_WARM=1: PGlite / server", 1.25),
    "startup.after_class.keep_warm": Target("1. first query after the class is defined, with KEEP_WARM=1", 0.15),
    "memory.suite.peak": Target("2. node peak RSS during the 1,000-test suite", 200),
    "isolation.pglite.20.truncate": Target("3. isolation = 'truncate', 20 tables", 8),
    "isolation.pglite.100.truncate": Target("3. isolation = 'truncate', 100 tables", 8),
    "migrations.chain.ratio": Target("4. migration checks, 50-revision chain: PGlite / server", 2),
    "migrations.inventory.ratio": Target("4. migration checks, examples/inventory: PGlite / server", 2),
    "scale.per_test_ratio": Target("5. per-test time, 10,000-test suite / 1,000-test suite", 1.2),
    "memory.scale.growth": Target("5. node memory flat: RSS after the last / after the first 10% of classes", 1.1),
    "scale.halves.speedup": Target("5. two processes in parallel: speed-up"),
    "scale.unittest_parallel.speedup": Target("5. unittest-parallel -j 2: speed-up"),
    "suite.pytest_postgresql": Target("6. pytest-postgresql on the real server, 1,000-test suite"),
    "suite.server": Target("6. pglite_testcase on the real server, 1,000-test suite"),
    "suite.ratio": Target("8. the 1,000-test suite: PGlite / PostgreSQL server", 1.2),
    "bulk.executemany.ratio": Target("8. executemany of 100,000 rows: PGlite / PostgreSQL server", 1.5),
    "first_run.first_query": Target("7. first run: empty cache to the first green test"),
}


def attach(rows: list[Row]) -> None:
    """Give each row whose key has a target that target."""
    for row in rows:
        row.target = TARGETS.get(row.key, row.target)
