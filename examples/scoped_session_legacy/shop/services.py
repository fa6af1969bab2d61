"""The application's code: nothing is handed a session; everything reaches for ``shop.db``.

SQLAlchemy 1.x idioms throughout: ``Model.query``, ``Query.get``, connectionless
``engine.execute`` (which autocommits its DML), and psycopg2's ``execute_values`` on the DBAPI
cursor for a bulk import.
"""

import threading
from decimal import Decimal

from psycopg2.extras import execute_values
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from .db import Session, engine
from .models import Order, OrderLine, Product


class OutOfStock(Exception):
    pass


def import_catalogue(rows):
    """Bulk-load (sku, name, price, stock) rows with psycopg2's execute_values."""
    with engine.begin() as connection:
        cursor = connection.connection.cursor()
        execute_values(cursor, "INSERT INTO products (sku, name, price, stock) VALUES %s", rows)
        return cursor.rowcount


def find_product(sku):
    return Product.query.filter_by(sku=sku).first()


def product(product_id):
    return Session.query(Product).get(product_id)


def place_order(customer, items):
    """items: [(sku, quantity)]. Commits the order, or raises OutOfStock and commits nothing."""
    session = Session()
    order = Order(customer=customer)
    for sku, quantity in items:
        item = find_product(sku)
        item.stock -= quantity
        order.lines.append(OrderLine(product=item, quantity=quantity, price=item.price))
    session.add(order)
    try:
        session.commit()
    except IntegrityError:  # the stock_not_negative check
        session.rollback()
        raise OutOfStock(customer) from None
    return order


def restock_all(amount):
    """A maintenance job: connectionless execution, autocommitted by SQLAlchemy 1.x."""
    return engine.execute(text("UPDATE products SET stock = stock + :amount"), amount=amount).rowcount


def revenue():
    total = engine.execute(text("SELECT coalesce(sum(price * quantity), 0) FROM order_lines")).scalar()
    return Decimal(total)


def handle_request(handler, *args):
    """What the web layer does around each request: the thread's session is removed at the end."""
    try:
        return handler(*args)
    finally:
        Session.remove()


def in_worker_thread(handler, *args):
    """Run a handler in a thread of its own (its own scoped session), and wait for it."""
    result = {}

    def run():
        try:
            result["value"] = handle_request(handler, *args)
        except Exception as error:
            result["error"] = error

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if "error" in result:
        raise result["error"]
    return result["value"]
