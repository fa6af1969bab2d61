"""The last SQL statements of a failing test, in its report (``show_sql_on_failure``, ``PGLITE_TESTCASE_SHOW_SQL``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path
from typing import Any
from unittest import mock

from sqlalchemy import func, select, text

from pglite_testcase import AsyncPGliteTestCase, ConfigurationError, PGliteTestCase, environment
from pglite_testcase.testcase.failure_reports import LAST_STATEMENTS, PARAMETER_CHARS, STATEMENT_CHARS

from . import routing_app
from .models import Author, Base
from .support import problems, run_case

ROOT = Path(__file__).resolve().parents[1]
HEADING = "SQL this test ran"


def only_report(test: unittest.TestCase, case: type[unittest.TestCase]) -> str:
    """The one failure or error ``case`` reports."""
    result = run_case(case)
    reports = [report for _, report in result.errors + result.failures]
    test.assertEqual(len(reports), 1, problems(result))
    return reports[0]


def statements_in(report: str) -> list[str]:
    """The numbered statements of a report's SQL section, as shown."""
    section = report.split(HEADING, 1)[1]
    return re.findall(r"^ +\d+\. (.*)$", section, re.MULTILINE)


class WhatTheReportShows(unittest.TestCase):
    def test_a_failing_test_lists_its_statements_oldest_first_with_their_parameters(self) -> None:
        class Fails(PGliteTestCase):
            metadata = Base
            show_sql_on_failure = True

            def test_count(self) -> None:
                self.session.add(Author(name="Ada"))
                self.session.commit()
                found = self.session.scalar(select(func.count()).select_from(Author).where(Author.name == "Grace"))
                self.assertEqual(found, 1)

        report = only_report(self, Fails)
        self.assertIn("AssertionError: 0 != 1", report)
        self.assertIn(f"{HEADING}, oldest first (2 statements; show_sql_on_failure or {environment.SHOW_SQL})", report)
        inserted, counted = statements_in(report)
        self.assertTrue(inserted.startswith("INSERT INTO authors"), inserted)
        self.assertTrue(counted.startswith("SELECT count(*)"), counted)
        self.assertIn("parameters: {'name': 'Ada'}", report)
        self.assertIn("parameters: {'name_1': 'Grace'}", report)
        self.assertGreater(report.index(HEADING), report.index("AssertionError"), "after the traceback")

    def test_an_error_and_a_passing_test(self) -> None:
        class Errors(PGliteTestCase):
            metadata = Base
            show_sql_on_failure = True

            def test_1_passes(self) -> None:
                self.connection.execute(text("SELECT 1"))

            def test_2_errors(self) -> None:
                self.connection.execute(text("SELECT 2"))
                raise KeyError("boom")

        result = run_case(Errors)
        self.assertEqual(result.testsRun, 2)
        self.assertEqual(len(result.errors), 1, problems(result))
        report = result.errors[0][1]
        self.assertIn("KeyError: 'boom'", report)
        self.assertEqual(statements_in(report), ["SELECT 2"])  # this test's, not the previous one's

    def test_a_failing_setup_and_a_failing_subtest(self) -> None:
        class FailingSetUp(PGliteTestCase):
            show_sql_on_failure = True

            def setUp(self) -> None:
                super().setUp()
                self.connection.execute(text("SELECT 'set up'"))
                raise RuntimeError("setUp broke")

            def test_never_runs(self) -> None:
                raise AssertionError("setUp failed: no test")

        report = only_report(self, FailingSetUp)
        self.assertIn("RuntimeError: setUp broke", report)
        self.assertEqual(statements_in(report), ["SELECT 'set up'"])

        class FailingSubTest(PGliteTestCase):
            show_sql_on_failure = True

            def test_steps(self) -> None:
                for step in (1, 2):
                    with self.subTest(step=step):
                        self.connection.execute(text(f"SELECT {step}"))
                        self.assertEqual(step, 1)

        report = only_report(self, FailingSubTest)
        self.assertIn("AssertionError: 2 != 1", report)
        self.assertEqual(statements_in(report), ["SELECT 1", "SELECT 2"])

    def test_the_last_statements_each_cut_to_a_readable_length(self) -> None:
        long_statement = "SELECT " + ", ".join(f"{number} AS column_{number}" for number in range(100)) + " WHERE true"
        long_parameter = "x" * (PARAMETER_CHARS * 2)

        class Many(PGliteTestCase):
            show_sql_on_failure = True

            def test_many(self) -> None:
                for number in range(LAST_STATEMENTS + 1):
                    self.connection.execute(text(f"SELECT {number}"))
                self.connection.execute(text(long_statement))
                self.connection.execute(text("SELECT :value"), {"value": long_parameter})
                self.fail("after 13 statements")

        report = only_report(self, Many)
        total = LAST_STATEMENTS + 3
        self.assertIn(f"(the last {LAST_STATEMENTS} of {total} statements;", report)
        shown = statements_in(report)
        self.assertEqual(len(shown), LAST_STATEMENTS)
        self.assertEqual(shown[0], f"SELECT {total - LAST_STATEMENTS}")  # the oldest kept ...
        self.assertIn(f"\n  {total - LAST_STATEMENTS + 1:>2}. SELECT", report)  # ... numbered as the test ran them
        cut = shown[-2]
        self.assertTrue(cut.startswith("SELECT 0 AS column_0") and cut.endswith("AS column_99 WHERE true"), cut)
        self.assertIn("characters cut]", cut)
        self.assertLess(len(cut), STATEMENT_CHARS + 50)
        parameters = re.search(r"parameters: (.*)$", report.split(HEADING, 1)[1], re.MULTILINE)
        assert parameters is not None
        self.assertIn("characters cut]", parameters[1])
        self.assertLess(len(parameters[1]), PARAMETER_CHARS + 50)

    def test_a_test_that_ran_none(self) -> None:
        class NoSql(PGliteTestCase):
            show_sql_on_failure = True

            def test_fails(self) -> None:
                self.fail("before any SQL")

        self.assertIn(f"{HEADING}: none", only_report(self, NoSql))


