"""Bulk loading through plain psycopg on the database a test class gets: executemany and COPY.

Run by the benchmark as ``python -m bench.bulk_probe ROWS``; the database is the one a
``PGliteTestCase`` class gets here (PGlite, or the server ``PGLITE_TESTCASE_DATABASE_URL``
names). Prints ``KEY value`` lines (seconds).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import psycopg
from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.engine import make_url

from pglite_testcase import PGliteTestCase

metadata = MetaData()
Table("bulk", metadata, Column("id", Integer, primary_key=True), Column("name", String), Column("n", Integer))


class Bulk(PGliteTestCase):
    metadata = metadata


def libpq_url(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


def timed_loads(connection: psycopg.Connection[Any], rows: list[tuple[str, int]]) -> None:
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.executemany("INSERT INTO bulk (name, n) VALUES (%s, %s)", rows)
        connection.commit()
        print("executemany", time.perf_counter() - started)
        cursor.execute("TRUNCATE bulk")
        connection.commit()
        started = time.perf_counter()
        with cursor.copy("COPY bulk (name, n) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        connection.commit()
        print("copy", time.perf_counter() - started)
        cursor.execute("TRUNCATE bulk")
        connection.commit()


def main() -> None:
    rows = [(f"name {n}", n) for n in range(int(sys.argv[1]))]
    # The schema built, then the class's transaction ended again: on PGlite a connection inside a
    # transaction holds the one session, and the probe's own connection would wait for it.
    Bulk.setUpClass()
    url, connect_args = libpq_url(Bulk.database_url), dict(Bulk.connect_args)
    Bulk.tearDownClass()
    with psycopg.connect(url, **connect_args) as connection:
        timed_loads(connection, rows)


if __name__ == "__main__":
    main()
