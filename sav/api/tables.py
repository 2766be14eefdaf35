"""Tables the API owns: the answers kept for `Idempotency-Key` (`sav.api.idempotency`),
the public rate limit's windows (`sav.api.ratelimit`) and who views a ticket
(`sav.api.presence`).

Declared on the store's MetaData (`sav.eventstore.schema.metadata`): one schema, one
migration history (`sav/migrations/`), created with the event store's tables.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Double, Integer, String, Table, Text
from sqlalchemy.dialects import mysql

from sav.eventstore.schema import Identifier, metadata

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
    mysql_engine="InnoDB",
)

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
