"""Checks of a project's Alembic migrations (``AlembicMigrationsTestCase``), in ``checks``."""
