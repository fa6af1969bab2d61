import unittest

try:
    from examples.legacy_globals import db  # noqa: F401  (creating the engine imports the database driver)
except ModuleNotFoundError as missing:
    raise unittest.SkipTest(
        f"the lending library's database driver is not installed ({missing}): pip install psycopg2-binary"
    ) from None
