"""Models the library's own tests run against (written so that SQLAlchemy 1.4 and 2.x both take them)."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, Text
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()


class Author(Base):  # type: ignore[valid-type,misc]
    __tablename__ = "authors"
    id = Column(Integer, primary_key=True)
    name = Column(String(100), unique=True)
    books = relationship("Book", back_populates="author")


class Book(Base):  # type: ignore[valid-type,misc]
    __tablename__ = "books"
    id = Column(Integer, primary_key=True)
    title = Column(String(200))
    author_id = Column(Integer, ForeignKey("authors.id"))
    author = relationship("Author", back_populates="books")


# A second, different schema: classes using it make the shared instance rebuild.
other_metadata = MetaData()
notes = Table("notes", other_metadata, Column("id", Integer, primary_key=True), Column("body", Text, nullable=False))
