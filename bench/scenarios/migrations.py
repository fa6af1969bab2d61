"""7 migration checks: AlembicMigrationsTestCase's whole class on PGlite and on the real server."""

from __future__ import annotations

import shutil

from ..context import Context, scratch
from ..measure import Row, paired, run_python, values

SCENARIO = "7 migration checks"


def run(context: Context) -> list[Row]:
    revisions = context.size(50, 10)
    projects = {"chain": f"{revisions}-revision chain", "inventory": "examples/inventory (3 revisions)"}
    rounds = context.repeat
    backends: dict[str, tuple[str, dict[str, str]]] = {"pglite": ("PGlite", {})}
    if context.server_url:
        backends["server"] = ("PostgreSQL server", {"PGLITE_TESTCASE_DATABASE_URL": context.server_url})
    directory = scratch("migrations")
    rows = []
    for project, project_label in projects.items():
        measured = {}
        for backend, (backend_label, env) in backends.items():
            args = [
                "-m",
                "bench.migration_checks",
                "--project",
                project,
                "--rounds",
                str(rounds),
                "--revisions",
                str(revisions),
            ]
            out = run_python(args, directory, env)[1]
            measured[backend] = Row(
                f"migrations.{project}.{backend}",
                SCENARIO,
                f"{project_label}, every check, {backend_label}",
                "s",
                values(out, f"class_seconds {project}"),
                note=f"whole class, each check on a fresh database; {rounds} rounds in one process",
            )
            rows.append(measured[backend])
        if "server" in measured:
            rows.append(
                paired(
                    f"migrations.{project}.ratio",
                    SCENARIO,
                    f"{project_label}: PGlite / server",
                    "x",
                    measured["pglite"],
                    measured["server"],
                    lambda a, b: a / b,
                    "round by round",
                )
            )
    shutil.rmtree(directory, ignore_errors=True)
    return rows
