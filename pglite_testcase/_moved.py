"""The warning of a module path that moved (kept for one release)."""

from __future__ import annotations

import warnings


def warn_moved(old: str, new: str) -> None:
    """Warn, at the importer's line, that ``old`` is now ``new`` and goes in the next release."""
    warnings.warn(
        f"{old} moved to {new}; the old path goes in the next release: import "
        f"from {new}, or the public names from pglite_testcase.",
        DeprecationWarning,
        stacklevel=3,
    )
