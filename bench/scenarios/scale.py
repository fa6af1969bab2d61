"""6 scale: a suite ten times larger on a schema ten times wider, in one process and in two.

Each round runs, one after the other: the suite of scenario 4 and the large suite in one process
(per-test time of each, node's memory), then the large suite split over two processes started
together (its two halves, and unittest-parallel's class-level split).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from .. import workloads
from ..context import Context, scratch
from ..measure import Row, check, finish, kill_tree, paired, run_python, start_python, value

SCENARIO = "6 scale"
MEMORY = "5 memory"


def shape(context: Context, large: bool) -> tuple[int, int, int]:
    """Classes, tests per class, tables."""
    if large:
        return (10, 20, 40) if context.quick else (200, 50, 200)
    return (5, 4, 20) if context.quick else (50, 20, 20)


def describe(classes: int, tests: int, tables: int) -> str:
    return f"{classes * tests} tests in {classes} classes, {tables} tables"


def suite(context: Context, large: bool) -> tuple[Path, str]:
    classes, tests, tables = shape(context, large)
    directory = scratch("scale-large" if large else "scale-small")
    workloads.write_schema(directory, tables)
    workloads.write_ours(directory, classes, tests, parts=2)
    run_python(["-m", "bench.suite_runner"], directory)  # warm: snapshot of this schema saved
    return directory, describe(classes, tests, tables)


def halves(directory: Path) -> float:
    """Wall time of the two halves of the suite, each in its own process, started together."""
    commands = [["-m", "bench.suite_runner", f"test_suite_{part}.py"] for part in (0, 1)]
    started = time.perf_counter()
    processes = [start_python(command, directory) for command in commands]
    try:
        for process, command in zip(processes, commands):
            stdout, stderr = finish(process, 1800)
            check(process, command, directory, stdout, stderr)
    finally:
        for process in processes:
            if process.poll() is None:
                kill_tree(process.pid)
                process.communicate()
    return time.perf_counter() - started


def run(context: Context) -> list[Row]:
    (small, small_label), (large, large_label) = suite(context, False), suite(context, True)
    outs: dict[str, list[str]] = {"small": [], "large": []}
    walls: dict[str, list[float]] = {"large": [], "halves": [], "unittest_parallel": []}
    for _ in range(min(context.repeat, 3)):
        outs["small"].append(run_python(["-m", "bench.suite_runner"], small)[1])
        seconds, out = run_python(["-m", "bench.suite_runner"], large)
        walls["large"].append(seconds)
        outs["large"].append(out)
        walls["halves"].append(halves(large))
        command = ["-m", "unittest_parallel", "-q", "-j", "2", "--level", "class"]
        walls["unittest_parallel"].append(run_python(command, large)[0])
    for directory in (small, large):
        shutil.rmtree(directory, ignore_errors=True)
    return [
        *per_test_rows(outs, small_label, large_label),
        *parallel_rows(walls, large_label),
        *memory_rows(outs["large"], large_label),
    ]


def per_test_rows(outs: dict[str, list[str]], small_label: str, large_label: str) -> list[Row]:
    def per_test_ms(out: str) -> float:
        return value(out, "steady_seconds") / value(out, "tests_run") * 1000

    small = Row(
        "scale.small.per_test", SCENARIO, f"per test, {small_label}", "ms", list(map(per_test_ms, outs["small"]))
    )
    large = Row(
        "scale.large.per_test", SCENARIO, f"per test, {large_label}", "ms", list(map(per_test_ms, outs["large"]))
    )
    ratio = paired("scale.per_test_ratio", SCENARIO, "per test: large suite / small suite", "x", large, small, divide)
    return [small, large, ratio]


def parallel_rows(walls: dict[str, list[float]], large_label: str) -> list[Row]:
    one = Row("scale.large.wall", SCENARIO, f"one process, {large_label}", "s", walls["large"])
    rows = [one]
    for key, label in (
        ("halves", "two unittest processes over its halves, started together"),
        ("unittest_parallel", "unittest-parallel -j 2 --level class"),
    ):
        split = Row(f"scale.{key}.wall", SCENARIO, label, "s", walls[key])
        speedup = f"speed-up: one process / {label}"
        rows += [split, paired(f"scale.{key}.speedup", SCENARIO, speedup, "x", one, split, divide, "run by run")]
    return rows


def memory_rows(outs: list[str], label: str) -> list[Row]:
    def mb(name: str) -> list[float]:
        return [value(out, f"node_{name}_mb") for out in outs]

    first = Row(
        "memory.scale.rss_first_tenth",
        MEMORY,
        f"node RSS after the first tenth of the classes, {label}",
        "MB",
        mb("rss_first_tenth"),
    )
    end = Row("memory.scale.rss_end", MEMORY, f"node RSS after all the classes, {label}", "MB", mb("rss_end"))
    return [
        Row(
            "memory.scale.peak", MEMORY, f"PGlite node process peak RSS during the {label} suite", "MB", mb("peak_rss")
        ),
        first,
        end,
        paired(
            "memory.scale.growth",
            MEMORY,
            "node RSS: after all / after the first tenth of the classes",
            "x",
            end,
            first,
            divide,
        ),
    ]


def divide(a: float, b: float) -> float:
    return a / b
