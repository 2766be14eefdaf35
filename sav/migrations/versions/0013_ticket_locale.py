"""`support_tickets.locale`: the language of the ticket's mail (issue 24), `en` for the
tickets that were there before.

Revision ID: 0013_ticket_locale
Revises: 0012_agent_productivity
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_ticket_locale"
down_revision: str | Sequence[str] | None = "0012_agent_productivity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("support_tickets", sa.Column("locale", sa.String(8), nullable=False,
                                               server_default="en"))


def downgrade() -> None:
    with op.batch_alter_table("support_tickets") as batch:
        batch.drop_column("locale")
