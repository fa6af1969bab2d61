"""Exceptions raised by pglite_testcase."""

from __future__ import annotations


class PGliteTestCaseError(Exception):
    """Base class of every error this library raises."""


class ConfigurationError(PGliteTestCaseError):
    """A test class attribute or environment variable has a value that is not accepted."""

    @classmethod
    def refused(cls, given: object, where: str, accepted: str) -> ConfigurationError:
        """``where`` (``Class.attribute``, ``the environment variable NAME``) = ``given`` is not accepted."""
        return cls(f"{where} = {given!r} is not accepted: expected {accepted}.")

    @classmethod
    def for_attribute(cls, owner: type, attribute: str, given: object, accepted: str) -> ConfigurationError:
        return cls.refused(given, f"{owner.__qualname__}.{attribute}", accepted)


class BaseOrderError(ConfigurationError, TypeError):
    """A test class lists ``unittest.TestCase`` (or a subclass) before the pglite mixin in its bases."""


class NodeNotFoundError(PGliteTestCaseError):
    """No usable Node.js was found to run PGlite."""


class CacheInstallError(PGliteTestCaseError):
    """The PGlite npm packages could not be installed into the cache."""


class UnsafeCacheError(CacheInstallError):
    """The cache, or something in it, belongs to another user or can be written by others."""


class PGliteStartError(PGliteTestCaseError):
    """The PGlite process did not start, or stopped."""


class PGliteStoppedError(PGliteStartError):
    """PGlite stopped while tests were using it (killed, crashed, or a statement ran past its timeout)."""


class PostgresServerError(PGliteTestCaseError):
    """The package's own PostgreSQL server (``backend = "postgres"``) could not be made or started."""


class ServerUnreachableError(PGliteTestCaseError):
    """The PostgreSQL server a URL names cannot be reached, or does not answer in time."""


class SchemaBuildError(PGliteTestCaseError):
    """Building a test class's schema (create_all or Alembic migrations) failed."""
