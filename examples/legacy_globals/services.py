"""Lending and returning books, and the handler behind the renew-a-loan request."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, text

from . import db
from .models import Book, Loan, Member
from .repository import available_copies
from .settings import settings


class LendingError(Exception):
    pass


class NotAvailable(LendingError):
    pass


class TooManyLoans(LendingError):
    pass


class AlreadyReturned(LendingError):
    pass


def lend_book(member_id: int, book_id: int, today: date | None = None) -> Loan:
    session = db.Session()
    member = session.get(Member, member_id)
    book = session.get(Book, book_id)
    if member is None or book is None:
        raise LookupError(f"no member {member_id} or no book {book_id}")
    open_loans = (
        session.query(func.count(Loan.id)).filter(Loan.member_id == member_id, Loan.returned_at.is_(None)).scalar()
    )
    if open_loans >= settings.MAX_OPEN_LOANS:
        raise TooManyLoans(f"{member.email} already has {open_loans} books")
    if available_copies(book_id) < 1:
        raise NotAvailable(f"every copy of {book.title!r} is out")
    loan = Loan(
        member_id=member.id, book_id=book.id, due_on=(today or date.today()) + timedelta(days=settings.LOAN_DAYS)
    )
    session.add(loan)
    session.commit()
    return loan


def return_book(loan_number: int, when: datetime | None = None) -> Loan:
    session = db.Session()
    loan = session.query(Loan).filter_by(loan_number=loan_number).one()
    if loan.returned_at is not None:
        raise AlreadyReturned(f"loan {loan_number} was returned on {loan.returned_at:%Y-%m-%d}")
    loan.returned_at = when or datetime.now(timezone.utc)
    session.commit()
    record_event("returned", loan_number, f"book {loan.book_id}")
    return loan


def record_event(kind: str, loan_number: int | None, detail: str = "") -> None:
    with db.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO events (kind, loan_number, detail) VALUES (:kind, :loan_number, :detail)"),
            {"kind": kind, "loan_number": loan_number, "detail": detail},
        )


def renew_loan_request(loan_number: int, days: int) -> tuple[int, dict[str, Any]]:
    """POST /loans/<loan_number>/renew: (status, body). One session per request, removed at its end."""
    try:
        session = db.Session()
        loan = session.query(Loan).filter_by(loan_number=loan_number).one_or_none()
        if loan is None:
            return 404, {"error": f"no loan {loan_number}"}
        if loan.returned_at is not None:
            return 409, {"error": f"loan {loan_number} was returned"}
        loan.due_on = loan.due_on + timedelta(days=days)
        session.commit()
        return 200, {"loan_number": loan.loan_number, "due_on": loan.due_on.isoformat()}
    except Exception:
        db.Session.rollback()
        raise
    finally:
        db.Session.remove()
