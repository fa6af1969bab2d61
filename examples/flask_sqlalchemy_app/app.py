"""A small Flask-SQLAlchemy (3.x) application over the inventory models.

The models are the plain SQLAlchemy 2.x declarative models of ``examples.inventory``,
not ``db.Model`` subclasses: ``db.session`` works with any mapped class, and uses the
app's default engine (``SQLALCHEMY_DATABASE_URI``) for them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from examples.inventory.models import Supplier

db = SQLAlchemy()

bp = Blueprint("suppliers", __name__)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ.get(
        "INVENTORY_DATABASE_URL", "postgresql+psycopg://localhost/inventory"
    )
    app.config.update(config or {})
    db.init_app(app)
    app.register_blueprint(bp)
    app.register_error_handler(HTTPException, _http_error_as_json)
    return app


def _http_error_as_json(error: HTTPException) -> Any:
    return {"error": error.description}, error.code


def _as_json(supplier: Supplier) -> dict[str, Any]:
    return {"id": supplier.id, "name": supplier.name}


@bp.post("/suppliers")
def create_supplier() -> Any:
    """Create a supplier and commit; 409 if the name is taken."""
    name = (request.get_json(silent=True) or {}).get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        return {"error": "name: a string of 1 to 100 characters is required"}, 400
    supplier = Supplier(name=name)
    db.session.add(supplier)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return {"error": f"a supplier named {name!r} exists"}, 409
    return _as_json(supplier), 201


@bp.get("/suppliers")
def list_suppliers() -> Any:
    """Every supplier, by name."""
    return [_as_json(s) for s in db.session.scalars(select(Supplier).order_by(Supplier.name))]


@bp.get("/suppliers/<int:supplier_id>")
def get_supplier(supplier_id: int) -> Any:
    """One supplier; 404 if there is none with this id."""
    return _as_json(db.get_or_404(Supplier, supplier_id, description=f"no supplier with id {supplier_id}"))
