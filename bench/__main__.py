"""``python -m bench``: pglite_testcase against itself on a real server, and against the alternatives.

Scenarios, each run in fresh interpreters, side by side in one run (``--only`` picks some):

  isolation     1  per-test isolation overhead, 1, 20 and 100 tables, rolled-back transaction and
                   isolation = 'truncate', as multiples of a SELECT 1 round trip; py-pglite's cleanup
  startup       2  a one-test process (warm cache) on PGlite, on the server and with the warm spare:
                   its wall time, the first query after the class; the imports; the postgres backend;
                   py-pglite's fixtures
  schema        3  class set-up with a 50-revision Alembic chain vs. an empty class (warm cache)
  suite         4  1,000 small tests in 50 classes, 20 tables, on PGlite, the postgres backend and the
                   server; 5 node's peak RSS
  alternatives  4  the same suite under py-pglite's fixtures, a naive unittest port, pytest-postgresql
  scale         6  10,000 tests in 200 classes, 200 tables: per-test time, one and two processes;
                5  node's memory during it
  migrations    7  AlembicMigrationsTestCase's checks on PGlite and on the server
  first-run     8  an empty package cache (npm ci included) to the first green test
  pytest-plugin 9  a one-test pytest run with py-pglite's pytest plugin loaded and with -p no:py_pglite
  bulk         10  executemany and COPY of 100,000 rows, plain psycopg: PGlite 17 and 18, the server
  backend      11  the postgres backend's server: initdb, one shared server or one per process, its
                   memory, how long it outlives a test process killed with SIGKILL

Rows on a real PostgreSQL server run when PGLITE_TESTCASE_DATABASE_URL names one; every other row
runs on PGlite. Prints the table and writes it, with the machine and the targets, as JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import machine, report, targets
from .context import Context, remove_scratch
from .measure import ROOT, Row
from .scenarios import SCENARIOS


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(__doc__ or "").split("\n\n", 1)[1],
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs per measured variant (default 5)")
    parser.add_argument("--quick", action="store_true", help="everything, in smaller sizes and 2 runs each")
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"comma-separated scenarios to run (default: all): {','.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--output", type=Path, default=ROOT / "bench" / "results" / "latest.json", help="where the JSON goes"
    )
    args = parser.parse_args(argv)
    args.scenarios = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"--only: unknown scenario {', '.join(map(repr, unknown))}; choose from {', '.join(SCENARIOS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    # A SIGTERM unwinds like Ctrl-C: the running child's process tree is killed, scratch removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # py-pglite leaves a work dir (~20 MB, npm install) and a socket dir behind at every start,
    # in its fixtures and in the naive port alike: remove what this run made.
    py_pglite_before = set(Path(tempfile.gettempdir()).glob("py-pglite-*"))
    try:
        report_data = measure(args, argv)
    finally:
        remove_scratch()
        for leftover in set(Path(tempfile.gettempdir()).glob("py-pglite-*")) - py_pglite_before:
            shutil.rmtree(leftover, ignore_errors=True)
    print(report.table(report_data["rows"]))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report_data, indent=2) + "\n")
    print(f"\nwritten to {args.output} in {report_data['seconds']} s")
    return 0


def measure(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    started = time.time()
    # The server rows get the server explicitly; every other child must run on PGlite.
    server_url = os.environ.pop("PGLITE_TESTCASE_DATABASE_URL", None)
    context = Context(quick=args.quick, repeat=2 if args.quick else args.repeat, server_url=server_url)
    facts = machine.describe(server_url)
    missing = missing_packages(args.scenarios)
    if missing:  # said now, not after the scenarios before the one that needs it have run
        raise SystemExit(f"the scenarios chosen need {', '.join(missing)}: pip install -e '.[bench]'")
    rows: list[Row] = []
    durations: dict[str, float] = {}
    for name in args.scenarios:
        print(f"[{time.time() - started:6.0f} s] {name} ...", file=sys.stderr, flush=True)
        scenario_started = time.time()
        rows += SCENARIOS[name](context)
        durations[name] = round(time.time() - scenario_started, 1)
    print(f"[{time.time() - started:6.0f} s] done", file=sys.stderr, flush=True)
    rows.sort(key=lambda row: int(row.scenario.split()[0]))
    targets.attach(rows)
    compare(rows)
    facts.update(context.facts, load_average_end=os.getloadavg()[0])
    return {
        "date": time.strftime("%Y-%m-%d", time.gmtime(started)),
        "command": " ".join(["python -m bench", *argv]),
        "server": server_url is not None,
        "quick": args.quick,
        "scenarios": args.scenarios,
        "machine": facts,
        "seconds": round(time.time() - started, 1),
        "scenario_seconds": durations,
        "rows": [row.as_dict() for row in rows],
    }


# What the bench extra installs, the module to import, and the scenario that runs it.
NEEDS: tuple[tuple[str, str, str], ...] = (
    ("pytest", "pytest", "startup"),
    ("pytest", "pytest", "alternatives"),
    ("pytest", "pytest", "pytest-plugin"),
    ("pytest_postgresql", "pytest-postgresql", "alternatives"),
    ("unittest_parallel", "unittest-parallel", "scale"),
)


def missing_packages(scenarios: list[str]) -> list[str]:
    """The packages of the bench extra that these scenarios need and this environment lacks."""
    return sorted({package for module, package, scenario in NEEDS if scenario in scenarios and not importable(module)})


def importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def compare(rows: list[Row]) -> None:
    """Fill the "vs" column: each row's median relative to the row it names."""
    by_key = {row.key: row for row in rows}
    for row in rows:
        other = by_key.get(row.compare_to)
        if other is not None and not row.vs and row.samples and other.samples:
            row.vs = f"{row.median / other.median:.1f}x ours"


if __name__ == "__main__":
    sys.exit(main())
