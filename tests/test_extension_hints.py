"""An extension's function, operator or type used without the extension: the error says which to add.

Every row of ``extension_hints.OBJECTS`` is used here, by a statement of its own, without its
extension (the error must name it and the class) and, on PGlite, with it (the statement must work,
so the table names the right extension). The hint reaches the user both ways a schema or a test
can fail: the schema build's error, and the error of a statement in a test (whose type is kept).
"""

from __future__ import annotations

import shutil
import unittest
from typing import Any

import sqlalchemy.exc
from sqlalchemy import Column, Integer, MetaData, Table, text

from pglite_testcase import AlembicMigrationsTestCase, AsyncPGliteTestCase, PGliteTestCase, environment
from pglite_testcase.database.extension_hints import OBJECTS, ExtensionObject, missing_object, missing_object_hint
from pglite_testcase.database.extensions import EXTENSIONS, wheel_lacks

from . import alembic_styles, routing_app
from .support import ON_PACKAGE_POSTGRES, ON_SERVER, pglite_only, problems, run_case

UUID = "'6ba7b810-9dad-11d1-80b4-00c04fd430c8'::uuid"

# One statement per row of OBJECTS, using that object and (without its extension) failing on it first.
STATEMENTS: dict[tuple[str, str], str] = {
    ("function", "uuid_generate_v1"): "SELECT uuid_generate_v1()",
    ("function", "uuid_generate_v1mc"): "SELECT uuid_generate_v1mc()",
    ("function", "uuid_generate_v3"): f"SELECT uuid_generate_v3({UUID}, 'x'::text)",
    ("function", "uuid_generate_v4"): "SELECT uuid_generate_v4()",
    ("function", "uuid_generate_v5"): f"SELECT uuid_generate_v5({UUID}, 'x'::text)",
    ("function", "uuid_nil"): "SELECT uuid_nil()",
    ("function", "uuid_ns_dns"): "SELECT uuid_ns_dns()",
    ("function", "similarity"): "SELECT similarity('word'::text, 'words'::text)",
    ("function", "word_similarity"): "SELECT word_similarity('word'::text, 'two words'::text)",
    ("function", "strict_word_similarity"): "SELECT strict_word_similarity('word'::text, 'two words'::text)",
    ("function", "show_trgm"): "SELECT show_trgm('word'::text)",
    ("operator", "%"): "SELECT 'word'::text % 'words'::text",
    ("operator", "<%"): "SELECT 'word'::text <% 'two words'::text",
    ("operator", "%>"): "SELECT 'two words'::text %> 'word'::text",
    ("operator", "<<%"): "SELECT 'word'::text <<% 'two words'::text",
    ("operator", "%>>"): "SELECT 'two words'::text %>> 'word'::text",
    ("operator", "<->"): "SELECT 'word'::varchar <-> 'words'::text",
    ("operator", "<<->"): "SELECT 'word'::text <<-> 'two words'::text",
    ("operator", "<->>"): "SELECT 'two words'::text <->> 'word'::text",
    ("function", "crypt"): "SELECT crypt('secret'::text, '$1$saltsalt'::text)",
    ("function", "gen_salt"): "SELECT gen_salt('bf'::text)",
    ("function", "digest"): "SELECT digest('a'::text, 'sha256'::text)",
    ("function", "hmac"): "SELECT hmac('a'::text, 'key'::text, 'sha256'::text)",
    ("function", "gen_random_bytes"): "SELECT gen_random_bytes(4)",
    ("function", "pgp_sym_encrypt"): "SELECT pgp_sym_encrypt('a'::text, 'key'::text)",
    ("function", "pgp_sym_decrypt"): "SELECT pgp_sym_decrypt(NULL::bytea, 'key'::text)",
    ("function", "armor"): "SELECT armor('\\x00'::bytea)",
    ("function", "dearmor"): "SELECT dearmor(NULL::text)",
    ("function", "levenshtein"): "SELECT levenshtein('kitten'::text, 'sitting'::text)",
    ("function", "soundex"): "SELECT soundex('Robert'::text)",
    ("function", "difference"): "SELECT difference('Robert'::text, 'Rupert'::text)",
    ("function", "metaphone"): "SELECT metaphone('Thompson'::text, 4)",
    ("function", "dmetaphone"): "SELECT dmetaphone('Thompson'::text)",
    ("function", "unaccent"): "SELECT unaccent('Hôtel'::text)",
    ("function", "normal_rand"): "SELECT normal_rand(1, 0::float8, 1::float8)",
    (
        "function",
        "crosstab",
    ): "SELECT * FROM crosstab('SELECT ''a''::text, ''b''::text, ''c''::text') AS t(r text, c text)",
    ("function", "uuid_generate_v7"): "SELECT uuid_generate_v7()",
    **{("type", name): f"SELECT NULL::{name}" for name in ("vector", "halfvec", "sparsevec", "hstore", "citext")},
    **{("type", name): f"SELECT NULL::{name}" for name in ("ltree", "lquery", "ltxtquery", "cube", "seg")},
    **{("type", name): f"SELECT NULL::{name}" for name in ("ean13", "isbn", "isbn13", "issn")},
}


