"""A test class's database: which one it gets, and the schema in it.

``provision`` picks the database (the process's shared PGlite, one of the class's own, or a database
on a real server: ``server``); ``pglite`` is PGlite as a test database, ``snapshots`` its saved
schemas; ``schema`` builds the schema (``create_all`` or Alembic), ``extensions`` adds extensions.
"""

from __future__ import annotations

import importlib
from typing import Any

from .._moved import warn_moved

# What ``pglite_testcase.database`` held when it was a module (kept for one release).
_MOVED = {"PGliteDatabase": "pglite", "TestDatabase": "pglite", "shared_database": "provision"}


def __getattr__(name: str) -> Any:
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warn_moved(f"{__name__}.{name}", f"{__name__}.{module}.{name}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # warned once
    return value
