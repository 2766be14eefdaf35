"""`support_tickets.erased`: the ticket's personal fields were erased (issue 12).

Revision ID: 0005_ticket_erased
Revises: 0004_rate_limit_windows
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_ticket_erased"
down_revision: str | Sequence[str] | None = "0004_rate_limit_windows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("support_tickets", sa.Column("erased", sa.Boolean(), nullable=False,
                                               server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("support_tickets") as batch:
        batch.drop_column("erased")
