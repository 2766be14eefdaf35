"""Links between tickets (issue 26): `ticket_links`, one row per side of a link.

Revision ID: 0014_ticket_links
Revises: 0013_ticket_locale
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sav.migrations.columns import TIMESTAMP, ident

revision: str = "0014_ticket_links"
down_revision: str | Sequence[str] | None = "0013_ticket_locale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ticket_links",
        sa.Column("id", ident(80), primary_key=True),
        sa.Column("ticket_id", ident(36), nullable=False),
        sa.Column("other_id", ident(36), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        mysql_engine="InnoDB",
    )
    op.create_index("ix_ticket_links_ticket_id", "ticket_links", ["ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_ticket_links_ticket_id", "ticket_links")
    op.drop_table("ticket_links")
