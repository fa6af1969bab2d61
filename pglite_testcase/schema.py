"""Where a test class's schema comes from, and how it is built into a database.

A schema source has a ``fingerprint``: a digest of everything that decides
the resulting database (the DDL ``create_all`` would emit; the Alembic
scripts and target revision). Two classes with the same fingerprint share a
built schema without running DDL again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Connection, Engine, MetaData, create_mock_engine

from .errors import SchemaBuildError

if TYPE_CHECKING:  # Alembic is imported when a class uses it (it adds to every run's start-up otherwise)
    from alembic.config import Config


class SchemaSource(Protocol):
    @property
    def fingerprint(self) -> str:
        """A digest of everything that decides the built database."""

    def build(self, engine: Engine, url: str) -> None:
        """Create the schema in the empty database ``engine`` points at (``url`` as a string)."""

    def describe(self) -> str: ...


@dataclass(frozen=True)
class EmptySchema:
    fingerprint: str = "empty"

    def build(self, engine: Engine, url: str) -> None:
        return None

    def describe(self) -> str:
        return "an empty database"


def metadata_ddl(metadata: MetaData) -> str:
    """The DDL ``metadata.create_all`` emits for PostgreSQL, as text."""
    statements: list[str] = []

    def collect(sql: object, *multiparams: object, **params: object) -> None:
        statements.append(str(sql.compile(dialect=engine.dialect)))  # type: ignore[attr-defined]

    engine = create_mock_engine("postgresql+psycopg://", collect)
    metadata.create_all(engine, checkfirst=False)
    return ";\n".join(statements)


@dataclass(frozen=True)
class MetadataSchema:
    metadata: MetaData
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha256(metadata_ddl(self.metadata).encode()).hexdigest()[:24]
        object.__setattr__(self, "fingerprint", f"metadata-{digest}")

    def build(self, engine: Engine, url: str) -> None:
        with engine.begin() as connection:
            self.metadata.create_all(connection)

    def describe(self) -> str:
        return f"metadata.create_all of {len(self.metadata.tables)} tables"


def failed_revision(exc: BaseException) -> str | None:
    """The migration script an exception came from, read off its traceback.

    (Alembic's own "Running upgrade a -> b" log lines are not reliable for this:
    a typical env.py calls logging.config.fileConfig, which resets the loggers.)
    """
    found: str | None = None
    traceback = exc.__traceback__
    while traceback is not None:
        module_globals = traceback.tb_frame.f_globals
        if "revision" in module_globals and "down_revision" in module_globals:
            down = module_globals["down_revision"]
            found = (
                f"revision {module_globals['revision']!r} (down_revision {down!r}, "
                f"{Path(traceback.tb_frame.f_code.co_filename).name}, in {traceback.tb_frame.f_code.co_name}())"
            )
        traceback = traceback.tb_next
    return found


@contextmanager
def offered_connection(config: Config, url: str, connection: Connection) -> Iterator[None]:
    """Point Alembic's ``env.py`` at a database: ``sqlalchemy.url`` and ``attributes["connection"]``.

    The cookbook's connection-sharing recipe, plus the URL for an ``env.py``
    that connects on its own; both are restored afterwards.
    """
    previous_url = config.get_main_option("sqlalchemy.url")
    previous_connection = config.attributes.get("connection")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    try:
        yield
    finally:
        if previous_connection is None:
            config.attributes.pop("connection", None)
        else:
            config.attributes["connection"] = previous_connection
        if previous_url is None:
            config.remove_main_option("sqlalchemy.url")
        else:
            config.set_main_option("sqlalchemy.url", previous_url.replace("%", "%%"))


@dataclass(frozen=True)
class AlembicSchema:
    config: Config
    revision: str
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(self.config)
        digest = hashlib.sha256(self.revision.encode())
        # env.py and the rest of the script directory, and every version location,
        # which may lie outside it (version_locations in alembic.ini).
        roots = [Path(script.dir), *(Path(location) for location in script.version_locations or ())]
        for index, root in enumerate(roots):
            for path in sorted(root.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix in {".py", ".sql", ".mako"}:
                    digest.update(f"{index}:{path.relative_to(root)}".encode())
                    digest.update(path.read_bytes())
        object.__setattr__(self, "fingerprint", f"alembic-{digest.hexdigest()[:24]}")

    def build(self, engine: Engine, url: str) -> None:
        """``alembic upgrade <revision>`` through the project's own ``env.py``.

        ``sqlalchemy.url`` is set to the test database and an open connection
        is offered as ``config.attributes["connection"]`` (Alembic's cookbook
        recipe). The connection is left outside any transaction, so an
        ``env.py`` that ignores it and connects on its own is not blocked.
        """
        from alembic import command

        with engine.connect() as connection, offered_connection(self.config, url, connection):
            try:
                command.upgrade(self.config, self.revision)
                if connection.in_transaction():
                    connection.commit()
            except Exception as exc:
                revision = failed_revision(exc)
                step = f" in {revision}" if revision else ""
                raise SchemaBuildError(
                    f"Alembic upgrade to {self.revision!r} failed{step}: {type(exc).__name__}: {exc}"
                ) from exc

    def describe(self) -> str:
        return f"Alembic migrations in {self.config.get_main_option('script_location')} up to {self.revision!r}"


# Drops everything a schema build may have created, keeping PGlite's own setup.
# (No '%' anywhere: psycopg would read it as a placeholder.)
RESET_DATABASE_SQL = """
DO $$
DECLARE name text;
BEGIN
  FOR name IN
    SELECT nspname FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
      AND nspname !~ '^pg_(toast_)?temp_'
  LOOP
    EXECUTE 'DROP SCHEMA ' || quote_ident(name) || ' CASCADE';
  END LOOP;
  FOR name IN SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' LOOP
    EXECUTE 'DROP EXTENSION ' || quote_ident(name) || ' CASCADE';
  END LOOP;
  CREATE SCHEMA public;
END
$$
"""


def reset_database(connection: Connection) -> None:
    connection.exec_driver_sql(RESET_DATABASE_SQL)
