"""`ticket_attachments.scanned`: a virus scanner said the file is clean (issue 27).

Revision ID: 0006_attachment_scanned
Revises: 0005_ticket_erased
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_attachment_scanned"
down_revision: str | Sequence[str] | None = "0005_ticket_erased"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Files stored before scanning existed were not scanned: false, as their events
    # read back (`Ticket.AttachmentAdded.upcast_v2_v3`).
    op.add_column("ticket_attachments", sa.Column("scanned", sa.Boolean(), nullable=False,
                                                  server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("ticket_attachments") as batch:
        batch.drop_column("scanned")
