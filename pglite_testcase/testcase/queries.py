"""Capturing the SQL test code runs: ``captureQueries``, ``assertNumQueries``, and the last
statements a failing test's report shows (``failure_reports``).

Counts what the code under test sends through the test's objects (the test
connection and sessions, ``self.engine``). The library's own savepoint
bookkeeping is not counted: it is not the code's doing, and it mostly rides
along with the code's statements.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableSequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class Query:
    statement: str
    parameters: Any

    def __str__(self) -> str:
        return self.statement if not self.parameters else f"{self.statement}  -- {self.parameters!r}"


class QueryRecorder:
    """Appends every statement the engines it listens to execute to ``queries``, in order: a list
    (``captureQueries``), or a bounded deque that keeps the last few (a failing test's report).
    ``count`` is how many it heard, whatever ``queries`` kept."""

    def __init__(self, queries: MutableSequence[Query]) -> None:
        self.queries = queries
        self.count = 0
        self._engines: list[Engine] = []

    def listen(self, *engines: Engine) -> None:
        for engine in engines:
            if not any(engine is listened for listened in self._engines):
                event.listen(engine, "before_cursor_execute", self._record)
                self._engines.append(engine)

    def _record(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        self.count += 1
        self.queries.append(Query(" ".join(statement.split()), parameters))

    def close(self) -> None:
        """Stop listening (idempotent); what was recorded stays."""
        for engine in self._engines:
            event.remove(engine, "before_cursor_execute", self._record)
        self._engines.clear()


@contextmanager
def capture_queries(*engines: Engine) -> Iterator[list[Query]]:
    """Collect every statement the engines execute inside the block, in order."""
    queries: list[Query] = []
    recorder = QueryRecorder(queries)
    recorder.listen(*engines)
    try:
        yield queries
    finally:
        recorder.close()


def describe(queries: list[Query]) -> str:
    return "\n".join(f"{number}. {query}" for number, query in enumerate(queries, 1)) or "(none)"


@contextmanager
def expect_num_queries(expected: int, engines: tuple[Engine, ...], fail: Any) -> Iterator[list[Query]]:
    with capture_queries(*engines) as queries:
        yield queries
    if len(queries) != expected:
        fail(f"{len(queries)} queries executed, {expected} expected:\n{describe(queries)}")
