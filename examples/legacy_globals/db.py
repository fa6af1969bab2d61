"""The application's database objects, made once at import time and used everywhere.

``Session`` is a thread-local ``scoped_session``: code calls ``Session()`` to get the
current thread's session, and request handlers call ``Session.remove()`` when done.
"""

from sqlalchemy import MetaData, create_engine
from sqlalchemy.orm import declarative_base, scoped_session, sessionmaker

from .settings import settings

# Deterministic constraint names, so that the hand-written migrations name them the same way.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

engine = create_engine(settings.DATABASE_URL, echo=settings.SQL_ECHO, pool_pre_ping=True, pool_size=5)
Session = scoped_session(sessionmaker(bind=engine))
Base = declarative_base(metadata=MetaData(naming_convention=NAMING_CONVENTION))
