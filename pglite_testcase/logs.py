"""The logging switch: ``PGLITE_TESTCASE_LOG`` sends the library's log to stderr."""

from __future__ import annotations

import logging
import os
import sys

LOG_ENV = "PGLITE_TESTCASE_LOG"
LOG_LEVELS = ("debug", "info", "warning", "error")


def configure_logging() -> None:
    """``PGLITE_TESTCASE_LOG=debug|info|warning|error`` sends the library's log to stderr.

    Quiet by default (warnings only, through whatever logging the project set up).
    At ``debug``, PGlite's own output goes to stderr too.
    """
    level = os.environ.get(LOG_ENV, "").strip().lower()
    if level not in LOG_LEVELS:
        return  # unset; a bad value is reported by the first setUpClass (settings.check_environment)
    logger = logging.getLogger("pglite_testcase")
    if not any(getattr(handler, "_pglite_testcase", False) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        handler._pglite_testcase = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level.upper())


__all__ = ["LOG_ENV", "LOG_LEVELS", "configure_logging"]
