"""task created_at

Revision ID: 8d2b4f6a0c13
Revises: 1f3c5a7e9b20
Create Date: 2019-06-17 16:40:05.031877

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "8d2b4f6a0c13"
down_revision = "1f3c5a7e9b20"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "tasks", sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)
    )


def downgrade():
    op.drop_column("tasks", "created_at")
