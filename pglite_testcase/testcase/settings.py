"""A test class's attributes and the environment, checked once in ``setUpClass``.

Every bad value is refused with one message naming the class, the attribute,
the value given and what is accepted.
"""

from __future__ import annotations

import inspect
import marshal
import math
import warnings
from collections.abc import Callable, Collection
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData
from sqlalchemy.engine import URL

from .. import environment
from ..compat import SQLALCHEMY_2
from ..database.extensions import WithExtensions, read_extensions, read_postgres_extensions
from ..database.provision import Request
from ..database.schema import AlembicSchema, EmptySchema, MetadataSchema, SchemaSource
from ..database.server import parse_server_url
from ..drivers import Driver, choose_async_driver, choose_sync_driver
from ..errors import ConfigurationError
from ..runtime.postgres_install import find_install
from .factories import check_factories, check_faker_seed

if TYPE_CHECKING:
    from alembic.config import Config

# PGlite's watchdog counts milliseconds in a 32-bit integer.
MAX_STATEMENT_TIMEOUT = (2**31 - 1) / 1000
ISOLATION_MODES = ("transaction", "truncate")


@dataclass(frozen=True)
class ClassSettings:
    schema: SchemaSource
    driver: Driver  # what the tests' connections use (an asyncio driver in async classes)
    admin_driver: Driver  # the sync driver that builds the schema
    reset_sequences: bool
    pglite_isolated: bool
    server_url: URL | None
    server_source: str  # where server_url came from: the class attribute or the environment variable
    connect_timeout: float
    statement_timeout: float | None
    isolation: str
    factories: tuple[Any, ...]
    extensions: tuple[str, ...]
    faker_seed: int | None
    session_options: dict[str, Any]
    session_class: type | None
    database_objects: tuple[str, ...]
    shared_test_data: frozenset[str]
    postgres_version: int = 17  # PGlite's PostgreSQL major (a real server's is what it is)
    debug_connection: bool = False  # self.debug_url and a psql line printed (testcase/debugging.py)
    show_sql_on_failure: bool = False  # a failing test's report lists its last statements
    backend: str = "pglite"  # the embedded backend, where no server URL is given: "pglite" or "postgres"
    backend_source: str = environment.where(environment.BACKEND)  # what chose it, for errors

    def request(self) -> Request:
        return Request(
            schema=self.schema,
            driver=self.admin_driver,
            extensions=frozenset(self.extensions),
            server_url=self.server_url,
            isolated=self.pglite_isolated,
            statement_timeout=self.statement_timeout,
            server_source=self.server_source,
            connect_timeout=self.connect_timeout,
            postgres_version=self.postgres_version,
            embedded=self.backend,
            embedded_source=self.backend_source,
        )


def attribute(owner: type, name: str) -> tuple[object, str]:
    """A class attribute's value, and how an error names it: ``(value, "Class.name")``."""
    return getattr(owner, name), f"{owner.__qualname__}.{name}"


def _flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError.refused(value, where, "True or False")
    return value


def read_metadata(owner: type, *, required_tables: bool = True) -> MetaData | None:
    value = getattr(owner, "metadata")
    metadata: MetaData | None
    if value is None or isinstance(value, MetaData):
        metadata = value
    elif isinstance(value, type) and isinstance(getattr(value, "metadata", None), MetaData):
        # DeclarativeBase subclasses, declarative_base() classes, SQLModel
        metadata = getattr(value, "metadata")  # noqa: B009
    else:
        raise ConfigurationError.for_attribute(
            owner,
            "metadata",
            value,
            "a sqlalchemy.MetaData, a declarative base class (a DeclarativeBase subclass, declarative_base()), or None",
        )
    if metadata is not None and required_tables and not metadata.tables:
        raise ConfigurationError(
            f"{owner.__qualname__}.metadata = {value!r} has no tables yet: the modules that define the "
            f"models have not been imported when setUpClass ran (a common layout imports them inside the "
            f"app factory). Import them in the test module (e.g. `import myapp.models`) so that create_all "
            f"has something to build, or build the schema from the migrations with alembic_config."
        )
    return metadata


def read_alembic_config(owner: type) -> Config | None:
    value = getattr(owner, "alembic_config")
    if value is None:
        return None
    from alembic.config import Config

    if isinstance(value, Config):
        return _with_script_location(value)
    if isinstance(value, (str, PathLike)):
        path = Path(value)
        if not path.is_file():
            raise ConfigurationError.for_attribute(
                owner,
                "alembic_config",
                value,
                f"the path of an existing alembic.ini (no file at {path.resolve()}), or an alembic.config.Config",
            )
        return _with_script_location(Config(str(path)))
    raise ConfigurationError.for_attribute(
        owner, "alembic_config", value, "a path to alembic.ini (str or pathlib.Path), an alembic.config.Config, or None"
    )


