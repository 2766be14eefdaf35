"""Agent productivity (issue 26): `macro_uses`, how often each macro was applied (the
statistics' `macros` section).

Revision ID: 0012_agent_productivity
Revises: 0011_sla
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sav.migrations.columns import TIMESTAMP, ident

revision: str = "0012_agent_productivity"
down_revision: str | Sequence[str] | None = "0011_sla"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "macro_uses",
        sa.Column("macro_id", ident(36), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("uses", sa.BigInteger(), nullable=False),
        sa.Column("last_used_at", TIMESTAMP, nullable=False),
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("macro_uses")
