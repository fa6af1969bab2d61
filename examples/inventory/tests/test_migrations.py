"""The inventory migrations, checked: one head, upgrade, models match, stairway, clean downgrade.

Each check runs on a fresh, empty database of its own, never the one the repository tests share.
"""

from __future__ import annotations

import unittest
from pathlib import Path

from examples.inventory.models import Base
from pglite_testcase import AlembicMigrationsTestCase


class MigrationChecks(AlembicMigrationsTestCase):
    alembic_config = Path(__file__).resolve().parents[1] / "alembic.ini"
    metadata = Base


if __name__ == "__main__":
    unittest.main()