def _with_script_location(config: Config) -> Config:
    """Flask-Migrate's migrations/alembic.ini has no script_location: the scripts are beside it."""
    try:
        location = config.get_main_option("script_location")
    except Exception:  # no [alembic] section: reading the script directory says so, later
        return config
    if not location and config.config_file_name:
        config.set_main_option("script_location", str(Path(config.config_file_name).resolve().parent))
    return config


def _check_revision(owner: type, config: Config, revision: str) -> None:
    """A revision the migrations do not have is refused before anything starts (relative ones,
    ``+1`` and the like, are left to Alembic)."""
    from alembic.script import ScriptDirectory
    from alembic.script.revision import ResolutionError

    if "+" in revision or "-" in revision:
        return
    script = ScriptDirectory.from_config(config)
    try:
        script.revision_map.get_revisions(revision)
    except ResolutionError:
        heads = ", ".join(repr(head) for head in script.get_heads()) or "none"
        raise ConfigurationError.for_attribute(
            owner,
            "alembic_revision",
            revision,
            f"'head', 'heads', 'base', a branch label or a revision of the migrations in {script.dir} (their "
            f"heads: {heads})",
        ) from None


def _own_hook_source(hook: Any) -> str:
    """The source of a class's own ``alembic_environment`` hook ('' for the library's)."""
    function = inspect.unwrap(getattr(hook, "__func__", hook))
    if function is None or getattr(function, "__module__", "").startswith("pglite_testcase."):
        return ""
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):  # defined where no source file is kept (an interactive session, exec)
        code = getattr(function, "__code__", None)
        return marshal.dumps(code).hex() if code is not None else repr(function)


def read_schema(owner: type, alembic_environment: Any = None) -> SchemaSource:
    alembic_config = read_alembic_config(owner)
    metadata = read_metadata(owner, required_tables=alembic_config is None)
    revision = getattr(owner, "alembic_revision")
    if not isinstance(revision, str) or not revision:
        raise ConfigurationError.for_attribute(
            owner, "alembic_revision", revision, "a revision identifier string such as 'head'"
        )
    if metadata is not None and alembic_config is not None:
        raise ConfigurationError(
            f"{owner.__qualname__} sets both metadata and alembic_config; set one: metadata to "
            f"build the schema with create_all, alembic_config to build it with the migrations."
        )
    if alembic_config is not None:
        try:
            schema = AlembicSchema(
                alembic_config,
                revision,
                environment=alembic_environment,
                environment_source=_own_hook_source(getattr(owner, "alembic_environment", None)),
            )
        except Exception as exc:
            raise ConfigurationError.for_attribute(
                owner,
                "alembic_config",
                getattr(owner, "alembic_config"),
                f"an Alembic configuration whose script directory can be read ({type(exc).__name__}: {exc})",
            ) from exc
        _check_revision(owner, alembic_config, revision)
        return schema
    if metadata is not None:
        return MetadataSchema(metadata)
    return EmptySchema()


def read_class_settings(owner: type, *, is_async: bool) -> ClassSettings:
    environment.check()
    server_url = read_server_url(owner)
    admin_driver = choose_sync_driver(owner, None if is_async else getattr(owner, "driver"), server_url)
    driver = choose_async_driver(owner, getattr(owner, "async_driver")) if is_async else admin_driver
    from ..isolation.routing import build_environment

    database_objects = _database_objects(owner)
    alembic_environment = build_environment(getattr(owner, "alembic_environment"), database_objects, admin_driver)
    schema = read_schema(owner, alembic_environment)
    backend, backend_source = read_backend(owner, server_url)
    extensions = read_class_extensions(owner, backend if server_url is None else "server", backend_source)
    if extensions:
        schema = WithExtensions(schema, extensions)
    return ClassSettings(
        schema=schema,
        driver=driver,
        admin_driver=admin_driver,
        extensions=extensions,
        reset_sequences=_flag(*attribute(owner, "reset_sequences")),
        pglite_isolated=_flag(*attribute(owner, "pglite_isolated")),
        server_url=server_url,
        server_source=server_source(owner),
        connect_timeout=read_connect_timeout(owner),
        statement_timeout=read_statement_timeout(*attribute(owner, "statement_timeout")),
        isolation=_isolation(*attribute(owner, "isolation")),
        factories=check_factories(*attribute(owner, "factories")),
        faker_seed=check_faker_seed(*attribute(owner, "faker_seed")),
        session_options=_session_options(*attribute(owner, "session_options")),
        session_class=_chosen_session_class(owner, is_async),
        database_objects=database_objects,
        shared_test_data=_names(*attribute(owner, "shared_test_data")),
        postgres_version=read_postgres_version(owner),
        debug_connection=read_debug_connection(owner),
        show_sql_on_failure=read_show_sql_on_failure(owner),
        backend=backend,
        backend_source=backend_source,
    )


