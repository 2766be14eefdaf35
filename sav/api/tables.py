"""Tables the API owns: the answers kept for `Idempotency-Key` (`sav.api.idempotency`,
cleared of an erased subject's tickets: `forget_replies`),
the public rate limit's windows (`sav.api.ratelimit`) and who views a ticket
(`sav.api.presence`).

Declared on the store's MetaData (`sav.eventstore.schema.metadata`): one schema, one
migration history (`sav/migrations/`), created with the event store's tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import BigInteger, Column, DateTime, Double, Index, Integer, String, Table, Text
from sqlalchemy.dialects import mysql

from sav.eventstore.schema import Identifier, metadata
from sav.privacy.copies import keeps_copies

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", Identifier(64), primary_key=True),
    Column("key", Identifier(255), primary_key=True),
    Column("status", Integer, nullable=False),
    # The same key with another body is refused; the ETag is replayed with the body.
    Column("request_hash", String(64), nullable=False),
    Column("etag", String(32)),
    Column("body", Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb"), nullable=False),
    Column("created_at", DateTime, nullable=False),
    # The `idempotency-keys` job deletes the expired answers by it (`prune_expired`).
    Index("ix_idempotency_keys_created_at", "created_at"),
    mysql_engine="InnoDB",
)

# Stored answers hold the plain JSON of the tickets they answered about: an erasure
# deletes those of the erased tickets. A body names its ticket's id, so a body holding
# any of the ids goes (one scan of the table per batch of ids; the table only holds the
# answers of the last SAV_IDEMPOTENCY_TTL_HOURS).
REPLIES_PER_SCAN = 100


@keeps_copies("idempotency_keys")
def forget_replies(conn: sa.Connection, ticket_ids: Sequence[str]) -> None:
    body = idempotency_keys.c.body
    for start in range(0, len(ticket_ids), REPLIES_PER_SCAN):
        batch = ticket_ids[start:start + REPLIES_PER_SCAN]
        conn.execute(sa.delete(idempotency_keys).where(
            sa.or_(*(body.contains(ticket_id, autoescape=True) for ticket_id in batch))))


# Hits per client (a keyed hash of its address) per fixed window (`slot` = epoch //
# window length), shared by the API replicas.
rate_limit_windows = Table("rate_limit_windows", metadata,
                           Column("bucket", Identifier(40), primary_key=True),
                           Column("slot", BigInteger, primary_key=True, autoincrement=False),
                           Column("hits", Integer, nullable=False), mysql_engine="InnoDB")

# Who of the staff looks at which ticket (`sav.api.presence`), in epoch seconds: shared by
# the API replicas, never an event.
ticket_viewers = Table("ticket_viewers", metadata,
                       Column("ticket_id", Identifier(36), primary_key=True),
                       Column("viewer_id", Identifier(255), primary_key=True),
                       Column("since", Double, nullable=False),
                       Column("seen_at", Double, nullable=False), mysql_engine="InnoDB")
