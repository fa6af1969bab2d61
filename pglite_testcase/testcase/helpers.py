"""Database helpers usable without pytest, from tests or set-up code.

Each takes a SQLAlchemy ``Connection`` (sync; in async code, call them with
``await connection.run_sync(helper)``). They look at every table of the
non-system schemas. Alembic's version table is left out unless asked for.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..isolation.sequences import reset_sequences

DEFAULT_EXCLUDE = ("alembic_version",)

_TABLES_SQL = """
SELECT quote_ident(table_schema) || '.' || quote_ident(table_name), table_schema, table_name
FROM information_schema.tables
WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema', 'pglite_testcase_truncate')
ORDER BY table_schema, table_name
"""


def _tables(connection: Connection, exclude: Iterable[str]) -> list[tuple[str, str]]:
    """(quoted qualified name, display name) of every user table not excluded (by name or schema.name)."""
    skipped = set(exclude)
    found = []
    for quoted, schema, name in connection.execute(text(_TABLES_SQL)):
        display = name if schema == "public" else f"{schema}.{name}"
        if name not in skipped and display not in skipped:
            found.append((quoted, display))
    return found


def row_counts(connection: Connection, exclude: Iterable[str] = DEFAULT_EXCLUDE) -> dict[str, int]:
    """Rows per table, e.g. ``{"authors": 2, "books": 0}``, in one query."""
    tables = _tables(connection, exclude)
    if not tables:
        return {}
    union = " UNION ALL ".join(
        f"SELECT {index} AS n, count(*) AS rows FROM {quoted}" for index, (quoted, _) in enumerate(tables)
    )
    counts: dict[int, int] = {int(n): int(rows) for n, rows in connection.execute(text(union)).all()}
    return {display: int(counts[index]) for index, (_, display) in enumerate(tables)}


def assert_database_empty(connection: Connection, exclude: Iterable[str] = DEFAULT_EXCLUDE) -> None:
    """Raise AssertionError naming every table that has rows."""
    filled = {table: rows for table, rows in row_counts(connection, exclude).items() if rows}
    if filled:
        listing = ", ".join(f"{table} ({rows} rows)" for table, rows in filled.items())
        raise AssertionError(f"the database is not empty: {listing}")


def delete_all_data(connection: Connection, exclude: Iterable[str] = DEFAULT_EXCLUDE) -> None:
    """Empty every table (one TRUNCATE ... RESTART IDENTITY CASCADE), keeping the schema."""
    tables = _tables(connection, exclude)
    if tables:
        connection.execute(text(f"TRUNCATE {', '.join(quoted for quoted, _ in tables)} RESTART IDENTITY CASCADE"))


def restart_sequences(connection: Connection) -> None:
    """Restart every sequence at its start value (sequences are not rolled back with transactions)."""
    reset_sequences(connection)


__all__ = ["assert_database_empty", "delete_all_data", "restart_sequences", "row_counts"]
