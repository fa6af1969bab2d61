"""The PGlite server answers like PostgreSQL: each test here checks one difference found with
psycopg's own test suite, run against this package's server and (in the server pass) against a
real PostgreSQL, where the same assertions must hold."""

from __future__ import annotations

import psycopg

from .fidelity_support import FidelityTestCase

ROW = ("n1000", 1000)
INSERT_ROWS = "INSERT INTO rows (name, n) VALUES (%s::VARCHAR, %s::INTEGER)"


class BulkInsertsNeverHang(FidelityTestCase):
    """PGlite 0.3 drops the rest of a batch after a message that ends at byte 8192·k: these
    exact statements (a table named ``rows``: 128-byte messages) hung forever."""

    def setUp(self) -> None:
        self.conn = self.connect(prepare_threshold=None)
        self.conn.execute("DROP TABLE IF EXISTS rows")
        self.conn.execute("CREATE TABLE rows (name varchar(40), n int)")

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM rows").fetchone()[0])

    def test_executemany_of_1000_rows_into_rows(self) -> None:
        self.within(120, lambda: self.conn.cursor().executemany(INSERT_ROWS, [ROW] * 1000))
        self.assertEqual(self.count(), 1000)

    def test_pipeline_of_1000_inserts(self) -> None:
        def insert() -> None:
            with self.conn.pipeline():
                for _ in range(1000):
                    self.conn.execute(INSERT_ROWS, ROW)

        self.within(120, insert)
        self.assertEqual(self.count(), 1000)

    def test_executemany_of_100000_rows(self) -> None:
        self.within(600, lambda: self.conn.cursor().executemany(INSERT_ROWS, [ROW] * 100_000))
        self.assertEqual(self.count(), 100_000)

    def test_insert_returning_of_1000_rows_in_a_transaction(self) -> None:
        def insert() -> list[int]:
            with self.conn.transaction():
                cursor = self.conn.cursor()
                cursor.executemany("INSERT INTO rows (name, n) VALUES (%s, %s) RETURNING n", [ROW] * 1000, returning=True)
                values = []
                while True:
                    values.extend(row[0] for row in cursor.fetchall())
                    if not cursor.nextset():
                        return values

        self.assertEqual(self.within(120, insert), [1000] * 1000)
