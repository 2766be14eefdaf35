"""Merged tickets (issue 26): `support_tickets.merged_into` and `merged_into_number`.

Revision ID: 0015_ticket_merged_into
Revises: 0014_ticket_links
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0015_ticket_merged_into"
down_revision: str | Sequence[str] | None = "0014_ticket_links"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def ident(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")


def upgrade() -> None:
    op.add_column("support_tickets", sa.Column("merged_into", ident(36), nullable=True))
    op.add_column("support_tickets", sa.Column("merged_into_number", ident(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("support_tickets") as batch:
        batch.drop_column("merged_into_number")
        batch.drop_column("merged_into")
