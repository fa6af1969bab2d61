"""The migration sets' env.py, in the cookbook's connection-sharing style.

``version_table`` comes from the set's alembic.ini (default alembic_version).
"""

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
version_table = config.get_main_option("version_table", "alembic_version")
connectable = config.attributes.get("connection")

if connectable is None:
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        context.configure(connection=connection, version_table=version_table)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
else:
    context.configure(connection=connectable, version_table=version_table)
    with context.begin_transaction():
        context.run_migrations()
