"""Baseline: the schema of commit 45faf28 (the last code without migrations).

A database that code created has no alembic_version table; `sav db upgrade` stamps it
here. The full-text objects are made outside the metadata (sav/projections/tickets.py).

Revision ID: 45faf28
Revises: (none)
Create Date: 2026-11-29 11:45:26.219943

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# revision identifiers, used by Alembic.
revision: str = '45faf28'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def ident(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")


LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
PAYLOAD = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('event_sequence',
    sa.Column('name', ident(32), nullable=False),
    sa.Column('last_id', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name'),
    mysql_engine='InnoDB'
    )
    op.create_table('idempotency_keys',
    sa.Column('scope', ident(64), nullable=False),
    sa.Column('key', ident(255), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('etag', sa.String(length=32), nullable=True),
    sa.Column('body', LONG_TEXT, nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'key'),
    mysql_engine='InnoDB'
    )
    op.create_table('projection_tracking',
    sa.Column('name', ident(64), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('name'),
    mysql_engine='InnoDB'
    )
    op.create_table('snapshots',
    sa.Column('originator_id', ident(64), nullable=False),
    sa.Column('originator_version', sa.BigInteger(), nullable=False),
    sa.Column('topic', sa.String(length=255), nullable=False),
    sa.Column('state', PAYLOAD, nullable=False),
    sa.PrimaryKeyConstraint('originator_id', 'originator_version'),
    mysql_engine='InnoDB'
    )
    op.create_table('stored_events',
    sa.Column('notification_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
        autoincrement=False, nullable=False),
    sa.Column('originator_id', ident(64), nullable=False),
    sa.Column('originator_version', sa.BigInteger(), nullable=False),
    sa.Column('topic', sa.String(length=255), nullable=False),
    sa.Column('state', PAYLOAD, nullable=False),
    sa.PrimaryKeyConstraint('notification_id'),
    sa.UniqueConstraint('originator_id', 'originator_version', name='uq_stream_version'),
    mysql_engine='InnoDB'
    )
    op.create_table('ticket_number_counters',
    sa.Column('day', sa.String(length=16), nullable=False),
    sa.Column('last', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day'),
    mysql_engine='InnoDB'
    )
    op.create_table('worker_leases',
    sa.Column('name', ident(64), nullable=False),
    sa.Column('owner', ident(128), nullable=False),
    sa.Column('expires_at', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('name'),
    mysql_engine='InnoDB'
    )
    op.create_table('attachment_internal_messages',
    sa.Column('message_id', ident(64), nullable=False),
    sa.Column('ticket_id', ident(36), nullable=False),
    sa.PrimaryKeyConstraint('message_id'),
    mysql_engine='InnoDB'
    )
    op.create_table('support_agents',
    sa.Column('agent_id', ident(64), nullable=False),
    sa.Column('aggregate_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('email', sa.String(length=255), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('agent_id'),
    sa.UniqueConstraint('aggregate_id'),
    mysql_engine='InnoDB'
    )
    op.create_table('support_tickets',
    sa.Column('id', ident(36), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('ticket_number', ident(64), nullable=False),
    sa.Column('user_id', ident(64), nullable=True),
    sa.Column('assigned_to', ident(64), nullable=True),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('description', LONG_TEXT, nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('contact_email', sa.String(length=255), nullable=True),
    sa.Column('contact_name', sa.String(length=255), nullable=True),
    sa.Column('first_response_at', TIMESTAMP, nullable=True),
    sa.Column('resolved_at', TIMESTAMP, nullable=True),
    sa.Column('closed_at', TIMESTAMP, nullable=True),
    sa.Column('resolution_notes', LONG_TEXT, nullable=True),
    sa.Column('internal_notes', LONG_TEXT, nullable=True),
    sa.Column('satisfaction_rating', sa.Integer(), nullable=True),
    sa.Column('satisfaction_comment', LONG_TEXT, nullable=True),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('access_token_hash', sa.String(length=64), nullable=True),
    sa.Column('escalated_at', TIMESTAMP, nullable=True),
    sa.Column('survey_requested_at', TIMESTAMP, nullable=True),
    sa.Column('is_deleted', sa.Boolean(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.Column('deleted_at', TIMESTAMP, nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('seq'),
    sa.UniqueConstraint('ticket_number'),
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('support_tickets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_support_tickets_assigned_to'), ['assigned_to'],
            unique=False)
        batch_op.create_index(batch_op.f('ix_support_tickets_category'), ['category'], unique=False)
        batch_op.create_index(batch_op.f('ix_support_tickets_contact_email'), ['contact_email'],
            unique=False)
        batch_op.create_index(batch_op.f('ix_support_tickets_priority'), ['priority'], unique=False)
        batch_op.create_index(batch_op.f('ix_support_tickets_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_support_tickets_user_id'), ['user_id'], unique=False)
        batch_op.create_index('ix_tickets_assignee_status', ['assigned_to', 'status'], unique=False)
        batch_op.create_index('ix_tickets_status_priority', ['status', 'priority'], unique=False)

    op.create_table('ticket_attachments',
    sa.Column('id', ident(36), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('ticket_id', ident(36), nullable=False),
    sa.Column('message_id', ident(64), nullable=True),
    sa.Column('user_id', ident(64), nullable=True),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('file_path', sa.String(length=512), nullable=False),
    sa.Column('file_url', sa.String(length=1024), nullable=True),
    sa.Column('file_type', sa.String(length=32), nullable=False),
    sa.Column('file_size', sa.BigInteger(), nullable=False),
    sa.Column('mime_type', sa.String(length=128), nullable=False),
    sa.Column('is_internal', sa.Boolean(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('seq'),
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('ticket_attachments', schema=None) as batch_op:
        batch_op.create_index('ix_attachments_ticket_seq', ['ticket_id', 'seq'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_attachments_message_id'), ['message_id'],
            unique=False)

    op.create_table('ticket_messages',
    sa.Column('id', ident(36), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('ticket_id', ident(36), nullable=False),
    sa.Column('user_id', ident(64), nullable=True),
    sa.Column('author_role', sa.String(length=16), nullable=False),
    sa.Column('author_side', sa.String(length=16), nullable=False),
    sa.Column('author_name', sa.String(length=255), nullable=True),
    sa.Column('author_email', sa.String(length=255), nullable=True),
    sa.Column('content', LONG_TEXT, nullable=False),
    sa.Column('is_internal', sa.Boolean(), nullable=False),
    sa.Column('is_read', sa.Boolean(), nullable=False),
    sa.Column('read_at', TIMESTAMP, nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('seq'),
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('ticket_messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_ticket_seq', ['ticket_id', 'seq'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_messages_user_id'), ['user_id'], unique=False)

    op.create_table('ticket_metrics_hourly',
    sa.Column('hour', TIMESTAMP, nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('first_responses', sa.Integer(), nullable=False),
    sa.Column('resolved', sa.Integer(), nullable=False),
    sa.Column('closed', sa.Integer(), nullable=False),
    sa.Column('escalated', sa.Integer(), nullable=False),
    sa.Column('avg_first_response_seconds', sa.Float(), nullable=True),
    sa.Column('avg_resolution_seconds', sa.Float(), nullable=True),
    sa.Column('computed_at', TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('hour'),
    mysql_engine='InnoDB'
    )
    op.create_table('ticket_stats_by_assignee',
    sa.Column('assignee', ident(64), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('tickets', sa.BigInteger(), nullable=False),
    sa.Column('responded', sa.BigInteger(), nullable=False),
    sa.Column('response_us', sa.BigInteger(), nullable=False),
    sa.Column('resolved', sa.BigInteger(), nullable=False),
    sa.Column('resolution_us', sa.BigInteger(), nullable=False),
    sa.Column('rated', sa.BigInteger(), nullable=False),
    sa.Column('rating_points', sa.BigInteger(), nullable=False),
    sa.Column('escalated', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('assignee', 'status', 'priority'),
    mysql_engine='InnoDB'
    )
    op.create_table('ticket_stats_by_assignee_day',
    sa.Column('assignee', ident(64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('tickets', sa.BigInteger(), nullable=False),
    sa.Column('responded', sa.BigInteger(), nullable=False),
    sa.Column('response_us', sa.BigInteger(), nullable=False),
    sa.Column('resolved', sa.BigInteger(), nullable=False),
    sa.Column('resolution_us', sa.BigInteger(), nullable=False),
    sa.Column('rated', sa.BigInteger(), nullable=False),
    sa.Column('rating_points', sa.BigInteger(), nullable=False),
    sa.Column('escalated', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('assignee', 'day', 'status', 'priority'),
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('ticket_stats_by_assignee_day', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_stats_by_assignee_day_day_status_assignee_tickets',
            ['day', 'status', 'assignee', 'tickets'], unique=False)

    op.create_table('ticket_stats_contributions',
    sa.Column('ticket_id', ident(36), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('assignee', ident(64), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), nullable=False),
    sa.Column('response_us', sa.BigInteger(), nullable=True),
    sa.Column('resolution_us', sa.BigInteger(), nullable=True),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('escalated', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('ticket_id'),
    mysql_engine='InnoDB'
    )
    op.create_table('ticket_stats_daily',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('tickets', sa.BigInteger(), nullable=False),
    sa.Column('responded', sa.BigInteger(), nullable=False),
    sa.Column('response_us', sa.BigInteger(), nullable=False),
    sa.Column('resolved', sa.BigInteger(), nullable=False),
    sa.Column('resolution_us', sa.BigInteger(), nullable=False),
    sa.Column('rated', sa.BigInteger(), nullable=False),
    sa.Column('rating_points', sa.BigInteger(), nullable=False),
    sa.Column('escalated', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'status', 'priority'),
    mysql_engine='InnoDB'
    )
    op.create_table('ticket_stats_totals',
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('tickets', sa.BigInteger(), nullable=False),
    sa.Column('responded', sa.BigInteger(), nullable=False),
    sa.Column('response_us', sa.BigInteger(), nullable=False),
    sa.Column('resolved', sa.BigInteger(), nullable=False),
    sa.Column('resolution_us', sa.BigInteger(), nullable=False),
    sa.Column('rated', sa.BigInteger(), nullable=False),
    sa.Column('rating_points', sa.BigInteger(), nullable=False),
    sa.Column('escalated', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('status', 'priority'),
    mysql_engine='InnoDB'
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE IF NOT EXISTS support_tickets_fts USING fts5("
                   "ticket_id UNINDEXED, subject, description)")
    else:
        op.execute("ALTER TABLE support_tickets ADD FULLTEXT INDEX ft_tickets "
                   "(subject, description)")


def downgrade() -> None:
    """Drop everything (the baseline has nothing below it)."""
    op.execute("DROP TABLE IF EXISTS support_tickets_fts")
    op.drop_table('ticket_stats_totals')
    op.drop_table('ticket_stats_daily')
    op.drop_table('ticket_stats_contributions')
    with op.batch_alter_table('ticket_stats_by_assignee_day', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_stats_by_assignee_day_day_status_assignee_tickets')

    op.drop_table('ticket_stats_by_assignee_day')
    op.drop_table('ticket_stats_by_assignee')
    op.drop_table('ticket_metrics_hourly')
    with op.batch_alter_table('ticket_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_messages_user_id'))
        batch_op.drop_index('ix_messages_ticket_seq')

    op.drop_table('ticket_messages')
    with op.batch_alter_table('ticket_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_attachments_message_id'))
        batch_op.drop_index('ix_attachments_ticket_seq')

    op.drop_table('ticket_attachments')
    with op.batch_alter_table('support_tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_status_priority')
        batch_op.drop_index('ix_tickets_assignee_status')
        batch_op.drop_index(batch_op.f('ix_support_tickets_user_id'))
        batch_op.drop_index(batch_op.f('ix_support_tickets_status'))
        batch_op.drop_index(batch_op.f('ix_support_tickets_priority'))
        batch_op.drop_index(batch_op.f('ix_support_tickets_contact_email'))
        batch_op.drop_index(batch_op.f('ix_support_tickets_category'))
        batch_op.drop_index(batch_op.f('ix_support_tickets_assigned_to'))

    op.drop_table('support_tickets')
    op.drop_table('support_agents')
    op.drop_table('attachment_internal_messages')
    op.drop_table('worker_leases')
    op.drop_table('ticket_number_counters')
    op.drop_table('stored_events')
    op.drop_table('snapshots')
    op.drop_table('projection_tracking')
    op.drop_table('idempotency_keys')
    op.drop_table('event_sequence')
