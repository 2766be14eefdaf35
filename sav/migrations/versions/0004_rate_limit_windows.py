"""`rate_limit_windows`: the public rate limit, shared by the API replicas.

Revision ID: 0004_rate_limit_windows
Revises: 0003_scheduler_runs
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0004_rate_limit_windows"
down_revision: str | Sequence[str] | None = "0003_scheduler_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_windows",
        sa.Column("bucket", sa.String(40).with_variant(
            mysql.VARCHAR(40, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"),
            nullable=False),
        sa.Column("slot", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "slot"),
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("rate_limit_windows")
