"""Erasing a data subject: destroy its keys, record the erasure, forget the copies.

Order matters: keys are destroyed first (from then on nothing stored opens), then the
`SubjectErased` event is appended (the read models null the fields when they apply it),
then the copies outside the event log go: snapshots, the copies their owners registered
(`sav.privacy.copies`: stored idempotent replies), and the attachment objects
(`delete_objects`, async). Running it again for the same subject repeats every step
harmlessly.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Engine, delete, select

from sav.commands.actor import Actor
from sav.commands.emails import Email
from sav.commands.policy import command_handler
from sav.commands.tickets import NOT_BLANK
from sav.events.errors import PermissionDeniedError
from sav.events.privacy import Erasure
from sav.eventstore.recorder import SqlSnapshotRecorder
from sav.eventstore.schema import stored_events
from sav.eventstore.transcoder import PrivacyMapper
from sav.privacy import copies
from sav.privacy.keys import CACHE_SECONDS, KeyStore, user_subject
from sav.storage.base import BlobStore


class EraseSubject(BaseModel):
    """Exactly one of `user_id` or `email`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={
        "oneOf": [{"required": [name], "properties": {name: {"type": "string"}}}
                  for name in ("user_id", "email")],
        "description": "exactly one of `user_id` or `email` (not null)"})
    user_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=NOT_BLANK)
    email: Email | None = None

    @model_validator(mode="after")
    def one_subject(self) -> EraseSubject:
        if (self.user_id is None) == (self.email is None):
            raise ValueError("give exactly one of user_id or email")
        return self


@dataclass(frozen=True)
class Erased:
    erasure_id: UUID
    ticket_ids: list[str]
    position: int | None


def key_store(app: Any) -> KeyStore:
    mapper = app.mapper
    assert isinstance(mapper, PrivacyMapper)
    return mapper.key_store()


@command_handler
def erase_subject(app: Any, actor: Actor, cmd: EraseSubject) -> Erased:
    """Destroy the subject's keys and append `SubjectErased` (admins only)."""
    if not actor.is_admin:
        raise PermissionDeniedError("only admins erase personal data")
    keys = key_store(app)
    subject = user_subject(cmd.user_id) if cmd.user_id else keys.email_subject(str(cmd.email))
    ticket_ids = keys.erase([subject])
    for ticket_id in ticket_ids:  # the copies of the tickets this process holds
        with contextlib.suppress(KeyError, AttributeError):
            app.repository.cache.get(UUID(ticket_id), evict=True)
    erasure = Erasure(id=uuid.uuid4(), subject_kind="user" if cmd.user_id else "email",
                      user_id=cmd.user_id, ticket_ids=ticket_ids,
                      keys_destroyed=len(ticket_ids), actor=actor.who.ref())
    position = app.record(erasure)
    forget_copies(app, ticket_ids)
    return Erased(erasure.id, ticket_ids, position)


def forget_copies(app: Any, ticket_ids: list[str]) -> None:
    """Snapshots (sealed with the destroyed keys, useless now) and the copies other
    parts keep of those tickets (`sav.privacy.copies`: the API's idempotent replies,
    plain JSON bodies)."""
    snapshots = getattr(app.snapshots, "recorder", None) if app.snapshots else None
    if isinstance(snapshots, SqlSnapshotRecorder):
        with snapshots.engine.begin() as conn:
            for start in range(0, len(ticket_ids), 500):
                conn.execute(delete(snapshots.records).where(
                    snapshots.records.c.originator_id.in_(ticket_ids[start:start + 500])))
            copies.forget(conn, ticket_ids)


async def delete_objects(blobs: BlobStore, ticket_ids: list[str]) -> int:
    """Attachment objects live under `tickets/{ticket_id}/`."""
    return sum([await blobs.delete_prefix(f"tickets/{ticket_id}/") for ticket_id in ticket_ids])


def erasure_status(app: Any, read_position: int, erasure_id: UUID,
                   now: float | None = None) -> str | None:
    """`pending` until the read model applied the erasure and every process has dropped
    the destroyed keys from its cache, then `done`; None: no such erasure."""
    recorder = app.recorder
    with recorder.reader.connect() as conn:
        position = conn.execute(select(stored_events.c.notification_id).where(
            stored_events.c.originator_id == str(erasure_id))).scalar()
    if position is None:
        return None
    erasure = app.repository.get(erasure_id)
    if not isinstance(erasure, Erasure):
        return None
    requested_at = erasure.created_on.timestamp()
    settled = (time.time() if now is None else now) >= requested_at + CACHE_SECONDS
    return "done" if settled and read_position >= position else "pending"


def purge_remnants(engine: Engine, keys_engine: Engine) -> None:
    """Once the read model applied an erasure, drop the old copies a database keeps of
    rewritten rows: SQLite's write-ahead log (truncated), InnoDB's FULLTEXT index (rebuilt:
    it keeps deleted words until then). Heavy on a large MySQL table, done once per
    erasure by the process that sees it done."""
    for target in {engine, keys_engine}:
        with target.connect() as conn:
            if target.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            elif target is engine:
                conn.exec_driver_sql("OPTIMIZE TABLE support_tickets")
