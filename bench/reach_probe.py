"""What the guard of what tests reach (``pglite_testcase.isolation.reach``) costs per new DBAPI connection.

``python -m bench.reach_probe [CONNECTS]`` prints ``KEY value`` lines, microseconds per connect:

- ``sqlite_plain``: a NullPool SQLite engine's connect + close, no class running;
- ``sqlite_guarded``: the same inside a test of a class that allows SQLite (the listener runs,
  parses nothing it does not need, lets it through);
- ``routed_connect``: a NullPool engine built from ``database_url`` inside a test, connect + close
  (each time a routed "connection": no network, the test's own connection);
- ``test_engine_connect``: ``self.engine.connect()`` + close, the library's own engine, for comparison;
- ``listener_sqlite`` / ``listener_postgresql_other``: the listener alone, called directly as SQLAlchemy
  calls it, for an allowed SQLite connection and for a PostgreSQL one to another database that a
  class allows (what every new connection pays while a class runs; SQLite's own connect is ~50 µs).
"""

from __future__ import annotations

import statistics
import sys
import time
import unittest
from collections.abc import Callable

from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from pglite_testcase import PGliteTestCase

ROUNDS = 5


def per_connect_us(connect: Callable[[], object], count: int) -> float:
    """Median over ROUNDS of the microseconds one connect + close takes."""
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(count):
            connection = connect()
            connection.close()  # type: ignore[attr-defined]
        rounds.append((time.perf_counter() - started) / count * 1e6)
    return statistics.median(rounds)


def listener_us(dialect: object, cargs: tuple[object, ...], cparams: dict[str, object], count: int) -> float:
    from pglite_testcase.isolation.reach import _before_connect

    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(count):
            _before_connect(dialect, None, cargs, cparams)
        rounds.append((time.perf_counter() - started) / count * 1e6)
    return statistics.median(rounds)


def main(count: int) -> None:
    sqlite = create_engine("sqlite://", poolclass=NullPool)
    figures = {"sqlite_plain": per_connect_us(sqlite.connect, count)}

    class Probe(PGliteTestCase):
        allowed_databases = ["sqlite://", "postgresql://db.example/app"]

        def test_probe(self) -> None:
            figures["sqlite_guarded"] = per_connect_us(sqlite.connect, count)
            routed = create_engine(self.database_url, poolclass=NullPool)
            figures["routed_connect"] = per_connect_us(routed.connect, count)
            figures["test_engine_connect"] = per_connect_us(self.engine.connect, count)
            figures["listener_sqlite"] = listener_us(sqlite.dialect, (":memory:",), {}, count * 50)
            other = create_engine("postgresql+psycopg://app:pw@db.example:5432/app").dialect
            figures["listener_postgresql_other"] = listener_us(
                other, (), {"host": "db.example", "port": 5432, "dbname": "app", "user": "app"}, count * 50
            )

    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(Probe).run(result)
    if result.errors or result.failures:
        raise SystemExit("\n".join(text for _, text in result.errors + result.failures))
    for key, value in figures.items():
        print(f"{key} {value:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
