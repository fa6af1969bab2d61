"""A pytest plugin for the benchmark: per-test time of each test class, printed at the end.

Loaded with ``-p bench.pytest_timing``; prints ``class_ms <Class> <ms per test>``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Generator
from typing import Any

import pytest

_totals: dict[str, list[float]] = defaultdict(list)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: Any, nextitem: Any) -> Generator[None, None, None]:
    started = time.perf_counter()
    yield
    _totals[item.cls.__name__ if item.cls else item.module.__name__].append(time.perf_counter() - started)


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    for name, seconds in _totals.items():
        # The first test of a class pays for session fixtures: leave it out.
        steady = seconds[1:] or seconds
        print(f"\nclass_ms {name} {sum(steady) / len(steady) * 1000}")
