"""Moved to ``pglite_testcase.runtime.process``; this path is deprecated and goes in the next release."""

from __future__ import annotations

from ._moved import warn_moved
from .runtime.process import *  # noqa: F403

warn_moved(__name__, "pglite_testcase.runtime.process")
