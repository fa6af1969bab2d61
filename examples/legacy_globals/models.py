"""The lending library: members borrow copies of books; every return is written to an event log."""

from sqlalchemy import Column, Date, DateTime, ForeignKey, Integer, Sequence, String, Text, func, text
from sqlalchemy.orm import relationship

from .db import Base

# Loan numbers are printed on receipts: a sequence of their own, starting at 1000.
LOAN_NUMBER_SEQ = Sequence("loan_number_seq", start=1000, metadata=Base.metadata)


class Member(Base):
    __tablename__ = "members"

    id = Column(Integer, primary_key=True)
    email = Column(String(254), nullable=False, unique=True)
    name = Column(String(100), nullable=False)
    joined_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())

    loans = relationship("Loan", back_populates="member", order_by="Loan.id")

    def __repr__(self) -> str:
        return f"<Member {self.id} {self.email}>"


class Book(Base):
    __tablename__ = "books"

    id = Column(Integer, primary_key=True)
    isbn = Column(String(13), nullable=False, unique=True)
    title = Column(String(200), nullable=False)
    author = Column(String(100), nullable=False)
    copies = Column(Integer, nullable=False, server_default=text("1"))

    loans = relationship("Loan", back_populates="book")

    def __repr__(self) -> str:
        return f"<Book {self.id} {self.isbn}>"


class Loan(Base):
    __tablename__ = "loans"

    id = Column(Integer, primary_key=True)
    loan_number = Column(
        Integer, LOAN_NUMBER_SEQ, nullable=False, unique=True, server_default=LOAN_NUMBER_SEQ.next_value()
    )
    member_id = Column(ForeignKey("members.id"), nullable=False, index=True)
    book_id = Column(ForeignKey("books.id"), nullable=False, index=True)
    borrowed_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    due_on = Column(Date, nullable=False)
    returned_at = Column(DateTime(timezone=True))

    member = relationship("Member", back_populates="loans")
    book = relationship("Book", back_populates="loans")

    def __repr__(self) -> str:
        return f"<Loan {self.loan_number} member={self.member_id} book={self.book_id}>"


class Event(Base):
    """An append-only log, written with plain SQL by the services."""

    __tablename__ = "events"

    id = Column(Integer, primary_key=True)
    kind = Column(String(40), nullable=False)
    loan_number = Column(Integer)
    detail = Column(Text, nullable=False, server_default="")
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
