"""Tables owned by the event store: events, the append sequence, tracking, leases."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Double,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeEngine

metadata = MetaData()

def Identifier(length: int) -> TypeEngine[str]:
    """Ids compare exactly on both profiles: MySQL's default collation would make
    `ALICE` equal `alice` (visibility) and `é` equal `e`."""
    return String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")


# The longest event class topic (`module:Class.Event`) the store takes.
TOPIC_LENGTH = 255

# LONGBLOB on MySQL: eventsourcing-sqlalchemy's BLOB caps an event at 64 KiB.
Payload = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")

stored_events = Table(
    "stored_events",
    metadata,
    Column("notification_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=False),
    Column("originator_id", Identifier(64), nullable=False),
    Column("originator_version", BigInteger, nullable=False),
    Column("topic", String(TOPIC_LENGTH), nullable=False),
    Column("state", Payload, nullable=False),
    UniqueConstraint("originator_id", "originator_version", name="uq_stream_version"),
    mysql_engine="InnoDB",
)

# The latest state of long streams, so a ticket loads from its last snapshot plus the
# events after it (eventsourcing's snapshotting); never part of the global order.
snapshots = Table("snapshots", metadata,
                  Column("originator_id", Identifier(64), primary_key=True),
                  Column("originator_version", BigInteger, primary_key=True),
                  Column("topic", String(TOPIC_LENGTH), nullable=False),
                  Column("state", Payload, nullable=False), mysql_engine="InnoDB")

# One row per sequence; appends lock it so positions are assigned in commit order.
event_sequence = Table("event_sequence", metadata,
                       Column("name", Identifier(32), primary_key=True),
                       Column("last_id", BigInteger, nullable=False), mysql_engine="InnoDB")

tracking = Table("projection_tracking", metadata,
                 Column("name", Identifier(64), primary_key=True),
                 Column("position", BigInteger, nullable=False),
                 Column("updated_at", Double, nullable=False), mysql_engine="InnoDB")

# expires_at is a Double: a MySQL FLOAT keeps ~7 digits, so an epoch would round by hours.
leases = Table("worker_leases", metadata,
               Column("name", Identifier(64), primary_key=True),
               Column("owner", Identifier(128), nullable=False),
               Column("expires_at", Double, nullable=False), mysql_engine="InnoDB")

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

# The public routes' rate limit, shared by the API replicas (sav.api.ratelimit): hits per
# client (a keyed hash of its address) per fixed window (`slot` = epoch // window length).
rate_limit_windows = Table("rate_limit_windows", metadata,
                           Column("bucket", Identifier(40), primary_key=True),
                           Column("slot", BigInteger, primary_key=True, autoincrement=False),
                           Column("hits", Integer, nullable=False), mysql_engine="InnoDB")
