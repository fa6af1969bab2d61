"""notes, an enum, a sequence and a view, all dropped again by the downgrade"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "b2"
down_revision = "a1"


def upgrade():
    postgresql.ENUM("happy", "sad", name="mood").create(op.get_bind())
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("mood", postgresql.ENUM(name="mood", create_type=False)),
    )
    op.create_index("ix_notes_account_id", "notes", ["account_id"])
    op.execute(sa.schema.CreateSequence(sa.Sequence("ticket_numbers")))
    op.execute("CREATE VIEW note_bodies AS SELECT body FROM notes")


def downgrade():
    op.execute("DROP VIEW note_bodies")
    op.execute(sa.schema.DropSequence(sa.Sequence("ticket_numbers")))
    op.drop_index("ix_notes_account_id", "notes")
    op.drop_table("notes")
    postgresql.ENUM(name="mood").drop(op.get_bind())
