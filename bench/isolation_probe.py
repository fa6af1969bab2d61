"""Per-test isolation overhead, in one process: pglite_testcase vs. an unisolated connection.

Run by the benchmark as ``python -m bench.isolation_probe TABLES TESTS ROUNDS``; prints
``KEY value`` lines (milliseconds per test).
"""

from __future__ import annotations

import statistics
import sys
import time
import unittest
from typing import Any, ClassVar

from sqlalchemy import Connection, Engine, create_engine, insert, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from pglite_testcase import PGliteTestCase

sys.path.insert(0, ".")
from bench_schema import metadata, t0  # type: ignore[import-not-found]  # noqa: E402


def body_connection(self: unittest.TestCase) -> None:
    self.connection.execute(insert(t0).values(name="x"))  # type: ignore[attr-defined]


def body_session(self: unittest.TestCase) -> None:
    self.session.execute(insert(t0).values(name="x"))  # type: ignore[attr-defined]


class Plain(unittest.TestCase):
    """The same bodies on one autocommit connection that nobody isolates."""

    # The database the isolated classes use (PGlite or a server's), as their public attributes give it.
    url = ""
    connect_args: ClassVar[dict[str, Any]] = {}
    engine: ClassVar[Engine]
    plain_connection: ClassVar[Connection]

    @classmethod
    def setUpClass(cls) -> None:
        cls.engine = create_engine(
            cls.url, connect_args=cls.connect_args, poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
        cls.plain_connection = cls.engine.connect()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.plain_connection.close()
        cls.engine.dispose()

    def setUp(self) -> None:
        self.connection = self.plain_connection
        self.session = Session(bind=self.plain_connection)

    def tearDown(self) -> None:
        self.session.close()


def per_test_ms(case: type[unittest.TestCase], tests: int) -> float:
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(case)
    result = unittest.TestResult()
    started = time.perf_counter()
    suite.run(result)
    elapsed = time.perf_counter() - started
    if not result.wasSuccessful():
        raise SystemExit(f"{case.__name__} failed: {result.errors + result.failures}")
    return elapsed / tests * 1000


def select_one_ms() -> float:
    engine = create_engine(Plain.url, connect_args=Plain.connect_args, poolclass=NullPool)
    with engine.connect() as connection:
        for _ in range(200):
            connection.execute(text("SELECT 1"))
        started = time.perf_counter()
        for _ in range(2000):
            connection.execute(text("SELECT 1"))
        elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed / 2000 * 1000


def main() -> None:
    tests, rounds = int(sys.argv[2]), int(sys.argv[3])
    cases: dict[str, type[unittest.TestCase]] = {}
    for via, body in (("connection", body_connection), ("session", body_session)):
        tests_dict = {f"test_{n:04}": body for n in range(tests)}
        cases[f"ours_{via}"] = type(f"Ours_{via}", (PGliteTestCase,), {"metadata": metadata, **tests_dict})
        cases[f"plain_{via}"] = type(f"Plain_{via}", (Plain,), dict(tests_dict))
    # As many tests a class as the other rows: what a class sets up once is spread the same way.
    truncate_tests = tests
    truncate_case = type(
        "Truncate_session",
        (PGliteTestCase,),
        {
            "metadata": metadata,
            "isolation": "truncate",
            **{f"test_{n:04}": body_session for n in range(truncate_tests)},
        },
    )
    per_test_ms(cases["ours_connection"], tests)  # builds the schema; warms everything up
    first = cases["ours_connection"]
    assert issubclass(first, PGliteTestCase)
    first.setUpClass()
    Plain.url, Plain.connect_args = first.database_url, dict(first.connect_args)
    first.tearDownClass()
    samples: dict[str, list[float]] = {name: [] for name in [*cases, "truncate_session", "select1"]}
    for _ in range(rounds):
        for name, case in cases.items():
            samples[name].append(per_test_ms(case, tests))
        samples["truncate_session"].append(per_test_ms(truncate_case, truncate_tests))
        samples["select1"].append(select_one_ms())
    for name, values in samples.items():
        print(name, statistics.median(values))
    truncate = [t - p for t, p in zip(samples["truncate_session"], samples["plain_session"])]
    print("truncate_tests", truncate_tests)
    print("overhead_truncate", statistics.median(truncate))
    print("ratios_truncate", *[o / r for o, r in zip(truncate, samples["select1"])])
    for via in ("connection", "session"):
        overhead = [o - p for o, p in zip(samples[f"ours_{via}"], samples[f"plain_{via}"])]
        print(f"overhead_{via}", statistics.median(overhead))
        ratios = [o / r for o, r in zip(overhead, samples["select1"])]
        print(f"ratios_{via}", *ratios)


if __name__ == "__main__":
    main()
