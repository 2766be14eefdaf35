"""MariaDB's search rows (issue 22; docs/decisions/0170-scale.md): one `(word, seq)` row
per word prefix of a ticket's text, so a search reads its page newest first and stops
(sav/projections/search_words.py). Written from the tickets on MariaDB; SQLite searches
through FTS5 and leaves the table empty.

Revision ID: 0016_search_words
Revises: 0015_ticket_merged_into
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0016_search_words"
down_revision: str | Sequence[str] | None = "0015_ticket_merged_into"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def binary(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "support_ticket_words",
        sa.Column("word", binary(84), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("user_id", binary(64), nullable=True),
        mysql_engine="InnoDB",
    )
    op.create_index("ix_ticket_words_user", "support_ticket_words", ["word", "user_id", "seq"])
    op.create_index("ix_ticket_words_seq", "support_ticket_words", ["seq", "word"])
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        # The rule is the code's (its tokenizer): the rows of every ticket, at once.
        from sav.projections.search_words import fill

        fill(bind, sa.table("support_tickets", sa.column("seq"), sa.column("user_id"),
                            sa.column("subject"), sa.column("description")))


def downgrade() -> None:
    op.drop_table("support_ticket_words")
