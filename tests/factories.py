"""Factory Boy factories for the test models (an example of what a project writes)."""

from __future__ import annotations

import factory
from factory.alchemy import SQLAlchemyModelFactory

from .models import Author, Book


class AuthorFactory(SQLAlchemyModelFactory):
    class Meta:
        model = Author
        sqlalchemy_session_persistence = "flush"

    name = factory.Faker("name")


class BookFactory(SQLAlchemyModelFactory):
    class Meta:
        model = Book
        sqlalchemy_session_persistence = "flush"

    title = factory.Faker("sentence", nb_words=3)
    author = factory.SubFactory(AuthorFactory)