def _failing_class(base: type[Any], **attributes: Any) -> type[Any]:
    """A class whose one test runs two statements through the test's objects, then fails."""
    if issubclass(base, AsyncPGliteTestCase):

        async def test_fails(self: Any) -> None:
            await self.session.execute(text("SELECT 'through the session'"))
            await self.session.commit()  # truncating on PGlite: no other connection runs while it is open
            await self.connection.execute(text("SELECT 'through the connection'"))
            self.fail("failed")

    else:

        def test_fails(self: Any) -> None:  # type: ignore[misc]
            self.session.execute(text("SELECT 'through the session'"))
            self.session.commit()  # truncating on PGlite: no other connection runs while it is open
            self.connection.execute(text("SELECT 'through the connection'"))
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 'through the engine'"))
            self.fail("failed")

    return type("Failing", (base,), {"metadata": Base, "test_fails": test_fails, **attributes})


class EveryKindOfClass(unittest.TestCase):
    def test_sync_and_async_in_both_isolations(self) -> None:
        for base in (PGliteTestCase, AsyncPGliteTestCase):
            for isolation in ("transaction", "truncate"):
                with self.subTest(base=base.__name__, isolation=isolation):
                    case = _failing_class(base, isolation=isolation, show_sql_on_failure=True)
                    shown = statements_in(only_report(self, case))
                    expected = ["SELECT 'through the session'", "SELECT 'through the connection'"]
                    if base is PGliteTestCase:
                        expected.append("SELECT 'through the engine'")
                    self.assertEqual(shown, expected)  # the library's own statements (rollback, truncation) are not

    def test_the_applications_own_engine_and_session_routed_to_the_test(self) -> None:
        class Routed(PGliteTestCase):
            database_objects = routing_app.SYNC_OBJECTS
            show_sql_on_failure = True

            def test_fails(self) -> None:
                with routing_app.engine.connect() as connection:
                    connection.execute(text("SELECT 'module-level engine'"))
                routing_app.Session().execute(text("SELECT 'scoped session'"))
                self.fail("failed")

        self.assertEqual(
            statements_in(only_report(self, Routed)), ["SELECT 'module-level engine'", "SELECT 'scoped session'"]
        )


