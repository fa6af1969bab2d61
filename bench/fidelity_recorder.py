"""A pytest plugin for ``bench.fidelity``: each test's outcome, written as it happens.

Loaded as ``-p fidelity_recorder`` inside the driver's own virtual environment
(``bench.fidelity`` copies this file to a directory of its own on that run's
``PYTHONPATH``), so it imports nothing but the standard library and pytest.
It appends JSON lines to the file named by ``FIDELITY_EVENTS``, flushed at
once, so that a run killed in the middle (a hang, a dead server) still tells
which tests finished and which one was running:

- ``{"e": "collected", "ids": [...]}`` once, after collection;
- ``{"e": "start", "id": ..., "t": <unix time>}`` as a test begins;
- ``{"e": "result", "id": ..., "outcome": ..., "message": ...}`` as it ends, with
  ``outcome`` one of passed, failed, error, skipped, xfailed, xpassed.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

EVENTS_ENV = "FIDELITY_EVENTS"

_phases: dict[str, list[Any]] = {}


def _write(event: dict[str, Any]) -> None:
    path = os.environ.get(EVENTS_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as file:
        file.write(json.dumps(event) + "\n")


def _message(report: Any) -> str:
    longrepr = report.longrepr
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (file, line, reason)
        return str(longrepr[2])
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return str(crash.message)
    return str(longrepr).strip().splitlines()[-1] if str(longrepr).strip() else ""


def pytest_collection_finish(session: pytest.Session) -> None:
    _write({"e": "collected", "ids": [item.nodeid for item in session.items]})


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    _phases[nodeid] = []
    _write({"e": "start", "id": nodeid, "t": time.time()})


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _phases.setdefault(report.nodeid, []).append(report)
    if report.when != "teardown":
        return
    reports = _phases.pop(report.nodeid)
    outcome, message = "passed", ""
    for phase in reports:
        wasxfail = hasattr(phase, "wasxfail")
        if phase.failed:
            outcome = "failed" if phase.when == "call" else "error"
            message = _message(phase)
            break
        if phase.skipped:
            outcome = "xfailed" if wasxfail else "skipped"
            message = str(getattr(phase, "wasxfail", "")) if wasxfail else _message(phase)
            break
        if phase.when == "call" and wasxfail:
            outcome = "xpassed"
    _write({"e": "result", "id": report.nodeid, "outcome": outcome, "message": message})
