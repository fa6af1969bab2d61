from datetime import date, timedelta

from sqlalchemy.orm import sessionmaker

from examples.legacy_globals import repository, services
from examples.legacy_globals.db import Session, engine
from examples.legacy_globals.models import Loan
from examples.legacy_globals.reports import event_log

from .base import DatabaseTestCase

TODAY = date(2024, 3, 1)


class LoanTests(DatabaseTestCase):
    def setUp(self):
        super().setUp()
        self.ada = repository.add_member("ada@example.com", "Ada").id
        self.grace = repository.add_member("grace@example.com", "Grace").id
        self.sicp = repository.add_book("9780262510875", "SICP", "Abelson", copies=2).id

    def test_loan_is_due_after_the_loan_period(self):
        loan = services.lend_book(self.ada, self.sicp, today=TODAY)
        self.assertEqual(loan.due_on, TODAY + timedelta(days=14))
        self.assertIsNone(loan.returned_at)
        self.assertIsNotNone(loan.borrowed_at)

    def test_loan_numbers_come_from_their_sequence(self):
        first = services.lend_book(self.ada, self.sicp, today=TODAY).loan_number
        second = services.lend_book(self.grace, self.sicp, today=TODAY).loan_number
        self.assertGreaterEqual(first, 1000)
        self.assertEqual(second, first + 1)

    def test_lending_takes_a_copy(self):
        self.assertEqual(repository.available_copies(self.sicp), 2)
        services.lend_book(self.ada, self.sicp, today=TODAY)
        self.assertEqual(repository.available_copies(self.sicp), 1)

    def test_last_copy_cannot_be_lent_twice(self):
        services.lend_book(self.ada, self.sicp, today=TODAY)
        services.lend_book(self.grace, self.sicp, today=TODAY)
        with self.assertRaises(services.NotAvailable):
            services.lend_book(self.grace, self.sicp, today=TODAY)

    def test_open_loans_are_limited(self):
        for n in range(3):
            book = repository.add_book(f"97800000000{n:02d}", f"Book {n}", "Anon").id
            services.lend_book(self.ada, book, today=TODAY)
        with self.assertRaises(services.TooManyLoans):
            services.lend_book(self.ada, self.sicp, today=TODAY)

    def test_return_is_committed_and_logged(self):
        loan_number = services.lend_book(self.ada, self.sicp, today=TODAY).loan_number
        services.return_book(loan_number)
        other = sessionmaker(bind=engine)()
        try:
            returned = other.query(Loan).filter_by(loan_number=loan_number).one()
            self.assertIsNotNone(returned.returned_at)
        finally:
            other.close()
        self.assertEqual(event_log(loan_number), [("returned", f"book {self.sicp}")])
        self.assertEqual(repository.available_copies(self.sicp), 2)

    def test_book_cannot_be_returned_twice(self):
        loan_number = services.lend_book(self.ada, self.sicp, today=TODAY).loan_number
        services.return_book(loan_number)
        with self.assertRaises(services.AlreadyReturned):
            services.return_book(loan_number)


class RenewRequestTests(DatabaseTestCase):
    def setUp(self):
        super().setUp()
        ada = repository.add_member("ada@example.com", "Ada").id
        sicp = repository.add_book("9780262510875", "SICP", "Abelson").id
        self.loan_number = services.lend_book(ada, sicp, today=TODAY).loan_number

    def test_renewal_moves_the_due_date_and_ends_the_session(self):
        status, body = services.renew_loan_request(self.loan_number, days=7)
        self.assertEqual((status, body), (200, {"loan_number": self.loan_number, "due_on": "2024-03-22"}))
        self.assertFalse(Session.registry.has())
        loan = Session().query(Loan).filter_by(loan_number=self.loan_number).one()
        self.assertEqual(loan.due_on, date(2024, 3, 22))

    def test_unknown_loan_is_404(self):
        status, _ = services.renew_loan_request(self.loan_number + 1, days=7)
        self.assertEqual(status, 404)

    def test_returned_loan_cannot_be_renewed(self):
        services.return_book(self.loan_number)
        status, body = services.renew_loan_request(self.loan_number, days=7)
        self.assertEqual(status, 409)
        self.assertIn("returned", body["error"])
