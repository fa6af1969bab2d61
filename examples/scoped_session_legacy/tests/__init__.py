import unittest

import sqlalchemy

if not sqlalchemy.__version__.startswith("1.4"):
    raise unittest.SkipTest(
        f"this example is a SQLAlchemy 1.4 application (engine.execute, Query.get); this environment has"
        f" SQLAlchemy {sqlalchemy.__version__}: pip install 'SQLAlchemy==1.4.54' psycopg2-binary"
    )