def _switch(owner: type, name: str, from_environment: Callable[[], bool], accepted: str) -> bool:
    """A True/False class attribute (or a base's); None leaves the choice to its environment variable."""
    value = getattr(owner, name, None)
    if value is None:
        return from_environment()
    if not isinstance(value, bool):
        raise ConfigurationError.for_attribute(owner, name, value, accepted)
    return value


def read_show_sql_on_failure(owner: type) -> bool:
    """``show_sql_on_failure`` on the class (True, False), else ``PGLITE_TESTCASE_SHOW_SQL``, else off."""
    accepted = f"True, False, or None for {environment.SHOW_SQL}'s choice (off unless it is 1)"
    return _switch(owner, "show_sql_on_failure", environment.show_sql, accepted)


def on_real_postgres(server_url: URL | None, backend: str) -> bool:
    """Whether a class with these settings runs on a real PostgreSQL (a server's URL, or the postgres
    backend's server), not on PGlite."""
    return server_url is not None or backend == "postgres"


def read_backend(owner: type, server_url: URL | None) -> tuple[str, str]:
    """``backend = "pglite" | "postgres"`` on the class (or a base), else ``PGLITE_TESTCASE_BACKEND``, else
    ``"pglite"``; and how an error names where it came from. The postgres backend's extra must be installed
    (unless a server URL, which wins, makes it moot)."""
    value = getattr(owner, "backend", None)
    if value is None:
        backend, source = environment.backend(), environment.where(environment.BACKEND)
    elif not isinstance(value, str) or value not in environment.BACKENDS:
        raise ConfigurationError.for_attribute(
            owner,
            "backend",
            value,
            f"{environment.accepted_backends()}; or None for {environment.BACKEND}'s choice ('pglite' if unset)",
        )
    else:
        backend, source = value, f"{owner.__qualname__}.backend"
    if backend == "postgres" and server_url is None:
        find_install(source)  # installed, or one error with its install line
    return backend, source


def read_class_extensions(owner: type, backend: str, backend_source: str) -> tuple[str, ...]:
    """The class's ``extensions``, checked against what its backend has (a server's are its own)."""
    if backend == "postgres":
        return read_postgres_extensions(*attribute(owner, "extensions"), backend_source)
    return read_extensions(*attribute(owner, "extensions"))


def read_postgres_version(owner: type) -> int:
    """``postgres_version = 17 | 18`` on the class (or a base), else ``PGLITE_TESTCASE_POSTGRES_VERSION``, else 17."""
    value = getattr(owner, "postgres_version", None)
    if value is None:
        return environment.postgres_version()
    if isinstance(value, bool) or not isinstance(value, int) or value not in environment.POSTGRES_VERSIONS:
        raise ConfigurationError.for_attribute(
            owner,
            "postgres_version",
            value,
            f"{environment.ACCEPTED_POSTGRES_VERSIONS} (the PostgreSQL major PGlite runs: "
            f"{environment.postgres_majors()}), or None for {environment.POSTGRES_VERSION}'s choice (17 if unset)",
        )
    return value


def read_debug_connection(owner: type) -> bool:
    """``debug_connection = True | False`` on the class (or a base), else ``PGLITE_TESTCASE_DEBUG``."""
    accepted = (
        f"True (a psql command line printed, self.debug_url set), False, or None for "
        f"{environment.DEBUG}'s choice (off if unset)"
    )
    return _switch(owner, "debug_connection", environment.debug, accepted)


