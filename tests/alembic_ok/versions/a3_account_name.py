"""accounts.name, with data"""

import sqlalchemy as sa
from alembic import op

revision = "a3"
down_revision = "a2"


def upgrade():
    op.add_column("accounts", sa.Column("name", sa.String(100), nullable=True))
    op.execute("INSERT INTO accounts (email, name) VALUES ('seed@example.com', 'Seed')")


def downgrade():
    op.drop_column("accounts", "name")
