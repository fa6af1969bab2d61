"""The application's database objects, made once, when this module is imported (SQLAlchemy 1.x style)."""

import os

from sqlalchemy import create_engine
from sqlalchemy.ext.declarative import declarative_base
from sqlalchemy.orm import scoped_session, sessionmaker

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql+psycopg2://shop:shop@localhost/shop")

engine = create_engine(DATABASE_URL, pool_size=5, pool_pre_ping=True)
Session = scoped_session(sessionmaker(autocommit=False, autoflush=False, bind=engine))

Base = declarative_base()
Base.query = Session.query_property()
