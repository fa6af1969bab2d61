"""The blog, a Flask application in the classic layout (see README.md)."""

import unittest
from pathlib import Path


def load_tests(
    loader: unittest.TestLoader, standard_tests: unittest.TestSuite, pattern: str | None
) -> unittest.TestSuite:
    # Discovery would otherwise import every package here, the application's included, before
    # tests/__init__.py can say why the suite does not run in this environment.
    standard_tests.addTests(loader.discover(str(Path(__file__).parent / "tests"), pattern=pattern or "test*.py"))
    return standard_tests
