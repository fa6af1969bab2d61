"""unittest TestCase classes for SQLAlchemy code, on a real PostgreSQL (PGlite).

PGlite starts in ``setUpClass``, the schema comes from ``metadata.create_all``
or the project's Alembic migrations, and every test runs inside a
transaction that is rolled back.
"""

from typing import TYPE_CHECKING, Any

from .diagnostics import configure_logging
from .errors import (
    CacheInstallError,
    ConfigurationError,
    NodeNotFoundError,
    PGliteStartError,
    PGliteStoppedError,
    PGliteTestCaseError,
    SchemaBuildError,
)
from .testcase import PGliteMixin, PGliteTestCase

configure_logging()

if TYPE_CHECKING:
    from .async_testcase import AsyncPGliteMixin, AsyncPGliteTestCase
    from .migration_checks import AlembicMigrationsTestCase


def __getattr__(name: str) -> Any:
    # The async classes bring in SQLAlchemy's asyncio extension: only when asked for.
    if name in ("AsyncPGliteMixin", "AsyncPGliteTestCase"):
        from . import async_testcase

        return getattr(async_testcase, name)
    if name == "AlembicMigrationsTestCase":
        from .migration_checks import AlembicMigrationsTestCase

        return AlembicMigrationsTestCase
    raise AttributeError(f"module 'pglite_testcase' has no attribute {name!r}")


__all__ = [
    "AlembicMigrationsTestCase",
    "AsyncPGliteMixin",
    "AsyncPGliteTestCase",
    "CacheInstallError",
    "ConfigurationError",
    "NodeNotFoundError",
    "PGliteMixin",
    "PGliteStartError",
    "PGliteStoppedError",
    "PGliteTestCase",
    "PGliteTestCaseError",
    "SchemaBuildError",
]
