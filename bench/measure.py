"""Measurement helpers: rows of samples, subprocess runs, the ``KEY value`` lines probes print."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .processes import descendants

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Target:
    """An upper bound a row's median must stay under (``limit``), or ``None``: the row only has to exist."""

    goal: str
    limit: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"goal": self.goal, "limit": self.limit}


@dataclass
class Row:
    key: str  # stable name of the row, e.g. "startup.empty"; targets and comparisons refer to it
    scenario: str
    variant: str
    unit: str
    samples: list[float] = field(default_factory=list)
    note: str = ""
    compare_to: str = ""  # key of the row the "vs" column divides by
    vs: str = ""
    target: Target | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def spread(self) -> tuple[float, float]:
        return (min(self.samples), max(self.samples)) if self.samples else (float("nan"), float("nan"))

    def as_dict(self) -> dict[str, Any]:
        """The row for the results JSON: a row without samples (its runs failed) has no median, min or max."""
        return {
            "key": self.key,
            "scenario": self.scenario,
            "variant": self.variant,
            "unit": self.unit,
            "samples": self.samples,
            "note": self.note,
            "median": self.median if self.samples else None,
            "min": self.spread[0] if self.samples else None,
            "max": self.spread[1] if self.samples else None,
            "vs": self.vs,
            "target": self.target.as_dict() if self.target else None,
        }


def paired(
    key: str,
    scenario: str,
    variant: str,
    unit: str,
    left: Row,
    right: Row,
    combine: Callable[[float, float], float],
    note: str = "",
) -> Row:
    """A row derived sample by sample from two rows measured in alternation (run i of each)."""
    samples = [combine(a, b) for a, b in zip(left.samples, right.samples)]  # nothing from a row that failed
    return Row(key, scenario, variant, unit, samples, note or f"from '{left.key}' and '{right.key}', run by run")


class RunFailed(RuntimeError):
    """A benchmark child exited with an error; ``summary`` is the last line it wrote."""

    def __init__(self, message: str, summary: str) -> None:
        super().__init__(message)
        self.summary = summary


def samples_of(measure: Callable[[], float], count: int) -> tuple[list[float], str]:
    """``count`` runs of ``measure``, for the alternatives' rows, where a run can hang or fail on its own
    (py-pglite's single connection slot): such a run gives no sample, only a note."""
    samples: list[float] = []
    problems: list[str] = []
    for _ in range(count):
        try:
            samples.append(measure())
        except subprocess.TimeoutExpired as expired:
            problems.append(f"killed after {expired.timeout:.0f} s")
        except RunFailed as failed:
            problems.append(f"failed: {failed.summary}")
    return samples, "; ".join(f"{n} of {count} runs {problem}" for problem, n in Counter(problems).items())


def run_python(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 1800
) -> tuple[float, str]:
    """Run ``python <args>`` in ``cwd``; return its wall time and stdout. Fails loudly.

    A run that outlives ``timeout`` (or is interrupted) is killed with every process it started,
    and ``subprocess.TimeoutExpired`` (or the interruption) propagates.
    """
    started = time.perf_counter()
    process = start_python(args, cwd, env)
    stdout, stderr = finish(process, timeout)
    elapsed = time.perf_counter() - started
    check(process, args, cwd, stdout, stderr)
    return elapsed, stdout


def finish(process: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    """Wait for ``process``; if that fails for any reason, kill it and its descendants first."""
    try:
        return process.communicate(timeout=timeout)
    except BaseException:
        kill_tree(process.pid)
        process.communicate()
        raise


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every process descending from it (py-pglite's node runs in a session of its own)."""
    for member in [pid, *descendants(pid)]:
        try:
            os.kill(member, signal.SIGKILL)
        except OSError:
            pass


def start_python(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``python <args>`` in ``cwd`` with the checkout and ``cwd`` importable; collect its output."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(cwd)]), **(env or {})}
    # As a user's interpreter: compiled modules cached (a shell with PYTHONDONTWRITEBYTECODE=1 would
    # have every child compile the package's and the generated suites' sources again).
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    return subprocess.Popen(
        [sys.executable, *args], cwd=cwd, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def check(process: subprocess.Popen[str], args: list[str], cwd: Path, stdout: str, stderr: str) -> None:
    if process.returncode != 0:
        lines = [line.strip() for line in (stderr + stdout).splitlines() if line.strip()]
        error = next((line for line in reversed(lines) if "Error" in line), lines[-1] if lines else "no output")
        raise RunFailed(f"{' '.join(args)} in {cwd} failed:\n{stdout[-3000:]}\n{stderr[-3000:]}", error[:200])


def value(stdout: str, key: str) -> float:
    """The number printed as ``KEY <number>`` by a benchmark script."""
    return values(stdout, key)[0]


def values(stdout: str, key: str) -> list[float]:
    """The numbers printed as ``KEY <number> <number> ...`` by a benchmark script."""
    for line in stdout.splitlines():
        if line.startswith(key + " "):
            return [float(word) for word in line[len(key) :].split()]
    raise RuntimeError(f"{key} not found in output:\n{stdout[-2000:]}")


def text_value(stdout: str, key: str) -> str:
    """The rest of the line printed as ``KEY <text>``."""
    for line in stdout.splitlines():
        if line.startswith(key + " "):
            return line.split(" ", 1)[1].strip()
    raise RuntimeError(f"{key} not found in output:\n{stdout[-2000:]}")
