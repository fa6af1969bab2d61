"""2 start-up: process start to the first test's first query (warm cache), and the imports alone."""

from __future__ import annotations

import shutil
from pathlib import Path

from .. import workloads
from ..context import PY_PGLITE_PYTEST, Context, scratch
from ..measure import Row, paired, run_python, samples_of, text_value, value
from ..postgres_backend import backend_env, wait_stopped

SCENARIO = "2 start-up to first query"
LABELS = {"empty": "empty database", "metadata": "20-table create_all schema"}


def run(context: Context) -> list[Row]:
    directory = scratch("startup")
    workloads.write_schema(directory, 20)
    workloads.write_startup_probe(directory)
    postgres = backend_env()
    for mode in LABELS:  # warm: snapshot saved, last schema remembered; the server's cluster and template made
        out = run_python(["startup_probe.py", mode], directory)[1]
        postgres_out = run_python(["startup_probe.py", mode], directory, postgres)[1]
        wait_stopped(postgres)
    context.facts["pglite_postgresql"] = text_value(out, "server_version")
    context.facts["postgres_backend_postgresql"] = text_value(postgres_out, "server_version")
    samples: dict[str, list[float]] = {
        "imports": [],
        "empty": [],
        "metadata": [],
        "postgres.empty": [],
        "postgres.metadata": [],
    }
    for _ in range(context.repeat):  # in alternation, so that the differences pair runs made together
        samples["imports"].append(value(run_python(["startup_probe.py", "imports"], directory)[1], "imports_done"))
        for mode in LABELS:
            samples[mode].append(value(run_python(["startup_probe.py", mode], directory)[1], "first_query"))
            # No server running: this process starts the backend's server (its cluster and template exist).
            out = run_python(["startup_probe.py", mode], directory, postgres)[1]
            samples[f"postgres.{mode}"].append(value(out, "first_query"))
            wait_stopped(postgres)
    imports = Row(
        "startup.imports",
        SCENARIO,
        "imports only: sqlalchemy and pglite_testcase, no test class (no PGlite)",
        "s",
        samples["imports"],
    )
    rows = [imports]
    for mode, label in LABELS.items():
        whole = Row(f"startup.{mode}", SCENARIO, f"pglite_testcase, {label}", "s", samples[mode])
        rows.append(whole)
        rows.append(
            paired(
                f"startup.{mode}.minus_imports",
                SCENARIO,
                f"pglite_testcase, {label}, minus imports only",
                "s",
                whole,
                imports,
                lambda a, b: a - b,
            )
        )
    for mode, label in LABELS.items():
        rows.append(
            Row(
                f"startup.postgres.{mode}",
                SCENARIO,
                f"backend = 'postgres', {label} (no server running: this process starts it)",
                "s",
                samples[f"postgres.{mode}"],
                compare_to=f"startup.{mode}",
            )
        )
    rows.append(py_pglite(context, directory))
    shutil.rmtree(directory, ignore_errors=True)
    return rows


def py_pglite(context: Context, directory: Path) -> Row:
    """The same first query with py-pglite's fixtures."""
    (directory / "test_first.py").write_text(
        "import time\nfrom sqlalchemy import text\nfrom bench.process_clock import process_started_at\n\n"
        "def test_first(pglite_session):\n    pglite_session.execute(text('SELECT 1'))\n"
        "    print('\\nfirst_query', time.time() - process_started_at())\n"
    )
    args = ["-m", "pytest", *PY_PGLITE_PYTEST, "-s", "test_first.py"]
    samples, note = samples_of(
        lambda: value(run_python(args, directory, timeout=120)[1], "first_query"), context.repeat
    )
    return Row("startup.py_pglite", SCENARIO, "py-pglite pytest fixtures", "s", samples, note, "startup.empty")
