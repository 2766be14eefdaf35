"""The hourly pruning jobs read an index, not the whole table: `idempotency-keys` deletes
the answers stored before a moment (`created_at`), `webhook-deliveries` the delivered and
failed deliveries last changed before one (`status`, `updated_at`).

Revision ID: 0018_pruning_indexes
Revises: 0016_search_words
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0018_pruning_indexes"
down_revision: str | Sequence[str] | None = "0016_search_words"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"]),
    ("ix_webhook_deliveries_pruned", "webhook_deliveries", ["status", "updated_at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