class Switches(unittest.TestCase):
    def test_off_by_default(self) -> None:
        with mock.patch.dict(os.environ, {environment.SHOW_SQL: ""}):
            report = only_report(self, _failing_class(PGliteTestCase))
        self.assertIn("AssertionError: failed", report)
        self.assertNotIn(HEADING, report)

    def test_the_environment_variable_and_the_class_attribute_that_wins(self) -> None:
        with mock.patch.dict(os.environ, {environment.SHOW_SQL: "1"}):
            self.assertIn(HEADING, only_report(self, _failing_class(PGliteTestCase)))
            self.assertIn(HEADING, only_report(self, _failing_class(AsyncPGliteTestCase)))
            self.assertNotIn(HEADING, only_report(self, _failing_class(PGliteTestCase, show_sql_on_failure=False)))

    def test_a_bad_value_is_refused_naming_the_class_the_attribute_and_what_is_accepted(self) -> None:
        report = only_report(self, _failing_class(PGliteTestCase, show_sql_on_failure="yes"))
        self.assertIn(ConfigurationError.__name__, report)
        self.assertIn("Failing.show_sql_on_failure = 'yes' is not accepted: expected True, False, or None", report)
        self.assertIn(environment.SHOW_SQL, report)


@unittest.skipIf(sys.version_info < (3, 11), "exception notes are printed from Python 3.11")
class ResultsThatKeepNoText(unittest.TestCase):
    def test_another_runners_result_gets_them_as_a_note_on_the_exception(self) -> None:
        class Recording(unittest.TestResult):
            """A result of another runner: it keeps the exceptions, not unittest's report text."""

            def __init__(self) -> None:
                super().__init__()
                self.errors = self.failures = None  # type: ignore[assignment]
                self.exceptions: list[BaseException] = []

            def addFailure(self, test: Any, err: Any) -> None:
                self.exceptions.append(err[1])

        result = Recording()
        case = _failing_class(PGliteTestCase, show_sql_on_failure=True)
        unittest.TestSuite([case("test_fails")]).run(result)
        (failure,) = result.exceptions
        self.assertIn("SELECT 'through the engine'", "\n".join(getattr(failure, "__notes__", [])))


class WhatPythonMinusMUnittestPrints(unittest.TestCase):
    def test_the_statements_are_in_the_printed_report_of_sync_and_async_tests(self) -> None:
        module = textwrap.dedent(
            """
            from sqlalchemy import text

            from pglite_testcase import AsyncPGliteTestCase, PGliteTestCase


            class SyncTests(PGliteTestCase):
                def test_fails(self):
                    self.connection.execute(text("SELECT 'sync', :n"), {"n": 1})
                    self.assertEqual(1, 2)


            class AsyncTests(AsyncPGliteTestCase):
                async def test_errors(self):
                    await self.session.execute(text("SELECT 'async'"))
                    raise ValueError("async broke")
            """
        )
        with tempfile.TemporaryDirectory(prefix="show-sql-") as directory:
            (Path(directory) / "test_shown.py").write_text(module)
            env = {**os.environ, environment.SHOW_SQL: "1"}
            env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
            child = subprocess.run(
                [sys.executable, "-m", "unittest", "test_shown"],
                cwd=directory,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,  # a bound against a hang, not a timing
            )
        self.assertEqual(child.returncode, 1, child.stderr)
        self.assertIn("FAILED (failures=1, errors=1)", child.stderr)
        failure = child.stderr.split("FAIL: test_fails")[1].split("=" * 70)[0]
        self.assertIn("AssertionError: 1 != 2", failure)
        self.assertIn("1. SELECT 'sync', %(n)s", failure)
        self.assertIn("parameters: {'n': 1}", failure)
        error = child.stderr.split("ERROR: test_errors")[1].split("=" * 70)[0]
        self.assertIn("ValueError: async broke", error)
        self.assertIn("1. SELECT 'async'", error)


if __name__ == "__main__":
    unittest.main()
