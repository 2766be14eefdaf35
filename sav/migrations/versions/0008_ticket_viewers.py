"""`ticket_viewers`: who of the staff is looking at a ticket (agent collision), shared by
the API replicas (issue 27).

Revision ID: 0008_ticket_viewers
Revises: 0007_webhooks
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0008_ticket_viewers"
down_revision: str | Sequence[str] | None = "0007_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def ident(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "ticket_viewers",
        sa.Column("ticket_id", ident(36), nullable=False),
        sa.Column("viewer_id", ident(255), nullable=False),
        sa.Column("since", sa.Double(), nullable=False),
        sa.Column("seen_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", "viewer_id"),
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("ticket_viewers")
