"""PostgreSQL extensions a test class asks for (``extensions = ["pgvector", "pg_trgm"]``).

PGlite ships extensions as bundles that must be registered when the PGlite
instance is created, then enabled with ``CREATE EXTENSION``. The library
does both: an instance is started with the bundles every class using it
needs, and the schema build begins with ``CREATE EXTENSION IF NOT EXISTS``.
On a real server only the second half applies (the server must have them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.engine import Engine

from ..errors import ConfigurationError
from .schema import SchemaSource


@dataclass(frozen=True)
class Extension:
    module: str  # the npm module that registers it with PGlite
    export: str  # the name that module exports
    sql_name: str  # the name CREATE EXTENSION takes


def _contrib(name: str, sql_name: str | None = None) -> Extension:
    return Extension(f"@electric-sql/pglite/contrib/{name}", name, sql_name or name)


_CONTRIB = [
    "amcheck",
    "bloom",
    "btree_gin",
    "btree_gist",
    "citext",
    "cube",
    "dict_int",
    "dict_xsyn",
    "earthdistance",
    "fuzzystrmatch",
    "hstore",
    "intarray",
    "isn",
    "lo",
    "ltree",
    "pg_trgm",
    "pgcrypto",
    "seg",
    "tablefunc",
    "tcn",
    "tsm_system_rows",
    "tsm_system_time",
    "unaccent",
]

# Names as py-pglite and PostgreSQL spell them ("pgvector" and "vector", "uuid-ossp" and "uuid_ossp").
EXTENSIONS: dict[str, Extension] = {
    **{name: _contrib(name) for name in _CONTRIB},
    "uuid-ossp": _contrib("uuid_ossp", "uuid-ossp"),
    "uuid_ossp": _contrib("uuid_ossp", "uuid-ossp"),
    "pgvector": Extension("@electric-sql/pglite/vector", "vector", "vector"),
    "vector": Extension("@electric-sql/pglite/vector", "vector", "vector"),
    "pg_uuidv7": Extension("@electric-sql/pglite/pg_uuidv7", "pg_uuidv7", "pg_uuidv7"),
    "pg_hashids": Extension("@electric-sql/pglite/pg_hashids", "pg_hashids", "pg_hashids"),
    "pg_ivm": Extension("@electric-sql/pglite/pg_ivm", "pg_ivm", "pg_ivm"),
    "pgtap": Extension("@electric-sql/pglite/pgtap", "pgtap", "pgtap"),
}


def read_extensions(value: object, where: str) -> tuple[str, ...]:
    accepted = f"a list of extension names among {', '.join(sorted(EXTENSIONS))}"
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        raise ConfigurationError.refused(value, where, accepted)
    unknown = [name for name in value if name not in EXTENSIONS]
    if unknown:
        raise ConfigurationError.refused(value, where, accepted + f" (unknown: {unknown})")
    return tuple(sorted(set(value)))


_NOT_AVAILABLE = re.compile(
    r'extension "(?P<name>[^"]+)" is not available'
    r'|could not open extension control file "[^"]*/(?P<file>[^/"]+)\.control"'
)


def missing_extension_hint(message: str) -> str | None:
    """For PostgreSQL's "extension ... is not available": which ``extensions`` value to add, if PGlite has it."""
    match = _NOT_AVAILABLE.search(message)
    if match is None:
        return None
    sql_name = match.group("name") or match.group("file")
    ours = next((name for name, ext in EXTENSIONS.items() if ext.sql_name == sql_name), None)
    if ours is None:
        return f"PGlite does not ship the extension {sql_name!r}."
    return (
        f"PGlite registers an extension's bundle only for a class that asks for it: add it to the test "
        f"class's extensions attribute, e.g. extensions = [{ours!r}]."
    )


# PGlite 0.5 (PostgreSQL 18) ships these as packages of their own (node/pg18/package.json);
# contrib keeps its import paths.
_SEPARATE_PACKAGES_FROM = 18
_SEPARATE_PACKAGES = {
    "@electric-sql/pglite/vector": "@electric-sql/pglite-pgvector",
    "@electric-sql/pglite/pg_uuidv7": "@electric-sql/pglite-pg_uuidv7",
    "@electric-sql/pglite/pg_hashids": "@electric-sql/pglite-pg_hashids",
    "@electric-sql/pglite/pg_ivm": "@electric-sql/pglite-pg_ivm",
    "@electric-sql/pglite/pgtap": "@electric-sql/pglite-pgtap",
}


def module_for(extension: Extension, postgres_version: int) -> str:
    """The npm module that registers ``extension`` with the PGlite of this PostgreSQL major."""
    if postgres_version >= _SEPARATE_PACKAGES_FROM:
        return _SEPARATE_PACKAGES.get(extension.module, extension.module)
    return extension.module


def registrations(names: frozenset[str], postgres_version: int = 17) -> dict[str, dict[str, str]]:
    """What node/server.js registers with PGlite: {export: {module, export}}."""
    return {
        EXTENSIONS[name].export: {
            "module": module_for(EXTENSIONS[name], postgres_version),
            "export": EXTENSIONS[name].export,
        }
        for name in names
    }


@dataclass(frozen=True)
class WithExtensions:
    """A schema source preceded by CREATE EXTENSION for each extension."""

    source: SchemaSource
    names: tuple[str, ...]
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        sql_names = sorted({EXTENSIONS[name].sql_name for name in self.names})
        object.__setattr__(self, "fingerprint", f"{self.source.fingerprint}+extensions:{','.join(sql_names)}")

    def build(self, engine: Engine, url: str) -> None:
        with engine.begin() as connection:
            for sql_name in sorted({EXTENSIONS[name].sql_name for name in self.names}):
                connection.execute(text(f'CREATE EXTENSION IF NOT EXISTS "{sql_name}"'))
        self.source.build(engine, url)

    def describe(self) -> str:
        return f"{self.source.describe()} with the extensions {', '.join(self.names)}"
