"""tags: the other head after a1 (nobody merged them)"""

import sqlalchemy as sa
from alembic import op

revision = "c2"
down_revision = "a1"


def upgrade():
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(50), nullable=False),
    )


def downgrade():
    op.drop_table("tags")
