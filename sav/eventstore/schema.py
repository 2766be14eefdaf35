"""Tables owned by the event store: events, snapshots, the append sequence, tracking.

`metadata` is the store's one MetaData: the other layers declare the tables they own
on it in their own modules (`sav.api.tables`, `sav.workers.lease`,
`sav.commands.numbers`), and `sav.migrations` versions them all together.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
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

# Worker leases (sav.workers.lease): declared with the store's tables, so what reads them
# (the metrics' lease holders) needs no worker code. expires_at is a Double: a MySQL
# FLOAT keeps ~7 digits, so an epoch would round by hours.
leases = Table("worker_leases", metadata,
               Column("name", Identifier(64), primary_key=True),
               Column("owner", Identifier(128), nullable=False),
               Column("expires_at", Double, nullable=False), mysql_engine="InnoDB")
