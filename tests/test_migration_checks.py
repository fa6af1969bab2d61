"""AlembicMigrationsTestCase: each check fails on a migration set broken for it, and passes on sound ones.

The check classes are built inside the tests and run with ``run_case``; the
sets are in ``tests/migration_sets``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import unittest
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from alembic.config import Config
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from pglite_testcase import AlembicMigrationsTestCase
from pglite_testcase.database.provision import fresh_database
from pglite_testcase.migrations import checks as migration_checks
from pglite_testcase.migrations.checks import CHECKS

from .migration_sets import models
from .support import ALEMBIC_OWN_ENGINE, ON_SERVER, run_case, server_only

SETS = Path(__file__).resolve().parent / "migration_sets"
ALL_PASSED = {check: "passed" for check in CHECKS}


def checks_for(migration_set: str | None = None, **attributes: Any) -> type[AlembicMigrationsTestCase]:
    """A check class over ``tests/migration_sets/<migration_set>``, or over the ``alembic_config`` given."""
    if migration_set is not None:
        attributes["alembic_config"] = str(SETS / migration_set / "alembic.ini")
    return type("Checks", (AlembicMigrationsTestCase,), attributes)


def run_checks(case: type[unittest.TestCase]) -> tuple[dict[str, str], dict[str, str]]:
    """Run ``case``: each check's fate ("passed", "failed", "error", "skipped") and its message."""
    result = run_case(case)
    fates = {check: "passed" for check in CHECKS}
    messages: dict[str, str] = {}
    outcomes = [("failed", result.failures), ("error", result.errors), ("skipped", result.skipped)]
    for fate, entries in outcomes:
        for test, report in entries:
            name = getattr(test, "_testMethodName", "setUpClass").removeprefix("test_")
            fates[name] = fate
            # A failure's own message comes last, after the exception it was raised from.
            messages[name] = report.rsplit("\nAssertionError: ", 1)[-1].strip() if fate == "failed" else report
    return fates, messages


@dataclass
class Recorded:
    url: str
    node: subprocess.Popen[bytes] | None = None  # PGlite's node process
    private_dir: Path | None = None

    def is_gone(self) -> bool:
        """Whether the database was stopped (PGlite) or dropped (a server's)."""
        if self.node is not None and self.private_dir is not None:
            return self.node.poll() is not None and not self.private_dir.exists()
        url = make_url(self.url)
        engine = create_engine(url.set(database="postgres"), poolclass=NullPool)
        try:
            with engine.connect() as connection:
                found = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database})
        finally:
            engine.dispose()
        return found is None


@contextmanager
def recorded_databases() -> Iterator[list[Recorded]]:
    """Every fresh database the checks open, in order."""
    recorded: list[Recorded] = []
    real = fresh_database

    @contextmanager
    def recording(*args: Any, **kwargs: Any) -> Iterator[Any]:
        with real(*args, **kwargs) as database:
            process = getattr(database, "process", None)
            recorded.append(
                Recorded(
                    database.url.render_as_string(hide_password=False),
                    getattr(process, "process", None),
                    getattr(process, "private_dir", None),
                )
            )
            yield database

    with mock.patch.object(migration_checks, "fresh_database", recording):
        yield recorded


