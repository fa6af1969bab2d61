"""The last SQL statements of a failing test, at the end of its report (``show_sql_on_failure``).

While a test runs, a ``QueryRecorder`` (``queries``) keeps the last ``LAST_STATEMENTS`` statements
the test's connections, sessions, engines and the application's routed engines sent. The result
the test reports to is wrapped for that one test (``StatementsOnFailure``): a failure or error it
records gets the statements appended to its text, the text ``python -m unittest`` prints. That
works the same on Python 3.10 to 3.13, for sync and async test cases and for a failing ``setUp``.
A result that keeps no such text (another runner's) gets them as an exception note (Python 3.11+).
Nothing of this runs when the setting is off.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from .queries import Query, QueryRecorder

LAST_STATEMENTS = 10
"""How many statements a report shows: the last ones the test ran."""
STATEMENT_CHARS = 400
"""A longer statement keeps its first and last characters (the middle is cut, so the WHERE clause stays)."""
PARAMETER_CHARS = 200
"""Longer parameters keep their first characters."""

RECORDER_ATTRIBUTE = "_pglite_statements"
SETTING = "show_sql_on_failure or PGLITE_TESTCASE_SHOW_SQL"


def new_recorder() -> QueryRecorder:
    return QueryRecorder(deque(maxlen=LAST_STATEMENTS))


def shorten_statement(statement: str) -> str:
    if len(statement) <= STATEMENT_CHARS:
        return statement
    head, tail = STATEMENT_CHARS * 2 // 3, STATEMENT_CHARS // 3
    cut = len(statement) - head - tail
    return f"{statement[:head]} ... [{cut} characters cut] ... {statement[-tail:]}"


def shorten_parameters(parameters: Any) -> str:
    text = repr(parameters)
    if len(text) <= PARAMETER_CHARS:
        return text
    return f"{text[:PARAMETER_CHARS]} ... [{len(text) - PARAMETER_CHARS} characters cut]"


def describe_statements(recorder: QueryRecorder) -> str:
    """The text appended to a failing test's report."""
    queries: list[Query] = list(recorder.queries)
    if not queries:
        return f"\nSQL this test ran: none ({SETTING}).\n"
    first = recorder.count - len(queries) + 1
    how_many = f"the last {len(queries)} of {recorder.count}" if first > 1 else f"{recorder.count}"
    plural = "s" if recorder.count > 1 else ""
    lines = [f"\nSQL this test ran, oldest first ({how_many} statement{plural}; {SETTING}):"]
    width = len(str(recorder.count))
    for number, query in enumerate(queries, first):
        lines.append(f"  {number:>{width}}. {shorten_statement(query.statement)}")
        if query.parameters:
            lines.append(f"  {'':>{width}}  parameters: {shorten_parameters(query.parameters)}")
    return "\n".join(lines) + "\n"


class StatementsOnFailure:
    """The result one test reports to, as that test sees it: what it records as a failure or an
    error ends with the test's last statements. Everything else is the result's own."""

    def __init__(self, result: Any, test: Any) -> None:
        self._result = result
        self._test = test

    def __getattr__(self, name: str) -> Any:
        return getattr(self._result, name)

    def addError(self, test: Any, err: Any) -> None:
        self._report(self._result.addError, err, test, err)

    def addFailure(self, test: Any, err: Any) -> None:
        self._report(self._result.addFailure, err, test, err)

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        if err is None:
            self._result.addSubTest(test, subtest, err)
        else:
            self._report(self._result.addSubTest, err, test, subtest, err)

    def _report(self, add: Any, err: Any, *arguments: Any) -> None:
        recorder: QueryRecorder | None = self._test.__dict__.get(RECORDER_ATTRIBUTE)
        if recorder is None:  # the test never began (its class has no database)
            add(*arguments)
            return
        kept = (getattr(self._result, "errors", None), getattr(self._result, "failures", None))
        texts = [entries for entries in kept if isinstance(entries, list)]
        if not texts:
            _add_note(err, describe_statements(recorder))
            add(*arguments)
            return
        before = [len(entries) for entries in texts]
        add(*arguments)
        for entries, start in zip(texts, before):
            for index in range(start, len(entries)):
                case, text = entries[index]
                if isinstance(text, str):
                    entries[index] = (case, text + describe_statements(recorder))


def _add_note(err: Any, note: str) -> None:
    """For a result that keeps no report text: a note on the exception (printed with it, Python 3.11+)."""
    value = err[1] if isinstance(err, tuple) and len(err) == 3 else None
    if value is not None and hasattr(value, "add_note"):
        value.add_note(note.strip("\n"))


__all__ = ["LAST_STATEMENTS", "PARAMETER_CHARS", "STATEMENT_CHARS", "StatementsOnFailure", "new_recorder"]
