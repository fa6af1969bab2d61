from datetime import datetime, timedelta, timezone

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from examples.legacy_globals import repository
from examples.legacy_globals.db import Session, engine
from examples.legacy_globals.models import Book, Member

from .base import DatabaseTestCase


class MemberTests(DatabaseTestCase):
    def test_new_member_is_committed(self):
        repository.add_member("ada@example.com", "Ada Lovelace")
        Session.remove()
        member = Session().query(Member).filter_by(email="ada@example.com").one()
        self.assertEqual(member.name, "Ada Lovelace")

    def test_new_member_is_seen_by_another_session(self):
        repository.add_member("ada@example.com", "Ada Lovelace")
        other = sessionmaker(bind=engine)()
        try:
            self.assertEqual(other.query(Member).count(), 1)
        finally:
            other.close()

    def test_email_is_stored_lower_case(self):
        repository.add_member("  Ada@Example.COM ", "Ada Lovelace")
        self.assertEqual(repository.find_member("ADA@example.com").email, "ada@example.com")
        self.assertIsNone(repository.find_member("grace@example.com"))

    def test_duplicate_email_is_refused(self):
        repository.add_member("ada@example.com", "Ada Lovelace")
        with self.assertRaises(IntegrityError):
            repository.add_member("ada@example.com", "Ada King")
        Session.rollback()
        self.assertEqual([m.name for m in repository.list_members()], ["Ada Lovelace"])

    def test_first_member_gets_id_1(self):
        self.assertEqual(repository.add_member("ada@example.com", "Ada").id, 1)
        self.assertEqual(repository.add_member("grace@example.com", "Grace").id, 2)

    def test_members_are_listed_in_the_order_they_joined(self):
        for email in ["c@example.com", "a@example.com", "b@example.com"]:
            repository.add_member(email, email[0])
        self.assertEqual(
            [m.email for m in repository.list_members()], ["c@example.com", "a@example.com", "b@example.com"]
        )

    def test_joined_at_is_set_by_the_database(self):
        member = repository.add_member("ada@example.com", "Ada")
        self.assertLess(abs(datetime.now(timezone.utc) - member.joined_at), timedelta(seconds=60))


class BookTests(DatabaseTestCase):
    def test_copies_default_to_one(self):
        book = repository.add_book("9780262033848", "Introduction to Algorithms", "Cormen")
        self.assertEqual(book.copies, 1)

    def test_books_by_author_are_sorted_by_title(self):
        repository.add_book("9780201896831", "The Art of Computer Programming, Vol. 1", "Knuth")
        repository.add_book("9780201038019", "Concrete Mathematics", "Knuth")
        repository.add_book("9780131103627", "The C Programming Language", "Kernighan")
        self.assertEqual(
            [b.title for b in repository.books_by("Knuth")],
            ["Concrete Mathematics", "The Art of Computer Programming, Vol. 1"],
        )

    def test_duplicate_isbn_is_refused(self):
        repository.add_book("9780201038019", "Concrete Mathematics", "Knuth")
        with self.assertRaises(IntegrityError):
            repository.add_book("9780201038019", "Concrete Mathematics (2nd ed.)", "Knuth")
        Session.rollback()
        self.assertEqual(Session().query(Book).count(), 1)

    def test_available_copies_of_an_unknown_book(self):
        with self.assertRaises(LookupError):
            repository.available_copies(12345)
