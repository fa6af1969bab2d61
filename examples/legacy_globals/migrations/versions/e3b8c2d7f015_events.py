"""event log

Revision ID: e3b8c2d7f015
Revises: 9a7d35c0e684
Create Date: 2022-02-03 09:15:27.901344

"""

import sqlalchemy as sa
from alembic import op

revision = "e3b8c2d7f015"
down_revision = "9a7d35c0e684"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("loan_number", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )


def downgrade():
    op.drop_table("events")