# The extensions of the table the postgres backend's server lacks (its wheel is built without them).
LACKING = wheel_lacks("PGLITE_TESTCASE_BACKEND") if ON_PACKAGE_POSTGRES else frozenset()

# A function every backend has in an extension (the postgres backend's wheel lacks uuid-ossp), used
# without the extension by the tests of where the hint shows.
MISSING_CALL = "SELECT levenshtein('a', 'b')"


def expected_hint(item: ExtensionObject, owner: str, listed: tuple[str, ...] = ()) -> list[str]:
    """What the error must say: the extension, and the extensions attribute to set on the class (on the
    postgres backend, for an extension its wheel lacks: PGlite instead)."""
    if ON_PACKAGE_POSTGRES and EXTENSIONS[item.extension].sql_name in LACKING:
        return [f"it comes with the {item.extension} extension", "built without", f"backend = 'pglite' on {owner}"]
    fragments = [
        f"it comes with the {item.extension} extension",
        f"add extensions = {[*listed, item.extension]!r} to {owner}",
    ]
    if ON_SERVER:
        fragments.append(f'CREATE EXTENSION IF NOT EXISTS "{EXTENSIONS[item.extension].sql_name}"')
    return fragments


class TheTable(unittest.TestCase):
    def test_every_row_has_a_statement_here_and_an_extension_the_attribute_accepts(self) -> None:
        self.assertEqual(sorted(STATEMENTS), sorted((item.kind, item.name) for item in OBJECTS))
        for item in OBJECTS:
            self.assertIn(item.extension, EXTENSIONS, item)

    def test_messages_of_other_objects_get_no_hint(self) -> None:
        self.assertIsNone(missing_object("function my_own_function() does not exist"))
        self.assertIsNone(missing_object("operator does not exist: integer % text"))  # % on numbers is core
        self.assertIsNone(missing_object('type "my_type" does not exist'))
        # The right SQLSTATE, when the error carries one: 42883 for functions and operators, 42704 for types.
        self.assertIsNone(missing_object("function similarity(text, text) does not exist", "42704"))
        self.assertIsNone(missing_object('type "vector" does not exist', "42883"))
        self.assertEqual(missing_object('type "public.vector[]" does not exist', "42704").name, "vector")  # type: ignore[union-attr]
        self.assertEqual(missing_object("function public.similarity(text, text) does not exist").name, "similarity")  # type: ignore[union-attr]


class WhatTheServerLacks(unittest.TestCase):
    """On the postgres backend, an extension its wheel lacks: the hint names what works instead, in one step."""

    MESSAGE = "function uuid_generate_v4() does not exist"

    def test_an_extension_the_server_lacks_gets_pglite_or_core_instead(self) -> None:
        hint = missing_object_hint(self.MESSAGE, "Tokens", (), on_server=True, lacking=frozenset({"uuid-ossp"}))
        assert hint is not None
        self.assertIn("it comes with the uuid-ossp extension", hint)
        self.assertIn("built without", hint)
        self.assertIn("set backend = 'pglite' on Tokens", hint)
        self.assertIn("gen_random_uuid() needs no extension", hint)
        self.assertNotIn("add extensions", hint)

    def test_an_extension_the_server_may_have_gets_the_attribute_to_add(self) -> None:
        hint = missing_object_hint(self.MESSAGE, "Tokens", (), on_server=True, lacking=frozenset({"pgcrypto"}))
        assert hint is not None
        self.assertIn("add extensions = ['uuid-ossp'] to Tokens", hint)
        self.assertNotIn("built without", hint)


