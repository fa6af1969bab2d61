"""A fresh, empty database of its own, for work that must not share one (migration checks).

On PGlite: a new PGlite process started from the empty snapshot (about half a
second). On a real server (``PGLITE_TESTCASE_DATABASE_URL``): a new empty
database there. Either way it is stopped or dropped when the ``with`` block ends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import URL

from .database import PGliteDatabase, TestDatabase, use_tcp
from .server_database import SERVER_URL_ENV, create_empty_database, parse_server_url


@contextmanager
def fresh_database(server_url: URL | str | None = None) -> Iterator[TestDatabase]:
    """Yield an empty database nobody else uses; ``server_url`` (or the environment) picks a real server."""
    if server_url is None and os.environ.get(SERVER_URL_ENV):
        server_url = os.environ[SERVER_URL_ENV]
    database: TestDatabase
    if server_url is not None:
        database = create_empty_database(parse_server_url(server_url, "server_url"))
    else:
        database = PGliteDatabase.start(use_tcp=use_tcp())
    try:
        yield database
    finally:
        database.stop()
