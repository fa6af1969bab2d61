"""The dependency-injection example, wired with the test case's objects.

Each shape of dependency gets its test-case counterpart, all joined to the test's
transaction and all rolled back when the test ends:

- a ``Session``           -> ``self.session``
- an ``Engine``           -> ``self.engine``
- a session factory       -> ``self.sessionmaker``

They see each other's commits, since they share that one transaction.
"""

from __future__ import annotations

import unittest
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from examples.dependency_injection.services import (
    Services,
    SupplierDirectory,
    import_suppliers,
    remove_suppliers_without_products,
    supplier_count,
)
from examples.inventory.models import Base, Product, Supplier
from pglite_testcase import PGliteTestCase


class InjectedSessionTests(PGliteTestCase):
    """``SupplierDirectory(self.session)``."""

    metadata = Base

    def test_register_commits(self) -> None:
        directory = SupplierDirectory(self.session)
        directory.register("Globex")
        directory.register("Acme")
        self.assertEqual(directory.names(), ["Acme", "Globex"])
        with self.sessionmaker() as other:  # committed: another session sees them
            self.assertEqual(other.scalar(select(func.count()).select_from(Supplier)), 2)

    def test_duplicate_is_refused_and_the_directory_carries_on(self) -> None:
        directory = SupplierDirectory(self.session)
        directory.register("Acme")
        with self.assertRaises(IntegrityError):
            directory.register("Acme")
        directory.register("Globex")
        self.assertEqual(directory.names(), ["Acme", "Globex"])

    def test_rename(self) -> None:
        directory = SupplierDirectory(self.session)
        directory.register("Acme")
        self.assertEqual(directory.rename("Acme", "Acme Corp").name, "Acme Corp")
        self.assertEqual(directory.names(), ["Acme Corp"])
        with self.assertRaises(LookupError):
            directory.rename("Acme", "Other")

    def test_starts_empty(self) -> None:
        self.assertEqual(SupplierDirectory(self.session).names(), [])


class InjectedEngineTests(PGliteTestCase):
    """``supplier_count(self.engine)``, ``remove_suppliers_without_products(self.engine)``."""

    metadata = Base

    def test_count_sees_what_the_session_committed(self) -> None:
        self.assertEqual(supplier_count(self.engine), 0)
        self.session.add_all([Supplier(name="Acme"), Supplier(name="Globex")])
        self.session.commit()
        self.assertEqual(supplier_count(self.engine), 2)

    def test_remove_suppliers_without_products(self) -> None:
        acme, globex, initech = Supplier(name="Acme"), Supplier(name="Globex"), Supplier(name="Initech")
        self.session.add_all([acme, globex, initech])
        self.session.add(Product(supplier=acme, sku="BOLT-10", name="Hex bolt M10", price=Decimal("0.25")))
        self.session.commit()

        self.assertEqual(remove_suppliers_without_products(self.engine), ["Globex", "Initech"])
        # The engine's transaction committed (a released savepoint): the session sees the deletes.
        self.assertEqual(self.session.scalars(select(Supplier.name)).all(), ["Acme"])
        self.assertEqual(remove_suppliers_without_products(self.engine), [])


class InjectedSessionFactoryTests(PGliteTestCase):
    """``import_suppliers(self.sessionmaker, ...)``."""

    metadata = Base

    def test_import_adds_the_missing_ones(self) -> None:
        SupplierDirectory(self.session).register("Acme")
        self.assertEqual(import_suppliers(self.sessionmaker, ["Acme", "Globex", "Initech", "Globex"]), 2)
        self.assertEqual(SupplierDirectory(self.session).names(), ["Acme", "Globex", "Initech"])

    def test_a_bad_name_imports_nothing(self) -> None:
        SupplierDirectory(self.session).register("Acme")
        with self.assertRaises(ValueError):
            import_suppliers(self.sessionmaker, ["Globex", "  ", "Initech"])
        # Only the import's own savepoint was rolled back: what the test committed stays.
        self.assertEqual(SupplierDirectory(self.session).names(), ["Acme"])


class ServicesTests(PGliteTestCase):
    """The composition root, wired with ``self.engine`` and ``self.sessionmaker``."""

    metadata = Base

    def setUp(self) -> None:
        super().setUp()
        self.services = Services(engine=self.engine, session_factory=self.sessionmaker)

    def test_everything_wired_shares_the_test_transaction(self) -> None:
        directory = self.services.directory()  # its session comes from self.sessionmaker
        acme = directory.register("Acme")
        directory.register("Globex")
        self.session.add(Product(supplier_id=acme.id, sku="NUT-10", name="Hex nut M10", price=Decimal("0.10")))
        self.session.commit()

        self.assertEqual(self.services.tidy_up(), ["Globex"])
        self.assertEqual(supplier_count(self.services.engine), 1)
        self.assertEqual(directory.names(), ["Acme"])

    def test_starts_empty(self) -> None:
        self.assertEqual(supplier_count(self.services.engine), 0)
        self.assertEqual(import_suppliers(self.services.session_factory, ["Acme"]), 1)


if __name__ == "__main__":
    unittest.main()
