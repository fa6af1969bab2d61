"""The models the migration sets are checked against."""

from __future__ import annotations

from sqlalchemy import Column, Enum, ForeignKey, Integer, MetaData, String, Table, Text


def accounts(metadata: MetaData, *extra: Column[object], email_length: int = 200) -> Table:
    return Table(
        "accounts",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("email", String(email_length), nullable=False),
        *extra,
    )


# two_heads: what both branches build together.
two_heads = MetaData()
accounts(two_heads)
Table("notes", two_heads, Column("id", Integer, primary_key=True), Column("body", Text, nullable=False))
Table("tags", two_heads, Column("id", Integer, primary_key=True), Column("label", String(50), nullable=False))

# merged: the branches of two_heads, joined by a merge revision that links them.
merged = MetaData()
accounts(merged)
Table("tags", merged, Column("id", Integer, primary_key=True), Column("label", String(50), nullable=False))
Table(
    "notes",
    merged,
    Column("id", Integer, primary_key=True),
    Column("body", Text, nullable=False),
    Column("tag_id", Integer, ForeignKey("tags.id", name="fk_notes_tag_id")),
)

# missing_column: a column no migration adds, and a longer email than the migration gives.
missing_column = MetaData()
accounts(missing_column, Column("nickname", String(50)), email_length=320)

# clean: matches its migrations (the view and the sequence are not models).
clean = MetaData()
accounts(clean)
Table(
    "notes",
    clean,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("body", Text, nullable=False),
    Column("mood", Enum("happy", "sad", name="mood")),
)
