"""Tests of the asyncio inventory repository, on PGlite, each in a rolled-back transaction.

``AsyncRepositoryTests`` builds the schema with the sync example's Alembic
migrations and talks to PGlite through psycopg's async mode;
``AsyncpgRepositoryTests`` uses ``Base.metadata.create_all`` and asyncpg.
The checks in ``AsyncRepositoryChecks`` run against both.
"""

from __future__ import annotations

import unittest
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError

from examples.inventory.models import Base, Product, StockMovement, Supplier
from examples.inventory_async.repository import (
    add_product,
    add_supplier,
    get_product,
    products_below,
    raise_prices,
    receive_delivery,
    record_movement,
    stock_level,
)
from pglite_testcase import AsyncPGliteTestCase

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "inventory" / "alembic.ini"

# The shared checks are a plain mixin at run time, so discovery does not collect them on their own.
if TYPE_CHECKING:
    _ChecksBase = AsyncPGliteTestCase
else:
    _ChecksBase = object


class AsyncRepositoryChecks(_ChecksBase):
    """Checks shared by both drivers and schema sources."""

    reset_sequences = True
    overflow_error: type[DBAPIError] = DataError

    async def seed(self) -> Supplier:
        """Supplier Acme with two products, BOLT-10 at 0.25 and NUT-10 at 0.10."""
        acme = await add_supplier(self.session, "Acme")
        await add_product(self.session, acme, "BOLT-10", "Hex bolt M10", Decimal("0.25"))
        await add_product(self.session, acme, "NUT-10", "Hex nut M10", Decimal("0.10"))
        return acme

    async def price_of(self, sku: str) -> Decimal | None:
        return await self.session.scalar(select(Product.price).where(Product.sku == sku))

    async def count(self, model: type[Base]) -> int | None:
        return await self.session.scalar(select(func.count()).select_from(model))

    async def test_isolation_first_test_starts_empty(self) -> None:
        self.assertEqual(await self.count(Supplier), 0)
        self.assertEqual((await add_supplier(self.session, "First")).id, 1)

    async def test_isolation_second_test_starts_empty(self) -> None:
        self.assertEqual(await self.count(Supplier), 0)
        self.assertEqual((await add_supplier(self.session, "Second")).id, 1)

    async def test_committed_product_is_seen_by_another_session(self) -> None:
        await self.seed()
        async with self.sessionmaker() as other:
            product = await get_product(other, "BOLT-10")
            self.assertEqual(product.price, Decimal("0.25"))
            self.assertEqual(product.supplier.name, "Acme")

    async def test_duplicate_sku_is_refused_and_session_carries_on(self) -> None:
        acme = await self.seed()
        with self.assertRaises(IntegrityError):
            await add_product(self.session, acme, "BOLT-10", "Another bolt", Decimal("0.30"))
        await self.session.rollback()

        await add_product(self.session, acme, "BOLT-12", "Hex bolt M12", Decimal("0.35"))
        skus = (await self.session.scalars(select(Product.sku).order_by(Product.sku))).all()
        self.assertEqual(skus, ["BOLT-10", "BOLT-12", "NUT-10"])
        self.assertEqual(await self.price_of("BOLT-10"), Decimal("0.25"))

    async def test_stock_level_sums_movements(self) -> None:
        await self.seed()
        await record_movement(self.session, "BOLT-10", 100)
        await record_movement(self.session, "BOLT-10", -30)
        await record_movement(self.session, "NUT-10", 5)
        self.assertEqual(await stock_level(self.session, "BOLT-10"), 70)
        self.assertEqual(await stock_level(self.session, "NUT-10"), 5)

    async def test_raise_prices_through_engine(self) -> None:
        await self.seed()
        self.assertEqual(await raise_prices(self.engine, 10), 2)
        self.assertEqual(await self.price_of("BOLT-10"), Decimal("0.28"))
        self.assertEqual(await self.price_of("NUT-10"), Decimal("0.11"))

    async def test_failed_price_update_changes_nothing(self) -> None:
        acme = await self.seed()
        await add_product(self.session, acme, "LATHE-1", "Lathe", Decimal("99999999.99"))
        with self.assertRaises(self.overflow_error):
            await raise_prices(self.engine, 100)
        self.assertEqual(await self.price_of("BOLT-10"), Decimal("0.25"))
        self.assertEqual(await self.price_of("LATHE-1"), Decimal("99999999.99"))

    async def test_receive_delivery_books_every_line(self) -> None:
        await self.seed()
        received = await receive_delivery(self.sessionmaker, "Acme", {"BOLT-10": 200, "NUT-10": 150})
        self.assertEqual(received, 350)
        self.assertEqual(await stock_level(self.session, "BOLT-10"), 200)
        self.assertEqual(await stock_level(self.session, "NUT-10"), 150)