class ChecksFailWhenTheyShould(unittest.TestCase):
    def test_two_heads(self) -> None:
        fates, messages = run_checks(checks_for("two_heads", skip_checks=set(CHECKS) - {"single_head_revision"}))
        self.assertEqual(fates["single_head_revision"], "failed")
        self.assertEqual(
            messages["single_head_revision"],
            "expected exactly one head revision, found 2: 'b2' (b2_notes.py, after 'a1'), "
            "'c2' (c2_tags.py, after 'a1'). Join them with `alembic merge heads`.",
        )

    def test_a_migration_that_raises(self) -> None:
        fates, messages = run_checks(checks_for("raises", metadata=models.two_heads))
        self.assertEqual(
            fates,
            {
                "single_head_revision": "passed",
                "upgrade": "failed",
                "model_definitions_match_ddl": "failed",
                "stairway": "failed",
                "downgrade_to_base": "failed",
            },
        )
        self.assertRegex(
            messages["upgrade"],
            r"^upgrade from an empty database to 'heads' failed in revision 'b2' \(down_revision 'a1', "
            r"b2_fails.py, in upgrade\(\)\): ProgrammingError: .*relation \"no_such_table\" does not exist",
        )
        self.assertRegex(
            messages["stairway"],
            r"^stairway at revision 'b2' \(2 of 2, b2_fails.py\), step 1 of 3 \(upgrade to 'b2'\) failed "
            r"in revision 'b2' .*no_such_table",
        )
        for check in ("model_definitions_match_ddl", "downgrade_to_base"):
            self.assertIn("upgrade from an empty database to 'heads' failed in revision 'b2'", messages[check])

    def test_a_model_column_with_no_migration(self) -> None:
        only_models = set(CHECKS) - {"model_definitions_match_ddl"}
        fates, messages = run_checks(
            checks_for("missing_column", metadata=models.missing_column, skip_checks=only_models)
        )
        self.assertEqual(fates["model_definitions_match_ddl"], "failed")
        self.assertEqual(
            messages["model_definitions_match_ddl"].splitlines(),
            [
                (
                    "the models differ from the database the migrations build (2 differences, as "
                    "`alembic revision --autogenerate` sees them):"
                ),
                "  add_column accounts.nickname VARCHAR(50): in the models, not in the migrated database",
                "  modify_type accounts.email: the migrations give type VARCHAR(200), the models VARCHAR(320)",
            ],
        )

    def test_a_downgrade_that_forgets_to_drop_a_table(self) -> None:
        fates, messages = run_checks(checks_for("forgets_drop"))
        self.assertEqual(
            fates,
            {
                "single_head_revision": "passed",
                "upgrade": "passed",
                "model_definitions_match_ddl": "skipped",
                "stairway": "failed",
                "downgrade_to_base": "failed",
            },
        )
        self.assertEqual(
            messages["downgrade_to_base"].splitlines(),
            [
                (
                    "after a downgrade to base the database still holds 4 objects the migrations created (a "
                    "downgrade() does not drop them; Alembic's version table, 'alembic_version', does not count):"
                ),
                "  sequence public.ticket_numbers",
                "  table public.notes",
                "  type (enum) public.mood",
                "  view public.note_bodies",
            ],
        )
        self.assertRegex(
            messages["stairway"],
            r"^stairway at revision 'b2' \(2 of 2, b2_notes.py\), step 3 of 3 \(upgrade to 'b2' again\) failed "
            r"in revision 'b2' \(down_revision 'a1', b2_notes.py, in upgrade\(\)\): ProgrammingError: .*already exists",
        )
        self.assertIn("metadata is not set", messages["model_definitions_match_ddl"])

    def test_a_data_migration_that_cannot_run_twice(self) -> None:
        """alembic_ok's a3 inserts a row its downgrade keeps: upgrading again breaks a unique key.

        Its env.py ignores the offered connection and connects on its own: the checks work with that too.
        """
        fates, messages = run_checks(checks_for(alembic_config=str(ALEMBIC_OWN_ENGINE)))
        self.assertEqual(fates, {**ALL_PASSED, "model_definitions_match_ddl": "skipped", "stairway": "failed"})
        self.assertRegex(
            messages["stairway"],
            r"^stairway at revision 'a3' \(3 of 3, a3_account_name.py\), step 3 of 3 \(upgrade to 'a3' again\) "
            r"failed in revision 'a3' .*UniqueViolation",
        )