def _session_options(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise ConfigurationError.refused(value, where, "a dict of Session options, e.g. {'expire_on_commit': False}")
    if {"bind", "join_transaction_mode"} & set(value):
        raise ConfigurationError.refused(
            value,
            where,
            "Session options other than 'bind', 'join_transaction_mode' (the test case sets those) and "
            "'class_' (set session_class instead)",
        )
    return {key: option for key, option in value.items() if key != "class_"}


def _chosen_session_class(owner: type, is_async: bool) -> type | None:
    """``session_class``; or, deprecated since 0.1.0's spelling, ``session_options={"class_": ...}``."""
    chosen = _session_class(*attribute(owner, "session_class"), is_async)
    options_value, options_where = attribute(owner, "session_options")
    if not isinstance(options_value, dict) or "class_" not in options_value:
        return chosen
    if chosen is not None:
        raise ConfigurationError.refused(
            options_value, options_where, "no 'class_' when session_class is set (session_class alone says it)"
        )
    given = options_value["class_"]
    warnings.warn(
        f"{owner.__qualname__}.session_options = {{'class_': {getattr(given, '__qualname__', given)!s}, ...}} is "
        f"deprecated: set {owner.__qualname__}.session_class = {getattr(given, '__qualname__', given)!s} instead "
        "(a later release refuses 'class_' in session_options)",
        DeprecationWarning,
        stacklevel=2,
    )
    try:
        return _session_class(given, f"{options_where}['class_']", is_async)
    except ConfigurationError as error:
        spelling = "session_options['class_'] is the deprecated spelling of session_class"
        raise ConfigurationError(f"{error} ({spelling})") from None


def _session_class(value: object, where: str, is_async: bool) -> type | None:
    if value is None:
        return None
    base: type
    if is_async:
        from sqlalchemy.ext.asyncio import AsyncSession

        base = AsyncSession
    else:
        from sqlalchemy.orm import Session

        base = Session
    if not (isinstance(value, type) and issubclass(value, base)):
        raise ConfigurationError.refused(
            value, where, f"a subclass of {base.__module__}.{base.__qualname__} (e.g. sqlmodel's)"
        )
    return value


def _database_objects(owner: type) -> tuple[str, ...]:
    value = getattr(owner, "database_objects")
    accepted = (
        "a list of dotted paths to the application's module-level database objects, e.g. "
        "['myapp.db.engine', 'myapp.db.Session']"
    )
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(isinstance(p, str) for p in value):
        raise ConfigurationError.for_attribute(owner, "database_objects", value, accepted)
    from ..isolation.routing import check_paths

    check_paths(owner, tuple(value))
    return tuple(value)


def _names(value: object, where: str) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Collection) or not all(isinstance(n, str) for n in value):
        raise ConfigurationError.refused(value, where, "a collection of attribute names, e.g. {'api'}")
    return frozenset(value)


def _isolation(value: object, where: str) -> str:
    if value not in ISOLATION_MODES:
        raise ConfigurationError.refused(value, where, "'transaction' or 'truncate'")
    return str(value)


def read_statement_timeout(value: object, where: str) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 < value <= MAX_STATEMENT_TIMEOUT
    ):
        raise ConfigurationError.refused(
            value,
            where,
            f"a number of seconds greater than 0 and at most {MAX_STATEMENT_TIMEOUT:g} (about 24 days), "
            f"or None for no limit",
        )
    return float(value)


def server_source(owner: type) -> str:
    """Where the class's server URL comes from, as errors name it."""
    if getattr(owner, "server_url") is not None:
        return f"{owner.__qualname__}.server_url"
    return environment.where(environment.DATABASE_URL)


def read_connect_timeout(owner: type) -> float:
    """Seconds the first contact with a server may wait for an answer: the class's
    ``connect_timeout``, else ``PGLITE_TESTCASE_CONNECT_TIMEOUT``, else 10."""
    value: object = getattr(owner, "connect_timeout", None)
    if value is not None:
        return environment.positive_seconds(value, f"{owner.__qualname__}.connect_timeout")
    return environment.connect_timeout() or environment.DEFAULT_CONNECT_TIMEOUT


def read_server_url(owner: type) -> URL | None:
    value = getattr(owner, "server_url")
    if value is not None:
        return parse_server_url(value, f"{owner.__qualname__}.server_url")
    from_environment = environment.database_url()
    if from_environment:
        return parse_server_url(from_environment, environment.where(environment.DATABASE_URL))
    return None


def refuse_class_data_when_truncating(owner: type, settings: ClassSettings) -> None:
    if settings.isolation == "truncate":
        raise ConfigurationError(
            f"{owner.__qualname__} has class-level test data and isolation = 'truncate': "
            f"truncation would delete the data after the first test. Use isolation = 'transaction'."
        )


__all__ = ["SQLALCHEMY_2", "ClassSettings", "read_class_settings"]