def _without(item: ExtensionObject) -> Any:
    def test(self: PGliteTestCase) -> None:
        with self.assertRaises(sqlalchemy.exc.ProgrammingError) as caught:  # the type the test catches, as before
            self.connection.execute(text(STATEMENTS[item.kind, item.name]))
        message = str(caught.exception)
        for fragment in expected_hint(item, "UsedWithoutTheirExtension"):
            self.assertIn(fragment, message)
        self.assertIn(item.describe(), message)
        if ON_SERVER and EXTENSIONS[item.extension].sql_name not in LACKING:
            self.assertNotIn("PGlite", message)

    return test


# PGlite 0.5's pgcrypto (PostgreSQL 18) has these functions but none of the OpenSSL ciphers behind
# them: they exist (no 42883), and fail when run ("crypt(3) returned NULL", "Cipher cannot be initialized").
_NO_CIPHERS_ON_PGLITE_18 = {"crypt", "digest", "hmac", "pgp_sym_encrypt"}


def _with(item: ExtensionObject) -> Any:
    def test(self: PGliteTestCase) -> None:
        if item.name in _NO_CIPHERS_ON_PGLITE_18 and not ON_SERVER and environment.postgres_version() == 18:
            self.skipTest("PGlite 0.5's pgcrypto runs no OpenSSL cipher")
        self.connection.execute(text(STATEMENTS[item.kind, item.name]))

    return test


class UsedWithoutTheirExtension(PGliteTestCase):
    """A test per row: the row's object used in a class without its extension."""


# On PGlite 0.5, pg_trgm's % traps (a null function) with some other extensions loaded, seg or
# the other twelve here, depending on the order their bundles finish loading: the server stops
# that PGlite with the trap's message. pg_trgm's rows have a class of their own.
_APART = "pg_trgm"


@pglite_only
class UsedWithTheirExtension(PGliteTestCase):
    """A test per row: with its extension, the row's statement works (the table names the right one)."""

    extensions = sorted({item.extension for item in OBJECTS} - {_APART})


@pglite_only
class UsedWithPgTrgm(PGliteTestCase):
    extensions = [_APART]


for _item in OBJECTS:
    _name = f"test_{_item.kind}_{''.join(c if c.isalnum() or c == '_' else f'_{ord(c)}' for c in _item.name)}"
    setattr(UsedWithoutTheirExtension, _name, _without(_item))
    setattr(UsedWithPgTrgm if _item.extension == _APART else UsedWithTheirExtension, _name, _with(_item))


class OtherExtensionsListed(PGliteTestCase):
    extensions = ["pg_trgm"]

    def test_the_hint_lists_them_with_the_missing_one(self) -> None:
        with self.assertRaises(sqlalchemy.exc.ProgrammingError) as caught:
            self.connection.execute(text(MISSING_CALL))
        self.assertIn("add extensions = ['pg_trgm', 'fuzzystrmatch'] to OtherExtensionsListed", str(caught.exception))

    def test_a_listed_extension_gets_no_hint(self) -> None:
        # pg_trgm is there: its function with other argument types is the user's mistake, not a missing extension.
        with self.assertRaises(sqlalchemy.exc.ProgrammingError) as caught:
            self.connection.execute(text("SELECT similarity(1, 2)"))
        self.assertIn("function similarity(integer, integer) does not exist", str(caught.exception))
        self.assertNotIn("it comes with", str(caught.exception))


def _uses_a_missing_function(test: Any) -> Any:
    return test.connection.execute(text(MISSING_CALL))


