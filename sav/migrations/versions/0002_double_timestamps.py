"""Lease and tracking timestamps are DOUBLE on MySQL.

They were FLOAT (~7 significant digits) before commit 45faf28's predecessors fixed the
table definitions: an epoch rounded by up to an hour, so a lease "expired" late and a
standby never took over. create_all never altered existing tables; this revision does
what the design notes used to ask operators to run by hand
(docs/decisions/0002-event-store-and-global-ordering.md). SQLite stores REAL either way.

Revision ID: 0002_double_timestamps
Revises: 45faf28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_double_timestamps"
down_revision: str | Sequence[str] | None = "45faf28"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.alter_column("worker_leases", "expires_at", type_=sa.Double(),
                    existing_nullable=False)
    op.alter_column("projection_tracking", "updated_at", type_=sa.Double(),
                    existing_nullable=False)


def downgrade() -> None:
    pass  # FLOAT was the bug; nothing to go back to.
