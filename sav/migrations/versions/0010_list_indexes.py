"""Lists and search whose cost does not grow with the store (issue 22;
docs/decisions/0170-scale.md): an index per common list filter ending in `seq` (the
lists' order), and SQLite's full-text rows re-keyed by the ticket's `seq` (their rowid).

Revision ID: 0010_list_indexes
Revises: 0009_message_revision
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010_list_indexes"
down_revision: str | Sequence[str] | None = "0009_message_revision"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIST_KEYS = ("user_id", "assigned_to", "status", "category")


def upgrade() -> None:
    for name in LIST_KEYS:
        op.create_index(f"ix_tickets_{name}_seq", "support_tickets", [name, "seq"])
    if op.get_bind().dialect.name == "sqlite":
        # The rows had FTS5's own rowids: written again, each under its ticket's `seq`.
        op.execute("DELETE FROM support_tickets_fts")
        op.execute("INSERT INTO support_tickets_fts (rowid, ticket_id, subject, description) "
                   "SELECT seq, id, subject, description FROM support_tickets")


def downgrade() -> None:
    # The full-text rows keep their `seq` rowids: the older code reads them by ticket_id.
    for name in LIST_KEYS:
        op.drop_index(f"ix_tickets_{name}_seq", "support_tickets")