class EveryWayATestReachesTheDatabase(unittest.TestCase):
    """The hint is in the error the test reports, through each of the test's objects and strategies."""

    def assert_reported_with_hint(self, case: type[unittest.TestCase]) -> None:
        result = run_case(case)
        self.assertEqual(len(result.errors), result.testsRun, problems(result))
        for _, report in result.errors:
            self.assertIn("ProgrammingError", report)
            self.assertIn(f"add extensions = ['fuzzystrmatch'] to {case.__qualname__}", report)

    def test_sync_session_engine_and_connection_in_both_isolations(self) -> None:
        for isolation in ("transaction", "truncate"):

            class Sync(PGliteTestCase):
                def test_session(self) -> None:
                    self.session.execute(text(MISSING_CALL))

                def test_connection(self) -> None:
                    self.connection.execute(text(MISSING_CALL))

                def test_engine(self) -> None:
                    with self.engine.connect() as connection:
                        connection.execute(text(MISSING_CALL))

            Sync.isolation = isolation
            with self.subTest(isolation):
                self.assert_reported_with_hint(Sync)

    def test_async_in_both_isolations(self) -> None:
        for isolation in ("transaction", "truncate"):

            class Async(AsyncPGliteTestCase):
                async def test_connection(self) -> None:
                    await self.connection.execute(text(MISSING_CALL))

                async def test_session(self) -> None:
                    await self.session.execute(text(MISSING_CALL))

            Async.isolation = isolation
            with self.subTest(isolation):
                self.assert_reported_with_hint(Async)

    def test_the_applications_own_engine_routed_to_the_test(self) -> None:
        class Routed(PGliteTestCase):
            database_objects = routing_app.SYNC_OBJECTS

            def test_module_level_engine(self) -> None:
                with routing_app.engine.connect() as connection:
                    connection.execute(text(MISSING_CALL))

            def test_module_level_scoped_session(self) -> None:
                routing_app.Session().execute(text(MISSING_CALL))

        self.assert_reported_with_hint(Routed)

    def test_create_extension_of_a_bundle_the_class_did_not_ask_for(self) -> None:
        class CreatesIt(PGliteTestCase):
            def test_create(self) -> None:
                self.connection.execute(text("CREATE EXTENSION pg_trgm"))

        result = run_case(CreatesIt)
        if ON_SERVER:  # the server has it installed (so does the postgres backend's wheel): creating it works
            self.assertTrue(result.wasSuccessful(), problems(result))
        else:
            self.assertIn("extensions = ['pg_trgm']", problems(result))


class SchemaBuilds(unittest.TestCase):
    """A schema that uses an extension's function or type: the build's error names the class and what to add."""

    def assert_hint(self, report: str, owner: str, extension: str) -> None:
        self.assertIn(f"it comes with the {extension} extension", report)
        self.assertIn(f"add extensions = [{extension!r}] to {owner}", report)
        if ON_SERVER:
            self.assertIn("CREATE EXTENSION IF NOT EXISTS", report)
            self.assertNotIn("PGlite", report.split("it comes with")[1])

    def test_create_all_with_a_function_default(self) -> None:
        metadata = MetaData()
        key = Column("key", Integer, server_default=text("levenshtein('a', 'b')"))
        Table("tokens", metadata, Column("id", Integer, primary_key=True), key)

        class FunctionDefault(PGliteTestCase):
            def test_never_runs(self) -> None:
                raise AssertionError("no schema: no test")

        FunctionDefault.metadata = metadata
        result = run_case(FunctionDefault)
        self.assertIn("SchemaBuildError", problems(result))
        self.assert_hint(problems(result), FunctionDefault.__qualname__, "fuzzystrmatch")

    def test_alembic_migration_with_an_extension_type(self) -> None:
        ini = alembic_styles.script_directory_executing("CREATE TABLE users (id serial PRIMARY KEY, email citext)")
        self.addCleanup(shutil.rmtree, ini.parent, ignore_errors=True)
        migrated = type("CitextColumn", (PGliteTestCase,), {"alembic_config": str(ini), "test_runs": lambda self: None})
        result = run_case(migrated)
        self.assertIn("SchemaBuildError", problems(result))
        self.assert_hint(problems(result), "CitextColumn", "citext")
        checks = type("CitextChecks", (AlembicMigrationsTestCase,), {"alembic_config": str(ini)})
        checked = run_case(checks)
        self.assert_hint(problems(checked), "CitextChecks", "citext")