class ChecksPassOnSoundMigrations(unittest.TestCase):
    def test_every_check_passes_each_on_an_empty_database_of_its_own(self) -> None:
        """Tables, a foreign key, an index, an enum, a view, a sequence, a version table of its own name."""
        with recorded_databases() as databases:
            fates, messages = run_checks(checks_for("clean", metadata=models.clean, version_table="schema_history"))
        self.assertEqual(fates, ALL_PASSED, messages)
        # upgrade, models, stairway (one database for its whole walk), downgrade; the head check needs none.
        # On a server each gets a database; on PGlite the class keeps one instance, emptied between checks.
        expected = 4 if ON_SERVER else 1
        self.assertEqual(len(databases), expected)
        self.assertEqual(len({database.url for database in databases}), expected)
        self.assertTrue(all(database.is_gone() for database in databases))

    def test_a_check_that_changes_more_than_schemas_gives_the_next_one_a_new_pglite(self) -> None:
        """Emptying drops schemas and extensions: a role left behind means the next check starts a new instance."""
        if ON_SERVER:
            self.skipTest("on a server every check gets a database of its own")
        kept = migration_checks.EmptiedPGlite(frozenset())
        driver = migration_checks.choose_sync_driver(type(self), None, None)
        try:
            first = kept.take(driver)
            engine = first.create_engine(driver, poolclass=NullPool)
            with engine.begin() as connection:
                connection.execute(text("CREATE TABLE leftover (id int)"))
            engine.dispose()
            self.assertIs(kept.take(driver), first)  # schemas only: emptied, kept
            engine = first.create_engine(driver, poolclass=NullPool)
            with engine.begin() as connection:
                self.assertIsNone(connection.execute(text("SELECT to_regclass('public.leftover')")).scalar())
                connection.execute(text("CREATE ROLE pgtc_leftover_role"))
            engine.dispose()
            second = kept.take(driver)
            self.assertIsNot(second, first)
            self.assertFalse(first.is_alive())
        finally:
            kept.release()

    def test_the_version_table_attribute_names_what_is_left_out(self) -> None:
        """The clean set's env.py names its version table schema_history: by default, it counts."""
        only = {"model_definitions_match_ddl", "downgrade_to_base"}
        fates, messages = run_checks(checks_for("clean", metadata=models.clean, skip_checks=set(CHECKS) - only))
        self.assertEqual(fates["downgrade_to_base"], "failed")
        self.assertEqual(messages["downgrade_to_base"].splitlines()[1:], ["  table public.schema_history"])
        self.assertIn("Alembic's version table, 'alembic_version', does not count", messages["downgrade_to_base"])
        self.assertEqual(
            messages["model_definitions_match_ddl"].splitlines()[1:],
            ["  remove_table schema_history: in the migrated database, not in the models"],
        )

    def test_a_branched_and_merged_history(self) -> None:
        """Two branches and their merge: the stairway steps down one branch at a time, and from the merge."""
        fates, messages = run_checks(checks_for("merged", metadata=models.merged))
        self.assertEqual(fates, ALL_PASSED, messages)

    def test_a_config_object_is_given_back_as_it_was(self) -> None:
        config = Config(str(SETS / "clean" / "alembic.ini"))
        config.attributes["connection"] = marker = object()
        fates, messages = run_checks(
            checks_for(alembic_config=config, version_table="schema_history", skip_checks={"stairway"})
        )
        self.assertEqual(
            fates, {**ALL_PASSED, "model_definitions_match_ddl": "skipped", "stairway": "skipped"}, messages
        )
        self.assertEqual(config.get_main_option("sqlalchemy.url"), "postgresql+psycopg://placeholder/placeholder")
        self.assertIs(config.attributes["connection"], marker)


