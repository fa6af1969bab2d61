"""Inventory operations for asyncio code, over the schema of ``examples.inventory``.

The same operations as ``examples.inventory.repository``, awaited: most take
an ``AsyncSession`` and commit it themselves; ``raise_prices`` takes an
``AsyncEngine`` and ``receive_delivery`` an ``async_sessionmaker``.

Under asyncio a lazy load raises ``MissingGreenlet``, so relationships are
loaded eagerly (``selectinload``) where they are read, and objects handed
back after a commit are refreshed first.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from examples.inventory.models import Product, StockMovement, Supplier


async def add_supplier(session: AsyncSession, name: str) -> Supplier:
    """Create a supplier and commit; the supplier comes back loaded."""
    supplier = Supplier(name=name)
    session.add(supplier)
    await session.commit()
    await session.refresh(supplier)
    return supplier


async def add_product(session: AsyncSession, supplier: Supplier, sku: str, name: str, price: Decimal) -> Product:
    """Create a product of ``supplier`` and commit. A duplicate ``sku`` raises ``IntegrityError``."""
    product = Product(supplier=supplier, sku=sku, name=name, price=price)
    session.add(product)
    await session.commit()
    await session.refresh(product)
    return product


async def get_product(session: AsyncSession, sku: str, *, for_update: bool = False) -> Product:
    """The product with ``sku``, its supplier loaded; ``LookupError`` if there is none."""
    query = select(Product).where(Product.sku == sku).options(selectinload(Product.supplier))
    if for_update:
        query = query.with_for_update()
    product = (await session.scalars(query)).one_or_none()
    if product is None:
        raise LookupError(f"no product with sku {sku!r}")
    return product


async def stock_level(session: AsyncSession, sku: str) -> int:
    """Units in stock: the sum of the product's movements."""
    return await _units(session, await get_product(session, sku))


async def _units(session: AsyncSession, product: Product) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(StockMovement.quantity), 0)).where(StockMovement.product_id == product.id)
    )
    return int(total or 0)


async def record_movement(session: AsyncSession, sku: str, quantity: int) -> StockMovement:
    """Record ``quantity`` units received (positive) or shipped (negative), and commit.

    Refuses a zero quantity and a shipment larger than the stock, with ``ValueError``.
    """
    if quantity == 0:
        raise ValueError("a stock movement needs a non-zero quantity")
    product = await get_product(session, sku, for_update=True)
    if quantity < 0:
        in_stock = await _units(session, product)
        if in_stock + quantity < 0:
            await session.rollback()
            raise ValueError(f"cannot ship {-quantity} of {sku!r}: only {in_stock} in stock")
    movement = StockMovement(product=product, quantity=quantity)
    session.add(movement)
    await session.commit()
    await session.refresh(movement)
    return movement


async def products_below(session: AsyncSession, threshold: int) -> list[Product]:
    """Products with fewer than ``threshold`` units in stock, by sku, their suppliers loaded."""
    level = func.coalesce(func.sum(StockMovement.quantity), 0)
    query = (
        select(Product)
        .outerjoin(StockMovement, StockMovement.product_id == Product.id)
        .group_by(Product.id)
        .having(level < threshold)
        .order_by(Product.sku)
        .options(selectinload(Product.supplier))
    )
    return list(await session.scalars(query))


async def raise_prices(engine: AsyncEngine, percent: Decimal | int, supplier_name: str | None = None) -> int:
    """Raise prices by ``percent`` (of one supplier, or all), rounded to cents. Returns the rows changed."""
    factor = (Decimal(100) + Decimal(percent)) / Decimal(100)
    if factor <= 0:
        raise ValueError(f"a change of {percent}% would make prices zero or negative")
    statement = update(Product).values(price=func.round(Product.price * factor, 2))
    if supplier_name is not None:
        statement = statement.where(
            Product.supplier_id == select(Supplier.id).where(Supplier.name == supplier_name).scalar_subquery()
        )
    async with engine.begin() as conn:
        return (await conn.execute(statement)).rowcount


async def receive_delivery(
    factory: async_sessionmaker[AsyncSession], supplier_name: str, quantities: Mapping[str, int]
) -> int:
    """Book a supplier's delivery as one unit of work; returns the units received.

    Every sku must be a product of that supplier and every quantity positive,
    or nothing is booked (``LookupError`` / ``ValueError``).
    """
    async with factory() as s, s.begin():
        supplier = (await s.scalars(select(Supplier).where(Supplier.name == supplier_name))).one_or_none()
        if supplier is None:
            raise LookupError(f"no supplier named {supplier_name!r}")
        for sku, quantity in quantities.items():
            if quantity <= 0:
                raise ValueError(f"a delivery needs positive quantities, got {quantity} of {sku!r}")
            product = await get_product(s, sku)
            if product.supplier_id != supplier.id:
                raise LookupError(f"{sku!r} is not a product of {supplier_name!r}")
            s.add(StockMovement(product=product, quantity=quantity))
        return sum(quantities.values())
