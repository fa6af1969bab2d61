"""Members and books: each write commits on the thread's ``Session()``."""

from __future__ import annotations

from sqlalchemy import text

from .db import Session, engine
from .models import Book, Member


def add_member(email: str, name: str) -> Member:
    session = Session()
    member = Member(email=email.strip().lower(), name=name)
    session.add(member)
    session.commit()
    return member


def find_member(email: str) -> Member | None:
    return Session().query(Member).filter_by(email=email.strip().lower()).one_or_none()


def list_members() -> list[Member]:
    """Members in the order they joined."""
    return Session().query(Member).order_by(Member.id).all()


def add_book(isbn: str, title: str, author: str, copies: int | None = None) -> Book:
    session = Session()
    book = Book(isbn=isbn, title=title, author=author)
    if copies is not None:
        book.copies = copies
    session.add(book)
    session.commit()
    return book


def books_by(author: str) -> list[Book]:
    return Session().query(Book).filter(Book.author == author).order_by(Book.title).all()


def available_copies(book_id: int) -> int:
    """Copies of the book not out on loan, counted on a connection of its own."""
    with engine.connect() as conn:
        available = conn.execute(
            text(
                "SELECT b.copies - count(l.id) FROM books b"
                " LEFT JOIN loans l ON l.book_id = b.id AND l.returned_at IS NULL"
                " WHERE b.id = :book_id GROUP BY b.id"
            ),
            {"book_id": book_id},
        ).scalar()
    if available is None:
        raise LookupError(f"no book with id {book_id}")
    return int(available)