class Configuration(unittest.TestCase):
    def test_only_configured_subclasses_have_checks(self) -> None:
        # Importing the base class into a test module must add no test (not even a skip).
        self.assertEqual(
            unittest.defaultTestLoader.loadTestsFromTestCase(AlembicMigrationsTestCase).countTestCases(), 0
        )
        unconfigured = type("Abstract", (AlembicMigrationsTestCase,), {"metadata": None})
        self.assertEqual(unittest.defaultTestLoader.loadTestsFromTestCase(unconfigured).countTestCases(), 0)
        configured = type("Checks", (unconfigured,), {"alembic_config": str(SETS / "clean" / "alembic.ini")})
        names = unittest.defaultTestLoader.getTestCaseNames(configured)
        self.assertEqual(sorted(names), sorted(f"test_{check}" for check in CHECKS))

    def test_skip_checks(self) -> None:
        fates, messages = run_checks(checks_for("two_heads", skip_checks=("upgrade", "stairway", "downgrade_to_base")))
        self.assertEqual(fates["stairway"], "skipped")
        self.assertEqual(messages["stairway"], "Checks.skip_checks names 'stairway'")
        self.assertEqual(
            messages["model_definitions_match_ddl"],
            "Checks.metadata is not set: no models to compare the migrations with",
        )

    def test_bad_attributes_fail_set_up_class_naming_the_attribute(self) -> None:
        with tempfile.TemporaryDirectory() as directory:
            no_scripts = Path(directory) / "alembic.ini"
            no_scripts.write_text(f"[alembic]\nscript_location = {directory}/missing\n")
            cases: list[tuple[dict[str, Any], str]] = [
                (
                    {"alembic_config": "no/such/alembic.ini"},
                    "Checks.alembic_config = 'no/such/alembic.ini' is not accepted: "
                    "expected the path of an existing alembic.ini",
                ),
                ({"alembic_config": 42}, "Checks.alembic_config = 42 is not accepted"),
                ({"alembic_config": str(no_scripts)}, "an Alembic configuration whose script directory can be read"),
                (
                    {"metadata": "models.Base"},
                    "Checks.metadata = 'models.Base' is not accepted: expected a sqlalchemy.MetaData",
                ),
                (
                    {"version_table": ""},
                    "Checks.version_table = '' is not accepted: expected the name of Alembic's version table",
                ),
                (
                    {"skip_checks": "stairway"},
                    "Checks.skip_checks = 'stairway' is not accepted: expected a set of check names",
                ),
                (
                    {"skip_checks": {"stairs"}},
                    "Checks.skip_checks = {'stairs'} is not accepted: expected a set of check names, e.g. "
                    "{'stairway'}; the checks are 'single_head_revision', 'upgrade', "
                    "'model_definitions_match_ddl', 'stairway', 'downgrade_to_base' (not 'stairs').",
                ),
                ({"server_url": "mysql://localhost/x"}, "Checks.server_url = 'mysql://localhost/x' is not accepted"),
            ]
            for attributes, expected in cases:
                with self.subTest(**{key: repr(value) for key, value in attributes.items()}):
                    if "alembic_config" not in attributes:
                        attributes = {**attributes, "alembic_config": str(SETS / "clean" / "alembic.ini")}
                    result = run_case(type("Checks", (AlembicMigrationsTestCase,), attributes))
                    self.assertEqual(len(result.errors), 1, result.errors)
                    self.assertIn("setUpClass", str(result.errors[0][0]))
                    self.assertIn("ConfigurationError", result.errors[0][1])
                    self.assertIn(expected, result.errors[0][1])

    def test_metadata_may_be_a_declarative_base(self) -> None:
        from .models import Base  # declarative_base(): both SQLAlchemy lines

        case = checks_for("clean", metadata=Base, skip_checks=set(CHECKS) - {"single_head_revision"})
        case.setUpClass()
        self.assertIs(case._checks.metadata, Base.metadata)
        self.assertIsInstance(case._checks.metadata, MetaData)


class ChecksOfYourOwn(unittest.TestCase):
    def test_migrator_runs_steps_on_a_fresh_database(self) -> None:
        class DataChecks(AlembicMigrationsTestCase):
            alembic_config = str(SETS / "clean" / "alembic.ini")
            skip_checks = set(CHECKS)

            def test_accounts_survive_the_notes_migration(self) -> None:
                with self.migrator() as migrator:
                    migrator.upgrade("a1")
                    migrator.connection.execute(text("INSERT INTO accounts (email) VALUES ('a@example.com')"))
                    migrator.connection.commit()
                    self.run_step(migrator.upgrade, "b2", "upgrade to 'b2'")
                    self.assertEqual(migrator.connection.scalar(text("SELECT email FROM accounts")), "a@example.com")
                    self.assertEqual(migrator.connection.scalar(text("SELECT count(*) FROM notes")), 0)

        result = run_case(DataChecks)
        self.assertEqual((result.testsRun, len(result.skipped)), (6, 5))
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)


@server_only
class OnAServerNamedByTheClass(unittest.TestCase):
    def test_server_url_attribute(self) -> None:
        url = os.environ["PGLITE_TESTCASE_DATABASE_URL"]
        with mock.patch.dict(os.environ), recorded_databases() as databases:
            del os.environ["PGLITE_TESTCASE_DATABASE_URL"]
            only_upgrade = set(CHECKS) - {"upgrade"}
            fates, messages = run_checks(checks_for("clean", server_url=url, skip_checks=only_upgrade))
        self.assertEqual(fates["upgrade"], "passed", messages)
        self.assertEqual(len(databases), 1)
        self.assertIn("/pglite_testcase_run_", databases[0].url)
        self.assertTrue(databases[0].is_gone())


if __name__ == "__main__":
    unittest.main()
