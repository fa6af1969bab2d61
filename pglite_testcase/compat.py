"""What differs between SQLAlchemy 1.4 and 2.x, in one place.

The package is written against SQLAlchemy 2.x. On 1.4 (its last release,
1.4.54), the library's own engines are made with ``future=True`` so that they
behave as 2.x engines do, and the few APIs 2.0 added are replaced here:

- ``Session(join_transaction_mode="create_savepoint")`` does not exist: sessions
  are bound to the test's savepoint engine instead (``self.engine``), whose
  transactions are savepoints of the test's transaction all the same;
- ``async_sessionmaker`` is ``sessionmaker(class_=AsyncSession)``;
- ``create_async_engine(async_creator=...)`` does not exist: the driver's
  connection is adapted by hand in a ``do_connect`` listener;
- psycopg 3 has no dialect: the sync driver is psycopg2.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, create_engine

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

SQLALCHEMY_2 = int(sqlalchemy.__version__.split(".")[0]) >= 2

# The dialects of the library's own engines: the guard of what tests reach (see reach) never looks at them.
OWN_DIALECTS: weakref.WeakSet[Any] = weakref.WeakSet()


def own(engine: Any) -> Any:
    """Mark an engine (or AsyncEngine) as the library's own; returns it."""
    OWN_DIALECTS.add(getattr(engine, "sync_engine", engine).dialect)
    return engine


def new_engine(url: URL | str, **kwargs: Any) -> Engine:
    """``create_engine`` with 2.x behaviour on both lines (no library-level autocommit on 1.4)."""
    if not SQLALCHEMY_2:
        kwargs.setdefault("future", True)
    engine = create_engine(url, **kwargs)
    own(engine)
    return engine


def session_kwargs() -> dict[str, Any]:
    """Options every Session the library makes needs on this SQLAlchemy line."""
    return {} if SQLALCHEMY_2 else {"future": True}


def sessionmaker_class(is_async: bool) -> Any:
    if is_async and SQLALCHEMY_2:
        from sqlalchemy.ext.asyncio import async_sessionmaker

        return async_sessionmaker
    from sqlalchemy.orm import sessionmaker

    return sessionmaker


class Ready:
    """An awaitable of a value already at hand: what an async creator returns. Unlike a coroutine,
    it says nothing when SQLAlchemy drops it unawaited (sync code in an async test: MissingGreenlet
    is raised before the await, and a coroutine would add "was never awaited")."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Any:
        return self.value
        yield  # a generator: awaiting it returns the value at once


def new_async_engine(url: URL, **kwargs: Any) -> AsyncEngine:
    """The library's AsyncEngines: ``NullPool``, so that nothing of one test's event loop outlives the test."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    return create_async_engine(url, poolclass=NullPool, **kwargs)


def adapt_async_connection(dialect: Any, driver_connection: Any) -> Any:
    """The DBAPI connection an async dialect makes, around an asyncpg or psycopg connection at hand."""
    if SQLALCHEMY_2:

        def creator() -> Any:
            return Ready(driver_connection)

        return dialect.loaded_dbapi.connect(async_creator_fn=creator)
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

    return AsyncAdapt_asyncpg_connection(dialect.dbapi, driver_connection)  # type: ignore[no-untyped-call]  # SQLAlchemy 1.4 has no annotations


def create_joined_async_engine(url: URL, driver_connection: Callable[[], Any], **kwargs: Any) -> Any:
    """An AsyncEngine whose every connection is ``driver_connection()`` (an asyncpg or psycopg connection)."""
    if SQLALCHEMY_2:

        def creator() -> Any:
            return Ready(driver_connection())

        return own(new_async_engine(url, async_creator=creator, **kwargs))
    engine = own(new_async_engine(url, **kwargs))

    @event.listens_for(engine.sync_engine, "do_connect")
    def adapt(dialect: Any, record: Any, cargs: Any, cparams: Any) -> Any:
        return adapt_async_connection(dialect, driver_connection())

    return engine
