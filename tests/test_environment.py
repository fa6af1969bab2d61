"""The environment variables: one module reads them, refuses a bad value naming the variable, and
the documentation's table lists exactly them."""

from __future__ import annotations

import os
import re
import unittest
from pathlib import Path
from unittest import mock

from pglite_testcase import ConfigurationError, environment

ROOT = Path(__file__).resolve().parents[1]
BAD_VALUES = {
    environment.CACHE_DIR: "",
    environment.CONNECT_TIMEOUT: "soon",
    environment.SNAPSHOTS_KEPT: "0",
    environment.POSTGRES_VERSION: "16",
    environment.DRIVER: "pg8000",
    environment.TCP: "yes",
    environment.PRESTART: "no",
    environment.KEEP_WARM: "yes",
    environment.KEEP_WARM_IDLE: "-5",
    environment.LOG: "loud",
    environment.DEBUG: "yes",
    environment.SHOW_SQL: "yes",
    environment.BACKEND: "sqlite",
    environment.POSTGRES_RUN_AS: "no such/user",
}


def documented_variables() -> dict[str, Path]:
    """The variables in the environment table (header ``| variable | ...``) of README.md or docs/*.md."""
    found: dict[str, Path] = {}
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        in_table = False
        for line in path.read_text().splitlines():
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
            if not cells:
                in_table = False
            elif cells[0].lower() == "variable":
                in_table = True
            elif in_table:
                match = re.fullmatch(r"`(PGLITE_TESTCASE_[A-Z_]+)(=[^`]*)?`", cells[0])
                if match:
                    found[match.group(1)] = path
    return found


class EnvironmentTable(unittest.TestCase):
    def test_the_documented_table_lists_every_variable_the_package_reads(self) -> None:
        documented = documented_variables()
        self.assertTrue(documented, "no environment table (| variable | meaning |) in README.md or docs/*.md")
        self.assertEqual(
            sorted(documented), sorted(environment.VARIABLES), "the documented table and environment.VARIABLES differ"
        )


class EnvironmentChecks(unittest.TestCase):
    def test_every_variable_has_a_bad_value_here(self) -> None:
        self.assertEqual(sorted(BAD_VALUES), sorted(set(environment.VARIABLES) - {environment.DATABASE_URL}))

    def test_a_bad_value_is_refused_naming_the_variable_and_the_value(self) -> None:
        for name, value in BAD_VALUES.items():
            with self.subTest(name), mock.patch.dict(os.environ, {name: value}):
                with self.assertRaises(ConfigurationError) as raised:
                    environment.check()
                self.assertIn(
                    f"the environment variable {name} = {value!r} is not accepted: expected", str(raised.exception)
                )

    def test_unset_means_the_defaults(self) -> None:
        with mock.patch.dict(os.environ, {name: "" for name in environment.VARIABLES if name != environment.CACHE_DIR}):
            os.environ.pop(environment.CACHE_DIR, None)
            environment.check()
            self.assertEqual(
                (
                    environment.postgres_version(),
                    environment.snapshots_kept(),
                    environment.tcp(),
                    environment.prestart(),
                    environment.keep_warm(),
                    environment.keep_warm_idle(),
                ),
                (17, 12, False, True, False, 600.0),
            )
            self.assertIsNone(environment.connect_timeout())
            self.assertIsNone(environment.database_url())

    def test_no_other_module_reads_the_variables(self) -> None:
        package = ROOT / "pglite_testcase"
        for path in sorted(package.rglob("*.py")):
            if path.name == "environment.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if "os.environ" in line and "PGLITE_TESTCASE_" in line:
                    self.fail(
                        f"{path.relative_to(ROOT)}:{number} reads a PGLITE_TESTCASE_ variable itself: {line.strip()}"
                    )
