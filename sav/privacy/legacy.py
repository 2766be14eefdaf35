"""`sav privacy encrypt-legacy`: the one sanctioned rewrite of stored events.

Events stored before issue 12 hold personal fields in plain text. Each such event is read
(the mapper passes plain values through), sealed again by the mapper exactly as a new
event would be, and its `state` updated in place; events already sealed are left alone,
so a second run rewrites nothing. Global order matters: a ticket's creation (which picks
the subject's key) is rewritten before the events that follow it. Snapshots of rewritten
tickets are deleted (the next load takes a new, sealed one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, delete, update

from sav.eventstore.db import write_transaction
from sav.eventstore.schema import snapshots, stored_events
from sav.eventstore.transcoder import PrivacyMapper
from sav.privacy.fields import personal_paths

BATCH = 500


def encrypt_legacy(app: Any, progress: Callable[[int], object] = lambda _n: None) -> int:
    mapper = app.mapper
    assert isinstance(mapper, PrivacyMapper)
    recorder = app.recorder
    rewritten, position = 0, 0
    while True:
        notifications = recorder.select_notifications(position, BATCH, inclusive_of_start=False)
        if not notifications:
            return rewritten
        rows, streams = [], set()
        for notification in notifications:
            event = mapper.to_domain_event(notification)
            if _has_plain_text(mapper, notification, type(event)):
                state = mapper.to_stored_event(event).state
                rows.append({"key_id": notification.id, "state": state})
                streams.add(str(notification.originator_id))
        if rows:
            with write_transaction(recorder.engine) as conn:
                conn.execute(update(stored_events).where(
                    stored_events.c.notification_id == bindparam("key_id")).values(
                    state=bindparam("state")), rows)
                conn.execute(delete(snapshots).where(snapshots.c.originator_id.in_(streams)))
        rewritten += len(rows)
        position = notifications[-1].id
        progress(len(notifications))


def _has_plain_text(mapper: PrivacyMapper, notification: Any, event_class: type) -> bool:
    paths = personal_paths(event_class)
    if not paths:
        return False
    raw = mapper.transcoder.decode(notification.state)
    for path, erased in paths.items():
        value: Any = raw
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None and value != erased and not (
                isinstance(value, dict) and "_enc_" in value):
            return True
    return False
