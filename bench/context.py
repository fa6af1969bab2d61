"""What every scenario gets: the run's sizes, the server, a place for facts about the machine."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# py-pglite's rows run pytest with its plugin only (pytest-postgresql's is installed for its own row).
PY_PGLITE_PYTEST = ["-q", "-p", "no:cacheprovider", "-p", "no:pytest_postgresql"]
# A child's environment for PGlite's PostgreSQL 18 line (PGlite 0.5) instead of the default 17.
PGLITE_18 = {"PGLITE_TESTCASE_POSTGRES_VERSION": "18"}


@dataclass
class Context:
    quick: bool
    repeat: int
    server_url: str | None  # the real PostgreSQL server of the server rows, if any
    facts: dict[str, str] = field(default_factory=dict)  # learnt while measuring, e.g. PGlite's version

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full


_scratch: list[Path] = []


def scratch(name: str) -> Path:
    """A new temporary directory, removed by ``remove_scratch`` if its scenario did not remove it."""
    _scratch.append(Path(tempfile.mkdtemp(prefix=f"pgtc-bench-{name}-")))
    return _scratch[-1]


def remove_scratch() -> None:
    while _scratch:
        shutil.rmtree(_scratch.pop(), ignore_errors=True)
