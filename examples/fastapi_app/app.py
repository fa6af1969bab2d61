"""A small FastAPI application over the inventory models: create, list and fetch suppliers.

The database is reached only through the ``get_db`` dependency, which yields a
``Session`` from the application's own session factory. Tests replace that one
dependency (``app.dependency_overrides[get_db]``) and everything else runs as in
production, commits included.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import create_engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from examples.inventory.models import Supplier

DATABASE_URL = os.environ.get("INVENTORY_DATABASE_URL", "postgresql+psycopg://localhost/inventory")

# create_engine does not connect: nothing reaches this database until a request
# opens a session through get_db (and in the tests, get_db is replaced).
engine = create_engine(DATABASE_URL)
SessionLocal = sessionmaker(engine)


def get_db() -> Iterator[Session]:
    """One session per request, closed when the request ends."""
    with SessionLocal() as session:
        yield session


DbSession = Annotated[Session, Depends(get_db)]


class SupplierIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class SupplierOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str


app = FastAPI(title="Inventory")


@app.post("/suppliers", status_code=status.HTTP_201_CREATED)
def create_supplier(body: SupplierIn, db: DbSession) -> SupplierOut:
    """Create a supplier and commit; 409 if the name is taken."""
    supplier = Supplier(name=body.name)
    db.add(supplier)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, f"a supplier named {body.name!r} exists") from None
    return SupplierOut.model_validate(supplier)


@app.get("/suppliers")
def list_suppliers(db: DbSession) -> list[SupplierOut]:
    """Every supplier, by name."""
    return [SupplierOut.model_validate(s) for s in db.scalars(select(Supplier).order_by(Supplier.name))]


@app.get("/suppliers/{supplier_id}")
def get_supplier(supplier_id: int, db: DbSession) -> SupplierOut:
    """One supplier; 404 if there is none with this id."""
    supplier = db.get(Supplier, supplier_id)
    if supplier is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no supplier with id {supplier_id}")
    return SupplierOut.model_validate(supplier)
