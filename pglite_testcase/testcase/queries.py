"""Capturing the SQL a block of test code runs: ``captureQueries`` and ``assertNumQueries``.

Counts what the code under test sends through the test's objects (the test
connection and sessions, ``self.engine``). The library's own savepoint
bookkeeping is not counted: it is not the code's doing, and it mostly rides
along with the code's statements.
"""

from __future__ import annotations

from collections.abc import Iterator
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


@contextmanager
def capture_queries(*engines: Engine) -> Iterator[list[Query]]:
    """Collect every statement the engines execute inside the block, in order."""
    queries: list[Query] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        queries.append(Query(" ".join(statement.split()), parameters))

    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield queries
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def describe(queries: list[Query]) -> str:
    return "\n".join(f"{number}. {query}" for number, query in enumerate(queries, 1)) or "(none)"


@contextmanager
def expect_num_queries(expected: int, engines: tuple[Engine, ...], fail: Any) -> Iterator[list[Query]]:
    with capture_queries(*engines) as queries:
        yield queries
    if len(queries) != expected:
        fail(f"{len(queries)} queries executed, {expected} expected:\n{describe(queries)}")
