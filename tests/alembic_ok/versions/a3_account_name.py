"""accounts.name, with data"""
from alembic import op
import sqlalchemy as sa

revision = "a3"
down_revision = "a2"


def upgrade():
    op.add_column("accounts", sa.Column("name", sa.String(100), nullable=True))
    op.execute("INSERT INTO accounts (email, name) VALUES ('seed@example.com', 'Seed')")


def downgrade():
    op.drop_column("accounts", "name")
