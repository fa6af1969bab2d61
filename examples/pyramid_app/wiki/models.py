"""The database: the engine is made from the settings when the application is configured.

The layout of Pyramid's ``sqlalchemy`` cookiecutter: ``includeme`` builds the engine with
``engine_from_config(settings, "sqlalchemy.")``, each request gets a session joined to the
request's transaction (``pyramid_tm`` + ``zope.sqlalchemy``), committed when the view returns and
aborted when it raises.
"""

import zope.sqlalchemy
from sqlalchemy import CheckConstraint, Column, Integer, MetaData, String, Text, engine_from_config
from sqlalchemy.orm import declarative_base, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
Base = declarative_base(metadata=MetaData(naming_convention=NAMING_CONVENTION))


class Page(Base):
    __tablename__ = "pages"
    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False, unique=True)
    body = Column(Text, nullable=False, default="")
    views = Column(Integer, nullable=False, default=0)
    __table_args__ = (CheckConstraint("name ~ '^[A-Z][A-Za-z]*$'", name="wiki_word"),)


def get_engine(settings, prefix="sqlalchemy."):
    return engine_from_config(settings, prefix)


def get_session_factory(engine):
    factory = sessionmaker()
    factory.configure(bind=engine)
    return factory


def get_tm_session(session_factory, transaction_manager, request=None):
    """A session joined to ``transaction_manager``: committed or aborted with its transaction."""
    dbsession = session_factory(info={"request": request})
    zope.sqlalchemy.register(dbsession, transaction_manager=transaction_manager)
    return dbsession


def includeme(config):
    settings = config.get_settings()
    settings["tm.manager_hook"] = "pyramid_tm.explicit_manager"
    config.include("pyramid_tm")

    session_factory = get_session_factory(get_engine(settings))
    config.registry["dbsession_factory"] = session_factory

    def dbsession(request):
        return get_tm_session(session_factory, request.tm, request=request)

    config.add_request_method(dbsession, reify=True)
