"""``python -m bench``: pglite_testcase against py-pglite's pytest fixtures and a naive unittest port.

Scenarios (each in fresh interpreters, on this machine, side by side in one run):

1. isolation  per-test isolation overhead for 1, 20 and 100 tables, as a multiple of a
              SELECT 1 round trip; py-pglite's own per-test cleanup on 20 tables
2. startup    process start to the first test's first query (warm cache)
3. schema     class set-up with a 50-revision Alembic chain vs. an empty class (warm)
4. suite      1,000 small tests in 50 classes on a 20-table schema
5. memory     peak RSS of the PGlite node process during the suite

Prints a table (median, min-max of repeated runs, ratio to pglite_testcase) and
writes it as JSON to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from . import workloads
from .measure import ROOT, Row, run_python, value

HERE = Path(__file__).resolve().parent


def scratch(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"pgtc-bench-{name}-"))


def isolation(rounds: int, tests: int, env: dict[str, str] | None = None, who: str = "pglite_testcase") -> list[Row]:
    rows = []
    for tables in (1, 20, 100):
        directory = scratch(f"isolation-{tables}")
        workloads.write_schema(directory, tables)
        out = run_python(["-m", "bench.isolation_probe", str(tables), str(tests), str(rounds)], directory, env)[1]
        select1 = value(out, "select1")
        truncate = value(out, "overhead_truncate")
        rows.append(
            Row(
                "1 isolation overhead per test",
                f"{who}, {tables} tables, isolation = 'truncate' (session body)",
                "x SELECT 1",
                [
                    float(r)
                    for r in next(line.split()[1:] for line in out.splitlines() if line.startswith("ratios_truncate "))
                ],
                note=f"{truncate:.3f} ms per test",
            )
        )
        for via in ("connection", "session"):
            overhead = value(out, f"overhead_{via}")
            ratios = next(line.split()[1:] for line in out.splitlines() if line.startswith(f"ratios_{via} "))
            rows.append(
                Row(
                    "1 isolation overhead per test",
                    f"{who}, {tables} tables, body via self.{via}",
                    "x SELECT 1",
                    [float(ratio) for ratio in ratios],
                    note=f"{overhead:.3f} ms; SELECT 1 = {select1:.3f} ms; {rounds} rounds of {tests} tests",
                )
            )
        shutil.rmtree(directory, ignore_errors=True)
    return rows


def py_pglite_cleanup(tests: int) -> tuple[Row, float]:
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
    out = run_python(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "bench.pytest_timing"], directory)[1]
    per_class = {line.split()[1]: float(line.split()[2]) for line in out.splitlines() if line.startswith("class_ms ")}
    shutil.rmtree(directory, ignore_errors=True)
    cleanup = per_class["TestPyPglite"] - per_class["TestPlain"]
    return (
        Row(
            "1 isolation overhead per test",
            "py-pglite pglite_session cleanup, 20 tables",
            "ms",
            [cleanup],
            note=f"pglite_session {per_class['TestPyPglite']:.3f} ms/test - plain session {per_class['TestPlain']:.3f}",
        ),
        cleanup,
    )


def startup(repeat: int) -> list[Row]:
    directory = scratch("startup")
    workloads.write_schema(directory, 20)
    shutil.copy(HERE / "startup_probe.py", directory)
    rows = []
    for mode in ("empty", "metadata"):
        run_python(["startup_probe.py", mode], directory)  # warm: snapshot saved, last schema remembered
        samples = [value(run_python(["startup_probe.py", mode], directory)[1], "first_query") for _ in range(repeat)]
        label = "empty database" if mode == "empty" else "20-table create_all schema"
        rows.append(Row("2 start-up to first query", f"pglite_testcase, {label}", "s", samples))
    # The same first query with py-pglite's fixtures, and with the naive port.
    (directory / "test_first.py").write_text(
        "import time\nfrom sqlalchemy import text\nfrom startup_probe import process_started_at\n\n"
        "def test_first(pglite_session):\n    pglite_session.execute(text('SELECT 1'))\n"
        "    print('\\nfirst_query', time.time() - process_started_at())\n"
    )
    samples = [
        value(
            run_python(["-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "test_first.py"], directory)[1],
            "first_query",
        )
        for _ in range(repeat)
    ]
    rows.append(Row("2 start-up to first query", "py-pglite pytest fixtures", "s", samples))
    shutil.rmtree(directory, ignore_errors=True)
    return rows


def schema(repeat: int, revisions: int) -> list[Row]:
    migrated, empty = scratch("schema-alembic"), scratch("schema-empty")
    workloads.write_alembic_chain(migrated, revisions)
    # A new chain each run (its env.py differs), so the first start is a real cache miss.
    with open(migrated / "migrations" / "env.py", "a") as env:
        env.write(f"# bench run {uuid.uuid4()}\n")
    for directory in (migrated, empty):
        shutil.copy(HERE / "startup_probe.py", directory)
    cold = value(run_python(["startup_probe.py", "alembic"], migrated)[1], "class_setup")
    run_python(["startup_probe.py", "empty"], empty)
    warm = [value(run_python(["startup_probe.py", "alembic"], migrated)[1], "class_setup") for _ in range(repeat)]
    bare = [value(run_python(["startup_probe.py", "empty"], empty)[1], "class_setup") for _ in range(repeat)]
    extra = [w - b for w, b in zip(warm, bare)]
    for directory in (migrated, empty):
        shutil.rmtree(directory, ignore_errors=True)
    return [
        Row(
            "3 schema: class set-up", f"{revisions}-revision Alembic chain, first run (builds, snapshots)", "s", [cold]
        ),
        Row("3 schema: class set-up", f"{revisions}-revision Alembic chain, warm (from snapshot)", "s", warm),
        Row("3 schema: class set-up", "empty class, warm", "s", bare),
        Row("3 schema: class set-up", "Alembic chain minus empty class, warm", "s", extra),
    ]


def suite(repeat: int, slow_repeat: int, classes: int, tests: int) -> list[Row]:
    rows = []
    ours, pypglite, naive = scratch("suite-ours"), scratch("suite-py-pglite"), scratch("suite-naive")
    for directory in (ours, pypglite, naive):
        workloads.write_schema(directory, 20)
    workloads.write_ours(ours, classes, tests)
    workloads.write_py_pglite(pypglite, classes, tests)
    workloads.write_naive(naive, classes, tests)
    total = classes * tests
    label = f"{total} tests in {classes} classes, 20 tables"

    run_python(["-m", "bench.suite_runner"], ours)  # warm: snapshot of this schema saved
    ours_runs = [run_python(["-m", "bench.suite_runner"], ours) for _ in range(repeat)]
    rows.append(Row("4 suite wall time", f"pglite_testcase, {label}", "s", [seconds for seconds, _ in ours_runs]))
    rows.append(
        Row(
            "4 suite wall time",
            f"py-pglite pytest fixtures, {label}",
            "s",
            [run_python(["-m", "pytest", "-q", "-p", "no:cacheprovider"], pypglite)[0] for _ in range(slow_repeat)],
        )
    )
    rows.append(
        Row(
            "4 suite wall time",
            f"naive PGliteManager per setUpClass, {label}",
            "s",
            [run_python(["-m", "unittest", "-q"], naive)[0] for _ in range(slow_repeat)],
        )
    )
    memory = [value(out, "node_peak_rss_mb") for _, out in ours_runs]
    rows.append(Row("5 memory", "PGlite node process peak RSS during the suite", "MB", memory))
    for directory in (ours, pypglite, naive):
        shutil.rmtree(directory, ignore_errors=True)
    return rows


def server_suite(server_url: str, repeat: int, classes: int, tests: int) -> list[Row]:
    directory = scratch("suite-server")
    workloads.write_schema(directory, 20)
    workloads.write_ours(directory, classes, tests)
    env = {"PGLITE_TESTCASE_DATABASE_URL": server_url}
    run_python(["-m", "unittest", "-q"], directory, env)  # warm: the template is built
    samples = [run_python(["-m", "unittest", "-q"], directory, env)[0] for _ in range(repeat)]
    shutil.rmtree(directory, ignore_errors=True)
    label = f"{classes * tests} tests in {classes} classes, 20 tables"
    return [Row("4 suite wall time", f"(d) pglite_testcase on PostgreSQL server, {label}", "s", samples)]


def ratio_to_ours(rows: list[Row]) -> dict[int, str]:
    """For each row, its median relative to pglite_testcase's row of the same scenario."""
    ratios: dict[int, str] = {}
    for scenario in {row.scenario for row in rows}:
        same = [row for row in rows if row.scenario == scenario]
        ours = next((row for row in same if row.variant.startswith("pglite_testcase,")), None)
        if ours is None or ours.unit != "s":
            continue
        for row in same:
            if row is not ours:
                ratios[id(row)] = f"{row.median / ours.median:.1f}x ours"
    return ratios


