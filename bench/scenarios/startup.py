"""2 start-up: what a user waits for in a one-test process (warm cache), on PGlite and on the server.

Each round runs, one after the other: an interpreter that only imports SQLAlchemy's ORM and the
package; one test on an empty database; one test on the 20-table schema (its whole process timed,
interpreter start and exit included), and the same on PGlite's PostgreSQL 18; and, with a server,
the same one-test process on it through this package; then the PGlite one with
``PGLITE_TESTCASE_KEEP_WARM=1``, which takes the spare the keeper started after the previous
round's (the keeper's own, in a temporary directory of this scenario, stopped at its end); and each
one-test process with ``backend = "postgres"``, no server running (the process starts the
backend's server). The ratios pair the processes of each round.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from pglite_testcase.runtime import keeper

from .. import workloads
from ..context import PGLITE_18, PY_PGLITE_PYTEST, Context, scratch
from ..measure import Row, paired, run_python, samples_of, text_value, value
from ..postgres_backend import backend_env, wait_stopped

SCENARIO = "2 start-up to first query"
LABELS = {"empty": "empty database", "metadata": "20-table create_all schema"}
POSTGRES = tuple(f"postgres.{mode}" for mode in LABELS)
ONE_TEST = "one-test process (20-table create_all, warm cache), interpreter start to exit"


def run(context: Context) -> list[Row]:
    directory = scratch("startup")
    workloads.write_schema(directory, 20)
    workloads.write_startup_probe(directory)
    server = {"PGLITE_TESTCASE_DATABASE_URL": context.server_url} if context.server_url else None
    postgres = backend_env()
    for mode in LABELS:  # warm: snapshot saved, last schema remembered; the backend's cluster and template made
        out = run_python(["startup_probe.py", mode], directory)[1]
        postgres_out = run_python(["startup_probe.py", mode], directory, postgres)[1]
        wait_stopped(postgres)
    run_python(["startup_probe.py", "metadata"], directory, PGLITE_18)  # warm: PostgreSQL 18's snapshot
    context.facts["pglite_postgresql"] = text_value(out, "server_version")
    context.facts["postgres_backend_postgresql"] = text_value(postgres_out, "server_version")
    if server:
        run_python(["startup_probe.py", "metadata"], directory, server)
    warm_tmp = scratch("startup-keeper")
    warm = {"PGLITE_TESTCASE_KEEP_WARM": "1", "TMPDIR": str(warm_tmp)}
    try:
        return measure(context, directory, server, warm, postgres)
    finally:
        keeper.stop_keeper(warm_tmp / keeper.keeper_dir().name)
        shutil.rmtree(directory, ignore_errors=True)


def wait_for_spare(tmp: Path) -> None:
    """Until the keeper under ``tmp`` has a spare listening (its socket exists once it is up); at most a minute."""
    deadline = time.monotonic() + 60  # (it starts one once the last run that asked has ended)
    while not any(tmp.glob("pglite-testcase-*/.s.PGSQL.5432")) and time.monotonic() < deadline:
        time.sleep(0.05)


def measure(
    context: Context, directory: Path, server: dict[str, str] | None, warm: dict[str, str], postgres: dict[str, str]
) -> list[Row]:
    run_python(["startup_probe.py", "metadata"], directory, warm)  # starts the keeper
    keys = ("imports", "package_import", "empty", "metadata", "after_class", "process", "server", "server_class")
    samples: dict[str, list[float]] = {key: [] for key in (*keys, "warm", "warm_class", "process18", *POSTGRES)}
    for _ in range(context.repeat):  # in alternation, so that the differences pair runs made together
        wait_for_spare(Path(warm["TMPDIR"]))
        wall, out = run_python(["startup_probe.py", "metadata"], directory, warm)
        samples["warm"].append(wall)
        samples["warm_class"].append(value(out, "after_class"))
        wait_for_spare(Path(warm["TMPDIR"]))  # the next one: its start must not slow the runs below
        out = run_python(["startup_probe.py", "imports"], directory)[1]
        samples["imports"].append(value(out, "imports_done"))
        samples["package_import"].append(value(out, "package_import"))
        samples["empty"].append(value(run_python(["startup_probe.py", "empty"], directory)[1], "first_query"))
        wall, out = run_python(["startup_probe.py", "metadata"], directory)
        samples["metadata"].append(value(out, "first_query"))
        samples["after_class"].append(value(out, "after_class"))
        samples["process"].append(wall)
        samples["process18"].append(run_python(["startup_probe.py", "metadata"], directory, PGLITE_18)[0])
        if server:
            wall, out = run_python(["startup_probe.py", "metadata"], directory, server)
            samples["server"].append(wall)
            samples["server_class"].append(value(out, "after_class"))
        for mode in LABELS:  # no server running: this process starts the backend's server
            out = run_python(["startup_probe.py", mode], directory, postgres)[1]
            samples[f"postgres.{mode}"].append(value(out, "first_query"))
            wait_stopped(postgres)
    rows = [
        Row(
            "startup.imports",
            SCENARIO,
            "imports only: sqlalchemy.orm and pglite_testcase, no test class (no PGlite)",
            "s",
            samples["imports"],
        ),
        Row(
            "startup.imports.package",
            SCENARIO,
            "`from pglite_testcase import PGliteTestCase` after `import sqlalchemy.orm`",
            "s",
            samples["package_import"],
        ),
    ]
    rows += [
        Row(f"startup.{mode}", SCENARIO, f"pglite_testcase, {label}: process start to first query", "s", samples[mode])
        for mode, label in LABELS.items()
    ]
    rows.append(
        Row(
            "startup.after_class",
            SCENARIO,
            "pglite_testcase, 20-table schema: test class defined to its first query",
            "s",
            samples["after_class"],
        )
    )
    process = Row("startup.process", SCENARIO, f"PGlite: {ONE_TEST}", "s", samples["process"])
    rows.append(process)
    process18 = Row(
        "startup.process.pglite18",
        SCENARIO,
        f"PGlite's PostgreSQL 18: {ONE_TEST}",
        "s",
        samples["process18"],
        compare_to="startup.process",
    )
    rows.append(process18)
    rows.append(
        Row(
            "startup.after_class.keep_warm",
            SCENARIO,
            "PGlite with PGLITE_TESTCASE_KEEP_WARM=1 (the keeper's spare), 20-table schema: test class defined "
            "to its first query",
            "s",
            samples["warm_class"],
        )
    )
    warm_process = Row(
        "startup.process.keep_warm",
        SCENARIO,
        f"PGlite with PGLITE_TESTCASE_KEEP_WARM=1 (the keeper's spare): {ONE_TEST}",
        "s",
        samples["warm"],
    )
    rows.append(warm_process)
    if server:
        rows.append(
            Row(
                "startup.after_class.server",
                SCENARIO,
                "PostgreSQL server, 20-table schema: test class defined to its first query",
                "s",
                samples["server_class"],
            )
        )
        on_server = Row("startup.process.server", SCENARIO, f"PostgreSQL server: {ONE_TEST}", "s", samples["server"])
        rows.append(on_server)
        rows.append(
            paired(
                "startup.process.ratio",
                SCENARIO,
                "one-test process: PGlite / PostgreSQL server",
                "x",
                process,
                on_server,
                lambda a, b: a / b,
            )
        )
        rows.append(
            paired(
                "startup.process.pglite18.ratio",
                SCENARIO,
                "one-test process: PGlite's PostgreSQL 18 / PostgreSQL server",
                "x",
                process18,
                on_server,
                lambda a, b: a / b,
            )
        )
        rows.append(
            paired(
                "startup.process.keep_warm.ratio",
                SCENARIO,
                "one-test process: PGlite with PGLITE_TESTCASE_KEEP_WARM=1 / PostgreSQL server",
                "x",
                warm_process,
                on_server,
                lambda a, b: a / b,
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
