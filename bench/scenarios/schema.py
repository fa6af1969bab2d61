"""3 schema: class set-up with a many-revision Alembic chain vs. an empty class (warm cache)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from .. import workloads
from ..context import Context, scratch
from ..measure import Row, paired, run_python, value

SCENARIO = "3 schema: class set-up"


def run(context: Context) -> list[Row]:
    revisions = context.size(50, 10)
    migrated, empty = scratch("schema-alembic"), scratch("schema-empty")
    workloads.write_alembic_chain(migrated, revisions)
    # A new chain each run (its env.py differs), so the first start is a real cache miss.
    with open(migrated / "migrations" / "env.py", "a") as env:
        env.write(f"# bench run {uuid.uuid4()}\n")
    for directory in (migrated, empty):
        workloads.write_startup_probe(directory)

    def class_setup(mode: str, directory: Path) -> float:
        return value(run_python(["startup_probe.py", mode], directory)[1], "class_setup")

    cold = class_setup("alembic", migrated)
    class_setup("empty", empty)
    warm, bare = [], []
    for _ in range(context.repeat):
        warm.append(class_setup("alembic", migrated))
        bare.append(class_setup("empty", empty))
    for directory in (migrated, empty):
        shutil.rmtree(directory, ignore_errors=True)
    chain = f"{revisions}-revision Alembic chain"
    warm_row = Row("schema.alembic.warm", SCENARIO, f"{chain}, warm (from snapshot)", "s", warm)
    bare_row = Row("schema.empty.warm", SCENARIO, "empty class, warm", "s", bare)
    return [
        Row("schema.alembic.cold", SCENARIO, f"{chain}, first run (builds, snapshots)", "s", [cold]),
        warm_row,
        bare_row,
        paired(
            "schema.alembic.extra",
            SCENARIO,
            "Alembic chain minus empty class, warm",
            "s",
            warm_row,
            bare_row,
            lambda a, b: a - b,
        ),
    ]
