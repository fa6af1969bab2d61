"""Reports and housekeeping in plain SQL, straight on the engine."""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import text

from .db import engine


class OverdueLoan(NamedTuple):
    loan_number: int
    email: str
    title: str
    due_on: date
    days_overdue: int


def overdue_loans(today: date) -> list[OverdueLoan]:
    """Open loans past their due date, the longest overdue first."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT l.loan_number, m.email, b.title, l.due_on, :today - l.due_on AS days_overdue"
                " FROM loans l JOIN members m ON m.id = l.member_id JOIN books b ON b.id = l.book_id"
                " WHERE l.returned_at IS NULL AND l.due_on < :today"
                " ORDER BY l.due_on, l.loan_number"
            ),
            {"today": today},
        )
        return [OverdueLoan(*row) for row in rows]


def purge_returned_loans(returned_before: datetime) -> int:
    """Delete loans returned before the given time; the number deleted."""
    with engine.begin() as conn:
        result = conn.execute(
            text("DELETE FROM loans WHERE returned_at IS NOT NULL AND returned_at < :before"),
            {"before": returned_before},
        )
        return int(result.rowcount)


def event_log(loan_number: int) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT kind, detail FROM events WHERE loan_number = :n ORDER BY id"), {"n": loan_number}
        )
        return [(kind, detail) for kind, detail in rows]
