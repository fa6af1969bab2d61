"""The benchmark's scenarios, each a function of the run's context returning its rows, in table order."""

from __future__ import annotations

from collections.abc import Callable

from ..context import Context
from ..measure import Row
from . import bulk, first_run, isolation, migrations, pytest_plugin, scale, schema, startup, suites

SCENARIOS: dict[str, Callable[[Context], list[Row]]] = {
    "isolation": isolation.run,
    "startup": startup.run,
    "schema": schema.run,
    "suite": suites.run_ours,
    "alternatives": suites.run_alternatives,
    "scale": scale.run,
    "migrations": migrations.run,
    "first-run": first_run.run,
    "pytest-plugin": pytest_plugin.run,
    "bulk": bulk.run,
}
