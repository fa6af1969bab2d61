"""8 first run: from an empty package cache (npm install included) to the first green test."""

from __future__ import annotations

import shutil

from .. import workloads
from ..context import Context, scratch
from ..measure import Row, run_python, value

SCENARIO = "8 first run"


def run(context: Context) -> list[Row]:
    directory = scratch("first-run")
    workloads.write_schema(directory, 20)
    workloads.write_startup_probe(directory)
    first_query, walls = [], []
    for _ in range(context.size(3, 1)):
        cache = scratch("first-run-cache")
        try:
            seconds, out = run_python(
                ["startup_probe.py", "metadata"], directory, {"PGLITE_TESTCASE_CACHE_DIR": str(cache)}
            )
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        first_query.append(value(out, "first_query"))
        walls.append(seconds)
    shutil.rmtree(directory, ignore_errors=True)
    return [
        Row(
            "first_run.first_query",
            SCENARIO,
            "empty cache to the first test's first query (npm ci from the registry included), 20-table schema",
            "s",
            first_query,
            note=f"whole process {min(walls):.1f}-{max(walls):.1f} s",
        )
    ]
