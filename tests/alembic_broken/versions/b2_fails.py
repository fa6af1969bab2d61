"""a migration that fails"""

from alembic import op

revision = "b2"
down_revision = "a1"


def upgrade():
    op.execute("ALTER TABLE no_such_table ADD COLUMN x int")


def downgrade():
    pass
