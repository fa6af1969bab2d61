"""Alembic script directories written the ways real projects write their env.py, made in a temp dir.

Each has one revision creating ``styled`` and the env.py of one style. ``ELSEWHERE_URL`` and
``APP_DATABASE_URL`` are environment variables such env.py files read.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

REVISION = """
from alembic import op
import sqlalchemy as sa

revision = "s1"
down_revision = None


def upgrade():
    op.create_table("styled", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("styled")
"""

RUN = """
def run(connectable):
    with connectable.connect() as connection:
        context.configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
"""

ENV_PY = {
    # The cookbook recipe: the offered connection, else sqlalchemy.url.
    "recipe": """
from alembic import context
from sqlalchemy import engine_from_config, pool
config = context.config
connection = config.attributes.get("connection")
if connection is None:
    engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                poolclass=pool.NullPool)
    connection = engine.connect()
context.configure(connection=connection)
with context.begin_transaction():
    context.run_migrations()
""",
    # Reads its URL from an environment variable inside env.py, ignoring Alembic's config.
    "environment_variable": """
import os
from alembic import context
from sqlalchemy import create_engine, pool
"""
    + RUN
    + """
run(create_engine(os.environ["APP_DATABASE_URL"], poolclass=pool.NullPool))
""",
    # Sets sqlalchemy.url itself, from a settings object the application builds at import.
    "settings_object": """
from alembic import context
from sqlalchemy import engine_from_config, pool
from tests.alembic_styles import settings
config = context.config
config.set_main_option("sqlalchemy.url", settings.DATABASE_URL)
"""
    + RUN
    + """
run(engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                       poolclass=pool.NullPool))
""",
    # Reads sqlalchemy.url back and sets it again (what makes a %-encoded URL fail), and calls fileConfig.
    "round_trip_and_file_config": """
from logging.config import fileConfig
from alembic import context
from sqlalchemy import engine_from_config, pool
config = context.config
fileConfig(config.config_file_name)
config.set_main_option("sqlalchemy.url", config.get_main_option("sqlalchemy.url"))
"""
    + RUN
    + """
run(engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                       poolclass=pool.NullPool))
""",
    # Connects somewhere else entirely (a developer database, here a SQLite file).
    "elsewhere": """
import os
from alembic import context
from sqlalchemy import create_engine, pool
"""
    + RUN
    + """
run(create_engine(os.environ["ELSEWHERE_URL"], poolclass=pool.NullPool))
""",
    # Never migrates the database it is given (a project's env.py that only works offline, say).
    "offline_only": """
from alembic import context
if context.is_offline_mode():
    context.configure(url=context.config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
""",
}

LOGGING_INI = """
[loggers]
keys = root

[handlers]
keys = null

[formatters]
keys =

[logger_root]
level = WARNING
handlers = null

[handler_null]
class = logging.NullHandler
args = ()
"""


class Settings:
    """An application's settings object, built at import."""

    DATABASE_URL = "postgresql://app:app@localhost/app_dev"


settings = Settings()


def script_directory(style: str) -> Path:
    """A new script directory whose env.py is written in ``style``; returns its alembic.ini."""
    root = Path(tempfile.mkdtemp(prefix=f"pgtc-alembic-{style}-"))
    (root / "versions").mkdir()
    (root / "versions" / "s1_styled.py").write_text(REVISION)
    # Its own fingerprint (a schema built by an earlier test must not stand in for this one's build).
    (root / "env.py").write_text(f"# {root.name}\n" + ENV_PY[style])
    (root / "alembic.ini").write_text(f"[alembic]\nscript_location = {root}\n" + LOGGING_INI)
    return root / "alembic.ini"


def script_directory_executing(sql: str) -> Path:
    """A new "recipe" script directory whose revision runs ``sql`` before creating ``styled``; returns its alembic.ini."""
    ini = script_directory("recipe")
    (ini.parent / "versions" / "s1_styled.py").write_text(
        REVISION.replace('op.create_table("styled"', f'op.execute({sql!r})\n    op.create_table("styled"')
    )
    return ini