def render(rows: list[Row], extra: dict[int, str]) -> str:
    lines = [
        "| scenario | variant | median | min-max | runs | vs pglite_testcase |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        low, high = row.spread
        digits = 3 if row.unit in ("s", "ms") else 2
        lines.append(
            f"| {row.scenario} | {row.variant} | {row.median:.{digits}f} {row.unit} | "
            f"{low:.{digits}f}-{high:.{digits}f} | {len(row.samples)} | {extra.get(id(row), '')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measured variant (default 5)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer runs, for a smoke test")
    parser.add_argument("--only", nargs="*", choices=["isolation", "startup", "schema", "suite"])
    args = parser.parse_args(argv)
    args.argv = argv if argv is not None else sys.argv[1:]
    started = time.time()
    # py-pglite leaves a work dir (~20 MB, npm install) and a socket dir behind at every start,
    # in its fixtures and in the naive port alike: remove what this run made.
    py_pglite_before = set(Path(tempfile.gettempdir()).glob("py-pglite-*"))
    try:
        return run_scenarios(args, started)
    finally:
        for leftover in set(Path(tempfile.gettempdir()).glob("py-pglite-*")) - py_pglite_before:
            shutil.rmtree(leftover, ignore_errors=True)


def run_scenarios(args: argparse.Namespace, started: float) -> int:
    repeat = 2 if args.quick else args.repeat
    only = set(args.only or ["isolation", "startup", "schema", "suite"])
    rows: list[Row] = []
    extra: dict[int, str] = {}
    if "isolation" in only:
        rows += isolation(rounds=repeat, tests=100 if args.quick else 300)
        cleanup_row, cleanup = py_pglite_cleanup(tests=50 if args.quick else 200)
        ours_20 = next(r for r in rows if "20 tables, body via self.session" in r.variant)
        overhead_ms = float(ours_20.note.split(" ms")[0])
        extra[id(cleanup_row)] = f"{cleanup / overhead_ms:.0f}x ours (session body)"
        rows.append(cleanup_row)
    # (d) uses the server; every other variant must run on PGlite, so the children don't inherit it.
    server_url = os.environ.pop("PGLITE_TESTCASE_DATABASE_URL", None)
    if server_url and "isolation" in only:
        # (d): the same isolation scenario on the real server; everything else stays on PGlite.
        rows += isolation(
            rounds=repeat,
            tests=100 if args.quick else 300,
            env={"PGLITE_TESTCASE_DATABASE_URL": server_url},
            who="pglite_testcase on PostgreSQL server",
        )
    if "startup" in only:
        rows += startup(repeat)
    if "schema" in only:
        rows += schema(repeat, revisions=10 if args.quick else 50)
    if server_url and "suite" in only:
        rows += server_suite(
            server_url, repeat=min(repeat, 3), classes=5 if args.quick else 50, tests=4 if args.quick else 20
        )
    if "suite" in only:
        rows += suite(
            repeat=min(repeat, 3),
            slow_repeat=1,
            classes=5 if args.quick else 50,
            tests=4 if args.quick else 20,
        )
    extra.update(ratio_to_ours(rows))
    table = render(rows, extra)
    print(table)
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    report = {
        "date": time.strftime("%Y-%m-%d", time.gmtime(started)),
        "command": "python -m bench " + " ".join(args.argv),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "seconds": round(time.time() - started, 1),
        "rows": [dict(row.as_dict(), vs=extra.get(id(row), "")) for row in rows],
    }
    (results / "latest.json").write_text(json.dumps(report, indent=2))
    print(f"\nwritten to {results / 'latest.json'} in {report['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
