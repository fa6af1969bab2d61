"""The logging switch: ``PGLITE_TESTCASE_LOG`` sends the library's log to stderr."""

from __future__ import annotations

import logging
import sys
import weakref

from . import environment
from .errors import ConfigurationError

_OURS: weakref.WeakSet[logging.Handler] = weakref.WeakSet()  # the stderr handlers this module added


def configure_logging() -> None:
    """``PGLITE_TESTCASE_LOG=debug|info|warning|error`` sends the library's log to stderr.

    Quiet by default (warnings only, through whatever logging the project set up).
    At ``debug``, PGlite's own output goes to stderr too.
    """
    try:
        level = environment.log_level()
    except ConfigurationError:
        return  # reported by the first setUpClass (environment.check)
    if level is None:
        return
    logger = logging.getLogger("pglite_testcase")
    if not any(handler in _OURS for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        _OURS.add(handler)
        logger.addHandler(handler)
    logger.setLevel(level.upper())


__all__ = ["configure_logging"]
