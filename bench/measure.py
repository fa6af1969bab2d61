"""Measurement helpers: timing, medians, subprocess runs."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Row:
    scenario: str
    variant: str
    unit: str
    samples: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def spread(self) -> tuple[float, float]:
        return (min(self.samples), max(self.samples)) if self.samples else (float("nan"), float("nan"))

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(median=self.median, min=self.spread[0], max=self.spread[1])
        return data


def run_python(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 900
) -> tuple[float, str]:
    """Run ``python <args>`` in ``cwd``; return its wall time and stdout. Fails loudly."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(cwd)]), **(env or {})}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} in {cwd} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed, result.stdout


def value(stdout: str, key: str) -> float:
    """The number printed as ``KEY <number>`` by a benchmark script."""
    for line in stdout.splitlines():
        if line.startswith(key + " "):
            return float(line.split()[1])
    raise RuntimeError(f"{key} not found in output:\n{stdout[-2000:]}")
