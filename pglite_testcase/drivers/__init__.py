"""Database drivers: what differs between psycopg 3, psycopg2 and asyncpg, one value each.

A driver owns the URL scheme, the connect arguments, how server settings
reach a new session, and the driver-specific half of the test transaction:
how queued statements travel with the next one, how a notice from the commit
guard is heard, how the transaction status is read without a round trip,
and what a Ctrl-C does. Adding a driver means adding one value here and its
module.
"""

from __future__ import annotations

from sqlalchemy.engine import URL

from .. import environment
from ..compat import SQLALCHEMY_2
from ..errors import ConfigurationError
from .base import Driver


def _sync_driver(name: str) -> Driver:
    """The sync driver ``name`` (one of SYNC_DRIVER_NAMES); only its module is imported."""
    if name == "psycopg":
        from .psycopg3 import Psycopg3

        return Psycopg3()
    if name == "psycopg2":
        from .psycopg2 import Psycopg2

        return Psycopg2()
    raise KeyError(name)


def _async_drivers() -> dict[str, Driver]:
    from .async_drivers import Asyncpg, PsycopgAsync

    return {"psycopg": PsycopgAsync(), "asyncpg": Asyncpg()}


SYNC_DRIVER_NAMES = ("psycopg", "psycopg2")
ASYNC_DRIVER_NAMES = ("psycopg", "asyncpg")


def scheme_driver(url: URL) -> str:
    """The driver a URL's scheme names; a bare ``postgresql://`` means SQLAlchemy's default one
    (psycopg2 up to SQLAlchemy 2.0, psycopg 3 from 2.1)."""
    backend, _, driver = url.drivername.partition("+")
    if driver:
        return driver
    from sqlalchemy.dialects import registry

    return str(registry.load(backend).driver)


def driver_for_scheme(url: URL) -> str | None:
    """The sync driver a URL's scheme names, if it names one."""
    driver = scheme_driver(url)
    return driver if driver in SYNC_DRIVER_NAMES else None


def default_sync_driver() -> str:
    return "psycopg" if SQLALCHEMY_2 else "psycopg2"


def choose_sync_driver(owner: type, value: object, server_url: URL | None) -> Driver:
    """The class's sync driver: its ``driver`` attribute, else the environment, else the server URL's scheme."""
    where, name = f"{owner.__qualname__}.driver", value
    if name is None and environment.driver() is not None:
        where, name = environment.where(environment.DRIVER), environment.driver()
    if name is None and server_url is not None:
        where, name = "the server URL's scheme", driver_for_scheme(server_url)
    if name is None:
        where, name = "the default", default_sync_driver()
    if name not in SYNC_DRIVER_NAMES:
        raise ConfigurationError(
            f"{where} = {name!r} is not accepted: expected 'psycopg' (psycopg 3) or 'psycopg2', or None "
            f"to follow {environment.DRIVER} and the server URL's scheme."
        )
    return _checked(where, _sync_driver(str(name)))


def choose_async_driver(owner: type, value: object) -> Driver:
    if value is None:
        value = "psycopg" if SQLALCHEMY_2 else "asyncpg"
    if value not in ASYNC_DRIVER_NAMES:
        raise ConfigurationError.for_attribute(
            owner, "async_driver", value, "'psycopg' or 'asyncpg', or None for the default"
        )
    return _checked(f"{owner.__qualname__}.async_driver", _async_drivers()[str(value)])


def sync_driver(name: str) -> Driver:
    return _sync_driver(name)


def _checked(where: str, driver: Driver) -> Driver:
    if driver.dialect == "psycopg" and not SQLALCHEMY_2:
        raise ConfigurationError(
            f"{where} = {driver.name!r}: psycopg 3 needs SQLAlchemy 2 (this is SQLAlchemy 1.4, whose "
            f"PostgreSQL drivers are psycopg2 and, for asyncio, asyncpg). Use "
            f"{'async_driver = ' + repr('asyncpg') if driver.is_async else 'driver = ' + repr('psycopg2')}."
        )
    problem = driver.missing()
    if problem is not None and where == "the default":
        # Nothing was chosen: say what the stack uses, and the install line.
        install = problem.split(": ", 1)[1]
        uses = "SQLAlchemy 2 uses psycopg 3" if SQLALCHEMY_2 else "SQLAlchemy 1.4 uses psycopg2"
        raise ConfigurationError(f"{uses}, which is not installed: {install}.")
    if problem is not None:
        raise ConfigurationError(f"{where} = {driver.name!r} {problem}.")
    return driver


__all__ = [
    "ASYNC_DRIVER_NAMES",
    "SYNC_DRIVER_NAMES",
    "Driver",
    "choose_async_driver",
    "choose_sync_driver",
    "default_sync_driver",
    "driver_for_scheme",
    "sync_driver",
]
