"""Supplier bookkeeping written for dependency injection, with no framework.

Nothing here creates an engine or a session on its own: each piece receives what it
needs from its caller, in the three shapes application code usually asks for:

- ``SupplierDirectory`` takes a ``Session`` (constructor injection) and commits its work;
- ``supplier_count`` and ``remove_suppliers_without_products`` take an ``Engine``;
- ``import_suppliers`` takes a session factory and does its work as one unit.

``Services`` is the composition root: production builds it from a URL
(``Services.from_url``), tests build it from the test case's objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, create_engine, delete, exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from examples.inventory.models import Product, Supplier

SessionFactory = Callable[[], Session]


class SupplierDirectory:
    """Suppliers by name, on the session it is given. Each change is committed."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def register(self, name: str) -> Supplier:
        """Add a supplier and commit; ``IntegrityError`` (after a rollback) if the name is taken."""
        supplier = Supplier(name=name)
        self.session.add(supplier)
        try:
            self.session.commit()
        except Exception:
            self.session.rollback()
            raise
        return supplier

    def rename(self, old: str, new: str) -> Supplier:
        """Rename a supplier and commit; ``LookupError`` if there is none called ``old``."""
        supplier = self.session.scalars(select(Supplier).where(Supplier.name == old)).one_or_none()
        if supplier is None:
            raise LookupError(f"no supplier named {old!r}")
        supplier.name = new
        self.session.commit()
        return supplier

    def names(self) -> list[str]:
        return list(self.session.scalars(select(Supplier.name).order_by(Supplier.name)))


def supplier_count(engine: Engine) -> int:
    """How many suppliers there are (a read on a connection of the engine's)."""
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(Supplier)) or 0


def remove_suppliers_without_products(engine: Engine) -> list[str]:
    """Delete the suppliers that have no product, in one transaction; returns their names."""
    has_products = exists().where(Product.supplier_id == Supplier.id)
    with engine.begin() as conn:
        removed = conn.scalars(delete(Supplier).where(~has_products).returning(Supplier.name))
        return sorted(removed)


def import_suppliers(session_factory: SessionFactory, names: Iterable[str]) -> int:
    """Add the suppliers not there yet, all or nothing; returns how many were added.

    A blank name refuses the whole import with ``ValueError``: nothing is added.
    """
    with session_factory() as session, session.begin():
        existing = set(session.scalars(select(Supplier.name)))
        added = 0
        for name in names:
            if not name.strip():
                raise ValueError("a supplier needs a non-blank name")
            if name not in existing:
                session.add(Supplier(name=name))
                existing.add(name)
                added += 1
        return added


@dataclass(frozen=True)
class Services:
    """What the application's code is wired with."""

    engine: Engine
    session_factory: sessionmaker[Session]

    @classmethod
    def from_url(cls, url: str) -> Services:
        engine = create_engine(url)
        return cls(engine=engine, session_factory=sessionmaker(engine))

    def directory(self) -> SupplierDirectory:
        """A directory on a new session (the caller closes ``directory.session``)."""
        return SupplierDirectory(self.session_factory())

    def tidy_up(self) -> list[str]:
        return remove_suppliers_without_products(self.engine)
