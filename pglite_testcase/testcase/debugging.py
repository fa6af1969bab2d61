"""The debug connection: ``psql`` on the database of a test paused at a breakpoint.

With ``debug_connection = True`` on a class (or ``PGLITE_TESTCASE_DEBUG=1``), the class publishes
``debug_url``, a libpq URL, and prints once a ready ``psql`` command line on stderr:

- on PGlite, with ``isolation = "transaction"``: the URL of a debug connection, which joins the
  running test's transaction (the server shares PGlite's one session with it, node/lib/debug.js):
  it sees the test's uncommitted rows, and its COMMIT and ROLLBACK are refused;
- on PGlite, with ``isolation = "truncate"``: the database's own URL, since the tests commit;
- on a real server: the test database's own URL, and that a test's uncommitted rows cannot be
  seen from another connection there.
"""

from __future__ import annotations

import shlex
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..database.pglite import TestDatabase


def debug_url(database: TestDatabase, isolation: str) -> str:
    """The ``debug_url`` of a class with a debug connection, given its ``isolation``."""
    if isolation == "transaction":
        joining = database.debug_libpq_url()
        if joining is not None:
            return joining
    return database.libpq_url()


def announcement(owner: type, database: TestDatabase, isolation: str, url: str) -> str:
    """What is printed for the class: the psql command line, and what that connection sees."""
    name = f"{owner.__module__}.{owner.__qualname__}"
    command = f"    psql {shlex.quote(url)}\n"
    if database.debug_libpq_url() is None:
        seen = (
            "The tests commit (isolation = 'truncate'), so it sees what they wrote.\n"
            if isolation == "truncate"
            else "A test's uncommitted rows are not visible from another connection on a real server, and\n"
            "a statement on rows the test has written may wait for the test's transaction to end.\n"
        )
        where = f"pglite_testcase: {name} runs on a real PostgreSQL server; its test database (self.debug_url):\n"
        return f"{where}{command}{seen}"
    if isolation == "truncate":
        return (
            f"pglite_testcase: {name} (isolation = 'truncate'): the tests commit, so an ordinary\n"
            f"connection sees their rows (self.debug_url):\n{command}"
            f"While a test holds a transaction open, that connection waits for it (PGlite serves one session).\n"
        )
    return (
        f"pglite_testcase: debug connection for {name} (self.debug_url).\n"
        f"At a breakpoint in one of its tests, run in another terminal:\n{command}"
        f"It joins the running test's transaction: it sees the test's uncommitted rows (what the session\n"
        f"has flushed), and its COMMIT and ROLLBACK are refused. Between tests it sees the class's data.\n"
    )


def announce(owner: type, database: TestDatabase, isolation: str, url: str) -> None:
    """Print the class's debug connection on stderr."""
    sys.stderr.write(announcement(owner, database, isolation, url))
    sys.stderr.flush()


__all__ = ["announce", "announcement", "debug_url"]
