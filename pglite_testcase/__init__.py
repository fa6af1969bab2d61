"""unittest TestCase classes for SQLAlchemy code, on a real PostgreSQL (PGlite).

PGlite starts in ``setUpClass``, the schema comes from ``metadata.create_all``
or the project's Alembic migrations, and every test runs inside a
transaction that is rolled back.
"""

from .async_testcase import AsyncPGliteMixin, AsyncPGliteTestCase
from .errors import (
    CacheInstallError,
    ConfigurationError,
    NodeNotFoundError,
    PGliteStartError,
    PGliteTestCaseError,
    SchemaBuildError,
)
from .testcase import PGliteMixin, PGliteTestCase

__all__ = [
    "AsyncPGliteMixin",
    "AsyncPGliteTestCase",
    "CacheInstallError",
    "ConfigurationError",
    "NodeNotFoundError",
    "PGliteMixin",
    "PGliteStartError",
    "PGliteTestCase",
    "PGliteTestCaseError",
    "SchemaBuildError",
]
