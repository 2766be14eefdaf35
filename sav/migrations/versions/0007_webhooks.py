"""Outbound webhooks (issue 25): the `webhook_subscriptions` read model, the sender's
`webhook_positions` (one per subscription) and `webhook_deliveries` (the delivery log).

Revision ID: 0007_webhooks
Revises: 0006_attachment_scanned
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sav.migrations.columns import TIMESTAMP, ident

revision: str = "0007_webhooks"
down_revision: str | Sequence[str] | None = "0006_attachment_scanned"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", ident(36), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(32), nullable=True),
        sa.Column("created_position", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        mysql_engine="InnoDB",
    )
    op.create_table(
        "webhook_positions",
        sa.Column("webhook_id", ident(36), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("webhook_id"),
        mysql_engine="InnoDB",
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", ident(36), nullable=False),
        sa.Column("webhook_id", ident(36), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("message_id", ident(36), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("last_duration", sa.Double(), nullable=True),
        sa.Column("next_attempt_at", sa.Double(), nullable=True),
        sa.Column("give_up_at", sa.Double(), nullable=False),
        sa.Column("manual", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("webhook_id", "position", name="uq_webhook_delivery_position"),
        mysql_engine="InnoDB",
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries",
                    ["webhook_id", "status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_positions")
    op.drop_table("webhook_subscriptions")
