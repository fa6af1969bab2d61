"""``python -m bench.readme RESULTS.json``: rewrite docs/performance.md's benchmark figures from a results file.

Two parts of docs/performance.md are generated, each between its marker comments: the benchmark
section (machine, command, targets met or missed, what the rows mean, the table) and the migration
checks' "What it costs" paragraph. Every figure there comes from the JSON; ``--check`` exits 1 when
the page differs from what the JSON gives (nothing is written then). (The module keeps its name
from when these sections lived in README.md.)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from .measure import ROOT
from .report import figure, met, table
from .targets import TARGETS

PERFORMANCE = "performance"
MIGRATION_COST = "migration-cost"

SCENARIO_MEANINGS = {
    "1": "**Isolation overhead per test**: a test whose body runs one INSERT (through `self.connection`, or "
    "through `self.session`), minus the same body on an autocommit connection nobody isolates, on the same "
    "database in the same run, divided by a `SELECT 1` round trip measured in that run: a ratio, not a time. "
    'The truncate rows are `isolation = "truncate"` with the session body. The py-pglite row is its '
    "`pglite_session` fixture's cleanup (per-test time minus a plain session's, under pytest) in milliseconds, "
    "with its ratio to our session-body overhead.",
    "2": "**Start-up**, warm cache: the one-test process rows are what a user waits for, the wall time of a "
    "whole `python` process running one test on the 20-table schema, from the interpreter's start to its exit, "
    "on PGlite (PostgreSQL 17, and 18) and on the server through this package (which creates the process's "
    "database from a template and drops it at exit), and on PGlite with `PGLITE_TESTCASE_KEEP_WARM=1` "
    "(taking the spare the keeper started after the previous such run), in alternation; the ratios pair them "
    "run by run. The other rows time parts of the same kind of process: from its start (read from `/proc`, to "
    "the clock tick) to the first test's first query; from the test class's definition to that query; "
    "importing SQLAlchemy's ORM and the package without defining a class (so without PGlite), and the "
    "package's import alone on top of SQLAlchemy's ORM. The `backend = 'postgres'` rows are the same first "
    "query with no server running (the process starts the backend's server). py-pglite's row is the same first "
    "query through its pytest fixtures.",
    "3": "**Schema**: `setUpClass` of a class migrated by an Alembic chain vs. an empty class, each the first class "
    "of a fresh process, warm cache (the first row is the first run ever, which builds and saves the snapshot).",
    "4": "**Suite**: wall time of a process running small tests (INSERT, commit, count) in classes on a schema of "
    "the size the row names, on PGlite's PostgreSQL 17 and 18, the postgres backend and (d) the real server, in "
    "alternation (the ratio pairs PGlite's runs with the server's); the pytest-postgresql row runs the same "
    "tests as pytest tests on its `postgresql` fixture (a database per test, created from a template that holds "
    'the schema) on the same server. "vs" is the ratio to pglite_testcase on PGlite.',
    "5": "**Memory**: the PGlite node process's peak RSS (`VmHWM`) during the suite of scenario 4 and during the "
    "large suite of scenario 6; for the latter also its RSS after the first tenth of the classes and after all of "
    "them, and the ratio of the two.",
    "6": "**Scale**: per-test time is the suite's run from its first test on (later classes' set-ups included; "
    "interpreter start, imports, discovery and the first class's set-up, which waits for PGlite, not) divided "
    "by its tests, for the suite of scenario 4 and the larger suite on the wider schema "
    "that the rows name, measured in alternation. The large suite then runs split over two processes: its two "
    "halves started together, and unittest-parallel at class level; speed-up is one process's wall time "
    "divided by the split run's, run by run.",
    "7": "**Migration checks**: `AlembicMigrationsTestCase` with every check, the whole class, each check on a "
    "fresh database of its own, several rounds in one process per backend; the ratio pairs the rounds.",
    "8": "**First run**: an empty `PGLITE_TESTCASE_CACHE_DIR`, so that `npm ci` fetches PGlite's packages from "
    "the registry, then the process start to the first test's first query.",
    "9": "**py-pglite's pytest plugin**: a one-test pytest process (a `PGliteTestCase`, 20-table `create_all`, "
    "warm cache) with py-pglite's plugin loaded, as pytest loads it in every run where py-pglite is installed, "
    "and with `-p no:py_pglite`, in alternation; the whole process's wall time, and the difference run by run.",
    "10": "**Bulk loading**: 100,000 rows of (text, integer) into one table through plain psycopg 3, on the "
    "database a test class gets: `executemany` of an INSERT and `COPY ... FROM STDIN`, each committed, on "
    "PGlite's PostgreSQL 17 and 18 and on the server, in alternation; the ratios pair the runs.",
    "11": "**The postgres backend's server**: its rows in scenarios 2 and 4 are `backend = 'postgres'` with no "
    "server running when the process starts (it starts the shared server on the existing cluster; the schema's "
    "template exists). Here: an empty cache to the first query (`initdb` included); a process's "
    "start to its first query while another process holds the shared server, and the same with a server of the "
    "process's own (the stopped cluster copied, a `postgres` started on the copy: the design not taken); each "
    "server's PSS with one connection; and the time from SIGKILL of the only process holding the server to the "
    "end of the server's last process.",
}


def machine_sentence(data: dict[str, Any]) -> str:
    facts = data.get("machine", {})
    machine = [f"{facts['cpus']} CPUs" if facts.get("cpus") else ""]
    machine += [f"({facts['cpu_model']})" if facts.get("cpu_model") else ""]
    machine += [f"{facts['memory_gb']} GB of memory" if facts.get("memory_gb") else ""]
    machine += [facts.get("platform", "")]
    software = [f"Python {facts['python']}" if facts.get("python") else ""]
    software += [f"Node.js {facts['node']}" if facts.get("node") else ""]
    software += [f"PGlite's PostgreSQL {facts['pglite_postgresql']}" if facts.get("pglite_postgresql") else ""]
    if facts.get("postgresql_server"):
        software.append(f"a local PostgreSQL {facts['postgresql_server']} server on a Unix socket")
    sentence = (
        f"Measured by the project's benchmark on {data['date']} (UTC), all rows side by side in one run of "
        f"{data.get('seconds', 0) / 60:.0f} minutes, on this project's machine kind: "
        + ", ".join(part for part in machine if part).replace(", (", " (")
        + "; "
        + ", ".join(part for part in software if part)
    )
    if facts.get("load_average_start") is not None:
        sentence += (
            f". Load average {facts['load_average_start']:.2f} at the start, "
            f"{facts.get('load_average_end', float('nan')):.2f} at the end"
        )
    if facts.get("packages"):
        sentence += ". Packages: " + ", ".join(f"{name} {version}" for name, version in facts["packages"].items())
    if "cpu_model" not in facts:
        sentence += " (this results file records nothing more about the machine)"
    return sentence + "."


def command_block(data: dict[str, Any], results: str) -> str:
    server = "PGLITE_TESTCASE_DATABASE_URL=postgresql+psycopg://postgres@/postgres?host=/tmp/pgdev "
    return "\n".join(
        [
            "```bash",
            'python -m pip install -e ".[bench]"',
            (server if data.get("server", True) else "") + data["command"].strip(),
            f"python -m bench.readme {results}      # writes this section from the results",
            "```",
        ]
    )


def targets_table(rows: list[dict[str, Any]]) -> str:
    by_key = {row.get("key"): row for row in rows}
    lines = ["| target | row | median | limit | |", "|---|---|---|---|---|"]
    for key, target in TARGETS.items():
        row = by_key.get(key)
        if row is None:
            lines.append(f"| {target.goal} | not in this results file | | | |")
            continue
        goal = (row.get("target") or {}).get("goal", target.goal)
        limit = (row.get("target") or {}).get("limit", target.limit)
        verdict = {True: "met", False: "**missed**", None: "reported"}[met({**row, "target": {"limit": limit}})]
        if row.get("median") is None:
            verdict = "not measured (its runs failed)"
        unit = row["unit"]
        bound = "" if limit is None else f"<= {limit:g} {unit}"
        lines.append(f"| {goal} | {row['variant']} | {figure(row['median'], unit)} {unit} | {bound} | {verdict} |")
    return "\n".join(lines)


def _scenario_number(row: dict[str, Any]) -> int:
    return int(row["scenario"].split()[0])


def _ratio(left: float, right: float) -> str:
    return f"{left / right:.1f} x"


def conclusions(rows: list[dict[str, Any]]) -> list[str]:
    """What a user should take from the run, one sentence per question, its figures from the rows (a
    sentence whose rows are missing is left out)."""
    m = {row["key"]: row["median"] for row in rows if row.get("median") is not None}

    def has(*keys: str) -> bool:
        return all(key in m for key in keys)

    said = []
    overheads = [
        value for key, value in m.items() if re.fullmatch(r"isolation\.pglite[^.]*\.\d+\.(session|connection)", key)
    ]
    truncates = [value for key, value in m.items() if re.fullmatch(r"isolation\.pglite[^.]*\.\d+\.truncate", key)]
    if overheads and truncates:
        said.append(
            f"**Isolation** costs {min(overheads):.1f} to {max(overheads):.1f} x a `SELECT 1` round trip per test "
            f'on PGlite, whatever the schema\'s size: keep the default `isolation = "transaction"`. '
            f'`isolation = "truncate"` costs {min(truncates):.1f} to {max(truncates):.1f} x: only for code that needs '
            "several sessions at once."
        )
    if has("startup.process", "startup.process.server", "startup.process.ratio"):
        text = (
            f"**A one-test run** takes {m['startup.process']:.2f} s on PGlite against "
            f"{m['startup.process.server']:.2f} s on a running PostgreSQL server "
            f"({m['startup.process.ratio']:.2f} x): PGlite's start is most of the difference, and it is paid once "
            "per process, not per test."
        )
        if has("startup.process.keep_warm", "startup.process.keep_warm.ratio"):
            text += (
                f" With `PGLITE_TESTCASE_KEEP_WARM=1` the same run takes {m['startup.process.keep_warm']:.2f} s "
                f"({m['startup.process.keep_warm.ratio']:.2f} x the server): turn it on for edit-and-rerun loops."
            )
        said.append(text)
    if has("suite.pglite", "suite.server"):
        ratio = f"{m['suite.ratio']:.2f} x" if "suite.ratio" in m else _ratio(m["suite.pglite"], m["suite.server"])
        text = (
            f"**A suite** of 1,000 small tests takes {m['suite.pglite']:.1f} s on PGlite and {m['suite.server']:.1f} s "
            f"on the server ({ratio})"
        )
        if "suite.pglite18" in m:
            text += f", {m['suite.pglite18']:.1f} s on PGlite's PostgreSQL 18"
        if "suite.postgres" in m:
            text += (
                f', {m["suite.postgres"]:.1f} s with `backend = "postgres"` '
                f"({_ratio(m['suite.postgres'], m['suite.pglite'])} PGlite's time, no server to set up)"
            )
        text += (
            ": where a suite's wall time matters more than PGlite's zero install, use the postgres backend or a server."
        )
        alternatives = [
            (key, name)
            for key, name in (
                ("suite.py_pglite", "py-pglite's fixtures"),
                ("suite.naive", "a PGlite per class"),
                ("suite.pytest_postgresql", "pytest-postgresql, a database per test on the server"),
            )
            if key in m
        ]
        if alternatives:
            text += (
                " The other ways take "
                + ", ".join(f"{_ratio(m[key], m['suite.pglite'])} as long ({name})" for key, name in alternatives)
                + "."
            )
        said.append(text)
    if has("bulk.pglite.executemany", "bulk.pglite.copy", "bulk.executemany.ratio"):
        said.append(
            f"**Bulk loading** of 100,000 rows: `executemany` takes {m['bulk.pglite.executemany']:.1f} s on PGlite "
            f"({m['bulk.executemany.ratio']:.1f} x the server), `COPY` {m['bulk.pglite.copy']:.2f} s: load large "
            "fixtures with COPY (psycopg's `cursor.copy`). The time is PostgreSQL's own work compiled to "
            "WebAssembly (see below), not the package's."
        )
    if has("scale.per_test_ratio", "scale.unittest_parallel.speedup"):
        said.append(
            f"**Large suites**: the time per test does not grow with the suite ({m['scale.per_test_ratio']:.2f} x from "
            "1,000 to 10,000 tests), and `unittest-parallel -j 2 --level class` runs one "
            f"{m['scale.unittest_parallel.speedup']:.2f} x faster on this 2-CPU machine: each process has its own "
            "PGlite."
        )
    if has("memory.suite.peak"):
        said.append(f"**Memory**: node's PGlite peaks at {m['memory.suite.peak']:.0f} MB per test process.")
    if has("migrations.chain.ratio", "migrations.inventory.ratio"):
        said.append(
            f"**Migration checks** take {m['migrations.inventory.ratio']:.2f} x (3 revisions) to "
            f"{m['migrations.chain.ratio']:.2f} x (50 revisions) their time on the server."
        )
    if has("first_run.first_query"):
        said.append(
            f"**The first run** on a machine (npm fetches PGlite) reaches its first query in "
            f"{m['first_run.first_query']:.1f} s; later runs use the package cache."
        )
    if has("pytest_plugin.cost"):
        said.append(
            f"**Under pytest**, py-pglite's plugin adds {m['pytest_plugin.cost']:.2f} s to every run: "
            "`-p no:py_pglite` removes it."
        )
    return [f"- {sentence}" for sentence in said]


def performance(data: dict[str, Any], results: str) -> str:
    rows = sorted(data["rows"], key=_scenario_number)
    scenarios = sorted({row["scenario"].split()[0] for row in rows}, key=int)
    parts = [
        machine_sentence(data) + f" The results are in `{results}`.",
        command_block(data, results),
        "`PGLITE_TESTCASE_DATABASE_URL` names the real PostgreSQL server of the server rows (left out, those rows "
        "are not run); every other row runs on PGlite. `--quick` runs every scenario in a smaller form, "
        "`--only startup,scale` (for example) only some.",
        "What to conclude, from this run's medians:",
        "\n".join(conclusions(rows)),
        "Targets set for the project (`bench/targets.py`), each checked against its row's median:",
        targets_table(rows),
        "What the rows mean:",
        "\n".join(f"{n}. {SCENARIO_MEANINGS[n]}" for n in scenarios if n in SCENARIO_MEANINGS),
        table(rows),
    ]
    return "\n\n".join(parts)


def migration_cost(data: dict[str, Any], results: str) -> str:
    rows = [row for row in data["rows"] if row["scenario"].startswith("7 ")]
    how = (
        "On PGlite each check that needs a database starts a PGlite process of its own (from the cached empty "
        "snapshot); on a server it creates a database. The steps run what `alembic.command.upgrade` / "
        "`downgrade` run, with the script directory read once per class instead of once per command. "
        "`python -m bench --only migrations` measures this alone (with `PGLITE_TESTCASE_DATABASE_URL` for the "
        "server rows); `python -m bench.migration_checks` also prints each check's time."
    )
    if not rows:
        return (
            "**What it costs.** The benchmark times the whole class on PGlite and on a PostgreSQL server in the same "
            f"run (scenario 7 of [Performance](#performance)); the results shown there (`{results}`, "
            f"{data['date']}) predate those rows. " + how
        )
    return "\n\n".join(
        [
            f"**What it costs.** Measured by the benchmark on {data['date']} (UTC), in the run shown under "
            f"[Performance](#performance) (`{results}`): the whole class, every check on a fresh database.",
            table(rows),
            how,
        ]
    )


PAGE = ROOT / "docs" / "performance.md"


def replace_between(text: str, name: str, body: str, results: str) -> str:
    pattern = re.compile(rf"<!-- bench:{name}:begin[^>]*-->\n(.*?\n)?(<!-- bench:{name}:end -->)", re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"the page has no <!-- bench:{name}:begin ... --> / <!-- bench:{name}:end --> markers")
    begin = (
        f"<!-- bench:{name}:begin: generated by `python -m bench.readme {results}`; "
        "edit bench/readme.py or re-run the benchmark, not this text -->\n"
    )
    return pattern.sub(lambda match: begin + "\n" + body + "\n\n" + match.group(2), text, count=1)


def render(readme: str, data: dict[str, Any], results: str) -> str:
    readme = replace_between(readme, PERFORMANCE, performance(data, results), results)
    return replace_between(readme, MIGRATION_COST, migration_cost(data, results), results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.readme", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("results", type=Path, help="a results JSON written by python -m bench")
    parser.add_argument(
        "--page", "--readme", dest="page", type=Path, default=PAGE, help="the page to write (docs/performance.md)"
    )
    parser.add_argument("--check", action="store_true", help="only check that the page is up to date")
    args = parser.parse_args(argv)
    data = json.loads(args.results.read_text())
    if data.get("quick"):
        parser.error(f"{args.results} is from a --quick run, a smoke test: its figures do not go into the docs")
    results = args.results.resolve()
    shown = str(results.relative_to(ROOT)) if results.is_relative_to(ROOT) else str(args.results)
    before = args.page.read_text()
    after = render(before, data, shown)
    if args.check:
        if after != before:
            print(f"{args.page} differs from what {shown} gives: run python -m bench.readme {shown}")
            return 1
        return 0
    args.page.write_text(after)
    return 0


if __name__ == "__main__":
    sys.exit(main())
