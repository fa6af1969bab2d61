"""Start-up and class set-up timings, printed by a test suite run in a fresh interpreter.

The benchmark copies this file next to a generated schema and runs it with
``python startup_probe.py MODE``; the process's own start time comes from
/proc, so the figure covers interpreter start, imports, PGlite's start and
the schema, up to the first test's first query.
"""

from __future__ import annotations

import os
import sys
import time
import unittest

from sqlalchemy import text

MODE = sys.argv[1]


def process_started_at() -> float:
    """When this process started, in time.time() terms (from /proc/self/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/self/stat") as stat:
        start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as uptime:
        booted_at = time.time() - float(uptime.read().split()[0])
    return booted_at + start_ticks / ticks


from pglite_testcase import PGliteTestCase  # noqa: E402

attributes: dict[str, object] = {}
if MODE == "metadata":
    from bench_schema import metadata

    attributes["metadata"] = metadata
elif MODE == "alembic":
    attributes["alembic_config"] = os.path.join(os.getcwd(), "alembic.ini")

timings: dict[str, float] = {}


def set_up_class(cls: type) -> None:
    started = time.perf_counter()
    PGliteTestCase.setUpClass.__func__(cls)  # type: ignore[attr-defined]
    timings["class_setup"] = time.perf_counter() - started


def test_first_query(self: PGliteTestCase) -> None:
    self.connection.execute(text("SELECT 1"))
    timings["first_query"] = time.time() - process_started_at()


First = type(
    "First",
    (PGliteTestCase,),
    {**attributes, "setUpClass": classmethod(set_up_class), "test_first_query": test_first_query},
)

if __name__ == "__main__":
    result = unittest.TextTestRunner(stream=open(os.devnull, "w")).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(First)
    )
    if not result.wasSuccessful():
        raise SystemExit(str(result.errors + result.failures))
    for key, seconds in timings.items():
        print(key, seconds)
