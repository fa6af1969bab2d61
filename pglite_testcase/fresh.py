"""``fresh_database()``: an empty database of its own (see ``provision``)."""

from __future__ import annotations

from .provision import fresh_database

__all__ = ["fresh_database"]
