"""Where a test class's schema comes from, and how it is built into a database.

A schema source has a ``fingerprint``: a digest of everything that decides
the resulting database (the DDL ``create_all`` would emit; the Alembic
scripts and target revision). Two classes with the same fingerprint share a
built schema without running DDL again.

A build cannot lie about where it went: while the project's ``env.py`` runs,
an engine of its own that connects anywhere but the test database is
stopped before its first statement, and afterwards the test database must
hold the revision asked for. Otherwise no snapshot or template is saved.
"""

from __future__ import annotations

import hashlib
import logging
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import MetaData, create_mock_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url

from ..errors import SchemaBuildError
from ..urls import url_text

if TYPE_CHECKING:  # Alembic is imported when a class uses it (it adds to every run's start-up otherwise)
    from alembic.config import Config

# The project's env.py hook: given the test database's URL, a context in which env.py reaches it.
AlembicEnvironment = Callable[[str], AbstractContextManager[Any]]

ENV_PY_RECIPE = (
    "Point env.py at the test database: use config.attributes.get('connection') when it is set, or "
    "config.get_main_option('sqlalchemy.url') (docs/alembic.md's recipe); or, without editing env.py, "
    "override the test class's alembic_environment(cls, url) hook to point your settings at the url it is given."
)


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


def metadata_ddl(metadata: MetaData) -> list[str]:
    """The DDL statements ``metadata.create_all`` emits for PostgreSQL."""
    statements: list[str] = []

    def collect(sql: Any, *multiparams: object, **params: object) -> None:
        statements.append(str(sql.compile(dialect=engine.dialect)))

    engine = create_mock_engine(make_url("postgresql://"), collect)
    metadata.create_all(engine, checkfirst=False)
    return statements


def metadata_shape(metadata: MetaData) -> tuple[object, ...]:
    """What a change to ``metadata`` after its fingerprint was taken would most likely change."""
    return tuple(
        (
            key,
            tuple((column.key, id(column.type)) for column in table.columns),
            len(table.indexes),
            len(table.constraints),
        )
        for key, table in metadata.tables.items()
    )


# Compiling create_all's DDL costs about 0.3 ms a table, paid by every class otherwise
# (a 200-table schema under 200 classes: 12 s of a 40 s suite).
_fingerprints: weakref.WeakKeyDictionary[MetaData, tuple[tuple[object, ...], str]] = weakref.WeakKeyDictionary()


def metadata_fingerprint(metadata: MetaData) -> str:
    shape = metadata_shape(metadata)
    known = _fingerprints.get(metadata)
    if known is not None and known[0] == shape:
        return known[1]
    # Sorted: create_all emits a table's indexes in an order that follows Python's
    # hash seed, and the same schema must have one fingerprint in every run.
    ddl = "\n;\n".join(sorted(metadata_ddl(metadata)))
    fingerprint = f"metadata-{hashlib.sha256(ddl.encode()).hexdigest()[:24]}"
    _fingerprints[metadata] = (shape, fingerprint)
    return fingerprint


@dataclass(frozen=True)
class MetadataSchema:
    metadata: MetaData
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fingerprint", metadata_fingerprint(self.metadata))

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
def library_logging_kept() -> Iterator[None]:
    """Undo what an env.py's ``logging.config.fileConfig`` does to the library's logger.

    Alembic's env.py template calls ``fileConfig``, whose default
    ``disable_existing_loggers=True`` disables every logger created before it.
    """
    logger = logging.getLogger("pglite_testcase")
    disabled = logger.disabled
    try:
        yield
    finally:
        logger.disabled = disabled


def _where(url: URL) -> tuple[Any, ...]:
    host = url.host or url.query.get("host")
    return (url.get_backend_name(), str(host or ""), str(url.port or ""), url.database or "")


def _where_connecting(dialect: Any, cparams: dict[str, Any]) -> tuple[Any, ...]:
    host = cparams.get("host") or ""
    database = cparams.get("dbname") or cparams.get("database") or ""
    return (dialect.name, str(host), str(cparams.get("port") or ""), database)


def _shown(where: tuple[Any, ...]) -> str:
    backend, host, port, database = where
    return f"{backend}://{host}{':' + port if port else ''}/{database}"


