"""Which driver a class gets, and what it is told when that driver is not installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A child in which the default driver's package cannot be imported, as in an environment that
# installed the package without it.
HIDDEN = """
import importlib.util, sys
hidden = {hidden!r}
real_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, *args: None if name == hidden else real_find_spec(name, *args)
from pglite_testcase import PGliteTestCase
from pglite_testcase.drivers import choose_sync_driver
try:
    choose_sync_driver(PGliteTestCase, None, None)
except Exception as error:
    print(type(error).__name__, error)
"""


class MissingDefaultDriver(unittest.TestCase):
    def test_the_message_names_the_stack_and_the_install_line(self) -> None:
        from pglite_testcase.compat import SQLALCHEMY_2

        hidden, expected = (
            ("psycopg", "SQLAlchemy 2 uses psycopg 3, which is not installed: pip install psycopg.")
            if SQLALCHEMY_2
            else (
                "psycopg2",
                "SQLAlchemy 1.4 uses psycopg2, which is not installed: pip install 'pglite-testcase[psycopg2]'.",
            )
        )
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(HIDDEN.format(hidden=hidden))],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertIn(f"ConfigurationError {expected}", result.stdout, result.stderr)
