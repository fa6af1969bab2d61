"""4 suite wall time and 5 memory: the same small tests under pglite_testcase and the alternatives.

``run_ours``: pglite_testcase on PGlite's PostgreSQL 17 (with node's peak memory) and 18, on the postgres
backend and on the real server, in alternation.
``run_alternatives``: py-pglite's pytest fixtures, a naive unittest port, pytest-postgresql.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import statistics
import uuid
from operator import truediv
from pathlib import Path

from .. import workloads
from ..context import PGLITE_18, PY_PGLITE_PYTEST, Context, scratch
from ..measure import Row, paired, run_python, samples_of, value
from ..postgres_backend import backend_env, wait_stopped
from ..server import libpq_parameters

SCENARIO = "4 suite wall time"
MEMORY = "5 memory"
TABLES = 20


def sizes(context: Context) -> tuple[int, int]:
    """Classes, tests per class."""
    return (5, 4) if context.quick else (50, 20)


def label(context: Context) -> str:
    classes, tests = sizes(context)
    return f"{classes * tests} tests in {classes} classes, {TABLES} tables"


def suite_directory(name: str) -> Path:
    directory = scratch(name)
    workloads.write_schema(directory, TABLES)
    return directory


def run_ours(context: Context) -> list[Row]:
    directory = suite_directory("suite-ours")
    workloads.write_ours(directory, *sizes(context))
    postgres = backend_env()
    server = {"PGLITE_TESTCASE_DATABASE_URL": context.server_url} if context.server_url else None
    for env in ({}, PGLITE_18, postgres, *([server] if server else [])):  # warm: snapshots saved, templates built
        run_python(["-m", "bench.suite_runner"], directory, env)
    runs, pglite18_samples, postgres_samples, server_samples = [], [], [], []
    for _ in range(suite_repeat(context)):  # in alternation, so that the ratios pair runs made together
        runs.append(run_python(["-m", "bench.suite_runner"], directory))
        pglite18_samples.append(run_python(["-m", "bench.suite_runner"], directory, PGLITE_18)[0])
        wait_stopped(postgres)  # each run starts the server, as a run after a pause does
        postgres_samples.append(run_python(["-m", "bench.suite_runner"], directory, postgres)[0])
        if server:
            server_samples.append(run_python(["-m", "bench.suite_runner"], directory, server)[0])
    wait_stopped(postgres)
    ours = Row("suite.pglite", SCENARIO, f"pglite_testcase, {label(context)}", "s", [seconds for seconds, _ in runs])
    rows = [
        Row(
            "suite.postgres",
            SCENARIO,
            f"pglite_testcase, backend = 'postgres', {label(context)}",
            "s",
            postgres_samples,
            compare_to="suite.pglite",
        ),
        ours,
        Row(
            "suite.pglite18",
            SCENARIO,
            f"pglite_testcase on PGlite's PostgreSQL 18, {label(context)}",
            "s",
            pglite18_samples,
            compare_to="suite.pglite",
        ),
        Row(
            "memory.suite.peak",
            MEMORY,
            f"PGlite node process peak RSS during the {label(context)} suite",
            "MB",
            [value(out, "node_peak_rss_mb") for _, out in runs],
        ),
    ]
    if server:
        on_server = Row(
            "suite.server",
            SCENARIO,
            f"(d) pglite_testcase on PostgreSQL server, {label(context)}",
            "s",
            server_samples,
            compare_to="suite.pglite",
        )
        ratio = paired(
            "suite.ratio", SCENARIO, "suite: PGlite / PostgreSQL server, run by run", "x", ours, on_server, truediv
        )
        rows[0:0] = [on_server, ratio]
    shutil.rmtree(directory, ignore_errors=True)
    return rows


def suite_repeat(context: Context) -> int:
    return min(context.repeat, 3)


def run_alternatives(context: Context) -> list[Row]:
    """One run each: they take minutes. A run that hangs (py-pglite's can) is killed and noted."""
    classes, tests = sizes(context)
    timeout = context.size(900, 300)
    directory = suite_directory("suite-py-pglite")
    workloads.write_py_pglite(directory, classes, tests)
    samples, note = samples_of(
        lambda: run_python(["-m", "pytest", *PY_PGLITE_PYTEST], directory, timeout=timeout)[0], 1
    )
    rows = [alternative("suite.py_pglite", f"py-pglite pytest fixtures, {label(context)}", samples, note)]

    directory = suite_directory("suite-naive")
    workloads.write_naive(directory, classes, tests)
    samples, note = samples_of(lambda: run_python(["-m", "unittest", "-q"], directory, timeout=timeout)[0], 1)
    rows.append(alternative("suite.naive", f"naive PGliteManager per setUpClass, {label(context)}", samples, note))

    if context.server_url:
        rows.append(pytest_postgresql(context, context.server_url, timeout))
    return rows


def alternative(key: str, variant: str, samples: list[float], note: str = "") -> Row:
    return Row(key, SCENARIO, variant, "s", samples, note=note, compare_to="suite.pglite")


def pytest_postgresql(context: Context, server_url: str, timeout: float) -> Row:
    """pytest-postgresql's ``postgresql`` fixture on the same server: a database per test, from a template."""
    if importlib.util.find_spec("pytest_postgresql") is None:
        raise SystemExit("the pytest-postgresql row needs pytest-postgresql: pip install -e '.[bench]'")
    directory = suite_directory("suite-pytest-postgresql")
    dbname = f"pgtc_bench_pytest_postgresql_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    workloads.write_pytest_postgresql(directory, *sizes(context), libpq_parameters(server_url), dbname)
    args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:py_pglite", "-p", "bench.pytest_timing"]
    per_test: list[str] = []

    def run() -> float:
        seconds, out = run_python(args, directory, timeout=timeout)
        per_test.append(f"{statistics.mean(values_ms(out)):.1f} ms per test")
        return seconds

    samples, note = samples_of(run, 1)
    return alternative(
        "suite.pytest_postgresql",
        f"pytest-postgresql on PostgreSQL server (database per test from a template), {label(context)}",
        samples,
        "; ".join(per_test + [note] if note else per_test),
    )


def values_ms(out: str) -> list[float]:
    return [float(line.split()[2]) for line in out.splitlines() if line.startswith("class_ms ")]
