"""Moved to ``pglite_testcase.migrations.checks``; this path is deprecated and goes in the next release."""

from __future__ import annotations

from ._moved import warn_moved
from .migrations.checks import *  # noqa: F403

warn_moved(__name__, "pglite_testcase.migrations.checks")
