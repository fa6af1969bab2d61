"""loans, numbered from their own sequence

Revision ID: 9a7d35c0e684
Revises: 4c1f0e2a9b31
Create Date: 2021-06-21 16:40:52.080519

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import CreateSequence, DropSequence

revision = "9a7d35c0e684"
down_revision = "4c1f0e2a9b31"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(CreateSequence(sa.Sequence("loan_number_seq", start=1000)))
    op.create_table(
        "loans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_number", sa.Integer(), server_default=sa.text("nextval('loan_number_seq')"), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("borrowed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("returned_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["book_id"], ["books.id"], name="fk_loans_book_id_books"),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name="fk_loans_member_id_members"),
        sa.PrimaryKeyConstraint("id", name="pk_loans"),
        sa.UniqueConstraint("loan_number", name="uq_loans_loan_number"),
    )
    op.create_index("ix_loans_book_id", "loans", ["book_id"], unique=False)
    op.create_index("ix_loans_member_id", "loans", ["member_id"], unique=False)


def downgrade():
    op.drop_index("ix_loans_member_id", table_name="loans")
    op.drop_index("ix_loans_book_id", table_name="loans")
    op.drop_table("loans")
    op.execute(DropSequence(sa.Sequence("loan_number_seq")))
