"""1 isolation overhead per test: 1, 20 and 100 tables, as a multiple of a SELECT 1 round trip."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess

from .. import workloads
from ..context import PY_PGLITE_PYTEST, Context, scratch
from ..measure import Row, RunFailed, run_python, value, values

SCENARIO = "1 isolation overhead per test"


def run(context: Context) -> list[Row]:
    tests = context.size(300, 100)
    rows, overhead_ms = probe(context, tests, "pglite", "pglite_testcase", {})
    rows.append(py_pglite_cleanup(context.size(200, 50), ours_ms=overhead_ms["isolation.pglite.20.session"]))
    if importlib.util.find_spec("psycopg2") is not None:  # the legacy driver: its queue travels as text
        env = {"PGLITE_TESTCASE_DRIVER": "psycopg2"}
        rows += probe(context, tests, "pglite-psycopg2", "pglite_testcase with psycopg2", env)[0]
    if context.server_url:
        env = {"PGLITE_TESTCASE_DATABASE_URL": context.server_url}
        rows += probe(context, tests, "server", "pglite_testcase on PostgreSQL server", env)[0]
    return rows


def probe(
    context: Context, tests: int, backend: str, who: str, env: dict[str, str]
) -> tuple[list[Row], dict[str, float]]:
    """The rows of one backend, and each row's overhead in milliseconds per test."""
    rows, overhead_ms = [], {}
    for tables in (1, 20, 100):
        directory = scratch(f"isolation-{tables}")
        workloads.write_schema(directory, tables)
        out = run_python(["-m", "bench.isolation_probe", str(tables), str(tests), str(context.repeat)], directory, env)[
            1
        ]
        shutil.rmtree(directory, ignore_errors=True)
        select1 = value(out, "select1")
        overhead_ms[f"isolation.{backend}.{tables}.truncate"] = value(out, "overhead_truncate")
        rows.append(
            Row(
                f"isolation.{backend}.{tables}.truncate",
                SCENARIO,
                f"{who}, {tables} tables, isolation = 'truncate' (session body)",
                "x SELECT 1",
                values(out, "ratios_truncate"),
                note=f"{value(out, 'overhead_truncate'):.3f} ms per test; "
                f"{value(out, 'truncate_tests'):.0f} tests a round",
            )
        )
        for via in ("connection", "session"):
            overhead_ms[f"isolation.{backend}.{tables}.{via}"] = value(out, f"overhead_{via}")
            rows.append(
                Row(
                    f"isolation.{backend}.{tables}.{via}",
                    SCENARIO,
                    f"{who}, {tables} tables, body via self.{via}",
                    "x SELECT 1",
                    values(out, f"ratios_{via}"),
                    note=f"{value(out, f'overhead_{via}'):.3f} ms; SELECT 1 = {select1:.3f} ms; "
                    f"{context.repeat} rounds of {tests} tests",
                )
            )
    return rows, overhead_ms


def py_pglite_cleanup(tests: int, ours_ms: float) -> Row:
    """py-pglite's per-test cleanup, for real: its pglite_session fixture vs. a plain session."""
    directory = scratch("py-pglite-cleanup")
    workloads.write_schema(directory, 20)
    (directory / "conftest.py").write_text(
        "import pytest\nfrom sqlalchemy.orm import Session\nfrom bench_schema import metadata\n\n"
        "@pytest.fixture(scope='session', autouse=True)\ndef schema(pglite_engine):\n"
        "    metadata.create_all(pglite_engine)\n\n"
        "@pytest.fixture\ndef plain_session(pglite_engine):\n"
        "    with Session(pglite_engine) as session:\n        yield session\n"
    )
    body = "        {s}.execute(t0.insert().values(name='x'))\n        {s}.commit()\n"
    (directory / "test_cleanup.py").write_text(
        "from bench_schema import t0\n\nclass TestPyPglite:\n"
        + "".join(
            f"    def test_{n:04}(self, pglite_session):\n" + body.format(s="pglite_session") for n in range(tests)
        )
        + "\nclass TestPlain:\n"
        + "".join(f"    def test_{n:04}(self, plain_session):\n" + body.format(s="plain_session") for n in range(tests))
    )
    row = Row("isolation.py_pglite.20.cleanup", SCENARIO, "py-pglite pglite_session cleanup, 20 tables", "ms")
    try:
        out = run_python(["-m", "pytest", *PY_PGLITE_PYTEST, "-p", "bench.pytest_timing"], directory, timeout=600)[1]
    except subprocess.TimeoutExpired:
        row.note = "its run was killed after 600 s"
        return row
    except RunFailed as failed:
        row.note = f"its run failed: {failed.summary}"
        return row
    per_class = {line.split()[1]: float(line.split()[2]) for line in out.splitlines() if line.startswith("class_ms ")}
    row.samples = [per_class["TestPyPglite"] - per_class["TestPlain"]]
    row.note = f"pglite_session {per_class['TestPyPglite']:.3f} ms/test - plain session {per_class['TestPlain']:.3f}"
    row.vs = f"{row.median / ours_ms:.0f}x ours (session body)"
    return row
