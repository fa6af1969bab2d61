"""The application's settings, read from the environment once, when this module is first imported.

Every other module reads them from here (``from .settings import settings``), so the
environment must be set before the application is imported.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


class Settings:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.DATABASE_URL = environ.get("DATABASE_URL", "postgresql://app:app@localhost/library")
        self.SQL_ECHO = environ.get("SQL_ECHO", "0") == "1"
        self.LOAN_DAYS = int(environ.get("LOAN_DAYS", "14"))
        self.MAX_OPEN_LOANS = int(environ.get("MAX_OPEN_LOANS", "3"))


settings = Settings(os.environ)
