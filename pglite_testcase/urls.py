"""Database URLs as text: with the password, and with no percent sign that can be avoided.

A Unix-socket URL carries the socket directory in its query
(``?host=/tmp/pglite-testcase-x``). SQLAlchemy renders it percent-encoded
(``%2Ftmp%2F...``), which Alembic's ``Config`` then reads as interpolation
syntax: an ``env.py`` doing ``config.set_main_option("sqlalchemy.url",
config.get_main_option("sqlalchemy.url"))`` fails. libpq and SQLAlchemy both
accept the slashes unencoded, so the library hands out URLs that way.
"""

from __future__ import annotations

from sqlalchemy.engine import URL


def url_text(url: URL) -> str:
    text = url.render_as_string(hide_password=False)
    base, question, query = text.partition("?")
    return base + question + query.replace("%2F", "/").replace("%2f", "/")


def libpq_url(url: URL) -> str:
    """``url`` as libpq (psql, psycopg.connect) takes it: ``postgresql://``, no SQLAlchemy driver name."""
    return url_text(url.set(drivername="postgresql"))
