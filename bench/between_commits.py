"""The isolation probe of several commits, interleaved: which commit made a row slower.

``python -m bench.between_commits [--tables 20] [--tests 300] [--rounds 3] REV [REV ...]``

Each revision is checked out into a temporary git worktree; each round runs the probe
(``bench.isolation_probe``, one round of ``--tests`` tests) once per revision, in turn, so that
the machine's noise falls on all of them alike. Prints each run and the medians of the truncate
row and the session-body row, as multiples of the ``SELECT 1`` of the same run. Each revision's
own package, node server and probe are used; the Python environment is this one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from . import workloads
from .measure import ROOT, value, values


def _worktree(revision: str, into: Path) -> Path:
    path = into / revision.replace("/", "_").replace("~", "_").replace("^", "_")
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(path), revision], check=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revisions", nargs="+", help="git revisions (commits, branches, tags)")
    parser.add_argument("--tables", type=int, default=20)
    parser.add_argument("--tests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    into = Path(tempfile.mkdtemp(prefix="pgtc-bench-commits-"))
    trees: dict[str, Path] = {}
    samples: dict[str, dict[str, list[float]]] = {}
    try:
        for revision in arguments.revisions:
            trees[revision] = _worktree(revision, into)
            samples[revision] = {"truncate": [], "session": [], "select1_ms": []}
        for round_number in range(arguments.rounds):
            for revision, tree in trees.items():
                directory = into / "schema"
                shutil.rmtree(directory, ignore_errors=True)
                directory.mkdir()
                workloads.write_schema(directory, arguments.tables)
                sizes = [str(arguments.tables), str(arguments.tests), "1"]
                command = [sys.executable, "-m", "bench.isolation_probe", *sizes]
                run = subprocess.run(
                    command, cwd=directory, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True
                )
                if run.returncode != 0:
                    raise SystemExit(f"{revision}: the probe failed:\n{run.stderr[-3000:]}")
                found = samples[revision]
                found["truncate"] += values(run.stdout, "ratios_truncate")
                found["session"] += values(run.stdout, "ratios_session")
                found["select1_ms"].append(value(run.stdout, "select1"))
                print(
                    f"round {round_number + 1} {revision}: truncate {found['truncate'][-1]:.2f}x, "
                    f"session {found['session'][-1]:.2f}x, SELECT 1 {found['select1_ms'][-1]:.3f} ms",
                    flush=True,
                )
    finally:
        for tree in trees.values():
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
        shutil.rmtree(into, ignore_errors=True)
    print(f"\nmedians, {arguments.tables} tables, {arguments.rounds} rounds of {arguments.tests} tests:")
    for revision, found in samples.items():
        medians = ", ".join(f"{name} {statistics.median(runs):.3g}" for name, runs in found.items())
        print(f"  {revision}: {medians}")


if __name__ == "__main__":
    main()
