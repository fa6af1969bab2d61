"""notes, an enum, a sequence and a view; the downgrade forgets all of them"""

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
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("mood", postgresql.ENUM(name="mood", create_type=False)),
    )
    op.execute(sa.schema.CreateSequence(sa.Sequence("ticket_numbers")))
    op.execute("CREATE VIEW note_bodies AS SELECT body FROM notes")


def downgrade():
    pass
