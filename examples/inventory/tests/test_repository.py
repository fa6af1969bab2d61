"""Tests of the inventory repository, on PGlite, each in a rolled-back transaction.

``RepositoryTests`` builds the schema with the Alembic migrations,
``CreateAllRepositoryTests`` with ``Base.metadata.create_all``; the checks in
``RepositoryChecks`` run against both.
"""

from __future__ import annotations

import unittest
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.exc import DataError, IntegrityError

from examples.inventory.models import Base, Product, StockMovement, Supplier
from examples.inventory.repository import (
    add_product,
    add_supplier,
    products_below,
    raise_prices,
    receive_delivery,
    record_movement,
    stock_level,
)
from pglite_testcase import PGliteTestCase

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"

# The shared checks are a plain mixin at run time, so discovery does not collect them on their own.
if TYPE_CHECKING:
    _ChecksBase = PGliteTestCase
else:
    _ChecksBase = object


class RepositoryChecks(_ChecksBase):
    """Checks shared by both schema sources."""

    def seed(self) -> Supplier:
        """Supplier Acme with two products, BOLT-10 at 0.25 and NUT-10 at 0.10."""
        acme = add_supplier(self.session, "Acme")
        add_product(self.session, acme, "BOLT-10", "Hex bolt M10", Decimal("0.25"))
        add_product(self.session, acme, "NUT-10", "Hex nut M10", Decimal("0.10"))
        return acme

    def price_of(self, sku: str) -> Decimal | None:
        return self.session.scalar(select(Product.price).where(Product.sku == sku))

    def test_committed_product_is_seen_by_another_session(self) -> None:
        self.seed()
        with self.sessionmaker() as other:
            product = other.scalars(select(Product).where(Product.sku == "BOLT-10")).one()
            self.assertEqual(product.price, Decimal("0.25"))
            self.assertEqual(product.supplier.name, "Acme")

    def test_duplicate_sku_is_refused_and_session_carries_on(self) -> None:
        acme = self.seed()
        with self.assertRaises(IntegrityError):
            add_product(self.session, acme, "BOLT-10", "Another bolt", Decimal("0.30"))
        self.session.rollback()

        add_product(self.session, acme, "BOLT-12", "Hex bolt M12", Decimal("0.35"))
        skus = self.session.scalars(select(Product.sku).order_by(Product.sku)).all()
        self.assertEqual(skus, ["BOLT-10", "BOLT-12", "NUT-10"])
        self.assertEqual(self.price_of("BOLT-10"), Decimal("0.25"))

    def test_stock_level_sums_movements(self) -> None:
        self.seed()
        record_movement(self.session, "BOLT-10", 100)
        record_movement(self.session, "BOLT-10", -30)
        record_movement(self.session, "NUT-10", 5)
        self.assertEqual(stock_level(self.session, "BOLT-10"), 70)
        self.assertEqual(stock_level(self.session, "NUT-10"), 5)


class RepositoryTests(RepositoryChecks, PGliteTestCase):
    alembic_config = str(ALEMBIC_INI)
    reset_sequences = True

    def test_migrations_at_head_match_the_models(self) -> None:
        self.assertEqual(self.connection.scalar(text("SELECT version_num FROM alembic_version")), "0003")
        differences = compare_metadata(MigrationContext.configure(self.connection), Base.metadata)
        self.assertEqual(differences, [])

    def test_isolation_first_test_starts_empty(self) -> None:
        self.assertEqual(self.session.scalar(select(func.count()).select_from(Supplier)), 0)
        self.assertEqual(add_supplier(self.session, "First").id, 1)

    def test_isolation_second_test_starts_empty(self) -> None:
        self.assertEqual(self.session.scalar(select(func.count()).select_from(Supplier)), 0)
        self.assertEqual(add_supplier(self.session, "Second").id, 1)

    def test_shipping_more_than_in_stock_is_refused(self) -> None:
        self.seed()
        record_movement(self.session, "NUT-10", 10)
        with self.assertRaisesRegex(ValueError, "only 10 in stock"):
            record_movement(self.session, "NUT-10", -11)
        self.assertEqual(stock_level(self.session, "NUT-10"), 10)
        self.assertEqual(self.session.scalar(select(func.count()).select_from(StockMovement)), 1)

    def test_unknown_sku_raises_lookup_error(self) -> None:
        self.seed()
        with self.assertRaises(LookupError):
            record_movement(self.session, "NOPE", 1)
        with self.assertRaises(LookupError):
            stock_level(self.session, "NOPE")

    def test_products_below_threshold(self) -> None:
        acme = self.seed()
        add_product(self.session, acme, "WASHER-10", "Washer M10", Decimal("0.05"))
        record_movement(self.session, "BOLT-10", 50)
        record_movement(self.session, "NUT-10", 8)
        low = products_below(self.session, 10)
        self.assertEqual([p.sku for p in low], ["NUT-10", "WASHER-10"])

    def test_raise_prices_through_engine(self) -> None:
        self.seed()
        self.assertEqual(raise_prices(self.engine, 10), 2)
        self.assertEqual(self.price_of("BOLT-10"), Decimal("0.28"))
        self.assertEqual(self.price_of("NUT-10"), Decimal("0.11"))

    def test_raise_prices_of_one_supplier(self) -> None:
        self.seed()
        globex = add_supplier(self.session, "Globex")
        add_product(self.session, globex, "GEAR-1", "Spur gear", Decimal("12.00"))
        self.assertEqual(raise_prices(self.engine, Decimal("12.5"), supplier_name="Globex"), 1)
        self.assertEqual(self.price_of("GEAR-1"), Decimal("13.50"))
        self.assertEqual(self.price_of("BOLT-10"), Decimal("0.25"))

    def test_failed_price_update_changes_nothing(self) -> None:
        acme = self.seed()
        add_product(self.session, acme, "LATHE-1", "Lathe", Decimal("99999999.99"))
        with self.assertRaises(DataError):
            raise_prices(self.engine, 100)
        self.assertEqual(self.price_of("BOLT-10"), Decimal("0.25"))
        self.assertEqual(self.price_of("LATHE-1"), Decimal("99999999.99"))

    def test_receive_delivery_books_every_line(self) -> None:
        self.seed()
        received = receive_delivery(self.sessionmaker, "Acme", {"BOLT-10": 200, "NUT-10": 150})
        self.assertEqual(received, 350)
        self.assertEqual(stock_level(self.session, "BOLT-10"), 200)
        self.assertEqual(stock_level(self.session, "NUT-10"), 150)

    def test_receive_delivery_books_nothing_when_a_line_is_wrong(self) -> None:
        self.seed()
        globex = add_supplier(self.session, "Globex")
        add_product(self.session, globex, "GEAR-1", "Spur gear", Decimal("12.00"))
        with self.assertRaisesRegex(LookupError, "not a product of 'Acme'"):
            receive_delivery(self.sessionmaker, "Acme", {"BOLT-10": 200, "GEAR-1": 5})
        self.assertEqual(stock_level(self.session, "BOLT-10"), 0)
        self.assertEqual(self.session.scalar(select(func.count()).select_from(StockMovement)), 0)


class CreateAllRepositoryTests(RepositoryChecks, PGliteTestCase):
    metadata = Base

    def test_receive_delivery_books_every_line(self) -> None:
        self.seed()
        receive_delivery(self.sessionmaker, "Acme", {"NUT-10": 40})
        self.assertEqual(stock_level(self.session, "NUT-10"), 40)


if __name__ == "__main__":
    unittest.main()
