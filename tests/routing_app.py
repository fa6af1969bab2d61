"""A legacy application's database module: objects made at import time and imported by name.

They point at a database nobody runs: only the routing of ``database_objects`` makes them work.
"""

from __future__ import annotations

from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import AsyncSession, async_scoped_session, create_async_engine
from sqlalchemy.orm import scoped_session, sessionmaker

URL = "postgresql+psycopg2://app@/app_production?host=/nonexistent-routing-app"
ASYNC_URL = "postgresql+asyncpg://app@/app_production?host=/nonexistent-routing-app"

engine = create_engine(URL)
Session = scoped_session(sessionmaker(bind=engine))
unbound_factory = sessionmaker()  # bound by the application at run time, in legacy code often never

async_engine = create_async_engine(ASYNC_URL)
# sessionmaker(class_=AsyncSession): what SQLAlchemy 1.4 has; 2.x's async_sessionmaker is the same shape.
AsyncSessionLocal = sessionmaker(bind=async_engine, class_=AsyncSession, expire_on_commit=False)
unbound_async_factory = sessionmaker(class_=AsyncSession, expire_on_commit=False)
async_session_scope: list[object] = [None]
AsyncScoped = async_scoped_session(
    sessionmaker(bind=async_engine, class_=AsyncSession, expire_on_commit=False),
    scopefunc=lambda: async_session_scope[0],
)

SYNC_OBJECTS = [f"{__name__}.{name}" for name in ("engine", "Session", "unbound_factory")]
ASYNC_OBJECTS = [
    f"{__name__}.{name}" for name in ("async_engine", "AsyncSessionLocal", "unbound_async_factory", "AsyncScoped")
]


def state() -> dict[str, object]:
    """What routing changes, as the application made it: compared before and after classes run."""
    return {
        "engine": (engine.url, engine.pool, engine.dialect),
        "async_engine": (async_engine.sync_engine.url, async_engine.sync_engine.pool),
        "Session": (dict(Session.session_factory.kw), Session.registry.has()),
        "unbound_factory": dict(unbound_factory.kw),
        "AsyncSessionLocal": dict(AsyncSessionLocal.kw),
        "unbound_async_factory": dict(unbound_async_factory.kw),
        "AsyncScoped": (dict(AsyncScoped.session_factory.kw), AsyncScoped.registry.has()),
    }
