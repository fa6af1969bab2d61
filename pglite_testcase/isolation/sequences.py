"""Sequences, which a rollback does not undo: restarted, or put back where they stood."""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.engine import Connection

RESET_SEQUENCES_SQL = (
    "SELECT setval(quote_ident(schemaname) || '.' || quote_ident(sequencename), start_value, false) "
    "FROM pg_sequences WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
)


def reset_sequences(connection: Connection) -> None:
    """Restart every sequence (sequences are not rolled back with a transaction)."""
    connection.exec_driver_sql(RESET_SEQUENCES_SQL).close()


def sequence_positions(connection: Connection) -> list[tuple[str, int, bool]]:
    """Where every sequence stands now, for ``restore_sequences``."""
    rows = connection.exec_driver_sql(
        "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename), "
        "coalesce(last_value, start_value), last_value IS NOT NULL "
        "FROM pg_sequences WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    ).all()
    return [(str(name), int(value), bool(called)) for name, value, called in rows]


def restore_sequences(connection: Connection, positions: list[tuple[str, int, bool]]) -> None:
    """Put every sequence back where ``sequence_positions`` found it (one statement)."""
    if positions:
        connection.execute(
            text(
                "SELECT setval(name, value, called) FROM jsonb_to_recordset(CAST(:rows AS jsonb)) "
                "AS t(name text, value bigint, called boolean)"
            ),
            {"rows": json.dumps([{"name": n, "value": v, "called": c} for n, v, c in positions])},
        ).close()


__all__ = ["RESET_SEQUENCES_SQL", "reset_sequences", "restore_sequences", "sequence_positions"]
