"""Where the PGlite node server's time goes: the suite of scenario 4 and the executemany of scenario 10, profiled.

``python -m bench.node_profile [--rounds 3] [--tables 20] [--classes 50] [--tests 20] [--rows 100000] [--output F]``

Each workload runs ``--rounds`` times, in alternation, with node's sampling profiler on
(``--cpu-prof``, added to the flags the package starts node with), and each sample is put in the
first of these that its stack reaches:

- ``idle``: node waits on its sockets, i.e. for the client (Python) or for nothing;
- ``garbage collection``;
- ``PGlite``: PGlite's WebAssembly and PGlite's own JavaScript (``execProtocol``, its start);
- ``socket writes``: the replies written to the client's socket;
- ``server``: this package's node server (lib/, server.js) outside PGlite;
- ``node``: the rest (node's own start, module loading, the event loop).

Prints the median of each part's milliseconds over the rounds, its share of node's lifetime, and
its time per test or per row.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from . import workloads
from .measure import ROOT

PARTS = ("idle", "garbage collection", "PGlite", "socket writes", "server", "node")
SOCKET_WRITES = frozenset({"writeBuffer", "writev", "writeUtf8String", "writeLatin1String"})


def classify(profile: dict[str, Any]) -> Counter[str]:
    """Milliseconds of the profile per part (PARTS), by each sample's stack."""
    nodes = {node["id"]: node for node in profile["nodes"]}
    parent = {child: node["id"] for node in profile["nodes"] for child in node.get("children", ())}
    parts: Counter[str] = Counter()
    for sample, delta_us in zip(profile["samples"], profile["timeDeltas"]):
        parts[_part(sample, nodes, parent)] += delta_us / 1000
    return parts


def _part(leaf: int, nodes: dict[int, Any], parent: dict[int, int]) -> str:
    frame = nodes[leaf]["callFrame"]
    if frame["functionName"] == "(idle)":
        return "idle"
    if frame["functionName"] == "(garbage collector)":
        return "garbage collection"
    if frame["functionName"] in SOCKET_WRITES:
        return "socket writes"
    ours = False
    current: int | None = leaf
    while current is not None:
        frame = nodes[current]["callFrame"]
        name, url = frame["functionName"], frame["url"]
        if (
            "@electric-sql/pglite" in url
            or name.startswith(("wasm-", "js-to-wasm"))
            or name == "GenericJSToWasmWrapper"
        ):
            return "PGlite"
        ours = ours or "pglite_testcase/node/" in url
        current = parent.get(current)
    return "server" if ours else "node"


def _main_profile(directory: Path) -> dict[str, Any]:
    """The profile of node's main thread (the largest file: the watchdog's thread writes a small one)."""
    files = sorted(directory.glob("*.cpuprofile"), key=lambda path: path.stat().st_size)
    if not files:
        raise SystemExit(f"node wrote no profile into {directory}")
    profile: dict[str, Any] = json.loads(files[-1].read_text())
    return profile


def _profiled(arguments: list[str], cwd: Path, into: Path) -> dict[str, Any]:
    """Run ``python -m bench.node_profile --child INTO ARGS`` in ``cwd``; node's main-thread profile."""
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(cwd), str(ROOT)])}
    command = [sys.executable, "-m", "bench.node_profile", "--child", str(into), *arguments]
    run = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(arguments)} failed:\n{run.stdout[-2000:]}{run.stderr[-3000:]}")
    return _main_profile(into)


def _child(into: str, module: str, arguments: list[str]) -> None:
    """Start every PGlite of this process with node's profiler on, then run ``module`` as ``__main__``."""
    from pglite_testcase.runtime import process

    process.NODE_FLAGS = (*process.NODE_FLAGS, "--cpu-prof", f"--cpu-prof-dir={into}")
    sys.argv = [module, *arguments]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def medians(rounds: list[Counter[str]]) -> dict[str, float]:
    """Each part's median over the rounds (a part a round did not see counts 0 there)."""
    return {part: statistics.median(parts.get(part, 0.0) for parts in rounds) for part in PARTS}


def report(name: str, parts: dict[str, float], units: int, unit: str, rounds: int) -> dict[str, Any]:
    total = sum(parts.values())
    print(f"\n{name}: node's lifetime {total:.0f} ms (medians of {rounds} runs), per {unit} over {units:,} {unit}s")
    print(f"  {'part':<20} {'ms':>9} {'share':>7} {'us per ' + unit:>14}")
    for part in PARTS:
        ms = parts.get(part, 0.0)
        print(f"  {part:<20} {ms:9.1f} {100 * ms / total:6.1f}% {1000 * ms / units:14.1f}")
    return {"workload": name, "units": units, "unit": unit, "rounds": rounds, "median_ms": parts}


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], sys.argv[3], sys.argv[4:])
        return
    parser = argparse.ArgumentParser(prog="python -m bench.node_profile", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tables", type=int, default=20)
    parser.add_argument("--classes", type=int, default=50)
    parser.add_argument("--tests", type=int, default=20, help="tests per class")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--output", type=Path, help="also write the parts as JSON")
    arguments = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="pgtc-bench-profile-"))
    try:
        suite = scratch / "suite"
        suite.mkdir()
        workloads.write_schema(suite, arguments.tables)
        workloads.write_ours(suite, arguments.classes, arguments.tests)
        tests = arguments.classes * arguments.tests
        suite_runs: list[Counter[str]] = []
        bulk_runs: list[Counter[str]] = []
        for _ in range(arguments.rounds):
            suite_runs.append(classify(_profiled(["unittest", "-q"], suite, scratch / "suite-profile")))
            bulk = ["bench.bulk_probe", str(arguments.rows)]
            bulk_runs.append(classify(_profiled(bulk, scratch, scratch / "bulk-profile")))
        results = [
            report(
                f"suite: {tests:,} tests in {arguments.classes} classes, {arguments.tables} tables",
                medians(suite_runs),
                tests,
                "test",
                arguments.rounds,
            ),
            report(
                f"executemany and COPY of {arguments.rows:,} rows each, plain psycopg",
                medians(bulk_runs),
                2 * arguments.rows,
                "row",
                arguments.rounds,
            ),
        ]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if arguments.output:
        arguments.output.write_text(json.dumps({"argv": sys.argv[1:], "workloads": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
