"""Start-up and class set-up timings, printed by a test suite run in a fresh interpreter.

The benchmark copies this file next to a generated schema and runs it with
``python startup_probe.py MODE``; the process's own start time comes from
/proc, so the figure covers interpreter start, imports, PGlite's start and
the schema, up to the first test's first query. MODE ``imports`` stops after
importing SQLAlchemy's ORM and the package (no test class, so no PGlite), and
prints how long the package's import took on top of SQLAlchemy's.
``after_class`` is from the test class's definition to its first query.
"""

from __future__ import annotations

import os
import sys
import time
import unittest

from bench.process_clock import process_started_at

MODE = sys.argv[1]

import sqlalchemy.orm  # noqa: E402,F401
from sqlalchemy import text  # noqa: E402

orm_imported = time.perf_counter()
from pglite_testcase import PGliteTestCase  # noqa: E402

package_imported = time.perf_counter()

if MODE == "imports":
    print("imports_done", time.time() - process_started_at())
    print("package_import", package_imported - orm_imported)
    raise SystemExit(0)

attributes: dict[str, object] = {}
if MODE == "metadata":
    from bench_schema import metadata  # type: ignore[import-not-found]

    attributes["metadata"] = metadata
elif MODE == "alembic":
    attributes["alembic_config"] = os.path.join(os.getcwd(), "alembic.ini")

timings: dict[str, float] = {}
facts: dict[str, str] = {}


def set_up_class(cls: type) -> None:
    started = time.perf_counter()
    PGliteTestCase.setUpClass.__func__(cls)  # type: ignore[attr-defined]
    timings["class_setup"] = time.perf_counter() - started


def test_first_query(self: PGliteTestCase) -> None:
    self.connection.execute(text("SELECT 1"))
    timings["first_query"] = time.time() - process_started_at()
    timings["after_class"] = time.perf_counter() - class_defined
    facts["server_version"] = str(self.connection.scalar(text("SHOW server_version")))


class_defined = time.perf_counter()
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
    for key, fact in facts.items():
        print(key, fact)