@contextmanager
def only_this_database(url: str) -> Iterator[None]:
    """Refuse any connection to another database than ``url`` while the block runs.

    Checked before connecting (SQLAlchemy's ``do_connect``), and before every
    statement for connections made some other way.
    """
    expected = _where(make_url(url))

    def refuse(where: str) -> SchemaBuildError:
        return SchemaBuildError(
            f"the project's env.py connected to {where}, not to the test database ({url}). "
            f"pglite_testcase stopped it before it ran anything there. {ENV_PY_RECIPE}"
        )

    def before_connecting(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        where = _where_connecting(dialect, cparams) if dialect.name == "postgresql" else (dialect.name, "", "", "")
        if where != expected:
            shown = _shown(where) if dialect.name == "postgresql" else f"{dialect.name}://{' '.join(map(str, cargs))}"
            raise refuse(shown)

    def before_statement(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if _where(conn.engine.url) != expected:
            raise refuse(conn.engine.url.render_as_string(hide_password=True))

    event.listen(Engine, "do_connect", before_connecting)
    event.listen(Engine, "before_cursor_execute", before_statement)
    try:
        yield
    finally:
        event.remove(Engine, "do_connect", before_connecting)
        event.remove(Engine, "before_cursor_execute", before_statement)


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


@contextmanager
def alembic_run(
    config: Config, url: str, connection: Connection, environment: AlembicEnvironment | None
) -> Iterator[None]:
    """Everything an Alembic command needs around it to run on the test database, and only there."""
    hook = environment(url) if environment is not None else nullcontext()
    with offered_connection(config, url, connection), hook, library_logging_kept(), only_this_database(url):
        yield


VERSION_TABLES_SQL = """
SELECT quote_ident(table_schema) || '.' || quote_ident(table_name)
FROM information_schema.columns
WHERE column_name = 'version_num' AND table_schema NOT IN ('pg_catalog', 'information_schema')
ORDER BY table_name <> 'alembic_version', table_schema, table_name
"""


def applied_revisions(connection: Connection) -> tuple[str, set[str]] | None:
    """Alembic's version table in this database and the revisions it holds (None: no version table)."""
    for table in connection.scalars(text(VERSION_TABLES_SQL)).all():
        return table, {str(row) for row in connection.scalars(text(f"SELECT version_num FROM {table}")).all()}
    return None


@dataclass(frozen=True)
class AlembicSchema:
    config: Config
    revision: str
    environment: AlembicEnvironment | None = field(default=None, compare=False)
    # The source of the class's own alembic_environment hook: a changed hook builds the schema again
    # (a snapshot from before would hide a hook that no longer works until the cache is cleared).
    environment_source: str = field(default="", compare=False)
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(self.config)
        digest = hashlib.sha256(self.revision.encode())
        if self.environment_source:
            digest.update(b"environment:" + self.environment_source.encode())
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
        """``alembic upgrade <revision>`` through the project's own ``env.py``, then verified.

        ``sqlalchemy.url`` is set to the test database and an open connection
        is offered as ``config.attributes["connection"]`` (Alembic's cookbook
        recipe). The connection is left outside any transaction, so an
        ``env.py`` that ignores it and connects on its own is not blocked.
        """
        from alembic import command

        with engine.connect() as connection:
            try:
                with alembic_run(self.config, url, connection, self.environment):
                    command.upgrade(self.config, self.revision)
                    if connection.in_transaction():
                        connection.commit()
            except SchemaBuildError:
                raise
            except Exception as exc:
                revision = failed_revision(exc)
                step = f" in {revision}" if revision else ""
                raise SchemaBuildError(
                    f"Alembic upgrade to {self.revision!r} failed{step}: {type(exc).__name__}: {exc}"
                ) from exc
        with engine.connect() as connection:
            self.verify(connection)

    def expected_revisions(self) -> set[str]:
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(self.config)
        return {revision.revision for revision in script.get_revisions(self.revision) if revision is not None}

    def verify(self, connection: Connection) -> None:
        """The test database holds the revision asked for, or the migrations ran elsewhere."""
        expected = self.expected_revisions()
        found = applied_revisions(connection)
        if found is None and not expected:
            return
        held = "no Alembic version table" if found is None else f"{found[0]} = {sorted(found[1]) or 'empty'}"
        if found is None or found[1] != expected:
            raise SchemaBuildError(
                f"after `alembic upgrade {self.revision}` through {self.env_py()}, the test database holds "
                f"{held}, not the revision {sorted(expected)}: env.py ran the migrations on another database "
                f"(its own settings' URL, a SQLite file, a developer database?). {ENV_PY_RECIPE} "
                f"Nothing was cached for this schema."
            )

    def env_py(self) -> str:
        location = self.config.get_main_option("script_location") or "?"
        return str(Path(location) / "env.py")

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
  -- As initdb makes it (PostgreSQL 15+): owner, privileges and comment.
  CREATE SCHEMA public AUTHORIZATION pg_database_owner;
  GRANT USAGE ON SCHEMA public TO PUBLIC;
  COMMENT ON SCHEMA public IS 'standard public schema';
END
$$
"""


def reset_database(connection: Connection) -> None:
    connection.exec_driver_sql(RESET_DATABASE_SQL)


__all__ = [
    "AlembicEnvironment",
    "AlembicSchema",
    "EmptySchema",
    "MetadataSchema",
    "SchemaSource",
    "alembic_run",
    "applied_revisions",
    "url_text",
]
