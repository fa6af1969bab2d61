"""Every extension the pinned PGlite packages ship is available, by the name the docs give."""

from __future__ import annotations

import unittest

from sqlalchemy import text

from pglite_testcase import PGliteTestCase
from pglite_testcase.database.extensions import EXTENSIONS, registrations
from pglite_testcase.errors import ConfigurationError

from .extensions_doc import DOC, listed_modules, markdown, shipped_modules
from .support import pglite_only


class ShippedAndListed(unittest.TestCase):
    def test_the_list_is_what_each_pinned_pglite_ships(self) -> None:
        for major in (17, 18):
            with self.subTest(postgres_version=major):
                shipped = shipped_modules(major)
                listed = listed_modules(major)
                self.assertEqual(sorted(shipped - listed), [], "shipped, missing from extensions.py")
                self.assertEqual(sorted(listed - shipped), [], "in extensions.py, not shipped")

    def test_the_docs_page_is_generated_from_the_list(self) -> None:
        self.assertEqual(DOC.read_text(), markdown(), "run: python -m tests.extensions_doc")

    def test_an_extension_of_the_other_line_is_refused_naming_the_fix(self) -> None:
        with self.assertRaises(ConfigurationError) as caught:
            registrations(frozenset({"pg_stat_statements"}), 17)
        self.assertIn("set postgres_version = 18", str(caught.exception))


def _names(major: int) -> list[str]:
    # One spelling each (uuid-ossp and uuid_ossp, pgvector and vector register the same bundle).
    chosen: dict[str, str] = {}
    for name in sorted(EXTENSIONS):
        extension = EXTENSIONS[name]
        if major in extension.majors:
            chosen.setdefault(extension.module, name)
    return sorted(chosen.values())


class _EveryExtension(PGliteTestCase):
    postgres_version = 17

    def test_every_listed_extension_is_created(self) -> None:
        created = set(self.connection.scalars(text("SELECT extname FROM pg_extension")))
        wanted = {EXTENSIONS[name].sql_name for name in type(self).extensions} - {None}
        self.assertEqual(sorted(wanted - created), [])


@pglite_only
class EveryExtensionOn17(_EveryExtension):
    postgres_version = 17
    extensions = _names(17)


@pglite_only
class EveryExtensionOn18(_EveryExtension):
    postgres_version = 18
    extensions = _names(18)


del _EveryExtension
