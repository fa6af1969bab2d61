"""A test class's attributes, checked once in ``setUpClass``.

Every bad value is refused with one message naming the class, the attribute,
the value given and what is accepted.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, MetaData
from sqlalchemy.orm import DeclarativeBase

from .errors import ConfigurationError
from .extensions import WithExtensions, read_extensions
from .factories import check_factories, check_faker_seed
from .schema import AlembicSchema, EmptySchema, MetadataSchema, SchemaSource
from .server_database import SERVER_URL_ENV, parse_server_url

if TYPE_CHECKING:
    from alembic.config import Config


@dataclass(frozen=True)
class ClassSettings:
    schema: SchemaSource
    reset_sequences: bool
    pglite_isolated: bool
    server_url: URL | None
    statement_timeout: float | None
    isolation: str
    factories: tuple[Any, ...]
    extensions: tuple[str, ...]
    faker_seed: int | None
    session_options: dict[str, Any]


def _flag(owner: type, name: str) -> bool:
    value = getattr(owner, name)
    if not isinstance(value, bool):
        raise ConfigurationError.for_attribute(owner, name, value, "True or False")
    return value


def _metadata(owner: type) -> MetaData | None:
    value = owner.metadata  # type: ignore[attr-defined]
    if value is None or isinstance(value, MetaData):
        return value
    if isinstance(value, type) and issubclass(value, DeclarativeBase):
        return value.metadata
    declared = getattr(value, "metadata", None)
    if isinstance(value, type) and isinstance(declared, MetaData):  # declarative_base() classes
        return declared
    raise ConfigurationError.for_attribute(
        owner, "metadata", value, "a sqlalchemy.MetaData, a DeclarativeBase subclass, or None"
    )


def _alembic_config(owner: type) -> Config | None:
    value = owner.alembic_config  # type: ignore[attr-defined]
    if value is None:
        return None
    from alembic.config import Config

    if isinstance(value, Config):
        return value
    if isinstance(value, (str, PathLike)):
        path = Path(value)
        if not path.is_file():
            raise ConfigurationError.for_attribute(
                owner,
                "alembic_config",
                value,
                f"the path of an existing alembic.ini (no file at {path.resolve()}), or an alembic.config.Config",
            )
        return Config(str(path))
    raise ConfigurationError.for_attribute(
        owner, "alembic_config", value, "a path to alembic.ini (str or pathlib.Path), an alembic.config.Config, or None"
    )


def _environment_error(name: str, value: str, accepted: str) -> ConfigurationError:
    return ConfigurationError(f"the environment variable {name} = {value!r} is not accepted: expected {accepted}.")


def check_environment() -> None:
    """The library's environment variables, checked (each bad one refused with what is accepted)."""
    from .database import PRESTART_ENV, TCP_ENV
    from .diagnostics import LOG_ENV, LOG_LEVELS
    from .node_packages import CACHE_ENV

    for name in (TCP_ENV, PRESTART_ENV):
        value = os.environ.get(name)
        if value is not None and value not in ("0", "1"):
            raise _environment_error(name, value, "'1' or '0'")
    level = os.environ.get(LOG_ENV)
    if level is not None and level.strip().lower() not in (*LOG_LEVELS, ""):
        raise _environment_error(LOG_ENV, level, "one of " + ", ".join(LOG_LEVELS))
    cache = os.environ.get(CACHE_ENV)
    if cache is not None and (not cache.strip() or Path(cache).expanduser().is_file()):
        raise _environment_error(CACHE_ENV, cache, "the path of a directory (existing or to be created)")


def read_class_settings(owner: type) -> ClassSettings:
    check_environment()
    metadata = _metadata(owner)
    alembic_config = _alembic_config(owner)
    revision = owner.alembic_revision  # type: ignore[attr-defined]
    if not isinstance(revision, str) or not revision:
        raise ConfigurationError.for_attribute(
            owner, "alembic_revision", revision, "a revision identifier string such as 'head'"
        )
    if metadata is not None and alembic_config is not None:
        raise ConfigurationError(
            f"{owner.__qualname__} sets both metadata and alembic_config; set one: metadata to "
            f"build the schema with create_all, alembic_config to build it with the migrations."
        )
    schema: SchemaSource
    if alembic_config is not None:
        try:
            schema = AlembicSchema(alembic_config, revision)
        except Exception as exc:
            raise ConfigurationError.for_attribute(
                owner,
                "alembic_config",
                owner.alembic_config,  # type: ignore[attr-defined]
                f"an Alembic configuration whose script directory can be read ({type(exc).__name__}: {exc})",
            ) from exc
    elif metadata is not None:
        schema = MetadataSchema(metadata)
    else:
        schema = EmptySchema()
    extensions = read_extensions(owner)
    if extensions:
        schema = WithExtensions(schema, extensions)
    return ClassSettings(
        schema=schema,
        extensions=extensions,
        reset_sequences=_flag(owner, "reset_sequences"),
        pglite_isolated=_flag(owner, "pglite_isolated"),
        server_url=_server_url(owner),
        statement_timeout=_statement_timeout(owner),
        isolation=_isolation(owner),
        factories=check_factories(owner),
        faker_seed=check_faker_seed(owner),
        session_options=_session_options(owner),
    )


def _session_options(owner: type) -> dict[str, Any]:
    value = owner.session_options  # type: ignore[attr-defined]
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise ConfigurationError.for_attribute(
            owner, "session_options", value, "a dict of Session options, e.g. {'expire_on_commit': False}"
        )
    if "bind" in value or "join_transaction_mode" in value:
        raise ConfigurationError.for_attribute(
            owner,
            "session_options",
            value,
            "Session options other than 'bind' and 'join_transaction_mode' (the test case sets those)",
        )
    return dict(value)


ISOLATION_MODES = ("transaction", "truncate")


def _isolation(owner: type) -> str:
    value = owner.isolation  # type: ignore[attr-defined]
    if value not in ISOLATION_MODES:
        raise ConfigurationError.for_attribute(owner, "isolation", value, "'transaction' or 'truncate'")
    return str(value)


def refuse_class_data_when_truncating(owner: type) -> None:
    if owner._pglite_settings.isolation == "truncate":  # type: ignore[attr-defined]
        raise ConfigurationError(
            f"{owner.__qualname__} has class-level test data and isolation = 'truncate': "
            f"truncation would delete the data after the first test. Use isolation = 'transaction'."
        )


def _statement_timeout(owner: type) -> float | None:
    value = owner.statement_timeout  # type: ignore[attr-defined]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError.for_attribute(
            owner, "statement_timeout", value, "a number of seconds greater than 0, or None for no limit"
        )
    return float(value)


def _server_url(owner: type) -> URL | None:
    value = owner.server_url  # type: ignore[attr-defined]
    if value is not None:
        return parse_server_url(value, f"{owner.__qualname__}.server_url")
    from_environment = os.environ.get(SERVER_URL_ENV)
    if from_environment:
        return parse_server_url(from_environment, f"the environment variable {SERVER_URL_ENV}")
    return None


ASYNC_DRIVERS = ("psycopg", "asyncpg")


def read_async_driver(owner: type) -> str:
    value = owner.async_driver  # type: ignore[attr-defined]
    if value not in ASYNC_DRIVERS:
        raise ConfigurationError.for_attribute(owner, "async_driver", value, "'psycopg' or 'asyncpg'")
    if importlib.util.find_spec(value) is None:
        raise ConfigurationError(
            f"{owner.__qualname__}.async_driver = {value!r} needs the {value} package, which is not "
            f"installed: pip install 'pglite-testcase[{value}]'."
        )
    return str(value)
