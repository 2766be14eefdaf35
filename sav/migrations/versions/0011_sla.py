"""Service levels on tickets (issue 23): `sla` (the staff view), `sla_state`,
`sla_next_due_at` (indexed: the scheduler's `sla` job reads only the tickets whose next
due time has passed) and `sla_breached` (indexed: `?sla=breached`); the statistics'
met and breached counts per metric (`ticket_stats_sla`).

Revision ID: 0011_sla
Revises: 0010_list_indexes
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0011_sla"
down_revision: str | Sequence[str] | None = "0010_list_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.add_column("support_tickets", sa.Column("sla", sa.JSON(), nullable=True))
    op.add_column("support_tickets", sa.Column("sla_state", sa.JSON(), nullable=True))
    op.add_column("support_tickets", sa.Column("sla_next_due_at", Timestamp, nullable=True))
    op.add_column("support_tickets", sa.Column("sla_breached", sa.Boolean(), nullable=False,
                                               server_default=sa.false()))
    op.create_index("ix_support_tickets_sla_next_due_at", "support_tickets",
                    ["sla_next_due_at"])
    op.create_index("ix_support_tickets_sla_breached", "support_tickets", ["sla_breached"])
    op.create_table(
        "ticket_stats_sla",
        sa.Column("metric", sa.String(32), primary_key=True),
        sa.Column("outcome", sa.String(16), primary_key=True),
        sa.Column("tickets", sa.BigInteger(), nullable=False),
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("ticket_stats_sla")
    op.drop_index("ix_support_tickets_sla_breached", "support_tickets")
    op.drop_index("ix_support_tickets_sla_next_due_at", "support_tickets")
    with op.batch_alter_table("support_tickets") as batch:
        for name in ("sla_breached", "sla_next_due_at", "sla_state", "sla"):
            batch.drop_column(name)