class AsyncRepositoryTests(AsyncRepositoryChecks, AsyncPGliteTestCase):
    alembic_config = str(ALEMBIC_INI)

    async def test_migrations_at_head_match_the_models(self) -> None:
        self.assertEqual(await self.connection.scalar(text("SELECT version_num FROM alembic_version")), "0003")

        def compare(connection: Connection) -> list[object]:
            return compare_metadata(MigrationContext.configure(connection), Base.metadata)

        self.assertEqual(await self.connection.run_sync(compare), [])

    async def test_reading_attributes_after_a_commit(self) -> None:
        """A commit expires loaded objects; refresh them, or use a session that does not expire them."""
        await self.seed()
        product = await get_product(self.session, "NUT-10")
        product.price = Decimal("0.12")
        await self.session.commit()
        # Reading an expired attribute would need a lazy load: MissingGreenlet (wrapped, with psycopg).
        with self.assertRaisesRegex(SQLAlchemyError, "greenlet_spawn has not been called"):
            product.price  # noqa: B018
        await self.session.refresh(product)
        self.assertEqual(product.price, Decimal("0.12"))

        async with self.sessionmaker(expire_on_commit=False) as other:
            product = await get_product(other, "BOLT-10")
            product.price = Decimal("0.27")
            await other.commit()
            self.assertEqual(product.price, Decimal("0.27"))
            self.assertEqual(product.supplier.name, "Acme")
        self.assertEqual(await self.price_of("BOLT-10"), Decimal("0.27"))

    async def test_shipping_more_than_in_stock_is_refused(self) -> None:
        await self.seed()
        await record_movement(self.session, "NUT-10", 10)
        with self.assertRaisesRegex(ValueError, "only 10 in stock"):
            await record_movement(self.session, "NUT-10", -11)
        self.assertEqual(await stock_level(self.session, "NUT-10"), 10)
        self.assertEqual(await self.count(StockMovement), 1)

    async def test_unknown_sku_raises_lookup_error(self) -> None:
        await self.seed()
        with self.assertRaises(LookupError):
            await record_movement(self.session, "NOPE", 1)
        with self.assertRaises(LookupError):
            await stock_level(self.session, "NOPE")

    async def test_products_below_threshold_come_with_their_supplier(self) -> None:
        acme = await self.seed()
        await add_product(self.session, acme, "WASHER-10", "Washer M10", Decimal("0.05"))
        await record_movement(self.session, "BOLT-10", 50)
        await record_movement(self.session, "NUT-10", 8)
        low = await products_below(self.session, 10)
        self.assertEqual([(p.sku, p.supplier.name) for p in low], [("NUT-10", "Acme"), ("WASHER-10", "Acme")])

    async def test_raise_prices_of_one_supplier(self) -> None:
        await self.seed()
        globex = await add_supplier(self.session, "Globex")
        await add_product(self.session, globex, "GEAR-1", "Spur gear", Decimal("12.00"))
        self.assertEqual(await raise_prices(self.engine, Decimal("12.5"), supplier_name="Globex"), 1)
        self.assertEqual(await self.price_of("GEAR-1"), Decimal("13.50"))
        self.assertEqual(await self.price_of("BOLT-10"), Decimal("0.25"))

    async def test_receive_delivery_books_nothing_when_a_line_is_wrong(self) -> None:
        await self.seed()
        globex = await add_supplier(self.session, "Globex")
        await add_product(self.session, globex, "GEAR-1", "Spur gear", Decimal("12.00"))
        with self.assertRaisesRegex(LookupError, "not a product of 'Acme'"):
            await receive_delivery(self.sessionmaker, "Acme", {"BOLT-10": 200, "GEAR-1": 5})
        self.assertEqual(await stock_level(self.session, "BOLT-10"), 0)
        self.assertEqual(await self.count(StockMovement), 0)


class AsyncpgRepositoryTests(AsyncRepositoryChecks, AsyncPGliteTestCase):
    metadata = Base
    async_driver = "asyncpg"
    # SQLAlchemy's asyncpg dialect reports a numeric overflow as a plain DBAPIError, not DataError.
    overflow_error = DBAPIError


if __name__ == "__main__":
    unittest.main()
