"""merge of b2 and c2: notes.tag_id, referring to tags"""

import sqlalchemy as sa
from alembic import op

revision = "d3"
down_revision = ("b2", "c2")


def upgrade():
    op.add_column("notes", sa.Column("tag_id", sa.Integer, sa.ForeignKey("tags.id", name="fk_notes_tag_id")))


def downgrade():
    op.drop_column("notes", "tag_id")
