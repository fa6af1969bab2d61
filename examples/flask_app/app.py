"""A small Flask application over the inventory models, with a plain SQLAlchemy session factory.

``create_app(session_factory)`` keeps the factory on the app
(``app.config["SESSION_FACTORY"]``); ``db_session()`` opens one session per request
(per application context) on first use, and the app closes it when the request ends.
Production passes nothing and gets a factory built from ``INVENTORY_DATABASE_URL``;
the tests pass the test case's ``self.sessionmaker``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, current_app, g, request
from sqlalchemy import create_engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from examples.inventory.models import Supplier

SessionFactory = Callable[[], Session]

bp = Blueprint("suppliers", __name__)


def create_app(session_factory: SessionFactory | None = None) -> Flask:
    app = Flask(__name__)
    if session_factory is None:
        url = os.environ.get("INVENTORY_DATABASE_URL", "postgresql+psycopg://localhost/inventory")
        session_factory = sessionmaker(create_engine(url))
    app.config["SESSION_FACTORY"] = session_factory
    app.teardown_appcontext(_close_db_session)
    app.register_blueprint(bp)
    return app


def db_session() -> Session:
    """The current request's session, made on first use."""
    if "db_session" not in g:
        g.db_session = current_app.config["SESSION_FACTORY"]()
    session: Session = g.db_session
    return session


def _close_db_session(exc: BaseException | None) -> None:
    # Closing rolls back whatever the request did not commit.
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def _as_json(supplier: Supplier) -> dict[str, Any]:
    return {"id": supplier.id, "name": supplier.name}


@bp.post("/suppliers")
def create_supplier() -> Any:
    """Create a supplier and commit (``?dry_run=1``: check it, and commit nothing)."""
    name = (request.get_json(silent=True) or {}).get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        return {"error": "name: a string of 1 to 100 characters is required"}, 400
    session = db_session()
    supplier = Supplier(name=name)
    session.add(supplier)
    try:
        if request.args.get("dry_run") == "1":
            session.flush()  # the checks run and an id is given; closing the session undoes it
        else:
            session.commit()
    except IntegrityError:
        session.rollback()
        return {"error": f"a supplier named {name!r} exists"}, 409
    return _as_json(supplier), 201


@bp.get("/suppliers")
def list_suppliers() -> Any:
    """Every supplier, by name."""
    return [_as_json(s) for s in db_session().scalars(select(Supplier).order_by(Supplier.name))]


@bp.get("/suppliers/<int:supplier_id>")
def get_supplier(supplier_id: int) -> Any:
    """One supplier; 404 if there is none with this id."""
    supplier = db_session().get(Supplier, supplier_id)
    if supplier is None:
        return {"error": f"no supplier with id {supplier_id}"}, 404
    return _as_json(supplier)
