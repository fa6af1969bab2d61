import unittest

import sqlalchemy

if int(sqlalchemy.__version__.split(".")[0]) < 2:
    raise unittest.SkipTest(
        f"this example is written for SQLAlchemy 2 (this is {sqlalchemy.__version__}); "
        "examples/legacy_globals and examples/legacy_flask are the SQLAlchemy 1.4 ones"
    )
