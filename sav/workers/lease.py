"""Database leases: among several worker processes, one is active per job.

A lease is a row (name, owner, expires_at). The holder renews it well before it
expires; when the holder dies, another process takes it over after `ttl` seconds.
"""

from __future__ import annotations

import os
import socket
import time
import uuid

from sqlalchemy import Engine, select
from sqlalchemy import exc as sa_exc

from sav.eventstore.db import is_sqlite, write_transaction
from sav.eventstore.schema import leases


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    def __init__(self, engine: Engine, name: str, owner: str | None = None,
                 ttl: float = 10.0) -> None:
        self.engine = engine
        self.name = name
        self.owner = owner or default_owner()
        self.ttl = ttl

    def acquire(self) -> bool:
        """Take or renew the lease; False while another live owner holds it."""
        now = time.time()
        try:
            with write_transaction(self.engine) as conn:
                query = select(leases.c.owner, leases.c.expires_at).where(
                    leases.c.name == self.name)
                if not is_sqlite(self.engine):
                    query = query.with_for_update()
                row = conn.execute(query).first()
                if row is None:
                    conn.execute(leases.insert().values(
                        name=self.name, owner=self.owner, expires_at=now + self.ttl))
                    return True
                if row.owner != self.owner and row.expires_at > now:
                    return False
                conn.execute(leases.update().where(leases.c.name == self.name).values(
                    owner=self.owner, expires_at=now + self.ttl))
                return True
        except sa_exc.IntegrityError:
            return False  # Another process inserted the row first.

    def holder(self) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(leases.c.owner, leases.c.expires_at).where(
                leases.c.name == self.name)).first()
        return row.owner if row is not None and row.expires_at > time.time() else None

    def release(self) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(leases.delete().where(leases.c.name == self.name,
                                               leases.c.owner == self.owner))
