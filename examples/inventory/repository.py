"""Inventory operations, written the way older application code often is.

Most functions take a ``Session`` and commit it themselves; ``raise_prices``
takes an ``Engine`` and ``receive_delivery`` a session factory, because that
is what their callers have at hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from .models import Product, StockMovement, Supplier


def add_supplier(session: Session, name: str) -> Supplier:
    """Create a supplier and commit."""
    supplier = Supplier(name=name)
    session.add(supplier)
    session.commit()
    return supplier


def add_product(session: Session, supplier: Supplier, sku: str, name: str, price: Decimal) -> Product:
    """Create a product of ``supplier`` and commit. A duplicate ``sku`` raises ``IntegrityError``."""
    product = Product(supplier=supplier, sku=sku, name=name, price=price)
    session.add(product)
    session.commit()
    return product


def get_product(session: Session, sku: str, *, for_update: bool = False) -> Product:
    """The product with ``sku``; ``LookupError`` if there is none."""
    query = select(Product).where(Product.sku == sku)
    if for_update:
        query = query.with_for_update()
    product = session.scalars(query).one_or_none()
    if product is None:
        raise LookupError(f"no product with sku {sku!r}")
    return product


def stock_level(session: Session, sku: str) -> int:
    """Units in stock: the sum of the product's movements."""
    return _units(session, get_product(session, sku))


def _units(session: Session, product: Product) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(StockMovement.quantity), 0)).where(StockMovement.product_id == product.id)
    )
    return int(total or 0)


def record_movement(session: Session, sku: str, quantity: int) -> StockMovement:
    """Record ``quantity`` units received (positive) or shipped (negative), and commit.

    Refuses a zero quantity and a shipment larger than the stock, with ``ValueError``.
    """
    if quantity == 0:
        raise ValueError("a stock movement needs a non-zero quantity")
    product = get_product(session, sku, for_update=True)
    if quantity < 0:
        in_stock = _units(session, product)
        if in_stock + quantity < 0:
            session.rollback()
            raise ValueError(f"cannot ship {-quantity} of {sku!r}: only {in_stock} in stock")
    movement = StockMovement(product=product, quantity=quantity)
    session.add(movement)
    session.commit()
    return movement


def products_below(session: Session, threshold: int) -> list[Product]:
    """Products with fewer than ``threshold`` units in stock, by sku."""
    level = func.coalesce(func.sum(StockMovement.quantity), 0)
    query = (
        select(Product)
        .outerjoin(StockMovement, StockMovement.product_id == Product.id)
        .group_by(Product.id)
        .having(level < threshold)
        .order_by(Product.sku)
    )
    return list(session.scalars(query))


def raise_prices(engine: Engine, percent: Decimal | int, supplier_name: str | None = None) -> int:
    """Raise prices by ``percent`` (of one supplier, or all), rounded to cents. Returns the rows changed."""
    factor = (Decimal(100) + Decimal(percent)) / Decimal(100)
    if factor <= 0:
        raise ValueError(f"a change of {percent}% would make prices zero or negative")
    statement = update(Product).values(price=func.round(Product.price * factor, 2))
    if supplier_name is not None:
        statement = statement.where(
            Product.supplier_id == select(Supplier.id).where(Supplier.name == supplier_name).scalar_subquery()
        )
    with engine.begin() as conn:
        return conn.execute(statement).rowcount


def receive_delivery(factory: sessionmaker[Session], supplier_name: str, quantities: Mapping[str, int]) -> int:
    """Book a supplier's delivery as one unit of work; returns the units received.

    Every sku must be a product of that supplier and every quantity positive,
    or nothing is booked (``LookupError`` / ``ValueError``).
    """
    with factory() as s, s.begin():
        supplier = s.scalars(select(Supplier).where(Supplier.name == supplier_name)).one_or_none()
        if supplier is None:
            raise LookupError(f"no supplier named {supplier_name!r}")
        for sku, quantity in quantities.items():
            if quantity <= 0:
                raise ValueError(f"a delivery needs positive quantities, got {quantity} of {sku!r}")
            product = get_product(s, sku)
            if product.supplier_id != supplier.id:
                raise LookupError(f"{sku!r} is not a product of {supplier_name!r}")
            s.add(StockMovement(product=product, quantity=quantity))
        return sum(quantities.values())
