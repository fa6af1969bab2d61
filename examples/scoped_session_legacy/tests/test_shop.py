from decimal import Decimal

import psycopg2
import sqlalchemy

from shop import services
from shop.db import Session, engine
from shop.models import Order, Product

from .base import DatabaseTestCase

CATALOGUE = [
    ("BK-1", "Dune", Decimal("9.99"), 3),
    ("BK-2", "Emma", Decimal("4.50"), 1),
    ("BK-3", "Ulysses", Decimal("12.00"), 0),
]


class StackTests(DatabaseTestCase):
    def test_the_driver_is_psycopg2(self):
        self.assertIsInstance(self.connection.connection.dbapi_connection, psycopg2.extensions.connection)


class CatalogueTests(DatabaseTestCase):
    def setUp(self):
        super().setUp()
        self.assertEqual(services.import_catalogue(CATALOGUE), 3)

    def test_find_product(self):
        self.assertEqual(services.find_product("BK-1").name, "Dune")
        self.assertIsNone(services.find_product("BK-9"))

    def test_query_get(self):
        dune = services.find_product("BK-1")
        Session.remove()
        self.assertEqual(services.product(dune.id).sku, "BK-1")

    def test_restock_is_autocommitted(self):
        self.assertEqual(services.restock_all(2), 3)
        self.assertEqual([p.stock for p in Product.query.order_by(Product.sku)], [5, 3, 2])

    def test_each_test_starts_from_setup_alone(self):
        self.assertEqual(Product.query.count(), 3)
        self.assertEqual(Order.query.count(), 0)


class OrderTests(DatabaseTestCase):
    def setUp(self):
        super().setUp()
        services.import_catalogue(CATALOGUE)

    def test_order_is_committed_and_stock_taken(self):
        order_id = services.handle_request(lambda: services.place_order("ada", [("BK-1", 2), ("BK-2", 1)]).id)
        self.assertFalse(Session.registry.has())  # the request's session was removed
        self.assertEqual(Order.query.get(order_id).total, Decimal("24.48"))
        self.assertEqual(services.find_product("BK-1").stock, 1)
        self.assertEqual(services.revenue(), Decimal("24.48"))

    def test_out_of_stock_commits_nothing(self):
        with self.assertRaises(services.OutOfStock):
            services.handle_request(services.place_order, "ada", [("BK-1", 1), ("BK-3", 1)])
        self.assertEqual(Order.query.count(), 0)
        self.assertEqual(services.find_product("BK-1").stock, 3)

    def test_order_placed_in_a_worker_thread(self):
        services.in_worker_thread(services.place_order, "grace", [("BK-2", 1)])
        self.assertEqual(services.find_product("BK-2").stock, 0)
        self.assertEqual(Order.query.one().customer, "grace")

    def test_the_test_sees_what_the_application_committed(self):
        services.handle_request(services.place_order, "ada", [("BK-1", 1)])
        with engine.connect() as connection:
            self.assertEqual(connection.scalar(sqlalchemy.text("SELECT count(*) FROM order_lines")), 1)
        self.assertEqual(self.session.query(Order).count(), 1)
