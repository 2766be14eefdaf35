"""SQLite's full-text table keeps an index of every word's prefixes of 3 to 12
characters, so a search (`"word"*`) reads one doclist newest first and stops after a page,
instead of merging every matching word's doclist first (a cost that grew with the
matches: issue 22, docs/decisions/0170-scale.md). The table is made again with the
option and its rows copied under the same rowids (the tickets' `seq`). MariaDB: nothing.

Revision ID: 0019_fts_prefixes
Revises: 0018_pruning_indexes
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0019_fts_prefixes"
down_revision: str | Sequence[str] | None = "0018_pruning_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "ticket_id UNINDEXED, subject, description"
PREFIXES = ", prefix='3 4 5 6 7 8 9 10 11 12'"


def _remake(options: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite" or bind.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'support_tickets_fts'").first() is None:
        return
    op.execute("DROP TABLE IF EXISTS support_tickets_fts_remade")
    op.execute(f"CREATE VIRTUAL TABLE support_tickets_fts_remade USING fts5({COLUMNS}{options})")
    op.execute("INSERT INTO support_tickets_fts_remade (rowid, ticket_id, subject, description) "
               "SELECT rowid, ticket_id, subject, description FROM support_tickets_fts")
    op.execute("DROP TABLE support_tickets_fts")
    op.execute("ALTER TABLE support_tickets_fts_remade RENAME TO support_tickets_fts")


def upgrade() -> None:
    _remake(PREFIXES)


def downgrade() -> None:
    _remake("")
