"""Runs the generated unittest suite in the current directory; prints its timing and PGlite's memory.

``python -m bench.suite_runner [PATTERN]`` runs what ``python -m unittest discover -p PATTERN`` would, and prints

- ``run_seconds`` and ``tests_run``: the suite's run (class set-ups included, imports not);
- ``steady_seconds``: the same from the first test's start, so without the first class's set-up
  (which waits for PGlite's start and loads the schema);
- ``node_rss_first_tenth_mb`` / ``node_rss_end_mb``: node's RSS after the first tenth of the classes
  and after all of them;
- ``node_peak_rss_mb``: node's peak RSS (VmHWM, the kernel's high-water mark), the highest of the
  two samples (a node process that ended between them is not seen).

Node processes are found in /proc as this process's descendants, so the runner needs nothing from
the package beyond its public classes. Two samples a run, since a look through /proc takes
milliseconds, which would show in the per-test time if taken after every class.
"""

from __future__ import annotations

import os
import sys
import time
import unittest
from collections.abc import Iterator
from typing import Any

from bench.processes import descendants


def node_processes(root: int | None = None) -> list[int]:
    """The node processes ``root`` (default: this process) started, directly or through others."""
    return [pid for pid, command in descendants(root or os.getpid()).items() if command == "node"]


def status_kb(pid: int) -> dict[str, int]:
    fields = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    fields[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        pass
    return fields


class NodeMemory:
    def __init__(self, root: int | None = None) -> None:
        self.root = root
        self.peak_mb = 0.0

    def sample(self) -> float:
        """The node processes' RSS now (MB); remembers their highest peak so far."""
        rss = 0.0
        for pid in node_processes(self.root):
            fields = status_kb(pid)
            self.peak_mb = max(self.peak_mb, fields.get("VmHWM", 0) / 1024)
            rss += fields.get("VmRSS", 0) / 1024
        return rss


def test_classes(suite: unittest.TestSuite) -> Iterator[type]:
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from test_classes(test)
        else:
            yield type(test)


class SamplingResult(unittest.TextTestResult):
    """Samples node's memory when the first tenth of the classes has finished (at the next class's first test)."""

    first_tenth = 1  # classes after which the first sample is kept; set before the run

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.memory = NodeMemory()
        self.current: type | None = None
        self.classes_done = 0
        self.rss_first_tenth: float | None = None
        self.first_test_at = 0.0

    def startTest(self, test: unittest.TestCase) -> None:
        if self.current is None:
            self.first_test_at = time.perf_counter()
        if type(test) is not self.current:
            if self.current is not None:
                self.classes_done += 1
                if self.classes_done == self.first_tenth:
                    self.rss_first_tenth = self.memory.sample()
            self.current = type(test)
        super().startTest(test)


def main() -> None:
    pattern = sys.argv[1] if len(sys.argv) > 1 else "test*.py"
    suite = unittest.defaultTestLoader.discover(".", pattern=pattern)
    classes = len(set(test_classes(suite)))
    SamplingResult.first_tenth = max(1, round(classes / 10))
    runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=0, resultclass=SamplingResult)
    started = time.perf_counter()
    result = runner.run(suite)
    ended = time.perf_counter()
    if not result.wasSuccessful():
        raise SystemExit(1)
    assert isinstance(result, SamplingResult)
    rss_end = result.memory.sample()
    print("run_seconds", ended - started)
    print("steady_seconds", ended - result.first_test_at)
    print("tests_run", result.testsRun)
    print("classes", classes)
    if result.memory.peak_mb:
        print("node_peak_rss_mb", result.memory.peak_mb)
        print("node_rss_first_tenth_mb", result.rss_first_tenth or rss_end)
        print("node_rss_end_mb", rss_end)


if __name__ == "__main__":
    main()
