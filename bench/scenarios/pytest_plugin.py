"""9 py-pglite's pytest plugin: what it costs a pytest run of this package's classes.

py-pglite registers a pytest plugin, so a project that installs this package and runs its
unittest classes under pytest loads it. The row: a one-test pytest process (a ``PGliteTestCase``,
20-table ``create_all``, warm cache), with the plugin loaded as it is by default and with
``-p no:py_pglite``, the two in alternation; the whole process's wall time.
"""

from __future__ import annotations

import shutil

from .. import workloads
from ..context import Context, scratch
from ..measure import Row, paired, run_python

SCENARIO = "9 py-pglite's pytest plugin"

TEST = """\
from sqlalchemy import text

from bench_schema import metadata
from pglite_testcase import PGliteTestCase


class OneTest(PGliteTestCase):
    metadata = metadata

    def test_one(self):
        self.assertEqual(self.connection.scalar(text("SELECT 1")), 1)
"""

# Only py-pglite's plugin differs between the two: pytest-postgresql's (installed for another row) is off.
PYTEST = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:pytest_postgresql", "test_one.py"]


def run(context: Context) -> list[Row]:
    directory = scratch("pytest-plugin")
    workloads.write_schema(directory, 20)
    (directory / "test_one.py").write_text(TEST)
    run_python(PYTEST, directory)  # warm: snapshot saved
    loaded = Row("pytest_plugin.loaded", SCENARIO, "one-test pytest run, py-pglite's plugin loaded (default)", "s")
    off = Row("pytest_plugin.off", SCENARIO, "the same run with -p no:py_pglite", "s")
    for _ in range(context.repeat):
        loaded.samples.append(run_python(PYTEST, directory)[0])
        off.samples.append(run_python([*PYTEST, "-p", "no:py_pglite"], directory)[0])
    shutil.rmtree(directory, ignore_errors=True)
    cost = paired(
        "pytest_plugin.cost", SCENARIO, "what loading the plugin adds to the run", "s", loaded, off, lambda a, b: a - b
    )
    return [loaded, off, cost]
