from datetime import date, datetime, timezone

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from examples.legacy_globals import reports, repository, services
from examples.legacy_globals.db import Base, engine

from .base import DatabaseTestCase


class OverdueReportTests(DatabaseTestCase):
    def setUp(self):
        super().setUp()
        self.ada = repository.add_member("ada@example.com", "Ada").id
        self.grace = repository.add_member("grace@example.com", "Grace").id
        self.sicp = repository.add_book("9780262510875", "SICP", "Abelson", copies=5).id
        self.taocp = repository.add_book("9780201896831", "TAOCP 1", "Knuth", copies=5).id

    def test_overdue_loans_longest_overdue_first(self):
        recent = services.lend_book(self.ada, self.sicp, today=date(2024, 3, 1)).loan_number
        older = services.lend_book(self.grace, self.taocp, today=date(2024, 2, 20)).loan_number
        services.lend_book(self.grace, self.sicp, today=date(2024, 3, 20))  # not due yet

        rows = reports.overdue_loans(today=date(2024, 3, 20))

        self.assertEqual([r.loan_number for r in rows], [older, recent])
        self.assertEqual(rows[0], (older, "grace@example.com", "TAOCP 1", date(2024, 3, 5), 15))

    def test_returned_loans_are_not_overdue(self):
        loan_number = services.lend_book(self.ada, self.sicp, today=date(2024, 1, 1)).loan_number
        services.return_book(loan_number)
        self.assertEqual(reports.overdue_loans(today=date(2024, 3, 20)), [])

    def test_purge_deletes_only_loans_returned_before_the_cutoff(self):
        old = services.lend_book(self.ada, self.sicp, today=date(2023, 1, 1)).loan_number
        services.return_book(old, when=datetime(2023, 1, 10, tzinfo=timezone.utc))
        recent = services.lend_book(self.ada, self.taocp, today=date(2024, 1, 1)).loan_number
        services.return_book(recent, when=datetime(2024, 1, 10, tzinfo=timezone.utc))
        services.lend_book(self.grace, self.sicp, today=date(2022, 1, 1))  # never returned

        self.assertEqual(reports.purge_returned_loans(datetime(2024, 1, 1, tzinfo=timezone.utc)), 1)
        self.assertEqual(reports.purge_returned_loans(datetime(2024, 1, 1, tzinfo=timezone.utc)), 0)
        self.assertEqual(repository.available_copies(self.sicp), 4)


class SchemaTests(DatabaseTestCase):
    def test_models_match_the_migrations(self):
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        self.assertEqual(differences, [])
