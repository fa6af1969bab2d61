"""PostgreSQL 17 (PGlite 0.3) beside 18 (PGlite 0.5): start-up, a small suite, node's memory.

    python -m bench.postgres_versions [ROUNDS] [SUITE MODULE ...]

Rounds are interleaved (17, 18, 17, 18, ...) so that both lines see the same machine load;
the medians are printed. Per round and line:

- cold start: a new PGlite from initdb (an empty snapshot store of its own), to the first query;
- warm start: the same from the empty snapshot just saved (``loadDataDir``), to the first query;
- node RSS: after the warm start and 500 transactions (an insert each, rolled back);
- suite: ``python -m unittest SUITE`` in a fresh interpreter with
  ``PGLITE_TESTCASE_POSTGRES_VERSION`` set, wall time (default suite: tests.test_isolation
  tests.test_conveniences).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.pool import NullPool

from pglite_testcase.database.pglite import PGliteDatabase
from pglite_testcase.database.snapshots import SnapshotStore

VERSIONS = (17, 18)
DEFAULT_SUITE = ("tests.test_isolation", "tests.test_conveniences")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _start_to_first_query(store: SnapshotStore, version: int) -> tuple[float, PGliteDatabase]:
    started = time.perf_counter()
    database = PGliteDatabase.start(store=store, postgres_version=version)
    engine = database.create_engine(poolclass=NullPool)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    engine.dispose()
    return time.perf_counter() - started, database


def starts(version: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="pgtc-bench-versions-"))
    try:
        store = SnapshotStore(root, version)
        cold, database = _start_to_first_query(store, version)  # initdb, then saves the empty snapshot
        database.stop()
        warm, database = _start_to_first_query(store, version)
        try:
            engine = database.create_engine(poolclass=NullPool)
            with engine.connect() as connection:
                connection.execute(text("CREATE TABLE t (id serial PRIMARY KEY, body text)"))
                connection.commit()
                for _ in range(500):
                    with connection.begin() as transaction:
                        connection.execute(text("INSERT INTO t (body) VALUES ('x')"))
                        transaction.rollback()
            engine.dispose()
            assert database.process.process is not None
            rss = _rss_mb(database.process.process.pid)
        finally:
            database.stop()
        snapshot = store.find("empty")
        size = snapshot.size / 1e6 if snapshot else float("nan")
        return {"cold start s": cold, "warm start s": warm, "node RSS MB": rss, "empty snapshot MB": size}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def suite(version: int, modules: list[str]) -> float:
    env = {**os.environ, "PGLITE_TESTCASE_POSTGRES_VERSION": str(version)}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "unittest", *modules], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"the suite failed on PostgreSQL {version}")
    return elapsed


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    modules = sys.argv[2:] or list(DEFAULT_SUITE)
    seen: dict[int, dict[str, list[float]]] = {version: {} for version in VERSIONS}
    for round_ in range(rounds):
        order = VERSIONS if round_ % 2 == 0 else tuple(reversed(VERSIONS))
        for version in order:
            figures = starts(version)
            figures["suite s"] = suite(version, modules)
            for name, value in figures.items():
                seen[version].setdefault(name, []).append(value)
        print(f"round {round_ + 1}/{rounds} done", file=sys.stderr, flush=True)
    print(f"medians of {rounds} interleaved rounds; suite: {' '.join(modules)}")
    print(f"{'':22}{'PostgreSQL 17':>16}{'PostgreSQL 18':>16}{'18 / 17':>10}")
    for name in seen[17]:
        a, b = statistics.median(seen[17][name]), statistics.median(seen[18][name])
        print(f"{name:22}{a:16.3f}{b:16.3f}{b / a:10.2f}")


if __name__ == "__main__":
    main()
