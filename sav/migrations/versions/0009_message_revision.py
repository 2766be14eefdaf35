"""`ticket_messages.revision`: the ticket version that last set a message's content, the
message's ETag (issue 19; docs/decisions/0160-careful-client-domain.md).

Revision ID: 0009_message_revision
Revises: 0008_ticket_viewers
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_message_revision"
down_revision: str | Sequence[str] | None = "0008_ticket_viewers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows projected before this column read NULL (no ETag) until a replay fills them.
    op.add_column("ticket_messages", sa.Column("revision", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticket_messages") as batch:
        batch.drop_column("revision")
