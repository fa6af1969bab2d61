"""The real PostgreSQL server some rows run on, named by a SQLAlchemy URL."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool


def libpq_parameters(url: str) -> dict[str, str]:
    """host, port, user, password and dbname of ``url``, as libpq (and pytest-postgresql) take them."""
    parsed = make_url(url)
    host = parsed.host or parsed.query.get("host") or "localhost"
    parameters = {
        "host": host if isinstance(host, str) else host[0],
        "port": str(parsed.port or parsed.query.get("port") or 5432),
        "user": parsed.username or "postgres",
        "dbname": parsed.database or "postgres",
    }
    if parsed.password is not None:
        parameters["password"] = str(parsed.password)
    return parameters


def server_version(url: str) -> str:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return str(connection.scalar(text("SHOW server_version")))
    finally:
        engine.dispose()
