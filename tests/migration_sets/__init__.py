"""Small Alembic migration sets, broken on purpose (and one clean), for the migration checks' tests.

They share this directory's env.py; each set's alembic.ini points ``version_locations``
at its own ``versions`` directory.
"""
