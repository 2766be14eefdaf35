"""`scheduler_runs` belongs to the schema.

The baseline code created it the first time a scheduler ran, so a baseline database may
or may not have it; from here on it is created with every other table.

Revision ID: 0003_scheduler_runs
Revises: 0002_double_timestamps
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0003_scheduler_runs"
down_revision: str | Sequence[str] | None = "0002_double_timestamps"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def ident(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")


TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("scheduler_runs"):
        return
    op.create_table(
        "scheduler_runs",
        sa.Column("job", ident(64), nullable=False),
        sa.Column("last_run_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("owner", ident(128), nullable=False),
        sa.Column("last_result", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("job"),
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("scheduler_runs")
