"""unittest TestCase classes for SQLAlchemy code, on a real PostgreSQL (PGlite).

PGlite starts in ``setUpClass``, the schema comes from ``metadata.create_all``
or the project's Alembic migrations, and every test runs inside a
transaction that is rolled back.

Importing the package does nothing else: names are imported when first used,
and no process, ``atexit`` hook or logging handler exists before a test class
needs one.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    BaseOrderError,
    CacheInstallError,
    ConfigurationError,
    NodeNotFoundError,
    PGliteStartError,
    PGliteStoppedError,
    PGliteTestCaseError,
    PostgresServerError,
    SchemaBuildError,
    ServerUnreachableError,
    UnsafeCacheError,
)

if TYPE_CHECKING:
    from .database.provision import fresh_database
    from .migrations.checks import AlembicMigrationsTestCase
    from .testcase.async_case import AsyncPGliteMixin, AsyncPGliteTestCase
    from .testcase.sync_case import PGliteMixin, PGliteTestCase

_LAZY = {
    "PGliteMixin": "testcase.sync_case",
    "PGliteTestCase": "testcase.sync_case",
    # The async classes bring in SQLAlchemy's asyncio extension: only when asked for.
    "AsyncPGliteMixin": "testcase.async_case",
    "AsyncPGliteTestCase": "testcase.async_case",
    "AlembicMigrationsTestCase": "migrations.checks",
    "fresh_database": "database.provision",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pglite_testcase' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "AlembicMigrationsTestCase",
    "AsyncPGliteMixin",
    "AsyncPGliteTestCase",
    "BaseOrderError",
    "CacheInstallError",
    "ConfigurationError",
    "NodeNotFoundError",
    "PGliteMixin",
    "PGliteStartError",
    "PGliteStoppedError",
    "PGliteTestCase",
    "PGliteTestCaseError",
    "PostgresServerError",
    "SchemaBuildError",
    "ServerUnreachableError",
    "UnsafeCacheError",
    "fresh_database",
]
